//! How `run` comes up and stays up: wait for the API server in a cluster (an outage must not
//! turn into a crash loop), then work, under leader election or not, until shut down.
//!
//! Readiness says "this instance can serve": the API server answered, and, while it leads, its
//! caches have synced. It does not wait for the Lease: a follower that reported not ready would
//! deadlock every rolling update (the new pod waits for the Lease, the old leader keeps it until
//! the new pod is Ready). Leadership shows in the Lease and in `wasm_operator_leader`.

use crate::error::Backoff;
use crate::leader::{self, LeaseSettings};
use crate::report::metrics::Metrics;
use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether this process runs in a pod (the kubelet sets this for every container).
pub fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// Ask the API server for its version until it answers, backing off between tries.
pub async fn wait_for_api(client: &kube::Client, backoff: Backoff) {
    let mut attempt = 0;
    loop {
        let outcome = tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await;
        match outcome {
            Ok(Ok(_)) => {
                if attempt > 0 {
                    tracing::info!(attempts = attempt + 1, "the API server answers");
                }
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the API server does not answer yet; waiting"),
            Err(_) => tracing::warn!("the API server did not answer within 10 s; waiting"),
        }
        attempt += 1;
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

/// The Deployment that runs this pod (pod → ReplicaSet → Deployment), to own the Lease. None
/// when it cannot be told (not in a pod, or no rights to read them).
pub async fn own_deployment(client: &kube::Client, namespace: &str, pod: &str) -> Option<OwnerReference> {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;
    let controller_of = |refs: Option<Vec<OwnerReference>>, kind: &str| {
        refs.into_iter()
            .flatten()
            .find(|r| r.kind == kind && r.controller == Some(true))
    };
    let pod = kube::Api::<Pod>::namespaced(client.clone(), namespace)
        .get(pod)
        .await
        .ok()?;
    let rs = controller_of(pod.metadata.owner_references, "ReplicaSet")?;
    let rs = kube::Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .get(&rs.name)
        .await
        .ok()?;
    let d = controller_of(rs.metadata.owner_references, "Deployment")?;
    Some(OwnerReference {
        api_version: d.api_version,
        kind: d.kind,
        name: d.name,
        uid: d.uid,
        ..Default::default()
    })
}

/// Readiness and leadership of this instance, as `/readyz` and the metrics show them.
#[derive(Clone)]
pub struct Standing {
    pub ready: Arc<AtomicBool>,
    pub metrics: Metrics,
}

impl Standing {
    fn leading(&self, leading: bool) {
        self.metrics.leader.set(i64::from(leading));
        // A new leader is ready again once its caches have synced (the work's `on_ready`).
        self.ready.store(!leading, Ordering::Relaxed);
    }
}

/// Run `work` while holding the Lease, again each time it is won back, until `shutdown`
/// resolves. `work` gets a future that resolves when it must stop (Lease lost or shutdown).
pub async fn lead_until_shutdown<F, Fut>(
    api: kube::Api<Lease>,
    settings: LeaseSettings,
    standing: Standing,
    shutdown: BoxFuture<'static, ()>,
    work: F,
) where
    F: Fn(BoxFuture<'static, ()>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let shutdown = shutdown.shared();
    loop {
        leader::lead(api.clone(), settings.clone(), shutdown.clone().boxed(), |stop| {
            standing.leading(true);
            work(stop)
        })
        .await;
        standing.leading(false);
        if shutdown.clone().now_or_never().is_some() {
            return;
        }
        tracing::info!("no longer the leader; waiting for the Lease again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::controller::{self, Settings};
    use crate::decide::runtimes::RuntimeConfig;
    use crate::observe::watches;
    use crate::tests::controller_tests::{spin_world, STATUS};
    use crate::tests::mock_api::{self, wait_until, World};
    use std::sync::Mutex;

    const WAIT: Duration = Duration::from_secs(10);

    /// The controller's work as `run` starts it, against the mock API.
    fn work(
        client: kube::Client,
        metrics: Metrics,
        ready: Arc<AtomicBool>,
    ) -> impl Fn(BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        move |stop| {
            let (client, metrics, ready) = (client.clone(), metrics.clone(), ready.clone());
            async move {
                let (tx, rx) = futures::channel::mpsc::unbounded();
                let stores = watches::start(client.clone(), None, metrics.clone(), Duration::from_secs(60), tx);
                let ctx = Arc::new(Context::new(client, metrics, RuntimeConfig::default(), stores));
                let settings = Settings {
                    namespace: None,
                    concurrency: 4,
                };
                controller::run(ctx, rx, settings, move || ready.store(true, Ordering::Relaxed), stop).await;
            }
            .boxed()
        }
    }

    fn status_writes(world: &Mutex<World>) -> usize {
        let w = world.lock().unwrap();
        w.writes().iter().filter(|r| r.path == STATUS).count()
    }

    #[tokio::test]
    async fn an_api_server_down_at_start_is_waited_for_and_the_operator_converges() {
        let mut world = World::default();
        spin_world(&mut world);
        // Down for the first five tries (503 from a restarting API server).
        world.fail("GET", "/version", 503, 5, 0);
        let (client, world) = mock_api::client(world);
        let backoff = Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        };
        tokio::time::timeout(WAIT, wait_for_api(&client, backoff))
            .await
            .expect("wait_for_api returns once the API server answers");
        let tries = world
            .lock()
            .unwrap()
            .requests()
            .iter()
            .filter(|r| r.path == "/version")
            .count();
        assert_eq!(tries, 6, "it kept asking, and stopped once answered");
        let metrics = Metrics::new();
        let ready = Arc::new(AtomicBool::new(false));
        tokio::spawn(work(client, metrics, ready.clone())(futures::future::pending().boxed()));
        wait_until(&world, "the workload reconciled", WAIT, |w| {
            w.writes().iter().any(|r| r.path == STATUS)
        })
        .await;
        assert!(ready.load(Ordering::Relaxed));
        assert!(status_writes(&world) >= 1);
    }

    struct Instance {
        standing: Standing,
        shutdown: Option<futures::channel::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    fn instance(client: &kube::Client, identity: &str) -> Instance {
        let standing = Standing {
            ready: Arc::new(AtomicBool::new(false)),
            metrics: Metrics::new(),
        };
        let settings = LeaseSettings {
            namespace: "ops".into(),
            name: "wasm-operator".into(),
            identity: identity.into(),
            duration: Duration::from_secs(1),
            owner: None,
        };
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let api = kube::Api::<Lease>::namespaced(client.clone(), "ops");
        // As `run` does: a follower is ready before it ever leads.
        standing.ready.store(true, Ordering::Relaxed);
        let task = tokio::spawn(lead_until_shutdown(
            api,
            settings,
            standing.clone(),
            rx.map(|_| ()).boxed(),
            work(client.clone(), standing.metrics.clone(), standing.ready.clone()),
        ));
        Instance {
            standing,
            shutdown: Some(tx),
            task,
        }
    }

    #[tokio::test]
    async fn a_follower_is_ready_and_the_leader_shows_in_a_metric() {
        let mut world = World::default();
        spin_world(&mut world);
        let (client, world) = mock_api::client(world);
        let mut a = instance(&client, "a");
        wait_until(&world, "a leads", WAIT, |w| {
            w.get("leases", Some("ops"), "wasm-operator").is_some()
        })
        .await;
        wait_until(&world, "a reconciled", WAIT, |w| {
            w.writes().iter().any(|r| r.path == STATUS)
        })
        .await;
        let b = instance(&client, "b");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            (a.standing.metrics.leader.get(), b.standing.metrics.leader.get()),
            (1, 0)
        );
        assert!(
            b.standing.ready.load(Ordering::Relaxed),
            "a follower answers ready: readiness does not wait for the Lease"
        );
        assert!(a.standing.ready.load(Ordering::Relaxed));
        // The leader stops (a rolling update): it releases the Lease, the follower leads.
        a.shutdown.take().unwrap().send(()).unwrap();
        tokio::time::timeout(WAIT, &mut a.task)
            .await
            .expect("a shut down leader ends")
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        while b.standing.metrics.leader.get() != 1 {
            assert!(tokio::time::Instant::now() < deadline, "b never took over");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(a.standing.metrics.leader.get(), 0);
        b.task.abort();
    }
}
