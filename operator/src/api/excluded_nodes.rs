//! The nodes kept out of a workload's Wasm pods under `placement: Spill`, as an annotation on
//! its Deployment: JSON of the same entries `status.spill.excludedNodes` shows. The Deployment
//! renders them as node affinity, so they live and go with it.

use crate::api::crd::ExcludedNode;
use std::collections::BTreeMap;

/// Annotation on the Wasm Deployment listing the excluded nodes.
pub const EXCLUDED_NODES_ANNOTATION: &str = "wasm-operator.dev/excluded-nodes";

/// The excluded nodes an annotation map carries; `None` when it carries none or none we can read.
pub fn excluded_nodes(annotations: Option<&BTreeMap<String, String>>) -> Option<Vec<ExcludedNode>> {
    let text = annotations?.get(EXCLUDED_NODES_ANNOTATION)?;
    serde_json::from_str::<Vec<ExcludedNode>>(text)
        .ok()
        .filter(|v| !v.is_empty())
}

/// The annotation value for these nodes.
pub fn to_annotation(nodes: &[ExcludedNode]) -> String {
    serde_json::to_string(nodes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_what_it_cannot_read() {
        let nodes = vec![ExcludedNode {
            node: "edge-1".into(),
            reason: "SandboxFailed".into(),
            message: "no runtime for \"wasmtime\"".into(),
            until: "2026-12-02T22:00:00Z".into(),
            exclusions: 1,
        }];
        let map = BTreeMap::from([(EXCLUDED_NODES_ANNOTATION.to_string(), to_annotation(&nodes))]);
        assert_eq!(excluded_nodes(Some(&map)), Some(nodes));
        let broken = BTreeMap::from([(EXCLUDED_NODES_ANNOTATION.to_string(), "{not json".to_string())]);
        assert_eq!(excluded_nodes(Some(&broken)), None);
        assert_eq!(excluded_nodes(None), None);
    }
}
