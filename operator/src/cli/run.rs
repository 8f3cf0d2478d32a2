//! `wasm-operator run`: its flags, and the operator's start-up: health endpoints, the client,
//! leader election, the watches and the controller.

use super::cluster::{connect, ClusterArgs};
use super::runtime_config::load_runtime_config;
use super::signal::shutdown_signal;
use crate::context::Context;
use crate::controller::{self, Settings};
use crate::leader::LeaseSettings;
use crate::logging;
use crate::observe::stores::Stores;
use crate::report::http::{serve, HttpState};
use crate::report::metrics::Metrics;
use crate::startup::{self, Standing};
use futures::FutureExt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Watch one namespace only; all namespaces when unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// YAML file mapping runtime names to RuntimeClass names; built-in defaults when unset.
    #[arg(long, env = "RUNTIME_CONFIG")]
    pub runtime_config: Option<std::path::PathBuf>,
    /// Workloads reconciled at the same time.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Run only while holding the `wasm-operator` Lease, so several replicas can run.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

pub async fn run(args: RunArgs, cluster: &ClusterArgs) -> Result<(), String> {
    let runtimes = load_runtime_config(args.runtime_config.as_deref())?;
    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    // Health endpoints come first so the kubelet sees the process alive while it connects.
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| format!("wasm-operator: cannot listen on {}: {e}", args.metrics_addr))?;
    let http_state = HttpState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    tokio::spawn(async move {
        if let Err(e) = serve(listener, http_state).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    // Its own memory against its container's limit, from the start (the initial lists peak).
    tokio::spawn(crate::report::memory_limit::watch(
        metrics.clone(),
        std::time::Duration::from_secs(5),
    ));
    // In a cluster logs start at once (waiting for the API server is worth saying); outside one,
    // a missing cluster gets one sentence, not client logs too.
    if startup::in_cluster() {
        logging::init(&args.log_format);
    }
    let shutdown = shutdown_signal().boxed().shared();
    let client = tokio::select! {
        c = connect(cluster) => c?,
        () = shutdown.clone() => return Ok(()),
    };
    if !startup::in_cluster() {
        logging::init(&args.log_format);
    }
    tracing::info!(namespace = ?args.namespace, "starting the WasmWorkload controller");
    let standing = Standing {
        ready: ready.clone(),
        metrics: metrics.clone(),
    };
    let lease_client = client.clone();
    let namespace = args.namespace.clone();
    let concurrency = args.concurrency;
    // Watches start only once this instance leads: a follower costs the API server nothing.
    let work = move |stop: futures::future::BoxFuture<'static, ()>| {
        let (client, metrics, runtimes, namespace, ready) = (
            client.clone(),
            metrics.clone(),
            runtimes.clone(),
            namespace.clone(),
            ready.clone(),
        );
        async move {
            let (tx, rx) = futures::channel::mpsc::unbounded();
            let stores: Stores = crate::observe::watches::start(
                client.clone(),
                namespace.as_deref(),
                metrics.clone(),
                std::time::Duration::from_secs(30),
                tx,
            );
            let ctx = Arc::new(Context::new(client, metrics, runtimes, stores));
            let settings = Settings { namespace, concurrency };
            let on_ready = move || {
                tracing::info!("caches synced; reconciling");
                ready.store(true, Ordering::Relaxed);
            };
            controller::run(ctx, rx, settings, on_ready, stop).await;
        }
    };
    if args.leader_election {
        let lease_ns = args.lease_namespace.clone();
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("wasm-operator-{}", std::process::id()));
        let owner = startup::own_deployment(&lease_client, &lease_ns, &identity).await;
        let lease = LeaseSettings {
            namespace: lease_ns.clone(),
            name: "wasm-operator".to_string(),
            identity,
            duration: std::time::Duration::from_secs(15),
            owner,
        };
        let api = kube::Api::namespaced(lease_client, &lease_ns);
        // A follower is ready: readiness must not wait for the Lease (rolling updates).
        standing.ready.store(true, Ordering::Relaxed);
        startup::lead_until_shutdown(api, lease, standing, shutdown.boxed(), work).await;
    } else {
        standing.metrics.leader.set(1);
        work(shutdown.boxed()).await;
    }
    Ok(())
}
