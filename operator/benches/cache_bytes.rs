//! Where the operator's memory goes: the bytes each cached object and each index costs, by
//! kind, measured with a counting allocator while the operator's own cache code (the same
//! pruning, records and stores) takes in N generated objects. Prints the table of BENCHMARKS.md.
//!
//!   cargo bench -p wasm-operator --bench cache_bytes            # N = 10,000
//!   cargo bench -p wasm-operator --bench cache_bytes -- 2000

mod common;

use common::{pod, workload};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use wasm_operator::api::crd::WasmWorkload;
use wasm_operator::api::stored_workload::StoredWorkload;
use wasm_operator::api::views::{CachedDeployment, CachedPod, CachedService, DeploymentView, PodView};
use wasm_operator::decide::decision::Decision;
use wasm_operator::decide::discovery::Chosen;
use wasm_operator::decide::runtimes::Candidate;
use wasm_operator::observe::record_cache::RecordCache;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes still allocated after `fill` returned what it built (the result is kept alive while
/// counting, then returned).
fn cost<T>(fill: impl FnOnce() -> T) -> (T, isize) {
    let before = LIVE.load(Ordering::Relaxed);
    let kept = fill();
    (kept, LIVE.load(Ordering::Relaxed) - before)
}

/// The status the operator writes for a converged Wasm workload.
fn status(i: usize, replicas: usize) -> Value {
    let condition = |t: &str, s: &str, reason: &str, message: String| {
        json!({"type": t, "status": s, "reason": reason, "message": message,
               "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:02Z"})
    };
    json!({
        "observedGeneration": 1, "mode": "Wasm", "runtimeClassName": "wasmtime-spin-v2",
        "replicas": replicas, "readyReplicas": replicas, "selector": format!("wasm-operator.dev/workload=app-{i}"),
        "coldStart": {"lastSeconds": 0.412, "p50Seconds": 0.412, "p95Seconds": 0.412, "samples": replicas,
                      "windowSamples": replicas, "recentMillis": vec![412; replicas]},
        "footprint": {"imageSizeBytes": 21000},
        "conditions": [
            condition("Ready", "True", "Available", format!("{replicas}/{replicas} pods ready in wasm mode")),
            condition("RuntimeResolved", "True", "Wasm", "RuntimeClass wasmtime-spin-v2 (runtime spin) is usable on 3 node(s)".into()),
            condition("Progressing", "False", "Complete", "Deployment rolled out".into()),
        ]
    })
}

fn chosen() -> Chosen {
    Chosen {
        candidate: Candidate {
            runtime: "spin".into(),
            runtime_class: "wasmtime-spin-v2".into(),
            pod_annotations: Default::default(),
        },
        runtime_class: Arc::new(RuntimeClass {
            metadata: Default::default(),
            handler: "spin".into(),
            overhead: None,
            scheduling: None,
        }),
        usable_nodes: 3,
        kept_off: vec![],
        after_failures: None,
    }
}

/// A child as the API server stores it after the operator's server-side apply: its managed
/// fields, a uid, a resourceVersion, and for a Deployment a rolled-out status.
fn as_stored(mut obj: Value, manager: &str) -> Value {
    let fields = wasm_operator::api::owned_fields::fields_v1(&obj);
    obj["metadata"]["managedFields"] = json!([{"manager": manager, "operation": "Apply",
        "apiVersion": obj["apiVersion"].clone(), "fieldsType": "FieldsV1", "fieldsV1": fields}]);
    obj["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    obj["metadata"]["resourceVersion"] = json!("123456");
    obj["metadata"]["generation"] = json!(1);
    obj
}

struct Row {
    what: &'static str,
    bytes: isize,
    per: usize,
}

fn measure(n: usize, pods_each: usize) -> Vec<Row> {
    let workloads: Vec<WasmWorkload> = (0..n)
        .map(|i| {
            let mut v = workload(i, pods_each);
            v["status"] = status(i, pods_each);
            serde_json::from_value(v).unwrap()
        })
        .collect();
    let mut rows = vec![];

    let stored: Vec<StoredWorkload> = workloads
        .iter()
        .map(|w| serde_json::from_value(serde_json::to_value(w).unwrap()).unwrap())
        .collect();
    let (_store, bytes) = cost(|| {
        let (reader, mut writer) = reflector::store::<StoredWorkload>();
        for w in &stored {
            let mut w = w.clone();
            wasm_operator::observe::watches::prune_workload(&mut w);
            writer.apply_watcher_event(&Event::Apply(w));
        }
        (reader, writer)
    });
    rows.push(Row {
        what: "workload (kube's store of the CRD object, with its status)",
        bytes,
        per: n,
    });

    let pods: Vec<PodView> = (0..n)
        .flat_map(|i| (0..pods_each).map(move |j| (i, j)))
        .map(|(i, j)| serde_json::from_value(pod(i, j)).unwrap())
        .collect();
    let (_store, bytes) = cost(|| {
        let cache = RecordCache::<Arc<CachedPod>>::default();
        for p in &pods {
            let mut p = p.clone();
            wasm_operator::observe::watches::prune_pod(&mut p);
            let cached = Arc::new(CachedPod::from(p.clone()));
            cache.apply(&Event::Apply(p), |_| cached.clone());
        }
        cache
    });
    rows.push(Row {
        what: "pod (the pod cache: compact metadata, shared strings)",
        bytes,
        per: pods.len(),
    });

    let deployments: Vec<DeploymentView> = workloads
        .iter()
        .map(|w| {
            let mut d = wasm_operator::render::deployment::render_deployment(w, &Decision::Wasm(chosen())).unwrap();
            wasm_operator::render::drift::stamp(&mut d, |d| &mut d.metadata).unwrap();
            let mut v = serde_json::to_value(&d).unwrap();
            v["apiVersion"] = json!("apps/v1");
            v["kind"] = json!("Deployment");
            let mut v = as_stored(v, "wasm-operator");
            v["status"] = json!({"observedGeneration": 1, "replicas": pods_each, "readyReplicas": pods_each,
                                 "updatedReplicas": pods_each, "availableReplicas": pods_each});
            serde_json::from_value::<Deployment>(v.clone()).unwrap();
            serde_json::from_value(v).unwrap()
        })
        .collect();
    let (_cache, bytes) = cost(|| {
        let cache = RecordCache::<CachedDeployment>::default();
        for d in &deployments {
            cache.apply(&Event::Apply(d.clone()), |d: &DeploymentView| CachedDeployment::from(d));
        }
        cache
    });
    rows.push(Row {
        what: "Deployment record (spec hash, owned fields, rollout)",
        bytes,
        per: n,
    });

    let services: Vec<PartialObjectMeta<Service>> = workloads
        .iter()
        .map(|w| {
            let mut s = wasm_operator::render::service::render_service(w, "wasm").unwrap();
            wasm_operator::render::drift::stamp(&mut s, |s| &mut s.metadata).unwrap();
            let mut v = serde_json::to_value(&s).unwrap();
            v["apiVersion"] = json!("v1");
            v["kind"] = json!("Service");
            let v = as_stored(v, "wasm-operator");
            let meta = serde_json::from_value(v["metadata"].clone()).unwrap();
            PartialObjectMeta::<Service> {
                types: None,
                metadata: meta,
                _phantom: Default::default(),
            }
        })
        .collect();
    let (_cache, bytes) = cost(|| {
        let cache = RecordCache::<CachedService>::default();
        for s in &services {
            cache.apply(&Event::Apply(s.clone()), |s: &PartialObjectMeta<Service>| {
                CachedService::from(&s.metadata)
            });
        }
        cache
    });
    rows.push(Row {
        what: "Service record (spec hash, owned fields)",
        bytes,
        per: n,
    });

    let pruned: Vec<CachedPod> = pods
        .iter()
        .map(|p| {
            let mut p = p.clone();
            wasm_operator::observe::watches::prune_pod(&mut p);
            CachedPod::from(p)
        })
        .collect();
    let (_index, bytes) = cost(|| {
        let mut index = wasm_operator::observe::pod_index::PodIndex::default();
        for p in &pruned {
            index.insert(p);
        }
        index
    });
    rows.push(Row {
        what: "pod index (workload → pod names)",
        bytes,
        per: pods.len(),
    });
    let (_tracker, bytes) = cost(|| {
        let mut tracker = wasm_operator::report::coldstart::ColdStartTracker::default();
        let now = tokio::time::Instant::now();
        for p in &pruned {
            tracker.observe(p, false, now);
        }
        tracker
    });
    rows.push(Row {
        what: "cold-start tracker (per pod seen)",
        bytes,
        per: pods.len(),
    });
    let (_metrics, bytes) = cost(|| {
        let metrics = wasm_operator::report::metrics::Metrics::new();
        for w in &workloads {
            let (ns, name) = (
                w.metadata.namespace.as_deref().unwrap(),
                w.metadata.name.as_deref().unwrap(),
            );
            metrics.set_replicas(ns, name, &[("wasm", pods_each as i32, pods_each as i32)]);
            metrics.workloads.set_image_size(ns, name, "wasm", Some(21_000));
        }
        metrics
    });
    rows.push(Row {
        what: "per-workload gauges (replicas, image size)",
        bytes,
        per: n,
    });
    let (_filter, bytes) = cost(|| {
        let filter = wasm_operator::observe::generation_filter::GenerationFilter::default();
        for w in &workloads {
            filter.changed(w);
        }
        filter
    });
    rows.push(Row {
        what: "generation filter",
        bytes,
        per: n,
    });
    rows
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    println!("bytes the caches keep, {n} workloads (counting allocator; allocator overhead not included)");
    for pods_each in [1, 3] {
        let rows = measure(n, pods_each);
        println!();
        println!("{pods_each} pod(s) per workload:");
        println!();
        println!("| what | objects | bytes each | MiB in all |");
        println!("|---|---|---|---|");
        let mut total = 0;
        for r in &rows {
            total += r.bytes;
            println!(
                "| {} | {} | {} | {:.1} |",
                r.what,
                r.per,
                r.bytes / r.per.max(1) as isize,
                r.bytes as f64 / 1048576.0
            );
        }
        println!("| all of the above | | | {:.1} |", total as f64 / 1048576.0);
    }
}
