//! Which nodes the Wasm pods of a `placement: Spill` workload are kept off. A node where a Wasm
//! pod failed to start — its sandbox could not be made (the shim is missing there), its
//! container crash-loops or cannot pull, or it was not Ready within `startupTimeoutSeconds` —
//! is excluded for `spill.nodeExclusionSeconds`, then tried again. The entry is remembered for
//! as long again (on probation): a node that fails again then is kept out twice as long as the
//! last time, up to a cap, as the fallback's cooldown does. A failure the node shares with
//! every pod (not Ready, its runtime restarting) or that is the module's own
//! (`module_fault`) is not judged here: the caller leaves those out. Pure.

use crate::api::crd::ExcludedNode;
use crate::api::failure_record::cooldown;
use crate::api::time::rfc3339;
use crate::decide::failure::PodFailure;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// At most this many nodes are listed: the annotation and the affinity stay small.
pub const MAX_EXCLUDED: usize = 64;

/// How long exclusions last: the first, and the cap of the doubling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Periods {
    pub first: Duration,
    pub max: Duration,
}

impl Periods {
    /// The length of the `exclusions`-th exclusion in a row.
    fn length(&self, exclusions: i32) -> SignedDuration {
        let secs = |d: Duration| SignedDuration::from_secs(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        cooldown(
            u32::try_from(exclusions.max(1)).unwrap_or(1),
            secs(self.first),
            secs(self.max.max(self.first)),
        )
    }
}

fn until(e: &ExcludedNode) -> Option<Timestamp> {
    e.until.parse().ok()
}

/// When the entry is forgotten: its exclusion's end plus as long again.
fn probation_end(e: &ExcludedNode, periods: Periods) -> Option<Timestamp> {
    until(e)?.checked_add(periods.length(e.exclusions)).ok()
}

/// What the workload remembers after this look: exclusions running, those on probation, and
/// the nodes of `failed` pods, sorted by node so the same inputs render the same. A failure
/// on a node on probation counts only for a pod created after its exclusion ended (a new try).
pub fn update(current: &[ExcludedNode], failed: &[PodFailure], now: Timestamp, periods: Periods) -> Vec<ExcludedNode> {
    let mut next: Vec<ExcludedNode> = current
        .iter()
        .filter(|e| probation_end(e, periods).is_some_and(|end| end > now))
        .cloned()
        .collect();
    for f in failed {
        let Some(pod) = f.pod.as_ref() else { continue };
        let Some(node) = pod.node.as_deref() else { continue };
        let exclude = |exclusions: i32| ExcludedNode {
            node: node.to_string(),
            reason: f.reason.to_string(),
            message: f.message.clone(),
            until: rfc3339(now.checked_add(periods.length(exclusions)).unwrap_or(now)),
            exclusions,
        };
        let full = next.len() >= MAX_EXCLUDED;
        match next.iter_mut().find(|e| e.node == node) {
            // Still kept out: pods that failed before say nothing new.
            Some(e) if until(e).is_none_or(|u| u > now) => {}
            Some(e) if pod.created.is_some_and(|c| until(e).is_some_and(|u| c < u)) => {}
            Some(e) => *e = exclude(e.exclusions.saturating_add(1)),
            None if !full => next.push(exclude(1)),
            None => {}
        }
    }
    next.sort_by(|a, b| a.node.cmp(&b.node));
    next
}

/// The nodes kept out now (the others remembered are on probation).
pub fn active(remembered: &[ExcludedNode], now: Timestamp) -> Vec<ExcludedNode> {
    remembered
        .iter()
        .filter(|e| until(e).is_some_and(|u| u > now))
        .cloned()
        .collect()
}

/// When the first exclusion ends: the Wasm Deployment is rendered again then.
pub fn next_expiry(excluded: &[ExcludedNode], now: Timestamp) -> Option<Duration> {
    excluded
        .iter()
        .filter_map(until)
        .filter(|u| *u > now)
        .map(|u| Duration::try_from(u.duration_since(now)).unwrap_or(Duration::ZERO))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::reason;
    use crate::decide::failure::FailingPod;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn failed_on(node: Option<&str>) -> PodFailure {
        PodFailure {
            reason: reason::SANDBOX_FAILED,
            message: "pod p: no runtime for \"wasmtime\" is configured".into(),
            pod: Some(FailingPod {
                node: node.map(String::from),
                created: None,
            }),
        }
    }

    const PERIODS: Periods = Periods {
        first: Duration::from_secs(900),
        max: Duration::from_secs(3600),
    };

    fn failed_at(node: &str, created: i64) -> PodFailure {
        let mut f = failed_on(Some(node));
        f.pod.as_mut().unwrap().created = Some(at(created));
        f
    }

    #[test]
    fn a_failing_node_is_excluded_for_the_period_then_tried_again() {
        let ex = update(&[], &[failed_on(Some("edge-2")), failed_on(None)], at(1_000), PERIODS);
        assert_eq!(ex.len(), 1, "a failure without a node excludes nothing");
        assert_eq!(ex[0].node, "edge-2");
        assert_eq!(ex[0].reason, "SandboxFailed");
        assert_eq!(ex[0].until, "1970-01-01T00:31:40Z");
        assert_eq!(ex[0].exclusions, 1);
        assert_eq!(next_expiry(&ex, at(1_000)), Some(PERIODS.first));
        // Failing again while excluded does not extend it.
        assert_eq!(update(&ex, &[failed_on(Some("edge-2"))], at(1_500), PERIODS), ex);
        // Over: tried again (not active), remembered for as long again, then forgotten.
        let probation = update(&ex, &[], at(1_900), PERIODS);
        assert_eq!(probation, ex, "remembered on probation");
        assert!(active(&probation, at(1_900)).is_empty(), "no longer kept out");
        assert_eq!(next_expiry(&probation, at(1_900)), None);
        assert!(update(&ex, &[], at(1_900 + 900), PERIODS).is_empty());
    }

    #[test]
    fn a_node_that_fails_again_is_kept_out_twice_as_long_up_to_the_cap() {
        let mut ex = update(&[], &[failed_at("edge-2", 0)], at(1_000), PERIODS);
        let mut now = 1_000;
        let mut lengths = vec![];
        for _ in 0..4 {
            let end: Timestamp = ex[0].until.parse().unwrap();
            lengths.push(end.as_second() - now);
            // Tried again after the exclusion: a new pod fails there within the probation.
            now = end.as_second() + 30;
            ex = update(&ex, &[failed_at("edge-2", now - 20)], at(now), PERIODS);
        }
        assert_eq!(lengths, [900, 1_800, 3_600, 3_600], "doubling, capped");
        assert_eq!(ex[0].exclusions, 5);
        // A pod that failed before the exclusion ended is not a new try.
        let end: Timestamp = ex[0].until.parse().unwrap();
        let later = end.as_second() + 10;
        let old = update(&ex, &[failed_at("edge-2", end.as_second() - 100)], at(later), PERIODS);
        assert_eq!(old, ex, "an old failure is no new exclusion");
    }

    #[test]
    fn sorted_and_bounded() {
        let failed: Vec<PodFailure> = (0..100).rev().map(|i| failed_on(Some(&format!("n{i:03}")))).collect();
        let ex = update(&[], &failed, at(0), PERIODS);
        assert_eq!(ex.len(), MAX_EXCLUDED);
        assert!(ex.windows(2).all(|w| w[0].node < w[1].node));
    }
}
