//! Running a comparison: check the permissions it needs, pick the RuntimeClass the operator
//! would and a node that can run both modes, start the pods in alternating order (`concurrency`
//! at a time), time each from its creation to Ready on this process's clock, remove them, and
//! remove whatever is left on cancellation.

use crate::api::crd::{Mode, WasmWorkload};
use crate::compare::pods::{comparison_pod, PodPlan, RUN_KEY};
use crate::compare::stats::{alternation, summarise, ModeSummary, Outcome, Phases, Run};
use crate::decide::discovery::{node_verdict, resolve, NodeVerdict, WorkloadPlacement};
use crate::decide::failure::waiting_reason_category;
use crate::decide::runtimes::RuntimeConfig;
use crate::report::footprint::named_image_size;
use futures::{StreamExt, TryStreamExt};
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
use std::time::{Duration, Instant};

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
}

/// What a comparison found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub workload: String,
    pub namespace: String,
    pub node: String,
    pub runtime_class: String,
    pub wasm: ModeSummary,
    pub container: ModeSummary,
    /// Size of each mode's image on the node, from node.status.images.
    pub wasm_image_bytes: Option<i64>,
    pub container_image_bytes: Option<i64>,
}

/// Why a comparison could not run.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Refused(String),
    #[error("the comparison was cancelled; its pods were removed")]
    Cancelled,
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
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

async fn check_permissions(client: &kube::Client, ns: &str) -> Result<(), CompareError> {
    let mut missing = vec![];
    for (group, resource, verb, namespaced) in NEEDS {
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

/// How one pod stands: Ready, failed with a reason, or neither yet.
fn judge(pod: &Pod) -> Option<Result<(), String>> {
    let status = pod.status.as_ref()?;
    if status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
    {
        return Some(Ok(()));
    }
    if status.phase.as_deref() == Some("Failed") {
        return Some(Err(status.reason.clone().unwrap_or_else(|| "Failed".into())));
    }
    status.container_statuses.iter().flatten().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let category = waiting_reason_category(waiting.reason.as_deref()?)?;
        Some(Err(format!(
            "{category}: {}",
            waiting.message.clone().unwrap_or_default()
        )))
    })
}

fn condition_true(pod: &Pod, type_: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

fn containers_running(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

/// Compare workload `ns/name`; `cancel` resolving stops it and removes its pods.
pub async fn compare(
    client: &kube::Client,
    ns: &str,
    name: &str,
    config: &RuntimeConfig,
    settings: &Settings,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Comparison, CompareError> {
    check_permissions(client, ns).await?;
    let wl = Api::<WasmWorkload>::namespaced(client.clone(), ns).get(name).await?;
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
    let resolution = resolve(&candidates, lookup, &nodes, placement);
    let Some(chosen) = resolution.chosen.clone() else {
        return Err(CompareError::Refused(format!(
            "{ns}/{name} cannot run as Wasm here: {}",
            resolution.why_none()
        )));
    };
    // A node that runs the Wasm RuntimeClass runs the container too (it is the same pod without it).
    let usable = |n: &Node| node_verdict(&chosen.runtime_class, n, placement) == NodeVerdict::Usable;
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
    let mut created: Vec<String> = vec![];
    let work = run_pods(
        &pods,
        &wl,
        &chosen,
        &node,
        &fallback_image,
        &run,
        settings,
        &mut created,
    );
    let runs = tokio::select! {
        r = work => r,
        () = cancel => Err(CompareError::Cancelled),
    };
    // Whatever happened, leave nothing behind.
    for pod in &created {
        let _ = pods.delete(pod, &DeleteParams::default().grace_period(0)).await;
    }
    let runs = runs?;
    let node = Api::<Node>::all(client.clone()).get(&node_name).await?;
    let comparison = Comparison {
        workload: name.to_string(),
        namespace: ns.to_string(),
        node: node_name,
        runtime_class: chosen.candidate.runtime_class.clone(),
        wasm: summarise(&runs, Mode::Wasm),
        container: summarise(&runs, Mode::Container),
        wasm_image_bytes: named_image_size([&node], &wl.spec.wasm.image),
        container_image_bytes: named_image_size([&node], &fallback_image),
    };
    write_status(client, ns, name, &comparison).await?;
    Ok(comparison)
}

/// The field manager of `compare`'s status writes, apart from the operator's.
pub const FIELD_MANAGER: &str = "wasm-operator-compare";

/// Put the result in the workload's `status.comparison`, where `report` and users find it.
async fn write_status(client: &kube::Client, ns: &str, name: &str, c: &Comparison) -> Result<(), CompareError> {
    use crate::api::crd::{ComparisonStatus, ModeComparison};
    use kube::api::{Patch, PatchParams};
    use kube::Resource;
    let mode = |m: &ModeSummary, image: Option<i64>| ModeComparison {
        samples: i64::try_from(m.warm.map_or(0, |s| s.samples)).unwrap_or(i64::MAX),
        failed: i64::try_from(m.failures.len()).unwrap_or(i64::MAX),
        p50_seconds: m.warm.map(|s| s.p50),
        p95_seconds: m.warm.map(|s| s.p95),
        image_size_bytes: image,
        memory_working_set_bytes: None,
        cold_starts_seconds: m.warm_seconds.iter().map(|s| (s * 1000.0).round() / 1000.0).collect(),
    };
    let status = ComparisonStatus {
        time: k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .map_or_else(|_| String::new(), |t| t.to_string()),
        node: c.node.clone(),
        runtime_class: c.runtime_class.clone(),
        wasm: mode(&c.wasm, c.wasm_image_bytes),
        container: mode(&c.container, c.container_image_bytes),
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

/// A pod started and not yet judged.
struct Starting {
    mode: Mode,
    /// When its creation returned, on this process's clock.
    created: Instant,
    /// Its image was not on the node before.
    first: bool,
    phases: Phases,
}

/// Start the pods `concurrency` at a time in alternating order, time each, remove each batch.
#[allow(clippy::too_many_arguments)]
async fn run_pods(
    pods: &Api<Pod>,
    wl: &WasmWorkload,
    chosen: &crate::decide::discovery::Chosen,
    node: &Node,
    fallback_image: &str,
    run: &str,
    settings: &Settings,
    created: &mut Vec<String>,
) -> Result<Vec<Run>, CompareError> {
    let deadline = i64::try_from(settings.ready_timeout.as_secs()).unwrap_or(300) + 60;
    let mut present = HashMap::from([
        (Mode::Wasm, named_image_size([node], &wl.spec.wasm.image).is_some()),
        (Mode::Container, named_image_size([node], fallback_image).is_some()),
    ]);
    let watch = watcher::watcher(
        pods.clone(),
        watcher::Config::default().labels(&format!("{RUN_KEY}={run}")),
    )
    .applied_objects()
    .boxed();
    let mut watch = watch.fuse();
    let mut runs = vec![];
    let order = alternation(settings.pods);
    for (batch_no, batch) in order.chunks(settings.concurrency.max(1)).enumerate() {
        let mut pending: HashMap<String, Starting> = HashMap::new();
        let batch_start = created.len();
        for (i, mode) in batch.iter().enumerate() {
            let plan = PodPlan {
                run: run.to_string(),
                index: batch_no * settings.concurrency.max(1) + i,
                mode: *mode,
                node: node.name_any(),
                deadline_seconds: deadline,
            };
            let pod = comparison_pod(wl, chosen, &plan)
                .ok_or_else(|| CompareError::Refused("the workload renders no pod".into()))?;
            let first = !present.insert(*mode, true).unwrap_or(false);
            let made = pods.create(&PostParams::default(), &pod).await?;
            created.push(made.name_any());
            pending.insert(
                made.name_any(),
                Starting {
                    mode: *mode,
                    created: Instant::now(),
                    first,
                    phases: Phases::default(),
                },
            );
        }
        let started = Instant::now();
        while !pending.is_empty() {
            let left = settings.ready_timeout.saturating_sub(started.elapsed());
            let next = tokio::time::timeout(left, watch.try_next()).await;
            let pod = match next {
                Ok(Ok(Some(p))) => p,
                Ok(Ok(None)) | Ok(Err(_)) => continue,
                Err(_) => {
                    for (_, p) in pending.drain() {
                        runs.push(Run {
                            mode: p.mode,
                            first_on_node: p.first,
                            outcome: Outcome::Failed {
                                reason: format!("not Ready within {} s", settings.ready_timeout.as_secs()),
                            },
                        });
                    }
                    break;
                }
            };
            let name = pod.name_any();
            let Some(entry) = pending.get_mut(&name) else { continue };
            let since = entry.created.elapsed().as_secs_f64();
            if entry.phases.scheduled.is_none() && condition_true(&pod, "PodScheduled") {
                entry.phases.scheduled = Some(since);
            }
            if entry.phases.started.is_none() && containers_running(&pod) {
                entry.phases.started = Some(since);
            }
            if let Some(verdict) = judge(&pod) {
                let p = pending.remove(&name).expect("present");
                runs.push(Run {
                    mode: p.mode,
                    first_on_node: p.first,
                    outcome: match verdict {
                        Ok(()) => Outcome::Ready {
                            seconds: since,
                            phases: p.phases,
                        },
                        Err(reason) => Outcome::Failed { reason },
                    },
                });
            }
        }
        // This batch's pods go before the next starts; what is left is the caller's to remove.
        let done = created.split_off(batch_start);
        for (i, name) in done.iter().enumerate() {
            if let Err(e) = pods.delete(name, &DeleteParams::default().grace_period(0)).await {
                created.extend(done[i..].iter().cloned());
                return Err(e.into());
            }
        }
    }
    Ok(runs)
}
