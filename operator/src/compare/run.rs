//! Running a comparison: check the permissions it needs, pick the RuntimeClass the operator
//! would and a node that can run both modes, start the pods in alternating order (`concurrency`
//! at a time) and time them (`timing.rs`), then one pod of each mode side by side for their
//! memory (`memory.rs`); remove every pod, also on failure and on cancellation, and put the
//! result in the workload's status.

use crate::api::crd::{Mode, WasmWorkload};
pub use crate::compare::error::CompareError;
use crate::compare::memory;
use crate::compare::pods::RUN_KEY;
use crate::compare::progress::Progress;
use crate::compare::stats::{alternation, summarise, ModeSummary, Outcome, Run};
use crate::compare::timing::Batches;
use crate::decide::discovery::{node_verdict, resolve, NodeVerdict, Readiness, WorkloadPlacement};
use crate::decide::runtimes::RuntimeConfig;
use crate::report::footprint::named_image_size;
use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, ResourceExt};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How to compare.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Pods of each mode.
    pub pods: usize,
    /// Pods started at once.
    pub concurrency: usize,
    /// The node to use; the first that can run both modes when unset.
    pub node: Option<String>,
    /// A pod not Ready after this long counts as failed.
    pub ready_timeout: Duration,
    /// How long the memory pods wait for metrics.k8s.io to report them; zero skips memory.
    pub memory_wait: Duration,
    /// `--http PATH`: also time each pod to its app's first 2xx answer for PATH, on the
    /// workload's first port, through the API server's pod proxy.
    pub http_path: Option<String>,
}

/// What a comparison found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub workload: String,
    pub namespace: String,
    pub node: String,
    pub runtime_class: String,
    /// The path asked for with `--http`, and on which port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    pub wasm: ModeSummary,
    pub container: ModeSummary,
    /// Size of each mode's image on the node, from node.status.images.
    pub wasm_image_bytes: Option<i64>,
    pub container_image_bytes: Option<i64>,
    /// Working set of a Ready pod of each mode, from metrics.k8s.io.
    pub wasm_memory_bytes: Option<i64>,
    pub container_memory_bytes: Option<i64>,
    /// Why a memory figure is missing, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_note: Option<String>,
}

/// The permissions a comparison needs: (group, resource, verb, namespaced).
pub const NEEDS: &[(&str, &str, &str, bool)] = &[
    ("", "pods", "create", true),
    ("", "pods", "delete", true),
    ("", "pods", "watch", true),
    ("", "nodes", "list", false),
    ("node.k8s.io", "runtimeclasses", "list", false),
    ("wasm-operator.dev", "wasmworkloads", "get", true),
    ("wasm-operator.dev", "wasmworkloads/status", "patch", true),
];

/// What `--http` needs besides: asking the pods' apps through the API server's pod proxy.
pub const NEEDS_FOR_HTTP: (&str, &str, &str, bool) = ("", "pods/proxy", "get", true);

async fn check_permissions(client: &kube::Client, ns: &str, http: bool) -> Result<(), CompareError> {
    let mut missing = vec![];
    let needs = NEEDS.iter().chain(http.then_some(&NEEDS_FOR_HTTP));
    for (group, resource, verb, namespaced) in needs {
        let (resource_name, subresource) = match resource.split_once('/') {
            Some((r, sub)) => (r, Some(sub.to_string())),
            None => (*resource, None),
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.to_string()),
                    resource: Some(resource_name.to_string()),
                    subresource,
                    verb: Some(verb.to_string()),
                    namespace: namespaced.then(|| ns.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let allowed = Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await?
            .status
            .is_some_and(|s| s.allowed);
        if !allowed {
            missing.push(format!("{verb} {resource}"));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CompareError::Refused(format!(
            "wasm-operator compare needs permission to {} in namespace {ns}",
            missing.join(", ")
        )))
    }
}

/// Compare workload `ns/name`; `cancel` resolving stops it and removes its pods.
pub async fn compare(
    client: &kube::Client,
    ns: &str,
    name: &str,
    config: &RuntimeConfig,
    settings: &Settings,
    cancel: impl std::future::Future<Output = ()>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Comparison, CompareError> {
    check_permissions(client, ns, settings.http_path.is_some()).await?;
    let wl = Api::<WasmWorkload>::namespaced(client.clone(), ns).get(name).await?;
    let http = match &settings.http_path {
        None => None,
        Some(path) => {
            let port = wl.spec.ports.first().map(|p| p.container_port).ok_or_else(|| {
                CompareError::Refused(format!("--http needs a port: {ns}/{name} lists none in spec.ports"))
            })?;
            Some(crate::compare::timing::HttpCheck {
                path: format!("/{}", path.trim_start_matches('/')),
                port,
            })
        }
    };
    let Some(fallback_image) = wl.spec.fallback.image.clone() else {
        return Err(CompareError::Refused(format!(
            "{ns}/{name} has no fallback image: there is no container to compare Wasm against"
        )));
    };
    let rcs: Vec<Arc<RuntimeClass>> = crate::listing::list_all(client).await?;
    let nodes: Vec<Arc<Node>> = crate::listing::list_all(client).await?;
    let lookup = |n: &str| rcs.iter().find(|rc| rc.name_any() == n).cloned();
    let placement = WorkloadPlacement::of(&wl.spec);
    let candidates = config
        .candidates(&wl.spec.wasm.runtimes, |n| lookup(n).is_some())
        .map_err(|e| CompareError::Refused(e.to_string()))?;
    // Pods start now: only a node Ready now will do (no readiness grace).
    let readiness = Readiness::strict(k8s_openapi::jiff::Timestamp::now());
    let resolution = resolve(&candidates, lookup, &nodes, placement, readiness);
    let Some(chosen) = resolution.chosen.clone() else {
        return Err(CompareError::Refused(format!(
            "{ns}/{name} cannot run as Wasm here: {}",
            resolution.why_none()
        )));
    };
    // A node that runs the Wasm RuntimeClass runs the container too (it is the same pod without it).
    let usable = |n: &Node| node_verdict(&chosen.runtime_class, n, placement, readiness) == NodeVerdict::Usable;
    let node = match &settings.node {
        Some(want) => nodes
            .iter()
            .find(|n| n.name_any() == *want)
            .filter(|n| usable(n))
            .ok_or_else(|| CompareError::Refused(format!("node {want} cannot run {ns}/{name} as Wasm")))?,
        None => nodes.iter().find(|n| usable(n)).expect("resolve found a usable node"),
    }
    .clone();
    let node_name = node.name_any();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let run = format!("{:x}", millis % 0xff_ffff);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let watch = watcher::watcher(
        pods.clone(),
        watcher::Config::default().labels(&format!("{RUN_KEY}={run}")),
    )
    .applied_objects()
    .boxed();
    let present = HashMap::from([
        (Mode::Wasm, named_image_size([&*node], &wl.spec.wasm.image).is_some()),
        (Mode::Container, named_image_size([&*node], &fallback_image).is_some()),
    ]);
    let http_label = http.as_ref().map(|h| format!("GET {} on port {}", h.path, h.port));
    let mut batches = Batches::new(
        client,
        http,
        &pods,
        &wl,
        &chosen,
        &node_name,
        &run,
        settings.ready_timeout,
        present,
        watch,
    );
    let work = measure(client, ns, &run, settings, &mut batches, progress);
    let measured = tokio::select! {
        r = work => r,
        () = cancel => Err(CompareError::Cancelled),
    };
    // Whatever happened, leave nothing behind.
    for pod in &batches.created {
        let _ = pods.delete(pod, &DeleteParams::default().grace_period(0)).await;
    }
    let (runs, memory) = measured?;
    let node = Api::<Node>::all(client.clone()).get(&node_name).await?;
    let comparison = Comparison {
        workload: name.to_string(),
        namespace: ns.to_string(),
        node: node_name,
        runtime_class: chosen.candidate.runtime_class.clone(),
        http: http_label,
        wasm: summarise(&runs, Mode::Wasm),
        container: summarise(&runs, Mode::Container),
        wasm_image_bytes: named_image_size([&node], &wl.spec.wasm.image),
        container_image_bytes: named_image_size([&node], &fallback_image),
        wasm_memory_bytes: memory.wasm,
        container_memory_bytes: memory.container,
        memory_note: memory.note,
    };
    write_status(client, ns, name, &comparison).await?;
    Ok(comparison)
}

/// Memory of one pod of each mode, or why there is none.
#[derive(Debug, Default)]
struct Memory {
    wasm: Option<i64>,
    container: Option<i64>,
    note: Option<String>,
}

/// The timed runs, each batch removed before the next starts; then the memory pods.
async fn measure(
    client: &kube::Client,
    ns: &str,
    run: &str,
    settings: &Settings,
    batches: &mut Batches<'_>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(Vec<Run>, Memory), CompareError> {
    let order = alternation(settings.pods);
    let mut state = Progress {
        done: 0,
        total: order.len(),
        failed: 0,
    };
    progress(state);
    let mut runs = vec![];
    for batch in order.chunks(settings.concurrency.max(1)) {
        let mut tell = |r: &Run| {
            state.done += 1;
            state.failed += usize::from(matches!(r.outcome, Outcome::Failed { .. }));
            progress(state);
        };
        let judged = batches.start(batch, Duration::ZERO, &mut tell).await?;
        let names: Vec<String> = judged.iter().map(|(n, _)| n.clone()).collect();
        runs.extend(judged.into_iter().map(|(_, r)| r));
        batches.remove(&names).await?;
    }
    if settings.memory_wait.is_zero() {
        return Ok((runs, Memory::default()));
    }
    if let Some(why) = memory::not_served(client, ns).await {
        return Ok((
            runs,
            Memory {
                note: Some(why),
                ..Default::default()
            },
        ));
    }
    // After the timings, so that they do not run beside the pods they time.
    let both = batches
        .start(&[Mode::Wasm, Mode::Container], settings.memory_wait, &mut |_| {})
        .await?;
    let ready: Vec<String> = both
        .iter()
        .filter(|(_, r)| matches!(r.outcome, Outcome::Ready { .. }))
        .map(|(n, _)| n.clone())
        .collect();
    let found = memory::wait_for(client, ns, run, &ready, settings.memory_wait, MEMORY_POLL).await;
    let of = |mode: Mode| {
        both.iter()
            .find(|(_, r)| r.mode == mode)
            .and_then(|(n, _)| found.get(n).copied())
    };
    let memory = Memory {
        wasm: of(Mode::Wasm),
        container: of(Mode::Container),
        note: (found.len() < 2).then(|| {
            format!(
                "metrics.k8s.io reported {} of the 2 memory pods within {} s",
                found.len(),
                settings.memory_wait.as_secs()
            )
        }),
    };
    let names: Vec<String> = both.into_iter().map(|(n, _)| n).collect();
    batches.remove(&names).await?;
    Ok((runs, memory))
}

/// How often the memory pods' metrics are asked for.
const MEMORY_POLL: Duration = Duration::from_secs(2);

/// The field manager of `compare`'s status writes, apart from the operator's.
pub const FIELD_MANAGER: &str = "wasm-operator-compare";

/// Put the result in the workload's `status.comparison`, where `report` and users find it.
async fn write_status(client: &kube::Client, ns: &str, name: &str, c: &Comparison) -> Result<(), CompareError> {
    use crate::api::crd::{ComparisonStatus, ModeComparison};
    use kube::api::{Patch, PatchParams};
    use kube::Resource;
    let mode = |m: &ModeSummary, image: Option<i64>, memory: Option<i64>| ModeComparison {
        samples: i64::try_from(m.warm.map_or(0, |s| s.samples)).unwrap_or(i64::MAX),
        failed: i64::try_from(m.failures.len()).unwrap_or(i64::MAX),
        p50_seconds: m.warm.map(|s| s.p50),
        p95_seconds: m.warm.map(|s| s.p95),
        image_size_bytes: image,
        memory_working_set_bytes: memory,
        cold_starts_seconds: m.warm_seconds.iter().map(|s| (s * 1000.0).round() / 1000.0).collect(),
        first_response_p50_seconds: m.first_response.map(|s| s.p50),
        first_response_p95_seconds: m.first_response.map(|s| s.p95),
        first_responses_seconds: m
            .first_response_seconds
            .iter()
            .map(|s| (s * 1000.0).round() / 1000.0)
            .collect(),
    };
    let status = ComparisonStatus {
        time: k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| String::new(), |t| t.to_string()),
        node: c.node.clone(),
        runtime_class: c.runtime_class.clone(),
        http: c.http.clone(),
        wasm: mode(&c.wasm, c.wasm_image_bytes, c.wasm_memory_bytes),
        container: mode(&c.container, c.container_image_bytes, c.container_memory_bytes),
    };
    let patch = serde_json::json!({
        "apiVersion": WasmWorkload::api_version(&()),
        "kind": WasmWorkload::kind(&()),
        "status": {"comparison": status},
    });
    Api::<WasmWorkload>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await?;
    Ok(())
}
