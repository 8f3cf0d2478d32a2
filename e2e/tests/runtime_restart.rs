//! End-to-end: the container runtime of the Wasm node restarts (as a node upgrade does) and
//! an `OnFailure` workload stays Wasm. Needs E2E_RESTART_RUNTIME, a shell command that
//! restarts the runtime of the nodes running the Wasm RuntimeClass (containerd and its shims).

use e2e::{container_image, mode_is, pods_of, wait_for, wasm_runtime_class, workload, Scenario, TIMEOUT};
use serde_json::json;
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

fn ready_pods(w: Option<&WasmWorkload>) -> i32 {
    w.and_then(|w| w.status.as_ref()).map_or(0, |s| s.ready_replicas)
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_container_runtime_restart_does_not_send_wasm_to_the_fallback() {
    let restart = std::env::var("E2E_RESTART_RUNTIME").expect(
        "E2E_RESTART_RUNTIME: a shell command that restarts the container runtime (containerd and its \
         shims) of the node running Wasm pods, e.g. `docker exec kind-worker systemctl restart containerd`",
    );
    let mut s = Scenario::new("runtime-restart").await;
    let rc = wasm_runtime_class(&mut s);
    let mut wl = workload("app", &[&rc], "OnFailure", Some(&container_image()));
    wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(5);
    s.apply(&wl).unwrap();
    wait_for(&s.workloads(), "app", "a Ready Wasm pod", |w: Option<&WasmWorkload>| {
        mode_is(Mode::Wasm)(w) && ready_pods(w) >= 1
    })
    .await;
    // Older than its startup timeout, so a lapse in readiness would look like one to a judge
    // that forgets the pod had started.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before: i32 = restarts(&s).await;

    let out = std::process::Command::new("sh")
        .args(["-c", &restart])
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "E2E_RESTART_RUNTIME failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The pod's container is started again by the kubelet; the workload never leaves Wasm.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut came_back = false;
    while tokio::time::Instant::now() < deadline {
        let w = s.workloads().get("app").await.unwrap();
        assert_eq!(
            w.status.as_ref().and_then(|s| s.mode),
            Some(Mode::Wasm),
            "the runtime's restart sent the workload to its fallback: {:?}",
            w.status.as_ref().and_then(|s| s.fallback_reason.clone())
        );
        if restarts(&s).await > before && ready_pods(Some(&w)) >= 1 {
            came_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        came_back,
        "the Wasm pod did not restart and come back within {TIMEOUT:?}"
    );
    let d = s.deployments().get("app").await.unwrap();
    let template = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(template.runtime_class_name.as_deref(), Some(rc.as_str()));
}

/// Container restarts of the workload's pods so far.
async fn restarts(s: &Scenario) -> i32 {
    pods_of(s, "app")
        .await
        .iter()
        .flat_map(|p| {
            p.status
                .as_ref()
                .and_then(|st| st.container_statuses.clone())
                .unwrap_or_default()
        })
        .map(|c| c.restart_count)
        .sum()
}
