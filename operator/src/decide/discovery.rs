//! Runtime discovery: which RuntimeClasses a workload can use on the cluster's nodes right now.
//!
//! A RuntimeClass is usable when at least one Ready, schedulable node matches its
//! `scheduling.nodeSelector` (and the workload's own nodeSelector and required node affinity)
//! and every NoSchedule/NoExecute taint of that node is tolerated by the RuntimeClass's
//! tolerations plus the workload's.

use crate::decide::runtimes::Candidate;
use k8s_openapi::api::core::v1::{Node, NodeSelectorTerm, Taint, Toleration};
use k8s_openapi::api::node::v1::RuntimeClass;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Whether the node can take new pods: condition Ready=True and not cordoned.
pub fn node_ready_and_schedulable(node: &Node) -> bool {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && !cordoned
}

/// Kubernetes toleration semantics: an empty effect matches every effect, `Exists` with an empty
/// key matches every taint, `Equal` (the default operator) compares key and value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = toleration.key.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The workload's own placement constraints that decide whether a node is usable.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkloadPlacement<'a> {
    pub node_selector: Option<&'a BTreeMap<String, String>>,
    pub tolerations: &'a [Toleration],
    /// Terms of the required node affinity, if the workload has one.
    pub node_affinity: Option<&'a [NodeSelectorTerm]>,
}

impl<'a> WorkloadPlacement<'a> {
    /// The placement a workload's spec asks for.
    pub fn of(spec: &'a crate::api::crd::WasmWorkloadSpec) -> Self {
        let scheduling = spec.scheduling.as_deref();
        WorkloadPlacement {
            node_selector: scheduling.map(|s| &s.node_selector),
            tolerations: scheduling.map(|s| s.tolerations.as_slice()).unwrap_or(&[]),
            node_affinity: scheduling.and_then(|s| crate::decide::node_affinity::required(s.affinity.as_ref())),
        }
    }
}

/// Whether a pod of the workload can run on a node with a RuntimeClass, or the first reason not,
/// in the order the scheduler would find them. `doctor` prints these; discovery counts the
/// usable ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeVerdict {
    Usable,
    NotReady,
    Cordoned,
    /// A label of the RuntimeClass's nodeSelector is missing or differs (`key=value`).
    RuntimeClassLabel(String),
    /// A label of the workload's own nodeSelector is missing or differs (`key=value`).
    WorkloadLabel(String),
    /// The workload's required node affinity excludes the node.
    WorkloadAffinity,
    /// A NoSchedule/NoExecute taint no toleration covers (`key=value:effect`).
    Taint(String),
}

impl std::fmt::Display for NodeVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeVerdict::Usable => write!(f, "usable"),
            NodeVerdict::NotReady => write!(f, "not Ready"),
            NodeVerdict::Cordoned => write!(f, "unschedulable (cordoned)"),
            NodeVerdict::RuntimeClassLabel(l) => write!(f, "lacks label {l} of the RuntimeClass's nodeSelector"),
            NodeVerdict::WorkloadLabel(l) => write!(f, "lacks label {l} of the workload's nodeSelector"),
            NodeVerdict::WorkloadAffinity => write!(f, "excluded by the workload's required node affinity"),
            NodeVerdict::Taint(t) => write!(f, "taint {t} not tolerated"),
        }
    }
}

/// The first label of `selector` the node lacks, as `key=value`.
fn missing_label(selector: &BTreeMap<String, String>, node: &Node) -> Option<String> {
    let labels = node.metadata.labels.as_ref();
    selector
        .iter()
        .find(|(k, v)| labels.and_then(|l| l.get(*k)) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
}

/// Can a pod of the workload run on `node` with RuntimeClass `rc`?
pub fn node_verdict(rc: &RuntimeClass, node: &Node, placement: WorkloadPlacement<'_>) -> NodeVerdict {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        return NodeVerdict::NotReady;
    }
    if cordoned {
        return NodeVerdict::Cordoned;
    }
    let scheduling = rc.scheduling.as_ref();
    if let Some(l) = scheduling
        .and_then(|s| s.node_selector.as_ref())
        .and_then(|sel| missing_label(sel, node))
    {
        return NodeVerdict::RuntimeClassLabel(l);
    }
    if let Some(l) = placement.node_selector.and_then(|sel| missing_label(sel, node)) {
        return NodeVerdict::WorkloadLabel(l);
    }
    if placement
        .node_affinity
        .is_some_and(|t| !crate::decide::node_affinity::matches(t, node))
    {
        return NodeVerdict::WorkloadAffinity;
    }
    match untolerated_taints(rc, node, placement).into_iter().next() {
        Some(t) => NodeVerdict::Taint(t),
        None => NodeVerdict::Usable,
    }
}

/// The NoSchedule/NoExecute taints of `node` that neither the RuntimeClass's tolerations nor the
/// workload's cover, as `key=value:effect`.
pub fn untolerated_taints(rc: &RuntimeClass, node: &Node, placement: WorkloadPlacement<'_>) -> Vec<String> {
    let rc_tolerations = rc
        .scheduling
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .filter(|t| {
            !rc_tolerations
                .iter()
                .chain(placement.tolerations.iter())
                .any(|tol| tolerates(tol, t))
        })
        .map(|t| {
            format!(
                "{}{}:{}",
                t.key,
                t.value.as_deref().map(|v| format!("={v}")).unwrap_or_default(),
                t.effect
            )
        })
        .collect()
}

/// Number of nodes a pod of the workload could be scheduled on with this RuntimeClass.
pub fn usable_nodes(rc: &RuntimeClass, nodes: &[Arc<Node>], placement: WorkloadPlacement<'_>) -> usize {
    nodes
        .iter()
        .filter(|n| node_verdict(rc, n, placement) == NodeVerdict::Usable)
        .count()
}

/// Usable nodes of every RuntimeClass on its own (no workload constraints), for the
/// `wasm_operator_runtime_nodes` gauge.
pub fn nodes_per_runtime_class(rcs: &[Arc<RuntimeClass>], nodes: &[Arc<Node>]) -> Vec<(String, usize)> {
    rcs.iter()
        .map(|rc| {
            (
                rc.metadata.name.clone().unwrap_or_default(),
                usable_nodes(rc, nodes, WorkloadPlacement::default()),
            )
        })
        .collect()
}

/// The RuntimeClass chosen for a workload.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub candidate: Candidate,
    pub runtime_class: Arc<RuntimeClass>,
    pub usable_nodes: usize,
    /// Set when Wasm is tried again after a fallback's cooldown: the failures so far, kept on
    /// the Deployment until the Wasm pods are Ready, so that another failure lengthens the
    /// cooldown.
    pub after_failures: Option<Box<crate::api::failure_record::FailureRecord>>,
}

/// Outcome of discovery for one workload: the first usable candidate, and why earlier ones were not.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    pub chosen: Option<Chosen>,
    /// (RuntimeClass name, why it is not usable), in the order tried.
    pub rejected: Vec<(String, &'static str)>,
}

pub const NOT_INSTALLED: &str = "not installed";
pub const NO_NODE: &str =
    "no Ready, schedulable node matches its and the workload's nodeSelector and node affinity and tolerates its taints";

impl Resolution {
    /// One sentence saying why no candidate was usable, for status and Events.
    pub fn why_none(&self) -> String {
        if self.rejected.is_empty() {
            return "no Wasm RuntimeClass candidates".to_string();
        }
        let parts: Vec<String> = self.rejected.iter().map(|(rc, why)| format!("{rc}: {why}")).collect();
        format!("no usable Wasm RuntimeClass ({})", parts.join("; "))
    }
}

/// Try the candidates in order; the first RuntimeClass that exists and has a usable node wins.
pub fn resolve(
    candidates: &[Candidate],
    lookup: impl Fn(&str) -> Option<Arc<RuntimeClass>>,
    nodes: &[Arc<Node>],
    placement: WorkloadPlacement<'_>,
) -> Resolution {
    let mut rejected = Vec::new();
    for candidate in candidates {
        let Some(rc) = lookup(&candidate.runtime_class) else {
            rejected.push((candidate.runtime_class.clone(), NOT_INSTALLED));
            continue;
        };
        let count = usable_nodes(&rc, nodes, placement);
        if count > 0 {
            return Resolution {
                chosen: Some(Chosen {
                    candidate: candidate.clone(),
                    runtime_class: rc,
                    usable_nodes: count,
                    after_failures: None,
                }),
                rejected,
            };
        }
        rejected.push((candidate.runtime_class.clone(), NO_NODE));
    }
    Resolution { chosen: None, rejected }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::{node, runtime_class, taint, toleration};

    fn cand(rc: &str) -> Candidate {
        Candidate {
            runtime: rc.to_string(),
            runtime_class: rc.to_string(),
            pod_annotations: BTreeMap::new(),
        }
    }

    fn sel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn toleration_semantics() {
        let t = taint("wasm", Some("yes"), "NoSchedule");
        assert!(tolerates(
            &toleration(Some("wasm"), "Equal", Some("yes"), Some("NoSchedule")),
            &t
        ));
        assert!(
            tolerates(&toleration(Some("wasm"), "Equal", Some("yes"), None), &t),
            "empty effect matches all"
        );
        assert!(
            !tolerates(&toleration(Some("wasm"), "Equal", Some("no"), None), &t),
            "value differs"
        );
        assert!(
            !tolerates(&toleration(Some("wasm"), "Equal", Some("yes"), Some("NoExecute")), &t),
            "effect differs"
        );
        assert!(tolerates(&toleration(Some("wasm"), "Exists", None, None), &t));
        assert!(
            tolerates(&toleration(None, "Exists", None, None), &t),
            "empty key + Exists tolerates all"
        );
        assert!(!tolerates(&toleration(Some("other"), "Exists", None, None), &t));
        assert!(!tolerates(&toleration(Some("wasm"), "Bogus", Some("yes"), None), &t));
    }

    /// The discovery table: nodes × RuntimeClasses × taints and tolerations → usable node count.
    #[test]
    fn usable_nodes_table() {
        let spin_sel = sel(&[("spin", "yes")]);
        let wasm_taint = taint("wasm", None, "NoSchedule");
        let wasm_tol = toleration(Some("wasm"), "Exists", None, None);
        struct Row {
            name: &'static str,
            nodes: Vec<Arc<Node>>,
            rc: RuntimeClass,
            workload_selector: Option<BTreeMap<String, String>>,
            workload_tolerations: Vec<Toleration>,
            expect: usize,
        }
        let rows = vec![
            Row {
                name: "no nodeSelector means every ready node",
                nodes: vec![node("a", &[], true, false, vec![]), node("b", &[], true, false, vec![])],
                rc: runtime_class("wasmtime", None, vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 2,
            },
            Row {
                name: "nodeSelector picks the labelled node",
                nodes: vec![
                    node("a", &[("spin", "yes")], true, false, vec![]),
                    node("b", &[], true, false, vec![]),
                ],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 1,
            },
            Row {
                name: "NotReady node is not usable",
                nodes: vec![node("a", &[("spin", "yes")], false, false, vec![])],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 0,
            },
            Row {
                name: "cordoned node is not usable",
                nodes: vec![node("a", &[("spin", "yes")], true, true, vec![])],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 0,
            },
            Row {
                name: "untolerated taint",
                nodes: vec![node("a", &[("spin", "yes")], true, false, vec![wasm_taint.clone()])],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 0,
            },
            Row {
                name: "taint tolerated by the RuntimeClass",
                nodes: vec![node("a", &[("spin", "yes")], true, false, vec![wasm_taint.clone()])],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![wasm_tol.clone()]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 1,
            },
            Row {
                name: "taint tolerated by the workload",
                nodes: vec![node("a", &[("spin", "yes")], true, false, vec![wasm_taint.clone()])],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![]),
                workload_selector: None,
                workload_tolerations: vec![wasm_tol.clone()],
                expect: 1,
            },
            Row {
                name: "PreferNoSchedule taints do not block",
                nodes: vec![node(
                    "a",
                    &[],
                    true,
                    false,
                    vec![taint("soft", None, "PreferNoSchedule")],
                )],
                rc: runtime_class("wasmtime", None, vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 1,
            },
            Row {
                name: "NoExecute taints block too",
                nodes: vec![node("a", &[], true, false, vec![taint("gone", None, "NoExecute")])],
                rc: runtime_class("wasmtime", None, vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 0,
            },
            Row {
                name: "workload nodeSelector narrows the set",
                nodes: vec![
                    node("a", &[("spin", "yes"), ("zone", "a")], true, false, vec![]),
                    node("b", &[("spin", "yes"), ("zone", "b")], true, false, vec![]),
                ],
                rc: runtime_class("spin", Some(spin_sel.clone()), vec![]),
                workload_selector: Some(sel(&[("zone", "b")])),
                workload_tolerations: vec![],
                expect: 1,
            },
            Row {
                name: "runtime-class-manager label <shim>=provisioned",
                nodes: vec![node("a", &[("spin-v2", "provisioned")], true, false, vec![])],
                rc: runtime_class("spin-v2", Some(sel(&[("spin-v2", "provisioned")])), vec![]),
                workload_selector: None,
                workload_tolerations: vec![],
                expect: 1,
            },
        ];
        for row in rows {
            let placement = WorkloadPlacement {
                node_selector: row.workload_selector.as_ref(),
                tolerations: &row.workload_tolerations,
                node_affinity: None,
            };
            assert_eq!(usable_nodes(&row.rc, &row.nodes, placement), row.expect, "{}", row.name);
        }
    }

    #[test]
    fn workload_node_affinity_narrows_the_set() {
        use k8s_openapi::api::core::v1::NodeSelectorRequirement;
        let nodes = vec![
            node("a", &[("spin", "yes"), ("zone", "a")], true, false, vec![]),
            node("b", &[("spin", "yes"), ("zone", "b")], true, false, vec![]),
            node("c", &[("zone", "c")], true, false, vec![]),
        ];
        let rc = runtime_class("spin", Some(sel(&[("spin", "yes")])), vec![]);
        let zone = |zones: &[&str]| {
            vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: "zone".into(),
                    operator: "In".into(),
                    values: Some(zones.iter().map(|z| z.to_string()).collect()),
                }]),
                match_fields: None,
            }]
        };
        let count = |terms: &[NodeSelectorTerm]| {
            let placement = WorkloadPlacement {
                node_affinity: Some(terms),
                ..Default::default()
            };
            usable_nodes(&rc, &nodes, placement)
        };
        assert_eq!(
            count(&zone(&["a", "c"])),
            1,
            "c matches the affinity but not the RuntimeClass"
        );
        assert_eq!(count(&zone(&["c"])), 0, "no node has both: spin is not usable");
        assert_eq!(usable_nodes(&rc, &nodes, WorkloadPlacement::default()), 2);
    }

    #[test]
    fn first_usable_candidate_wins_and_rejections_are_explained() {
        let nodes = vec![node("a", &[("wasmtime", "yes")], true, false, vec![])];
        let rcs = [
            runtime_class("spin", Some(sel(&[("spin", "yes")])), vec![]),
            runtime_class("wasmtime", Some(sel(&[("wasmtime", "yes")])), vec![]),
            runtime_class("wasmedge", None, vec![]),
        ];
        let lookup = |name: &str| {
            rcs.iter()
                .find(|r| r.metadata.name.as_deref() == Some(name))
                .cloned()
                .map(Arc::new)
        };
        let res = resolve(
            &[cand("missing"), cand("spin"), cand("wasmtime"), cand("wasmedge")],
            lookup,
            &nodes,
            WorkloadPlacement::default(),
        );
        let chosen = res.chosen.expect("wasmtime is usable");
        assert_eq!(chosen.candidate.runtime_class, "wasmtime");
        assert_eq!(chosen.usable_nodes, 1);
        assert_eq!(
            res.rejected,
            vec![("missing".to_string(), NOT_INSTALLED), ("spin".to_string(), NO_NODE)]
        );
    }

    #[test]
    fn nodes_per_runtime_class_counts_each_alone() {
        let nodes = vec![
            node("a", &[("spin", "yes")], true, false, vec![]),
            node("b", &[], true, false, vec![]),
            node("c", &[("spin", "yes")], false, false, vec![]),
        ];
        let rcs = vec![
            Arc::new(runtime_class("spin", Some(sel(&[("spin", "yes")])), vec![])),
            Arc::new(runtime_class("wasmtime", None, vec![])),
        ];
        assert_eq!(
            nodes_per_runtime_class(&rcs, &nodes),
            vec![("spin".to_string(), 1), ("wasmtime".to_string(), 2)]
        );
    }

    #[test]
    fn nothing_usable_says_why_for_each() {
        let res = resolve(
            &[cand("spin"), cand("wasmtime")],
            |_| None,
            &[],
            WorkloadPlacement::default(),
        );
        assert!(res.chosen.is_none());
        assert_eq!(
            res.why_none(),
            "no usable Wasm RuntimeClass (spin: not installed; wasmtime: not installed)"
        );
    }

    #[test]
    fn node_verdicts_name_the_first_reason() {
        let rc = runtime_class("spin", Some(sel(&[("spin", "yes")])), vec![]);
        let verdict = |n: &Node, p: WorkloadPlacement<'_>| node_verdict(&rc, n, p).to_string();
        let none = WorkloadPlacement::default();
        assert_eq!(
            verdict(&node("a", &[("spin", "yes")], true, false, vec![]), none),
            "usable"
        );
        assert_eq!(
            verdict(&node("a", &[("spin", "yes")], false, false, vec![]), none),
            "not Ready"
        );
        assert_eq!(
            verdict(&node("a", &[("spin", "yes")], true, true, vec![]), none),
            "unschedulable (cordoned)"
        );
        assert_eq!(
            verdict(&node("a", &[], true, false, vec![]), none),
            "lacks label spin=yes of the RuntimeClass's nodeSelector"
        );
        let own = sel(&[("zone", "a")]);
        let placed = WorkloadPlacement {
            node_selector: Some(&own),
            ..Default::default()
        };
        assert_eq!(
            verdict(&node("a", &[("spin", "yes")], true, false, vec![]), placed),
            "lacks label zone=a of the workload's nodeSelector"
        );
        let tainted = node(
            "a",
            &[("spin", "yes")],
            true,
            false,
            vec![taint("gpu", Some("x"), "NoSchedule")],
        );
        assert_eq!(verdict(&tainted, none), "taint gpu=x:NoSchedule not tolerated");
        let tol = [toleration(Some("gpu"), "Exists", None, None)];
        let tolerant = WorkloadPlacement {
            tolerations: &tol,
            ..Default::default()
        };
        assert_eq!(
            verdict(&tainted, tolerant),
            "usable",
            "the workload's toleration counts"
        );
    }
}
