//! The reconcile pipeline — observe, decide, build, apply, write status — and the Controller
//! that runs it for every WasmWorkload.

use crate::context::Context;
use crate::crd::{Mode, WasmWorkload, WasmWorkloadStatus};
use crate::decide::{decide, Decision};
use crate::deployment::build_deployment;
use crate::discovery::{resolve, WorkloadPlacement};
use crate::error::Error;
use crate::labels::FIELD_MANAGER;
use crate::service::build_service;
use crate::status::{compute_status, READY};
use crate::watches::{affected, Trigger};
use crate::{drift, status};
use futures::channel::mpsc::UnboundedReceiver;
use futures::{stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{predicates, WatchStreamExt};
use kube::{Api, Resource, ResourceExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A successful reconcile looks again after this long even if nothing changed.
pub const RESYNC: Duration = Duration::from_secs(3600);

fn now() -> Time {
    // Whole seconds: the API stores no more, so what we compare against is what we wrote.
    let ts = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

/// Decide for a workload from the caches.
pub fn decide_for(wl: &WasmWorkload, ctx: &Context) -> Decision {
    let rcs = &ctx.stores.runtime_classes;
    let lookup = |name: &str| rcs.get(&ObjectRef::new(name));
    let discovery = ctx
        .runtimes
        .candidates(&wl.spec.wasm.runtimes, |n| lookup(n).is_some())
        .map(|candidates| {
            let nodes = ctx.stores.nodes.state();
            let scheduling = wl.spec.scheduling.as_ref();
            let placement = WorkloadPlacement {
                node_selector: scheduling.map(|s| &s.node_selector),
                tolerations: scheduling.map(|s| s.tolerations.as_slice()).unwrap_or(&[]),
            };
            resolve(&candidates, lookup, &nodes, placement)
        });
    decide(&wl.spec, discovery)
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

pub async fn reconcile(wl: Arc<WasmWorkload>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_workload(&wl, &ctx).await;
    ctx.metrics
        .observe_reconcile(started.elapsed(), result.as_ref().err().map(Error::category));
    if result.is_ok() {
        ctx.record_success(&ObjectRef::from_obj(wl.as_ref()));
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
    let cached_deployment = ctx.stores.deployments.get(&ObjectRef::new(&name).within(&ns));
    let cached_service = ctx.stores.services.get(&ObjectRef::new(&name).within(&ns));

    // Decide.
    let decision = decide_for(wl, ctx);

    // Build and apply the children.
    let mut deployment = cached_deployment.as_deref().cloned();
    if let Some(mut desired) = build_deployment(wl, &decision) {
        drift::stamp(&mut desired, |d| &mut d.metadata).map_err(|source| Error::Serialize {
            what: "Deployment",
            source,
        })?;
        if !drift::up_to_date(cached_deployment.as_deref(), &desired) {
            let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            deployment = Some(api.patch(&name, &apply_params(), &Patch::Apply(&desired)).await?);
        }
        let mode = decision.mode().map(Mode::as_label).unwrap_or_default();
        let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
        match build_service(wl, mode) {
            Some(mut desired) => {
                drift::stamp(&mut desired, |s| &mut s.metadata).map_err(|source| Error::Serialize {
                    what: "Service",
                    source,
                })?;
                if !drift::up_to_date(cached_service.as_deref(), &desired) {
                    api.patch(&name, &apply_params(), &Patch::Apply(&desired)).await?;
                }
            }
            None if cached_service.is_some() => {
                api.delete(&name, &DeleteParams::default()).await?;
            }
            None => {}
        }
    }

    // Status, written only when it changed.
    let new_status = compute_status(wl, &decision, deployment.as_ref(), &now());
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

    Ok(match decision {
        // Only the user can mend the spec; its change triggers the next reconcile.
        Decision::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(RESYNC),
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
    ctx.metrics.set_replicas(
        &ns,
        &name,
        mode.as_label(),
        i64::from(wl.spec.replicas),
        i64::from(new.ready_replicas),
    );

    let switched = old.map(|o| (o.mode, &o.runtime_class_name)) != Some((new.mode, &new.runtime_class_name));
    let event = match decision {
        Decision::Wasm(c) if switched => Some((
            EventType::Normal,
            "RunningWasm",
            format!(
                "running {} with RuntimeClass {} (runtime {})",
                wl.spec.wasm.image, c.candidate.runtime_class, c.candidate.runtime
            ),
        )),
        Decision::Container { reason, message } if switched => {
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
        Decision::Pending { reason, message } | Decision::Invalid { reason, message } => {
            let old_ready = old.and_then(|o| status::find(o, READY));
            let new_ready = status::find(new, READY);
            let changed = old_ready.map(|c| (&c.reason, &c.message)) != new_ready.map(|c| (&c.reason, &c.message));
            changed.then(|| (EventType::Warning, *reason, message.clone()))
        }
        _ => None,
    };
    if let Some((type_, reason, note)) = event {
        let ev = KubeEvent {
            type_,
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &wl.object_ref(&())).await {
            tracing::warn!(workload = %name, namespace = %ns, error = %e, "could not publish event");
        }
    }
}

pub fn error_policy(wl: Arc<WasmWorkload>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.record_failure(ObjectRef::from_obj(wl.as_ref()));
    tracing::warn!(workload = %wl.name_any(), namespace = ?wl.namespace(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namespace: Option<String>,
    pub concurrency: u16,
}

/// Run the controller until it is shut down. `ready` is called once every cache has synced.
pub async fn run(ctx: Arc<Context>, triggers: UnboundedReceiver<Trigger>, settings: Settings, ready: impl FnOnce()) {
    let stores = ctx.stores.clone();
    let (rc_ready, node_ready, dep_ready, svc_ready) = (
        stores.runtime_classes.wait_until_ready(),
        stores.nodes.wait_until_ready(),
        stores.deployments.wait_until_ready(),
        stores.services.wait_until_ready(),
    );
    // Deciding before the caches are full would fall back for runtimes not yet seen.
    if futures::try_join!(rc_ready, node_ready, dep_ready, svc_ready).is_err() {
        tracing::error!("a watch stopped before its first list; not starting the controller");
        return;
    }
    ready();

    let api = crate::watches::scoped::<WasmWorkload>(&ctx.client, settings.namespace.as_deref());
    let (reader, writer) = reflector::store();
    let metrics = ctx.metrics.clone();
    let primary = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|w: &mut WasmWorkload| w.managed_fields_mut().clear())
        .reflect(writer)
        .inspect(move |ev| {
            if let Ok(Event::Delete(w)) = ev {
                metrics.forget_workload(&w.namespace().unwrap_or_default(), &w.name_any());
            }
        })
        .applied_objects()
        // Our own status writes do not bump the generation, so they do not come back as work.
        .predicate_filter(predicates::generation, Default::default());

    let workloads = reader.clone();
    let runtimes = ctx.runtimes.clone();
    let secondary = triggers.flat_map(move |t| stream::iter(affected(&t, &workloads, &runtimes)));

    Controller::for_stream(primary, reader)
        .reconcile_on(secondary)
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile request not run");
            }
        })
        .await;
}
