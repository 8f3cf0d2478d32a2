//! End-to-end: `placement: Spill` on a real cluster. Wasm pods whose requests leave room for
//! only some of them on the shim node spill into container pods (the rest Ready, one Service in
//! front of both) and come back to Wasm when the requests shrink; a node that takes Wasm pods
//! but never starts them is kept out while its sibling keeps the Wasm pods.
//!
//! The second scenario uses a node with no kubelet: a Node object whose Ready condition and
//! Lease this suite keeps fresh (e2e/README.md says so). Pods bound to it never start.

use e2e::{
    container_image, enforce_restricted, http_images, kubectl, pods_of, wait_for, wasm_runtime_class, workload,
    Scenario, TIMEOUT,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams};
use serde_json::{json, Value};
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

/// Millicores of a quantity ("2", "500m", "1.5").
fn millicores(q: &Quantity) -> i64 {
    let s = q.0.as_str();
    match s.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => (s.parse::<f64>().unwrap_or(0.0) * 1000.0) as i64,
    }
}

/// The node labels a RuntimeClass selects its nodes by (null when it has none).
fn node_selector_of(runtime_class: &str) -> Value {
    let rc: Value =
        serde_json::from_str(&kubectl(&["get", "runtimeclass", runtime_class, "-o", "json"]).unwrap()).unwrap();
    rc["scheduling"]["nodeSelector"].clone()
}

/// The one Ready node the RuntimeClass selects, and the CPU left on it for new pods.
async fn shim_node_and_free_cpu(s: &Scenario, runtime_class: &str) -> (String, i64) {
    let selector: Vec<String> = node_selector_of(runtime_class)
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect())
        .unwrap_or_default();
    let nodes: Api<Node> = Api::all(s.client.clone());
    let found = nodes
        .list(&ListParams::default().labels(&selector.join(",")))
        .await
        .unwrap()
        .items;
    let real: Vec<&Node> = found
        .iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true))
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .is_some_and(|i| !i.kubelet_version.is_empty())
        })
        .collect();
    assert_eq!(
        real.len(),
        1,
        "this scenario wants exactly one schedulable shim node with a kubelet"
    );
    let node = real[0];
    let name = node.metadata.name.clone().unwrap();
    let allocatable = millicores(&node.status.as_ref().unwrap().allocatable.as_ref().unwrap()["cpu"]);
    let pods: Api<Pod> = Api::all(s.client.clone());
    let used: i64 = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .flat_map(|p| p.spec.as_ref().unwrap().containers.iter())
        .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu").map(millicores))
        .sum();
    (name, allocatable - used)
}

/// `apps/http-hello` with placement Spill: each Wasm pod requests `wasm_cpu`, each container
/// pod 10m.
fn spill_app(runtime_class: &str, replicas: i32, wasm_cpu: &str) -> Value {
    let (wasm, container) = http_images();
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": replicas,
            "placement": "Spill",
            "spill": {"holdSeconds": 5},
            "wasm": {"image": wasm, "runtimes": [runtime_class],
                     "resources": {"requests": {"cpu": wasm_cpu, "memory": "16Mi"}}},
            "fallback": {"image": container, "policy": "WhenUnavailable",
                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}},
            "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"enabled": true, "port": 80},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}
        }
    })
}

fn by_mode(w: &WasmWorkload) -> (i32, i32, i32) {
    let st = w.status.as_ref();
    let m = st.and_then(|s| s.replicas_by_mode.as_ref());
    (
        m.map_or(0, |m| m.wasm.ready_replicas),
        m.map_or(0, |m| m.container.ready_replicas),
        st.and_then(|s| s.spill.as_ref()).map_or(0, |s| s.container_replicas),
    )
}

/// Wait until the status shows `n` Wasm pods Ready, no container pod and no spill, in mode Wasm.
async fn all_wasm_no_spill(s: &Scenario, n: i32) {
    let what = format!("{n} Wasm pods Ready, no spill");
    let w = wait_for(&s.workloads(), "app", &what, |w: Option<&WasmWorkload>| {
        w.is_some_and(|w| by_mode(w) == (n, 0, 0))
    })
    .await;
    assert_eq!(w.status.unwrap().mode, Some(Mode::Wasm));
}

fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn mode_of(p: &Pod) -> String {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("wasm-operator.dev/mode"))
        .cloned()
        .unwrap_or_default()
}

/// Ask the Service until it has answered from pods of both modes.
async fn service_answers_from_both(s: &Scenario) {
    let path = format!("/api/v1/namespaces/{}/services/app:80/proxy/", s.ns);
    let mut seen = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while seen.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Service answered only from {seen:?}"
        );
        let req = http::Request::get(&path)
            .body(kube::client::Body::from(Vec::new()))
            .unwrap();
        if let Ok(res) = s.client.send(req).await {
            if res.status().is_success() {
                if let Some(by) = res.headers().get("x-served-by").and_then(|v| v.to_str().ok()) {
                    seen.insert(by.to_string());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn wasm_pods_without_room_spill_into_container_pods_and_come_back_when_requests_shrink() {
    let mut s = Scenario::new("spill-room").await;
    // Where users run: a namespace enforcing `restricted`, under a quota both halves fit in.
    enforce_restricted(&s);
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "app"},
                       "spec": {"hard": {"pods": "12", "requests.cpu": "4", "requests.memory": "1Gi"}}});
    s.apply(&quota).unwrap();
    let rc = wasm_runtime_class(&mut s);
    let (node, free) = shim_node_and_free_cpu(&s, &rc).await;
    // Four pods at two fifths of the free CPU each: two fit, two do not.
    let each = free * 2 / 5;
    s.apply(&spill_app(&rc, 4, &format!("{each}m"))).unwrap();
    let w = wait_for(
        &s.workloads(),
        "app",
        "4 Ready across both modes",
        |w: Option<&WasmWorkload>| {
            w.is_some_and(|w| {
                let (wasm, ctr, spill) = by_mode(w);
                wasm >= 1 && ctr >= 1 && wasm + ctr == 4 && spill == ctr
            })
        },
    )
    .await;
    let st = w.status.clone().unwrap();
    let (wasm, ctr, _) = by_mode(&w);
    eprintln!("spill-room: node {node}, {free}m free, {each}m per Wasm pod: {wasm} Wasm + {ctr} container Ready");
    assert_eq!(st.mode, Some(Mode::Wasm), "the workload does not fall back");
    assert_eq!(st.ready_replicas, 4);
    let spill = st.spill.unwrap();
    assert_eq!(spill.reason.as_deref(), Some("Unschedulable"));
    assert!(
        spill.message.as_deref().unwrap_or("").contains("Insufficient cpu"),
        "{spill:?}"
    );
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True", "{ready:?}");
    // kubectl shows both halves; the one Service answers from both.
    let table = kubectl(&["get", "wasmw", "app", "-n", &s.ns]).unwrap();
    assert!(table.lines().next().unwrap().contains("WASM   CONTAINER"), "{table}");
    service_answers_from_both(&s).await;
    let events = kubectl(&[
        "get",
        "events",
        "-n",
        &s.ns,
        "--field-selector",
        "reason=Spilled",
        "-o",
        "name",
    ])
    .unwrap();
    assert!(!events.trim().is_empty(), "a Spilled Event");

    // The requests shrink: every Wasm pod fits, and after the hold the container pods go. The
    // Ready pods of both modes (the suite's own count) never drop below 4 on the way.
    let patch = json!({"spec": {"wasm": {"resources": {"requests": {"cpu": "20m", "memory": "16Mi"}}}}});
    kubectl(&[
        "patch",
        "wasmw",
        "app",
        "-n",
        &s.ns,
        "--type=merge",
        "-p",
        &patch.to_string(),
    ])
    .unwrap();
    let started = std::time::Instant::now();
    let mut lowest = i32::MAX;
    loop {
        let pods = pods_of(&s, "app").await;
        let ready = pods.iter().filter(|p| is_ready(p)).count() as i32;
        lowest = lowest.min(ready);
        let wasm_ready = pods.iter().filter(|p| is_ready(p) && mode_of(p) == "wasm").count();
        let containers = pods.iter().filter(|p| mode_of(p) == "container").count();
        if wasm_ready == 4 && containers == 0 {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT * 2,
            "not back to 4 Wasm pods: {wasm_ready} Wasm Ready, {containers} container pods"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "spill-room: back to 4 Wasm pods in {:?}; fewest Ready pods on the way: {lowest}",
        started.elapsed()
    );
    assert!(lowest >= 4, "the Ready pods dropped to {lowest} during the shift");
    all_wasm_no_spill(&s, 4).await;
}

const EDGE: &str = "e2e-spill-edge";

/// The kubelet-less node the RuntimeClass selects (its labels), kept Ready by the suite.
fn fake_shim_node(s: &mut Scenario, shim_labels: &Value) -> tokio::task::JoinHandle<()> {
    e2e::fake_node(s, EDGE, shim_labels)
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_node_that_never_starts_wasm_pods_is_excluded_while_its_sibling_keeps_them() {
    let mut s = Scenario::new("spill-exclude").await;
    let rc = wasm_runtime_class(&mut s);
    enforce_restricted(&s);
    let heartbeat = fake_shim_node(&mut s, &node_selector_of(&rc));
    // Two pods spread one per node: one lands on the node that never starts it.
    let mut app = spill_app(&rc, 2, "20m");
    app["spec"]["fallback"]["startupTimeoutSeconds"] = json!(20);
    app["spec"]["scheduling"] = json!({"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"wasm-operator.dev/workload": "app", "wasm-operator.dev/mode": "wasm"}}}]});
    s.apply(&app).unwrap();

    let w = wait_for(
        &s.workloads(),
        "app",
        "the node excluded",
        |w: Option<&WasmWorkload>| {
            w.and_then(|w| w.status.as_ref()?.spill.as_ref())
                .is_some_and(|sp| sp.excluded_nodes.iter().any(|e| e.node == EDGE))
        },
    )
    .await;
    let st = w.status.unwrap();
    let ex = st
        .spill
        .as_ref()
        .unwrap()
        .excluded_nodes
        .iter()
        .find(|e| e.node == EDGE)
        .unwrap()
        .clone();
    eprintln!("spill-exclude: {ex:?}");
    assert_eq!(ex.reason, "StartupTimeout");
    assert_eq!(st.mode, Some(Mode::Wasm), "the workload does not fall back");
    let d = s.deployments().get("app").await.unwrap();
    let affinity = serde_json::to_value(&d.spec.unwrap().template.spec.unwrap().affinity).unwrap();
    assert_eq!(
        affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchFields"],
        json!([{"key": "metadata.name", "operator": "NotIn", "values": [EDGE]}])
    );
    // Both Wasm pods end on the sibling, Ready; the container pod that covered meanwhile goes.
    all_wasm_no_spill(&s, 2).await;
    let pods = pods_of(&s, "app").await;
    let on_edge = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(EDGE))
        .count();
    assert_eq!(on_edge, 0, "no live pod on the excluded node");
    let events = kubectl(&[
        "get",
        "events",
        "-n",
        &s.ns,
        "--field-selector",
        "reason=NodeExcluded",
        "-o",
        "jsonpath={.items[*].message}",
    ])
    .unwrap();
    assert!(events.contains(EDGE), "{events}");
    heartbeat.abort();
}

/// `placement: Spill`, a Wasm workload whose module cannot start (its command names a module
/// the image lacks: runwasi's wasmtime shim says "wasmtime executor can't handle spec") on the
/// shim node, where another workload's Wasm pods run Ready with the same RuntimeClass: the
/// module is named at fault, container pods stand in, no node is excluded.
#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_module_that_fails_where_other_wasm_pods_run_is_named_and_excludes_no_node() {
    let mut s = Scenario::new("spill-module").await;
    let rc = wasm_runtime_class(&mut s);
    let mut good = workload("good", &[&rc], "Never", None);
    good["spec"]["replicas"] = json!(1);
    s.apply(&good).unwrap();
    wait_for(
        &s.workloads(),
        "good",
        "a Ready Wasm pod",
        |w: Option<&WasmWorkload>| w.and_then(|w| w.status.as_ref()).is_some_and(|s| s.ready_replicas >= 1),
    )
    .await;
    let mut bad = workload("app", &[&rc], "WhenUnavailable", Some(&container_image()));
    bad["spec"]["placement"] = json!("Spill");
    bad["spec"]["wasm"]["command"] = json!(["/missing.wasm"]);
    bad["spec"]["fallback"]["startupTimeoutSeconds"] = json!(20);
    s.apply(&bad).unwrap();
    let w = wait_for(&s.workloads(), "app", "the module named", |w: Option<&WasmWorkload>| {
        w.and_then(|w| w.status.as_ref())
            .and_then(|s| s.spill.as_ref())
            .is_some_and(|sp| sp.reason.as_deref() == Some("ModuleFailed"))
    })
    .await;
    let spill = w.status.unwrap().spill.unwrap();
    println!("spill: {spill:?}");
    assert!(spill.excluded_nodes.is_empty(), "a node was excluded: {spill:?}");
    assert!(spill.container_replicas >= 1, "no container pod stands in: {spill:?}");
    assert!(
        spill.message.unwrap_or_default().contains("good-"),
        "the witness is named"
    );
}
