//! End-to-end: the container runtime of the Wasm node restarts (as a node upgrade does), at
//! once or held down long enough for the kubelet to report the node NotReady, and `OnFailure`
//! and `WhenUnavailable` workloads stay Wasm. Needs E2E_RESTART_RUNTIME, a shell command that
//! restarts the runtime of the nodes running the Wasm RuntimeClass (containerd and its shims),
//! holding it down E2E_RUNTIME_DOWN_SECONDS when that is set.

use e2e::{container_image, mode_is, pods_of, wait_for, wasm_runtime_class, workload, Scenario, TIMEOUT};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

fn ready_pods(w: Option<&WasmWorkload>) -> i32 {
    w.and_then(|w| w.status.as_ref()).map_or(0, |s| s.ready_replicas)
}

/// The runtime restarted at once (as `systemctl restart containerd` does): the node may not
/// even be reported NotReady.
#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_container_runtime_restart_does_not_send_wasm_to_the_fallback() {
    restart_and_stay_wasm("runtime-restart", 0).await;
}

/// The runtime held down longer than the kubelet's status cycle (an upgrade, a restart that
/// waits on its shims): the kubelet reports the node NotReady ("container runtime is down"),
/// which the scenario checks it saw; the workload stays Wasm through the operator's readiness
/// grace, both under OnFailure and WhenUnavailable.
#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_slow_runtime_restart_that_makes_the_node_not_ready_keeps_wasm() {
    let down = std::env::var("E2E_RUNTIME_DOWN_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    restart_and_stay_wasm("runtime-slow", down).await;
}

/// Restart the Wasm node's runtime, holding it down `down_secs` (E2E_RUNTIME_DOWN_SECONDS is
/// set for the command), and check that the workloads never leave Wasm and their pods come back.
async fn restart_and_stay_wasm(ns: &str, down_secs: u64) {
    let restart = std::env::var("E2E_RESTART_RUNTIME").expect(
        "E2E_RESTART_RUNTIME: a shell command that restarts the container runtime (containerd and its \
         shims) of the node running Wasm pods, e.g. `docker exec kind-worker systemctl restart containerd`; \
         it holds the runtime down for E2E_RUNTIME_DOWN_SECONDS when set",
    );
    let mut s = Scenario::new(ns).await;
    let rc = wasm_runtime_class(&mut s);
    let policies = [("app", "OnFailure"), ("app-wu", "WhenUnavailable")];
    for (name, policy) in policies {
        let mut wl = workload(name, &[&rc], policy, Some(&container_image()));
        wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(5);
        s.apply(&wl).unwrap();
    }
    for (name, _) in policies {
        wait_for(&s.workloads(), name, "a Ready Wasm pod", |w: Option<&WasmWorkload>| {
            mode_is(Mode::Wasm)(w) && ready_pods(w) >= 1
        })
        .await;
    }
    // Older than its startup timeout, so a lapse in readiness would look like one to a judge
    // that forgets the pod had started.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before: i32 = restarts(&s, "app").await;
    let node = pods_of(&s, "app").await[0]
        .spec
        .as_ref()
        .and_then(|p| p.node_name.clone())
        .expect("the Wasm pod is bound");

    // Watch the node's Ready condition while the runtime is down.
    let nodes: Api<Node> = Api::all(s.client.clone());
    let not_ready_seen = Arc::new(AtomicBool::new(false));
    let restarting = Arc::new(AtomicBool::new(true));
    let watch = {
        let (nodes, node, seen, restarting) = (nodes.clone(), node.clone(), not_ready_seen.clone(), restarting.clone());
        tokio::spawn(async move {
            while restarting.load(Ordering::Relaxed) {
                if let Ok(n) = nodes.get(&node).await {
                    let ready = n.status.and_then(|s| s.conditions).unwrap_or_default();
                    if ready.iter().any(|c| c.type_ == "Ready" && c.status != "True") {
                        seen.store(true, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &restart])
            .env("E2E_RUNTIME_DOWN_SECONDS", down_secs.to_string())
            .output()
            .expect("sh runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "E2E_RESTART_RUNTIME failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The pods' containers are started again by the kubelet; no workload ever leaves Wasm.
    let deadline = tokio::time::Instant::now() + TIMEOUT + Duration::from_secs(down_secs);
    let mut came_back = false;
    while tokio::time::Instant::now() < deadline {
        for (name, policy) in policies {
            let w = s.workloads().get(name).await.unwrap();
            assert_eq!(
                w.status.as_ref().and_then(|s| s.mode),
                Some(Mode::Wasm),
                "the runtime's restart sent the {policy} workload to its fallback: {:?}",
                w.status.as_ref().and_then(|s| s.fallback_reason.clone())
            );
        }
        let all_ready = {
            let mut ok = restarts(&s, "app").await > before;
            for (name, _) in policies {
                ok &= ready_pods(s.workloads().get(name).await.ok().as_ref()) >= 1;
            }
            ok
        };
        if all_ready {
            came_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    restarting.store(false, Ordering::Relaxed);
    watch.await.unwrap();
    assert!(
        came_back,
        "the Wasm pods did not restart and come back within {TIMEOUT:?} after the runtime did"
    );
    if down_secs > 0 {
        assert!(
            not_ready_seen.load(Ordering::Relaxed),
            "node {node} was never reported NotReady in {down_secs} s without its runtime: hold it down longer \
             (E2E_RUNTIME_DOWN_SECONDS) than the kubelet's status cycle"
        );
    }
    let d = s.deployments().get("app").await.unwrap();
    let template = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(template.runtime_class_name.as_deref(), Some(rc.as_str()));
    // The node as found: Ready again (pods can be Ready before the kubelet posts it), so the
    // scenarios after this one do not meet a node still NotReady from this restart.
    wait_for(&nodes, &node, "the node Ready again", |n: Option<&Node>| {
        n.and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
    .await;
}

/// Container restarts of the workload's pods so far.
async fn restarts(s: &Scenario, name: &str) -> i32 {
    pods_of(s, name)
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
