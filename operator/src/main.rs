//! `wasm-operator`: `run` starts the controller, `crd` prints the CustomResourceDefinition.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use futures::FutureExt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasm_operator::api::crd::WasmWorkload;
use wasm_operator::context::Context;
use wasm_operator::controller::{self, Settings};
use wasm_operator::decide::runtimes::RuntimeConfig;
use wasm_operator::error::Backoff;
use wasm_operator::leader::LeaseSettings;
use wasm_operator::logging;
use wasm_operator::observe::stores::Stores;
use wasm_operator::report::http::{serve, HttpState};
use wasm_operator::report::metrics::Metrics;
use wasm_operator::startup::{self, Standing};

#[derive(Parser)]
#[command(
    name = "wasm-operator",
    version,
    about = "Runs WebAssembly workloads on Kubernetes, with a container fallback and cold-start metrics"
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: Command,
}

/// Which cluster, as kubectl takes it (and passes it on to a plugin).
#[derive(clap::Args)]
struct ClusterArgs {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of KUBECONFIG or the in-cluster service account.
    Run(RunArgs),
    /// Print the WasmWorkload CustomResourceDefinition as YAML.
    Crd,
    /// The same app in both modes on the same node, in short-lived pods: cold start, phases and
    /// image size, Wasm against container.
    Compare(CompareArgs),
    /// The cluster's workloads in one table: mode, why not Wasm, cold start, footprint, the last
    /// comparison, and totals.
    Report(ReportArgs),
    /// Which nodes can run which Wasm RuntimeClass and why not, why a workload is not Wasm, and
    /// whether the installation is whole. Exit 0: all checks pass; 1: some fail; 2: no cluster.
    Doctor(DoctorArgs),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The WasmWorkload to compare.
    name: String,
    /// Its namespace (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Pods of each mode.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pods: u16,
    /// Pods started at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    concurrency: u16,
    /// The node to run on; the first that can run both modes when unset.
    #[arg(long)]
    node: Option<String>,
    /// A pod not Ready after this many seconds counts as failed.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// After the timings, how long one pod of each mode waits for metrics.k8s.io to report
    /// its memory (metrics-server scrapes every 15 s or so); 0 skips memory.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=600))]
    memory_wait: u64,
    /// Output: table, json or markdown.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json", "markdown"])]
    output: String,
    /// Also write a chart of both modes' cold starts to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    /// Also time each pod to its app's first 2xx answer for this path (e.g. `/`), on the
    /// workload's first port, through the API server's pod proxy, polled every 10–20 ms.
    #[arg(long, value_name = "PATH")]
    http: Option<String>,
    /// The runtime configuration the operator runs with; built-in defaults when unset.
    #[arg(long, env = "RUNTIME_CONFIG")]
    runtime_config: Option<std::path::PathBuf>,
}

async fn compare(args: CompareArgs, cluster: &ClusterArgs) -> ExitCode {
    use wasm_operator::compare::{run, table};
    let config = match load_runtime_config(args.runtime_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match connect(cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = run::Settings {
        pods: usize::from(args.pods),
        concurrency: usize::from(args.concurrency),
        node: args.node,
        ready_timeout: std::time::Duration::from_secs(args.timeout),
        memory_wait: std::time::Duration::from_secs(args.memory_wait),
        http_path: args.http,
    };
    let cancel = shutdown_signal();
    let mut progress = wasm_operator::compare::progress::terminal();
    match run::compare(
        &client,
        args.namespace.as_deref().unwrap_or(client.default_namespace()),
        &args.name,
        &config,
        &settings,
        cancel,
        &mut progress,
    )
    .await
    {
        Ok(c) => {
            match args.output.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default()),
                "markdown" => print!("{}", table::render(&c, true)),
                _ => print!("{}", table::render(&c, false)),
            }
            if let Some(path) = &args.svg {
                if let Err(e) = std::fs::write(path, wasm_operator::compare::svg::render(&c)) {
                    eprintln!("wasm-operator compare: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-operator compare: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Args)]
struct ReportArgs {
    /// One namespace (default: the context's).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output: table, json or markdown.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json", "markdown"])]
    output: String,
}

async fn report(args: ReportArgs, cluster: &ClusterArgs) -> ExitCode {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::ListParams;
    let client = match connect(cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let api: kube::Api<WasmWorkload> = if args.all_namespaces {
        kube::Api::all(client.clone())
    } else {
        kube::Api::namespaced(
            client.clone(),
            args.namespace.as_deref().unwrap_or(client.default_namespace()),
        )
    };
    let listed = async {
        let workloads = api.list(&ListParams::default()).await?.items;
        let nodes = kube::Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await?
            .items;
        Ok::<_, kube::Error>((workloads, nodes))
    };
    match listed.await {
        Ok((workloads, nodes)) => {
            let r = wasm_operator::workloads_report::build(&workloads, &nodes);
            match args.output.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
                "markdown" => print!("{}", r.render(true)),
                _ => print!("{}", r.render(false)),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-operator report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Namespace of the workload to explain (default: the context's).
    #[arg(short = 'n', long, requires = "name")]
    namespace: Option<String>,
    /// A workload to explain (with -n).
    name: Option<String>,
    /// Output: text or json.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// The runtime configuration the operator runs with; built-in defaults when unset.
    #[arg(long, env = "RUNTIME_CONFIG")]
    runtime_config: Option<std::path::PathBuf>,
    /// Namespace of the operator's Lease (where the chart installed it).
    #[arg(long, default_value = "wasm-system")]
    lease_namespace: String,
    /// Port of the operator's /readyz in its pod.
    #[arg(long, default_value_t = 8080)]
    metrics_port: u16,
}

async fn doctor(args: DoctorArgs, cluster: &ClusterArgs) -> ExitCode {
    let config = match load_runtime_config(args.runtime_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let client = match connect(cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let namespace = args.namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let ask = wasm_operator::doctor::Ask {
        workload: args.name.map(|name| (namespace, name)),
        lease_namespace: args.lease_namespace,
        metrics_port: args.metrics_port,
    };
    ExitCode::from(wasm_operator::doctor::run(&client, &ask, &config, args.output == "json").await)
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch one namespace only; all namespaces when unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// YAML file mapping runtime names to RuntimeClass names; built-in defaults when unset.
    #[arg(long, env = "RUNTIME_CONFIG")]
    runtime_config: Option<std::path::PathBuf>,
    /// Workloads reconciled at the same time.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Run only while holding the `wasm-operator` Lease, so several replicas can run.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn load_runtime_config(path: Option<&std::path::Path>) -> Result<RuntimeConfig, String> {
    let Some(path) = path else {
        return Ok(RuntimeConfig::default());
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read runtime config {}: {e}", path.display()))?;
    RuntimeConfig::from_yaml(&text).map_err(|e| format!("invalid runtime config {}: {e}", path.display()))
}

/// A client for the cluster. In a pod the API server may be down for a while (an outage, an
/// upgrade): wait for it, not ready meanwhile, instead of exiting into a crash loop. Outside a
/// cluster a missing or wrong kubeconfig gets one sentence and a non-zero exit.
async fn connect(cluster: &ClusterArgs) -> Result<kube::Client, String> {
    let hint = "Set KUBECONFIG to a kubeconfig file (or create ~/.kube/config), or run inside a cluster with a service account";
    let config = if cluster.kubeconfig.is_some() || cluster.context.is_some() {
        let options = kube::config::KubeConfigOptions {
            context: cluster.context.clone(),
            ..Default::default()
        };
        let file = match &cluster.kubeconfig {
            Some(path) => kube::config::Kubeconfig::read_from(path),
            None => kube::config::Kubeconfig::read(),
        }
        .map_err(|e| format!("wasm-operator: cannot read the kubeconfig: {e}. {hint}."))?;
        kube::Config::from_custom_kubeconfig(file, &options)
            .await
            .map_err(|e| format!("wasm-operator: cannot use the kubeconfig: {e}. {hint}."))?
    } else {
        kube::Config::infer().await.map_err(|e| {
            format!("wasm-operator: no Kubernetes cluster configured: tried in-cluster config and KUBECONFIG/~/.kube/config ({e}). {hint}.")
        })?
    };
    let url = config.cluster_url.clone();
    let client = kube::Client::try_from(config)
        .map_err(|e| format!("wasm-operator: cannot build a client for {url}: {e}. {hint}."))?;
    if startup::in_cluster() {
        startup::wait_for_api(&client, Backoff::default()).await;
        return Ok(client);
    }
    match tokio::time::timeout(std::time::Duration::from_secs(10), client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(format!(
            "wasm-operator: the Kubernetes API server at {url} did not answer: {e}. {hint}."
        )),
        Err(_) => Err(format!(
            "wasm-operator: the Kubernetes API server at {url} did not answer within 10 s. {hint}."
        )),
    }
}

/// Resolves on SIGTERM (the kubelet stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn run(args: RunArgs, cluster: &ClusterArgs) -> Result<(), String> {
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
    tokio::spawn(wasm_operator::report::memory_limit::watch(
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
            let stores: Stores = wasm_operator::observe::watches::start(
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

/// One allocator in every build, with the image's settings (`allocator.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    wasm_operator::allocator::ensure_settings();
    // Installed as `kubectl-wasm`, it is `kubectl wasm` in help and errors.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let command = Cli::command().bin_name(wasm_operator::plugin_name::program_name(&argv0));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Crd => {
            use kube::CustomResourceExt;
            match serde_saphyr::to_string(&WasmWorkload::crd()) {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("wasm-operator: cannot render the CRD: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Compare(args) => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(compare(args, &cli.cluster)),
            Err(e) => {
                eprintln!("wasm-operator: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Report(args) => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(report(args, &cli.cluster)),
            Err(e) => {
                eprintln!("wasm-operator: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Doctor(args) => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(doctor(args, &cli.cluster)),
            Err(e) => {
                eprintln!("wasm-operator: cannot start the async runtime: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run(args) => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("wasm-operator: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(args, &cli.cluster)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
