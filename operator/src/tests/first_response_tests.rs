//! `compare --http PATH` against the scripted API: each pod's app is asked for PATH through the
//! API server's pod proxy until its first 2xx; a 503 (nothing listens yet) and a 404 are not
//! answers; a pod that gives none in time fails with the last answer; the permission it needs
//! is checked up front.

use crate::compare::run::CompareError;
use crate::tests::compare_tests::{compare_hello, kubelet, settings, world};
use crate::tests::mock_api::{self, PodProxy};
use std::sync::Arc;
use std::time::Duration;

fn with_http(path: &str) -> crate::compare::run::Settings {
    let mut s = settings(2);
    s.http_path = Some(path.into());
    s
}

fn proxied(world: &std::sync::Mutex<mock_api::World>) -> Vec<String> {
    world
        .lock()
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.path.contains("/proxy/"))
        .map(|r| r.path.clone())
        .collect()
}

#[tokio::test]
async fn each_pod_is_timed_to_its_first_2xx_through_the_pod_proxy() {
    let mut w = world();
    // Nothing listens for the first three asks (the proxy's 503), then the app answers.
    let app: PodProxy = Arc::new(|_pod, _path, nth| if nth < 3 { 503 } else { 200 });
    w.pod_proxy = Some(app);
    let (client, world) = mock_api::client(w);
    let kubelet = kubelet(world.clone(), None);
    let c = compare_hello(&client, &with_http("/healthz"), &mut |_| {})
        .await
        .unwrap();
    kubelet.abort();
    assert_eq!(c.http.as_deref(), Some("GET /healthz on port 8080"));
    for (mode, m) in [("wasm", &c.wasm), ("container", &c.container)] {
        let first = m.first_response.unwrap_or_else(|| panic!("{mode}: no first response"));
        assert_eq!(
            first.samples,
            m.warm.map_or(0, |s| s.samples),
            "{mode}: one per Ready pod"
        );
        // Four asks, 10–20 ms apart: at least three pauses.
        assert!(first.min >= 0.03, "{mode}: {first:?}");
        assert!(m.ready_lag.is_some(), "{mode}");
        assert!(m.failures.is_empty(), "{mode}: {:?}", m.failures);
    }
    let paths = proxied(&world);
    assert!(!paths.is_empty());
    for p in &paths {
        assert!(
            p.starts_with("/api/v1/namespaces/demo/pods/hello-cmp-") && p.ends_with(":8080/proxy/healthz"),
            "{p}"
        );
    }
    // Every pod was asked until it answered, and then no more.
    let pods: std::collections::BTreeSet<&str> = paths.iter().map(|p| p.split('/').nth(6).unwrap()).collect();
    assert_eq!(paths.len(), pods.len() * 4, "{paths:#?}");
    let status = world
        .lock()
        .unwrap()
        .get("wasmworkloads", Some("demo"), "hello")
        .unwrap()["status"]["comparison"]
        .clone();
    assert_eq!(status["http"], "GET /healthz on port 8080");
    assert!(status["wasm"]["firstResponseP50Seconds"].as_f64().unwrap() >= 0.03);
    assert_eq!(
        status["container"]["firstResponsesSeconds"].as_array().unwrap().len(),
        2
    );
    let table = crate::compare::table::render(&c, true);
    for row in [
        "| first response p50 |",
        "| first response p95 |",
        "| Ready after the first response p50 (probe lag) |",
    ] {
        assert!(table.contains(row), "{row} in {table}");
    }
    assert!(table.contains("first response: GET /healthz on port 8080"), "{table}");
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["wasm"]["firstResponse"]["p50"].as_f64().unwrap() >= 0.03);
}

#[tokio::test]
async fn an_app_that_never_answers_2xx_fails_its_pods_with_the_last_answer() {
    let mut w = world();
    let app: PodProxy = Arc::new(|_pod, _path, _nth| 404);
    w.pod_proxy = Some(app);
    let (client, world) = mock_api::client(w);
    let kubelet = kubelet(world.clone(), None);
    let mut s = with_http("/nope");
    s.pods = 1;
    s.ready_timeout = Duration::from_secs(1);
    let c = compare_hello(&client, &s, &mut |_| {}).await.unwrap();
    kubelet.abort();
    for m in [&c.wasm, &c.container] {
        assert_eq!(m.warm, None, "a Ready pod that never answered is no start");
        assert_eq!(m.failures.len(), 1);
        let why = &m.failures[0];
        assert!(why.starts_with("no 2xx answer to GET /nope within 1 s"), "{why}");
        assert!(why.contains("404") && why.contains("is PATH right?"), "{why}");
    }
    let asked = proxied(&world).len();
    assert!(
        (20..=250).contains(&asked),
        "polled every 10–20 ms for about a second each: {asked}"
    );
}

#[tokio::test]
async fn without_permission_to_use_the_pod_proxy_it_is_refused_up_front() {
    let mut w = world();
    w.denied.push(("".into(), "pods/proxy".into(), "get".into()));
    let (client, world) = mock_api::client(w);
    let err = compare_hello(&client, &with_http("/"), &mut |_| {}).await.unwrap_err();
    match err {
        CompareError::Refused(why) => assert!(why.contains("get pods/proxy"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(proxied(&world).is_empty());
    assert!(!world
        .lock()
        .unwrap()
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path.ends_with("/pods")));
    // Without --http the same rights suffice.
    let mut w = world_without_proxy_right();
    w.pod_proxy = None;
    let (client, world) = mock_api::client(w);
    let kubelet = kubelet(world.clone(), None);
    assert!(compare_hello(&client, &settings(1), &mut |_| {}).await.is_ok());
    kubelet.abort();
}

fn world_without_proxy_right() -> mock_api::World {
    let mut w = world();
    w.denied.push(("".into(), "pods/proxy".into(), "get".into()));
    w
}
