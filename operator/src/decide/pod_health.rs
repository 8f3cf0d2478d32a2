//! What a workload's pods say: for `OnFailure`, the evidence about the Wasm pods of the chosen
//! RuntimeClass; for every policy, why the pods of the mode it runs in do not come up. Pure.

use crate::api::crd::{Mode, WasmWorkload};
use crate::api::views::CachedPod;
use crate::decide::decision::{Decision, WasmEvidence};
use crate::decide::discovery::Chosen;
use crate::decide::failure::{detect, node_trouble, Health};
use crate::decide::observed::Observed;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::time::Duration;

pub fn startup_timeout(wl: &WasmWorkload) -> Duration {
    Duration::from_secs(u64::try_from(wl.spec.fallback.startup_timeout_seconds).unwrap_or(60))
}

/// What the pods of one rollout say (those of `mode`, and of RuntimeClass `rc` in Wasm mode):
/// a failure, or when a pod's startup deadline passes.
fn pod_health(wl: &WasmWorkload, observed: &Observed, mode: Mode, rc: Option<&str>, now: Timestamp) -> Health {
    let pods: Vec<&CachedPod> = observed
        .pods_of(mode)
        .into_iter()
        .filter(|p| rc.is_none() || p.spec.as_ref().and_then(|s| s.runtime_class_name.as_deref()) == rc)
        .collect();
    let sandbox = observed.sandbox_of(&pods);
    detect(&pods, &sandbox, now, startup_timeout(wl), &|p| observed.was_ready(p))
}

/// What the Wasm pods of the chosen RuntimeClass say, and when to look at them again. A
/// failure the pods' node shares (`node_trouble`) does not count against Wasm.
pub fn wasm_evidence(
    wl: &WasmWorkload,
    observed: &Observed,
    chosen: &Chosen,
    now: Timestamp,
) -> (WasmEvidence, Option<Duration>) {
    let deployment = observed.deployment.as_ref();
    let remembered = deployment.and_then(|d| d.failure.as_deref().cloned());
    let rc = chosen.candidate.runtime_class.as_str();
    let template_rc = deployment.and_then(|d| d.runtime_class_name.as_deref());
    // Only the pods of a Wasm rollout with this RuntimeClass say anything about it.
    if template_rc != Some(rc) {
        let evidence = WasmEvidence {
            remembered,
            failure: None,
            rolled_out: false,
        };
        return (evidence, None);
    }
    let health = pod_health(wl, observed, Mode::Wasm, Some(rc), now);
    let failure = health.failure.filter(|f| {
        let Some(failing) = f.pod.as_ref() else { return true };
        let pods = observed.pods_on_nodes();
        match node_trouble(failing, &observed.nodes, &pods, &|p| observed.was_ready(p)) {
            Some(why) => {
                tracing::info!(workload = %wl.name_any(), namespace = ?wl.namespace(), failure = %f.message, %why,
                    "a failure of Wasm pods that their node shares: not counted against Wasm");
                false
            }
            None => true,
        }
    });
    let evidence = WasmEvidence {
        remembered,
        failure,
        rolled_out: deployment.is_some_and(|d| d.rolled_out(wl.spec.replicas)),
    };
    (evidence, health.recheck_in)
}

/// Why the pods of the mode the workload runs in do not come up, whatever the policy: the
/// Ready condition says it even where the policy keeps the workload in that mode.
pub fn rollout_trouble(wl: &WasmWorkload, observed: &Observed, decision: &Decision, now: Timestamp) -> Health {
    match decision {
        Decision::Wasm(c) => pod_health(wl, observed, Mode::Wasm, Some(&c.candidate.runtime_class), now),
        Decision::Container { .. } => pod_health(wl, observed, Mode::Container, None, now),
        Decision::Pending { .. } | Decision::Invalid { .. } => Health::default(),
    }
}
