//! Fixtures shared by the unit and controller tests.

use crate::crd::{FallbackPolicy, FallbackSpec, ServiceSpec, WasmSpec, WasmWorkload, WasmWorkloadSpec, WorkloadPort};
use crate::discovery::Chosen;
use crate::runtimes::Candidate;
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus, Taint, Toleration};
use k8s_openapi::api::node::v1::{RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: value.map(Into::into),
        effect: effect.into(),
        time_added: None,
    }
}

pub fn toleration(key: Option<&str>, operator: &str, value: Option<&str>, effect: Option<&str>) -> Toleration {
    Toleration {
        key: key.map(Into::into),
        operator: Some(operator.into()),
        value: value.map(Into::into),
        effect: effect.map(Into::into),
        toleration_seconds: None,
    }
}

pub fn node(name: &str, labels: &[(&str, &str)], ready: bool, cordoned: bool, taints: Vec<Taint>) -> Arc<Node> {
    Arc::new(Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            unschedulable: cordoned.then_some(true),
            taints: (!taints.is_empty()).then_some(taints),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

pub fn runtime_class(
    name: &str,
    selector: Option<BTreeMap<String, String>>,
    tolerations: Vec<Toleration>,
) -> RuntimeClass {
    let scheduling = (selector.is_some() || !tolerations.is_empty()).then(|| Scheduling {
        node_selector: selector,
        tolerations: (!tolerations.is_empty()).then_some(tolerations),
    });
    RuntimeClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        handler: name.replace("wasmtime-", ""),
        overhead: None,
        scheduling,
    }
}

pub fn chosen_with(rc: &str, selector: Option<BTreeMap<&str, &str>>, tolerations: Vec<Toleration>) -> Chosen {
    let selector = selector.map(|s| s.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    Chosen {
        candidate: Candidate {
            runtime: rc.into(),
            runtime_class: rc.into(),
            pod_annotations: BTreeMap::new(),
        },
        runtime_class: Arc::new(runtime_class(rc, selector, tolerations)),
        usable_nodes: 1,
    }
}

pub fn chosen(rc: &str) -> Chosen {
    chosen_with(rc, None, vec![])
}

/// The design's example spec: a Spin app with a container fallback and a Service.
pub fn spec() -> WasmWorkloadSpec {
    WasmWorkloadSpec {
        replicas: 2,
        wasm: WasmSpec {
            image: "registry.example/hello-wasm:1.0".into(),
            runtimes: vec!["spin".into(), "wasmtime".into()],
            command: vec!["/".into()],
            args: vec![],
        },
        fallback: FallbackSpec {
            image: Some("registry.example/hello:1.0".into()),
            args: vec!["--port".into(), "8080".into()],
            policy: FallbackPolicy::OnFailure,
            ..Default::default()
        },
        ports: vec![WorkloadPort {
            name: Some("http".into()),
            container_port: 8080,
            protocol: None,
        }],
        service: Some(ServiceSpec {
            enabled: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn workload(name: &str, namespace: &str) -> WasmWorkload {
    let mut wl = WasmWorkload::new(name, spec());
    wl.metadata.namespace = Some(namespace.into());
    wl.metadata.uid = Some(format!("uid-{name}"));
    wl.metadata.generation = Some(1);
    wl
}
