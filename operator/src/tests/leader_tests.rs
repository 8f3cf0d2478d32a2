//! Two operator instances against the scripted API, electing a leader through a Lease: only the
//! leader reconciles; when it dies without a word a follower takes over within the lease
//! duration; when it stops gracefully it releases the Lease and a successor takes over at once.

use crate::context::Context;
use crate::controller::{self, Settings};
use crate::decide::runtimes::RuntimeConfig;
use crate::leader::{self, LeaseSettings};
use crate::observe::watches;
use crate::report::metrics::Metrics;
use crate::tests::controller_tests::spin_world;
use crate::tests::mock_api::{self, wait_until, World};
use futures::FutureExt;
use k8s_openapi::api::coordination::v1::Lease;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(1);

struct Instance {
    metrics: Metrics,
    task: tokio::task::JoinHandle<()>,
    shutdown: Option<futures::channel::oneshot::Sender<()>>,
}

impl Instance {
    fn start(client: kube::Client, identity: &str) -> Instance {
        let metrics = Metrics::new();
        let (shutdown_tx, shutdown_rx) = futures::channel::oneshot::channel::<()>();
        let settings = LeaseSettings {
            namespace: "ops".into(),
            name: "wasm-operator".into(),
            identity: identity.into(),
            duration: LEASE,
            owner: None,
        };
        let api = kube::Api::<Lease>::namespaced(client.clone(), "ops");
        let m = metrics.clone();
        let task = tokio::spawn(leader::lead(
            api,
            settings,
            shutdown_rx.map(|_| ()).boxed(),
            move |stop| async move {
                let (tx, rx) = futures::channel::mpsc::unbounded();
                let stores = watches::start(client.clone(), None, m.clone(), Duration::from_secs(60), tx);
                let ctx = Arc::new(Context::new(client, m, RuntimeConfig::default(), stores));
                controller::run(
                    ctx,
                    rx,
                    Settings {
                        namespace: None,
                        concurrency: 4,
                    },
                    || {},
                    stop,
                )
                .await;
            },
        ));
        Instance {
            metrics,
            task,
            shutdown: Some(shutdown_tx),
        }
    }

    fn reconciles(&self) -> u64 {
        self.metrics
            .reconcile_duration
            .with_label_values(&["ok"])
            .get_sample_count()
    }

    async fn wait_leading(&self, who: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.reconciles() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "{who} never reconciled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn holder(world: &Mutex<World>) -> Option<String> {
    let w = world.lock().unwrap();
    w.get("leases", Some("ops"), "wasm-operator")?["spec"]["holderIdentity"]
        .as_str()
        .map(String::from)
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_follower_takes_over() {
    let mut world = World::default();
    spin_world(&mut world);
    let (client, world) = mock_api::client(world);

    let a = Instance::start(client.clone(), "a");
    a.wait_leading("a").await;
    let b = Instance::start(client.clone(), "b");
    // Give b several election rounds: it must stay a follower while a renews.
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(holder(&world).as_deref(), Some("a"));
    assert_eq!(b.reconciles(), 0, "a follower does not reconcile");
    let lease = world
        .lock()
        .unwrap()
        .get("leases", Some("ops"), "wasm-operator")
        .cloned()
        .unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 1);

    // a dies without releasing (its task, renewal included, is gone).
    a.task.abort();
    let died = tokio::time::Instant::now();
    b.wait_leading("b").await;
    let took = died.elapsed();
    assert!(
        took <= LEASE + LEASE / 3 + Duration::from_millis(1500),
        "b took over after {took:?}"
    );
    assert!(
        took >= LEASE / 2,
        "b took over after {took:?}, before a's lease could have expired"
    );
    assert_eq!(holder(&world).as_deref(), Some("b"));
    assert_eq!(
        world
            .lock()
            .unwrap()
            .get("leases", Some("ops"), "wasm-operator")
            .unwrap()["spec"]["leaseTransitions"],
        1
    );

    // b stops gracefully: it releases the Lease, and c takes it without waiting a duration.
    let mut b = b;
    let _ = b.shutdown.take().unwrap().send(());
    wait_until(&world, "the Lease released", Duration::from_secs(10), |w| {
        w.get("leases", Some("ops"), "wasm-operator")
            .is_some_and(|l| l["spec"]["holderIdentity"].is_null())
    })
    .await;
    b.task.await.unwrap();
    let released = tokio::time::Instant::now();
    let c = Instance::start(client.clone(), "c");
    c.wait_leading("c").await;
    assert!(
        released.elapsed() < LEASE,
        "c waited {:?} for a released Lease",
        released.elapsed()
    );
    assert_eq!(holder(&world).as_deref(), Some("c"));
    c.task.abort();
    crate::tests::controller_tests::assert_permitted(&world);
}
