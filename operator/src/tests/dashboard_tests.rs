//! The Grafana dashboards against a real Prometheus that scraped a running operator: every
//! panel's query and every template variable's query (variables substituted as Grafana's "All"
//! does) returns at least one series, and no query names a metric the operator does not export.

use crate::api::crd::FallbackPolicy;
use crate::tests::controller_tests::{node_json, pod_json, runtime_class_json, workload_json, Harness};
use crate::tests::metrics_tests::{serve_metrics, Prometheus};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn dashboards() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/wasm-operator/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 2, "the Wasm vs container and the operator dashboards");
    out
}

/// Substitute template variables the way Grafana does for "All" with allValue `.*`.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$namespace", ".*")
        .replace("$workload", ".*")
        .replace("$runtime_class", ".*")
}

/// `label_values(metric{selector}, label)` asks for the series of `metric{selector}`.
fn variable_query(q: &str) -> Option<String> {
    let inner = q.strip_prefix("label_values(")?.strip_suffix(')')?;
    let (series, _label) = inner.rsplit_once(',')?;
    Some(series.trim().to_string())
}

/// (where, query) of every panel target and template variable.
fn queries(name: &str, d: &Value) -> Vec<(String, String)> {
    let mut out = vec![];
    for panel in d["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{name}: panel {} has no query", panel["title"]);
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{name}: panel {} must use the datasource variable",
            panel["title"]
        );
        for t in targets {
            out.push((
                format!("{name}: {}", panel["title"]),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for var in d["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let q = var["query"]["query"].as_str().unwrap();
            out.push((
                format!("{name}: variable {}", var["name"]),
                variable_query(q).unwrap_or_else(|| panic!("{q}")),
            ));
        }
    }
    out
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if expr[i..].starts_with("wasm_") && (i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_')) {
            let end = (i..bytes.len())
                .find(|&j| !(bytes[j].is_alphanumeric() || bytes[j] == '_'))
                .unwrap_or(bytes.len());
            names.insert(expr[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_queries() {
    let n = metric_names(
        r#"histogram_quantile(0.5, sum by (le) (rate(wasm_workload_cold_start_seconds_bucket{a="wasm_x"}[1m])))"#,
    );
    assert!(n.contains("wasm_workload_cold_start_seconds_bucket"));
    assert_eq!(
        variable_query("label_values(up{job=\"x\"}, instance)").as_deref(),
        Some("up{job=\"x\"}")
    );
}

/// The names a scrape of the operator shows (histograms with their _bucket/_sum/_count series).
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_dashboard_query_returns_data_from_a_scraped_operator() {
    let h = Harness::start(|w| {
        w.put("runtimeclasses", runtime_class_json("wasmtime-spin-v2", "spin", None));
        w.put("nodes", node_json("n1", json!({}), true));
        w.put("wasmworkloads", workload_json(FallbackPolicy::OnFailure, &["spin"]));
        // A second workload with no usable runtime: a fallback.
        let mut edge = workload_json(FallbackPolicy::WhenUnavailable, &["wasmedge"]);
        edge["metadata"]["name"] = json!("edge");
        edge["metadata"]["uid"] = json!("uid-edge");
        w.put("wasmworkloads", edge);
        // A pod already Ready when the operator starts: an API-timed cold start.
        w.put("pods", pod_json("hello-old", "wasm", Some("wasmtime-spin-v2"), true, 2));
        for (name, mode, mem) in [("hello-old", "wasm", "6Mi"), ("hello-container-0", "container", "256Ki")] {
            w.put(
                "podmetrics",
                json!({
                    "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                    "metadata": {"name": name, "namespace": "demo", "labels": {"wasm-operator.dev/workload": "hello", "wasm-operator.dev/mode": mode}},
                    "containers": [{"name": "app", "usage": {"cpu": "0", "memory": mem}}]
                }),
            );
        }
    })
    .await;
    h.settle().await;
    let target = serve_metrics(&h).await;
    let prom = Prometheus::start(target).await;
    prom.wait_for_series("wasm_operator_runtime_nodes").await;

    // Cold starts while Prometheus watches, in two rounds: a series first seen at 1 shows no
    // increase, so the second round is what moves rates over the last minute.
    for round in 0..2 {
        for (mode, rc, delay) in [("wasm", Some("wasmtime-spin-v2"), 60), ("container", None, 300)] {
            let name = format!("hello-{mode}-{round}");
            h.world.lock().unwrap().put("pods", pod_json(&name, mode, rc, false, 0));
            tokio::time::sleep(Duration::from_millis(delay)).await; // the pod's startup, as the scenario
            h.world.lock().unwrap().put("pods", pod_json(&name, mode, rc, true, 0));
        }
        h.settle().await;
        for mode in ["wasm", "container"] {
            let q = if round == 0 {
                format!("wasm_workload_cold_start_seconds_count{{mode=\"{mode}\"}}")
            } else {
                format!("increase(wasm_workload_cold_start_seconds_count{{mode=\"{mode}\"}}[1m]) > 0")
            };
            prom.wait_for_series(&q).await;
        }
    }
    prom.wait_for_series("wasm_workload_memory_working_set_bytes").await;
    // `wasm-operator compare` writes its result while the operator runs.
    let now = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap();
    h.world.lock().unwrap().put(
        "wasmworkloads",
        crate::tests::metrics_tests::compared_workload(&now.to_string()),
    );
    h.settle().await;
    prom.wait_for_series(r#"wasm_workload_cold_start_seconds_count{source="comparison", workload="hello"}"#)
        .await;

    let exported = exported_names(&h.metrics.render());
    let mut checked = 0;
    for (name, d) in dashboards() {
        for (place, expr) in queries(&name, &d) {
            for metric in metric_names(&expr) {
                assert!(
                    exported.contains(&metric),
                    "{place}: {metric} is not exported by the operator"
                );
            }
            let q = substitute(&expr);
            let result = prom.query(&q).await;
            assert!(!result.is_empty(), "{place}: no series for {q}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} queries checked");
}
