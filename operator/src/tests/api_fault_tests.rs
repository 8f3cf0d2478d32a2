//! The operator against a misbehaving API server (scripted faults in the mock API): 500s, 409
//! conflicts, 429 with Retry-After, 410 Gone on a watch, and a dropped watch stream. It backs off
//! per object (exponentially, capped), re-lists when it must, converges to the right Deployment
//! and status, and the number of requests it makes stays bounded (counted).

use crate::tests::controller_tests::{spin_world, Harness, DEPLOYMENT, STATUS};
use crate::tests::mock_api::Recorded;
use serde_json::json;
use std::time::Duration;

fn gaps(writes: &[Recorded]) -> Vec<Duration> {
    writes.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect()
}

fn errors(h: &Harness, category: &str) -> u64 {
    h.metrics.reconcile_errors.with_label_values(&[category]).get()
}

#[tokio::test]
async fn server_errors_back_off_exponentially_then_converge() {
    let h = Harness::start(|w| {
        spin_world(w);
        w.fail("PATCH", DEPLOYMENT, 500, 3, 0);
    })
    .await;
    let fourth = h.nth_write("PATCH", DEPLOYMENT, 4).await;
    assert_eq!(
        fourth.body.unwrap()["spec"]["template"]["spec"]["runtimeClassName"],
        "wasmtime-spin-v2"
    );
    let st = h.nth_write("PATCH", STATUS, 1).await.body.unwrap()["status"].clone();
    assert_eq!(st["mode"], "Wasm");
    h.settle().await;
    let attempts = h.writes_to("PATCH", DEPLOYMENT);
    assert_eq!(attempts.len(), 4, "three failures and one success, no more");
    assert_eq!(errors(&h, "server_error"), 3);
    // Backoff of 20 ms, 40 ms, 80 ms (test scale): each wait at least as long as its step.
    let g = gaps(&attempts);
    for (i, gap) in g.iter().enumerate() {
        let floor = Duration::from_millis(20 << i);
        assert!(
            *gap >= floor,
            "attempt {} came {gap:?} after the previous, before the {floor:?} backoff",
            i + 2
        );
    }
}

#[tokio::test]
async fn conflicts_on_status_are_retried_and_converge() {
    let h = Harness::start(|w| {
        spin_world(w);
        w.fail("PATCH", STATUS, 409, 2, 0);
    })
    .await;
    let third = h.nth_write("PATCH", STATUS, 3).await;
    assert_eq!(third.body.unwrap()["status"]["mode"], "Wasm");
    h.settle().await;
    assert_eq!(errors(&h, "conflict"), 2);
    assert_eq!(h.writes_to("PATCH", STATUS).len(), 3);
    // The Deployment was applied once and left alone while status was retried.
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1);
}

#[tokio::test]
async fn throttling_waits_as_long_as_retry_after_says() {
    let h = Harness::start(|w| {
        spin_world(w);
        w.fail("PATCH", DEPLOYMENT, 429, 1, 1);
    })
    .await;
    h.nth_write("PATCH", DEPLOYMENT, 2).await;
    let attempts = h.writes_to("PATCH", DEPLOYMENT);
    let gap = attempts[1].at.duration_since(attempts[0].at);
    assert!(
        gap >= Duration::from_secs(1),
        "retried {gap:?} after a 429 asking for 1 s (own backoff: 20 ms)"
    );
    assert_eq!(errors(&h, "throttled"), 1);
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2);
}

#[tokio::test]
async fn a_gone_watch_is_relisted_and_changes_in_the_gap_are_not_lost() {
    let h = Harness::converged(spin_world).await;
    let lists = |h: &Harness| {
        h.count_requests(|r| r.method == "GET" && r.path.ends_with("/wasmworkloads") && !r.query.contains_key("watch"))
    };
    let lists_before = lists(&h);
    {
        // The watch's resource version expired; meanwhile the workload was scaled.
        let mut w = h.world.lock().unwrap();
        w.watch_error("wasmworkloads", 410);
        let mut wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap().clone();
        wl["spec"]["replicas"] = json!(5);
        wl["metadata"]["generation"] = json!(2);
        w.put("wasmworkloads", wl);
    }
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_eq!(
        d.body.unwrap()["spec"]["replicas"],
        5,
        "the change made while the watch was gone is seen"
    );
    assert!(lists(&h) > lists_before, "the workloads were listed again");
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2);
}

#[tokio::test]
async fn a_deployment_deleted_while_its_watch_was_gone_is_made_again() {
    let h = Harness::converged(spin_world).await;
    {
        // The watch expires (its streams are closed), and the Deployment is deleted before it
        // is listed again: no watch event will ever say so.
        let mut w = h.world.lock().unwrap();
        w.watch_error("deployments", 410);
        w.remove("deployments", Some("demo"), "hello");
    }
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_eq!(d.body.unwrap()["kind"], "Deployment");
    // Routine: counted as a re-list of its kind (and logged at info, not as a warning).
    let relists = |kind: &str| h.metrics.watch_relists.with_label_values(&[kind]).get();
    assert_eq!((relists("Deployment"), relists("Service")), (1, 0));
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2);
}

#[tokio::test]
async fn a_dropped_watch_stream_is_watched_again() {
    let h = Harness::converged(spin_world).await;
    let watches = |h: &Harness| {
        h.count_requests(|r| {
            r.path == "/apis/node.k8s.io/v1/runtimeclasses" && r.query.get("watch").map(String::as_str) == Some("true")
        })
    };
    let before = watches(&h);
    h.world.lock().unwrap().drop_watches("runtimeclasses");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while watches(&h) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the RuntimeClass watch was not opened again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The new watch works: the RuntimeClass going away now still switches the workload.
    h.world
        .lock()
        .unwrap()
        .remove("runtimeclasses", None, "wasmtime-spin-v2");
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert!(d.body.unwrap()["spec"]["template"]["spec"]
        .get("runtimeClassName")
        .is_none());
    h.settle().await;
    let total = h.world.lock().unwrap().requests().len();
    assert!(
        total < 80,
        "{total} requests for one workload through a dropped watch: not bounded"
    );
}
