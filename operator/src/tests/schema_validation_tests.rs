//! Every Deployment and Service the builders produce for a corpus of specs, and the CRD itself,
//! validate against the real Kubernetes OpenAPI schemas (PyPI `kubernetes-validate`, strict) of
//! the oldest and newest Kubernetes versions we support.

use crate::api::crd::{FallbackPolicy, SchedulingSpec, WasmWorkload, WorkloadPort};
use crate::build::deployment::build_deployment;
use crate::build::service::build_service;
use crate::decide::decision::Decision;
use crate::tests::fixtures::{chosen, chosen_with, toleration, workload};
use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, EnvVarSource, ExecAction, HTTPGetAction, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Probe, ResourceRequirements, SecretKeySelector, TopologySpreadConstraint,
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
    wl
}

fn corpus() -> Vec<(String, WasmWorkload)> {
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
    let mut exec = full_workload();
    exec.metadata.name = Some("exec".into());
    exec.spec.readiness_probe = Some(Box::new(Probe {
        exec: Some(ExecAction {
            command: Some(vec!["true".into()]),
        }),
        ..Default::default()
    }));
    exec.spec.replicas = 0;
    out.push(("exec-probe-zero-replicas".into(), exec));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mut wl: WasmWorkload = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        wl.metadata.namespace = Some("demo".into());
        wl.metadata.uid = Some("0000-uid".into());
        out.push((path.file_stem().unwrap().to_string_lossy().into_owned(), wl));
    }
    out
}

fn decisions() -> Vec<(&'static str, Decision)> {
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
            let d = build_deployment(&wl, &decision).expect("Wasm and Container render a Deployment");
            let p = dir.join(format!("{name}-{dname}-deployment.json"));
            std::fs::write(&p, serde_json::to_vec_pretty(&d).unwrap()).unwrap();
            files.push(p);
            if let Some(s) = build_service(&wl, dname) {
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
