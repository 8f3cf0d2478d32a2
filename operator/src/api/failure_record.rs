//! The Wasm failure a fallback remembers, as an annotation on the workload's Deployment: which
//! spec generation failed with which RuntimeClass, while how many nodes were usable, how many
//! times in a row, and when Wasm is tried again. It keeps the `OnFailure` fallback in place
//! until the spec or the usable runtimes change or its cooldown ends; while Wasm is tried again
//! it stays on the Deployment, so a failure of that try doubles the cooldown.

use crate::api::reason;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Annotation on the Deployment that carries the `FailureRecord` of a fallback.
pub const FAILURE_ANNOTATION: &str = "wasm-operator.dev/wasm-failure";

/// The remembered verdict: which spec generation failed with which RuntimeClass, while how
/// many nodes were usable. A new generation or a change in usable runtimes gives Wasm another
/// try at once; otherwise it is tried again at `retry_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    pub generation: i64,
    pub runtime_class: String,
    pub usable_nodes: usize,
    pub reason: String,
    pub message: String,
    /// Failures of Wasm in a row (each try after a cooldown that failed again counts).
    #[serde(default = "one")]
    pub failures: u32,
    /// When Wasm is tried again (Unix seconds). Absent in records of older versions: due now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<i64>,
}

fn one() -> u32 {
    1
}

/// The cooldown after the `failures`-th failure in a row: `first`, doubled for each failure
/// before it, at most `max`.
pub fn cooldown(failures: u32, first: SignedDuration, max: SignedDuration) -> SignedDuration {
    let doublings = failures.saturating_sub(1).min(30);
    let secs = first.as_secs().saturating_mul(1_i64 << doublings);
    SignedDuration::from_secs(secs).min(max).max(first.min(max))
}

impl FailureRecord {
    /// Whether the record still holds for this generation and runtime availability.
    pub fn holds(&self, generation: i64, runtime_class: &str, usable_nodes: usize) -> bool {
        self.generation == generation && self.runtime_class == runtime_class && self.usable_nodes == usable_nodes
    }

    /// When Wasm is tried again.
    pub fn retry_time(&self) -> Timestamp {
        self.retry_at
            .and_then(|s| Timestamp::from_second(s).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Whether the cooldown is still running at `now`.
    pub fn cooling_down(&self, now: Timestamp) -> bool {
        now < self.retry_time()
    }

    /// Parse the record from a Deployment's annotations; a malformed one is ignored.
    pub fn from_annotations(annotations: Option<&std::collections::BTreeMap<String, String>>) -> Option<Self> {
        serde_json::from_str(annotations?.get(FAILURE_ANNOTATION)?).ok()
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The bounded reason category of the record (unknown text maps to a fixed label).
    pub fn reason_category(&self) -> &'static str {
        reason::FALLBACK_REASONS
            .iter()
            .find(|r| **r == self.reason)
            .copied()
            .unwrap_or(reason::WASM_FAILED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> FailureRecord {
        FailureRecord {
            generation: 3,
            runtime_class: "spin".into(),
            usable_nodes: 2,
            reason: "CrashLoopBackOff".into(),
            message: "m".into(),
            failures: 2,
            retry_at: Some(1_000),
        }
    }

    #[test]
    fn records_hold_until_generation_or_runtimes_change() {
        let r = record();
        assert!(r.holds(3, "spin", 2));
        assert!(!r.holds(4, "spin", 2), "spec changed");
        assert!(!r.holds(3, "wasmtime", 2), "another runtime is now first");
        assert!(!r.holds(3, "spin", 3), "a node joined");
        let ann = std::collections::BTreeMap::from([(FAILURE_ANNOTATION.to_string(), r.to_annotation())]);
        assert_eq!(FailureRecord::from_annotations(Some(&ann)), Some(r.clone()));
        let junk = std::collections::BTreeMap::from([(FAILURE_ANNOTATION.to_string(), "{".to_string())]);
        assert_eq!(FailureRecord::from_annotations(Some(&junk)), None);
        assert_eq!(r.reason_category(), "CrashLoopBackOff");
    }

    #[test]
    fn the_cooldown_runs_until_retry_at() {
        let r = record();
        assert!(r.cooling_down(Timestamp::from_second(999).unwrap()));
        assert!(!r.cooling_down(Timestamp::from_second(1_000).unwrap()));
    }

    #[test]
    fn a_record_of_an_older_version_is_one_failure_due_now() {
        let old = r#"{"generation":3,"runtimeClass":"spin","usableNodes":2,"reason":"SandboxFailed","message":"m"}"#;
        let ann = std::collections::BTreeMap::from([(FAILURE_ANNOTATION.to_string(), old.to_string())]);
        let r = FailureRecord::from_annotations(Some(&ann)).unwrap();
        assert_eq!((r.failures, r.retry_at), (1, None));
        assert!(!r.cooling_down(Timestamp::now()));
    }

    #[test]
    fn the_cooldown_doubles_with_each_failure_up_to_the_cap() {
        let (first, max) = (SignedDuration::from_secs(300), SignedDuration::from_secs(3600));
        let secs: Vec<i64> = (1..=6).map(|n| cooldown(n, first, max).as_secs()).collect();
        assert_eq!(secs, [300, 600, 1200, 2400, 3600, 3600]);
        assert_eq!(cooldown(0, first, max).as_secs(), 300);
        assert_eq!(cooldown(u32::MAX, first, max).as_secs(), 3600, "no overflow");
        assert_eq!(
            cooldown(1, SignedDuration::from_secs(600), SignedDuration::from_secs(60)).as_secs(),
            60,
            "the cap wins"
        );
    }
}
