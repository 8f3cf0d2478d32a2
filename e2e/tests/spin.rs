//! End-to-end: a real Spin app (`apps/spin-hello`, an HTTP component built with spin-sdk) on
//! SpinKube's `containerd-shim-spin-v2`, with the operator's defaults: in a namespace enforcing
//! `restricted`, falling back to its container twin (`apps/http-hello`'s container, the same
//! answers), timed by `compare --http /`, and the README's Quickstart example as is.
//!
//! The cluster needs the Spin shim and its RuntimeClass (E2E_SPIN_RUNTIME_CLASS, default
//! `wasmtime-spin-v2` as SpinKube names it); without it these scenarios fail and say so.

use e2e::{
    compare_http_three_each, copy_of_runtime_class, create_runtime_class, enforce_restricted, http_images, kubectl,
    mode_is, pods_of, service_answers_from, wait_for, Scenario,
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
    let runtime = removable_spin_runtime(&mut s);
    // Hardened: a read-only root, under which the operator gives Spin a writable /.spin.
    let mut wl = spin_workload(runtime);
    wl["spec"]["containerSecurityContext"] = json!({"readOnlyRootFilesystem": true});
    s.apply(&wl).unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", mode_is(Mode::Wasm)).await;
    let c = compare_http_three_each(&s, runtime, SPIN_COPY).await;
    assert_eq!(c.http.as_deref(), Some("GET / on port 8080"));
    for (mode, m) in [("wasm", &c.wasm), ("container", &c.container)] {
        assert!(m.failures.is_empty(), "{mode}: {:?}", m.failures);
        assert_eq!(m.first_response_seconds.len(), 3, "{mode}: every pod answered");
        assert!(m.first_response_seconds.iter().all(|t| *t > 0.0), "{mode}");
    }
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn the_quickstart_example_runs_on_the_spin_shim() {
    let s = Scenario::new("spin-quickstart").await;
    let rc = spin_runtime_class();
    kubectl(&["get", "runtimeclass", &rc])
        .unwrap_or_else(|e| panic!("the Quickstart needs the Spin shim's RuntimeClass {rc}: {e}"));
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let text = kubectl(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        &format!("{root}/examples/spin-hello.yaml"),
    ])
    .unwrap();
    let mut example: Value = serde_json::from_str(&text).unwrap();
    // kubectl filled in its context's namespace; the scenario's own is meant.
    example["metadata"]
        .as_object_mut()
        .expect("the example's metadata")
        .remove("namespace");
    // Only the image references change: this cluster pulls from no registry.
    let (_, container) = http_images();
    example["spec"]["wasm"]["image"] = json!(spin_image());
    example["spec"]["fallback"]["image"] = json!(container);
    s.apply(&example).unwrap();
    let w = wait_for(
        &s.workloads(),
        "spin-hello",
        "two Ready Wasm pods",
        |w: Option<&WasmWorkload>| {
            w.and_then(|w| w.status.as_ref())
                .is_some_and(|st| st.mode == Some(Mode::Wasm) && st.ready_replicas == 2)
        },
    )
    .await;
    assert_eq!(w.status.unwrap().runtime_class_name.as_deref(), Some(rc.as_str()));
    service_answers_from(&s, "spin-hello", "spin").await;
}
