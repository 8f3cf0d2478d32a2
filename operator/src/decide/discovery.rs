//! Runtime discovery: which RuntimeClasses a workload can use on the cluster's nodes right now.
//!
//! A RuntimeClass is usable when at least one Ready, schedulable node matches its
//! `scheduling.nodeSelector` (and the workload's own nodeSelector and required node affinity)
//! and every NoSchedule/NoExecute taint of that node is tolerated by the RuntimeClass's
//! tolerations plus the workload's.
//!
//! A node whose container runtime reports its handlers (`status.runtimeHandlers`, Kubernetes
//! 1.30 and later with containerd 2) is believed over its labels: the RuntimeClass's handler
//! must be among them. A node that reports none is judged by its labels alone.
//!
//! Readiness is debounced: a node whose Ready condition turned False or Unknown keeps counting
//! for a grace period from that transition (its container runtime restarting must not roll
//! every workload to containers and back), and so do the taints the node lifecycle controller
//! puts on such a node. A cordon, a taint, a label change or the node's deletion act at once.

use crate::decide::runtimes::Candidate;
use k8s_openapi::api::core::v1::{Node, NodeSelectorTerm, Taint, Toleration};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The taints the node lifecycle controller sets on a NotReady or unreachable node: they follow
/// its Ready condition, so they are judged as readiness is, with its grace.
const READINESS_TAINTS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

/// How node readiness is judged at `now`: a node whose Ready condition left True less than
/// `grace` ago still counts as Ready. The default has no grace.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Readiness {
    pub now: Timestamp,
    pub grace: Duration,
}

impl Readiness {
    /// No grace: a node counts only while Ready=True.
    pub fn strict(now: Timestamp) -> Self {
        Readiness {
            now,
            grace: Duration::ZERO,
        }
    }

    /// How long a node not Ready now still counts, or `None` when it does not (or is Ready).
    /// A node without a transition time gets no grace.
    pub fn grace_left(&self, node: &Node) -> Option<Duration> {
        let ready = ready_condition(node)?;
        if ready.status == "True" {
            return None;
        }
        let since = ready.last_transition_time.as_ref()?.0;
        let end = since.checked_add(SignedDuration::try_from(self.grace).ok()?).ok()?;
        (end > self.now).then(|| Duration::try_from(end.duration_since(self.now)).unwrap_or(Duration::ZERO))
    }

    /// Whether the node counts as Ready: Ready=True, or within its grace.
    pub fn counts(&self, node: &Node) -> bool {
        ready_condition(node).is_some_and(|c| c.status == "True") || self.grace_left(node).is_some()
    }
}

fn ready_condition(node: &Node) -> Option<&k8s_openapi::api::core::v1::NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Whether the node can take new pods: condition Ready=True and not cordoned.
pub fn node_ready_and_schedulable(node: &Node) -> bool {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    ready_condition(node).is_some_and(|c| c.status == "True") && !cordoned
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
    /// The node's container runtime reports its handlers, and not the RuntimeClass's.
    HandlerNotReported(HandlerMissing),
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
            NodeVerdict::HandlerNotReported(m) => write!(f, "{m}"),
            NodeVerdict::Taint(t) => write!(f, "taint {t} not tolerated"),
        }
    }
}

/// A node whose runtime reports handlers without the RuntimeClass's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerMissing {
    pub handler: String,
    /// What the runtime reports, as it names them (the default handler is `""`).
    pub reported: Vec<String>,
    /// The RuntimeClass's nodeSelector labels the node carries (`key=value`): empty when the
    /// RuntimeClass selects every node; otherwise the label claims a shim the runtime lacks.
    pub claimed_by: Vec<String>,
}

impl std::fmt::Display for HandlerMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reported: Vec<String> = self.reported.iter().map(|h| format!("{h:?}")).collect();
        write!(
            f,
            "its container runtime does not report handler {:?} (it reports {})",
            self.handler,
            reported.join(", ")
        )?;
        if !self.claimed_by.is_empty() {
            write!(
                f,
                ", though its label {} says the shim is there",
                self.claimed_by.join(",")
            )?;
        }
        Ok(())
    }
}

/// The handlers the node's container runtime reports, or `None` when it reports none
/// (containerd 1.x, kubelets before 1.30): then its labels are all there is to go by.
pub fn reported_handlers(node: &Node) -> Option<Vec<String>> {
    reported(node).map(|handlers| handlers.iter().map(|h| h.name.clone().unwrap_or_default()).collect())
}

/// The node's report as the kubelet wrote it, when non-empty.
fn reported(node: &Node) -> Option<&[k8s_openapi::api::core::v1::NodeRuntimeHandler]> {
    let handlers = node.status.as_ref()?.runtime_handlers.as_deref()?;
    (!handlers.is_empty()).then_some(handlers)
}

/// Whether the node's own report rules the RuntimeClass's handler out, and with what words.
/// Every verdict asks this of every node: the names are copied only for a handler missing.
fn handler_missing(rc: &RuntimeClass, node: &Node) -> Option<HandlerMissing> {
    let handlers = reported(node)?;
    if handlers
        .iter()
        .any(|h| h.name.as_deref().unwrap_or_default() == rc.handler)
    {
        return None;
    }
    let reported = reported_handlers(node)?;
    let claimed_by = rc
        .scheduling
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .map(|sel| sel.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    Some(HandlerMissing {
        handler: rc.handler.clone(),
        reported,
        claimed_by,
    })
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
pub fn node_verdict(
    rc: &RuntimeClass,
    node: &Node,
    placement: WorkloadPlacement<'_>,
    readiness: Readiness,
) -> NodeVerdict {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    if !readiness.counts(node) {
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
    if let Some(m) = handler_missing(rc, node) {
        return NodeVerdict::HandlerNotReported(m);
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
/// workload's cover, as `key=value:effect`; the readiness taints are readiness's to judge.
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
        .filter(|t| !READINESS_TAINTS.contains(&t.key.as_str()))
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
pub fn usable_nodes(
    rc: &RuntimeClass,
    nodes: &[Arc<Node>],
    placement: WorkloadPlacement<'_>,
    readiness: Readiness,
) -> usize {
    usable_and_grace(rc, nodes, placement, readiness).0
}

/// The usable nodes, and when the first of them that counts only by its readiness grace stops
/// counting: one verdict per node.
fn usable_and_grace(
    rc: &RuntimeClass,
    nodes: &[Arc<Node>],
    placement: WorkloadPlacement<'_>,
    readiness: Readiness,
) -> (usize, Option<Duration>) {
    nodes
        .iter()
        .filter(|n| node_verdict(rc, n, placement, readiness) == NodeVerdict::Usable)
        .fold((0, None), |(count, grace), n| {
            let ends = readiness.grace_left(n);
            (count + 1, grace.into_iter().chain(ends).min())
        })
}

/// Usable nodes of every RuntimeClass on its own (no workload constraints), for the
/// `wasm_operator_runtime_nodes` gauge.
pub fn nodes_per_runtime_class(
    rcs: &[Arc<RuntimeClass>],
    nodes: &[Arc<Node>],
    readiness: Readiness,
) -> Vec<(String, usize)> {
    rcs.iter()
        .map(|rc| {
            (
                rc.metadata.name.clone().unwrap_or_default(),
                usable_nodes(rc, nodes, WorkloadPlacement::default(), readiness),
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
    /// Nodes the RuntimeClass's nodeSelector matches whose runtime does not report its handler:
    /// its pods are kept off them (sorted, so the rendering is stable).
    pub kept_off: Vec<String>,
}

/// Outcome of discovery for one workload: the first usable candidate, and why earlier ones were not.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    pub chosen: Option<Chosen>,
    /// (RuntimeClass name, why it is not usable), in the order tried.
    pub rejected: Vec<(String, &'static str)>,
    /// When a node that counts only by its readiness grace stops counting: look again then.
    pub recheck_in: Option<Duration>,
    /// Nodes whose label claims a candidate's shim that their runtime does not report, one
    /// sentence each, in the order tried.
    pub disagreements: Vec<String>,
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
        let mut why = format!("no usable Wasm RuntimeClass ({})", parts.join("; "));
        for d in &self.disagreements {
            why.push_str("; ");
            why.push_str(d);
        }
        why
    }
}

/// Try the candidates in order; the first RuntimeClass that exists and has a usable node wins.
pub fn resolve(
    candidates: &[Candidate],
    lookup: impl Fn(&str) -> Option<Arc<RuntimeClass>>,
    nodes: &[Arc<Node>],
    placement: WorkloadPlacement<'_>,
    readiness: Readiness,
) -> Resolution {
    let mut rejected = Vec::new();
    let mut disagreements = Vec::new();
    for candidate in candidates {
        let Some(rc) = lookup(&candidate.runtime_class) else {
            rejected.push((candidate.runtime_class.clone(), NOT_INSTALLED));
            continue;
        };
        let lying = lying_labels(&rc, nodes);
        disagreements.extend(
            lying
                .iter()
                .map(|(node, m)| format!("{}: node {node}: {m}", candidate.runtime_class)),
        );
        let (count, recheck_in) = usable_and_grace(&rc, nodes, placement, readiness);
        if count > 0 {
            let mut kept_off: Vec<String> = lying.into_iter().map(|(node, _)| node).collect();
            kept_off.sort();
            return Resolution {
                chosen: Some(Chosen {
                    candidate: candidate.clone(),
                    runtime_class: rc,
                    usable_nodes: count,
                    after_failures: None,
                    kept_off,
                }),
                rejected,
                recheck_in,
                disagreements,
            };
        }
        rejected.push((candidate.runtime_class.clone(), NO_NODE));
    }
    Resolution {
        chosen: None,
        rejected,
        recheck_in: None,
        disagreements,
    }
}

/// The nodes whose labels select them for the RuntimeClass while their runtime does not report
/// its handler, with what each reports: the scheduler would place its pods there.
pub fn lying_labels(rc: &RuntimeClass, nodes: &[Arc<Node>]) -> Vec<(String, HandlerMissing)> {
    let selector = rc.scheduling.as_ref().and_then(|s| s.node_selector.as_ref());
    nodes
        .iter()
        .filter(|n| selector.is_none_or(|sel| missing_label(sel, n).is_none()))
        .filter_map(|n| Some((n.metadata.name.clone()?, handler_missing(rc, n)?)))
        .collect()
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

    fn strict() -> Readiness {
        Readiness::strict(Timestamp::UNIX_EPOCH)
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
            assert_eq!(
                usable_nodes(&row.rc, &row.nodes, placement, strict()),
                row.expect,
                "{}",
                row.name
            );
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
            usable_nodes(&rc, &nodes, placement, strict())
        };
        assert_eq!(
            count(&zone(&["a", "c"])),
            1,
            "c matches the affinity but not the RuntimeClass"
        );
        assert_eq!(count(&zone(&["c"])), 0, "no node has both: spin is not usable");
        assert_eq!(usable_nodes(&rc, &nodes, WorkloadPlacement::default(), strict()), 2);
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
            strict(),
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
            nodes_per_runtime_class(&rcs, &nodes, strict()),
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
            strict(),
        );
        assert!(res.chosen.is_none());
        assert_eq!(
            res.why_none(),
            "no usable Wasm RuntimeClass (spin: not installed; wasmtime: not installed)"
        );
    }

    /// Node `name` labelled `labels` whose runtime reports `handlers` (as a v1.36 kubelet with
    /// containerd 2 writes them; `None`: reports none, as containerd 1.6 leaves it).
    fn reporting(name: &str, labels: &[(&str, &str)], handlers: Option<&[&str]>, taints: Vec<Taint>) -> Arc<Node> {
        use k8s_openapi::api::core::v1::{NodeRuntimeHandler, NodeRuntimeHandlerFeatures};
        let mut n = (*node(name, labels, true, false, taints)).clone();
        n.status.as_mut().unwrap().runtime_handlers = handlers.map(|hs| {
            hs.iter()
                .map(|h| NodeRuntimeHandler {
                    name: Some(h.to_string()),
                    features: Some(NodeRuntimeHandlerFeatures {
                        recursive_read_only_mounts: Some(true),
                        user_namespaces: Some(true),
                    }),
                })
                .collect()
        });
        Arc::new(n)
    }

    /// The node's report outranks its labels; a node that reports nothing keeps the label rule.
    #[test]
    fn a_node_that_reports_its_handlers_is_believed_over_its_labels() {
        let mut rc = runtime_class("wasmtime", Some(sel(&[("wasmtime", "provisioned")])), vec![]);
        rc.handler = "wasmtime".into();
        let labelled = [("wasmtime", "provisioned"), ("zone", "a")];
        let with = reporting("with", &labelled, Some(&["", "runc", "wasmtime"]), vec![]);
        let without = reporting("without", &labelled, Some(&["", "runc"]), vec![]);
        let silent = reporting("silent", &labelled, None, vec![]);
        let unlabelled = reporting("unlabelled", &[], Some(&["", "runc", "wasmtime"]), vec![]);
        let none = WorkloadPlacement::default();
        let v = |n: &Arc<Node>, p| node_verdict(&rc, n, p, strict());
        assert_eq!(v(&with, none), NodeVerdict::Usable, "reports the handler");
        assert_eq!(
            v(&silent, none),
            NodeVerdict::Usable,
            "reports nothing: judged by labels"
        );
        assert_eq!(
            v(&unlabelled, none),
            NodeVerdict::RuntimeClassLabel("wasmtime=provisioned".into()),
            "the report adds no node the RuntimeClass's selector leaves out"
        );
        assert_eq!(
            v(&without, none).to_string(),
            "its container runtime does not report handler \"wasmtime\" (it reports \"\", \"runc\"), though its label wasmtime=provisioned says the shim is there"
        );
        // The other rules still apply on top.
        let zone_b = sel(&[("zone", "b")]);
        let elsewhere = WorkloadPlacement {
            node_selector: Some(&zone_b),
            ..Default::default()
        };
        assert_eq!(v(&with, elsewhere), NodeVerdict::WorkloadLabel("zone=b".into()));
        let tainted = reporting(
            "t",
            &labelled,
            Some(&["wasmtime"]),
            vec![taint("gpu", None, "NoSchedule")],
        );
        assert_eq!(v(&tainted, none), NodeVerdict::Taint("gpu:NoSchedule".into()));
        // Without a nodeSelector the RuntimeClass means every node, and the report still rules.
        let mut anywhere = runtime_class("wasmtime", None, vec![]);
        anywhere.handler = "wasmtime".into();
        assert!(matches!(
            node_verdict(&anywhere, &without, none, strict()),
            NodeVerdict::HandlerNotReported(HandlerMissing { ref claimed_by, .. }) if claimed_by.is_empty()
        ));

        // Discovery: the lying label is named, and with no other node nothing is usable.
        let res = resolve(
            &[cand("wasmtime")],
            |_| Some(Arc::new(rc.clone())),
            &[without.clone(), silent.clone()],
            none,
            strict(),
        );
        let chosen = res.chosen.expect("the silent node counts by its label");
        assert_eq!(
            chosen.kept_off,
            ["without"],
            "its pods are kept off the node that lacks the shim"
        );
        let res = resolve(
            &[cand("wasmtime")],
            |_| Some(Arc::new(rc.clone())),
            &[without],
            none,
            strict(),
        );
        assert!(res.chosen.is_none());
        assert_eq!(
            res.why_none(),
            format!(
                "no usable Wasm RuntimeClass (wasmtime: {NO_NODE}); wasmtime: node without: its container runtime does not report handler \"wasmtime\" (it reports \"\", \"runc\"), though its label wasmtime=provisioned says the shim is there"
            )
        );
    }

    /// A node whose Ready condition turned `status` at `since` (Unix seconds).
    fn node_turned(status: &str, since: i64, taints: Vec<Taint>, cordoned: bool) -> Arc<Node> {
        let mut n = (*node("a", &[("spin", "yes")], true, cordoned, taints)).clone();
        let c = &mut n.status.as_mut().unwrap().conditions.as_mut().unwrap()[0];
        c.status = status.into();
        c.last_transition_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::from_second(since).unwrap(),
        ));
        Arc::new(n)
    }

    /// The runtime of the only Wasm node restarts: the kubelet says NotReady ("container
    /// runtime is down"), the node lifecycle controller taints it. Within the grace it counts,
    /// and discovery says when to look again; past the grace, or cordoned, it does not.
    #[test]
    fn a_node_not_ready_for_less_than_the_grace_still_counts() {
        let rc = runtime_class("spin", Some(sel(&[("spin", "yes")])), vec![]);
        let grace = Readiness {
            now: Timestamp::from_second(1_030).unwrap(),
            grace: Duration::from_secs(120),
        };
        let none = WorkloadPlacement::default();
        let not_ready_taints = || {
            vec![
                taint("node.kubernetes.io/not-ready", None, "NoSchedule"),
                taint("node.kubernetes.io/not-ready", None, "NoExecute"),
            ]
        };
        for status in ["False", "Unknown"] {
            let n = node_turned(status, 1_000, not_ready_taints(), false);
            assert_eq!(
                node_verdict(&rc, &n, none, grace),
                NodeVerdict::Usable,
                "{status}, 30 s in"
            );
            assert_eq!(grace.grace_left(&n), Some(Duration::from_secs(90)));
            let res = resolve(
                &[cand("spin")],
                |_| Some(Arc::new(rc.clone())),
                std::slice::from_ref(&n),
                none,
                grace,
            );
            assert_eq!(res.chosen.map(|c| c.usable_nodes), Some(1));
            assert_eq!(
                res.recheck_in,
                Some(Duration::from_secs(90)),
                "looks again when the grace ends"
            );
            let later = Readiness {
                now: Timestamp::from_second(1_121).unwrap(),
                ..grace
            };
            assert_eq!(
                node_verdict(&rc, &n, none, later),
                NodeVerdict::NotReady,
                "{status}, past the grace"
            );
            assert_eq!(
                node_verdict(&rc, &n, none, Readiness::strict(grace.now)),
                NodeVerdict::NotReady
            );
        }
        // What acts at once: a cordon, a taint of another kind, a missing label.
        let cordoned = node_turned("False", 1_000, vec![], true);
        assert_eq!(node_verdict(&rc, &cordoned, none, grace), NodeVerdict::Cordoned);
        let tainted = node_turned("False", 1_000, vec![taint("wasm", None, "NoSchedule")], false);
        assert_eq!(
            node_verdict(&rc, &tainted, none, grace),
            NodeVerdict::Taint("wasm:NoSchedule".into())
        );
        let other = runtime_class("spin", Some(sel(&[("spin", "no")])), vec![]);
        let n = node_turned("False", 1_000, vec![], false);
        assert_eq!(
            node_verdict(&other, &n, none, grace),
            NodeVerdict::RuntimeClassLabel("spin=no".into())
        );
        // A Ready node has no grace to end, nor does one that never said when it changed.
        let ready = node_turned("True", 1_000, vec![], false);
        assert_eq!(grace.grace_left(&ready), None);
        assert_eq!(grace.grace_left(&node("b", &[], false, false, vec![])), None);
        assert!(!grace.counts(&node("b", &[], false, false, vec![])));
    }

    #[test]
    fn node_verdicts_name_the_first_reason() {
        let rc = runtime_class("spin", Some(sel(&[("spin", "yes")])), vec![]);
        let verdict = |n: &Node, p: WorkloadPlacement<'_>| node_verdict(&rc, n, p, strict()).to_string();
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
