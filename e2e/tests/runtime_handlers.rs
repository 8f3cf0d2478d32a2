//! End-to-end: the node's own report of its runtime handlers (`status.runtimeHandlers`, which a
//! kubelet on containerd 2 publishes) outranks its labels. A RuntimeClass whose handler the Wasm
//! node does not have is given a nodeSelector label the node carries — a label that lies.
//!
//! On a node that reports its handlers the workload runs its container at once, the reason
//! naming the node and the handler, and no Wasm pod is ever made; under `placement: Spill` the
//! Wasm pods are kept off that node from the first rollout. On a node that reports none
//! (containerd 1.6) the label is all there is: the operator tries Wasm and learns from the
//! sandbox failure, as before. Each scenario says which rule it saw.

use e2e::{
    container_image, fake_node, kubectl, mode_is, pods_of, reason_of, runtime_class, wait_for, wasm_runtime_class,
    workload, Scenario,
};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use serde_json::{json, Value};
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

/// A handler no node has.
const ABSENT: &str = "e2e-absent-shim";
const LIE: &str = "wasm-operator.dev/e2e-lying-label";

/// The node running the Wasm RuntimeClass, and the handlers its runtime reports (None: none).
async fn wasm_node(s: &mut Scenario) -> (String, Option<Vec<String>>) {
    let rc = wasm_runtime_class(s);
    let text = kubectl(&["get", "runtimeclass", &rc, "-o", "json"]).unwrap();
    let rc: Value = serde_json::from_str(&text).unwrap();
    let selector: Vec<String> = rc["scheduling"]["nodeSelector"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect())
        .unwrap_or_default();
    let nodes: Api<Node> = Api::all(s.client.clone());
    let lp = kube::api::ListParams::default().labels(&selector.join(","));
    let node = nodes
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|n| {
            n.metadata
                .labels
                .as_ref()
                .is_none_or(|l| !l.contains_key("kubernetes.io/e2e-fake"))
        })
        .expect("a node runs the Wasm RuntimeClass");
    let name = node.metadata.name.clone().unwrap();
    let reported = wasm_operator::decide::discovery::reported_handlers(&node);
    (name, reported)
}

/// Label `node` with the lying label (removed when the scenario ends) and make a RuntimeClass
/// with the absent handler that selects it.
fn lying_runtime_class(s: &mut Scenario, node: &str) -> String {
    kubectl(&["label", "node", node, &format!("{LIE}=true"), "--overwrite"]).unwrap();
    s.cleanup(&["label", "node", node, &format!("{LIE}-")]);
    let name = format!("{}-lying", s.ns);
    e2e::create_runtime_class(s, &runtime_class(&name, ABSENT, Some(json!({ LIE: "true" }))));
    name
}

fn say(rule: &str, node: &str, reported: &Option<Vec<String>>) {
    println!("node {node}: {rule} (its runtime reports {reported:?})");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_label_the_node_s_runtime_contradicts_is_named_and_no_wasm_pod_is_made() {
    let mut s = Scenario::new("handlers-lie").await;
    let (node, reported) = wasm_node(&mut s).await;
    let rc = lying_runtime_class(&mut s, &node);
    let mut wl = workload("app", &[&rc], "OnFailure", Some(&container_image()));
    wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(20);
    s.apply(&wl).unwrap();
    let w = wait_for(&s.workloads(), "app", "the container mode", mode_is(Mode::Container)).await;
    let why = reason_of(&w);
    match reported {
        Some(_) => {
            say("the runtime's report rules", &node, &reported);
            assert!(
                why.contains(&format!(
                    "node {node}: its container runtime does not report handler \"{ABSENT}\""
                )),
                "the reason names the node and the handler: {why}"
            );
            assert!(why.contains(&format!("its label {LIE}=true")), "{why}");
            // The fallback came before any Wasm pod: none exists, no sandbox ever failed.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let wasm_pods: Vec<String> = pods_of(&s, "app")
                .await
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.runtime_class_name.as_deref()) == Some(rc.as_str()))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            assert!(wasm_pods.is_empty(), "Wasm pods were made: {wasm_pods:?}");
            let events = kubectl(&["get", "events", "-n", &s.ns, "-o", "json"]).unwrap();
            assert!(!events.contains("FailedCreatePodSandBox"), "a sandbox failed: {events}");
        }
        None => {
            say("reports none: judged by labels", &node, &reported);
            assert!(
                why.contains("SandboxFailed") || why.contains(ABSENT),
                "by the label, Wasm was tried and its sandbox failed: {why}"
            );
        }
    }
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn under_spill_wasm_pods_are_kept_off_a_node_whose_runtime_lacks_the_handler() {
    let mut s = Scenario::new("handlers-spill").await;
    let (node, reported) = wasm_node(&mut s).await;
    let rc = lying_runtime_class(&mut s, &node);
    // A second node with the label, which reports nothing (no kubelet): judged by its label, it
    // keeps the RuntimeClass usable, so the workload runs Wasm there (its pods never start) and
    // container pods stand in.
    let edge = "e2e-handlers-edge";
    let heartbeat = fake_node(&mut s, edge, &json!({ LIE: "true", "kubernetes.io/e2e-fake": "true" }));
    let mut wl = workload("app", &[&rc], "OnFailure", Some(&container_image()));
    wl["spec"]["replicas"] = json!(2);
    wl["spec"]["placement"] = json!("Spill");
    wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(20);
    s.apply(&wl).unwrap();
    wait_for(&s.workloads(), "app", "the Wasm mode", mode_is(Mode::Wasm)).await;
    let d = s.deployments().get("app").await.unwrap();
    let affinity = serde_json::to_value(d.spec.unwrap().template.spec.unwrap().affinity).unwrap();
    let kept_off = affinity.to_string().contains(&format!("\"{node}\""));
    // Watch the pods for a while: no Wasm pod may be bound to the node.
    for _ in 0..20 {
        for p in pods_of(&s, "app").await {
            let spec = p.spec.unwrap_or_default();
            if spec.runtime_class_name.as_deref() == Some(rc.as_str()) && reported.is_some() {
                assert_ne!(
                    spec.node_name.as_deref(),
                    Some(node.as_str()),
                    "a Wasm pod landed on {node}, whose runtime does not report {ABSENT}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    heartbeat.abort();
    match reported {
        Some(_) => {
            say("the runtime's report rules", &node, &reported);
            assert!(kept_off, "the Wasm Deployment keeps its pods off {node}: {affinity}");
            let w: WasmWorkload = s.workloads().get("app").await.unwrap();
            let resolved = w
                .status
                .unwrap()
                .conditions
                .into_iter()
                .find(|c| c.type_ == "RuntimeResolved")
                .unwrap();
            assert!(
                resolved.message.contains(&format!("kept off node(s) {node}")),
                "{}",
                resolved.message
            );
        }
        None => {
            say("reports none: judged by labels", &node, &reported);
            assert!(!kept_off, "nothing to keep off by the labels: {affinity}");
        }
    }
}
