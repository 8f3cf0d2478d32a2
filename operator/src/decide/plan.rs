//! The whole decision of one reconcile, from what was observed: the mode and RuntimeClass, what
//! the pods' health says, the Spill split and node exclusions, the trouble to report, and when
//! to look again. Pure: everything it reads is in its arguments.

use crate::api::crd::{Placement, WasmWorkload};
use crate::decide::decision::{decide, Decision, WasmEvidence};
use crate::decide::discovery::{resolve, Readiness, WorkloadPlacement};
use crate::decide::failure::PodFailure;
use crate::decide::observed::Observed;
use crate::decide::pod_health::{rollout_trouble, wasm_evidence};
use crate::decide::runtimes::RuntimeConfig;
use crate::decide::spill_plan::{spill_plan, SpillPlan};
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Plan {
    pub decision: Decision,
    /// How a `placement: Spill` workload running Wasm splits.
    pub spill: Option<SpillPlan>,
    /// Why the pods of the mode the workload runs in do not come up.
    pub rollout_failure: Option<PodFailure>,
    /// When time alone changes something: a startup deadline, a cooldown's end, a node's
    /// readiness grace or exclusion ending, a Ready Wasm pod settling.
    pub recheck: Option<Duration>,
}

impl Plan {
    /// When to reconcile again with nothing changed: not for an invalid spec, nor after a child
    /// was refused or its name is another's (only an edit mends those, and an edit wakes the
    /// workload); otherwise when time alone changes something.
    pub fn look_again(&self, refused: bool) -> Option<Duration> {
        match self.decision {
            Decision::Invalid { .. } => None,
            _ if refused => None,
            _ => self.recheck,
        }
    }
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    [a, b].into_iter().flatten().min()
}

pub fn plan(wl: &WasmWorkload, observed: &Observed, runtimes: &RuntimeConfig, now: Timestamp) -> Plan {
    let lookup = |name: &str| observed.runtime_class(name);
    let readiness = Readiness {
        now,
        grace: runtimes.not_ready_grace(),
    };
    let discovery = runtimes
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
        let (evidence, again) = wasm_evidence(wl, observed, chosen, now);
        recheck = again;
        evidence
    });
    // A fallback cooling down: look again when Wasm is due another try.
    if let Decision::Container { record: Some(r), .. } = &decision {
        let due = Duration::try_from(r.retry_time().duration_since(now)).unwrap_or(Duration::ZERO);
        recheck = earliest(recheck, Some(due));
    }
    let spill = match &decision {
        Decision::Wasm(c) if wl.spec.placement == Placement::Spill => {
            Some(spill_plan(wl, observed, &c.candidate.runtime_class, now))
        }
        _ => None,
    };
    let recheck = earliest(earliest(recheck, grace_ends), spill.as_ref().and_then(|s| s.recheck));
    Plan {
        rollout_failure: rollout_trouble(wl, observed, &decision, now).failure,
        decision,
        spill,
        recheck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::crd::Mode;
    use crate::api::reason;
    use crate::api::views::CachedDeployment;
    use crate::decide::failure::SandboxFailure;
    use crate::tests::fixtures::{node, pod, runtime_class, set_times, workload};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::sync::Arc;

    const NOW: i64 = 100_000;

    fn now() -> Timestamp {
        Timestamp::from_second(NOW).unwrap()
    }

    /// A world with RuntimeClass `spin` (handler `spin`, no selector) on one Ready node.
    fn world() -> Observed {
        Observed {
            nodes: vec![node("n1", &[], true, false, vec![])],
            runtime_classes: vec![Arc::new(runtime_class("spin", None, vec![]))],
            ..Observed::default()
        }
    }

    /// The workload's Deployment as a Wasm rollout of RuntimeClass `spin`.
    fn wasm_deployment() -> Option<CachedDeployment> {
        Some(CachedDeployment {
            runtime_class_name: Some("spin".into()),
            ..CachedDeployment::default()
        })
    }

    /// A Wasm pod of `app` created `age` seconds ago, not Ready.
    fn starting(name: &str, age: i64) -> Arc<crate::api::views::CachedPod> {
        let mut p = pod(name, "app", "wasm", true, false, false);
        set_times(&mut p, NOW - age, 0);
        Arc::new(p)
    }

    fn secs(d: Option<Duration>) -> Option<u64> {
        d.map(|d| d.as_secs())
    }

    #[test]
    fn the_plan_of_each_world() {
        let sandbox = |pod: &str| SandboxFailure {
            pod: pod.into(),
            message: "Failed to create pod sandbox: no runtime for \"spin\" is configured".into(),
        };
        let mut spill = workload("app", "demo");
        spill.spec.placement = Placement::Spill;
        // (what, workload, world, mode, rollout failure reason, recheck in seconds)
        type Case = (
            &'static str,
            WasmWorkload,
            Observed,
            Option<Mode>,
            Option<&'static str>,
            Option<u64>,
        );
        let cases: Vec<Case> = vec![
            (
                "no RuntimeClass of the runtimes: the container, nothing to wait for",
                workload("app", "demo"),
                Observed {
                    nodes: world().nodes,
                    ..Observed::default()
                },
                Some(Mode::Container),
                None,
                None,
            ),
            (
                "a usable RuntimeClass, no pods yet: Wasm",
                workload("app", "demo"),
                world(),
                Some(Mode::Wasm),
                None,
                None,
            ),
            (
                "a Wasm pod starting for 10 s: Wasm, look again when its 60 s deadline passes",
                workload("app", "demo"),
                Observed {
                    deployment: wasm_deployment(),
                    pods: vec![starting("app-1", 10)],
                    ..world()
                },
                Some(Mode::Wasm),
                None,
                Some(50),
            ),
            (
                "OnFailure and a sandbox failure: the container, look again when the 300 s cooldown ends",
                workload("app", "demo"),
                Observed {
                    deployment: wasm_deployment(),
                    pods: vec![starting("app-1", 10)],
                    sandbox: vec![sandbox("app-1")],
                    ..world()
                },
                Some(Mode::Container),
                None,
                Some(300),
            ),
            (
                "Spill and a sandbox failure: Wasm stays, the failure is the rollout's trouble",
                spill.clone(),
                Observed {
                    deployment: wasm_deployment(),
                    pods: vec![starting("app-1", 10)],
                    sandbox: vec![sandbox("app-1")],
                    ..world()
                },
                Some(Mode::Wasm),
                Some(reason::SANDBOX_FAILED),
                None,
            ),
        ];
        for (what, wl, observed, mode, failure, recheck) in cases {
            let p = plan(&wl, &observed, &RuntimeConfig::default(), now());
            assert_eq!(p.decision.mode(), mode, "{what}: {:?}", p.decision);
            assert_eq!(p.rollout_failure.as_ref().map(|f| f.reason), failure, "{what}");
            assert_eq!(secs(p.recheck), recheck, "{what}");
            assert_eq!(p.spill.is_some(), wl.spec.placement == Placement::Spill, "{what}");
        }
    }

    #[test]
    fn only_time_brings_the_next_look_and_never_for_what_an_edit_must_mend() {
        let mut wl = workload("app", "demo");
        let starting = Observed {
            deployment: wasm_deployment(),
            pods: vec![starting("app-1", 10)],
            ..world()
        };
        let p = plan(&wl, &starting, &RuntimeConfig::default(), now());
        assert_eq!(secs(p.look_again(false)), Some(50));
        assert_eq!(p.look_again(true), None, "a refused child waits for an edit");
        wl.spec.fallback.image = None;
        let invalid = plan(&wl, &starting, &RuntimeConfig::default(), now());
        assert!(matches!(invalid.decision, Decision::Invalid { .. }));
        assert_eq!(invalid.look_again(false), None, "an invalid spec waits for an edit");
    }

    #[test]
    fn under_spill_a_failing_wasm_pod_is_made_up_for_by_a_container_pod() {
        let mut wl = workload("app", "demo");
        wl.spec.placement = Placement::Spill;
        let observed = Observed {
            deployment: wasm_deployment(),
            pods: vec![starting("app-1", 10), starting("app-2", 10)],
            sandbox: vec![SandboxFailure {
                pod: "app-1".into(),
                message: "Failed to create pod sandbox".into(),
            }],
            ..world()
        };
        let p = plan(&wl, &observed, &RuntimeConfig::default(), now());
        let spill = p.spill.expect("a spill plan");
        assert_eq!(spill.status.container_replicas, 1);
        assert_eq!(spill.status.reason.as_deref(), Some(reason::SANDBOX_FAILED));
        assert_eq!(spill.stuck, 1);
        // The other pod's startup deadline (60 s after its creation) is the next look.
        assert_eq!(secs(spill.recheck), Some(50));
    }

    #[test]
    fn a_node_within_its_readiness_grace_counts_and_the_plan_looks_again_when_it_ends() {
        let mut n = (*node("n1", &[], false, false, vec![])).clone();
        let since = Time(Timestamp::from_second(NOW - 30).unwrap());
        n.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time = Some(since);
        let observed = Observed {
            nodes: vec![Arc::new(n)],
            ..world()
        };
        let p = plan(&workload("app", "demo"), &observed, &RuntimeConfig::default(), now());
        assert_eq!(p.decision.mode(), Some(Mode::Wasm), "{:?}", p.decision);
        // 120 s of grace, 30 gone.
        assert_eq!(secs(p.recheck), Some(90));
    }
}
