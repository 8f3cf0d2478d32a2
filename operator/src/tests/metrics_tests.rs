//! The metrics as Prometheus sees them: `promtool check metrics` finds nothing to fix, and a real
//! Prometheus (Debian's package) scraping the operator after a scenario with Wasm and container
//! cold starts answers `histogram_quantile` per mode with the values the scenario produced.

use crate::report::http::{serve, HttpState};
use crate::tests::controller_tests::{pod_json, spin_world, Harness};
use crate::tests::fixtures::{http_get, require_tool, url_encode};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Run the scenario: five Wasm pods Ready 60 ms after creation, five container pods 600 ms after.
async fn cold_start_scenario() -> Harness {
    let h = Harness::start(spin_world).await;
    h.settle().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let world = h.world.clone();
        tasks.push(tokio::spawn(async move {
            let (name, mode, rc, delay) = if i < 5 {
                (format!("hello-wasm-{i}"), "wasm", Some("wasmtime-spin-v2"), 60)
            } else {
                (format!("hello-ctr-{i}"), "container", None, 600)
            };
            world.lock().unwrap().put("pods", pod_json(&name, mode, rc, false, 0));
            tokio::time::sleep(Duration::from_millis(delay)).await; // the pod's startup, as the scenario
            world.lock().unwrap().put("pods", pod_json(&name, mode, rc, true, 0));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    h.settle().await;
    h
}

#[tokio::test]
async fn promtool_check_metrics_is_clean() {
    let promtool = require_tool("promtool", "apt-get install prometheus");
    let h = cold_start_scenario().await;
    let text = h.metrics.render();
    for name in [
        "wasm_workload_cold_start_seconds_bucket",
        "wasm_workload_last_cold_start_seconds",
        "wasm_workload_replicas",
        "wasm_operator_reconcile_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

/// A Prometheus server on loopback, stopped when dropped.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Start Prometheus scraping `target` every second, and wait until it is ready.
    pub async fn start(target: SocketAddr) -> Prometheus {
        let bin = require_tool("prometheus", "apt-get install prometheus");
        let dir =
            TempDir(std::env::temp_dir().join(format!("wasm-operator-prom-{}-{}", std::process::id(), target.port())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: wasm-operator\n  static_configs:\n  - targets: ['{target}']\n"),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus { child, addr, _dir: dir };
        p.wait_for("readiness", |_| true, "/-/ready").await;
        p
    }

    async fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool, path: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, body)) = http_get(self.addr, path).await {
                if ok(&body) {
                    return body;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Prometheus: timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Run an instant query; the `data.result` array.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let (code, body) = http_get(self.addr, &format!("/api/v1/query?query={}", url_encode(promql)))
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(
            (code, v["status"].as_str()),
            (200, Some("success")),
            "query {promql}: {body}"
        );
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Wait until a query returns at least one series (a scrape has landed).
    pub async fn wait_for_series(&self, promql: &str) {
        let path = format!("/api/v1/query?query={}", url_encode(promql));
        self.wait_for(
            &format!("a series for {promql}"),
            |b| b.contains("\"result\":[{"),
            &path,
        )
        .await;
    }
}

/// Serve the operator's HTTP endpoints for the harness's metrics on an ephemeral port.
pub async fn serve_metrics(h: &Harness) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = HttpState {
        metrics: h.metrics.clone(),
        ready: Arc::new(AtomicBool::new(true)),
    };
    tokio::spawn(serve(listener, state));
    addr
}

fn value_of(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test]
async fn prometheus_computes_cold_start_quantiles_per_mode() {
    let h = cold_start_scenario().await;
    let target = serve_metrics(&h).await;
    let prom = Prometheus::start(target).await;
    prom.wait_for_series("wasm_workload_cold_start_seconds_count").await;

    for q in [0.5, 0.95] {
        let result = prom
            .query(&format!(
                "histogram_quantile({q}, sum by (le, mode) (wasm_workload_cold_start_seconds_bucket))"
            ))
            .await;
        let by_mode = |mode: &str| {
            result
                .iter()
                .find(|s| s["metric"]["mode"] == mode)
                .map(value_of)
                .unwrap_or_else(|| panic!("no {mode} series in {result:?}"))
        };
        // 60 ms Wasm starts and 600 ms container starts, plus the watch delay (which the tests
        // running beside this one on a busy machine can stretch to a few hundred ms): the Wasm
        // quantiles lie in (0.05, 0.5], the container ones in (0.5, 1.5], never the other way.
        let wasm = by_mode("wasm");
        let container = by_mode("container");
        assert!(wasm > 0.05 && wasm <= 0.5, "p{q} wasm = {wasm}");
        assert!(container > 0.5 && container <= 1.5, "p{q} container = {container}");
    }
    let counts = prom
        .query("sum by (mode, runtime_class) (wasm_workload_cold_start_seconds_count)")
        .await;
    let count = |mode: &str, rc: &str| {
        counts
            .iter()
            .find(|s| s["metric"]["mode"] == mode && s["metric"]["runtime_class"] == rc)
            .map(value_of)
    };
    assert_eq!(count("wasm", "wasmtime-spin-v2"), Some(5.0));
    assert_eq!(count("container", "none"), Some(5.0));
}

/// A workload's status as `wasm-operator compare` leaves it: a comparison at `time`.
pub fn compared_workload(time: &str) -> Value {
    let mut wl = crate::tests::controller_tests::workload_json(crate::api::crd::FallbackPolicy::OnFailure, &["spin"]);
    wl["status"] = serde_json::json!({"comparison": {
        "time": time, "node": "n1", "runtimeClass": "wasmtime-spin-v2",
        "wasm": {"samples": 3, "p50Seconds": 0.02, "p95Seconds": 0.03, "coldStartsSeconds": [0.02, 0.012, 0.03]},
        "container": {"samples": 2, "failed": 1, "p50Seconds": 0.6, "p95Seconds": 0.7, "coldStartsSeconds": [0.6, 0.7]}
    }});
    wl
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_comparison_result_lands_in_the_cold_start_histogram_once_per_run() {
    let h = Harness::start(|w| {
        spin_world(w);
        // A run from before the operator started was recorded by the process that ran then.
        w.put("wasmworkloads", compared_workload("2020-01-01T00:00:00Z"));
    })
    .await;
    h.settle().await;
    let count = |mode: &str| {
        let text = h.metrics.render();
        let prefix = format!("wasm_workload_cold_start_seconds_count{{mode=\"{mode}\",");
        text.lines()
            .filter(|l| {
                l.starts_with(&prefix) && l.contains(r#"source="comparison""#) && l.contains(r#"workload="hello""#)
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum::<u64>()
    };
    assert_eq!((count("wasm"), count("container")), (0, 0));
    let time = now_rfc3339();
    h.world.lock().unwrap().put("wasmworkloads", compared_workload(&time));
    h.settle().await;
    assert_eq!((count("wasm"), count("container")), (3, 2), "{}", h.metrics.render());
    // The same result again (another status write): nothing more.
    h.world.lock().unwrap().put("wasmworkloads", compared_workload(&time));
    h.settle().await;
    assert_eq!((count("wasm"), count("container")), (3, 2));
    let text = h.metrics.render();
    assert!(
        text.contains(r#"wasm_workload_cold_start_seconds_bucket{mode="wasm",namespace="demo",runtime_class="wasmtime-spin-v2",source="comparison",workload="hello",le="0.025"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"wasm_workload_cold_start_seconds_bucket{mode="container",namespace="demo",runtime_class="none",source="comparison",workload="hello",le="0.5"} 0"#),
        "{text}"
    );
}
