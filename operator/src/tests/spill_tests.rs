//! Controller scenarios of `placement: Spill`: the real `Controller` against the scripted mock
//! API, fed the pod states and Events a real cluster gives (the scheduler's `Unschedulable`
//! condition, the kubelet's `FailedCreatePodSandBox`).

use crate::api::crd::FallbackPolicy;
use crate::tests::controller_tests::{
    condition, event_reasons, node_json, now_rfc3339, pod_json, runtime_class_json, sandbox_event_json, workload_json,
    Harness, DEPLOYMENT, EVENTS, STATUS,
};
use crate::tests::mock_api::World;
use serde_json::{json, Value};

const SPILL: &str = "/apis/apps/v1/namespaces/demo/deployments/hello-spill";

/// What kube-scheduler v1.36 writes on a pod it cannot place for want of CPU (the same words as
/// its `FailedScheduling` Event).
const NO_ROOM: &str = "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) were unschedulable. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.";

fn spill_workload(replicas: i64, hold: i64) -> Value {
    let mut wl = workload_json(FallbackPolicy::OnFailure, &["spin"]);
    wl["spec"]["replicas"] = json!(replicas);
    wl["spec"]["placement"] = json!("Spill");
    wl["spec"]["spill"] = json!({"holdSeconds": hold, "nodeExclusionSeconds": 600});
    wl
}

fn spill_world(replicas: i64, hold: i64) -> impl FnOnce(&mut World) {
    move |w: &mut World| {
        w.put(
            "runtimeclasses",
            runtime_class_json("wasmtime-spin-v2", "spin", Some(json!({"wasm.example/shim": "spin"}))),
        );
        w.put("nodes", node_json("n1", json!({"wasm.example/shim": "spin"}), true));
        w.put("nodes", node_json("n2", json!({"wasm.example/shim": "spin"}), true));
        w.put("wasmworkloads", spill_workload(replicas, hold));
    }
}

/// A Wasm pod the scheduler could not place.
fn unschedulable_pod(name: &str) -> Value {
    let mut p = pod_json(name, "wasm", Some("wasmtime-spin-v2"), false, 0);
    p["spec"].as_object_mut().unwrap().remove("nodeName");
    p["status"] = json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": NO_ROOM, "lastTransitionTime": now_rfc3339(0)}]
    });
    p
}

fn set_ready(h: &Harness, name: &str, ready: i64) {
    let mut w = h.world.lock().unwrap();
    let mut d = w.get("deployments", Some("demo"), name).unwrap().clone();
    let replicas = d["spec"]["replicas"].clone();
    d["status"] = json!({"observedGeneration": d["metadata"]["generation"].as_i64().unwrap_or(1),
                         "replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas});
    w.put("deployments", d);
}

fn replicas_of(body: &Value) -> i64 {
    body["spec"]["replicas"].as_i64().unwrap()
}

#[tokio::test]
async fn unschedulable_wasm_pods_spill_into_container_pods_and_come_back_after_the_hold() {
    let h = Harness::converged(spill_world(3, 2)).await;
    let wasm = h.writes_to("PATCH", DEPLOYMENT);
    assert_eq!(
        replicas_of(wasm[0].body.as_ref().unwrap()),
        3,
        "the Wasm Deployment runs all replicas"
    );
    let first = h.nth_write("PATCH", SPILL, 1).await;
    let body = first.body.unwrap();
    assert_eq!(replicas_of(&body), 0, "nothing to make up for yet");
    assert_eq!(
        body["spec"]["selector"]["matchLabels"]["wasm-operator.dev/mode"],
        "container"
    );
    assert_eq!(
        body["spec"]["template"]["metadata"]["labels"]["wasm-operator.dev/workload"],
        "hello"
    );
    assert_eq!(
        body["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/hello:1.0"
    );

    // Room for one Wasm pod: the scheduler leaves two Pending.
    {
        let mut w = h.world.lock().unwrap();
        w.put("pods", pod_json("hello-w1", "wasm", Some("wasmtime-spin-v2"), true, 5));
        w.put("pods", unschedulable_pod("hello-w2"));
        w.put("pods", unschedulable_pod("hello-w3"));
    }
    let spilled = h.nth_write("PATCH", SPILL, 2).await;
    assert_eq!(
        replicas_of(spilled.body.as_ref().unwrap()),
        2,
        "one container pod per stuck Wasm pod"
    );
    let st = h.nth_write("PATCH", STATUS, 2).await.body.unwrap()["status"].clone();
    assert_eq!(st["mode"], "Wasm", "the workload does not fall back");
    assert_eq!(st["spill"]["containerReplicas"], 2);
    assert_eq!(st["spill"]["reason"], "Unschedulable");
    assert!(
        st["spill"]["message"].as_str().unwrap().contains("Insufficient cpu"),
        "{st}"
    );
    assert_eq!(
        h.writes_to("PATCH", DEPLOYMENT).len(),
        1,
        "the Wasm Deployment is untouched"
    );

    // The container pods come up: Ready counts both halves.
    set_ready(&h, "hello", 1);
    set_ready(&h, "hello-spill", 2);
    let st = h.status_where("3 Ready", |st| st["readyReplicas"] == 3).await;
    assert_eq!(condition(&st, "Ready")["status"], "True");
    assert_eq!(
        condition(&st, "Ready")["message"],
        "3/3 pods ready in 1 wasm, 2 container"
    );
    assert_eq!(
        st["replicasByMode"],
        json!({"wasm": {"replicas": 3, "readyReplicas": 1}, "container": {"replicas": 2, "readyReplicas": 2}})
    );
    assert_eq!(
        st["replicas"], 3,
        "a stuck Wasm pod and its stand-in count once (the scale subresource)"
    );
    let text = h.metrics.render();
    for series in [
        r#"wasm_workload_replicas{mode="wasm",namespace="demo",state="ready",workload="hello"} 1"#,
        r#"wasm_workload_replicas{mode="container",namespace="demo",state="desired",workload="hello"} 2"#,
    ] {
        assert!(text.contains(series), "both halves in the metrics: {series}");
    }
    assert!(event_reasons(&h).contains(&("Normal".to_string(), "Spilled".to_string())));
    assert!(!event_reasons(&h).iter().any(|(_, r)| r == "FellBack"));

    // Room appears: both Wasm pods run and are Ready now. The container pods stay for the hold
    // (2 s), then go — the requeue at the hold's end does it, nothing else happens meanwhile.
    h.settle().await;
    let spill_writes = h.writes_to("PATCH", SPILL).len();
    {
        let mut w = h.world.lock().unwrap();
        w.put("pods", pod_json("hello-w2", "wasm", Some("wasmtime-spin-v2"), true, 5));
        w.put("pods", pod_json("hello-w3", "wasm", Some("wasmtime-spin-v2"), true, 5));
    }
    set_ready(&h, "hello", 3);
    let started = std::time::Instant::now();
    h.settle().await;
    assert_eq!(
        h.writes_to("PATCH", SPILL).len(),
        spill_writes,
        "held: no container pod goes before the hold"
    );
    let back = h.nth_write("PATCH", SPILL, spill_writes + 1).await;
    assert_eq!(replicas_of(back.body.as_ref().unwrap()), 0);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_node_whose_sandbox_fails_is_excluded_while_its_sibling_keeps_wasm() {
    let h = Harness::converged(spill_world(2, 60)).await;
    {
        let mut w = h.world.lock().unwrap();
        w.put("pods", pod_json("hello-w1", "wasm", Some("wasmtime-spin-v2"), true, 5));
        let mut bad = pod_json("hello-w2", "wasm", Some("wasmtime-spin-v2"), false, 0);
        bad["spec"]["nodeName"] = json!("n2");
        w.put("pods", bad);
        w.put("events", sandbox_event_json("hello-w2"));
    }
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await.body.unwrap();
    let term = &d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0];
    assert_eq!(
        term["matchFields"],
        json!([{"key": "metadata.name", "operator": "NotIn", "values": ["n2"]}])
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["runtimeClassName"], "wasmtime-spin-v2",
        "still Wasm"
    );
    let st = h
        .status_where("an excluded node", |st| st["spill"]["excludedNodes"].is_array())
        .await;
    let ex = &st["spill"]["excludedNodes"][0];
    assert_eq!(
        (ex["node"].as_str(), ex["reason"].as_str()),
        (Some("n2"), Some("SandboxFailed"))
    );
    assert!(
        ex["message"].as_str().unwrap().contains("no runtime for \"spin\""),
        "{ex}"
    );
    assert_eq!(st["mode"], "Wasm");
    let spill = h.writes_to("PATCH", SPILL);
    assert_eq!(
        replicas_of(spill.last().unwrap().body.as_ref().unwrap()),
        1,
        "its pod is made up for"
    );
    h.wait_for("the NodeExcluded event", |w| {
        w.writes()
            .iter()
            .any(|r| r.path == EVENTS && r.body.as_ref().is_some_and(|b| b["reason"] == "NodeExcluded"))
    })
    .await;
    assert_eq!(
        h.metrics
            .fallbacks
            .with_label_values(&["demo", "hello", "SandboxFailed"])
            .get(),
        0
    );
}

/// The workload's own module cannot start (runwasi's wasmtime shim refuses its spec), on a node
/// where another workload's Wasm pod of the same RuntimeClass runs Ready: the module is at
/// fault, not the node. A container pod stands in; no node is excluded.
#[tokio::test]
async fn a_module_that_fails_where_other_wasm_runs_excludes_no_node() {
    let h = Harness::converged(spill_world(2, 60)).await;
    {
        let mut w = h.world.lock().unwrap();
        w.put("pods", pod_json("hello-w1", "wasm", Some("wasmtime-spin-v2"), true, 5));
        let mut bad = pod_json("hello-w2", "wasm", Some("wasmtime-spin-v2"), false, 5);
        bad["status"]["containerStatuses"][0]["state"] = json!({"waiting": {
            "reason": "CreateContainerError",
            "message": "failed to start containerd task \"app\": Others(\"wasmtime executor can't handle spec\"): unknown"}});
        w.put("pods", bad);
        let mut other = pod_json("other-w1", "wasm", Some("wasmtime-spin-v2"), true, 300);
        other["metadata"]["labels"]["wasm-operator.dev/workload"] = json!("other");
        w.put("pods", other);
    }
    let st = h
        .status_where("the module named", |st| st["spill"]["reason"] == "ModuleFailed")
        .await;
    let message = st["spill"]["message"].as_str().unwrap();
    assert!(message.contains("node n1"), "{message}");
    assert!(message.contains("demo/other-w1"), "{message}");
    assert!(message.contains("wasmtime executor can't handle spec"), "{message}");
    assert!(st["spill"].get("excludedNodes").is_none(), "no node excluded: {st}");
    assert_eq!(st["spill"]["containerReplicas"], 1, "its pod is made up for");
    h.wait_for("the ModuleFailed event", |w| {
        w.writes()
            .iter()
            .any(|r| r.path == EVENTS && r.body.as_ref().is_some_and(|b| b["reason"] == "ModuleFailed"))
    })
    .await;
    h.settle().await;
    for d in h.writes_to("PATCH", DEPLOYMENT) {
        let spec = &d.body.as_ref().unwrap()["spec"]["template"]["spec"];
        assert!(spec.get("affinity").is_none(), "no node kept out: {spec}");
    }
    assert!(!event_reasons(&h).iter().any(|(_, r)| r == "NodeExcluded"));
}

#[tokio::test]
async fn a_spill_deployment_name_of_another_workload_is_not_taken() {
    let h = Harness::converged(|w| {
        spill_world(2, 60)(w);
        w.put(
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "hello-spill", "namespace": "demo", "generation": 1,
                                "labels": {"app.kubernetes.io/managed-by": "wasm-operator",
                                           "wasm-operator.dev/workload": "hello-spill",
                                           "wasm-operator.dev/mode": "wasm"}},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"wasm-operator.dev/workload": "hello-spill"}},
                            "template": {"spec": {"containers": []}}}}),
        );
    })
    .await;
    let st = h
        .status_where("NameTaken", |st| condition(st, "Ready")["reason"] == "NameTaken")
        .await;
    assert!(condition(&st, "Ready")["message"]
        .as_str()
        .unwrap()
        .contains("belongs to the workload hello-spill"));
    assert!(h.writes_to("PATCH", SPILL).is_empty(), "never written");
}

#[tokio::test]
async fn back_to_whole_removes_the_spill_once_the_deployment_runs_every_pod() {
    let h = Harness::converged(spill_world(2, 60)).await;
    h.nth_write("PATCH", SPILL, 1).await;
    {
        let mut w = h.world.lock().unwrap();
        let mut wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap().clone();
        wl["spec"].as_object_mut().unwrap().remove("placement");
        wl["metadata"]["generation"] = json!(2);
        w.put("wasmworkloads", wl);
    }
    h.status_where("generation 2", |st| st["observedGeneration"] == 2).await;
    h.settle().await;
    assert!(
        h.writes_to("DELETE", SPILL).is_empty(),
        "kept while the Deployment is not rolled out"
    );
    let whole = h.nth_write("PATCH", DEPLOYMENT, 2).await.body.unwrap();
    assert!(
        whole["spec"].get("strategy").is_none(),
        "the Deployment's own rollout again: {whole}"
    );
    assert_eq!(
        whole["spec"]["template"]["spec"]["runtimeClassName"],
        "wasmtime-spin-v2"
    );
    set_ready(&h, "hello", 2);
    h.nth_write("DELETE", SPILL, 1).await;
    let st = h
        .status_where("no spill", |st| st.get("spill").is_none() && st["readyReplicas"] == 2)
        .await;
    assert_eq!(st["replicasByMode"]["container"]["replicas"], 0);
}

#[tokio::test]
async fn scale_down_removes_container_pods_first() {
    let h = Harness::converged(spill_world(4, 60)).await;
    // Two Wasm pods Ready for five minutes, two the scheduler cannot place, two container pods.
    {
        let mut w = h.world.lock().unwrap();
        for name in ["hello-w1", "hello-w2"] {
            let mut p = pod_json(name, "wasm", Some("wasmtime-spin-v2"), true, 600);
            p["status"]["conditions"][1]["lastTransitionTime"] = json!(now_rfc3339(-300));
            w.put("pods", p);
        }
        w.put("pods", unschedulable_pod("hello-w3"));
        w.put("pods", unschedulable_pod("hello-w4"));
    }
    assert_eq!(
        replicas_of(h.nth_write("PATCH", SPILL, 2).await.body.as_ref().unwrap()),
        2
    );
    set_ready(&h, "hello", 2);
    set_ready(&h, "hello-spill", 2);
    h.status_where("4 Ready", |st| st["readyReplicas"] == 4).await;
    h.settle().await;

    // `kubectl scale --replicas=2`: the Wasm Deployment drops its unscheduled pods (the
    // ReplicaSet's order), and the spill goes at once: the Wasm pods that run have long held.
    {
        let mut w = h.world.lock().unwrap();
        let mut wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap().clone();
        wl["spec"]["replicas"] = json!(2);
        wl["metadata"]["generation"] = json!(2);
        w.put("wasmworkloads", wl);
        w.remove("pods", Some("demo"), "hello-w3");
        w.remove("pods", Some("demo"), "hello-w4");
    }
    let wasm = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_eq!(
        replicas_of(wasm.body.as_ref().unwrap()),
        2,
        "both Wasm pods that run stay"
    );
    let spill = h.writes_to("PATCH", SPILL);
    h.wait_for("the spill emptied", |w| {
        w.writes()
            .iter()
            .any(|r| r.path == SPILL && r.body.as_ref().is_some_and(|b| b["spec"]["replicas"] == 0))
    })
    .await;
    assert!(spill.len() >= 2);
}
