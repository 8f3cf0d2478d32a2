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
        Instance::with_lease(client, identity, LEASE)
    }

    fn with_lease(client: kube::Client, identity: &str, duration: Duration) -> Instance {
        let metrics = Metrics::new();
        let (shutdown_tx, shutdown_rx) = futures::channel::oneshot::channel::<()>();
        let settings = LeaseSettings {
            namespace: "ops".into(),
            name: "wasm-operator".into(),
            identity: identity.into(),
            duration,
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

#[tokio::test]
async fn a_follower_takes_a_released_lease_at_once_not_at_its_next_retry() {
    // A rolling upgrade: the new pod (b) waits as a follower while the old leader (a) runs,
    // then a gets SIGTERM and releases the Lease. b's retry period here is 3 s; it must lead
    // well within a second of the release, having seen it on its watch of the Lease.
    let lease = Duration::from_secs(9);
    let mut world = World::default();
    spin_world(&mut world);
    let (client, world) = mock_api::client(world);
    let mut a = Instance::with_lease(client.clone(), "a", lease);
    a.wait_leading("a").await;
    let b = Instance::with_lease(client.clone(), "b", lease);
    // b has tried once and is waiting for its next try (or a change of the Lease).
    wait_until(&world, "b's first try", Duration::from_secs(10), |w| {
        w.requests()
            .iter()
            .filter(|r| r.path.ends_with("/leases/wasm-operator") && r.method == "GET")
            .count()
            >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = a.shutdown.take().unwrap().send(());
    wait_until(&world, "b holding the Lease", Duration::from_secs(10), |w| {
        w.get("leases", Some("ops"), "wasm-operator")
            .is_some_and(|l| l["spec"]["holderIdentity"] == "b")
    })
    .await;
    // From a's write that released the Lease to b's that took it, as the API server saw them.
    let writes: Vec<_> = world
        .lock()
        .unwrap()
        .writes()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/leases/wasm-operator"))
        .collect();
    let holder_of = |r: &mock_api::Recorded| r.body.as_ref().unwrap()["spec"]["holderIdentity"].clone();
    let release = writes
        .iter()
        .find(|r| holder_of(r).is_null())
        .expect("a released the Lease");
    let taken = writes.iter().find(|r| holder_of(r) == "b").expect("b took the Lease");
    let gap = taken.at.duration_since(release.at);
    assert!(
        gap < Duration::from_millis(500),
        "b took {gap:?} to take the released Lease"
    );
    b.wait_leading("b").await;
    a.task.await.unwrap();
    b.task.abort();
    crate::tests::controller_tests::assert_permitted(&world);
}
