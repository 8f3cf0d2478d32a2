//! End-to-end: a real HTTP app (`apps/http-hello`: a wasi:http component and its container
//! twin) answers through its Service in both modes, and `compare --http /` times each pod to
//! its first answer as the suite's own poll of the same pods does.

use e2e::{
    compare_http_three_each, http_images, kubectl, mode_is, proxy_get as get, removable_wasm_runtime,
    service_answers_from, wait_for, Scenario, REMOVABLE_RUNTIME_CLASS, TIMEOUT,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasm_operator::api::crd::{Mode, WasmWorkload};

/// `apps/http-hello` as a workload: the component as Wasm, the twin as the fallback, a Service,
/// and an HTTP readiness probe every second.
fn http_workload(runtime: &str) -> Value {
    let (wasm, container) = http_images();
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 1,
            "wasm": {"image": wasm, "runtimes": [runtime]},
            "fallback": {"image": container, "policy": "WhenUnavailable"},
            "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"enabled": true, "port": 80},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}
        }
    })
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn the_http_app_answers_through_its_service_in_both_modes() {
    let mut s = Scenario::new("http-service").await;
    let runtime = removable_wasm_runtime(&mut s);
    s.apply(&http_workload(runtime)).unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", mode_is(Mode::Wasm)).await;
    service_answers_from(&s, "app", "wasm").await;
    // The status says which probe period bounds its cold start.
    let w = wait_for(&s.workloads(), "app", "a cold start", |w: Option<&WasmWorkload>| {
        w.and_then(|w| w.status.as_ref())
            .is_some_and(|st| st.cold_start.is_some())
    })
    .await;
    assert_eq!(w.status.unwrap().cold_start.unwrap().probe_period_seconds, Some(1));

    kubectl(&["delete", "runtimeclass", REMOVABLE_RUNTIME_CLASS]).unwrap();
    wait_for(&s.workloads(), "app", "Container mode", mode_is(Mode::Container)).await;
    service_answers_from(&s, "app", "container").await;
}

/// The suite's own stopwatch: for every pod of a comparison run, from the watch's first sight
/// of it to its app's first 2xx through the pod proxy, polled every 10 ms.
fn watch_first_responses(client: kube::Client, ns: String) -> Arc<Mutex<HashMap<String, f64>>> {
    use wasm_operator::compare::pods::RUN_KEY;
    let found = Arc::new(Mutex::new(HashMap::new()));
    let out = found.clone();
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let mut seen = std::collections::HashSet::new();
        let mut stream = watcher::watcher(pods, watcher::Config::default().labels(RUN_KEY))
            .applied_objects()
            .boxed();
        while let Some(Ok(pod)) = stream.next().await {
            let name = pod.name_any();
            if !seen.insert(name.clone()) {
                continue;
            }
            let (client, ns, out) = (client.clone(), ns.clone(), out.clone());
            let first_seen = Instant::now();
            tokio::spawn(async move {
                let path = format!("/api/v1/namespaces/{ns}/pods/{name}:8080/proxy/");
                while first_seen.elapsed() < TIMEOUT {
                    if let Ok((200, ..)) = get(&client, &path).await {
                        out.lock().unwrap().insert(name, first_seen.elapsed().as_secs_f64());
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
    });
    found
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn compare_http_first_responses_agree_with_the_suite_s_own_poll() {
    let mut s = Scenario::new("http-compare").await;
    let runtime = removable_wasm_runtime(&mut s);
    s.apply(&http_workload(runtime)).unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", mode_is(Mode::Wasm)).await;
    let suite = watch_first_responses(s.client.clone(), s.ns.clone());
    let c = compare_http_three_each(&s, runtime, REMOVABLE_RUNTIME_CLASS).await;
    assert_eq!(c.http.as_deref(), Some("GET / on port 8080"));
    let ours = suite.lock().unwrap().clone();
    for (mode, m) in [("wasm", &c.wasm), ("container", &c.container)] {
        assert!(m.failures.is_empty(), "{mode}: {:?}", m.failures);
        assert_eq!(m.first_response_seconds.len(), 3, "{mode}: every pod answered");
        // The suite's figures for this mode's pods, in the order they were started.
        let mut theirs: Vec<(String, f64)> = ours
            .iter()
            .filter(|(name, _)| name.ends_with(&format!("-{mode}")))
            .map(|(n, t)| (n.clone(), *t))
            .collect();
        theirs.sort_by_key(|(n, _)| {
            n.rsplit('-')
                .nth(1)
                .and_then(|i| i.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        assert_eq!(theirs.len(), 3, "{mode}: the suite timed every pod: {ours:?}");
        for ((name, suite_s), compare_s) in theirs.iter().zip(&m.first_response_seconds) {
            let gap = (suite_s - compare_s).abs();
            println!("{name}: compare {compare_s:.3} s, suite {suite_s:.3} s");
            assert!(
                gap <= 0.05,
                "{name}: compare {compare_s:.3} s against the suite's {suite_s:.3} s"
            );
        }
        assert!(m.ready_lag.is_some(), "{mode}");
    }
    let cmp = s
        .workloads()
        .get("app")
        .await
        .unwrap()
        .status
        .unwrap()
        .comparison
        .unwrap();
    assert_eq!(cmp.http.as_deref(), Some("GET / on port 8080"));
    assert_eq!(cmp.wasm.first_responses_seconds.len(), 3);
}
