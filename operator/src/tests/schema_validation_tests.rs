//! Every Deployment and Service the builders produce for a corpus of specs, and the CRD itself,
//! validate against the real Kubernetes OpenAPI schemas (PyPI `kubernetes-validate`, strict) of
//! the oldest and newest Kubernetes versions we support.

use crate::api::crd::{FallbackPolicy, SchedulingSpec, WasmWorkload, WorkloadPort, WorkloadVolume};
use crate::decide::decision::Decision;
use crate::render::deployment::render_deployment;
use crate::render::service::render_service;
use crate::tests::fixtures::{chosen, chosen_with, toleration, workload};
use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, EnvVarSource, GRPCAction, HTTPGetAction, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Probe, ResourceRequirements, SecretKeySelector, TopologySpreadConstraint,
};
use k8s_openapi::api::core::v1::{
    CSIVolumeSource, Capabilities, ConfigMapVolumeSource, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
    EmptyDirVolumeSource, EnvFromSource, KeyToPath, ObjectFieldSelector, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, ProjectedVolumeSource, SecretEnvSource, SecretVolumeSource, SecurityContext,
    ServiceAccountTokenProjection, TCPSocketAction, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes versions the README claims.
pub const KUBERNETES_VERSIONS: &[&str] = &["1.33.0", "1.37.0"];

pub fn validator() -> PathBuf {
    if let Ok(p) = std::env::var("KUBERNETES_VALIDATE") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/kubernetes-validate");
    assert!(
        p.exists(),
        "kubernetes-validate not found at {}: run `make test` (it creates .venv) or set KUBERNETES_VALIDATE",
        p.display()
    );
    p
}

/// Validate manifest files strictly against the schemas of every Kubernetes version we claim.
pub fn assert_valid_for_kubernetes(files: &[PathBuf], what: &str) {
    let tool = validator();
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(&tool)
            .args(["--strict", "--quiet", "-k", version])
            .args(files)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "Kubernetes {version} rejects {what}:\n{text}");
    }
}

fn full_workload() -> WasmWorkload {
    let mut wl = workload("full", "demo");
    let s = &mut wl.spec;
    s.replicas = 3;
    s.env = vec![
        EnvVar {
            name: "PLAIN".into(),
            value: Some("1".into()),
            value_from: None,
        },
        EnvVar {
            name: "TOKEN".into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: "creds".into(),
                    key: "token".into(),
                    optional: Some(true),
                }),
                ..Default::default()
            }),
        },
    ];
    s.ports = vec![
        WorkloadPort {
            name: Some("http".into()),
            container_port: 8080,
            protocol: Some("TCP".into()),
        },
        WorkloadPort {
            name: None,
            container_port: 9090,
            protocol: Some("UDP".into()),
        },
    ];
    s.resources = Some(Box::new(ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity("10m".into())),
            ("memory".into(), Quantity("16Mi".into())),
        ])),
        limits: Some(BTreeMap::from([("memory".into(), Quantity("128Mi".into()))])),
        ..Default::default()
    }));
    s.readiness_probe = Some(Box::new(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(1),
        ..Default::default()
    }));
    s.service_account_name = Some("runner".into());
    s.image_pull_secrets = vec![k8s_openapi::api::core::v1::LocalObjectReference { name: "pull".into() }];
    s.pod_labels = BTreeMap::from([("team".into(), "edge".into())]);
    s.pod_annotations = BTreeMap::from([("prometheus.io/scrape".into(), "true".into())]);
    s.scheduling = Some(Box::new(SchedulingSpec {
        node_selector: BTreeMap::from([("kubernetes.io/arch".into(), "amd64".into())]),
        tolerations: vec![toleration(Some("wasm"), "Exists", None, Some("NoSchedule"))],
        affinity: Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "zone".into(),
                            operator: "In".into(),
                            values: Some(vec!["a".into(), "b".into()]),
                        }]),
                        match_fields: None,
                    }],
                }),
                preferred_during_scheduling_ignored_during_execution: None,
            }),
            ..Default::default()
        }),
        topology_spread_constraints: vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            ..Default::default()
        }],
        priority_class_name: Some("high".into()),
    }));
    with_everything_a_real_app_needs(&mut wl);
    wl
}

/// Volumes of every kind allowed, their mounts, envFrom, all three probes, security settings,
/// per-mode resources and annotations.
fn with_everything_a_real_app_needs(wl: &mut WasmWorkload) {
    let s = &mut wl.spec;
    let vol = |name: &str| WorkloadVolume {
        name: name.into(),
        ..Default::default()
    };
    s.volumes = vec![
        WorkloadVolume {
            config_map: Some(ConfigMapVolumeSource {
                name: "settings".into(),
                items: Some(vec![KeyToPath {
                    key: "msg".into(),
                    path: "msg.txt".into(),
                    mode: Some(0o444),
                }]),
                ..Default::default()
            }),
            ..vol("config")
        },
        WorkloadVolume {
            secret: Some(SecretVolumeSource {
                secret_name: Some("runtime-config".into()),
                default_mode: Some(0o400),
                ..Default::default()
            }),
            ..vol("secret")
        },
        WorkloadVolume {
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(Quantity("16Mi".into())),
            }),
            ..vol("scratch")
        },
        WorkloadVolume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "data".into(),
                read_only: Some(false),
            }),
            ..vol("data")
        },
        WorkloadVolume {
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        audience: Some("vault".into()),
                        expiration_seconds: Some(3600),
                        path: "token".into(),
                    }),
                    ..Default::default()
                }]),
                default_mode: None,
            }),
            ..vol("token")
        },
        WorkloadVolume {
            downward_api: Some(DownwardAPIVolumeSource {
                items: Some(vec![DownwardAPIVolumeFile {
                    path: "labels".into(),
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.labels".into(),
                        api_version: None,
                    }),
                    ..Default::default()
                }]),
                default_mode: None,
            }),
            ..vol("podinfo")
        },
        WorkloadVolume {
            csi: Some(CSIVolumeSource {
                driver: "secrets-store.csi.k8s.io".into(),
                read_only: Some(true),
                ..Default::default()
            }),
            ..vol("vault")
        },
    ];
    s.volume_mounts = ["config", "secret", "scratch", "data", "token", "podinfo", "vault"]
        .iter()
        .map(|v| VolumeMount {
            name: v.to_string(),
            mount_path: format!("/mnt/{v}"),
            read_only: Some(*v != "scratch" && *v != "data"),
            ..Default::default()
        })
        .collect();
    s.env_from = vec![EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: "creds".into(),
            optional: Some(true),
        }),
        prefix: Some("APP_".into()),
        ..Default::default()
    }];
    s.liveness_probe = Some(Box::new(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/livez".into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        ..Default::default()
    }));
    s.startup_probe = Some(Box::new(Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(8080),
            host: None,
        }),
        failure_threshold: Some(30),
        period_seconds: Some(1),
        ..Default::default()
    }));
    s.security_context = Some(Box::new(PodSecurityContext {
        fs_group: Some(2000),
        supplemental_groups: Some(vec![3000]),
        ..Default::default()
    }));
    s.container_security_context = Some(Box::new(SecurityContext {
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            add: Some(vec!["NET_BIND_SERVICE".into()]),
            drop: None,
        }),
        ..Default::default()
    }));
    let memory = |m: &str| {
        Some(Box::new(ResourceRequirements {
            limits: Some(BTreeMap::from([("memory".into(), Quantity(m.into()))])),
            ..Default::default()
        }))
    };
    s.wasm.resources = memory("64Mi");
    s.fallback.resources = memory("16Mi");
    s.deployment_annotations = BTreeMap::from([("team.example/owner".into(), "edge".into())]);
    if let Some(svc) = s.service.as_mut() {
        svc.annotations = BTreeMap::from([("service.beta.kubernetes.io/aws-load-balancer-type".into(), "nlb".into())]);
    }
}

/// The workloads every rendering test renders: fixtures of each shape and every example.
pub fn corpus() -> Vec<(String, WasmWorkload)> {
    let mut out = vec![
        ("design-example".to_string(), workload("hello", "demo")),
        ("full".to_string(), full_workload()),
    ];
    let mut minimal = workload("minimal", "demo");
    minimal.spec.ports.clear();
    minimal.spec.service = None;
    minimal.spec.fallback.policy = FallbackPolicy::WhenUnavailable;
    minimal.spec.wasm.command.clear();
    out.push(("minimal".into(), minimal));
    let mut grpc = full_workload();
    grpc.metadata.name = Some("grpc".into());
    grpc.spec.readiness_probe = Some(Box::new(Probe {
        grpc: Some(GRPCAction {
            port: 9090,
            service: None,
        }),
        ..Default::default()
    }));
    grpc.spec.replicas = 0;
    out.push(("grpc-probe-zero-replicas".into(), grpc));
    for (file, obj) in crate::tests::fixtures::example_workloads() {
        let mut wl: WasmWorkload = serde_json::from_value(obj).unwrap();
        wl.metadata.namespace = Some("demo".into());
        wl.metadata.uid = Some("0000-uid".into());
        out.push((file.trim_end_matches(".yaml").to_string(), wl));
    }
    out
}

/// A decision of each kind that renders a Deployment.
pub fn decisions() -> Vec<(&'static str, Decision)> {
    let crun = chosen_with(
        "crun-wasm",
        Some(BTreeMap::from([("crun", "yes")])),
        vec![toleration(Some("wasm"), "Equal", Some("true"), Some("NoExecute"))],
    );
    vec![
        ("wasm", Decision::Wasm(chosen("wasmtime-spin-v2"))),
        ("wasm-scheduled", Decision::Wasm(crun)),
        (
            "container",
            Decision::Container {
                reason: "NoUsableRuntime",
                message: "m".into(),
                record: None,
            },
        ),
    ]
}

#[test]
fn rendered_children_and_the_crd_validate_against_kubernetes_schemas() {
    let dir = std::env::temp_dir().join(format!("wasm-operator-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/wasmworkload.yaml")];
    for (name, wl) in corpus() {
        for (dname, decision) in decisions() {
            let d = render_deployment(&wl, &decision).expect("Wasm and Container render a Deployment");
            let p = dir.join(format!("{name}-{dname}-deployment.json"));
            std::fs::write(&p, serde_json::to_vec_pretty(&d).unwrap()).unwrap();
            files.push(p);
            if let Some(s) = render_service(&wl, dname) {
                let p = dir.join(format!("{name}-{dname}-service.json"));
                std::fs::write(&p, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 25, "corpus of {} manifests", files.len());
    assert_valid_for_kubernetes(&files, "rendered manifests");
    std::fs::remove_dir_all(&dir).ok();
}
