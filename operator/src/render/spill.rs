//! The two Deployments of a `placement: Spill` workload: the Wasm one keeps off the excluded
//! nodes, and the spill one runs the fallback image beside it. Pure: no client.
//!
//! Both carry the workload's label, which the Service and `status.selector` select on, so one
//! Service sends traffic to both and an HPA counts both. The spill Deployment's own selector adds
//! the mode label, so the Wasm Deployment's ReplicaSets never claim its pods.

use crate::api::crd::{ExcludedNode, Mode, WasmWorkload};
use crate::api::excluded_nodes::{to_annotation, EXCLUDED_NODES_ANNOTATION};
use crate::api::labels::MODE_KEY;
use crate::api::reason;
use crate::decide::decision::Decision;
use crate::decide::discovery::Chosen;
use crate::render::deployment::render_deployment;
use crate::render::scheduling::keep_off;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, PreferredSchedulingTerm,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

/// The spill Deployment's name: the workload's, with `-spill`.
pub fn spill_deployment_name(workload: &str) -> String {
    format!("{workload}-spill")
}

fn pod_spec(d: &mut Deployment) -> Option<&mut PodSpec> {
    d.spec.as_mut()?.template.spec.as_mut()
}

/// The Wasm half of a spilled workload: its Deployment, kept off `excluded` nodes (and
/// remembering every exclusion, including those on probation), rolled out without taking a
/// Ready pod down first (maxUnavailable 0): the spill counts on the Wasm pods it lets container
/// pods go for.
pub fn wasm_half(d: Deployment, excluded: &[ExcludedNode], remembered: &[ExcludedNode]) -> Deployment {
    let mut d = exclude_nodes(d, excluded);
    if !remembered.is_empty() {
        d.annotations_mut()
            .insert(EXCLUDED_NODES_ANNOTATION.to_string(), to_annotation(remembered));
    }
    never_unavailable(d)
}

fn never_unavailable(mut d: Deployment) -> Deployment {
    if let Some(spec) = d.spec.as_mut() {
        spec.strategy = Some(DeploymentStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::String("25%".to_string())),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        });
    }
    d
}

/// Keep the pods off `excluded` nodes (`scheduling::keep_off`).
fn exclude_nodes(mut d: Deployment, excluded: &[ExcludedNode]) -> Deployment {
    let names: Vec<String> = excluded.iter().map(|e| e.node.clone()).collect();
    if let Some(spec) = pod_spec(&mut d) {
        spec.affinity = keep_off(spec.affinity.take(), &names);
    }
    d
}

/// The spill Deployment: the fallback image, `replicas` pods, preferring nodes the chosen
/// RuntimeClass does not select, so container pods leave the shim nodes' room to Wasm.
pub fn render_spill_deployment(wl: &WasmWorkload, chosen: &Chosen, replicas: i32) -> Option<Deployment> {
    let container = Decision::Container {
        reason: reason::CONTAINER,
        message: String::new(),
        record: None,
    };
    let mut d = never_unavailable(render_deployment(wl, &container)?);
    d.metadata.name = Some(spill_deployment_name(&wl.name_any()));
    let spec = d.spec.as_mut()?;
    spec.replicas = Some(replicas);
    spec.selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(MODE_KEY.to_string(), Mode::Container.as_label().to_string());
    let shim_labels = chosen
        .runtime_class
        .scheduling
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .filter(|s| !s.is_empty());
    if let (Some(labels), Some(pod)) = (shim_labels, pod_spec(&mut d)) {
        let away = PreferredSchedulingTerm {
            weight: 100,
            preference: NodeSelectorTerm {
                match_expressions: Some(
                    labels
                        .iter()
                        .map(|(k, v)| NodeSelectorRequirement {
                            key: k.clone(),
                            operator: "NotIn".to_string(),
                            values: Some(vec![v.clone()]),
                        })
                        .collect(),
                ),
                match_fields: None,
            },
        };
        pod.affinity
            .get_or_insert_with(Affinity::default)
            .node_affinity
            .get_or_insert_with(NodeAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(away);
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::labels::WORKLOAD_KEY;
    use crate::tests::fixtures::{chosen, workload};
    use k8s_openapi::api::core::v1::NodeSelector;
    use k8s_openapi::api::node::v1::Scheduling;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn excluded(node: &str) -> ExcludedNode {
        ExcludedNode {
            node: node.into(),
            reason: "SandboxFailed".into(),
            message: "no runtime".into(),
            until: "2026-12-02T22:00:00Z".into(),
            exclusions: 1,
        }
    }

    fn terms(d: &Deployment) -> &[NodeSelectorTerm] {
        let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let na = spec.affinity.as_ref().unwrap().node_affinity.as_ref().unwrap();
        &na.required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms
    }

    #[test]
    fn excluded_nodes_are_added_to_every_required_term() {
        let mut wl = workload("hello", "demo");
        let user_term = NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: "zone".into(),
                operator: "In".into(),
                values: Some(vec!["a".into()]),
            }]),
            match_fields: None,
        };
        wl.spec.scheduling = Some(Box::new(crate::api::crd::SchedulingSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![user_term.clone(), user_term],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }));
        let d = render_deployment(&wl, &Decision::Wasm(chosen("spin"))).unwrap();
        let on_probation = excluded("edge-3");
        let d = wasm_half(
            d,
            &[excluded("edge-1"), excluded("edge-2")],
            &[excluded("edge-1"), excluded("edge-2"), on_probation],
        );
        let rolling = d
            .spec
            .as_ref()
            .unwrap()
            .strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .unwrap();
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::Int(0)),
            "no Ready Wasm pod goes first"
        );
        assert_eq!(terms(&d).len(), 2);
        for t in terms(&d) {
            assert_eq!(
                t.match_expressions.as_ref().unwrap()[0].key,
                "zone",
                "the user's rule is kept"
            );
            let f = &t.match_fields.as_ref().unwrap()[0];
            assert_eq!((f.key.as_str(), f.operator.as_str()), ("metadata.name", "NotIn"));
            assert_eq!(
                f.values.as_deref(),
                Some(&["edge-1".to_string(), "edge-2".to_string()][..])
            );
        }
        assert!(d.annotations()[EXCLUDED_NODES_ANNOTATION].contains("edge-2"));
        assert!(
            d.annotations()[EXCLUDED_NODES_ANNOTATION].contains("edge-3"),
            "a node on probation is remembered, not kept out"
        );
        let plain = render_deployment(&workload("hello", "demo"), &Decision::Wasm(chosen("spin"))).unwrap();
        assert_eq!(
            terms(&exclude_nodes(plain, &[excluded("edge-1")])).len(),
            1,
            "one term of its own"
        );
    }

    #[test]
    fn the_spill_runs_the_fallback_under_its_own_name_and_selector() {
        let wl = workload("hello", "demo");
        let mut c = chosen("spin");
        let mut rc = (*c.runtime_class).clone();
        rc.scheduling = Some(Scheduling {
            node_selector: Some(BTreeMap::from([("wasm.example/shim".into(), "spin".into())])),
            tolerations: None,
        });
        c.runtime_class = Arc::new(rc);
        let d = render_spill_deployment(&wl, &c, 3).unwrap();
        assert_eq!(d.metadata.name.as_deref(), Some("hello-spill"));
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(3));
        let sel = spec.selector.match_labels.as_ref().unwrap();
        assert_eq!(
            (sel[WORKLOAD_KEY].as_str(), sel[MODE_KEY].as_str()),
            ("hello", "container")
        );
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.runtime_class_name, None);
        assert_eq!(pod.containers[0].image.as_deref(), Some("registry.example/hello:1.0"));
        assert_eq!(
            pod.node_selector, None,
            "the shim's nodeSelector is not the container's"
        );
        let preferred = &pod
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .preferred_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()[0];
        let away = &preferred.preference.match_expressions.as_ref().unwrap()[0];
        assert_eq!(
            (away.key.as_str(), away.operator.as_str()),
            ("wasm.example/shim", "NotIn")
        );
        let labels = spec.template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        assert_eq!(labels[WORKLOAD_KEY], "hello", "the Service selects both");
    }
}
