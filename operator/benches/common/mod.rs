//! The objects both benches generate: N workloads (10 namespaces), their pods, three nodes.

use serde_json::{json, Value};

pub const NAMESPACES: usize = 10;

/// Workload `i` of `replicas` pods, as a user writes it.
pub fn workload(i: usize, replicas: usize) -> Value {
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": format!("app-{i}"), "namespace": format!("bench-{}", i % NAMESPACES), "uid": format!("uid-wl-{i}"), "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "replicas": replicas,
            "wasm": {"image": "registry.example/hello-wasm:1.0", "runtimes": ["spin", "wasmtime"], "command": ["/"]},
            "fallback": {"image": "registry.example/hello:1.0", "policy": "OnFailure", "startupTimeoutSeconds": 60},
            "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"enabled": true, "type": "ClusterIP", "port": 80},
            "env": [{"name": "GREETING", "value": "hello"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
        }
    })
}

/// Pod `j` of workload `i`, as the API server serves it (Running and Ready).
pub fn pod(i: usize, j: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("app-{i}-5d8f7c9b4-x{j}x{i}"), "namespace": format!("bench-{}", i % NAMESPACES), "uid": format!("uid-pod-{i}-{j}"),
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app.kubernetes.io/managed-by": "wasm-operator", "wasm-operator.dev/workload": format!("app-{i}"), "wasm-operator.dev/mode": "wasm", "pod-template-hash": "5d8f7c9b4"},
                     "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("app-{i}-5d8f7c9b4"), "uid": "rs", "controller": true}]},
        "spec": {"runtimeClassName": "wasmtime-spin-v2", "nodeName": format!("node-{}", i % 3),
                 "containers": [{"name": "app", "image": "registry.example/hello-wasm:1.0", "command": ["/"], "ports": [{"name": "http", "containerPort": 8080}],
                                 "env": [{"name": "GREETING", "value": "hello"}], "resources": {"limits": {"memory": "64Mi"}}}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "hostIP": "192.0.2.1", "startTime": "2026-01-01T00:00:00Z",
                   "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "True"},
                                  {"type": "ContainersReady", "status": "True"}, {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:01Z"}],
                   "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "registry.example/hello-wasm:1.0", "imageID": "registry.example/hello-wasm@sha256:abc",
                                          "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]}
    })
}

/// Node `i` with the Wasm image, labelled `bench=extra_label` (the scale bench's; cache_bytes
/// keeps no nodes).
#[allow(dead_code)]
pub fn node(i: usize, extra_label: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{i}"), "labels": {"kubernetes.io/hostname": format!("node-{i}"), "bench": extra_label}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "images": [{"names": ["registry.example/hello-wasm@sha256:abc", "registry.example/hello-wasm:1.0"], "sizeBytes": 21000}]}
    })
}
