//! Builds the Deployment of a workload from its spec and the decision. Pure: no client.

use crate::api::crd::{Mode, WasmWorkload};
use crate::api::failure_record::FAILURE_ANNOTATION;
use crate::api::labels;
use crate::build::scheduling::merge;
use crate::decide::decision::Decision;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// Name of the application container in every pod.
pub const CONTAINER_NAME: &str = "app";

fn none_if_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn none_if_empty_map(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

/// The Deployment for a Wasm or Container decision; `None` when the decision renders nothing.
pub fn build_deployment(wl: &WasmWorkload, decision: &Decision) -> Option<Deployment> {
    let mode = decision.mode()?;
    let name = wl.name_any();
    let spec = &wl.spec;
    let chosen = match decision {
        Decision::Wasm(c) => Some(c),
        _ => None,
    };
    let (image, command, args) = match mode {
        Mode::Wasm => (
            spec.wasm.image.clone(),
            spec.wasm.command.clone(),
            spec.wasm.args.clone(),
        ),
        _ => (
            spec.fallback.image.clone().unwrap_or_default(),
            spec.fallback.command.clone(),
            spec.fallback.args.clone(),
        ),
    };
    let common = labels::common_labels(&name, mode.as_label());
    // A fallback caused by failing Wasm pods is remembered on the Deployment, so it is sticky.
    let annotations = match decision {
        Decision::Container { record: Some(r), .. } => {
            Some(BTreeMap::from([(FAILURE_ANNOTATION.to_string(), r.to_annotation())]))
        }
        _ => None,
    };

    // User labels first so ours win: the selector and mode labels must be right.
    let mut pod_labels = spec.pod_labels.clone();
    pod_labels.extend(common.clone());
    let mut pod_annotations = spec.pod_annotations.clone();
    if let Some(c) = chosen {
        pod_annotations.extend(c.candidate.pod_annotations.clone());
    }

    let scheduling = spec.scheduling.as_deref();
    let merged = merge(scheduling, chosen.and_then(|c| c.runtime_class.scheduling.as_ref()));
    let ports = spec
        .ports
        .iter()
        .map(|p| ContainerPort {
            name: p.name.clone(),
            container_port: p.container_port,
            // Explicit, as the server defaults it: the list is keyed by port and protocol.
            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
            ..Default::default()
        })
        .collect();

    let container = Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(image),
        command: none_if_empty(command),
        args: none_if_empty(args),
        env: none_if_empty(spec.env.clone()),
        ports: none_if_empty(ports),
        resources: spec.resources.as_deref().cloned(),
        readiness_probe: spec.readiness_probe.as_deref().cloned(),
        // Secure by default: the restricted Pod Security Standard's container rules.
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };

    let pod_spec = PodSpec {
        runtime_class_name: chosen.map(|c| c.candidate.runtime_class.clone()),
        containers: vec![container],
        node_selector: none_if_empty_map(merged.node_selector),
        tolerations: none_if_empty(merged.tolerations),
        affinity: scheduling.and_then(|s| s.affinity.clone()),
        topology_spread_constraints: scheduling.and_then(|s| none_if_empty(s.topology_spread_constraints.clone())),
        priority_class_name: scheduling.and_then(|s| s.priority_class_name.clone()),
        service_account_name: spec.service_account_name.clone(),
        image_pull_secrets: none_if_empty(spec.image_pull_secrets.clone()),
        security_context: Some(PodSecurityContext {
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };

    Some(Deployment {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: wl.namespace(),
            labels: Some(common),
            annotations,
            owner_references: wl.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(labels::selector_labels(&name)),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: none_if_empty_map(pod_annotations),
                    ..Default::default()
                }),
                spec: Some(pod_spec),
            },
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::crd::{SchedulingSpec, WorkloadPort};
    use crate::tests::fixtures::{chosen, chosen_with, toleration, workload};
    use k8s_openapi::api::core::v1::{
        Affinity, EnvVar, NodeAffinity, Probe, ResourceRequirements, TopologySpreadConstraint,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(d: &Deployment) -> &Container {
        &d.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0]
    }

    fn pod_spec(d: &Deployment) -> &PodSpec {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    fn pod_meta(d: &Deployment) -> &ObjectMeta {
        d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap()
    }

    #[test]
    fn wasm_mode_sets_runtime_class_and_wasm_image() {
        let wl = workload("hello", "demo");
        let d = build_deployment(&wl, &Decision::Wasm(chosen("wasmtime-spin-v2"))).unwrap();
        assert_eq!(pod_spec(&d).runtime_class_name.as_deref(), Some("wasmtime-spin-v2"));
        assert_eq!(container(&d).image.as_deref(), Some("registry.example/hello-wasm:1.0"));
        assert_eq!(container(&d).command, Some(vec!["/".to_string()]));
        assert_eq!(d.metadata.labels.as_ref().unwrap()[labels::MODE_KEY], "wasm");
        assert_eq!(pod_meta(&d).labels.as_ref().unwrap()[labels::MODE_KEY], "wasm");
    }

    #[test]
    fn container_mode_uses_fallback_and_no_runtime_class() {
        let wl = workload("hello", "demo");
        let d = build_deployment(
            &wl,
            &Decision::Container {
                reason: "NoUsableRuntime",
                message: String::new(),
                record: None,
            },
        )
        .unwrap();
        assert_eq!(pod_spec(&d).runtime_class_name, None);
        assert_eq!(container(&d).image.as_deref(), Some("registry.example/hello:1.0"));
        assert_eq!(
            container(&d).command,
            None,
            "fallback command is empty: the image's entrypoint"
        );
        assert_eq!(container(&d).args, Some(vec!["--port".to_string(), "8080".to_string()]));
        assert_eq!(d.metadata.labels.as_ref().unwrap()[labels::MODE_KEY], "container");
    }

    #[test]
    fn pending_and_invalid_render_nothing() {
        let wl = workload("hello", "demo");
        assert!(build_deployment(
            &wl,
            &Decision::Pending {
                reason: "x",
                message: String::new()
            }
        )
        .is_none());
        assert!(build_deployment(
            &wl,
            &Decision::Invalid {
                reason: "x",
                message: String::new()
            }
        )
        .is_none());
    }

    #[test]
    fn metadata_owner_and_selector() {
        let wl = workload("hello", "demo");
        let d = build_deployment(&wl, &Decision::Wasm(chosen("wasmtime"))).unwrap();
        assert_eq!(d.metadata.name.as_deref(), Some("hello"));
        assert_eq!(d.metadata.namespace.as_deref(), Some("demo"));
        let labels = d.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[labels::MANAGED_BY_KEY], "wasm-operator");
        assert_eq!(labels[labels::WORKLOAD_KEY], "hello");
        let owner = &d.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.kind, "WasmWorkload");
        assert_eq!(owner.api_version, "wasm-operator.dev/v1alpha1");
        assert_eq!(owner.name, "hello");
        assert_eq!(owner.uid, "uid-hello");
        assert_eq!(owner.controller, Some(true));
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(2));
        // The selector must not include the mode: a Deployment's selector is immutable.
        assert_eq!(spec.selector.match_labels, Some(labels::selector_labels("hello")));
    }

    #[test]
    fn every_spec_field_lands_where_it_should() {
        let mut wl = workload("full", "demo");
        let s = &mut wl.spec;
        s.env = vec![EnvVar {
            name: "GREETING".into(),
            value: Some("hi".into()),
            value_from: None,
        }];
        s.ports = vec![WorkloadPort {
            name: Some("http".into()),
            container_port: 8080,
            protocol: Some("TCP".into()),
        }];
        s.resources = Some(Box::new(ResourceRequirements {
            limits: Some(BTreeMap::from([("memory".into(), Quantity("64Mi".into()))])),
            ..Default::default()
        }));
        s.readiness_probe = Some(Box::new(Probe {
            period_seconds: Some(2),
            ..Default::default()
        }));
        s.service_account_name = Some("runner".into());
        s.image_pull_secrets = vec![k8s_openapi::api::core::v1::LocalObjectReference { name: "pull".into() }];
        s.pod_labels = BTreeMap::from([
            ("team".into(), "edge".into()),
            (labels::MODE_KEY.into(), "forged".into()),
        ]);
        s.pod_annotations = BTreeMap::from([("note".into(), "x".into())]);
        s.scheduling = Some(Box::new(SchedulingSpec {
            node_selector: BTreeMap::from([("zone".into(), "a".into())]),
            tolerations: vec![toleration(Some("edge"), "Exists", None, None)],
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity::default()),
                ..Default::default()
            }),
            topology_spread_constraints: vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: "zone".into(),
                when_unsatisfiable: "ScheduleAnyway".into(),
                ..Default::default()
            }],
            priority_class_name: Some("high".into()),
        }));
        let mut c = chosen_with(
            "crun-wasm",
            Some(BTreeMap::from([("crun", "yes")])),
            vec![toleration(Some("wasm"), "Exists", None, None)],
        );
        c.candidate.pod_annotations = BTreeMap::from([("module.wasm.image/variant".into(), "compat-smart".into())]);
        let d = build_deployment(&wl, &Decision::Wasm(c)).unwrap();
        let ctr = container(&d);
        assert_eq!(ctr.env, Some(wl.spec.env.clone()));
        let port = &ctr.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.container_port, port.protocol.as_deref()),
            (Some("http"), 8080, Some("TCP"))
        );
        assert_eq!(ctr.resources.as_ref(), wl.spec.resources.as_deref());
        assert_eq!(ctr.readiness_probe.as_ref(), wl.spec.readiness_probe.as_deref());
        assert_eq!(
            ctr.security_context.as_ref().unwrap().allow_privilege_escalation,
            Some(false)
        );
        let ps = pod_spec(&d);
        assert_eq!(ps.service_account_name.as_deref(), Some("runner"));
        assert_eq!(ps.image_pull_secrets.as_ref().unwrap()[0].name, "pull");
        assert_eq!(ps.priority_class_name.as_deref(), Some("high"));
        assert!(ps.affinity.as_ref().unwrap().node_affinity.is_some());
        assert_eq!(ps.topology_spread_constraints.as_ref().unwrap()[0].topology_key, "zone");
        let sel = ps.node_selector.as_ref().unwrap();
        assert_eq!(
            (sel["zone"].as_str(), sel["crun"].as_str()),
            ("a", "yes"),
            "merged, never dropped"
        );
        let tol_keys: Vec<_> = ps
            .tolerations
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| t.key.clone().unwrap())
            .collect();
        assert_eq!(tol_keys, ["edge", "wasm"]);
        assert_eq!(
            ps.security_context
                .as_ref()
                .unwrap()
                .seccomp_profile
                .as_ref()
                .unwrap()
                .type_,
            "RuntimeDefault"
        );
        let meta = pod_meta(&d);
        let pl = meta.labels.as_ref().unwrap();
        assert_eq!(pl["team"], "edge");
        assert_eq!(
            pl[labels::MODE_KEY],
            "wasm",
            "user labels cannot override the operator's"
        );
        let pa = meta.annotations.as_ref().unwrap();
        assert_eq!(pa["note"], "x");
        assert_eq!(pa["module.wasm.image/variant"], "compat-smart");
    }
}
