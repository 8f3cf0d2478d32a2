//! The reconcile pipeline — observe, decide, build, apply, write status — and the Controller
//! that runs it for every WasmWorkload.

use crate::api::crd::{ExcludedNode, FootprintStatus, Placement, SpillStatus};
use crate::api::crd::{Mode, WasmWorkload, WasmWorkloadStatus};
use crate::api::labels::FIELD_MANAGER;
use crate::api::reason;
use crate::api::stored_workload::StoredWorkload;
use crate::api::views::{CachedDeployment, CachedPod, CachedService, DeploymentView, NamedFor};
use crate::apply::{apply_child, is_invalid, Written};
use crate::context::Context;
use crate::decide::decision::{decide, Decision, WasmEvidence};
use crate::decide::discovery::{nodes_per_runtime_class, resolve, Chosen, Readiness, WorkloadPlacement};
use crate::decide::failure::{detect, node_trouble, pods_refused, Health, PodFailure, SandboxFailure};
use crate::decide::module_fault::module_at_fault;
use crate::decide::node_exclusion;
use crate::decide::spill::{self, ContainerCounts};
use crate::error::Error;
use crate::observe::generation_filter::GenerationFilter;
use crate::observe::watches::{affected, Trigger};
use crate::render::deployment::render_deployment;
use crate::render::drift;
use crate::render::service::render_service;
use crate::render::spill::{render_spill_deployment, spill_deployment_name, wasm_half};
use crate::report::comparison_runs::ComparisonRuns;
use crate::report::events::{self, EventType};
use crate::report::footprint::image_size;
use crate::report::status;
use crate::report::status::Measurements;
use crate::report::status::{compute_status, Spilled, Trouble, READY, ROLLING_OUT};
use futures::channel::mpsc::UnboundedReceiver;
use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A successful reconcile looks again after this long even if nothing changed.
pub const RESYNC: Duration = Duration::from_secs(3600);
/// How often the resync takes its next share of the workloads.
const RESYNC_TICK: Duration = Duration::from_secs(10);

fn now() -> Time {
    // Whole seconds: the API stores no more, so what we compare against is what we wrote.
    let ts = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

/// What a reconcile reads of a workload's world, from the caches.
pub struct Observed {
    pub deployment: Option<CachedDeployment>,
    /// The spill Deployment (placement Spill), or one left from it.
    pub spill: Option<CachedDeployment>,
    pub service: Option<CachedService>,
    pub pods: Vec<Arc<CachedPod>>,
    /// Every node, taken once per reconcile for discovery and image sizes.
    pub nodes: Vec<Arc<Node>>,
}

fn observe(ctx: &Context, ns: &str, name: &str) -> Observed {
    let pod_names = ctx
        .stores
        .pod_index
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .pods_of(ns, name);
    Observed {
        nodes: ctx.stores.nodes.state(),
        deployment: ctx.stores.deployments.get(ns, name),
        spill: ctx.stores.deployments.get(ns, &spill_deployment_name(name)),
        service: ctx.stores.services.get(ns, name),
        pods: pod_names
            .iter()
            .filter_map(|p| ctx.stores.pods.get(ns, p))
            .filter(|p| p.workload.as_deref() == Some(name))
            .collect(),
    }
}

/// Whether a pod has been Ready since it was created, as the pod watch saw it.
fn was_ready(ctx: &Context) -> impl Fn(&CachedPod) -> bool + '_ {
    let tracker = ctx.stores.cold_starts.lock().unwrap_or_else(|e| e.into_inner());
    move |p: &CachedPod| p.metadata.uid.as_deref().is_some_and(|uid| tracker.has_been_ready(uid))
}

/// What the pods of one rollout say (those of `mode`, and of RuntimeClass `rc` in Wasm mode):
/// a failure, or when a pod's startup deadline passes.
fn pod_health(wl: &WasmWorkload, ctx: &Context, observed: &Observed, mode: Mode, rc: Option<&str>) -> Health {
    let pods: Vec<&CachedPod> = observed
        .pods
        .iter()
        .map(Arc::as_ref)
        .filter(|p| p.mode == Some(mode))
        .filter(|p| rc.is_none() || p.spec.as_ref().and_then(|s| s.runtime_class_name.as_deref()) == rc)
        .collect();
    let sandbox = sandbox_failures(wl, ctx, &pods);
    detect(&pods, &sandbox, ctx.clock.now(), startup_timeout(wl), &was_ready(ctx))
}

fn startup_timeout(wl: &WasmWorkload) -> Duration {
    Duration::from_secs(u64::try_from(wl.spec.fallback.startup_timeout_seconds).unwrap_or(60))
}

/// The sandbox failures reported for these pods.
fn sandbox_failures(wl: &WasmWorkload, ctx: &Context, pods: &[&CachedPod]) -> Vec<SandboxFailure> {
    let ns = wl.namespace().unwrap_or_default();
    ctx.stores
        .sandbox_events
        .state()
        .iter()
        .filter(|e| e.involved_object.namespace.as_deref() == Some(ns.as_str()))
        .filter_map(|e| {
            let pod = e.involved_object.name.clone()?;
            pods.iter()
                .any(|p| p.metadata.name.as_deref() == Some(pod.as_str()))
                .then(|| SandboxFailure {
                    pod,
                    message: e.message.clone().unwrap_or_default(),
                })
        })
        .collect()
}

/// How a `placement: Spill` workload running Wasm splits now.
struct SpillPlan {
    stuck: i32,
    status: SpillStatus,
    /// Every exclusion the Wasm Deployment remembers (those on probation too).
    remembered: Vec<ExcludedNode>,
    recheck: Option<Duration>,
}

/// Survey the Wasm pods, keep failing nodes out, and size the spill (decide::spill).
fn spill_plan(wl: &WasmWorkload, ctx: &Context, observed: &Observed, rc: &str) -> SpillPlan {
    let now = ctx.clock.now();
    let settings = wl.spec.spill.clone().unwrap_or_default();
    let secs = |s: i32| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    let hold = secs(settings.hold_seconds);
    let periods = node_exclusion::Periods {
        first: secs(settings.node_exclusion_seconds),
        max: secs(wl.spec.fallback.max_cooldown_seconds),
    };
    let pods: Vec<&CachedPod> = observed
        .pods
        .iter()
        .map(Arc::as_ref)
        .filter(|p| p.mode == Some(Mode::Wasm))
        .collect();
    let sandbox = sandbox_failures(wl, ctx, &pods);
    let ready_before = was_ready(ctx);
    let survey = spill::survey(&pods, &sandbox, now, startup_timeout(wl), hold, &ready_before);
    // A node's own trouble (not Ready, its runtime restarting) is no reason to keep Wasm off
    // it, nor is the module's own failure where other workloads' Wasm pods run. Judging that
    // reads every cached pod: only when a pod failed on a node.
    let mut failed: Vec<PodFailure> = vec![];
    let mut module_fault: Option<(PodFailure, String)> = None;
    if !survey.failed_on_node.is_empty() {
        let all = ctx.stores.pods.values();
        let all: Vec<&CachedPod> = all.iter().map(Arc::as_ref).collect();
        let workload = (wl.namespace().unwrap_or_default(), wl.name_any());
        for f in &survey.failed_on_node {
            if f.pod
                .as_ref()
                .is_some_and(|p| node_trouble(p, &observed.nodes, &all, &ready_before).is_some())
            {
                continue;
            }
            match module_at_fault(f, (&workload.0, &workload.1), rc, &all) {
                Some(why) => {
                    module_fault.get_or_insert((f.clone(), why));
                }
                None => failed.push(f.clone()),
            }
        }
    }
    let before = observed
        .deployment
        .as_ref()
        .and_then(|d| d.excluded.as_deref())
        .unwrap_or(&[]);
    let remembered = node_exclusion::update(before, &failed, now, periods);
    let excluded = node_exclusion::active(&remembered, now);
    let current = observed
        .spill
        .as_ref()
        .map_or(ContainerCounts::default(), |d| ContainerCounts {
            replicas: d.replicas.unwrap_or(0),
            ready: d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0),
        });
    let container_replicas = spill::container_replicas(wl.spec.replicas, survey.counts, current);
    let (reason, message) = match (&module_fault, &survey.first_stuck, container_replicas) {
        (_, _, 0) => (None, None),
        (Some((f, why)), _, _) => (
            Some(reason::MODULE_FAILED.to_string()),
            Some(format!("{why}: {}", f.message)),
        ),
        (None, Some(f), _) => (Some(f.reason.to_string()), Some(f.message.clone())),
        (None, None, _) => (
            Some("Settling".to_string()),
            Some(format!(
                "container pods go as Wasm pods stay Ready for {} s",
                hold.as_secs()
            )),
        ),
    };
    let recheck = [survey.recheck_in, node_exclusion::next_expiry(&excluded, now)]
        .into_iter()
        .flatten()
        .min();
    SpillPlan {
        status: SpillStatus {
            container_replicas,
            reason,
            message,
            excluded_nodes: excluded,
        },
        remembered,
        stuck: survey.counts.stuck,
        recheck,
    }
}

/// What the Wasm pods of the chosen RuntimeClass say, and when to look at them again. A
/// failure the pods' node shares (`node_trouble`) does not count against Wasm.
fn wasm_evidence(
    wl: &WasmWorkload,
    ctx: &Context,
    observed: &Observed,
    chosen: &Chosen,
) -> (WasmEvidence, Option<Duration>) {
    let deployment = observed.deployment.as_ref();
    let remembered = deployment.and_then(|d| d.failure.as_deref().cloned());
    let rc = chosen.candidate.runtime_class.as_str();
    let template_rc = deployment.and_then(|d| d.runtime_class_name.as_deref());
    // Only the pods of a Wasm rollout with this RuntimeClass say anything about it.
    if template_rc != Some(rc) {
        return (
            WasmEvidence {
                remembered,
                failure: None,
                rolled_out: false,
            },
            None,
        );
    }
    let health = pod_health(wl, ctx, observed, Mode::Wasm, Some(rc));
    let failure = health.failure.filter(|f| {
        let Some(failing) = f.pod.as_ref() else { return true };
        let pods = ctx.stores.pods.values();
        let all: Vec<&CachedPod> = pods.iter().map(Arc::as_ref).collect();
        match node_trouble(failing, &observed.nodes, &all, &was_ready(ctx)) {
            Some(why) => {
                tracing::info!(workload = %wl.name_any(), namespace = ?wl.namespace(), failure = %f.message, %why,
                    "a failure of Wasm pods that their node shares: not counted against Wasm");
                false
            }
            None => true,
        }
    });
    (
        WasmEvidence {
            remembered,
            failure,
            rolled_out: deployment.is_some_and(|d| d.rolled_out(wl.spec.replicas)),
        },
        health.recheck_in,
    )
}

/// Why the pods of the mode the workload runs in do not come up, whatever the policy: the
/// Ready condition says it even where the policy keeps the workload in that mode.
fn rollout_trouble(wl: &WasmWorkload, ctx: &Context, observed: &Observed, decision: &Decision) -> Health {
    match decision {
        Decision::Wasm(c) => pod_health(wl, ctx, observed, Mode::Wasm, Some(&c.candidate.runtime_class)),
        Decision::Container { .. } => pod_health(wl, ctx, observed, Mode::Container, None),
        Decision::Pending { .. } | Decision::Invalid { .. } => Health::default(),
    }
}

/// The result of writing one child.
enum ChildWrite<K> {
    /// Already what we want: nothing written.
    Unchanged,
    /// Written; `put_back` when someone else had changed it.
    Written { object: K, put_back: bool },
    /// The API server refused our own object.
    Rejected(String),
}

impl<K> ChildWrite<K> {
    /// The object written (and whether it was put back), nothing, or the refusal as trouble.
    fn into_result(self) -> Result<Option<(K, bool)>, Trouble> {
        match self {
            ChildWrite::Unchanged => Ok(None),
            ChildWrite::Written { object, put_back } => Ok(Some((object, put_back))),
            ChildWrite::Rejected(message) => Err(Trouble {
                reason: reason::CHILD_REJECTED,
                message,
            }),
        }
    }
}

/// A Deployment of this name the operator made for another workload: never taken over.
fn name_taken(child: &str, cached: Option<&CachedDeployment>, expected: NamedFor) -> Option<Trouble> {
    let owner = cached?.named_for.other_owner(child, &expected)?;
    Some(Trouble {
        reason: reason::NAME_TAKEN,
        message: format!("the Deployment {child} belongs to the workload {owner}; rename one of them"),
    })
}

/// One of the workload's Deployments written: the record of what the server now holds and
/// whether another manager's edit was put back, nothing when it was already right, or why not
/// (the name is another workload's, or the API server refused it).
type DeploymentWrite = Result<Option<(CachedDeployment, bool)>, Trouble>;

/// Write one of the workload's Deployments, never one another workload owns.
async fn write_deployment(
    api: &Api<Deployment>,
    name: &str,
    cached: Option<&CachedDeployment>,
    expected: NamedFor,
    desired: Deployment,
) -> Result<DeploymentWrite, Error> {
    if let Some(taken) = name_taken(name, cached, expected) {
        return Ok(Err(taken));
    }
    let written = write_child(api, name, cached, desired).await?.into_result();
    Ok(written.map(|w| w.map(|(object, edited)| (CachedDeployment::from(&DeploymentView::from(&object)), edited))))
}

/// Keep what a Deployment write says: the new record, a put-back to report, or the first trouble.
fn take_write(
    written: DeploymentWrite,
    record: &mut Option<CachedDeployment>,
    put_back: &mut Vec<&'static str>,
    trouble: &mut Option<Trouble>,
) {
    match written {
        Ok(Some((written, edited))) => {
            *record = Some(written);
            if edited {
                put_back.push("Deployment");
            }
        }
        Ok(None) => {}
        Err(t) => {
            trouble.get_or_insert(t);
        }
    }
}

/// Apply a child unless the cached one already is what we want.
async fn write_child<K, C>(api: &Api<K>, name: &str, cached: Option<&C>, mut desired: K) -> Result<ChildWrite<K>, Error>
where
    K: Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    C: drift::CachedChild,
    K::DynamicType: Default,
{
    let what = K::kind(&Default::default()).to_string();
    let serialize = |source| Error::Serialize { what: "child", source };
    drift::stamp(&mut desired, |d| d.meta_mut()).map_err(serialize)?;
    if drift::up_to_date(cached, desired.meta(), || serde_json::to_value(&desired).ok()) {
        return Ok(ChildWrite::Unchanged);
    }
    // Our hash on it, yet fields we set no longer ours: someone else edited it.
    let edited = cached
        .is_some_and(|c| c.spec_hash().is_some() && c.spec_hash() == crate::api::labels::spec_hash(desired.meta()));
    match apply_child(api, name, &desired).await {
        Ok((object, written)) => Ok(ChildWrite::Written {
            object,
            put_back: edited || written == Written::PutBack,
        }),
        Err(Error::Kube(e)) if is_invalid(&e) => {
            Ok(ChildWrite::Rejected(format!("the API server refused the {what}: {e}")))
        }
        Err(e) => Err(e),
    }
}

/// Decide for a workload from the caches; also says when to look again for a pending startup.
pub fn decide_for(wl: &WasmWorkload, ctx: &Context, observed: &Observed) -> (Decision, Option<Duration>) {
    let rcs = &ctx.stores.runtime_classes;
    let lookup = |name: &str| rcs.get(&ObjectRef::new(name));
    let now = ctx.clock.now();
    let readiness = Readiness {
        now,
        grace: ctx.runtimes.not_ready_grace(),
    };
    let discovery = ctx
        .runtimes
        .candidates(&wl.spec.wasm.runtimes, |n| lookup(n).is_some())
        .map(|candidates| {
            let placement = WorkloadPlacement::of(&wl.spec);
            resolve(&candidates, lookup, &observed.nodes, placement, readiness)
        });
    // A node counting only by its readiness grace: look again when the grace ends.
    let grace_ends = discovery.as_ref().ok().and_then(|r| r.recheck_in);
    let mut recheck = None;
    let generation = wl.metadata.generation.unwrap_or(0);
    let decision = decide(&wl.spec, generation, discovery, now, |chosen| {
        // Under Spill a failing Wasm pod is made up for by a container pod, not a fallback.
        if wl.spec.placement == Placement::Spill {
            return WasmEvidence::default();
        }
        let (evidence, again) = wasm_evidence(wl, ctx, observed, chosen);
        recheck = again;
        evidence
    });
    // A fallback cooling down: look again when Wasm is due another try.
    if let Decision::Container { record: Some(r), .. } = &decision {
        let due = Duration::try_from(r.retry_time().duration_since(now)).unwrap_or(Duration::ZERO);
        recheck = Some(recheck.map_or(due, |c: Duration| c.min(due)));
    }
    if let Some(g) = grace_ends {
        recheck = Some(recheck.map_or(g, |c: Duration| c.min(g)));
    }
    (decision, recheck)
}

/// Cold start and footprint of the workload's pods in the mode they run now.
fn measure(wl: &WasmWorkload, ctx: &Context, observed: &Observed, mode: Option<Mode>) -> Measurements {
    let ns = wl.namespace().unwrap_or_default();
    let name = wl.name_any();
    let previous = wl.status.as_ref();
    let cold_start = ctx
        .stores
        .cold_starts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .summary(&ns, &name, previous.and_then(|p| p.cold_start.as_ref()));
    let Some(mode) = mode.filter(|m| *m != Mode::Pending) else {
        return Measurements {
            cold_start,
            footprint: None,
        };
    };
    let pods: Vec<&CachedPod> = observed
        .pods
        .iter()
        .map(Arc::as_ref)
        .filter(|p| p.mode == Some(mode))
        .collect();
    let image_size_bytes = image_size(&pods, &observed.nodes);
    ctx.metrics
        .workloads
        .set_image_size(&ns, &name, mode.as_label(), image_size_bytes);
    let key = (ns.clone(), name.clone(), mode.as_label().to_string());
    let memory_now = ctx
        .stores
        .memory
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .copied();
    // Working sets wiggle on every poll: status follows only changes over 10 %, so it does not churn.
    let memory_before = previous
        .and_then(|p| p.footprint.as_ref())
        .and_then(|f| f.memory_working_set_bytes);
    let memory_working_set_bytes = match (memory_before, memory_now) {
        (Some(before), Some(now)) if (now - before).abs() * 10 <= before => Some(before),
        (_, now) => now,
    };
    let footprint = (image_size_bytes.is_some() || memory_working_set_bytes.is_some()).then_some(FootprintStatus {
        image_size_bytes,
        memory_working_set_bytes,
    });
    Measurements { cold_start, footprint }
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

pub async fn reconcile(stored: Arc<StoredWorkload>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    // The cache keeps the spec and status as text: the typed workload lives for this reconcile.
    let result = match stored.workload() {
        Ok(wl) => reconcile_workload(&wl, &ctx).await,
        Err(source) => Err(Error::Deserialize { source }),
    };
    ctx.metrics
        .observe_reconcile(started.elapsed(), result.as_ref().err().map(Error::category));
    if result.is_ok() {
        ctx.record_success(&ObjectRef::from_obj(stored.as_ref()));
    }
    result
}

async fn reconcile_workload(wl: &WasmWorkload, ctx: &Context) -> Result<Action, Error> {
    let name = wl.name_any();
    let ns = wl.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    if wl.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change()); // garbage collection removes the children
    }

    // Observe.
    let observed = observe(ctx, &ns, &name);

    // Decide.
    let (decision, recheck) = decide_for(wl, ctx, &observed);

    // Build and apply the children.
    let plan = match &decision {
        Decision::Wasm(c) if wl.spec.placement == Placement::Spill => {
            Some(spill_plan(wl, ctx, &observed, &c.candidate.runtime_class))
        }
        _ => None,
    };
    let mut deployment = observed.deployment.clone();
    let mut spill = observed.spill.clone();
    let mut put_back: Vec<&'static str> = vec![];
    let mut trouble: Option<Trouble> = None;
    let desired = render_deployment(wl, &decision).map(|d| match &plan {
        Some(p) => wasm_half(d, &p.status.excluded_nodes, &p.remembered),
        None => d,
    });
    if let Some(desired) = desired {
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        let written = write_deployment(&api, &name, observed.deployment.as_ref(), NamedFor::Workload, desired).await?;
        take_write(written, &mut deployment, &mut put_back, &mut trouble);
        let spill_name = spill_deployment_name(&name);
        match (&decision, &plan) {
            (Decision::Wasm(chosen), Some(p)) => {
                let written = match render_spill_deployment(wl, chosen, p.status.container_replicas) {
                    Some(d) => write_deployment(&api, &spill_name, observed.spill.as_ref(), NamedFor::Spill, d).await?,
                    None => Ok(None),
                };
                take_write(written, &mut spill, &mut put_back, &mut trouble);
            }
            // No spill wanted now: the one left goes once the Deployment runs every pod, so the
            // Ready pods never drop on the way.
            _ if spill.as_ref().is_some_and(|s| s.named_for == NamedFor::Spill)
                && deployment.as_ref().is_some_and(|d| d.rolled_out(wl.spec.replicas)) =>
            {
                api.delete(&spill_name, &DeleteParams::default()).await?;
                spill = None;
            }
            _ => {}
        }
        let mode = decision.mode().map(Mode::as_label).unwrap_or_default();
        let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
        match render_service(wl, mode) {
            Some(desired) => match write_child(&api, &name, observed.service.as_ref(), desired)
                .await?
                .into_result()
            {
                Ok(Some((_, true))) => put_back.push("Service"),
                Ok(_) => {}
                Err(t) => trouble = trouble.or(Some(t)),
            },
            None if observed.service.is_some() => {
                api.delete(&name, &DeleteParams::default()).await?;
            }
            None => {}
        }
    }
    let refused = trouble.is_some();
    let trouble = trouble.or_else(|| {
        // Pods refused at creation first: no pod exists to say anything else.
        pods_refused(deployment.as_ref().and_then(|d| d.refused.as_deref()))
            .or_else(|| pods_refused(spill.as_ref().and_then(|d| d.refused.as_deref())))
            .or_else(|| rollout_trouble(wl, ctx, &observed, &decision).failure)
            .map(|f| Trouble {
                reason: f.reason,
                message: f.message,
            })
    });

    // Status, written only when it changed.
    let measurements = measure(
        wl,
        ctx,
        &observed,
        decision.mode().or(wl.status.as_ref().and_then(|s| s.mode)),
    );
    let spilled = plan.as_ref().map(|p| Spilled {
        deployment: spill.as_ref(),
        status: p.status.clone(),
        stuck: p.stuck,
    });
    let new_status = compute_status(
        wl,
        &decision,
        deployment.as_ref(),
        spilled.as_ref(),
        trouble.as_ref(),
        &now(),
        measurements,
    );
    if wl.status.as_ref() != Some(&new_status) {
        let api: Api<WasmWorkload> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = serde_json::json!({
            "apiVersion": WasmWorkload::api_version(&()),
            "kind": WasmWorkload::kind(&()),
            "status": new_status,
        });
        api.patch_status(&name, &apply_params(), &Patch::Apply(&patch)).await?;
    }
    record_changes(wl, &decision, wl.status.as_ref(), &new_status, ctx).await;
    for child in put_back {
        let note = format!("the {child} {name} was changed by another field manager; put back");
        publish(wl, ctx, EventType::Warning, reason::PUT_BACK, &note).await;
    }

    Ok(match decision {
        // Only the user can mend the spec; its change triggers the next reconcile.
        Decision::Invalid { .. } => Action::await_change(),
        // The API server refuses what we render, or the name is another's: a spec change or an
        // edit of the child is needed.
        _ if refused => Action::await_change(),
        // Wasm pods still starting (or settling, or a node's exclusion ending under Spill): look
        // again when the first deadline passes. Otherwise the next change does, or the
        // staggered resync (observe::resync).
        _ => [recheck, plan.and_then(|p| p.recheck)]
            .into_iter()
            .flatten()
            .min()
            .map_or(Action::await_change(), |r| {
                Action::requeue(r.min(RESYNC) + Duration::from_millis(100))
            }),
    })
}

/// Events and metrics for what changed: a mode switch, or a new reason the workload cannot run.
async fn record_changes(
    wl: &WasmWorkload,
    decision: &Decision,
    old: Option<&WasmWorkloadStatus>,
    new: &WasmWorkloadStatus,
    ctx: &Context,
) {
    let ns = wl.namespace().unwrap_or_default();
    let name = wl.name_any();
    let mode = new.mode.unwrap_or(Mode::Pending);
    match (&new.spill, &new.replicas_by_mode) {
        // Both halves of a spilled workload: the Wasm Deployment's and the spill's.
        (Some(sp), Some(by_mode)) => ctx.metrics.set_replicas(
            &ns,
            &name,
            &[
                (Mode::Wasm.as_label(), wl.spec.replicas, by_mode.wasm.ready_replicas),
                (
                    Mode::Container.as_label(),
                    sp.container_replicas,
                    by_mode.container.ready_replicas,
                ),
            ],
        ),
        _ => ctx
            .metrics
            .set_replicas(&ns, &name, &[(mode.as_label(), wl.spec.replicas, new.ready_replicas)]),
    }

    let switched = old.map(|o| (o.mode, &o.runtime_class_name)) != Some((new.mode, &new.runtime_class_name));
    let switch = match decision {
        Decision::Wasm(c) if switched => Some((
            EventType::Normal,
            "RunningWasm",
            format!(
                "running {} with RuntimeClass {} (runtime {})",
                wl.spec.wasm.image, c.candidate.runtime_class, c.candidate.runtime
            ),
        )),
        Decision::Container { reason, message, .. } if switched => {
            ctx.metrics
                .fallbacks
                .with_label_values(&[ns.as_str(), name.as_str(), reason])
                .inc();
            Some((
                EventType::Warning,
                "FellBack",
                format!("running the fallback image: {message}"),
            ))
        }
        _ => None,
    };
    // Anything that keeps the workload from being Ready, when it first shows or changes: no
    // usable runtime under Never, an invalid spec, a failing rollout, a refused child.
    let old_ready = old.and_then(|o| status::find(o, READY));
    let trouble = status::find(new, READY)
        .filter(|c| c.status == "False" && c.reason != ROLLING_OUT)
        .filter(|n| old_ready.map(|o| (&o.reason, &o.message)) != Some((&n.reason, &n.message)))
        .map(|n| (EventType::Warning, n.reason.as_str(), n.message.clone()));
    let spill = spill_events(wl, old.and_then(|o| o.spill.as_ref()), new.spill.as_ref());
    for (type_, reason, note) in switch.into_iter().chain(trouble).chain(spill) {
        publish(wl, ctx, type_, reason, &note).await;
    }
}

/// Events for a spill that grew or shrank, and for each node newly kept out of Wasm.
fn spill_events(
    wl: &WasmWorkload,
    old: Option<&SpillStatus>,
    new: Option<&SpillStatus>,
) -> Vec<(EventType, &'static str, String)> {
    let Some(new) = new else { return vec![] };
    let before = old.map_or(0, |o| o.container_replicas);
    let mut events = vec![];
    if new.container_replicas != before {
        let why = new.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        events.push((
            EventType::Normal,
            "Spilled",
            format!(
                "{} of {} pods run the fallback image (were {before}){why}",
                new.container_replicas, wl.spec.replicas
            ),
        ));
    }
    // The module, not a node, is at fault: said once when it first shows.
    if new.reason.as_deref() == Some(reason::MODULE_FAILED)
        && old.and_then(|o| o.reason.as_deref()) != new.reason.as_deref()
    {
        events.push((
            EventType::Warning,
            reason::MODULE_FAILED,
            new.message.clone().unwrap_or_default(),
        ));
    }
    for e in &new.excluded_nodes {
        if old.is_none_or(|o| !o.excluded_nodes.iter().any(|b| b.node == e.node)) {
            events.push((
                EventType::Warning,
                "NodeExcluded",
                format!(
                    "Wasm pods are kept off node {} until {}: {}: {}",
                    e.node, e.until, e.reason, e.message
                ),
            ));
        }
    }
    events
}

/// Publish an Event about the workload; a failure to do so is logged, never fatal.
async fn publish(wl: &WasmWorkload, ctx: &Context, type_: EventType, reason: &str, note: &str) {
    let ev = events::build(wl, type_, reason, note, &ctx.instance);
    if let Err(e) = events::publish(&ctx.client, &ev).await {
        tracing::warn!(workload = %wl.name_any(), namespace = ?wl.namespace(), error = %e, "could not publish event");
    }
}

pub fn error_policy(wl: Arc<StoredWorkload>, error: &Error, ctx: Arc<Context>) -> Action {
    // Our own backoff, or longer when the API server asked for it (429 Retry-After).
    let delay = ctx
        .record_failure(ObjectRef::from_obj(wl.as_ref()))
        .max(error.retry_after().unwrap_or_default());
    tracing::warn!(workload = %wl.name_any(), namespace = ?wl.namespace(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// `graceful_shutdown_on` wants a `Sync` future; a boxed one is only `Send`.
struct StopSync(std::sync::Mutex<futures::future::BoxFuture<'static, ()>>);

impl std::future::Future for StopSync {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut fut = self.0.lock().unwrap_or_else(|e| e.into_inner());
        fut.as_mut().poll(cx)
    }
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namespace: Option<String>,
    pub concurrency: u16,
}

/// Run the controller until it is shut down. `ready` is called once every cache has synced.
/// `stop` ends it gracefully (as SIGTERM and Ctrl-C do): reconciles under way finish first.
pub async fn run(
    ctx: Arc<Context>,
    triggers: UnboundedReceiver<Trigger>,
    settings: Settings,
    ready: impl FnOnce(),
    stop: futures::future::BoxFuture<'static, ()>,
) {
    let stores = ctx.stores.clone();
    // Deciding before the caches are full would fall back for runtimes not yet seen.
    let (synced, (), (), ()) = futures::join!(
        futures::future::try_join3(
            stores.runtime_classes.wait_until_ready(),
            stores.nodes.wait_until_ready(),
            stores.sandbox_events.wait_until_ready(),
        ),
        stores.pods.wait_until_ready(),
        stores.deployments.wait_until_ready(),
        stores.services.wait_until_ready(),
    );
    if synced.is_err() {
        tracing::error!("a watch stopped before its first list; not starting the controller");
        return;
    }
    ready();

    let api = crate::observe::watches::scoped::<StoredWorkload>(&ctx.client, settings.namespace.as_deref());
    let (reader, writer) = reflector::store();
    let metrics = ctx.metrics.clone();
    let cold_starts = ctx.stores.cold_starts.clone();
    let generations = Arc::new(GenerationFilter::default());
    let mut comparisons = ComparisonRuns::new(k8s_openapi::jiff::Timestamp::now());
    let seen = generations.clone();
    let primary = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(crate::observe::watches::prune_workload)
        .reflect(writer)
        .inspect(move |ev| match ev {
            Ok(Event::Delete(w)) => {
                let (ns, name) = (w.namespace().unwrap_or_default(), w.name_any());
                metrics.forget_workload(&ns, &name);
                cold_starts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .forget_workload(&ns, &name);
                generations.forget(w);
                comparisons.forget(w);
            }
            // A comparison arrives as a status write, which the generation filter below drops.
            Ok(Event::Apply(w) | Event::InitApply(w)) => {
                if let Some(c) = comparisons.news(w) {
                    metrics.record_comparison(&w.namespace().unwrap_or_default(), &w.name_any(), &c);
                }
            }
            _ => {}
        })
        .applied_objects()
        // Our own status writes do not bump the generation, so they do not come back as work.
        .try_filter(move |w| futures::future::ready(seen.changed(w)));

    let workloads = reader.clone();
    let runtimes = ctx.runtimes.clone();
    let (gauge_stores, gauge_metrics, clock) = (ctx.stores.clone(), ctx.metrics.clone(), ctx.clock.clone());
    let grace = ctx.runtimes.not_ready_grace();
    let update_runtime_nodes = move || {
        let readiness = Readiness {
            now: clock.now(),
            grace,
        };
        let counts = nodes_per_runtime_class(
            &gauge_stores.runtime_classes.state(),
            &gauge_stores.nodes.state(),
            readiness,
        );
        gauge_metrics.set_runtime_nodes(&counts);
    };
    update_runtime_nodes();
    let secondary = triggers.flat_map(move |t| {
        if matches!(t, Trigger::RuntimeClass(_) | Trigger::Nodes) {
            update_runtime_nodes();
        }
        stream::iter(affected(&t, &workloads, &runtimes))
    });

    let resync = crate::observe::resync::staggered(reader.clone(), RESYNC, RESYNC_TICK);
    Controller::for_stream(primary, reader)
        .reconcile_on(stream::select(secondary, resync))
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .shutdown_on_signal()
        .graceful_shutdown_on(StopSync(std::sync::Mutex::new(stop)))
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile request not run");
            }
        })
        .await;
}
