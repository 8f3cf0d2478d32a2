//! Scale benchmark: the release `wasm-operator` binary, in its own process, against a load API
//! (this process) that answers the Kubernetes REST calls it makes for N generated workloads with
//! their pods. Prints the figures of BENCHMARKS.md as a table.
//!
//!   make bench                                            # the image's binary (static musl)
//!   cargo bench -p wasm-operator --bench scale            # 1,000 and 10,000 workloads of one
//!                                                         # pod, 10,000 of three
//!   cargo bench -p wasm-operator --bench scale -- 2000 5000:3   # other sizes (workloads[:pods each])
//!
//! The load API keeps lists paged (limit/continue), watches open, stores applied objects and
//! sends them back on the watches; Deployments it stores are Ready at once, so a workload is
//! converged when its status is written. The operator's RSS is sampled from /proc.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasm_operator::api::api_path::ApiPath;

mod common;

use common::{node, pod, workload};

/// What the load API holds and has seen.
#[derive(Default)]
struct World {
    objects: HashMap<String, BTreeMap<(String, String), Value>>,
    watches: HashMap<String, Vec<UnboundedSender<Bytes>>>,
    rv: u64,
    first_write: Option<Instant>,
    last_status: Option<Instant>,
    status_writes: usize,
    deployment_applies: usize,
    writes: usize,
}

type Shared = Arc<Mutex<World>>;

impl World {
    fn put(&mut self, resource: &str, mut obj: Value) {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let key = (
            obj["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
            obj["metadata"]["name"].as_str().unwrap().to_string(),
        );
        let map = self.objects.entry(resource.to_string()).or_default();
        let type_ = if map.contains_key(&key) { "MODIFIED" } else { "ADDED" };
        let line = Bytes::from(format!("{}\n", json!({"type": type_, "object": &obj})));
        map.insert(key, obj);
        if let Some(ws) = self.watches.get_mut(resource) {
            ws.retain(|tx| tx.unbounded_send(line.clone()).is_ok());
        }
    }
}

fn resource_key(p: &ApiPath) -> String {
    if p.group == "metrics.k8s.io" {
        "podmetrics".into()
    } else {
        p.resource.clone()
    }
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn query_map(req: &Request) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn handle(State(world): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/version" {
        return json_response(
            StatusCode::OK,
            &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "bench", "gitTreeState": "clean",
                    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}),
        );
    }
    let Some(p) = ApiPath::parse(&path) else {
        return json_response(StatusCode::NOT_FOUND, &json!({"kind": "Status", "code": 404}));
    };
    let resource = resource_key(&p);
    let q = query_map(&req);
    let method = req.method().clone();
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let mut w = world.lock().unwrap();
    match (method, &p.name) {
        (Method::GET, None) if q.get("watch").map(String::as_str) == Some("true") => {
            let (tx, rx) = unbounded::<Bytes>();
            w.watches.entry(resource).or_default().push(tx);
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(rx.map(Ok::<_, std::convert::Infallible>)))
                .unwrap()
        }
        (Method::GET, None) => {
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
            let offset: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
            let all = w.objects.get(&resource);
            let matching = all
                .into_iter()
                .flat_map(|m| m.iter())
                .filter(|((ns, _), _)| p.namespace.as_ref().is_none_or(|n| n == ns));
            let items: Vec<&Value> = matching.clone().skip(offset).take(limit).map(|(_, v)| v).collect();
            let more = matching.count() > offset + items.len();
            let mut meta = json!({"resourceVersion": w.rv.to_string()});
            if more {
                meta["continue"] = json!((offset + items.len()).to_string());
            }
            json_response(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "List", "metadata": meta, "items": items}),
            )
        }
        (Method::PATCH, Some(name)) => {
            let now = Instant::now();
            w.first_write.get_or_insert(now);
            w.writes += 1;
            let mut obj: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let ns = p.namespace.clone().unwrap_or_default();
            if p.subresource.as_deref() == Some("status") {
                let mut current = w
                    .objects
                    .get(&resource)
                    .and_then(|m| m.get(&(ns, name.clone())))
                    .cloned()
                    .unwrap_or(obj.clone());
                current["status"] = obj["status"].take();
                w.status_writes += 1;
                w.last_status = Some(now);
                w.put(&resource, current.clone());
                return json_response(StatusCode::OK, &current);
            }
            obj["metadata"]["uid"] = json!(format!("uid-{ns}-{name}"));
            obj["metadata"]["generation"] = json!(1);
            // As an API server records a server-side apply: the applier owns what it sent.
            let manager = q.get("fieldManager").cloned().unwrap_or_default();
            obj["metadata"]["managedFields"] = json!([{
                "manager": manager, "operation": "Apply", "apiVersion": obj["apiVersion"].clone(),
                "fieldsType": "FieldsV1", "fieldsV1": wasm_operator::api::owned_fields::fields_v1(&obj)
            }]);
            if resource == "deployments" {
                w.deployment_applies += 1;
                let replicas = obj["spec"]["replicas"].clone();
                obj["status"] = json!({"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas});
            }
            w.put(&resource, obj.clone());
            json_response(StatusCode::OK, &obj)
        }
        (Method::POST, None) => {
            w.writes += 1;
            let obj: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            json_response(StatusCode::CREATED, &obj)
        }
        _ => json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"kind": "Status", "code": 405})),
    }
}

async fn start_load_api(n: usize, pods_each: usize) -> (SocketAddr, Shared) {
    let mut w = World::default();
    w.put("runtimeclasses", json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "wasmtime-spin-v2"}, "handler": "spin"}));
    for i in 0..3 {
        w.put("nodes", node(i, "a"));
    }
    for i in 0..n {
        w.put("wasmworkloads", workload(i, pods_each));
        for j in 0..pods_each {
            w.put("pods", pod(i, j));
        }
    }
    let shared = Arc::new(Mutex::new(w));
    let app = axum::Router::new().fallback(handle).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, shared)
}

/// A blocking HTTP/1.0 GET; (status, body).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.split_whitespace().nth(1)?.parse().ok()?, body.to_string()))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Operator {
    child: Child,
    metrics: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn spawn_operator(api: SocketAddr) -> Operator {
    let dir = std::env::temp_dir().join(format!("wasm-operator-bench-{}-{}", std::process::id(), api.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: bench, cluster: {{server: 'http://{api}'}}}}]\ncontexts: [{{name: bench, context: {{cluster: bench, user: bench}}}}]\nusers: [{{name: bench, user: {{}}}}]\ncurrent-context: bench\n"),
    )
    .unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let binary = operator_binary();
    // BENCH_WRAP=heaptrack runs the operator under a profiler (the RSS figures are then the
    // wrapper's, not the operator's).
    let mut cmd = match std::env::var("BENCH_WRAP") {
        Ok(wrapper) => {
            let mut c = Command::new(wrapper);
            c.arg(&binary);
            c
        }
        Err(_) => Command::new(&binary),
    };
    let child = cmd
        .args(["run", "--metrics-addr", &metrics.to_string()])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the operator binary starts");
    Operator {
        child,
        metrics,
        _dir: dir,
    }
}

/// Samples the operator's RSS in the background; peak and latest in KiB.
struct RssSampler {
    peak: Arc<Mutex<u64>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(Mutex::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    let mut peak = p.lock().unwrap();
                    *peak = (*peak).max(kib);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler { peak, stop }
    }

    fn peak_mib(&self) -> f64 {
        *self.peak.lock().unwrap() as f64 / 1024.0
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The reconcile histogram of one scrape: cumulative (le, count) per result, and totals.
fn reconcile_histogram(text: &str) -> (Vec<(f64, f64)>, f64) {
    let mut buckets: BTreeMap<String, f64> = BTreeMap::new();
    let mut count = 0.0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("wasm_operator_reconcile_duration_seconds_bucket{") {
            let le = rest
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("");
            let v: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *buckets.entry(le.to_string()).or_default() += v;
        } else if line.starts_with("wasm_operator_reconcile_duration_seconds_count{") {
            count += line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    let mut out: Vec<(f64, f64)> = buckets
        .into_iter()
        .map(|(le, c)| (le.parse().unwrap_or(f64::INFINITY), c))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    (out, count)
}

/// A quantile from the difference of two cumulative histograms (upper bound of its bucket).
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, c)| (*le, c - before.iter().find(|(l, _)| l == le).map_or(0.0, |(_, b)| *b)))
        .collect();
    let total = delta.last().map_or(0.0, |(_, c)| *c);
    delta
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map_or(f64::NAN, |(le, _)| *le)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "bench: timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

struct Figures {
    n: usize,
    pods_each: usize,
    healthz_ms: f64,
    rss_steady_mib: f64,
    rss_peak_mib: f64,
    converge_per_s: f64,
    converge_total_s: f64,
    resync_per_s: f64,
    resync_writes: usize,
    p50_resync_ms: f64,
    p99_resync_ms: f64,
    p99_converge_ms: f64,
    scrape_ms: f64,
    series: usize,
}

fn run(rt: &tokio::runtime::Runtime, n: usize, pods_each: usize) -> Figures {
    let (api, world) = rt.block_on(start_load_api(n, pods_each));
    let started = Instant::now();
    let op = spawn_operator(api);
    let pid = op.child.id();
    let sampler = RssSampler::start(pid);
    let healthz = wait_until("/healthz", Duration::from_secs(30), || {
        get(op.metrics, "/healthz").is_some_and(|(c, _)| c == 200)
    });
    let metrics_before = loop {
        if let Some((200, body)) = get(op.metrics, "/metrics") {
            break body;
        }
    };
    let (h0, _) = reconcile_histogram(&metrics_before);
    wait_until("convergence", Duration::from_secs(600), || {
        let w = world.lock().unwrap();
        w.status_writes >= n && w.deployment_applies >= n
    });
    let converge_total = started.elapsed().as_secs_f64();
    let (first, last) = {
        let w = world.lock().unwrap();
        (w.first_write.unwrap(), w.last_status.unwrap())
    };
    let converge_per_s = n as f64 / last.duration_since(first).as_secs_f64().max(1e-3);
    // Let the echoes of our own writes settle.
    std::thread::sleep(Duration::from_secs(2));
    let (h1, count1) = reconcile_histogram(&get(op.metrics, "/metrics").unwrap().1);

    // No-op resync: a node label change is relevant to every workload; none needs a write.
    let writes_before = world.lock().unwrap().writes;
    let resync_start = Instant::now();
    world.lock().unwrap().put("nodes", node(0, "b"));
    let mut h2 = vec![];
    wait_until("the resync", Duration::from_secs(300), || {
        let (h, c) = reconcile_histogram(&get(op.metrics, "/metrics").map(|r| r.1).unwrap_or_default());
        h2 = h;
        c >= count1 + n as f64
    });
    let resync_per_s = n as f64 / resync_start.elapsed().as_secs_f64();
    let resync_writes = world.lock().unwrap().writes - writes_before;

    std::thread::sleep(Duration::from_secs(1));
    let mut steady = vec![];
    for _ in 0..20 {
        steady.push(rss_kib(pid).unwrap_or(0) as f64 / 1024.0);
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut scrapes = vec![];
    let mut series = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let (_, body) = get(op.metrics, "/metrics").unwrap();
        scrapes.push(t.elapsed().as_secs_f64() * 1000.0);
        series = body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    }
    scrapes.sort_by(f64::total_cmp);
    Figures {
        n,
        pods_each,
        healthz_ms: healthz.as_secs_f64() * 1000.0,
        rss_steady_mib: steady.iter().sum::<f64>() / steady.len() as f64,
        rss_peak_mib: sampler.peak_mib(),
        converge_per_s,
        converge_total_s: converge_total,
        resync_per_s,
        resync_writes,
        p50_resync_ms: quantile(&h1, &h2, 0.5) * 1000.0,
        p99_resync_ms: quantile(&h1, &h2, 0.99) * 1000.0,
        p99_converge_ms: quantile(&h0, &h1, 0.99) * 1000.0,
        scrape_ms: scrapes[scrapes.len() / 2],
        series,
    }
}

fn idle_rss(rt: &tokio::runtime::Runtime) -> (f64, f64) {
    let (api, _world) = rt.block_on(start_load_api(0, 0));
    let op = spawn_operator(api);
    let healthz = wait_until("/healthz", Duration::from_secs(30), || {
        get(op.metrics, "/healthz").is_some_and(|(c, _)| c == 200)
    });
    wait_until("/readyz", Duration::from_secs(30), || {
        get(op.metrics, "/readyz").is_some_and(|(c, _)| c == 200)
    });
    std::thread::sleep(Duration::from_secs(1));
    (
        rss_kib(op.child.id()).unwrap_or(0) as f64 / 1024.0,
        healthz.as_secs_f64() * 1000.0,
    )
}

/// The binary measured: BENCH_BINARY (`make bench` passes the image's static musl build), or
/// this build's.
fn operator_binary() -> String {
    std::env::var("BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wasm-operator").to_string())
}

fn main() {
    // `N` or `N:P`: N workloads of P pods each (1 when not given).
    let sizes: Vec<(usize, usize)> = std::env::args()
        .skip(1)
        .filter_map(|a| {
            let (n, p) = a.split_once(':').unwrap_or((&a, "1"));
            Some((n.parse().ok()?, p.parse().ok()?))
        })
        .collect();
    let sizes = if sizes.is_empty() {
        vec![(1_000, 1), (10_000, 1), (10_000, 3)]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let binary = std::fs::metadata(operator_binary()).map(|m| m.len()).unwrap_or(0);
    let (idle, idle_healthz) = idle_rss(&rt);
    println!("wasm-operator scale benchmark");
    println!("binary: {}", operator_binary());
    println!("release binary: {:.1} MiB; idle RSS (0 workloads, caches synced): {idle:.1} MiB; /healthz after start: {idle_healthz:.0} ms", binary as f64 / 1048576.0);
    println!();
    println!("| N | pods each | converge (reconciles/s) | converge total (s) | no-op resync (/s) | resync writes | reconcile p50 / p99 no-op (ms) | reconcile p99 converge (ms) | RSS steady (MiB) | RSS peak from start (MiB) | /healthz (ms) | /metrics scrape (ms) | series |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (n, pods_each) in sizes {
        let f = run(&rt, n, pods_each);
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.0} | {} | {:.2} / {:.2} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {} |",
            f.n,
            f.pods_each,
            f.converge_per_s,
            f.converge_total_s,
            f.resync_per_s,
            f.resync_writes,
            f.p50_resync_ms,
            f.p99_resync_ms,
            f.p99_converge_ms,
            f.rss_steady_mib,
            f.rss_peak_mib,
            f.healthz_ms,
            f.scrape_ms,
            f.series
        );
    }
}
