//! Fixtures shared by the unit and controller tests.

use crate::api::crd::{
    FallbackPolicy, FallbackSpec, ServiceSpec, WasmSpec, WasmWorkload, WasmWorkloadSpec, WorkloadPort,
};
use crate::api::views::{
    CachedPod, ContainerStateView, ContainerStatusView, PodConditionView, PodSpecView, PodStatusView, PodView,
    StateRunningView, StateWaitingView,
};
use crate::decide::discovery::Chosen;
use crate::decide::runtimes::Candidate;
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus, Taint, Toleration};
use k8s_openapi::api::node::v1::{RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
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
        after_failures: None,
        kept_off: vec![],
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
            resources: None,
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

/// A pod of a workload in the given state, as the pod cache keeps it; Wasm pods run with
/// RuntimeClass `spin`.
pub fn pod(name: &str, workload: &str, mode: &str, scheduled: bool, running: bool, ready: bool) -> CachedPod {
    CachedPod::from(pod_as_served(name, workload, mode, scheduled, running, ready))
}

/// The same pod as a watch serves it.
pub fn pod_as_served(name: &str, workload: &str, mode: &str, scheduled: bool, running: bool, ready: bool) -> PodView {
    let cond = |type_: &str, ok: bool| PodConditionView {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        ..Default::default()
    };
    // Labels as the API serves them, and the fields the cache keeps of them.
    PodView {
        workload: Some(workload.into()),
        mode: crate::api::crd::Mode::from_label(mode),
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("demo".into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(crate::api::labels::common_labels(workload, mode)),
            ..Default::default()
        },
        spec: Some(PodSpecView {
            runtime_class_name: (mode == "wasm").then(|| "spin".into()),
            ..Default::default()
        }),
        status: Some(PodStatusView {
            conditions: Some(vec![cond("PodScheduled", scheduled), cond("Ready", ready)]),
            container_statuses: scheduled.then(|| {
                vec![ContainerStatusView {
                    name: "app".into(),
                    ready,
                    state: Some(ContainerStateView {
                        running: running.then(StateRunningView::default),
                        waiting: (!running).then(|| StateWaitingView {
                            reason: Some("ContainerCreating".into()),
                            message: None,
                        }),
                    }),
                    ..Default::default()
                }]
            }),
            unschedulable: None,
        }),
    }
}

/// Set a pod's creation time and, when `ready_secs` > 0, its Ready transition time (Unix seconds).
pub fn set_times(pod: &mut CachedPod, created_secs: i64, ready_secs: i64) {
    let t = |s: i64| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap());
    pod.metadata.creation_timestamp = Some(t(created_secs));
    if ready_secs > 0 {
        for c in pod.status.as_mut().unwrap().conditions.as_mut().unwrap() {
            if c.type_ == "Ready" {
                c.last_transition_time = Some(t(ready_secs));
            }
        }
    }
}

/// Make the pod's container wait with `reason`.
pub fn set_waiting(pod: &mut CachedPod, reason: &str, message: &str) {
    let statuses = pod
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .get_or_insert_with(Vec::new);
    if statuses.is_empty() {
        statuses.push(ContainerStatusView {
            name: "app".into(),
            ..Default::default()
        });
    }
    statuses[0].state = Some(ContainerStateView {
        waiting: Some(StateWaitingView {
            reason: Some(reason.into()),
            message: Some(message.into()),
        }),
        ..Default::default()
    });
}

/// A plain HTTP/1.0 GET on loopback: (status code, body). Enough for our endpoints and
/// Prometheus's API without another HTTP client in the tree.
pub async fn http_get(addr: std::net::SocketAddr, path_and_query: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(format!("GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, body.to_string()))
}

/// Percent-encode a query parameter value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Path of a tool the tests drive, or a clear failure naming how to install it.
pub fn require_tool(name: &str, install: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("{name} is not installed: {install} (make test installs it)"))
}

/// The CRD's openAPIV3Schema as JSON.
pub fn crd_schema() -> serde_json::Value {
    use kube::CustomResourceExt;
    let crd = WasmWorkload::crd();
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

/// The messages of the CEL rules (kube's interpreter, schema defaults applied) the object breaks.
pub fn cel_messages(obj: &serde_json::Value) -> Vec<String> {
    match kube::core::cel::Validator::new().validate(&crd_schema(), obj, None) {
        Ok(()) => vec![],
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

/// Every document of `examples/`, by file: the WasmWorkloads and what they come with (a
/// Secret, an autoscaler).
pub fn example_documents() -> Vec<(String, serde_json::Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(docs.into_iter().map(|d| (file.clone(), d)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The WasmWorkloads of `examples/`, by file.
pub fn example_workloads() -> Vec<(String, serde_json::Value)> {
    example_documents()
        .into_iter()
        .filter(|(_, d)| d["kind"] == "WasmWorkload")
        .collect()
}

/// A failed sandbox: the pod's node has no handler for its RuntimeClass.
pub fn fail_sandbox(world: &std::sync::Mutex<crate::tests::mock_api::World>, pod: &str) {
    let mut w = world.lock().unwrap();
    w.put(
        "pods",
        crate::tests::controller_tests::pod_json(pod, "wasm", Some("wasmtime-spin-v2"), false, 0),
    );
    w.put("events", crate::tests::controller_tests::sandbox_event_json(pod));
}
