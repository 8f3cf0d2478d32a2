//! The Wasm failure a fallback remembers, as an annotation on the workload's Deployment: which
//! spec generation failed with which RuntimeClass, while how many nodes were usable. It keeps
//! the `OnFailure` fallback sticky until the spec or the usable runtimes change.

use crate::api::reason;
use serde::{Deserialize, Serialize};

/// Annotation on the Deployment that carries the `FailureRecord` of a fallback.
pub const FAILURE_ANNOTATION: &str = "wasm-operator.dev/wasm-failure";

/// The remembered verdict: which spec generation failed with which RuntimeClass, while how
/// many nodes were usable. A new generation or a change in usable runtimes gives Wasm another try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    pub generation: i64,
    pub runtime_class: String,
    pub usable_nodes: usize,
    pub reason: String,
    pub message: String,
}

impl FailureRecord {
    /// Whether the record still holds for this generation and runtime availability.
    pub fn holds(&self, generation: i64, runtime_class: &str, usable_nodes: usize) -> bool {
        self.generation == generation && self.runtime_class == runtime_class && self.usable_nodes == usable_nodes
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

    #[test]
    fn records_hold_until_generation_or_runtimes_change() {
        let r = FailureRecord {
            generation: 3,
            runtime_class: "spin".into(),
            usable_nodes: 2,
            reason: "CrashLoopBackOff".into(),
            message: "m".into(),
        };
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
}
