//! The last step of a reconcile: from the plan and what the apply loop left, the status
//! (written only when it changed), the Events and the metrics.

use crate::api::crd::WasmWorkload;
use crate::api::labels::FIELD_MANAGER;
use crate::api::reason;
use crate::api::views::CachedDeployment;
use crate::decide::failure::pods_refused;
use crate::decide::observed::Observed;
use crate::decide::plan::Plan;
use crate::error::Error;
use crate::report::changes::record_changes;
use crate::report::events::EventType;
use crate::report::measurements::measure;
use crate::report::sink::Sink;
use crate::report::status::{compute_status, Spilled, Trouble};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

/// What the apply loop left.
pub struct Results<'a> {
    /// The workload's Deployment and its spill as the server now holds them.
    pub deployment: Option<&'a CachedDeployment>,
    pub spill: Option<&'a CachedDeployment>,
    /// The first child that could not be written.
    pub refused: Option<&'a Trouble>,
    /// The kinds of the children put back after another manager's edit.
    pub put_back: &'a [&'static str],
}

fn now() -> Time {
    // Whole seconds: the API stores no more, so what we compare against is what we wrote.
    let ts = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

/// Why the workload is not Ready: a child that could not be written, pods refused at creation
/// (no pod exists to say anything else), or a failing rollout.
fn trouble(plan: &Plan, results: &Results<'_>) -> Option<Trouble> {
    results.refused.cloned().or_else(|| {
        pods_refused(results.deployment.and_then(|d| d.refused.as_deref()))
            .or_else(|| pods_refused(results.spill.and_then(|d| d.refused.as_deref())))
            .or_else(|| plan.rollout_failure.clone())
            .map(|f| Trouble {
                reason: f.reason,
                message: f.message,
            })
    })
}

pub async fn report(
    sink: &Sink<'_>,
    wl: &WasmWorkload,
    plan: &Plan,
    observed: &Observed,
    results: Results<'_>,
) -> Result<(), Error> {
    let (ns, name) = (wl.namespace().unwrap_or_default(), wl.name_any());
    let previous = wl.status.as_ref();
    let mode = plan.decision.mode().or(previous.and_then(|s| s.mode));
    let (measurements, image) = measure(observed, previous.and_then(|p| p.footprint.as_ref()), mode);
    if let Some((mode, bytes)) = image {
        sink.metrics
            .workloads
            .set_image_size(&ns, &name, mode.as_label(), bytes);
    }
    let spilled = plan.spill.as_ref().map(|p| Spilled {
        deployment: results.spill,
        status: p.status.clone(),
        stuck: p.stuck,
    });
    let new_status = compute_status(
        wl,
        &plan.decision,
        results.deployment,
        spilled.as_ref(),
        trouble(plan, &results).as_ref(),
        &now(),
        measurements,
    );
    if previous != Some(&new_status) {
        let api: Api<WasmWorkload> = Api::namespaced(sink.client.clone(), &ns);
        let patch = serde_json::json!({
            "apiVersion": WasmWorkload::api_version(&()),
            "kind": WasmWorkload::kind(&()),
            "status": new_status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch_status(&name, &params, &Patch::Apply(&patch)).await?;
    }
    record_changes(wl, &plan.decision, previous, &new_status, sink).await;
    for child in results.put_back {
        let note = format!("the {child} {name} was changed by another field manager; put back");
        sink.publish(wl, EventType::Warning, reason::PUT_BACK, &note).await;
    }
    Ok(())
}
