//! The split of a `placement: Spill` workload between its two Deployments. The Wasm Deployment
//! always runs `replicas` pods; the spill Deployment runs the fallback image for those Wasm pods
//! that cannot run. Pure: counts in, a replica count out.
//!
//! The rule, with its hysteresis:
//! - **Out at once.** A Wasm pod the scheduler cannot place (`Unschedulable`) or that failed on
//!   its node (sandbox, crash loop, image pull, startup timeout) is made up for by one container
//!   pod as soon as it is seen: spilling adds capacity and never drops a Ready pod.
//! - **Back slowly.** A container pod is removed only for a Wasm pod that has been Ready for
//!   `spill.holdSeconds` (a Wasm pod that flaps never counts), and only as far as the Ready pods
//!   of both modes stay at `replicas` or more: the Deployment removes not-Ready pods first, then
//!   the surplus over `replicas`, never a Ready pod the total needs.
//! - **No surge of its own.** The spill never runs more container pods than `replicas`, and adds
//!   container pods only up to what the Wasm Deployment lacks; during a shift back to Wasm the
//!   extra pods are the container pods already running, going as Wasm pods settle.
//! - **Scale-down removes container pods first**: with fewer `replicas`, the Wasm Deployment
//!   drops its unscheduled pods first (the ReplicaSet's own order), and the Ready surplus over
//!   the new `replicas` goes from the spill at once.

use crate::api::views::CachedPod;
use crate::decide::failure::{judge, unschedulable, PodFailure, PodState, SandboxFailure};
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// What the Wasm pods (not being deleted) are, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WasmCounts {
    pub pods: i32,
    /// Ready for at least the hold time.
    pub settled: i32,
    /// Cannot run: unschedulable, or failed on their node.
    pub stuck: i32,
}

/// The spill Deployment as it is: its desired pods and those Ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerCounts {
    pub replicas: i32,
    pub ready: i32,
}

/// The container pods the Wasm pods need made up for, with no hold: `replicas` less the Wasm
/// pods that run or may still (pods not created yet count as coming).
pub fn shortfall(replicas: i32, wasm: WasmCounts) -> i32 {
    let r = replicas.max(0);
    let coming = (wasm.pods - wasm.stuck).max(0) + (r - wasm.pods).max(0);
    (r - coming).clamp(0, r)
}

/// The container pods the spill Deployment should run now.
pub fn container_replicas(replicas: i32, wasm: WasmCounts, container: ContainerCounts) -> i32 {
    let r = replicas.max(0);
    let target = shortfall(r, wasm);
    let current = container.replicas.max(0);
    if target >= current {
        return target;
    }
    let ready = container.ready.clamp(0, current);
    let not_ready = current - ready;
    // Ready pods over `replicas`, counting only Wasm pods that have held: those may go.
    let surplus = (wasm.settled.max(0) + ready - r).max(0);
    (current - not_ready - surplus).max(target)
}

/// What the Wasm pods of a `Spill` workload say, at wall-clock `now`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Survey {
    pub counts: WasmCounts,
    /// Why the first stuck pod cannot run.
    pub first_stuck: Option<PodFailure>,
    /// Pods that failed on a node (candidates for excluding it).
    pub failed_on_node: Vec<PodFailure>,
    /// When the next thing changes by time alone: a startup deadline, or a Ready pod settling.
    pub recheck_in: Option<Duration>,
}

fn earliest(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Count the Wasm pods: stuck, settled (Ready since `hold` ago), or coming.
pub fn survey(
    pods: &[&CachedPod],
    sandbox: &[SandboxFailure],
    now: Timestamp,
    startup_timeout: Duration,
    hold: Duration,
    was_ready: &dyn Fn(&CachedPod) -> bool,
) -> Survey {
    let mut s = Survey::default();
    for pod in pods {
        let failure = match judge(pod, sandbox, now, startup_timeout, was_ready) {
            PodState::Deleting => continue,
            PodState::Failed(f) => {
                if f.pod.as_ref().is_some_and(|p| p.node.is_some()) {
                    s.failed_on_node.push(f.clone());
                }
                Some(f)
            }
            PodState::Starting { left } => {
                let stuck = unschedulable(pod);
                if stuck.is_none() {
                    s.recheck_in = earliest(s.recheck_in, left);
                }
                stuck
            }
            PodState::Started => {
                let ready = pod.condition("Ready").filter(|c| c.status == "True");
                if let Some(since) = ready.and_then(|c| c.last_transition_time.as_ref()) {
                    let age = Duration::try_from(now.duration_since(since.0)).unwrap_or(Duration::ZERO);
                    if age >= hold {
                        s.counts.settled += 1;
                    } else {
                        s.recheck_in = earliest(s.recheck_in, hold - age);
                    }
                }
                None
            }
        };
        s.counts.pods += 1;
        if let Some(f) = failure {
            s.counts.stuck += 1;
            s.first_stuck.get_or_insert(f);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::{pod, set_times};
    use proptest::prelude::*;

    fn wasm(pods: i32, settled: i32, stuck: i32) -> WasmCounts {
        WasmCounts { pods, settled, stuck }
    }

    fn ctr(replicas: i32, ready: i32) -> ContainerCounts {
        ContainerCounts { replicas, ready }
    }

    #[test]
    fn stuck_wasm_pods_spill_at_once() {
        // 10 wanted, room for 3 on the shim node: 7 Pending.
        assert_eq!(container_replicas(10, wasm(10, 0, 7), ctr(0, 0)), 7);
        // Pods not created yet are coming, not stuck.
        assert_eq!(container_replicas(10, wasm(4, 0, 0), ctr(0, 0)), 0);
    }

    #[test]
    fn container_pods_go_only_for_settled_wasm_pods() {
        // All 10 Wasm pods scheduled now, none Ready for the hold time yet: keep all 7.
        assert_eq!(container_replicas(10, wasm(10, 3, 0), ctr(7, 7)), 7);
        // Five settled: two container pods may go (3 + 5... 5 + 7 - 10 = 2).
        assert_eq!(container_replicas(10, wasm(10, 5, 0), ctr(7, 7)), 5);
        assert_eq!(container_replicas(10, wasm(10, 10, 0), ctr(7, 7)), 0);
    }

    #[test]
    fn not_ready_container_pods_go_first() {
        assert_eq!(container_replicas(10, wasm(10, 3, 0), ctr(7, 2)), 2);
    }

    #[test]
    fn scale_down_removes_container_pods_first() {
        // 10 -> 4 with 3 Wasm pods settled and 7 container pods Ready: the Wasm Deployment drops
        // to 4 (its unscheduled pod among them, stuck), the spill keeps only what makes 4.
        assert_eq!(container_replicas(4, wasm(4, 3, 1), ctr(7, 7)), 1);
        assert_eq!(container_replicas(0, wasm(0, 0, 0), ctr(7, 7)), 0);
    }

    fn ready_pod(name: &str, created: i64, ready: i64) -> CachedPod {
        let mut p = pod(name, "hello", "wasm", true, true, true);
        set_times(&mut p, created, ready);
        p
    }

    #[test]
    fn survey_counts_settled_stuck_and_says_when_to_look_again() {
        let settled = ready_pod("a", 100, 110);
        let fresh = ready_pod("b", 100, 190);
        let mut pending = pod("c", "hello", "wasm", false, false, false);
        set_times(&mut pending, 100, 0);
        pending.status.as_mut().unwrap().unschedulable = Some("0/4 nodes are available: 1 Insufficient cpu.".into());
        let mut gone = ready_pod("d", 100, 110);
        gone.metadata.deletion_timestamp = settled.metadata.creation_timestamp.clone();
        let now = Timestamp::from_second(200).unwrap();
        let s = survey(
            &[&settled, &fresh, &pending, &gone],
            &[],
            now,
            Duration::from_secs(600),
            Duration::from_secs(60),
            &|_| false,
        );
        assert_eq!(s.counts, wasm(3, 1, 1));
        assert_eq!(
            s.first_stuck.unwrap().message,
            "pod c: 0/4 nodes are available: 1 Insufficient cpu."
        );
        assert!(s.failed_on_node.is_empty(), "an unschedulable pod is on no node");
        assert_eq!(s.recheck_in, Some(Duration::from_secs(50)), "when b settles");
    }

    /// A state of the two Deployments: replicas, Wasm pods (settled <= ready <= pods, stuck <=
    /// pods - ready), container pods (ready <= replicas).
    fn state() -> impl Strategy<Value = (i32, WasmCounts, i32, ContainerCounts)> {
        (0..40i32, 0..40i32, 0..40i32).prop_flat_map(|(r, pods, c)| {
            (0..=pods, 0..=c).prop_flat_map(move |(ready, c_ready)| {
                (0..=ready, 0..=(pods - ready))
                    .prop_map(move |(settled, stuck)| (r, wasm(pods, settled, stuck), ready, ctr(c, c_ready)))
            })
        })
    }

    proptest! {
        /// The spill never exceeds `replicas`, and adds no container pod while there is a
        /// surplus: Wasm pods that may run plus container pods stay at most `replicas` or what ran.
        #[test]
        fn never_more_than_replicas_nor_a_surge_of_its_own((r, w, _ready, c) in state()) {
            let n = container_replicas(r, w, c);
            prop_assert!(n >= 0 && n <= r.max(0));
            let running_wasm = (w.pods - w.stuck).max(0) + (r - w.pods).max(0);
            prop_assert!(running_wasm.min(r) + n <= r.max(running_wasm.min(r) + c.replicas));
        }

        /// What the Wasm Deployment lacks is always made up for.
        #[test]
        fn the_shortfall_is_always_covered((r, w, _ready, c) in state()) {
            prop_assert!(container_replicas(r, w, c) >= shortfall(r, w));
        }

        /// Removing container pods (not-Ready ones first, as the ReplicaSet does) never takes
        /// the Ready pods of both modes below what is Ready now, or below `replicas` when more.
        #[test]
        fn never_drops_ready_pods_during_a_shift((r, w, wasm_ready, c) in state()) {
            let n = container_replicas(r, w, c);
            let removed = (c.replicas - n).max(0);
            let ready_removed = (removed - (c.replicas - c.ready)).max(0);
            let before = wasm_ready + c.ready;
            let after = before - ready_removed;
            prop_assert!(after >= before.min(r), "{before} Ready -> {after} (replicas {r}, spill {n})");
        }

        /// Once every Wasm pod runs and has held, the spill empties: no pods left behind.
        #[test]
        fn settles_back_to_wasm(r in 0..40i32, c in 0..40i32) {
            let n = container_replicas(r, wasm(r, r, 0), ctr(c, c));
            prop_assert_eq!(n, 0);
        }
    }
}
