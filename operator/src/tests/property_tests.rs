//! Property tests of the builders (proptest): for specs drawn at random within the CRD's limits
//! (and kept only when its schema and CEL rules accept them), building never panics, the output
//! keeps its invariants, and a large sample validates against the Kubernetes schemas.

use crate::api::crd::{
    FallbackPolicy, FallbackSpec, SchedulingSpec, ServiceSpec, WasmSpec, WasmWorkload, WasmWorkloadSpec, WorkloadPort,
    WorkloadVolume,
};
use crate::api::labels;
use crate::decide::decision::Decision;
use crate::render::deployment::render_deployment;
use crate::render::service::render_service;
use crate::tests::fixtures::{chosen, chosen_with, crd_schema, toleration};
use crate::tests::pod_security_tests::restricted_violations;
use crate::tests::schema_validation_tests::assert_valid_for_kubernetes;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EnvVar, PersistentVolumeClaimVolumeSource, PodSecurityContext, Probe, ResourceRequirements,
    SecretVolumeSource, SecurityContext, TCPSocketAction, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::cel::Validator;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use std::collections::BTreeMap;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,20}[a-z0-9]"
}

fn image() -> impl Strategy<Value = String> {
    "[a-z0-9.-]{1,20}(:[0-9]{1,5})?/[a-z0-9/_-]{1,40}(:[a-zA-Z0-9._-]{1,20})?"
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

fn ports() -> impl Strategy<Value = Vec<WorkloadPort>> {
    prop::collection::btree_map(
        "[a-z]([-a-z0-9]{0,12}[a-z0-9])?",
        (
            1..=65535i32,
            prop::option::of(prop::sample::select(vec!["TCP", "UDP", "SCTP"])),
        ),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(n, (port, proto))| WorkloadPort {
                name: Some(n),
                container_port: port,
                protocol: proto.map(String::from),
            })
            .collect()
    })
}

fn scheduling() -> impl Strategy<Value = Option<Box<SchedulingSpec>>> {
    prop::option::of(
        (
            prop::collection::btree_map("[a-z0-9./-]{1,30}", "[a-zA-Z0-9._-]{0,20}", 0..3),
            prop::collection::vec(
                ("[a-z0-9./-]{0,20}", prop::sample::select(vec!["Exists", "Equal"])),
                0..3,
            ),
            prop::option::of(name()),
        )
            .prop_map(|(node_selector, tols, priority_class_name)| {
                Box::new(SchedulingSpec {
                    node_selector,
                    tolerations: tols
                        .into_iter()
                        .map(|(k, op)| {
                            toleration(
                                (!k.is_empty()).then_some(k.as_str()),
                                op,
                                (op == "Equal").then_some("v"),
                                None,
                            )
                        })
                        .collect(),
                    priority_class_name,
                    ..Default::default()
                })
            }),
    )
}

fn spec() -> impl Strategy<Value = WasmWorkloadSpec> {
    (
        (
            0..=10_000i32,
            image(),
            prop::collection::btree_set(name(), 0..4),
            prop::collection::vec(text(), 0..3),
        ),
        (
            prop::sample::select(vec![
                FallbackPolicy::Never,
                FallbackPolicy::WhenUnavailable,
                FallbackPolicy::OnFailure,
            ]),
            image(),
            1..=3600i32,
        ),
        (
            prop::collection::vec(("[A-Z_][A-Z0-9_]{0,15}", text()), 0..4),
            ports(),
            any::<bool>(),
            prop::sample::select(vec!["ClusterIP", "NodePort", "LoadBalancer"]),
            1..=65535i32,
        ),
        (
            prop::option::of("[1-9][0-9]{0,3}(Mi|Gi|m)?"),
            any::<bool>(),
            scheduling(),
            prop::option::of(name()),
        ),
        (
            prop::collection::btree_map("[a-z0-9./-]{1,30}", text(), 0..3),
            prop::collection::btree_map("[a-z0-9./-]{1,30}", text(), 0..3),
        ),
    )
        .prop_map(
            |(
                (replicas, wasm_image, runtimes, args),
                (policy, fb_image, timeout),
                (env, ports, svc_on, svc_type, svc_port),
                (mem, probe, scheduling, sa),
                (pod_labels, pod_annotations),
            )| {
                let service_enabled = svc_on && !ports.is_empty();
                WasmWorkloadSpec {
                    replicas,
                    wasm: WasmSpec {
                        image: wasm_image,
                        runtimes: runtimes.into_iter().collect(),
                        command: vec![],
                        args,
                        resources: None,
                    },
                    fallback: FallbackSpec {
                        image: Some(fb_image),
                        policy,
                        startup_timeout_seconds: timeout,
                        ..Default::default()
                    },
                    env: env
                        .into_iter()
                        .map(|(n, v)| EnvVar {
                            name: n,
                            value: Some(v),
                            value_from: None,
                        })
                        .collect(),
                    service: Some(ServiceSpec {
                        enabled: service_enabled,
                        type_: svc_type.into(),
                        port: svc_port,
                        annotations: BTreeMap::new(),
                    }),
                    ports,
                    resources: mem.map(|m| {
                        Box::new(ResourceRequirements {
                            limits: Some(BTreeMap::from([("memory".to_string(), Quantity(m))])),
                            ..Default::default()
                        })
                    }),
                    readiness_probe: probe.then(|| {
                        Box::new(Probe {
                            tcp_socket: Some(TCPSocketAction {
                                port: IntOrString::Int(8080),
                                host: None,
                            }),
                            ..Default::default()
                        })
                    }),
                    scheduling,
                    service_account_name: sa,
                    pod_labels,
                    pod_annotations,
                    ..Default::default()
                }
            },
        )
}

/// What real apps add: volumes of the simple kinds with their mounts, and sometimes their own
/// security settings (root among them).
#[derive(Clone, Debug)]
struct Extras {
    volumes: Vec<(String, u8)>,
    run_as_user: Option<i64>,
    read_only_root: Option<bool>,
}

fn extras() -> impl Strategy<Value = Extras> {
    (
        prop::collection::btree_map("[a-z]([-a-z0-9]{0,20}[a-z0-9])?", 0..4u8, 0..4),
        prop::option::of(prop::sample::select(vec![0i64, 1000, 65532])),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(volumes, run_as_user, read_only_root)| Extras {
            volumes: volumes.into_iter().collect(),
            run_as_user,
            read_only_root,
        })
}

fn with_extras(mut spec: WasmWorkloadSpec, e: &Extras) -> WasmWorkloadSpec {
    for (name, kind) in &e.volumes {
        let mut v = WorkloadVolume {
            name: name.clone(),
            ..Default::default()
        };
        match kind {
            0 => v.empty_dir = Some(Default::default()),
            1 => {
                v.config_map = Some(ConfigMapVolumeSource {
                    name: name.clone(),
                    ..Default::default()
                })
            }
            2 => {
                v.secret = Some(SecretVolumeSource {
                    secret_name: Some(name.clone()),
                    ..Default::default()
                })
            }
            _ => {
                v.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: name.clone(),
                    read_only: None,
                })
            }
        }
        spec.volumes.push(v);
        spec.volume_mounts.push(VolumeMount {
            name: name.clone(),
            mount_path: format!("/mnt/{name}"),
            ..Default::default()
        });
    }
    spec.security_context = e.run_as_user.map(|u| {
        Box::new(PodSecurityContext {
            run_as_user: Some(u),
            ..Default::default()
        })
    });
    spec.container_security_context = e.read_only_root.map(|r| {
        Box::new(SecurityContext {
            read_only_root_filesystem: Some(r),
            ..Default::default()
        })
    });
    spec
}

fn workload(spec: WasmWorkloadSpec) -> WasmWorkload {
    let mut wl = WasmWorkload::new("prop", spec);
    wl.metadata.namespace = Some("demo".into());
    wl.metadata.uid = Some("uid-prop".into());
    wl
}

/// Whether the CRD's schema (jsonschema crate) and CEL rules (kube's interpreter) accept it.
fn accepted(wl: &WasmWorkload, schema: &Value, compiled: &jsonschema::Validator) -> bool {
    let obj = serde_json::to_value(wl).unwrap();
    compiled.is_valid(&obj) && Validator::new().validate(schema, &obj, None).is_ok()
}

fn decisions() -> Vec<Decision> {
    vec![
        Decision::Wasm(chosen("wasmtime")),
        Decision::Wasm(chosen_with(
            "spin",
            Some(BTreeMap::from([("spin", "yes")])),
            vec![toleration(Some("wasm"), "Exists", None, None)],
        )),
        Decision::Container {
            reason: "NoUsableRuntime",
            message: "m".into(),
            record: None,
        },
    ]
}

proptest! {
    #![proptest_config(Config { cases: 256, ..Config::default() })]

    #[test]
    fn building_never_panics_and_keeps_its_invariants(s in spec(), e in extras()) {
        let wl = workload(with_extras(s, &e));
        for decision in decisions() {
            let d = render_deployment(&wl, &decision).expect("Wasm and Container render a Deployment");
            let spec = d.spec.as_ref().unwrap();
            let template_labels = spec.template.metadata.as_ref().unwrap().labels.clone().unwrap();
            for (k, v) in spec.selector.match_labels.as_ref().unwrap() {
                prop_assert_eq!(template_labels.get(k), Some(v), "the selector selects the pods");
            }
            prop_assert_eq!(spec.replicas, Some(wl.spec.replicas));
            let pod = spec.template.spec.as_ref().unwrap();
            prop_assert_eq!(pod.runtime_class_name.is_some(), matches!(decision, Decision::Wasm(_)));
            prop_assert_eq!(&template_labels[labels::MODE_KEY], decision.mode().unwrap().as_label());
            // Unless the spec asks for root, the pods pass the restricted Pod Security Standard.
            let violations = restricted_violations(&serde_json::to_value(pod).unwrap());
            prop_assert_eq!(violations.is_empty(), e.run_as_user != Some(0), "{:?}", violations);
            // Every mount names a volume of the pod, in both modes alike.
            let volumes: Vec<&str> = pod.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
            for m in pod.containers[0].volume_mounts.iter().flatten() {
                prop_assert!(volumes.contains(&m.name.as_str()));
            }
            let svc = render_service(&wl, "wasm");
            prop_assert_eq!(svc.is_some(), wl.spec.service.as_ref().is_some_and(|s| s.enabled));
            // What we send survives a round trip through JSON.
            let back: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
            prop_assert_eq!(back, d);
        }
    }
}

/// 64 random accepted specs × 3 decisions, rendered and validated in one run of the validator.
#[test]
fn accepted_specs_yield_manifests_the_kubernetes_schemas_accept() {
    let schema = crd_schema();
    let compiled = jsonschema::validator_for(&schema).unwrap();
    let mut runner = TestRunner::deterministic();
    let dir = std::env::temp_dir().join(format!("wasm-operator-prop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut files, mut tried) = (vec![], 0);
    while files.len() < 64 * 3 && tried < 2000 {
        tried += 1;
        let e = extras().new_tree(&mut runner).unwrap().current();
        let wl = workload(with_extras(spec().new_tree(&mut runner).unwrap().current(), &e));
        if !accepted(&wl, &schema, &compiled) {
            continue;
        }
        for (i, decision) in decisions().iter().enumerate() {
            let d = render_deployment(&wl, decision).unwrap();
            let p = dir.join(format!("{tried}-{i}-deployment.json"));
            std::fs::write(&p, serde_json::to_vec(&d).unwrap()).unwrap();
            files.push(p);
        }
        if let Some(s) = render_service(&wl, "wasm") {
            let p = dir.join(format!("{tried}-service.json"));
            std::fs::write(&p, serde_json::to_vec(&s).unwrap()).unwrap();
            files.push(p);
        }
    }
    assert!(
        files.len() >= 64 * 3,
        "only {} manifests from {tried} draws: the generator strays outside the schema",
        files.len()
    );
    assert_valid_for_kubernetes(&files, "manifests of accepted specs");
    std::fs::remove_dir_all(&dir).ok();
}
