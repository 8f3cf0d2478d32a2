//! Events and metrics for what changed in a reconcile: a mode switch, a new reason the workload
//! cannot run, a spill that grew or shrank, a node newly kept out of Wasm.

use crate::api::crd::{Mode, SpillStatus, WasmWorkload, WasmWorkloadStatus};
use crate::api::reason;
use crate::decide::decision::Decision;
use crate::report::events::EventType;
use crate::report::sink::Sink;
use crate::report::status::{self, READY, ROLLING_OUT};
use kube::ResourceExt;

/// Events and metrics for what changed: a mode switch, or a new reason the workload cannot run.
pub async fn record_changes(
    wl: &WasmWorkload,
    decision: &Decision,
    old: Option<&WasmWorkloadStatus>,
    new: &WasmWorkloadStatus,
    sink: &Sink<'_>,
) {
    let ns = wl.namespace().unwrap_or_default();
    let name = wl.name_any();
    let mode = new.mode.unwrap_or(Mode::Pending);
    match (&new.spill, &new.replicas_by_mode) {
        // Both halves of a spilled workload: the Wasm Deployment's and the spill's.
        (Some(sp), Some(by_mode)) => sink.metrics.set_replicas(
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
        _ => sink
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
            sink.metrics
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
        sink.publish(wl, type_, reason, &note).await;
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
