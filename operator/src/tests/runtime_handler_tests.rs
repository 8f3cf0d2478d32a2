//! Controller scenarios: nodes whose container runtime reports its handlers
//! (`status.runtimeHandlers`, as a v1.36 kubelet on containerd 2 writes them) are believed over
//! their labels.

use crate::api::crd::FallbackPolicy;
use crate::tests::controller_tests::{
    event_reasons, node_json, runtime_class_json, workload_json, Harness, DEPLOYMENT, EVENTS, STATUS,
};
use serde_json::{json, Value};

/// The kubelet's report of what containerd 2 has configured: the default handler (`""`), runc,
/// and whatever else its config names.
fn reporting(name: &str, labels: Value, handlers: &[&str]) -> Value {
    let mut n = node_json(name, labels, true);
    n["status"]["runtimeHandlers"] = handlers
        .iter()
        .map(|h| json!({"name": h, "features": {"recursiveReadOnlyMounts": true, "userNamespaces": true}}))
        .collect();
    n
}

const SHIM_LABEL: &str = "wasm.example/shim";

fn labelled() -> Value {
    json!({ SHIM_LABEL: "spin" })
}

/// RuntimeClass `wasmtime-spin-v2` (handler `spin`) for nodes labelled for the shim.
fn world(w: &mut crate::tests::mock_api::World, policy: FallbackPolicy) {
    w.put(
        "runtimeclasses",
        runtime_class_json("wasmtime-spin-v2", "spin", Some(labelled())),
    );
    w.put("wasmworkloads", workload_json(policy, &["spin"]));
}

#[tokio::test]
async fn a_label_the_runtime_contradicts_falls_back_before_any_pod_and_the_shim_s_arrival_brings_wasm_back() {
    let h = Harness::start(|w| {
        world(w, FallbackPolicy::WhenUnavailable);
        w.put("nodes", reporting("n1", labelled(), &["", "runc"]));
    })
    .await;
    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    let why = st["fallbackReason"].as_str().unwrap();
    assert!(
        why.contains("node n1: its container runtime does not report handler \"spin\" (it reports \"\", \"runc\")"),
        "{why}"
    );
    assert!(why.contains(&format!("its label {SHIM_LABEL}=spin")), "{why}");
    let first = h.nth_write("PATCH", DEPLOYMENT, 1).await;
    assert!(
        first.body.as_ref().unwrap()["spec"]["template"]["spec"]
            .get("runtimeClassName")
            .is_none(),
        "no Wasm pod is ever created"
    );
    h.settle().await;

    // containerd restarted with the shim configured: the node reports the handler now.
    h.world
        .lock()
        .unwrap()
        .put("nodes", reporting("n1", labelled(), &["", "runc", "spin"]));
    let second = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_eq!(
        second.body.as_ref().unwrap()["spec"]["template"]["spec"]["runtimeClassName"],
        "wasmtime-spin-v2"
    );
    h.status_where("mode Wasm", |st| st["mode"] == "Wasm").await;
    h.wait_for("the RunningWasm event", |w| {
        w.writes()
            .iter()
            .any(|r| r.path == EVENTS && r.body.as_ref().is_some_and(|b| b["reason"] == "RunningWasm"))
    })
    .await;
    assert!(event_reasons(&h).iter().any(|(_, r)| r == "FellBack"));
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2);
}

/// Two labelled nodes, one whose runtime lacks the handler, one that reports nothing (judged by
/// its label): Wasm, with the pods kept off the first from the start, and status says why.
#[tokio::test]
async fn pods_are_kept_off_a_node_whose_runtime_lacks_the_handler_from_the_first_write() {
    for placement in ["Whole", "Spill"] {
        let h = Harness::start(|w| {
            world(w, FallbackPolicy::OnFailure);
            let mut wl = workload_json(FallbackPolicy::OnFailure, &["spin"]);
            wl["spec"]["placement"] = json!(placement);
            w.put("wasmworkloads", wl);
            w.put("nodes", reporting("lying", labelled(), &["", "runc"]));
            w.put("nodes", node_json("silent", labelled(), true));
        })
        .await;
        let d = h.nth_write("PATCH", DEPLOYMENT, 1).await;
        let pod = &d.body.as_ref().unwrap()["spec"]["template"]["spec"];
        assert_eq!(pod["runtimeClassName"], "wasmtime-spin-v2", "{placement}");
        assert_eq!(
            pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
                ["matchFields"],
            json!([{"key": "metadata.name", "operator": "NotIn", "values": ["lying"]}]),
            "{placement}"
        );
        let st = h.nth_write("PATCH", STATUS, 1).await;
        let resolved = st.body.as_ref().unwrap()["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "RuntimeResolved")
            .unwrap()["message"]
            .clone();
        assert_eq!(
            resolved,
            "RuntimeClass wasmtime-spin-v2 (runtime spin) is usable on 1 node(s); its pods are kept off node(s) lying: labelled for it, their container runtime does not report handler \"spin\"",
            "{placement}"
        );
    }
}
