//! Controller scenarios: the real `Controller` (watches, triggers, reconcile, status) against the
//! scripted mock API. Each scenario checks the exact writes and feeds watch events.

use crate::api::crd::FallbackPolicy;
use crate::context::Context;
use crate::controller::{self, Settings};
use crate::decide::runtimes::RuntimeConfig;
use crate::observe::watches;
use crate::report::metrics::Metrics;
use crate::tests::fixtures;
use crate::tests::mock_api::{self, wait_until, Recorded, World};
use futures::FutureExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
pub const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/demo/deployments/hello";
const SERVICE: &str = "/api/v1/namespaces/demo/services/hello";
pub const STATUS: &str = "/apis/wasm-operator.dev/v1alpha1/namespaces/demo/wasmworkloads/hello/status";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/demo/events";

pub struct Harness {
    pub world: Arc<Mutex<World>>,
    pub metrics: Metrics,
    /// The reconciles' wall clock, to move past a cooldown.
    pub clock: crate::clock::Clock,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Harness {
    pub async fn start(setup: impl FnOnce(&mut World)) -> Harness {
        let mut world = World::default();
        setup(&mut world);
        let (client, world) = mock_api::client(world);
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let metrics = Metrics::new();
        let stores = watches::start(client.clone(), None, metrics.clone(), Duration::from_millis(200), tx);
        let mut ctx = Context::new(client, metrics.clone(), RuntimeConfig::default(), stores);
        // The production shape (exponential, capped), on a test scale.
        ctx.backoff = crate::error::Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_secs(2),
        };
        let clock = ctx.clock.clone();
        let ctx = Arc::new(ctx);
        let settings = Settings {
            namespace: None,
            concurrency: 4,
        };
        let task = tokio::spawn(controller::run(
            ctx,
            rx,
            settings,
            || {},
            futures::future::pending().boxed(),
        ));
        Harness {
            world,
            metrics,
            clock,
            task,
        }
    }

    /// Start, and wait until the workload is reconciled (its first status write) and all
    /// is quiet.
    pub async fn converged(setup: impl FnOnce(&mut World)) -> Harness {
        let h = Harness::start(setup).await;
        h.nth_write("PATCH", STATUS, 1).await;
        h.settle().await;
        h
    }

    pub fn writes_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.world
            .lock()
            .unwrap()
            .writes()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    fn write_count(&self) -> usize {
        self.world.lock().unwrap().writes().len()
    }

    async fn wait(&self, what: &str, check: impl Fn(&World) -> bool) {
        wait_until(&self.world, what, WAIT, check).await;
    }

    /// Wait for the n-th write of `method` to `path` and return it.
    pub async fn nth_write(&self, method: &str, path: &str, n: usize) -> Recorded {
        let (m, p) = (method.to_string(), path.to_string());
        self.wait(&format!("write #{n} {method} {path}"), move |w| {
            w.writes().iter().filter(|r| r.method == m && r.path == p).count() >= n
        })
        .await;
        self.writes_to(method, path)[n - 1].clone()
    }

    /// Wait for a status write whose status satisfies `check`, and return that status.
    pub async fn status_where(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let matches = |r: &Recorded| {
            r.method == "PATCH" && r.path == STATUS && r.body.as_ref().is_some_and(|b| check(&b["status"]))
        };
        self.wait(&format!("a status write with {what}"), |w| {
            w.writes().iter().any(matches)
        })
        .await;
        let writes = self.writes_to("PATCH", STATUS);
        writes.iter().find(|r| matches(r)).unwrap().body.as_ref().unwrap()["status"].clone()
    }

    pub async fn wait_for(&self, what: &str, check: impl Fn(&World) -> bool) {
        self.wait(what, check).await;
    }

    pub fn world_writes(&self) -> Vec<Recorded> {
        self.world.lock().unwrap().writes()
    }

    /// Give a node a new label (a trigger for every workload) and wait until the reconcile it
    /// causes is done and the controller is idle again.
    pub async fn poke_nodes(&self, node: &str) {
        let before = self.reconciles();
        {
            let mut w = self.world.lock().unwrap();
            let mut n = w.get("nodes", None, node).unwrap().clone();
            n["metadata"]["labels"]["poked"] = json!(before.to_string());
            w.put("nodes", n);
        }
        self.await_reconcile_after(before).await;
        self.settle().await;
    }

    /// Switches of workload demo/hello to its fallback for `reason`.
    fn fallbacks(&self, reason: &str) -> u64 {
        self.metrics
            .fallbacks
            .with_label_values(&["demo", "hello", reason])
            .get()
    }

    /// Requests that satisfy `matches`.
    pub fn count_requests(&self, matches: impl Fn(&Recorded) -> bool) -> usize {
        self.world
            .lock()
            .unwrap()
            .requests()
            .iter()
            .filter(|r| matches(r))
            .count()
    }

    pub fn reconciles(&self) -> u64 {
        self.metrics
            .reconcile_duration
            .with_label_values(&["ok"])
            .get_sample_count()
    }

    /// Let one more reconcile of the workload run to its end.
    pub async fn await_reconcile_after(&self, before: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.reconciles() <= before {
            assert!(tokio::time::Instant::now() < deadline, "no reconcile happened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Wait until the controller is idle: no reconcile and no request for a quiet window, so
    /// that what a scenario feeds next is the only thing that can explain what follows.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let seen = (self.reconciles(), self.world.lock().unwrap().requests().len());
            tokio::time::sleep(Duration::from_millis(50)).await;
            if seen == (self.reconciles(), self.world.lock().unwrap().requests().len()) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the controller never went idle");
        }
    }
}

pub fn workload_json(policy: FallbackPolicy, runtimes: &[&str]) -> Value {
    let mut wl = fixtures::workload("hello", "demo");
    wl.spec.fallback.policy = policy;
    wl.spec.wasm.runtimes = runtimes.iter().map(|s| s.to_string()).collect();
    let mut v = serde_json::to_value(&wl).unwrap();
    v["apiVersion"] = json!("wasm-operator.dev/v1alpha1");
    v["kind"] = json!("WasmWorkload");
    v
}

pub fn runtime_class_json(name: &str, handler: &str, node_selector: Option<Value>) -> Value {
    let mut v =
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": handler});
    if let Some(sel) = node_selector {
        v["scheduling"] = json!({"nodeSelector": sel});
    }
    v
}

pub fn node_json(name: &str, labels: Value, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "images": [
                {"names": ["registry.example/hello-wasm:1.0"], "sizeBytes": 21_000},
                {"names": ["registry.example/hello:1.0"], "sizeBytes": 1_000_000}
            ]
        }
    })
}

pub fn event_reasons(h: &Harness) -> Vec<(String, String)> {
    h.writes_to("POST", EVENTS)
        .iter()
        .map(|r| {
            let b = r.body.as_ref().unwrap();
            (
                b["type"].as_str().unwrap_or("").to_string(),
                b["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

fn assert_apply(r: &Recorded) {
    assert_eq!(r.method, "PATCH");
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("wasm-operator"),
        "{r:?}"
    );
    assert_eq!(r.query.get("force").map(String::as_str), Some("true"), "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some("application/apply-patch+yaml"), "{r:?}");
}

pub fn spin_world(w: &mut World) {
    w.put("runtimeclasses", runtime_class_json("wasmtime-spin-v2", "spin", None));
    w.put("nodes", node_json("n1", json!({}), true));
    w.put(
        "wasmworkloads",
        workload_json(FallbackPolicy::OnFailure, &["spin", "wasmtime"]),
    );
}

/// A workload whose runtime is not installed, running its fallback under WhenUnavailable.
pub fn container_world(w: &mut World) {
    w.put("nodes", node_json("n1", json!({}), true));
    w.put(
        "wasmworkloads",
        workload_json(FallbackPolicy::WhenUnavailable, &["spin"]),
    );
}

#[tokio::test]
async fn create_yields_a_wasm_deployment_service_status_and_event() {
    let h = Harness::start(spin_world).await;
    let status_write = h.nth_write("PATCH", STATUS, 1).await;

    let deployments = h.writes_to("PATCH", DEPLOYMENT);
    assert_eq!(deployments.len(), 1, "one Deployment apply");
    let d = &deployments[0];
    assert_apply(d);
    let body = d.body.as_ref().unwrap();
    assert_eq!(body["apiVersion"], "apps/v1");
    assert_eq!(body["kind"], "Deployment");
    assert_eq!(
        body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "wasm-operator"
    );
    assert_eq!(body["metadata"]["labels"]["wasm-operator.dev/workload"], "hello");
    assert_eq!(body["metadata"]["labels"]["wasm-operator.dev/mode"], "wasm");
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "uid-hello");
    assert_eq!(body["metadata"]["ownerReferences"][0]["controller"], true);
    assert!(body["metadata"]["annotations"]["wasm-operator.dev/spec-hash"].is_string());
    let pod = &body["spec"]["template"]["spec"];
    assert_eq!(pod["runtimeClassName"], "wasmtime-spin-v2");
    assert_eq!(pod["containers"][0]["image"], "registry.example/hello-wasm:1.0");
    assert_eq!(body["spec"]["replicas"], 2);

    let services = h.writes_to("PATCH", SERVICE);
    assert_eq!(services.len(), 1, "one Service apply");
    assert_apply(&services[0]);
    assert_eq!(services[0].body.as_ref().unwrap()["spec"]["ports"][0]["port"], 80);

    assert_apply(&status_write);
    let st = &status_write.body.as_ref().unwrap()["status"];
    assert_eq!(st["mode"], "Wasm");
    assert_eq!(st["runtimeClassName"], "wasmtime-spin-v2");
    assert_eq!(st["selector"], "wasm-operator.dev/workload=hello");
    assert_eq!(st["observedGeneration"], 1);
    let resolved = condition(st, "RuntimeResolved");
    assert_eq!(
        (resolved["status"].as_str(), resolved["reason"].as_str()),
        (Some("True"), Some("Wasm"))
    );
    assert_eq!(condition(st, "Ready")["status"], "False", "no pod is ready yet");

    h.wait("the RunningWasm event", |w| w.writes().iter().any(|r| r.path == EVENTS))
        .await;
    assert_eq!(
        event_reasons(&h),
        vec![("Normal".to_string(), "RunningWasm".to_string())]
    );

    // Owned watches are label-selected; nothing watches every object of a kind it owns.
    let w = h.world.lock().unwrap();
    for kind in ["/apis/apps/v1/deployments", "/api/v1/services"] {
        let lists: Vec<_> = w
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == kind)
            .collect();
        assert!(!lists.is_empty(), "{kind} is watched");
        for r in lists {
            assert_eq!(
                r.query.get("labelSelector").map(String::as_str),
                Some("app.kubernetes.io/managed-by=wasm-operator"),
                "{r:?}"
            );
        }
    }
}

#[tokio::test]
async fn ready_pods_flow_into_status_and_an_unchanged_workload_writes_nothing() {
    let h = Harness::start(spin_world).await;
    h.nth_write("PATCH", STATUS, 1).await;
    h.wait("the event", |w| w.writes().iter().any(|r| r.path == EVENTS))
        .await;

    // The Deployment's pods become ready: status follows.
    {
        let mut w = h.world.lock().unwrap();
        let mut d = w.get("deployments", Some("demo"), "hello").unwrap().clone();
        d["status"] = json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2});
        w.put("deployments", d);
    }
    let second = h.nth_write("PATCH", STATUS, 2).await;
    let st = &second.body.as_ref().unwrap()["status"];
    assert_eq!(
        (st["replicas"].as_i64(), st["readyReplicas"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(condition(st, "Ready")["status"], "True");
    assert_eq!(condition(st, "Progressing")["reason"], "Complete");

    // Once idle, poke the workload through a RuntimeClass event: a full reconcile runs and
    // writes nothing.
    h.settle().await;
    let writes = h.write_count();
    let before = h.reconciles();
    {
        let mut w = h.world.lock().unwrap();
        let rc = w.get("runtimeclasses", None, "wasmtime-spin-v2").unwrap().clone();
        w.put("runtimeclasses", rc);
    }
    h.await_reconcile_after(before).await;
    let before = h.reconciles();
    {
        // A node heartbeat alone is not even a trigger; a new label is.
        let mut w = h.world.lock().unwrap();
        w.put("nodes", node_json("n1", json!({"unrelated": "label"}), true));
    }
    h.await_reconcile_after(before).await;
    assert_eq!(
        h.write_count(),
        writes,
        "an unchanged workload writes nothing: {:#?}",
        h.world.lock().unwrap().writes()[writes..].to_vec()
    );
}

#[tokio::test]
async fn runtime_class_deleted_switches_to_the_container_with_reason_and_event() {
    let h = Harness::converged(spin_world).await;
    h.world
        .lock()
        .unwrap()
        .remove("runtimeclasses", None, "wasmtime-spin-v2");

    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_apply(&d);
    let body = d.body.as_ref().unwrap();
    let pod = &body["spec"]["template"]["spec"];
    assert!(
        pod.get("runtimeClassName").is_none(),
        "Container mode has no runtime class: {pod}"
    );
    assert_eq!(pod["containers"][0]["image"], "registry.example/hello:1.0");
    assert_eq!(pod["containers"][0]["args"], json!(["--port", "8080"]));
    assert_eq!(body["metadata"]["labels"]["wasm-operator.dev/mode"], "container");
    assert_eq!(
        body["spec"]["selector"]["matchLabels"],
        json!({"wasm-operator.dev/workload": "hello"}),
        "selector is stable"
    );

    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    assert!(st.get("runtimeClassName").is_none());
    let reason = st["fallbackReason"].as_str().unwrap();
    assert!(reason.contains("wasmtime-spin-v2: not installed"), "{reason}");
    assert_eq!(condition(&st, "RuntimeResolved")["reason"], "Container");

    h.wait("the FellBack event", |w| {
        w.writes().iter().filter(|r| r.path == EVENTS).count() >= 2
    })
    .await;
    assert_eq!(event_reasons(&h)[1], ("Warning".to_string(), "FellBack".to_string()));
    assert_eq!(h.fallbacks("NoUsableRuntime"), 1);
}

#[tokio::test]
async fn required_node_affinity_away_from_the_runtime_nodes_falls_back() {
    let h = Harness::start(|w| {
        spin_world(w);
        let mut wl = workload_json(FallbackPolicy::WhenUnavailable, &["spin"]);
        wl["spec"]["scheduling"] = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}});
        w.put("wasmworkloads", wl);
        w.put("nodes", node_json("n1", json!({"zone": "a"}), true));
    })
    .await;
    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    let reason = st["fallbackReason"].as_str().unwrap();
    assert!(reason.contains("node affinity"), "{reason}");
    let d = h.nth_write("PATCH", DEPLOYMENT, 1).await;
    let pod = &d.body.as_ref().unwrap()["spec"]["template"]["spec"];
    assert!(pod.get("runtimeClassName").is_none(), "{pod}");
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchExpressions"][0]["values"],
        json!(["b"]),
        "the affinity is kept on the pods"
    );
}

#[tokio::test]
async fn a_node_with_the_runtime_appearing_switches_back_to_wasm() {
    let h = Harness::start(|w| {
        w.put(
            "runtimeclasses",
            runtime_class_json("spin", "spin", Some(json!({"spin": "yes"}))),
        );
        w.put("nodes", node_json("plain", json!({}), true));
        w.put("nodes", node_json("wasm-notready", json!({"spin": "yes"}), false));
        w.put(
            "wasmworkloads",
            workload_json(FallbackPolicy::WhenUnavailable, &["spin"]),
        );
    })
    .await;
    let first = h.nth_write("PATCH", DEPLOYMENT, 1).await;
    assert!(first.body.as_ref().unwrap()["spec"]["template"]["spec"]
        .get("runtimeClassName")
        .is_none());
    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    assert!(
        st["fallbackReason"]
            .as_str()
            .unwrap()
            .contains("spin: no Ready, schedulable node"),
        "{st}"
    );
    h.settle().await;

    h.world
        .lock()
        .unwrap()
        .put("nodes", node_json("wasm", json!({"spin": "yes"}), true));
    let second = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    let pod = &second.body.as_ref().unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["runtimeClassName"], "spin");
    assert_eq!(
        pod["nodeSelector"],
        json!({"spin": "yes"}),
        "the RuntimeClass's nodeSelector is merged in"
    );
    assert_eq!(pod["containers"][0]["image"], "registry.example/hello-wasm:1.0");
    let st = h.status_where("mode Wasm", |st| st["mode"] == "Wasm").await;
    assert_eq!(st["runtimeClassName"], "spin");
    h.wait("two events", |w| {
        w.writes().iter().filter(|r| r.path == EVENTS).count() >= 2
    })
    .await;
    let reasons: Vec<String> = event_reasons(&h).into_iter().map(|(_, r)| r).collect();
    assert_eq!(reasons, ["FellBack", "RunningWasm"]);
}

#[tokio::test]
async fn policy_never_changes_no_deployment_and_says_why() {
    let h = Harness::start(|w| {
        w.put("runtimeclasses", runtime_class_json("wasmtime-spin-v2", "spin", None));
        w.put("nodes", node_json("n1", json!({}), true));
        w.put("wasmworkloads", workload_json(FallbackPolicy::Never, &["spin"]));
    })
    .await;
    h.nth_write("PATCH", STATUS, 1).await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1);

    // The runtime goes away: no fallback, no Deployment write, a condition and an Event.
    h.settle().await;
    h.world
        .lock()
        .unwrap()
        .remove("runtimeclasses", None, "wasmtime-spin-v2");
    let st = h.status_where("mode Pending", |st| st["mode"] == "Pending").await;
    let ready = condition(&st, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("NoUsableRuntime"))
    );
    assert!(ready["message"].as_str().unwrap().contains("not installed"));
    h.wait("the Pending event", |w| {
        w.writes().iter().filter(|r| r.path == EVENTS).count() >= 2
    })
    .await;
    assert_eq!(
        event_reasons(&h)[1],
        ("Warning".to_string(), "NoUsableRuntime".to_string())
    );
    assert_eq!(
        h.writes_to("PATCH", DEPLOYMENT).len(),
        1,
        "the Deployment is left as it was"
    );
    assert_eq!(h.fallbacks("NoUsableRuntime"), 0);
}

#[tokio::test]
async fn an_unknown_runtime_is_not_ready_with_an_event_and_no_deployment() {
    let h = Harness::start(|w| {
        w.put("nodes", node_json("n1", json!({}), true));
        w.put("wasmworkloads", workload_json(FallbackPolicy::OnFailure, &["spim"]));
    })
    .await;
    let st = h.nth_write("PATCH", STATUS, 1).await.body.unwrap()["status"].clone();
    let ready = condition(&st, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("UnknownRuntime"))
    );
    assert!(ready["message"].as_str().unwrap().contains("spim"));
    h.wait("the event", |w| w.writes().iter().any(|r| r.path == EVENTS))
        .await;
    assert_eq!(
        event_reasons(&h),
        vec![("Warning".to_string(), "UnknownRuntime".to_string())]
    );
    assert!(h.writes_to("PATCH", DEPLOYMENT).is_empty());

    // A RuntimeClass of that name appearing resolves it without any spec change.
    h.settle().await;
    h.world
        .lock()
        .unwrap()
        .put("runtimeclasses", runtime_class_json("spim", "spim", None));
    let d = h.nth_write("PATCH", DEPLOYMENT, 1).await;
    assert_eq!(d.body.unwrap()["spec"]["template"]["spec"]["runtimeClassName"], "spim");
}

#[tokio::test]
async fn scaling_the_workload_scales_the_deployment_and_disabling_the_service_deletes_it() {
    let h = Harness::start(spin_world).await;
    h.nth_write("PATCH", STATUS, 1).await;
    h.nth_write("PATCH", SERVICE, 1).await;
    h.settle().await;
    {
        // `kubectl scale` through the scale subresource: spec.replicas and the generation move.
        let mut w = h.world.lock().unwrap();
        let mut wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap().clone();
        wl["spec"]["replicas"] = json!(3);
        wl["spec"]["service"]["enabled"] = json!(false);
        wl["metadata"]["generation"] = json!(2);
        w.put("wasmworkloads", wl);
    }
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_eq!(d.body.unwrap()["spec"]["replicas"], 3);
    h.nth_write("DELETE", SERVICE, 1).await;
    let st = h.nth_write("PATCH", STATUS, 2).await.body.unwrap()["status"].clone();
    assert_eq!(st["observedGeneration"], 2);
    assert!(st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["observedGeneration"] == 2));
}

pub fn now_rfc3339(offset_secs: i64) -> String {
    let t = k8s_openapi::jiff::Timestamp::now().as_second() + offset_secs;
    crate::api::time::rfc3339(k8s_openapi::jiff::Timestamp::from_second(t).unwrap())
}

/// A pod of workload `hello` as the API server would list it, created `age_secs` ago.
pub fn pod_json(name: &str, mode: &str, runtime_class: Option<&str>, ready: bool, age_secs: i64) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "demo", "uid": format!("uid-{name}"),
            "creationTimestamp": now_rfc3339(-age_secs),
            "labels": {"app.kubernetes.io/managed-by": "wasm-operator", "wasm-operator.dev/workload": "hello", "wasm-operator.dev/mode": mode}
        },
        "spec": {"containers": [{"name": "app", "image": "x"}], "nodeName": "n1"},
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": now_rfc3339(0)}
            ],
            "containerStatuses": [{
                "name": "app", "ready": ready, "restartCount": 0, "imageID": "",
                "image": if mode == "wasm" { "registry.example/hello-wasm:1.0" } else { "registry.example/hello:1.0" },
                "state": if ready { json!({"running": {}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }
            }]
        }
    });
    if let Some(rc) = runtime_class {
        pod["spec"]["runtimeClassName"] = json!(rc);
    }
    pod
}

pub fn sandbox_event_json(pod: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pod}.1"), "namespace": "demo"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "demo"},
        "reason": "FailedCreatePodSandBox", "type": "Warning",
        "message": "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"spin\" is configured"
    })
}

#[tokio::test]
async fn on_failure_sandbox_failure_falls_back_stays_there_and_returns_when_runtimes_change() {
    let h = Harness::converged(spin_world).await;

    // The Wasm pod cannot get a sandbox: the node has no handler for the RuntimeClass.
    crate::tests::fixtures::fail_sandbox(&h.world, "hello-wasm-1");
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_apply(&d);
    let body = d.body.unwrap();
    assert_eq!(
        body["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/hello:1.0"
    );
    assert!(body["spec"]["template"]["spec"].get("runtimeClassName").is_none());
    let record: Value = serde_json::from_str(
        body["metadata"]["annotations"]["wasm-operator.dev/wasm-failure"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["reason"], "SandboxFailed");
    assert_eq!(record["runtimeClass"], "wasmtime-spin-v2");

    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    let reason = st["fallbackReason"].as_str().unwrap();
    assert!(reason.contains("no runtime for \"spin\" is configured"), "{reason}");
    assert_eq!(h.fallbacks("SandboxFailed"), 1);
    h.wait("the FellBack event", |w| {
        w.writes().iter().filter(|r| r.path == EVENTS).count() >= 2
    })
    .await;
    assert_eq!(event_reasons(&h)[1], ("Warning".to_string(), "FellBack".to_string()));

    // Sticky: the failed pod goes away, container pods come, the RuntimeClass is touched; no flap.
    h.settle().await;
    {
        let mut w = h.world.lock().unwrap();
        w.remove("pods", Some("demo"), "hello-wasm-1");
        w.put("pods", pod_json("hello-ctr-1", "container", None, true, 0));
        let rc = w.get("runtimeclasses", None, "wasmtime-spin-v2").unwrap().clone();
        w.put("runtimeclasses", rc);
    }
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2, "the fallback holds");

    // The usable runtimes change (a second node): Wasm gets another try.
    h.world.lock().unwrap().put("nodes", node_json("n2", json!({}), true));
    let d = h.nth_write("PATCH", DEPLOYMENT, 3).await;
    let body = d.body.unwrap();
    assert_eq!(body["spec"]["template"]["spec"]["runtimeClassName"], "wasmtime-spin-v2");
    assert!(body["metadata"]
        .get("annotations")
        .and_then(|a| a.get("wasm-operator.dev/wasm-failure"))
        .is_none());
}

#[tokio::test]
async fn on_failure_startup_timeout_falls_back_when_the_deadline_passes() {
    let h = Harness::start(|w| {
        spin_world(w);
        let mut wl = workload_json(FallbackPolicy::OnFailure, &["spin"]);
        wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(1);
        w.put("wasmworkloads", wl);
    })
    .await;
    h.nth_write("PATCH", DEPLOYMENT, 1).await;
    h.settle().await;
    // A Wasm pod that starts but never gets Ready: nothing else happens; only the requeue at the
    // startup deadline can find it (created a second ahead of our clock, so the reconcile its
    // own event triggers is always before the deadline).
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-1", "wasm", Some("wasmtime-spin-v2"), false, -1),
    );
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    let body = d.body.unwrap();
    assert_eq!(
        body["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/hello:1.0"
    );
    let st = h.status_where("mode Container", |st| st["mode"] == "Container").await;
    assert!(
        st["fallbackReason"].as_str().unwrap().contains("not Ready within 1 s"),
        "{st}"
    );
    assert_eq!(h.fallbacks("StartupTimeout"), 1);
}

#[tokio::test]
async fn cold_starts_are_timed_from_watch_events_into_status_and_metrics() {
    let h = Harness::converged(spin_world).await;
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-1", "wasm", Some("wasmtime-spin-v2"), false, 0),
    );
    tokio::time::sleep(Duration::from_millis(40)).await; // the pod's startup, as the scenario
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-1", "wasm", Some("wasmtime-spin-v2"), true, 0),
    );
    let st = h.status_where("a cold start", |st| st.get("coldStart").is_some()).await;
    let cs = &st["coldStart"];
    let last = cs["lastSeconds"].as_f64().unwrap();
    assert!(
        (0.035..0.5).contains(&last),
        "watch-timed cold start {last}: 40 ms plus the watch delay, not 0 or 1 s"
    );
    assert_eq!(cs["samples"], 1);
    assert_eq!(cs["p50Seconds"], cs["lastSeconds"]);
    let hist = h
        .metrics
        .cold_start
        .with_label_values(&["demo", "wasm", "wasmtime-spin-v2", "deployment", ""]);
    assert_eq!(hist.get_sample_count(), 1);
    assert!((hist.get_sample_sum() - last).abs() < 0.001);

    // A pod that was already Ready when listed after a restart is API-timed, and kept apart.
    let h2 = Harness::start(|w| {
        spin_world(w);
        w.put("pods", pod_json("hello-old", "wasm", Some("wasmtime-spin-v2"), true, 3));
    })
    .await;
    h2.nth_write("PATCH", STATUS, 1).await;
    assert_eq!(
        h2.metrics
            .cold_start
            .with_label_values(&["demo", "wasm", "wasmtime-spin-v2", "deployment", ""])
            .get_sample_count(),
        0
    );
    let api = h2
        .metrics
        .cold_start_api
        .with_label_values(&["demo", "wasm", "wasmtime-spin-v2"]);
    assert_eq!((api.get_sample_count(), api.get_sample_sum()), (1, 3.0));
}

#[tokio::test]
async fn a_restarted_operator_computes_percentiles_over_the_window_status_kept() {
    // A previous process timed four pods (0.7–1.6 s) and wrote them to status; this one starts
    // with that status and times one slow pod.
    let h = Harness::converged(|w| {
        spin_world(w);
        let mut wl = workload_json(FallbackPolicy::OnFailure, &["spin", "wasmtime"]);
        wl["status"] = json!({"coldStart": {"lastSeconds": 0.9, "p50Seconds": 0.9, "p95Seconds": 1.6,
            "samples": 4, "windowSamples": 4, "recentMillis": [700, 1200, 1600, 900]}});
        w.put("wasmworkloads", wl);
    })
    .await;
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-slow", "wasm", Some("wasmtime-spin-v2"), false, 0),
    );
    tokio::time::sleep(Duration::from_millis(1800)).await;
    h.world.lock().unwrap().put(
        "pods",
        pod_json("hello-wasm-slow", "wasm", Some("wasmtime-spin-v2"), true, 0),
    );
    let st = h
        .status_where("the fifth sample", |st| st["coldStart"]["samples"] == 5)
        .await;
    let cs = &st["coldStart"];
    assert_eq!(cs["windowSamples"], 5);
    assert_eq!(
        cs["p50Seconds"], 1.2,
        "the median of five, not the one this process saw"
    );
    assert!(cs["lastSeconds"].as_f64().unwrap() >= 1.8);
    assert_eq!(cs["recentMillis"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn usable_nodes_are_gauged_and_a_deleted_workload_loses_its_series() {
    let h = Harness::start(|w| {
        spin_world(w);
        w.put(
            "runtimeclasses",
            runtime_class_json("spin", "spin", Some(json!({"spin": "yes"}))),
        );
    })
    .await;
    h.nth_write("PATCH", STATUS, 1).await;
    h.settle().await;
    let nodes = |rc: &str| h.metrics.runtime_nodes.with_label_values(&[rc]).get();
    assert_eq!((nodes("wasmtime-spin-v2"), nodes("spin")), (1, 0));
    h.world
        .lock()
        .unwrap()
        .put("nodes", node_json("n2", json!({"spin": "yes"}), true));
    h.settle().await;
    assert_eq!((nodes("wasmtime-spin-v2"), nodes("spin")), (2, 1));
    h.world.lock().unwrap().remove("runtimeclasses", None, "spin");
    h.settle().await;
    assert!(
        !h.metrics.render().contains("runtime_class=\"spin\""),
        "a deleted RuntimeClass loses its series"
    );

    assert!(h.metrics.render().contains("workload=\"hello\""));
    h.world.lock().unwrap().remove("wasmworkloads", Some("demo"), "hello");
    h.settle().await;
    let text = h.metrics.render();
    assert!(
        !text.contains("workload=\"hello\""),
        "per-workload series are removed:\n{text}"
    );
}

/// Every request any scenario makes is covered by the RBAC list the chart is checked against.
fn assert_requests_are_permitted(h: &Harness) {
    assert_permitted(&h.world);
}

pub fn assert_permitted(world: &Mutex<World>) {
    let granted = crate::api::rbac::triples();
    let w = world.lock().unwrap();
    for r in w.requests() {
        let watch = r.query.get("watch").map(String::as_str) == Some("true");
        let triples = crate::api::rbac::request_triples(&r.method, &r.path, watch, r.content_type.as_deref())
            .unwrap_or_else(|| panic!("unmapped request {} {}", r.method, r.path));
        for triple in triples {
            assert!(
                granted.contains(&triple),
                "{} {} needs {triple:?}, which rbac::PERMISSIONS does not grant",
                r.method,
                r.path
            );
        }
    }
}

#[tokio::test]
async fn every_request_the_operator_makes_is_in_the_rbac_list() {
    let h = Harness::converged(spin_world).await;
    crate::tests::fixtures::fail_sandbox(&h.world, "hello-wasm-1");
    h.nth_write("PATCH", DEPLOYMENT, 2).await;
    h.settle().await;
    {
        let mut w = h.world.lock().unwrap();
        let mut wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap().clone();
        wl["spec"]["service"]["enabled"] = json!(false);
        wl["metadata"]["generation"] = json!(2);
        w.put("wasmworkloads", wl);
    }
    h.nth_write("DELETE", SERVICE, 1).await;
    h.settle().await;
    let methods: std::collections::BTreeSet<String> = h
        .world
        .lock()
        .unwrap()
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        ["DELETE", "GET", "PATCH", "POST"],
        "the scenario exercises every verb"
    );
    assert_requests_are_permitted(&h);
}

/// `kubectl set image deploy/hello app=evil:latest` as the API server records it: the image
/// changes and its field moves from the operator's apply entry to kubectl's.
fn set_image_by_hand(w: &mut World) {
    let mut d = w.get("deployments", Some("demo"), "hello").unwrap().clone();
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:latest");
    d["metadata"]["generation"] = json!(d["metadata"]["generation"].as_i64().unwrap() + 1);
    let containers =
        &mut d["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"];
    containers["k:{\"name\":\"app\"}"]
        .as_object_mut()
        .unwrap()
        .remove("f:image");
    w.put("deployments", d);
}

/// `kubectl patch service hello --type=json -p '[{"op":"replace","path":"/spec/ports/0/port","value":9999}]'`
/// as the API server records it: the entry keyed by port 80 leaves the operator's apply entry.
fn patch_service_port_by_hand(w: &mut World) {
    let mut s = w.get("services", Some("demo"), "hello").unwrap().clone();
    s["spec"]["ports"][0]["port"] = json!(9999);
    s["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
        .as_object_mut()
        .unwrap()
        .remove("f:ports");
    w.put("services", s);
}

#[tokio::test]
async fn a_hand_edit_of_the_deployment_is_put_right_with_an_event() {
    let h = Harness::converged(spin_world).await;
    set_image_by_hand(&mut h.world.lock().unwrap());
    let d = h.nth_write("PATCH", DEPLOYMENT, 2).await;
    assert_apply(&d);
    assert_eq!(
        d.body.unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/hello-wasm:1.0"
    );
    h.settle().await;
    assert!(event_reasons(&h).contains(&("Warning".into(), "PutBack".into())));
    // A status-only change of the Deployment (the fields we own stay ours) is no reason to write.
    {
        let mut w = h.world.lock().unwrap();
        let mut d = w.get("deployments", Some("demo"), "hello").unwrap().clone();
        d["status"] = json!({"observedGeneration": d["metadata"]["generation"], "replicas": 2, "readyReplicas": 1});
        w.put("deployments", d);
    }
    h.settle().await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 2);
}

#[tokio::test]
async fn a_hand_edited_service_port_is_put_back_through_the_422() {
    let h = Harness::converged(spin_world).await;
    let before = h.write_count();
    patch_service_port_by_hand(&mut h.world.lock().unwrap());
    // The apply is refused as the real server refuses it (the edited entry is someone else's and
    // keeps its name); a merge patch replaces the list, and the apply then holds.
    h.wait_for("the Service back on port 80, ours again", |w| {
        let s = w.get("services", Some("demo"), "hello").unwrap();
        s["spec"]["ports"].as_array().unwrap().len() == 1 && s["spec"]["ports"][0]["port"] == 80
    })
    .await;
    h.settle().await;
    let writes: Vec<(String, Option<String>)> = h.world_writes()[before..]
        .iter()
        .filter(|r| r.path == SERVICE)
        .map(|r| (r.method.clone(), r.content_type.clone()))
        .collect();
    let apply = ("PATCH".to_string(), Some("application/apply-patch+yaml".to_string()));
    let merge = ("PATCH".to_string(), Some("application/merge-patch+json".to_string()));
    assert_eq!(
        writes,
        [apply.clone(), merge, apply],
        "refused apply, merge patch, apply"
    );
    assert!(event_reasons(&h).contains(&("Warning".into(), "PutBack".into())));
    let failed = h
        .metrics
        .reconcile_duration
        .with_label_values(&["error"])
        .get_sample_count();
    assert_eq!(failed, 0, "no reconcile failed and nothing is retried");
}

#[tokio::test]
async fn a_child_edited_while_the_operator_was_down_is_put_back_after_a_restart() {
    let h = Harness::converged(spin_world).await;
    let world = {
        let mut w = h.world.lock().unwrap();
        h.task.abort();
        set_image_by_hand(&mut w);
        patch_service_port_by_hand(&mut w);
        w.restarted()
    };
    drop(h);
    let h2 = Harness::start(|w| *w = world).await;
    let d = h2.nth_write("PATCH", DEPLOYMENT, 1).await;
    assert_eq!(
        d.body.unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/hello-wasm:1.0"
    );
    h2.wait_for("the Service back on port 80", |w| {
        w.get("services", Some("demo"), "hello").unwrap()["spec"]["ports"][0]["port"] == 80
    })
    .await;
    h2.settle().await;
    // Then all is ours: a further node change writes no child.
    let children = |h: &Harness| h.writes_to("PATCH", DEPLOYMENT).len() + h.writes_to("PATCH", SERVICE).len();
    let n = children(&h2);
    h2.poke_nodes("n1").await;
    assert_eq!(children(&h2), n);
}

#[tokio::test]
async fn a_child_the_server_refuses_makes_ready_false_without_retrying() {
    let h = Harness::start(spin_world).await;
    h.world.lock().unwrap().fail_with(
        "PATCH",
        DEPLOYMENT,
        usize::MAX,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Deployment.apps \"hello\" is invalid: spec.template.spec.containers[0].env[0].name: Invalid value: \"1x\": a valid environment variable name must consist of alphabetic characters",
               "reason": "Invalid", "code": 422}),
    );
    let st = h
        .status_where("Ready=False ChildRejected", |st| {
            st["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["reason"] == "ChildRejected")
        })
        .await;
    assert!(condition(&st, "Ready")["message"]
        .as_str()
        .unwrap()
        .contains("a valid environment variable name"));
    h.settle().await;
    let attempts = h.writes_to("PATCH", DEPLOYMENT).len();
    // Each reconcile (start-up may run two) tries one apply and one merge patch, then waits.
    assert!(attempts % 2 == 0 && attempts <= 4, "{attempts} writes");
    let failed = h
        .metrics
        .reconcile_duration
        .with_label_values(&["error"])
        .get_sample_count();
    assert_eq!(failed, 0, "not an error to retry with backoff");
    assert!(event_reasons(&h).contains(&("Warning".into(), "ChildRejected".into())));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), attempts, "no retry loop");
}

/// The design choices the scale figures depend on (BENCHMARKS.md): every watch of an object kind
/// the operator owns is label-selected, the only other namespaced watch is field-selected, and
/// Services are watched as metadata only.
#[tokio::test]
async fn watches_are_selected_and_services_metadata_only() {
    let h = Harness::converged(spin_world).await;
    let w = h.world.lock().unwrap();
    let gets: Vec<&Recorded> = w.requests().iter().filter(|r| r.method == "GET").collect();
    for kind in [
        "/apis/apps/v1/deployments",
        "/api/v1/services",
        "/api/v1/pods",
        "/apis/metrics.k8s.io/v1beta1/pods",
    ] {
        let reqs: Vec<_> = gets.iter().filter(|r| r.path == kind).collect();
        assert!(!reqs.is_empty(), "{kind} is watched");
        for r in reqs {
            assert_eq!(
                r.query.get("labelSelector").map(String::as_str),
                Some("app.kubernetes.io/managed-by=wasm-operator"),
                "{r:?}"
            );
        }
    }
    for r in gets.iter().filter(|r| r.path == "/api/v1/events") {
        assert_eq!(
            r.query.get("fieldSelector").map(String::as_str),
            Some("reason=FailedCreatePodSandBox"),
            "{r:?}"
        );
    }
    for r in gets.iter().filter(|r| r.path == "/api/v1/services") {
        assert!(
            r.accept.as_deref().unwrap_or("").contains("as=PartialObjectMetadata"),
            "Services are watched as metadata: {r:?}"
        );
    }
    let cluster_wide_namespaced: Vec<_> = gets
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/") || r.path.starts_with("/apis/"))
        .filter(|r| !r.path.contains("/namespaces/"))
        .filter(|r| {
            ![
                "/api/v1/nodes",
                "/apis/node.k8s.io/v1/runtimeclasses",
                "/apis/wasm-operator.dev/v1alpha1/wasmworkloads",
            ]
            .contains(&r.path.as_str())
        })
        .filter(|r| !r.query.contains_key("labelSelector") && !r.query.contains_key("fieldSelector"))
        .collect();
    assert!(
        cluster_wide_namespaced.is_empty(),
        "unselected watches: {cluster_wide_namespaced:?}"
    );
}

/// A pod of the workload whose image cannot be pulled.
fn unpullable_pod(name: &str, mode: &str, runtime_class: Option<&str>) -> Value {
    let mut p = pod_json(name, mode, runtime_class, false, 1);
    p["status"]["containerStatuses"][0]["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.example/hello-wasm:1.0\""}});
    p
}

pub fn ready_condition_reason(h: &Harness) -> String {
    let w = h.world.lock().unwrap();
    let wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap();
    condition(&wl["status"], "Ready")["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_failing_wasm_rollout_is_named_in_ready_under_every_policy() {
    for policy in [
        FallbackPolicy::Never,
        FallbackPolicy::WhenUnavailable,
        FallbackPolicy::OnFailure,
    ] {
        let h = Harness::converged(|w| {
            spin_world(w);
            w.put("wasmworkloads", workload_json(policy, &["spin"]));
        })
        .await;
        h.world
            .lock()
            .unwrap()
            .put("pods", unpullable_pod("hello-wasm-1", "wasm", Some("wasmtime-spin-v2")));
        let on_failure = policy == FallbackPolicy::OnFailure;
        h.wait_for(&format!("{policy:?}: the pull failure in status"), |w| {
            let st = &w.get("wasmworkloads", Some("demo"), "hello").unwrap()["status"];
            let ready_says = st["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["reason"] == "ImagePullFailed");
            let fell_back = st["mode"] == "Container"
                && st["fallbackReason"]
                    .as_str()
                    .is_some_and(|r| r.contains("ImagePullFailed"));
            if on_failure {
                fell_back
            } else {
                ready_says
            }
        })
        .await;
        h.settle().await;
        let template = |h: &Harness| {
            let w = h.world.lock().unwrap();
            w.get("deployments", Some("demo"), "hello").unwrap()["spec"]["template"]["spec"]["runtimeClassName"].clone()
        };
        if on_failure {
            assert_eq!(template(&h), Value::Null, "OnFailure switches to the container image");
            assert!(event_reasons(&h).contains(&("Warning".into(), "FellBack".into())));
        } else {
            assert_eq!(template(&h), "wasmtime-spin-v2", "{policy:?} keeps the Wasm image");
            assert_eq!(ready_condition_reason(&h), "ImagePullFailed");
            assert!(
                event_reasons(&h).contains(&("Warning".into(), "ImagePullFailed".into())),
                "{policy:?}: {:?}",
                event_reasons(&h)
            );
        }
    }
}

#[tokio::test]
async fn a_crash_looping_fallback_image_is_named_in_ready() {
    let h = Harness::converged(container_world).await;
    let mut p = pod_json("hello-container-1", "container", None, false, 1);
    p["status"]["containerStatuses"][0]["state"] =
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}});
    h.world.lock().unwrap().put("pods", p);
    h.wait_for("Ready naming the crash loop", |w| {
        let st = &w.get("wasmworkloads", Some("demo"), "hello").unwrap()["status"];
        st["mode"] == "Container"
            && st["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["reason"] == "CrashLoopBackOff")
    })
    .await;
}
