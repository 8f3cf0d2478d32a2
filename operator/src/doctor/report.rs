//! The doctor's report, built from facts gathered off the cluster: every RuntimeClass node by
//! node, one workload explained, and the installation. Pure; the verdicts on nodes come from
//! `decide::discovery`, the same words the operator puts in status.

use crate::api::crd::{FallbackPolicy, Placement, SpillStatus, WasmWorkload};
use crate::api::failure_record::FailureRecord;
use crate::decide::discovery::{
    node_verdict, reported_handlers, untolerated_taints, NodeVerdict, Readiness, WorkloadPlacement,
};
use crate::decide::runtimes::RuntimeConfig;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::node::v1::RuntimeClass;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A check passed, failed, or only informs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Info,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    pub verdict: Verdict,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Section {
    pub title: String,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub sections: Vec<Section>,
}

/// A `FailedCreatePodSandBox` Event: on which node, and its message.
#[derive(Clone, Debug, Default)]
pub struct SandboxEvent {
    pub node: String,
    pub message: String,
}

/// A pod that ran with a RuntimeClass, and where.
#[derive(Clone, Debug, Default)]
pub struct WasmPod {
    pub node: String,
    pub runtime_class: String,
}

/// What the installation checks found.
#[derive(Clone, Debug, Default)]
pub struct Installation {
    /// None: no CRD. Some(true): the served schema is this binary's.
    pub crd_matches: Option<bool>,
    /// (holder, seconds since its last renewal, lease duration).
    pub lease: Option<(String, i64, i64)>,
    /// The leader's `/readyz`: Ok(ready) or why it could not be asked.
    pub readyz: Option<Result<bool, String>>,
    pub metrics_server: bool,
    /// (group/resource, verb, allowed) for every permission the operator uses.
    pub permissions: Vec<(String, String, bool)>,
}

/// One workload to explain, with the failure its Deployment remembers.
#[derive(Clone, Debug)]
pub struct WorkloadFacts {
    pub workload: WasmWorkload,
    pub failure: Option<FailureRecord>,
}

/// Everything the doctor read off the cluster.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub runtime_classes: Vec<Arc<RuntimeClass>>,
    pub nodes: Vec<Arc<Node>>,
    pub sandbox_events: Vec<SandboxEvent>,
    pub wasm_pods: Vec<WasmPod>,
    pub installation: Installation,
    pub workload: Option<WorkloadFacts>,
    /// When the facts were read, and the readiness grace of the operator's configuration.
    pub readiness: Readiness,
}

fn line(verdict: Verdict, text: impl Into<String>) -> Line {
    Line {
        verdict,
        text: text.into(),
    }
}

fn name_of(rc: &RuntimeClass) -> &str {
    rc.metadata.name.as_deref().unwrap_or("")
}

fn node_name(n: &Node) -> &str {
    n.metadata.name.as_deref().unwrap_or("")
}

/// The RuntimeClasses to show: every configured name that exists, then every other one.
fn runtime_classes_in_order<'a>(facts: &'a Facts, config: &RuntimeConfig) -> Vec<&'a Arc<RuntimeClass>> {
    let configured: Vec<&str> = config
        .runtimes
        .iter()
        .flat_map(|r| r.runtime_classes.iter().map(String::as_str))
        .collect();
    let mut out: Vec<&Arc<RuntimeClass>> = configured
        .iter()
        .filter_map(|c| facts.runtime_classes.iter().find(|rc| name_of(rc) == *c))
        .collect();
    for rc in &facts.runtime_classes {
        if !out.iter().any(|o| name_of(o) == name_of(rc)) {
            out.push(rc);
        }
    }
    out
}

/// One RuntimeClass: handler, scheduling, a verdict per node, and what the cluster shows of the
/// handler on each node (sandbox failures naming it, Wasm pods that ran).
fn runtime_class_section(rc: &RuntimeClass, facts: &Facts) -> Section {
    let name = name_of(rc);
    let scheduling = rc.scheduling.as_ref();
    let selector = scheduling
        .and_then(|s| s.node_selector.as_ref())
        .map(|s| s.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "every node".into());
    let tolerations = scheduling.and_then(|s| s.tolerations.as_ref()).map_or(0, Vec::len);
    let mut lines = vec![line(
        Verdict::Info,
        format!(
            "handler {}, nodeSelector {selector}, {tolerations} toleration(s)",
            rc.handler
        ),
    )];
    let missing_handler = format!("no runtime for \"{}\"", rc.handler);
    let mut usable = 0;
    // Nodes that only taints keep it from: usable by workloads that tolerate them.
    let mut with_toleration: Vec<(String, Vec<String>)> = vec![];
    for node in &facts.nodes {
        let n = node_name(node);
        let verdict = node_verdict(rc, node, WorkloadPlacement::default(), facts.readiness);
        let failures = facts
            .sandbox_events
            .iter()
            .filter(|e| e.node == n && e.message.contains(&missing_handler))
            .count();
        let ran = facts
            .wasm_pods
            .iter()
            .filter(|p| p.node == n && p.runtime_class == name)
            .count();
        if verdict == NodeVerdict::Usable {
            usable += 1;
            lines.push(line(Verdict::Pass, format!("{n}: usable")));
        } else if let NodeVerdict::HandlerNotReported(m) = &verdict {
            // A label that claims a shim the runtime lacks sends Wasm pods where they fail.
            let claimed = !m.claimed_by.is_empty();
            let fix = if claimed {
                format!(
                    ": configure handler {:?} in the node's container runtime, or remove the label",
                    m.handler
                )
            } else {
                String::new()
            };
            lines.push(line(
                if claimed { Verdict::Fail } else { Verdict::Info },
                format!("{n}: {verdict}{fix}"),
            ));
        } else if let NodeVerdict::Taint(_) = verdict {
            let taints = untolerated_taints(rc, node, WorkloadPlacement::default());
            lines.push(line(
                Verdict::Info,
                format!("{n}: usable by workloads that tolerate {}", taints.join(", ")),
            ));
            with_toleration.push((n.to_string(), taints));
        } else {
            lines.push(line(Verdict::Info, format!("{n}: {verdict}")));
        }
        if failures > 0 {
            lines.push(line(
                Verdict::Fail,
                format!(
                    "{n}: the handler is missing: {failures} FailedCreatePodSandBox Event(s) say {missing_handler} is configured"
                ),
            ));
        }
        if ran > 0 {
            lines.push(line(Verdict::Pass, format!("{n}: {ran} pod(s) ran with it")));
        }
    }
    lines.push(if usable > 0 {
        line(Verdict::Pass, format!("usable on {usable} node(s)"))
    } else if !with_toleration.is_empty() {
        // Not a failure: dedicated nodes are tainted on purpose, and workloads that tolerate
        // the taint run Wasm there.
        let mut taints: Vec<&str> = with_toleration
            .iter()
            .flat_map(|(_, t)| t.iter().map(String::as_str))
            .collect();
        taints.sort_unstable();
        taints.dedup();
        line(
            Verdict::Info,
            format!(
                "usable by workloads that tolerate {} ({} node(s)), by no others",
                taints.join(", "),
                with_toleration.len()
            ),
        )
    } else {
        line(Verdict::Fail, "usable on no node")
    });
    Section {
        title: format!("RuntimeClass {name}"),
        lines,
    }
}

/// What each node's container runtime reports of its handlers, which decides which rule judges it.
fn nodes_section(facts: &Facts) -> Section {
    let lines = facts
        .nodes
        .iter()
        .map(|n| {
            let text = match reported_handlers(n) {
                Some(hs) => {
                    let hs: Vec<String> = hs.iter().map(|h| format!("{h:?}")).collect();
                    format!("{}: its runtime reports handlers {}", node_name(n), hs.join(", "))
                }
                None => format!("{}: its runtime reports none: judged by labels", node_name(n)),
            };
            line(Verdict::Info, text)
        })
        .collect();
    Section {
        title: "Nodes".into(),
        lines,
    }
}

/// A spilled workload: how many pods run the fallback image and why, and each node kept out.
fn spill_lines(replicas: i32, sp: &SpillStatus) -> Vec<Line> {
    let mut lines = vec![];
    if sp.container_replicas > 0 {
        let why = match (&sp.reason, &sp.message) {
            (Some(r), Some(m)) => format!(": {r}: {m}"),
            _ => String::new(),
        };
        lines.push(line(
            Verdict::Info,
            format!(
                "spilled: {} of {replicas} pods run the fallback image{why}",
                sp.container_replicas
            ),
        ));
    } else {
        lines.push(line(
            Verdict::Pass,
            format!("not spilled: all {replicas} pods run as Wasm"),
        ));
    }
    for e in &sp.excluded_nodes {
        lines.push(line(
            Verdict::Info,
            format!(
                "node {} is kept out of Wasm until {} ({}: {})",
                e.node, e.until, e.reason, e.message
            ),
        ));
    }
    lines
}

/// One workload: the runtimes it asks for, why each RuntimeClass was or was not chosen, the
/// nodes its own placement leaves, the mode, and under OnFailure what made it fall back.
fn workload_section(w: &WorkloadFacts, facts: &Facts, config: &RuntimeConfig) -> Section {
    let wl = &w.workload;
    let placement = WorkloadPlacement::of(&wl.spec);
    let lookup = |n: &str| facts.runtime_classes.iter().find(|rc| name_of(rc) == n);
    let mut lines = vec![];
    let asked = if wl.spec.wasm.runtimes.is_empty() {
        format!("the default order {:?}", config.default_order)
    } else {
        format!("{:?}", wl.spec.wasm.runtimes)
    };
    lines.push(line(Verdict::Info, format!("asks for {asked}")));
    let mut chosen = false;
    match config.candidates(&wl.spec.wasm.runtimes, |n| lookup(n).is_some()) {
        Err(unknown) => lines.push(line(Verdict::Fail, unknown.to_string())),
        Ok(candidates) => {
            for c in &candidates {
                let label = format!("{} → RuntimeClass {}", c.runtime, c.runtime_class);
                let Some(rc) = lookup(&c.runtime_class) else {
                    lines.push(line(Verdict::Info, format!("{label}: not installed")));
                    continue;
                };
                let verdicts: Vec<(String, NodeVerdict)> = facts
                    .nodes
                    .iter()
                    .map(|n| {
                        (
                            node_name(n).to_string(),
                            node_verdict(rc, n, placement, facts.readiness),
                        )
                    })
                    .collect();
                let usable = verdicts.iter().filter(|(_, v)| *v == NodeVerdict::Usable).count();
                if usable > 0 && !chosen {
                    chosen = true;
                    lines.push(line(
                        Verdict::Pass,
                        format!("{label}: chosen, usable on {usable} node(s)"),
                    ));
                } else if usable > 0 {
                    lines.push(line(
                        Verdict::Info,
                        format!("{label}: usable, but an earlier one was chosen"),
                    ));
                } else {
                    let why: Vec<String> = verdicts.iter().map(|(n, v)| format!("{n} {v}")).collect();
                    lines.push(line(
                        Verdict::Info,
                        format!("{label}: no usable node ({})", why.join("; ")),
                    ));
                }
            }
        }
    }
    // The nodes the workload's own constraints leave, whatever the RuntimeClass.
    let any_rc = RuntimeClass::default();
    let left: Vec<&str> = facts
        .nodes
        .iter()
        .filter(|n| node_verdict(&any_rc, n, placement, facts.readiness) == NodeVerdict::Usable)
        .map(|n| node_name(n))
        .collect();
    lines.push(line(
        if left.is_empty() { Verdict::Fail } else { Verdict::Info },
        format!(
            "its own nodeSelector, affinity and tolerations leave: {}",
            list_or_none(&left)
        ),
    ));
    let status = wl.status.as_ref();
    let mode = status
        .and_then(|s| s.mode)
        .map_or("not reconciled yet".into(), |m| format!("{m:?}"));
    let why = status.and_then(|s| s.fallback_reason.clone()).unwrap_or_default();
    let wasm = mode == "Wasm";
    lines.push(line(
        if wasm { Verdict::Pass } else { Verdict::Fail },
        if why.is_empty() {
            format!("mode {mode}")
        } else {
            format!("mode {mode}: {why}")
        },
    ));
    // What keeps its pods from coming up, in the operator's words (the Ready condition).
    let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" => lines.push(line(Verdict::Pass, format!("Ready: {}", c.message))),
        Some(c) => lines.push(line(
            if c.reason == "RollingOut" {
                Verdict::Info
            } else {
                Verdict::Fail
            },
            format!("not Ready ({}): {}", c.reason, c.message),
        )),
        None => {}
    }
    if let Some(sp) = status.and_then(|s| s.spill.as_ref()) {
        lines.extend(spill_lines(wl.spec.replicas, sp));
    }
    if wl.spec.fallback.policy == FallbackPolicy::OnFailure && wl.spec.placement == Placement::Whole {
        if let Some(f) = &w.failure {
            let now = lookup(&f.runtime_class).map_or(0, |rc| {
                facts
                    .nodes
                    .iter()
                    .filter(|n| node_verdict(rc, n, placement, facts.readiness) == NodeVerdict::Usable)
                    .count()
            });
            let when = crate::api::time::rfc3339(f.retry_time());
            lines.push(line(
                Verdict::Info,
                format!(
                    "fell back after {} with RuntimeClass {} ({} failure(s) in a row); it tries Wasm again at {when}, or sooner when the spec changes (generation {}) or the usable nodes of {} change (then {}, now {now})",
                    f.reason, f.runtime_class, f.failures, f.generation, f.runtime_class, f.usable_nodes
                ),
            ));
        }
    }
    Section {
        title: format!(
            "WasmWorkload {}/{}",
            wl.metadata.namespace.as_deref().unwrap_or(""),
            wl.metadata.name.as_deref().unwrap_or("")
        ),
        lines,
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "no node".into()
    } else {
        items.join(", ")
    }
}

fn installation_section(i: &Installation) -> Section {
    let mut lines = vec![match i.crd_matches {
        Some(true) => line(Verdict::Pass, "CRD wasmworkloads.wasm-operator.dev is installed, as this binary expects"),
        Some(false) => line(
            Verdict::Fail,
            "CRD wasmworkloads.wasm-operator.dev differs from this binary's: kubectl apply --server-side -f crds/wasmworkload.yaml",
        ),
        None => line(
            Verdict::Fail,
            "CRD wasmworkloads.wasm-operator.dev is not installed: kubectl apply --server-side -f crds/wasmworkload.yaml",
        ),
    }];
    lines.push(match &i.lease {
        Some((holder, age, duration)) if age <= duration => {
            line(Verdict::Pass, format!("leader {holder}, Lease renewed {age} s ago"))
        }
        Some((holder, age, _)) => line(
            Verdict::Fail,
            format!("Lease held by {holder} but not renewed for {age} s: no operator is leading"),
        ),
        None => line(
            Verdict::Info,
            "no wasm-operator Lease: the operator runs without leader election, or is not installed here",
        ),
    });
    match &i.readyz {
        Some(Ok(true)) => lines.push(line(Verdict::Pass, "the leader's /readyz: ready")),
        Some(Ok(false)) => lines.push(line(Verdict::Fail, "the leader's /readyz: not ready")),
        Some(Err(e)) => lines.push(line(
            Verdict::Info,
            format!("the leader's /readyz could not be asked: {e}"),
        )),
        None => {}
    }
    lines.push(if i.metrics_server {
        line(
            Verdict::Pass,
            "metrics.k8s.io is served: memory footprints are measured",
        )
    } else {
        line(
            Verdict::Info,
            "metrics.k8s.io is not served (no metrics-server): memory footprints are not measured",
        )
    });
    let denied: Vec<String> = i
        .permissions
        .iter()
        .filter(|(_, _, ok)| !ok)
        .map(|(r, v, _)| format!("{v} {r}"))
        .collect();
    lines.push(if denied.is_empty() {
        line(
            Verdict::Pass,
            format!("all {} permissions the operator uses are granted", i.permissions.len()),
        )
    } else {
        line(Verdict::Fail, format!("not granted: {}", denied.join(", ")))
    });
    Section {
        title: "Installation".into(),
        lines,
    }
}

/// The whole report: the workload first when one is asked about, then every RuntimeClass, then
/// the installation.
pub fn build(facts: &Facts, config: &RuntimeConfig) -> Report {
    let mut sections = vec![];
    if let Some(w) = &facts.workload {
        sections.push(workload_section(w, facts, config));
    }
    let shown: Vec<&Arc<RuntimeClass>> = runtime_classes_in_order(facts, config);
    for rc in &shown {
        sections.push(runtime_class_section(rc, facts));
    }
    let known: BTreeSet<&str> = shown.iter().map(|rc| name_of(rc)).collect();
    let absent: Vec<&str> = config
        .runtimes
        .iter()
        .flat_map(|r| r.runtime_classes.iter().map(String::as_str))
        .filter(|c| !known.contains(c))
        .collect();
    if !absent.is_empty() {
        sections.push(Section {
            title: "Configured RuntimeClasses not installed".into(),
            lines: vec![line(Verdict::Info, absent.join(", "))],
        });
    }
    sections.push(nodes_section(facts));
    sections.push(installation_section(&facts.installation));
    Report { sections }
}

impl Report {
    /// 0 when every check passed, 1 when one failed.
    pub fn exit_code(&self) -> u8 {
        let failed = self
            .sections
            .iter()
            .flat_map(|s| &s.lines)
            .any(|l| l.verdict == Verdict::Fail);
        u8::from(failed)
    }

    /// The report for a terminal: a verdict mark per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            out.push_str(&s.title);
            out.push('\n');
            for l in &s.lines {
                let mark = match l.verdict {
                    Verdict::Pass => "✔",
                    Verdict::Fail => "✘",
                    Verdict::Info => "·",
                };
                out.push_str(&format!("  {mark} {}\n", l.text));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::{node, runtime_class, taint, workload};

    fn facts() -> Facts {
        let spin = runtime_class(
            "wasmtime-spin-v2",
            Some([("spin".to_string(), "yes".to_string())].into()),
            vec![],
        );
        Facts {
            readiness: Readiness::default(),
            runtime_classes: vec![Arc::new(spin)],
            nodes: vec![
                node("ready", &[("spin", "yes")], true, false, vec![]),
                node("cordoned", &[("spin", "yes")], true, true, vec![]),
                node(
                    "tainted",
                    &[("spin", "yes")],
                    true,
                    false,
                    vec![taint("gpu", None, "NoSchedule")],
                ),
                node("plain", &[], true, false, vec![]),
                node("down", &[("spin", "yes")], false, false, vec![]),
            ],
            sandbox_events: vec![SandboxEvent {
                node: "ready".into(),
                message: "failed to get sandbox runtime: no runtime for \"other\" is configured".into(),
            }],
            wasm_pods: vec![WasmPod {
                node: "ready".into(),
                runtime_class: "wasmtime-spin-v2".into(),
            }],
            installation: Installation {
                crd_matches: Some(true),
                lease: Some(("op-1".into(), 3, 15)),
                readyz: Some(Ok(true)),
                metrics_server: false,
                permissions: vec![("apps/deployments".into(), "create".into(), true)],
            },
            workload: None,
        }
    }

    fn texts(r: &Report, title: &str) -> Vec<String> {
        r.sections
            .iter()
            .find(|s| s.title == title)
            .unwrap_or_else(|| panic!("no section {title}: {r:?}"))
            .lines
            .iter()
            .map(|l| l.text.clone())
            .collect()
    }

    #[test]
    fn every_node_gets_the_reason_discovery_gives() {
        let r = build(&facts(), &RuntimeConfig::default());
        let lines = texts(&r, "RuntimeClass wasmtime-spin-v2");
        for want in [
            "ready: usable",
            "cordoned: unschedulable (cordoned)",
            "tainted: usable by workloads that tolerate gpu:NoSchedule",
            "plain: lacks label spin=yes of the RuntimeClass's nodeSelector",
            "down: not Ready",
            "ready: 1 pod(s) ran with it",
            "usable on 1 node(s)",
        ] {
            assert!(lines.iter().any(|l| l == want), "{want:?} not in {lines:#?}");
        }
    }

    /// A node labelled for the shim whose runtime (containerd 2) does not report its handler,
    /// beside one that reports nothing (containerd 1.6): the first is a ✘ with what to do; the
    /// Nodes section says which rule judged each.
    #[test]
    fn a_label_the_node_s_runtime_contradicts_fails_with_what_to_do() {
        use k8s_openapi::api::core::v1::NodeRuntimeHandler;
        let mut f = facts();
        let mut lying = (*node("lying", &[("spin", "yes")], true, false, vec![])).clone();
        lying.status.as_mut().unwrap().runtime_handlers = Some(
            ["", "runc"]
                .iter()
                .map(|h| NodeRuntimeHandler {
                    name: Some(h.to_string()),
                    features: None,
                })
                .collect(),
        );
        f.nodes = vec![Arc::new(lying), node("silent", &[("spin", "yes")], true, false, vec![])];
        let r = build(&f, &RuntimeConfig::default());
        let lines = texts(&r, "RuntimeClass wasmtime-spin-v2");
        assert!(
            lines.contains(&"lying: its container runtime does not report handler \"spin-v2\" (it reports \"\", \"runc\"), though its label spin=yes says the shim is there: configure handler \"spin-v2\" in the node's container runtime, or remove the label".to_string()),
            "{lines:#?}"
        );
        assert!(lines.contains(&"silent: usable".to_string()), "{lines:#?}");
        assert_eq!(r.exit_code(), 1);
        assert_eq!(
            texts(&r, "Nodes"),
            [
                "lying: its runtime reports handlers \"\", \"runc\"",
                "silent: its runtime reports none: judged by labels"
            ]
        );
    }

    #[test]
    fn a_missing_handler_fails_and_so_does_the_exit_code() {
        let mut f = facts();
        f.runtime_classes = vec![Arc::new(runtime_class("other", None, vec![]))];
        let r = build(&f, &RuntimeConfig::default());
        let lines = texts(&r, "RuntimeClass other");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("ready: the handler is missing: 1 FailedCreatePodSandBox")),
            "{lines:#?}"
        );
        assert_eq!(r.exit_code(), 1);
        assert!(r.to_text().contains("  ✘ ready: the handler is missing"));
        let ok = build(&facts(), &RuntimeConfig::default());
        assert_eq!(ok.exit_code(), 0, "{}", ok.to_text());
    }

    #[test]
    fn a_workload_is_explained_runtime_by_runtime() {
        let mut f = facts();
        let mut wl = workload("hello", "demo");
        wl.spec.scheduling = Some(Box::new(crate::api::crd::SchedulingSpec {
            node_selector: [("zone".to_string(), "a".to_string())].into(),
            ..Default::default()
        }));
        wl.status = Some(crate::api::crd::WasmWorkloadStatus {
            mode: Some(crate::api::crd::Mode::Container),
            fallback_reason: Some("no usable Wasm RuntimeClass".into()),
            ..Default::default()
        });
        f.workload = Some(WorkloadFacts {
            workload: wl,
            failure: None,
        });
        let r = build(&f, &RuntimeConfig::default());
        let lines = texts(&r, "WasmWorkload demo/hello");
        assert!(lines.iter().any(|l| l.starts_with("spin → RuntimeClass wasmtime-spin-v2: no usable node (ready lacks label zone=a of the workload's nodeSelector")), "{lines:#?}");
        assert!(lines.iter().any(|l| l == "spin → RuntimeClass spin-v2: not installed"));
        assert!(lines
            .iter()
            .any(|l| l == "its own nodeSelector, affinity and tolerations leave: no node"));
        assert!(lines.iter().any(|l| l == "mode Container: no usable Wasm RuntimeClass"));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn a_runtime_class_usable_only_with_a_toleration_informs_and_does_not_fail() {
        let wasmedge = runtime_class("wasmedge", None, vec![]);
        let f = Facts {
            runtime_classes: vec![Arc::new(wasmedge)],
            nodes: vec![
                node("down", &[], false, false, vec![]),
                node(
                    "gpu-1",
                    &[],
                    true,
                    false,
                    vec![
                        taint("dedicated", Some("gpu"), "NoSchedule"),
                        taint("spot", None, "NoExecute"),
                    ],
                ),
            ],
            installation: facts().installation,
            ..Default::default()
        };
        let r = build(&f, &RuntimeConfig::default());
        let lines = texts(&r, "RuntimeClass wasmedge");
        assert!(
            lines.contains(
                &"gpu-1: usable by workloads that tolerate dedicated=gpu:NoSchedule, spot:NoExecute".to_string()
            ),
            "{lines:#?}"
        );
        assert!(lines.contains(
            &"usable by workloads that tolerate dedicated=gpu:NoSchedule, spot:NoExecute (1 node(s)), by no others"
                .to_string()
        ));
        let section = r.sections.iter().find(|s| s.title == "RuntimeClass wasmedge").unwrap();
        assert!(section.lines.iter().all(|l| l.verdict != Verdict::Fail), "{lines:#?}");
        assert_eq!(r.exit_code(), 0, "only real failures count: {}", r.to_text());
    }

    #[test]
    fn a_fallback_says_when_wasm_is_tried_again() {
        let mut f = facts();
        let mut wl = workload("hello", "demo");
        wl.spec.wasm.runtimes = vec!["spin".into()];
        f.workload = Some(WorkloadFacts {
            workload: wl,
            failure: Some(FailureRecord {
                generation: 1,
                runtime_class: "wasmtime-spin-v2".into(),
                usable_nodes: 1,
                reason: "StartupTimeout".into(),
                message: "m".into(),
                failures: 2,
                retry_at: Some(1_800_000_000),
            }),
        });
        let lines = texts(&build(&f, &RuntimeConfig::default()), "WasmWorkload demo/hello");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("(2 failure(s) in a row); it tries Wasm again at 2027-01-15T08:00:00Z")),
            "{lines:#?}"
        );
    }

    #[test]
    fn pods_the_api_server_refuses_are_shown_as_a_failed_check() {
        let mut f = facts();
        let mut wl = workload("hello", "demo");
        let refused = "the API server refused to create pods: pods \"hello-1\" is forbidden: exceeded quota: tiny";
        wl.status = Some(crate::api::crd::WasmWorkloadStatus {
            mode: Some(crate::api::crd::Mode::Wasm),
            conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: "PodsRefused".into(),
                message: refused.into(),
                observed_generation: Some(1),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ),
            }],
            ..Default::default()
        });
        f.workload = Some(WorkloadFacts {
            workload: wl,
            failure: None,
        });
        let r = build(&f, &RuntimeConfig::default());
        let section = r
            .sections
            .iter()
            .find(|s| s.title == "WasmWorkload demo/hello")
            .unwrap();
        let l = section.lines.iter().find(|l| l.text.starts_with("not Ready")).unwrap();
        assert_eq!(l.verdict, Verdict::Fail);
        assert_eq!(l.text, format!("not Ready (PodsRefused): {refused}"));
        assert!(r
            .to_text()
            .contains("✘ not Ready (PodsRefused): the API server refused to create pods"));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn a_spilled_workload_is_explained_with_its_excluded_nodes() {
        let mut f = facts();
        let mut wl = workload("hello", "demo");
        wl.spec.replicas = 4;
        wl.spec.placement = Placement::Spill;
        wl.status = Some(crate::api::crd::WasmWorkloadStatus {
            mode: Some(crate::api::crd::Mode::Wasm),
            spill: Some(SpillStatus {
                container_replicas: 2,
                reason: Some("Unschedulable".into()),
                message: Some("pod hello-x: 0/4 nodes are available: 1 Insufficient cpu.".into()),
                excluded_nodes: vec![crate::api::crd::ExcludedNode {
                    node: "edge-1".into(),
                    reason: "SandboxFailed".into(),
                    message: "no runtime".into(),
                    until: "2027-01-15T08:00:00Z".into(),
                    exclusions: 1,
                }],
            }),
            ..Default::default()
        });
        f.workload = Some(WorkloadFacts {
            workload: wl,
            failure: None,
        });
        let lines = texts(&build(&f, &RuntimeConfig::default()), "WasmWorkload demo/hello");
        assert!(
            lines.contains(&"spilled: 2 of 4 pods run the fallback image: Unschedulable: pod hello-x: 0/4 nodes are available: 1 Insufficient cpu.".to_string()),
            "{lines:#?}"
        );
        assert!(lines.contains(
            &"node edge-1 is kept out of Wasm until 2027-01-15T08:00:00Z (SandboxFailed: no runtime)".to_string()
        ));
    }

    #[test]
    fn installation_checks_fail_where_something_is_missing() {
        let mut f = facts();
        f.installation.crd_matches = None;
        f.installation.lease = Some(("op-1".into(), 300, 15));
        f.installation
            .permissions
            .push(("apps/deployments".into(), "patch".into(), false));
        let lines = texts(&build(&f, &RuntimeConfig::default()), "Installation");
        assert!(lines[0].contains("is not installed"));
        assert!(lines.iter().any(|l| l.contains("not renewed for 300 s")));
        assert!(lines.iter().any(|l| l == "not granted: patch apps/deployments"));
        assert!(lines.iter().any(|l| l.contains("memory footprints are not measured")));
    }
}
