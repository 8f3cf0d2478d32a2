//! Which nodes the Wasm pods of a `placement: Spill` workload are kept off. A node where a Wasm
//! pod failed to start — its sandbox could not be made (the shim is missing there), its
//! container crash-loops or cannot pull, or it was not Ready within `startupTimeoutSeconds` —
//! is excluded for `spill.nodeExclusionSeconds`, then tried again; if it fails again it is
//! excluded again. A failure the node shares with every pod (not Ready, its runtime restarting)
//! is not judged here: the caller leaves those out. Pure.

use crate::api::crd::ExcludedNode;
use crate::decide::failure::PodFailure;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// At most this many nodes are listed: the annotation and the affinity stay small.
pub const MAX_EXCLUDED: usize = 64;

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn until(e: &ExcludedNode) -> Option<Timestamp> {
    e.until.parse().ok()
}

/// The exclusions after this look: those still running, and the nodes of `failed` pods not
/// excluded yet, until `now + period`. Sorted by node, so the same inputs render the same.
pub fn update(current: &[ExcludedNode], failed: &[PodFailure], now: Timestamp, period: Duration) -> Vec<ExcludedNode> {
    let mut next: Vec<ExcludedNode> = current
        .iter()
        .filter(|e| until(e).is_some_and(|u| u > now))
        .cloned()
        .collect();
    let end = now
        .checked_add(SignedDuration::try_from(period).unwrap_or(SignedDuration::ZERO))
        .unwrap_or(now);
    for f in failed {
        let Some(node) = f.pod.as_ref().and_then(|p| p.node.as_deref()) else {
            continue;
        };
        if next.iter().any(|e| e.node == node) || next.len() >= MAX_EXCLUDED {
            continue;
        }
        next.push(ExcludedNode {
            node: node.to_string(),
            reason: f.reason.to_string(),
            message: f.message.clone(),
            until: rfc3339(end),
        });
    }
    next.sort_by(|a, b| a.node.cmp(&b.node));
    next
}

/// When the first exclusion ends: the Wasm Deployment is rendered again then.
pub fn next_expiry(excluded: &[ExcludedNode], now: Timestamp) -> Option<Duration> {
    excluded
        .iter()
        .filter_map(until)
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

    #[test]
    fn a_failing_node_is_excluded_for_the_period_then_tried_again() {
        let period = Duration::from_secs(900);
        let ex = update(&[], &[failed_on(Some("edge-2")), failed_on(None)], at(1_000), period);
        assert_eq!(ex.len(), 1, "a failure without a node excludes nothing");
        assert_eq!(ex[0].node, "edge-2");
        assert_eq!(ex[0].reason, "SandboxFailed");
        assert_eq!(ex[0].until, "1970-01-01T00:31:40Z");
        assert_eq!(next_expiry(&ex, at(1_000)), Some(period));
        // Failing again while excluded does not extend it; once over, it is gone.
        assert_eq!(update(&ex, &[failed_on(Some("edge-2"))], at(1_500), period), ex);
        assert!(update(&ex, &[], at(1_900), period).is_empty());
    }

    #[test]
    fn sorted_and_bounded() {
        let failed: Vec<PodFailure> = (0..100).rev().map(|i| failed_on(Some(&format!("n{i:03}")))).collect();
        let ex = update(&[], &failed, at(0), Duration::from_secs(60));
        assert_eq!(ex.len(), MAX_EXCLUDED);
        assert!(ex.windows(2).all(|w| w[0].node < w[1].node));
    }
}
