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

fn settings(pods: usize) -> Settings {
    Settings {
        pods,
        concurrency: 1,
        node: None,
        ready_timeout: Duration::from_secs(5),
    }
}

fn world() -> World {
    let mut w = World::default();
    w.put("runtimeclasses", runtime_class_json("wasmtime-spin-v2", "spin", None));
    w.put("nodes", node_json("n1", json!({}), true));
    w.put("wasmworkloads", workload_json(FallbackPolicy::OnFailure, &["spin"]));
    w
}

/// Play the kubelet: every comparison pod becomes Ready, or (`pull_fails` for that mode) waits
/// on an image pull that fails.
fn kubelet(world: Arc<Mutex<World>>, pull_fails: Option<&'static str>) -> tokio::task::JoinHandle<()> {
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
                done.push(name);
                let mode = pod["metadata"]["labels"][COMPARE_MODE_KEY]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                pod["status"] = if pull_fails == Some(mode.as_str()) {
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

#[tokio::test]
async fn pods_alternate_are_owned_pinned_and_all_removed() {
    let (client, world) = mock_api::client(world());
    let kubelet = kubelet(world.clone(), None);
    let c = compare(
        &client,
        "demo",
        "hello",
        &RuntimeConfig::default(),
        &settings(3),
        futures::future::pending(),
    )
    .await
    .unwrap();
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
    let c = compare(
        &client,
        "demo",
        "hello",
        &RuntimeConfig::default(),
        &settings(2),
        futures::future::pending(),
    )
    .await
    .unwrap();
    kubelet.abort();
    assert_eq!(c.wasm.warm.unwrap().samples, 2);
    assert!(c.container.warm.is_none(), "a failure is not a time");
    assert_eq!(c.container.failures.len(), 2);
    assert!(c.container.failures[0].starts_with("ImagePullFailed: not found"));
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
    let err = compare(
        &client,
        "demo",
        "hello",
        &RuntimeConfig::default(),
        &settings(1),
        futures::future::pending(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "wasm-operator compare needs permission to create pods in namespace demo"
    );
    assert!(requests(&world, "POST").is_empty(), "nothing started");
}
