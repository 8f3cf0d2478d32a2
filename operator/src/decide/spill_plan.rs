//! How a `placement: Spill` workload running Wasm splits now: survey its Wasm pods, keep
//! failing nodes out (not for the node's own trouble, nor for the module's), size the spill.
//! Pure.

use crate::api::crd::{ExcludedNode, Mode, SpillStatus, WasmWorkload};
use crate::api::reason;
use crate::decide::failure::{node_trouble, PodFailure};
use crate::decide::module_fault::module_at_fault;
use crate::decide::node_exclusion;
use crate::decide::observed::Observed;
use crate::decide::pod_health::startup_timeout;
use crate::decide::spill::{self, ContainerCounts};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct SpillPlan {
    /// Wasm pods that cannot run (the spill makes up for them).
    pub stuck: i32,
    pub status: SpillStatus,
    /// Every exclusion the Wasm Deployment remembers (those on probation too).
    pub remembered: Vec<ExcludedNode>,
    pub recheck: Option<Duration>,
}

pub fn spill_plan(wl: &WasmWorkload, observed: &Observed, rc: &str, now: Timestamp) -> SpillPlan {
    let settings = wl.spec.spill.clone().unwrap_or_default();
    let secs = |s: i32| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    let hold = secs(settings.hold_seconds);
    let periods = node_exclusion::Periods {
        first: secs(settings.node_exclusion_seconds),
        max: secs(wl.spec.fallback.max_cooldown_seconds),
    };
    let pods = observed.pods_of(Mode::Wasm);
    let sandbox = observed.sandbox_of(&pods);
    let was_ready = |p: &_| observed.was_ready(p);
    let survey = spill::survey(&pods, &sandbox, now, startup_timeout(wl), hold, &was_ready);
    // A node's own trouble (not Ready, its runtime restarting) is no reason to keep Wasm off
    // it, nor is the module's own failure where other workloads' Wasm pods run.
    let mut failed: Vec<PodFailure> = vec![];
    let mut module_fault: Option<(PodFailure, String)> = None;
    let all = observed.pods_on_nodes();
    let workload = (wl.namespace().unwrap_or_default(), wl.name_any());
    for f in &survey.failed_on_node {
        if f.pod
            .as_ref()
            .is_some_and(|p| node_trouble(p, &observed.nodes, &all, &was_ready).is_some())
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
