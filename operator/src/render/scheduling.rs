//! Merging the workload's scheduling with the chosen RuntimeClass's: the union, never a replacement.

use crate::api::crd::SchedulingSpec;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Toleration,
};
use k8s_openapi::api::node::v1::Scheduling;
use std::collections::BTreeMap;

/// The nodeSelector and tolerations a pod gets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergedScheduling {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
}

/// Union of both: the workload's entries first, the RuntimeClass's added where not already there.
/// A nodeSelector key both set differently cannot reach here: discovery finds no node for it.
pub fn merge(workload: Option<&SchedulingSpec>, runtime_class: Option<&Scheduling>) -> MergedScheduling {
    let mut node_selector = workload.map(|w| w.node_selector.clone()).unwrap_or_default();
    let mut tolerations = workload.map(|w| w.tolerations.clone()).unwrap_or_default();
    if let Some(rc) = runtime_class {
        for (k, v) in rc.node_selector.iter().flatten() {
            node_selector.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for t in rc.tolerations.iter().flatten() {
            if !tolerations.contains(t) {
                tolerations.push(t.clone());
            }
        }
    }
    MergedScheduling {
        node_selector,
        tolerations,
    }
}

/// The affinity with the pods kept off `nodes`: `metadata.name NotIn` added to every required
/// term the user gave (terms are ORed, so each needs it), or as the only term.
pub fn keep_off(affinity: Option<Affinity>, nodes: &[String]) -> Option<Affinity> {
    if nodes.is_empty() {
        return affinity;
    }
    let mut affinity = affinity.unwrap_or_default();
    let not_in = NodeSelectorRequirement {
        key: "metadata.name".to_string(),
        operator: "NotIn".to_string(),
        values: Some(nodes.to_vec()),
    };
    let required = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required.node_selector_terms.push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields.get_or_insert_with(Vec::new).push(not_in.clone());
    }
    Some(affinity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::toleration;

    #[test]
    fn union_keeps_both_and_drops_duplicates() {
        let shared = toleration(Some("wasm"), "Exists", None, None);
        let workload = SchedulingSpec {
            node_selector: BTreeMap::from([("zone".into(), "a".into())]),
            tolerations: vec![shared.clone(), toleration(Some("gpu"), "Exists", None, None)],
            ..Default::default()
        };
        let rc = Scheduling {
            node_selector: Some(BTreeMap::from([
                ("spin".into(), "yes".into()),
                ("zone".into(), "a".into()),
            ])),
            tolerations: Some(vec![shared.clone(), toleration(Some("edge"), "Exists", None, None)]),
        };
        let m = merge(Some(&workload), Some(&rc));
        assert_eq!(m.node_selector.len(), 2);
        assert_eq!(m.node_selector["spin"], "yes");
        assert_eq!(m.node_selector["zone"], "a");
        let keys: Vec<_> = m.tolerations.iter().map(|t| t.key.clone().unwrap()).collect();
        assert_eq!(keys, ["wasm", "gpu", "edge"]);
    }

    #[test]
    fn either_side_alone() {
        assert_eq!(merge(None, None), MergedScheduling::default());
        let rc = Scheduling {
            node_selector: Some(BTreeMap::from([("k".into(), "v".into())])),
            tolerations: None,
        };
        assert_eq!(merge(None, Some(&rc)).node_selector["k"], "v");
    }
}
