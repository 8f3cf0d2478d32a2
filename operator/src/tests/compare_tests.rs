//! `compare` against the scripted API: the pods it starts (labels, owner, deadline, node), that
//! it removes every one of them on success, on failure and on cancellation, and what it counts.

use crate::api::crd::FallbackPolicy;
use crate::compare::pods::{COMPARE_MODE_KEY, RUN_KEY};
use crate::compare::run::{compare, CompareError, Settings};
use crate::decide::runtimes::RuntimeConfig;
use crate::tests::controller_tests::{node_json, runtime_class_json, workload_json};
use crate::tests::mock_api::{self, World};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PODS: &str = "/api/v1/namespaces/demo/pods";

pub fn settings(pods: usize) -> Settings {
    Settings {
        pods,
        concurrency: 1,
        node: None,
        ready_timeout: Duration::from_secs(5),
        memory_wait: Duration::ZERO,
        http_path: None,
    }
}

pub fn world() -> World {
    let mut w = World::default();
    w.put("runtimeclasses", runtime_class_json("wasmtime-spin-v2", "spin", None));
    w.put("nodes", node_json("n1", json!({}), true));
    w.put("wasmworkloads", workload_json(FallbackPolicy::OnFailure, &["spin"]));
    w
}

/// Play the kubelet: every comparison pod becomes Ready, or (`pull_fails` for that mode) waits
/// on an image pull that fails.
pub fn kubelet(world: Arc<Mutex<World>>, pull_fails: Option<&'static str>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut done: Vec<String> = vec![];
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut w = world.lock().unwrap();
            let created: Vec<Value> = w
                .requests()
                .iter()
                .filter(|r| r.method == "POST" && r.path == PODS)
                .filter_map(|r| r.body.clone())
                .collect();
            for mut pod in created {
                let name = pod["metadata"]["name"].as_str().unwrap().to_string();
                if done.contains(&name) || w.get("pods", Some("demo"), &name).is_none() {
                    continue;
                }
                done.push(name.clone());
                let mode = pod["metadata"]["labels"][COMPARE_MODE_KEY]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let ready = pull_fails != Some(mode.as_str());
                if ready {
                    // metrics-server's view of it: a Wasm pod is the smaller.
                    let memory = if mode == "wasm" { "2Mi" } else { "8Mi" };
                    w.put(
                        "podmetrics",
                        json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                               "metadata": {"name": name, "namespace": "demo", "labels": pod["metadata"]["labels"]},
                               "containers": [{"name": "app", "usage": {"cpu": "0", "memory": memory}}]}),
                    );
                }
                pod["status"] = if !ready {
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                           "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                                                  "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]})
                } else {
                    json!({"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "", "imageID": "",
                                                  "state": {"running": {}}}]})
                };
                w.put("pods", pod);
            }
        }
    })
}

fn requests(world: &Mutex<World>, method: &str) -> Vec<crate::tests::mock_api::Recorded> {
    world
        .lock()
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(PODS))
        .cloned()
        .collect()
}

/// `compare hello -n demo` with these settings, never cancelled.
pub async fn compare_hello(
    client: &kube::Client,
    settings: &Settings,
    progress: &mut (dyn FnMut(crate::compare::progress::Progress) + Send),
) -> Result<crate::compare::run::Comparison, CompareError> {
    compare(
        client,
        "demo",
        "hello",
        &RuntimeConfig::default(),
        settings,
        futures::future::pending(),
        progress,
    )
    .await
}

#[tokio::test]
async fn pods_alternate_are_owned_pinned_and_all_removed() {
    let (client, world) = mock_api::client(world());
    let kubelet = kubelet(world.clone(), None);
    let c = compare_hello(&client, &settings(3), &mut |_| {}).await.unwrap();
    kubelet.abort();
    let posts = requests(&world, "POST");
    let modes: Vec<&str> = posts
        .iter()
        .map(|r| {
            r.body.as_ref().unwrap()["metadata"]["labels"][COMPARE_MODE_KEY]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(modes, ["wasm", "container", "wasm", "container", "wasm", "container"]);
    for r in &posts {
        let pod = r.body.as_ref().unwrap();
        assert!(pod["metadata"]["labels"][RUN_KEY].is_string());
        assert!(pod["metadata"]["labels"].get("wasm-operator.dev/workload").is_none());
        assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], "hello");
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert!(pod["spec"]["activeDeadlineSeconds"].as_i64().unwrap() > 5);
    }
    let deleted: Vec<String> = requests(&world, "DELETE").iter().map(|r| r.path.clone()).collect();
    for r in &posts {
        let name = r.body.as_ref().unwrap()["metadata"]["name"].as_str().unwrap();
        assert!(deleted.contains(&format!("{PODS}/{name}")), "{name} not removed");
    }
    assert!(world.lock().unwrap().get("pods", Some("demo"), "x").is_none());
    // The node reports both images: every start is a warm one, 3 per mode.
    assert_eq!(c.wasm.warm.unwrap().samples, 3);
    assert_eq!(c.container.warm.unwrap().samples, 3);
    assert!(c.wasm.first.is_none());
    assert_eq!(
        (c.wasm_image_bytes, c.container_image_bytes),
        (Some(21_000), Some(1_000_000))
    );
    // The result lands in the workload's status, under compare's own field manager.
    let w = world.lock().unwrap();
    let status = w
        .requests()
        .iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/wasmworkloads/hello/status"))
        .expect("a status write")
        .clone();
    assert_eq!(
        status.query.get("fieldManager").map(String::as_str),
        Some("wasm-operator-compare")
    );
    let cmp = &status.body.unwrap()["status"]["comparison"];
    assert_eq!(
        (cmp["node"].as_str(), cmp["wasm"]["samples"].as_i64()),
        (Some("n1"), Some(3))
    );
    assert_eq!(cmp["container"]["imageSizeBytes"], 1_000_000);
}

#[tokio::test]
async fn a_pod_that_fails_is_counted_with_its_reason_and_removed() {
    let (client, world) = mock_api::client(world());
    let kubelet = kubelet(world.clone(), Some("container"));
    let c = compare_hello(&client, &settings(2), &mut |_| {}).await.unwrap();
    kubelet.abort();
    assert_eq!(c.wasm.warm.unwrap().samples, 2);
    assert!(c.container.warm.is_none(), "a failure is not a time");
    assert_eq!(c.container.failures.len(), 2);
    assert!(c.container.failures[0].starts_with("ImagePullFailed: not found"));
    let table = crate::compare::table::render(&c, false);
    assert!(
        table.contains("container 2 pods failed: ImagePullFailed: not found"),
        "one line for pods failing alike:\n{table}"
    );
    assert_eq!(requests(&world, "DELETE").len(), 4);
}

#[tokio::test]
async fn cancelling_removes_what_was_started() {
    let (client, world) = mock_api::client(world());
    // No kubelet: the first pod never becomes Ready; the user presses Ctrl-C.
    let cancel = tokio::time::sleep(Duration::from_millis(300));
    let err = compare(
        &client,
        "demo",
        "hello",
        &RuntimeConfig::default(),
        &settings(3),
        cancel,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CompareError::Cancelled), "{err}");
    let posts = requests(&world, "POST");
    assert_eq!(posts.len(), 1, "one pod at a time");
    let name = posts[0].body.as_ref().unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        world.lock().unwrap().get("pods", Some("demo"), &name).is_none(),
        "removed"
    );
}

#[tokio::test]
async fn missing_permissions_are_refused_up_front_in_one_sentence() {
    let mut w = world();
    w.denied.push(("".into(), "pods".into(), "create".into()));
    let (client, world) = mock_api::client(w);
    let err = compare_hello(&client, &settings(1), &mut |_| {}).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "wasm-operator compare needs permission to create pods in namespace demo"
    );
    assert!(requests(&world, "POST").is_empty(), "nothing started");
}

#[tokio::test]
async fn memory_comes_from_one_ready_pod_of_each_mode_after_the_timings() {
    let (client, world) = mock_api::client(world());
    let kubelet = kubelet(world.clone(), None);
    let mut seen = vec![];
    let c = compare_hello(
        &client,
        &Settings {
            memory_wait: Duration::from_secs(30),
            ..settings(2)
        },
        &mut |p| seen.push(p),
    )
    .await
    .unwrap();
    kubelet.abort();
    assert_eq!(
        (c.wasm_memory_bytes, c.container_memory_bytes),
        (Some(2 << 20), Some(8 << 20))
    );
    assert!(c.memory_note.is_none());
    assert_eq!(c.wasm.warm.unwrap().samples, 2, "the memory pods are not timed samples");
    let posts = requests(&world, "POST");
    assert_eq!(posts.len(), 6, "4 timed pods, then one of each mode");
    let memory_pods = &posts[4..];
    for r in memory_pods {
        let pod = r.body.as_ref().unwrap();
        assert!(
            pod["spec"]["activeDeadlineSeconds"].as_i64().unwrap() > 30,
            "they outlive the wait for metrics"
        );
    }
    let deleted = requests(&world, "DELETE");
    assert_eq!(deleted.len(), 6, "every pod removed");
    // The progress counts the timed pods: 0/4 … 4/4.
    let done: Vec<usize> = seen.iter().map(|p| p.done).collect();
    assert_eq!(done, [0, 1, 2, 3, 4]);
    assert!(seen.iter().all(|p| p.total == 4 && p.failed == 0));
    let status = world
        .lock()
        .unwrap()
        .requests()
        .iter()
        .rev()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/status"))
        .and_then(|r| r.body.clone())
        .unwrap();
    let cmp = &status["status"]["comparison"];
    assert_eq!(cmp["wasm"]["memoryWorkingSetBytes"], 2 << 20);
    assert_eq!(cmp["container"]["memoryWorkingSetBytes"], 8 << 20);
    assert_eq!(cmp["wasm"]["coldStartsSeconds"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn without_metrics_k8s_io_memory_is_absent_with_the_reason_and_no_pod_waits_for_it() {
    let mut w = world();
    w.fail("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/demo/pods", 404, 10, 0);
    let (client, world) = mock_api::client(w);
    let kubelet = kubelet(world.clone(), None);
    let c = compare_hello(
        &client,
        &Settings {
            memory_wait: Duration::from_secs(30),
            ..settings(1)
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    kubelet.abort();
    assert_eq!((c.wasm_memory_bytes, c.container_memory_bytes), (None, None));
    assert!(
        c.memory_note
            .as_deref()
            .is_some_and(|n| n.starts_with("metrics.k8s.io is not served here (404)")),
        "{:?}",
        c.memory_note
    );
    assert_eq!(requests(&world, "POST").len(), 2, "no memory pods");
    let table = crate::compare::table::render(&c, false);
    assert!(table.contains("memory: metrics.k8s.io is not served here"), "{table}");
    let markdown = crate::compare::table::render(&c, true);
    assert!(
        markdown.contains("|\n\nmemory: "),
        "a blank line ends the Markdown table before the note:\n{markdown}"
    );
}
