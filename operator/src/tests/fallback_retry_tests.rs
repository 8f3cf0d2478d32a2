//! A fallback is not for ever: after Wasm pods fail (`OnFailure`), Wasm is tried again once a
//! cooldown has passed, the cooldown doubles for each failure in a row, and a success forgets
//! them. Failures that are not Wasm's do not count: a pod that had been Ready and lost it (a
//! container runtime restart), and a failure its node shares. The reconciles' clock is moved
//! instead of waiting for cooldowns.

use crate::api::crd::FallbackPolicy;
use crate::tests::controller_tests::{
    node_json, pod_json, sandbox_event_json, spin_world, workload_json, Harness, DEPLOYMENT, STATUS,
};
use crate::tests::fixtures::fail_sandbox;
use serde_json::{json, Value};
use std::time::Duration;

fn record_of(deployment: &Value) -> Option<Value> {
    let text = deployment["metadata"]["annotations"]["wasm-operator.dev/wasm-failure"].as_str()?;
    Some(serde_json::from_str(text).unwrap())
}

fn runtime_class_of(deployment: &Value) -> Value {
    deployment["spec"]["template"]["spec"]["runtimeClassName"].clone()
}

fn status(h: &Harness) -> Value {
    h.world
        .lock()
        .unwrap()
        .get("wasmworkloads", Some("demo"), "hello")
        .unwrap()["status"]
        .clone()
}

#[tokio::test]
async fn wasm_is_tried_again_after_a_cooldown_that_doubles_and_a_success_forgets() {
    let h = Harness::converged(spin_world).await;

    // First failure: the container, remembering one failure and the time of the next try.
    fail_sandbox(&h.world, "hello-wasm-1");
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await.body.unwrap();
    assert_eq!(runtime_class_of(&d), Value::Null);
    let first = record_of(&d).unwrap();
    assert_eq!(first["failures"], 1);
    let retry_at = first["retryAt"].as_i64().unwrap();
    let now = h.clock.now().as_second();
    assert!(
        (now + 295..=now + 300).contains(&retry_at),
        "300 s by default: {retry_at} vs {now}"
    );
    h.settle().await;
    let st = status(&h);
    assert_eq!(st["wasmRetry"]["failures"], 1);
    assert!(st["wasmRetry"]["nextAttempt"].as_str().unwrap().ends_with('Z'));

    // Before the cooldown ends, nothing changes however often it is looked at.
    h.clock.advance(200);
    h.poke_nodes("n1").await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2);

    // After it: Wasm again, the record still on the Deployment.
    {
        let mut w = h.world.lock().unwrap();
        w.remove("pods", Some("demo"), "hello-wasm-1");
    }
    h.clock.advance(101);
    h.poke_nodes("n1").await;
    let d = h.nth_write("PATCH", DEPLOYMENT, 3).await.body.unwrap();
    assert_eq!(runtime_class_of(&d), "wasmtime-spin-v2");
    assert_eq!(record_of(&d).unwrap()["failures"], 1, "kept while Wasm is tried");
    h.settle().await;
    assert!(status(&h).get("wasmRetry").is_none(), "Wasm runs");

    // That try fails too: the second failure in a row, twice the cooldown.
    fail_sandbox(&h.world, "hello-wasm-2");
    let d = h.nth_write("PATCH", DEPLOYMENT, 4).await.body.unwrap();
    assert_eq!(runtime_class_of(&d), Value::Null);
    let second = record_of(&d).unwrap();
    assert_eq!(second["failures"], 2);
    let now = h.clock.now().as_second();
    let wait = second["retryAt"].as_i64().unwrap() - now;
    assert!((595..=600).contains(&wait), "600 s: {wait}");
    h.settle().await;

    // After that one, Wasm again, and this time its pods come up: the record goes.
    {
        let mut w = h.world.lock().unwrap();
        w.remove("pods", Some("demo"), "hello-wasm-2");
    }
    h.clock.advance(601);
    h.poke_nodes("n1").await;
    let d = h.nth_write("PATCH", DEPLOYMENT, 5).await.body.unwrap();
    assert_eq!(runtime_class_of(&d), "wasmtime-spin-v2");
    h.settle().await;
    {
        let mut w = h.world.lock().unwrap();
        let mut dep = w.get("deployments", Some("demo"), "hello").unwrap().clone();
        let generation = dep["metadata"]["generation"].clone();
        dep["status"] =
            json!({"observedGeneration": generation, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2});
        w.put("deployments", dep);
    }
    let d = h.nth_write("PATCH", DEPLOYMENT, 6).await.body.unwrap();
    assert_eq!(runtime_class_of(&d), "wasmtime-spin-v2");
    assert_eq!(record_of(&d), None, "a success forgets the failures");
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 6, "and then nothing more");
}

#[tokio::test]
async fn a_wasm_pod_that_was_ready_and_lost_it_is_no_startup_failure() {
    // A container runtime restart on the node: the pod started long ago and was Ready.
    let h = Harness::converged(|w| {
        spin_world(w);
        let mut wl = workload_json(FallbackPolicy::OnFailure, &["spin"]);
        wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(1);
        w.put("wasmworkloads", wl);
    })
    .await;
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-1", "wasm", Some("wasmtime-spin-v2"), true, 30),
    );
    h.settle().await;
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-1", "wasm", Some("wasmtime-spin-v2"), false, 30),
    );
    h.settle().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.poke_nodes("n1").await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1, "still Wasm");
    assert_eq!(status(&h)["mode"], "Wasm");
}

#[tokio::test]
async fn a_failure_the_node_shares_does_not_count_against_wasm() {
    let h = Harness::converged(spin_world).await;
    // The node's runtime restarted after the Wasm pod was created: its Ready condition moved.
    {
        let mut w = h.world.lock().unwrap();
        w.put(
            "pods",
            pod_json("hello-wasm-1", "wasm", Some("wasmtime-spin-v2"), false, 30),
        );
        let mut n = node_json("n1", json!({}), true);
        n["status"]["conditions"][0]["lastTransitionTime"] = json!(crate::tests::controller_tests::now_rfc3339(-5));
        w.put("nodes", n);
        w.put("events", sandbox_event_json("hello-wasm-1"));
    }
    // The Ready condition names the failure; the workload stays Wasm.
    h.wait_for("Ready naming the sandbox failure", |w| {
        w.get("wasmworkloads", Some("demo"), "hello").unwrap()["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["reason"] == "SandboxFailed")
    })
    .await;
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1, "no fallback");
    assert_eq!(status(&h)["mode"], "Wasm");
    assert!(h.writes_to("PATCH", STATUS).len() >= 2);
}
