//! Computes a workload's status from the decision and its Deployment. Pure and deterministic:
//! the same inputs give the same status, and a condition's lastTransitionTime only moves when its
//! status flips, so writing the result again changes nothing.

use crate::api::crd::{
    ColdStartStatus, FootprintStatus, Mode, ModeReplicas, ReplicasByMode, SpillStatus, WasmRetryStatus, WasmWorkload,
    WasmWorkloadStatus,
};
use crate::api::labels;
use crate::api::reason;
use crate::api::views::CachedDeployment;
use crate::decide::decision::Decision;
use crate::decide::discovery::Chosen;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

pub const READY: &str = "Ready";
pub const RUNTIME_RESOLVED: &str = "RuntimeResolved";
pub const PROGRESSING: &str = "Progressing";

/// Reasons of the rollout conditions.
pub const AVAILABLE: &str = "Available";
pub const ROLLING_OUT: &str = "RollingOut";
pub const COMPLETE: &str = "Complete";
/// Placement Spill: container pods serve in place of Wasm pods that cannot run yet.
pub const WAITING_FOR_WASM: &str = "WaitingForWasm";

/// Cold start and footprint as measured now; `None` keeps what status had.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurements {
    pub cold_start: Option<ColdStartStatus>,
    pub footprint: Option<FootprintStatus>,
}

/// Why the workload's pods do not come up (a failing rollout) or its children cannot be written;
/// the Ready condition says it instead of a bare rollout count.
#[derive(Clone, Debug, PartialEq)]
pub struct Trouble {
    pub reason: &'static str,
    pub message: String,
}

/// What the Deployment reports, reduced to what status needs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Rollout {
    replicas: i32,
    ready: i32,
    updated: i32,
    done: bool,
}

fn rollout(deployment: Option<&CachedDeployment>, desired: i32) -> Rollout {
    let Some(d) = deployment else {
        return Rollout::default();
    };
    let st = d.status.clone().unwrap_or_default();
    Rollout {
        replicas: st.replicas.unwrap_or(0),
        ready: st.ready_replicas.unwrap_or(0),
        updated: st.updated_replicas.unwrap_or(0),
        done: d.rolled_out(desired),
    }
}

/// The spill half of a `placement: Spill` workload running Wasm: its Deployment as last seen (or
/// as just applied) and what the spill did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spilled<'a> {
    pub deployment: Option<&'a CachedDeployment>,
    pub status: SpillStatus,
    /// Wasm pods that cannot run (the spill makes up for them).
    pub stuck: i32,
}

/// Both Deployments of a spilled workload as one rollout: done once the Wasm Deployment has
/// seen its spec and the Ready pods of both make `desired`.
fn spill_rollout(wasm: Option<&CachedDeployment>, w: Rollout, spill: &Spilled, c: Rollout, desired: i32) -> Rollout {
    let seen = |d: Option<&CachedDeployment>| {
        d.is_none_or(|d| {
            d.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0) >= d.generation.unwrap_or(0)
        })
    };
    let ready = w.ready + c.ready;
    Rollout {
        // A stuck Wasm pod and the container pod standing in for it are one place: counted
        // twice, an HPA reading the scale subresource would see more pods than serve.
        replicas: w.replicas - spill.stuck.clamp(0, w.replicas) + c.replicas,
        ready,
        updated: w.updated + c.updated,
        done: wasm.is_some() && seen(wasm) && seen(spill.deployment) && ready >= desired,
    }
}

/// Progressing of a spilled workload, each mode on its own: the two Deployments have their own
/// `replicas`, so a sum over the workload's would read "5/3". Complete only once the Wasm half
/// itself has rolled out; while its pods cannot run (no room, a node kept out), it says so.
fn spill_progress(
    wasm: Option<&CachedDeployment>,
    w: Rollout,
    spill: &Spilled,
    c: Rollout,
    desired: i32,
    done: bool,
) -> (bool, &'static str, String) {
    let counts = format!(
        "Wasm {}/{desired} updated, {} ready; container {} updated, {} ready",
        w.updated, w.ready, c.updated, c.ready
    );
    let wasm_done = spill.stuck == 0 && wasm.is_some_and(|d| d.rolled_out(desired));
    if done && wasm_done {
        return (false, COMPLETE, format!("rolled out: {counts}"));
    }
    if spill.stuck > 0 {
        let why = match (&spill.status.reason, &spill.status.message) {
            (Some(r), Some(m)) => format!("{r}: {m}"),
            (Some(r), None) => r.clone(),
            _ => "they cannot run".to_string(),
        };
        return (
            true,
            WAITING_FOR_WASM,
            format!(
                "waiting for {} Wasm pod(s) that cannot run ({why}); container pods stand in: {counts}",
                spill.stuck
            ),
        );
    }
    match (&spill.status.reason, &spill.status.message) {
        // Wasm pods all run; container pods still go, one per settled Wasm pod.
        (Some(r), Some(m)) if spill.status.container_replicas > 0 => (true, ROLLING_OUT, format!("{r}: {m}: {counts}")),
        _ => (true, ROLLING_OUT, counts),
    }
}

/// Which RuntimeClass runs the pods, on how many nodes, and which nodes its label selects that
/// its pods are kept off (their runtime does not report its handler).
fn resolved_message(ch: &Chosen) -> String {
    let mut m = format!(
        "RuntimeClass {} (runtime {}) is usable on {} node(s)",
        ch.candidate.runtime_class, ch.candidate.runtime, ch.usable_nodes
    );
    if !ch.kept_off.is_empty() {
        m.push_str(&format!(
            "; its pods are kept off node(s) {}: labelled for it, their container runtime does not report handler {:?}",
            ch.kept_off.join(", "),
            ch.runtime_class.handler
        ));
    }
    m
}

fn mode_replicas(r: Rollout) -> ModeReplicas {
    ModeReplicas {
        replicas: r.replicas,
        ready_replicas: r.ready,
    }
}

fn condition(type_: &str, ok: bool, reason: &str, message: String, generation: Option<i64>, now: &Time) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Keep the previous lastTransitionTime of a condition whose status did not change.
fn carry_transition_times(previous: &[Condition], mut next: Vec<Condition>) -> Vec<Condition> {
    for c in &mut next {
        if let Some(p) = previous.iter().find(|p| p.type_ == c.type_ && p.status == c.status) {
            c.last_transition_time = p.last_transition_time.clone();
        }
    }
    next
}

/// The status to write. `deployment` is the workload's Deployment as last seen (or as just applied).
pub fn compute_status(
    wl: &WasmWorkload,
    decision: &Decision,
    deployment: Option<&CachedDeployment>,
    spill: Option<&Spilled>,
    trouble: Option<&Trouble>,
    now: &Time,
    measured: Measurements,
) -> WasmWorkloadStatus {
    let empty = WasmWorkloadStatus::default();
    let previous = wl.status.as_ref().unwrap_or(&empty);
    let generation = wl.metadata.generation;
    let desired = wl.spec.replicas;
    let whole = rollout(deployment, desired);
    let spilled = spill.map(|sp| (sp, rollout(sp.deployment, sp.status.container_replicas)));
    let r = spilled.map_or(whole, |(sp, c)| spill_rollout(deployment, whole, sp, c, desired));

    let (mode, runtime_class_name, fallback_reason) = match decision {
        Decision::Wasm(c) => (Mode::Wasm, Some(c.candidate.runtime_class.clone()), None),
        Decision::Container { message, .. } => (Mode::Container, None, Some(message.clone())),
        Decision::Pending { message, .. } => (Mode::Pending, None, Some(message.clone())),
        // An invalid spec changes nothing that runs: report what still runs, if anything.
        Decision::Invalid { .. } if deployment.is_some() => (
            previous.mode.unwrap_or(Mode::Pending),
            previous.runtime_class_name.clone(),
            previous.fallback_reason.clone(),
        ),
        Decision::Invalid { .. } => (Mode::Pending, None, None),
    };

    let c = |t: &str, ok: bool, reason: &str, msg: String| condition(t, ok, reason, msg, generation, now);
    let conditions = match decision {
        Decision::Wasm(_) | Decision::Container { .. } => {
            let resolved = match decision {
                Decision::Wasm(ch) => c(RUNTIME_RESOLVED, true, reason::WASM, resolved_message(ch)),
                _ => c(
                    RUNTIME_RESOLVED,
                    true,
                    reason::CONTAINER,
                    fallback_reason.clone().unwrap_or_default(),
                ),
            };
            let mode_name = match spilled {
                Some((_, c)) => format!("{} wasm, {} container", whole.ready, c.ready),
                None => format!("{} mode", mode.as_label()),
            };
            let ready = if let Some(t) = trouble.filter(|t| !r.done || t.reason == reason::CHILD_REJECTED) {
                c(READY, false, t.reason, t.message.clone())
            } else if r.done {
                c(
                    READY,
                    true,
                    AVAILABLE,
                    format!("{}/{desired} pods ready in {mode_name}", r.ready),
                )
            } else {
                c(
                    READY,
                    false,
                    ROLLING_OUT,
                    format!("{}/{desired} pods ready in {mode_name}", r.ready),
                )
            };
            let progressing = match spilled {
                Some((sp, cr)) => spill_progress(deployment, whole, sp, cr, desired, r.done),
                None if r.done => (false, COMPLETE, "Deployment rolled out".to_string()),
                None => (
                    true,
                    ROLLING_OUT,
                    format!("{}/{desired} pods updated, {} ready", r.updated, r.ready),
                ),
            };
            let progressing = c(PROGRESSING, progressing.0, progressing.1, progressing.2);
            vec![ready, resolved, progressing]
        }
        Decision::Pending { reason, message } | Decision::Invalid { reason, message } => vec![
            c(READY, false, reason, message.clone()),
            c(RUNTIME_RESOLVED, false, reason, message.clone()),
            c(
                PROGRESSING,
                false,
                reason,
                "nothing is rolled out until this is resolved".to_string(),
            ),
        ],
    };

    let wasm_retry = match decision {
        Decision::Container { record: Some(r), .. } => Some(WasmRetryStatus {
            failures: i64::from(r.failures),
            next_attempt: crate::api::time::rfc3339(r.retry_time()),
        }),
        _ => None,
    };
    let in_mode = mode_replicas(whole);
    let replicas_by_mode = match (decision, spilled) {
        (Decision::Wasm(_), Some((_, c))) => Some(ReplicasByMode {
            wasm: in_mode,
            container: mode_replicas(c),
        }),
        (Decision::Wasm(_), None) => Some(ReplicasByMode {
            wasm: in_mode,
            ..Default::default()
        }),
        (Decision::Container { .. }, _) => Some(ReplicasByMode {
            container: in_mode,
            ..Default::default()
        }),
        _ => None,
    };
    WasmWorkloadStatus {
        observed_generation: generation,
        mode: Some(mode),
        runtime_class_name,
        fallback_reason,
        wasm_retry,
        replicas: r.replicas,
        ready_replicas: r.ready,
        replicas_by_mode,
        spill: spill.map(|sp| sp.status.clone()),
        selector: Some(labels::pod_selector(&wl.name_any())),
        cold_start: measured
            .cold_start
            .or_else(|| previous.cold_start.clone())
            .map(|c| ColdStartStatus {
                probe_period_seconds: probe_period(wl),
                ..c
            }),
        footprint: measured.footprint.or_else(|| previous.footprint.clone()),
        // Written by `compare`; kept, or every reconcile would see a status to write.
        comparison: previous.comparison.clone(),
        conditions: carry_transition_times(&previous.conditions, conditions),
    }
}

/// The readiness probe's period (Kubernetes' default 10 s when unset), when there is a probe.
fn probe_period(wl: &WasmWorkload) -> Option<i32> {
    wl.spec.readiness_probe.as_ref().map(|p| p.period_seconds.unwrap_or(10))
}

/// A condition of the status by type.
pub fn find<'a>(status: &'a WasmWorkloadStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::{chosen, workload};
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::jiff::Timestamp;

    /// The status of `wl` running as Wasm with RuntimeClass `spin`, at `secs`.
    fn wasm_status(
        wl: &WasmWorkload,
        deployment: Option<&CachedDeployment>,
        trouble: Option<&Trouble>,
        secs: i64,
    ) -> WasmWorkloadStatus {
        compute_status(
            wl,
            &Decision::Wasm(chosen("spin")),
            deployment,
            None,
            trouble,
            &t(secs),
            Measurements::default(),
        )
    }

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn deployment(generation: i64, observed: i64, replicas: i32, ready: i32, updated: i32) -> CachedDeployment {
        let mut d = CachedDeployment {
            generation: Some(generation),
            ..Default::default()
        };
        d.status = Some(DeploymentStatus {
            observed_generation: Some(observed),
            replicas: Some(replicas),
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            ..Default::default()
        });
        d
    }

    #[test]
    fn wasm_rolled_out_is_ready() {
        let wl = workload("hello", "demo");
        let s = wasm_status(&wl, Some(&deployment(3, 3, 2, 2, 2)), None, 100);
        assert_eq!(s.mode, Some(Mode::Wasm));
        assert_eq!(s.runtime_class_name.as_deref(), Some("spin"));
        assert_eq!((s.replicas, s.ready_replicas), (2, 2));
        assert_eq!(s.selector.as_deref(), Some("wasm-operator.dev/workload=hello"));
        assert_eq!(s.observed_generation, Some(1));
        let ready = find(&s, READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", AVAILABLE));
        assert_eq!(ready.message, "2/2 pods ready in wasm mode");
        assert_eq!(find(&s, RUNTIME_RESOLVED).unwrap().reason, "Wasm");
        assert_eq!(find(&s, PROGRESSING).unwrap().status, "False");
        assert!(s.conditions.iter().all(|c| c.observed_generation == Some(1)));
    }

    /// A `placement: Spill` workload of 3 running Wasm, its spill Deployment as given.
    fn spilled_status(
        wasm: &CachedDeployment,
        spill: &CachedDeployment,
        sp: SpillStatus,
        stuck: i32,
    ) -> WasmWorkloadStatus {
        let mut wl = workload("hello", "demo");
        wl.spec.replicas = 3;
        let spilled = Spilled {
            deployment: Some(spill),
            status: sp,
            stuck,
        };
        compute_status(
            &wl,
            &Decision::Wasm(chosen("spin")),
            Some(wasm),
            Some(&spilled),
            None,
            &t(100),
            Measurements::default(),
        )
    }

    fn spill_of(replicas: i32, reason: &str, message: &str) -> SpillStatus {
        SpillStatus {
            container_replicas: replicas,
            reason: Some(reason.into()),
            message: Some(message.into()),
            excluded_nodes: vec![],
        }
    }

    /// Each mode against its own Deployment: never "5/3 pods updated".
    #[test]
    fn spill_progress_is_told_per_mode() {
        // 3 Wasm pods updated, 1 Ready; 2 container pods updated and Ready: rolling out.
        let s = spilled_status(
            &deployment(1, 1, 3, 1, 3),
            &deployment(1, 1, 2, 2, 2),
            spill_of(2, "Settling", "container pods go as Wasm pods stay Ready for 60 s"),
            0,
        );
        let p = find(&s, PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_str()), ("True", ROLLING_OUT));
        assert!(
            p.message
                .ends_with("Wasm 3/3 updated, 1 ready; container 2 updated, 2 ready"),
            "{}",
            p.message
        );
        assert!(!p.message.contains("5/3"), "{}", p.message);
    }

    /// Container pods standing in for Wasm pods that cannot run: Ready (the pods serve), yet
    /// not Complete, and Progressing says what it waits for.
    #[test]
    fn spill_waiting_for_wasm_pods_that_cannot_run_is_not_complete() {
        let s = spilled_status(
            &deployment(1, 1, 3, 1, 3),
            &deployment(1, 1, 2, 2, 2),
            spill_of(
                2,
                "Unschedulable",
                "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector.",
            ),
            2,
        );
        assert_eq!(find(&s, READY).unwrap().status, "True", "3 pods serve");
        let p = find(&s, PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_str()), ("True", WAITING_FOR_WASM));
        assert!(
            p.message.starts_with(
                "waiting for 2 Wasm pod(s) that cannot run (Unschedulable: 0/2 nodes are available: 1 Insufficient cpu"
            ),
            "{}",
            p.message
        );
        assert!(p
            .message
            .ends_with("Wasm 3/3 updated, 1 ready; container 2 updated, 2 ready"));
    }

    #[test]
    fn spill_complete_once_every_wasm_pod_runs() {
        let s = spilled_status(
            &deployment(1, 1, 3, 3, 3),
            &deployment(1, 1, 0, 0, 0),
            SpillStatus::default(),
            0,
        );
        let p = find(&s, PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_str()), ("False", COMPLETE));
        assert_eq!(
            p.message,
            "rolled out: Wasm 3/3 updated, 3 ready; container 0 updated, 0 ready"
        );
    }

    #[test]
    fn stale_or_partial_rollout_is_progressing() {
        let wl = workload("hello", "demo");
        for d in [
            deployment(4, 3, 2, 2, 2),
            deployment(3, 3, 3, 2, 2),
            deployment(3, 3, 2, 1, 2),
        ] {
            let s = wasm_status(&wl, Some(&d), None, 100);
            assert_eq!(find(&s, READY).unwrap().status, "False", "{d:?}");
            assert_eq!(find(&s, PROGRESSING).unwrap().reason, ROLLING_OUT);
        }
    }

    #[test]
    fn container_mode_reports_the_reason() {
        let wl = workload("hello", "demo");
        let d = Decision::Container {
            reason: reason::NO_USABLE_RUNTIME,
            message: "no usable Wasm RuntimeClass (x)".into(),
            record: None,
        };
        let s = compute_status(&wl, &d, None, None, None, &t(5), Measurements::default());
        assert_eq!(s.mode, Some(Mode::Container));
        assert_eq!(s.runtime_class_name, None);
        assert_eq!(s.fallback_reason.as_deref(), Some("no usable Wasm RuntimeClass (x)"));
        let rr = find(&s, RUNTIME_RESOLVED).unwrap();
        assert_eq!((rr.status.as_str(), rr.reason.as_str()), ("True", "Container"));
    }

    #[test]
    fn pending_and_invalid_are_not_ready_with_reason() {
        let wl = workload("hello", "demo");
        let s = compute_status(
            &wl,
            &Decision::Pending {
                reason: reason::NO_USABLE_RUNTIME,
                message: "m".into(),
            },
            None,
            None,
            None,
            &t(5),
            Measurements::default(),
        );
        assert_eq!(s.mode, Some(Mode::Pending));
        let ready = find(&s, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
            ("False", "NoUsableRuntime", "m")
        );

        let mut running = workload("hello", "demo");
        running.status = Some(wasm_status(&running, None, None, 5));
        let invalid = Decision::Invalid {
            reason: reason::UNKNOWN_RUNTIME,
            message: "unknown runtime spim".into(),
        };
        let s = compute_status(
            &running,
            &invalid,
            Some(&deployment(1, 1, 2, 2, 2)),
            None,
            None,
            &t(6),
            Measurements::default(),
        );
        assert_eq!(s.mode, Some(Mode::Wasm), "what runs is still reported");
        assert_eq!(find(&s, READY).unwrap().reason, "UnknownRuntime");
        let s = compute_status(
            &workload("new", "demo"),
            &invalid,
            None,
            None,
            None,
            &t(6),
            Measurements::default(),
        );
        assert_eq!(s.mode, Some(Mode::Pending));
    }

    #[test]
    fn same_inputs_give_the_same_status_and_times_move_only_on_flips() {
        let mut wl = workload("hello", "demo");
        let d = deployment(1, 1, 2, 1, 2);
        let first = wasm_status(&wl, Some(&d), None, 100);
        wl.status = Some(first.clone());
        let again = wasm_status(&wl, Some(&d), None, 200);
        assert_eq!(first, again, "a later pass with nothing new must not change status");

        let done = deployment(1, 1, 2, 2, 2);
        let flipped = wasm_status(&wl, Some(&done), None, 300);
        assert_eq!(find(&flipped, READY).unwrap().last_transition_time, t(300));
        assert_eq!(
            find(&flipped, RUNTIME_RESOLVED).unwrap().last_transition_time,
            t(100),
            "unchanged status keeps its time"
        );
    }

    #[test]
    fn the_cold_start_says_which_probe_period_bounds_it() {
        let mut wl = workload("hello", "demo");
        let measured = || Measurements {
            cold_start: Some(ColdStartStatus {
                last_seconds: 1.2,
                ..Default::default()
            }),
            footprint: None,
        };
        let decision = Decision::Wasm(chosen("spin"));
        let s = compute_status(&wl, &decision, None, None, None, &t(1), measured());
        assert_eq!(s.cold_start.unwrap().probe_period_seconds, None, "no probe, no bound");
        wl.spec.readiness_probe = Some(Box::default());
        let s = compute_status(&wl, &decision, None, None, None, &t(1), measured());
        assert_eq!(
            s.cold_start.as_ref().unwrap().probe_period_seconds,
            Some(10),
            "Kubernetes' default"
        );
        wl.spec.readiness_probe.as_mut().unwrap().period_seconds = Some(2);
        wl.status = Some(s);
        let kept = compute_status(&wl, &decision, None, None, None, &t(2), Measurements::default());
        assert_eq!(
            kept.cold_start.unwrap().probe_period_seconds,
            Some(2),
            "follows the spec"
        );
    }

    #[test]
    fn a_failing_rollout_says_why_in_ready_whatever_the_mode() {
        let wl = workload("hello", "demo");
        let trouble = Trouble {
            reason: reason::IMAGE_PULL_FAILED,
            message: "pod hello-1: ImagePullFailed: not found".into(),
        };
        let rolling = deployment(1, 1, 2, 0, 2);
        for decision in [
            Decision::Wasm(chosen("spin")),
            Decision::Container {
                reason: reason::NO_USABLE_RUNTIME,
                message: "none".into(),
                record: None,
            },
        ] {
            let s = compute_status(
                &wl,
                &decision,
                Some(&rolling),
                None,
                Some(&trouble),
                &t(5),
                Measurements::default(),
            );
            let ready = find(&s, READY).unwrap();
            assert_eq!(
                (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
                ("False", reason::IMAGE_PULL_FAILED, trouble.message.as_str())
            );
        }
        // Once the pods are Ready, a stale pod failure no longer speaks; a refused child still does.
        let done = deployment(1, 1, 2, 2, 2);
        let s = wasm_status(&wl, Some(&done), Some(&trouble), 5);
        assert_eq!(find(&s, READY).unwrap().reason, AVAILABLE);
        let refused = Trouble {
            reason: reason::CHILD_REJECTED,
            message: "the API server refused the Service".into(),
        };
        let s = wasm_status(&wl, Some(&done), Some(&refused), 5);
        assert_eq!(find(&s, READY).unwrap().reason, reason::CHILD_REJECTED);
    }
}
