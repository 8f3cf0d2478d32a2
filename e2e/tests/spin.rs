//! End-to-end: a real Spin app (`apps/spin-hello`, an HTTP component built with spin-sdk) on
//! SpinKube's `containerd-shim-spin-v2`, with the operator's defaults: in a namespace enforcing
//! `restricted`, falling back to its container twin (`apps/http-hello`'s container, the same
//! answers), timed by `compare --http /`, and the README's Quickstart example as is.
//!
//! The cluster needs the Spin shim and its RuntimeClass (E2E_SPIN_RUNTIME_CLASS, default
//! `wasmtime-spin-v2` as SpinKube names it); without it these scenarios fail and say so.

use e2e::{
    compare_http_three_each, copy_of_runtime_class, create_runtime_class, enforce_restricted, http_images, kubectl,
    kubectl_stdin, mode_is, pods_of, service_answers_from, wait_for, Scenario,
};
use serde_json::{json, Value};
use wasm_operator::api::crd::{Mode, WasmWorkload};

/// The runtime name `make e2e`'s runtime configuration maps to SPIN_COPY.
const SPIN_RUNTIME: &str = "e2e-spin";
/// A copy of the Spin RuntimeClass a scenario may delete.
const SPIN_COPY: &str = "e2e-spin-rc";

/// The cluster's Spin RuntimeClass.
fn spin_runtime_class() -> String {
    std::env::var("E2E_SPIN_RUNTIME_CLASS").unwrap_or_else(|_| "wasmtime-spin-v2".into())
}

/// The Spin app's image as `make apps` builds it.
fn spin_image() -> String {
    std::env::var("E2E_SPIN_IMAGE").unwrap_or_else(|_| "localhost/spin-hello-wasm:1".into())
}

/// A deletable copy of the Spin RuntimeClass, asked for by the runtime name SPIN_RUNTIME.
fn removable_spin_runtime(s: &mut Scenario) -> &'static str {
    let rc = copy_of_runtime_class(&spin_runtime_class(), SPIN_COPY, "E2E_SPIN_RUNTIME_CLASS");
    create_runtime_class(s, &rc);
    SPIN_RUNTIME
}

/// `apps/spin-hello` as a workload: Spin listens where the twin does (SPIN_HTTP_LISTEN_ADDR, the
/// shim's own variable; port 8080), a Service, and an HTTP readiness probe every second.
fn spin_workload(runtime: &str) -> Value {
    let (_, container) = http_images();
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 1,
            "wasm": {"image": spin_image(), "runtimes": [runtime], "command": ["/"]},
            "fallback": {"image": container, "policy": "WhenUnavailable"},
            "env": [{"name": "SPIN_HTTP_LISTEN_ADDR", "value": "0.0.0.0:8080"}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"enabled": true, "port": 80},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}
        }
    })
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn the_spin_app_answers_through_its_service_in_a_restricted_namespace_then_its_container_twin() {
    let mut s = Scenario::new("spin-service").await;
    enforce_restricted(&s);
    let runtime = removable_spin_runtime(&mut s);
    s.apply(&spin_workload(runtime)).unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", mode_is(Mode::Wasm)).await;
    service_answers_from(&s, "app", "spin").await;
    let pods = pods_of(&s, "app").await;
    assert!(pods
        .iter()
        .any(|p| p.spec.as_ref().and_then(|s| s.runtime_class_name.as_deref()) == Some(SPIN_COPY)));

    kubectl(&["delete", "runtimeclass", SPIN_COPY]).unwrap();
    wait_for(&s.workloads(), "app", "Container mode", mode_is(Mode::Container)).await;
    service_answers_from(&s, "app", "container").await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn compare_http_times_the_spin_app_and_its_container_twin() {
    let mut s = Scenario::new("spin-compare").await;
    // Hardened as teams run it: `restricted` enforced, a ResourceQuota, a read-only root (under
    // which the operator gives Spin a writable /.spin); the pods of both modes pass all three.
    enforce_restricted(&s);
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "app"},
                       "spec": {"hard": {"pods": "10", "requests.cpu": "1", "requests.memory": "1Gi",
                                         "limits.memory": "2Gi"}}});
    s.apply(&quota).unwrap();
    let runtime = removable_spin_runtime(&mut s);
    let mut wl = spin_workload(runtime);
    wl["spec"]["containerSecurityContext"] = json!({"readOnlyRootFilesystem": true});
    wl["spec"]["resources"] = json!({"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}});
    s.apply(&wl).unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", mode_is(Mode::Wasm)).await;
    let pods = pods_of(&s, "app").await;
    let admitted = &pods
        .first()
        .expect("the Wasm pod, admitted")
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    assert!(admitted
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path == "/.spin"));
    let c = compare_http_three_each(&s, runtime, SPIN_COPY).await;
    assert_eq!(c.http.as_deref(), Some("GET / on port 8080"));
    for (mode, m) in [("wasm", &c.wasm), ("container", &c.container)] {
        assert!(m.failures.is_empty(), "{mode}: {:?}", m.failures);
        assert_eq!(m.first_response_seconds.len(), 3, "{mode}: every pod answered");
        assert!(m.first_response_seconds.iter().all(|t| *t > 0.0), "{mode}");
    }
}

/// Apply an example of `examples/` in the scenario's namespace with only its two image
/// references replaced by the suite's (this cluster pulls from no registry); the cluster's Spin
/// RuntimeClass must exist, as the examples ask for the runtime name `spin`.
fn apply_example(s: &Scenario, file: &str) {
    let rc = spin_runtime_class();
    kubectl(&["get", "runtimeclass", &rc])
        .unwrap_or_else(|e| panic!("the Spin examples need the Spin shim's RuntimeClass {rc}: {e}"));
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (wasm, fallback) = (
        "ghcr.io/spinkube/containerd-shim-spin/examples/spin-rust-hello:v0.15.1",
        "nginxinc/nginx-unprivileged:1.27-alpine",
    );
    assert!(
        text.contains(wasm) && text.contains(fallback),
        "{path} names other images"
    );
    let (_, container) = http_images();
    let text = text.replace(wasm, &spin_image()).replace(fallback, &container);
    kubectl_stdin(&["apply", "-n", &s.ns, "-f", "-"], &text).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Wait until workload `name` runs `ready` Ready Wasm pods on the Spin RuntimeClass, and its
/// Service answers from Spin.
async fn runs_on_spin(s: &Scenario, name: &str, ready: i32) {
    let w = wait_for(&s.workloads(), name, "Ready Wasm pods", |w: Option<&WasmWorkload>| {
        w.and_then(|w| w.status.as_ref())
            .is_some_and(|st| st.mode == Some(Mode::Wasm) && st.ready_replicas >= ready)
    })
    .await;
    assert_eq!(
        w.status.unwrap().runtime_class_name.as_deref(),
        Some(spin_runtime_class().as_str())
    );
    service_answers_from(s, name, "spin").await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn the_quickstart_example_runs_on_the_spin_shim() {
    let s = Scenario::new("spin-quickstart").await;
    apply_example(&s, "spin-hello.yaml");
    runs_on_spin(&s, "spin-hello", 2).await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn the_team_example_runs_on_the_spin_shim_with_its_runtime_config_from_a_secret() {
    let s = Scenario::new("spin-team").await;
    enforce_restricted(&s);
    apply_example(&s, "spin-app-with-config.yaml");
    // The HPA's minimum; each pod with the Secret as /runtime-config.toml (where the shim reads
    // it), an emptyDir for the store, three probes and per-mode memory.
    runs_on_spin(&s, "spin-kv", 2).await;
    let pods = pods_of(&s, "spin-kv").await;
    assert!(pods.iter().all(|p| {
        let c = &p.spec.as_ref().unwrap().containers[0];
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/runtime-config.toml")
            && c.startup_probe.is_some()
            && c.liveness_probe.is_some()
    }));
}
