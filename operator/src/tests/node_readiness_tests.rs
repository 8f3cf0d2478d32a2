//! Controller scenarios: the only Wasm node's container runtime goes down for a while (an
//! upgrade, a restart waiting on its shims). The kubelet reports the node NotReady and the node
//! lifecycle controller taints it, with the bodies a v1.36 cluster writes. Within the readiness
//! grace the workload keeps Wasm and nothing is written; past it, it falls back.

use crate::api::time::rfc3339;
use crate::tests::controller_tests::{condition, event_reasons, spin_world, Harness, DEPLOYMENT};
use serde_json::{json, Value};

/// Node `n1` as the kubelet reports it while its runtime is down, `since` the transition, with
/// the taints the node lifecycle controller adds to a NotReady node.
fn runtime_down(since: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "labels": {}},
        "spec": {"taints": [
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": since}
        ]},
        "status": {"conditions": [{
            "type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime is down, PLEG is not healthy: pleg was last seen active 3m0.5s ago; threshold is 3m0s",
            "lastHeartbeatTime": since, "lastTransitionTime": since
        }],
        "images": [
            {"names": ["registry.example/hello-wasm:1.0"], "sizeBytes": 21_000},
            {"names": ["registry.example/hello:1.0"], "sizeBytes": 1_000_000}
        ]}
    })
}

fn now(h: &Harness) -> String {
    rfc3339(h.clock.now())
}

#[tokio::test]
async fn a_runtime_restart_shorter_than_the_grace_keeps_wasm_and_writes_nothing() {
    let h = Harness::converged(spin_world).await;
    let writes = h.world_writes().len();
    let down = runtime_down(&now(&h));
    h.world.lock().unwrap().put("nodes", down);
    h.settle().await;
    // Back 40 s later, Ready again.
    h.clock.advance(40);
    let mut up = crate::tests::controller_tests::node_json("n1", json!({}), true);
    up["status"]["conditions"][0]["lastTransitionTime"] = json!(now(&h));
    h.world.lock().unwrap().put("nodes", up);
    h.settle().await;
    assert_eq!(
        h.world_writes().len(),
        writes,
        "nothing written for a blip: {:#?}",
        &h.world_writes()[writes..]
    );
    assert!(event_reasons(&h).iter().all(|(_, r)| r != "FellBack"));
}

#[tokio::test]
async fn a_node_not_ready_past_the_grace_falls_back() {
    let h = Harness::converged(spin_world).await;
    let down = runtime_down(&now(&h));
    h.world.lock().unwrap().put("nodes", down.clone());
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1, "still Wasm within the grace");

    // Past the default 120 s: the next look (the requeue discovery asked for, here a poke)
    // falls back.
    h.clock.advance(121);
    h.poke_nodes("n1").await;
    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    assert!(
        st["fallbackReason"]
            .as_str()
            .unwrap()
            .contains("no Ready, schedulable node"),
        "{st}"
    );
    assert_eq!(condition(&st, "RuntimeResolved")["reason"], "Container");
}

#[tokio::test]
async fn a_cordon_of_a_node_not_ready_acts_at_once() {
    let h = Harness::converged(spin_world).await;
    let mut down = runtime_down(&now(&h));
    down["spec"]["unschedulable"] = json!(true);
    h.world.lock().unwrap().put("nodes", down);
    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    assert!(st["fallbackReason"]
        .as_str()
        .unwrap()
        .contains("no Ready, schedulable node"));
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert!(d.body.as_ref().unwrap()["spec"]["template"]["spec"]
        .get("runtimeClassName")
        .is_none());
}
