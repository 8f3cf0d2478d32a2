//! Builds the Deployment of a workload from its spec and the decision. Pure: no client.

use crate::api::crd::{Mode, WasmWorkload, WorkloadVolume};
use crate::api::failure_record::FAILURE_ANNOTATION;
use crate::api::labels;
use crate::decide::decision::Decision;
use crate::render::pod_security::{container_security_context, pod_security_context};
use crate::render::scheduling::{keep_off, merge};
use crate::render::spin::{add_state_dir, runs_spin};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodTemplateSpec, Volume};
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

/// The pod volume of a workload volume: the same name and source.
fn volume(v: &WorkloadVolume) -> Volume {
    Volume {
        name: v.name.clone(),
        config_map: v.config_map.clone(),
        secret: v.secret.clone(),
        empty_dir: v.empty_dir.clone(),
        persistent_volume_claim: v.persistent_volume_claim.clone(),
        projected: v.projected.clone(),
        downward_api: v.downward_api.clone(),
        csi: v.csi.clone(),
        ephemeral: v.ephemeral.clone(),
        ..Default::default()
    }
}

/// The Deployment for a Wasm or Container decision; `None` when the decision renders nothing.
pub fn render_deployment(wl: &WasmWorkload, decision: &Decision) -> Option<Deployment> {
    let mode = decision.mode()?;
    let name = wl.name_any();
    let spec = &wl.spec;
    let chosen = match decision {
        Decision::Wasm(c) => Some(c),
        _ => None,
    };
    // Each mode may size its pods apart: a shim's pod and a container differ in memory.
    let (image, command, args, resources) = match mode {
        Mode::Wasm => (
            spec.wasm.image.clone(),
            spec.wasm.command.clone(),
            spec.wasm.args.clone(),
            spec.wasm.resources.as_deref().or(spec.resources.as_deref()),
        ),
        _ => (
            spec.fallback.image.clone().unwrap_or_default(),
            spec.fallback.command.clone(),
            spec.fallback.args.clone(),
            spec.fallback.resources.as_deref().or(spec.resources.as_deref()),
        ),
    };
    let common = labels::common_labels(&name, mode.as_label());
    // The user's annotations first, so the operator's own keys win.
    let mut annotations = spec.deployment_annotations.clone();
    // Failures of Wasm are remembered on the Deployment: in the fallback they keep it in place
    // for its cooldown, and while Wasm is tried again they count the next failure.
    let record = match decision {
        Decision::Container { record: Some(r), .. } => Some(r),
        Decision::Wasm(c) => c.after_failures.as_deref(),
        _ => None,
    };
    if let Some(r) = record {
        annotations.insert(FAILURE_ANNOTATION.to_string(), r.to_annotation());
    }

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
        env_from: none_if_empty(spec.env_from.clone()),
        ports: none_if_empty(ports),
        resources: resources.cloned(),
        readiness_probe: spec.readiness_probe.as_deref().cloned(),
        liveness_probe: spec.liveness_probe.as_deref().cloned(),
        startup_probe: spec.startup_probe.as_deref().cloned(),
        volume_mounts: none_if_empty(spec.volume_mounts.clone()),
        security_context: Some(container_security_context(spec.container_security_context.as_deref())),
        ..Default::default()
    };

    let mut pod_spec = PodSpec {
        runtime_class_name: chosen.map(|c| c.candidate.runtime_class.clone()),
        containers: vec![container],
        node_selector: none_if_empty_map(merged.node_selector),
        tolerations: none_if_empty(merged.tolerations),
        // Kept off nodes whose runtime does not report the RuntimeClass's handler.
        affinity: keep_off(
            scheduling.and_then(|s| s.affinity.clone()),
            chosen.map_or(&[][..], |c| &c.kept_off),
        ),
        topology_spread_constraints: scheduling.and_then(|s| none_if_empty(s.topology_spread_constraints.clone())),
        priority_class_name: scheduling.and_then(|s| s.priority_class_name.clone()),
        service_account_name: spec.service_account_name.clone(),
        image_pull_secrets: none_if_empty(spec.image_pull_secrets.clone()),
        volumes: none_if_empty(spec.volumes.iter().map(volume).collect()),
        security_context: Some(pod_security_context(
            spec.security_context.as_deref(),
            spec.container_security_context.as_deref(),
        )),
        ..Default::default()
    };
    if chosen.is_some_and(runs_spin) {
        add_state_dir(&mut pod_spec);
    }

    Some(Deployment {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: wl.namespace(),
            labels: Some(common),
            annotations: none_if_empty_map(annotations),
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
    use crate::api::crd::WorkloadVolume;
    use crate::api::crd::{SchedulingSpec, WorkloadPort};
    use crate::tests::fixtures::{chosen, chosen_with, toleration, workload};
    use k8s_openapi::api::core::v1::{
        Affinity, ConfigMapEnvSource, EnvFromSource, EnvVar, HTTPGetAction, NodeAffinity, PodSecurityContext, Probe,
        ResourceRequirements, SecretVolumeSource, SecurityContext, TopologySpreadConstraint, VolumeMount,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

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
    fn a_spin_app_gets_a_writable_state_dir_under_a_read_only_root() {
        // The Spin shim creates its default key-value store under /.spin before serving.
        let read_only = |mut wl: WasmWorkload| {
            wl.spec.container_security_context = Some(Box::new(SecurityContext {
                read_only_root_filesystem: Some(true),
                ..Default::default()
            }));
            wl
        };
        let wl = read_only(workload("hello", "demo"));
        let d = render_deployment(&wl, &Decision::Wasm(chosen("wasmtime-spin-v2"))).unwrap();
        let mounts = container(&d).volume_mounts.clone().unwrap_or_default();
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_path == "/.spin" && m.name == crate::render::spin::STATE_VOLUME),
            "{mounts:?}"
        );
        let volumes = pod_spec(&d).volumes.clone().unwrap_or_default();
        assert!(volumes
            .iter()
            .any(|v| v.name == crate::render::spin::STATE_VOLUME && v.empty_dir.is_some()));
        // Other shims, the container, the default (writable) root, or the user's own mount:
        // nothing added.
        let other = render_deployment(&wl, &Decision::Wasm(chosen("wasmtime"))).unwrap();
        assert_eq!(container(&other).volume_mounts, None);
        let default = workload("hello", "demo");
        let d = render_deployment(&default, &Decision::Wasm(chosen("wasmtime-spin-v2"))).unwrap();
        assert_eq!(container(&d).volume_mounts, None);
        assert_eq!(pod_spec(&d).volumes, None);
        let mut own = read_only(workload("hello", "demo"));
        own.spec.volumes = vec![WorkloadVolume {
            name: "state".into(),
            empty_dir: Some(Default::default()),
            ..Default::default()
        }];
        own.spec.volume_mounts = vec![VolumeMount {
            name: "state".into(),
            mount_path: "/.spin/".into(),
            ..Default::default()
        }];
        let d = render_deployment(&own, &Decision::Wasm(chosen("wasmtime-spin-v2"))).unwrap();
        assert_eq!(container(&d).volume_mounts.as_ref().map(Vec::len), Some(1));
        assert_eq!(pod_spec(&d).volumes.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn wasm_mode_sets_runtime_class_and_wasm_image() {
        let wl = workload("hello", "demo");
        let d = render_deployment(&wl, &Decision::Wasm(chosen("wasmtime-spin-v2"))).unwrap();
        assert_eq!(pod_spec(&d).runtime_class_name.as_deref(), Some("wasmtime-spin-v2"));
        assert_eq!(container(&d).image.as_deref(), Some("registry.example/hello-wasm:1.0"));
        assert_eq!(container(&d).command, Some(vec!["/".to_string()]));
        assert_eq!(d.metadata.labels.as_ref().unwrap()[labels::MODE_KEY], "wasm");
        assert_eq!(pod_meta(&d).labels.as_ref().unwrap()[labels::MODE_KEY], "wasm");
    }

    #[test]
    fn container_mode_uses_fallback_and_no_runtime_class() {
        let wl = workload("hello", "demo");
        let d = render_deployment(
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
        assert!(render_deployment(
            &wl,
            &Decision::Pending {
                reason: "x",
                message: String::new()
            }
        )
        .is_none());
        assert!(render_deployment(
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
        let d = render_deployment(&wl, &Decision::Wasm(chosen("wasmtime"))).unwrap();
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
        let d = render_deployment(&wl, &Decision::Wasm(c)).unwrap();
        let ctr = container(&d);
        assert_eq!(ctr.env, Some(wl.spec.env.clone()));
        let port = &ctr.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.container_port, port.protocol.as_deref()),
            (Some("http"), 8080, Some("TCP"))
        );
        assert_eq!(ctr.resources.as_ref(), wl.spec.resources.as_deref());
        assert_eq!(ctr.readiness_probe.as_ref(), wl.spec.readiness_probe.as_deref());
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

    fn secret_volume(name: &str, secret: &str) -> WorkloadVolume {
        WorkloadVolume {
            name: name.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pods_pass_the_restricted_profile_by_default_in_both_modes() {
        let wl = workload("hello", "demo");
        for d in [
            render_deployment(&wl, &Decision::Wasm(chosen("wasmtime"))).unwrap(),
            render_deployment(&wl, &container_decision()).unwrap(),
        ] {
            let ps = pod_spec(&d);
            let psc = ps.security_context.as_ref().unwrap();
            assert_eq!(psc.run_as_non_root, Some(true));
            assert_eq!((psc.run_as_user, psc.run_as_group), (Some(65532), Some(65532)));
            assert_eq!(psc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
            let csc = container(&d).security_context.as_ref().unwrap();
            assert_eq!(csc.allow_privilege_escalation, Some(false));
            assert_eq!(csc.capabilities.as_ref().unwrap().drop, Some(vec!["ALL".to_string()]));
        }
    }

    fn container_decision() -> Decision {
        Decision::Container {
            reason: "NoUsableRuntime",
            message: String::new(),
            record: None,
        }
    }

    #[test]
    fn the_spec_s_security_settings_override_the_defaults() {
        let mut wl = workload("root", "demo");
        wl.spec.security_context = Some(Box::new(PodSecurityContext {
            run_as_user: Some(0),
            ..Default::default()
        }));
        wl.spec.container_security_context = Some(Box::new(SecurityContext {
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }));
        let d = render_deployment(&wl, &container_decision()).unwrap();
        let psc = pod_spec(&d).security_context.as_ref().unwrap();
        assert_eq!((psc.run_as_user, psc.run_as_non_root), (Some(0), None));
        let csc = container(&d).security_context.as_ref().unwrap();
        assert_eq!(
            (csc.read_only_root_filesystem, csc.allow_privilege_escalation),
            (Some(true), Some(false))
        );
    }

    #[test]
    fn probes_volumes_env_from_and_annotations_land_in_both_modes() {
        let mut wl = workload("app", "demo");
        let probe = |path: &str| {
            Some(Box::new(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some(path.into()),
                    port: IntOrString::String("http".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }))
        };
        wl.spec.liveness_probe = probe("/live");
        wl.spec.startup_probe = probe("/started");
        wl.spec.volumes = vec![
            secret_volume("runtime-config", "spin-config"),
            WorkloadVolume {
                name: "scratch".into(),
                empty_dir: Some(Default::default()),
                ..Default::default()
            },
        ];
        wl.spec.volume_mounts = vec![VolumeMount {
            name: "runtime-config".into(),
            mount_path: "/runtime-config.toml".into(),
            sub_path: Some("runtime-config.toml".into()),
            read_only: Some(true),
            ..Default::default()
        }];
        wl.spec.env_from = vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "settings".into(),
                optional: None,
            }),
            ..Default::default()
        }];
        wl.spec.deployment_annotations = BTreeMap::from([
            ("team.example/owner".to_string(), "edge".to_string()),
            (labels::SPEC_HASH_KEY.to_string(), "forged".to_string()),
        ]);
        for decision in [Decision::Wasm(chosen("wasmtime")), container_decision()] {
            let mut d = render_deployment(&wl, &decision).unwrap();
            crate::render::drift::stamp(&mut d, |d| &mut d.metadata).unwrap();
            let c = container(&d);
            assert_eq!(c.liveness_probe.as_ref(), wl.spec.liveness_probe.as_deref());
            assert_eq!(c.startup_probe.as_ref(), wl.spec.startup_probe.as_deref());
            assert_eq!(c.volume_mounts.as_ref(), Some(&wl.spec.volume_mounts));
            assert_eq!(c.env_from.as_ref(), Some(&wl.spec.env_from));
            let volumes = pod_spec(&d).volumes.as_ref().unwrap();
            assert_eq!(volumes.len(), 2);
            assert_eq!(
                volumes[0].secret.as_ref().unwrap().secret_name.as_deref(),
                Some("spin-config")
            );
            assert!(volumes[1].empty_dir.is_some() && volumes[1].host_path.is_none());
            let annotations = d.metadata.annotations.as_ref().unwrap();
            assert_eq!(annotations["team.example/owner"], "edge");
            assert_ne!(annotations[labels::SPEC_HASH_KEY], "forged", "the operator's key wins");
        }
    }

    #[test]
    fn each_mode_takes_its_own_resources_or_the_shared_ones() {
        let memory = |m: &str| {
            Some(Box::new(ResourceRequirements {
                limits: Some(BTreeMap::from([("memory".into(), Quantity(m.into()))])),
                ..Default::default()
            }))
        };
        let mut wl = workload("sized", "demo");
        wl.spec.resources = memory("32Mi");
        wl.spec.wasm.resources = memory("64Mi");
        let limit = |d: &Deployment| {
            container(d).resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"]
                .0
                .clone()
        };
        let wasm = |wl: &WasmWorkload| render_deployment(wl, &Decision::Wasm(chosen("wasmtime"))).unwrap();
        let ctr = |wl: &WasmWorkload| render_deployment(wl, &container_decision()).unwrap();
        assert_eq!((limit(&wasm(&wl)), limit(&ctr(&wl))), ("64Mi".into(), "32Mi".into()));
        wl.spec.fallback.resources = memory("8Mi");
        assert_eq!((limit(&wasm(&wl)), limit(&ctr(&wl))), ("64Mi".into(), "8Mi".into()));
        wl.spec.wasm.resources = None;
        assert_eq!(limit(&wasm(&wl)), "32Mi", "falls back to spec.resources");
    }

    #[test]
    fn every_new_field_changes_the_rendering_and_so_its_hash() {
        // The hash that says "nothing changed" is taken over the rendering: a field that does
        // not reach the rendering could change without a write.
        let hash = |wl: &WasmWorkload| {
            let mut d = render_deployment(wl, &Decision::Wasm(chosen("wasmtime"))).unwrap();
            crate::render::drift::stamp(&mut d, |d| &mut d.metadata).unwrap();
            labels::spec_hash(&d.metadata).unwrap()
        };
        let base = workload("h", "demo");
        type Edit = Box<dyn Fn(&mut WasmWorkload)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("volumes", Box::new(|w| w.spec.volumes = vec![secret_volume("s", "x")])),
            (
                "volumeMounts",
                Box::new(|w| {
                    w.spec.volume_mounts = vec![VolumeMount {
                        name: "s".into(),
                        mount_path: "/s".into(),
                        ..Default::default()
                    }]
                }),
            ),
            (
                "envFrom",
                Box::new(|w| w.spec.env_from = vec![EnvFromSource::default()]),
            ),
            (
                "livenessProbe",
                Box::new(|w| w.spec.liveness_probe = Some(Box::default())),
            ),
            (
                "startupProbe",
                Box::new(|w| w.spec.startup_probe = Some(Box::default())),
            ),
            (
                "securityContext",
                Box::new(|w| {
                    w.spec.security_context = Some(Box::new(PodSecurityContext {
                        fs_group: Some(1),
                        ..Default::default()
                    }))
                }),
            ),
            (
                "containerSecurityContext",
                Box::new(|w| {
                    w.spec.container_security_context = Some(Box::new(SecurityContext {
                        read_only_root_filesystem: Some(true),
                        ..Default::default()
                    }))
                }),
            ),
            (
                "wasm.resources",
                Box::new(|w| w.spec.wasm.resources = Some(Box::default())),
            ),
            (
                "deploymentAnnotations",
                Box::new(|w| w.spec.deployment_annotations = BTreeMap::from([("a".into(), "b".into())])),
            ),
        ];
        for (field, edit) in edits {
            let mut wl = base.clone();
            edit(&mut wl);
            assert_ne!(hash(&wl), hash(&base), "{field}");
        }
    }
}
