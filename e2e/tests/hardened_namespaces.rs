//! End-to-end scenarios of real apps where users run them: namespaces that enforce the
//! `restricted` Pod Security Standard, quotas too small for a pod, volumes read by a Wasm
//! module, liveness probes and autoscalers. `#[ignore]`d like the others; `make e2e` runs them.
//! These need pods that really run: the apps of `apps/` (`make apps`) on a node with a Wasm shim.

use e2e::{
    container_image, enforce_restricted, http_images, kubectl, kubectl_stdin, mode_is, pods_of, removable_wasm_runtime,
    wait_for, wasm_runtime_class, workload, Scenario, REMOVABLE_RUNTIME_CLASS, TIMEOUT,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use serde_json::json;
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

/// The workload's Ready condition: (status, reason, message).
fn ready_of(w: &WasmWorkload) -> Option<(String, String, String)> {
    let c = w.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready_in(mode: Mode) -> impl Fn(Option<&WasmWorkload>) -> bool {
    move |w| {
        mode_is(mode)(w)
            && w.and_then(ready_of).is_some_and(|(status, _, _)| status == "True")
            && w.and_then(|w| w.status.as_ref()).is_some_and(|s| s.ready_replicas >= 1)
    }
}

/// Poll `check` every 500 ms until it gives a value, or fail after TIMEOUT saying what was awaited.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The log of the workload's first pod that is Ready.
async fn log_of_ready_pod(s: &Scenario, workload: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &s.ns);
    let ready = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|st| st.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let pod = pods_of(s, workload)
        .await
        .into_iter()
        .find(|p| ready(p) && p.metadata.deletion_timestamp.is_none())
        .expect("a Ready pod of the workload");
    let name = pod.metadata.name.unwrap();
    pods.logs(&name, &LogParams::default())
        .await
        .unwrap_or_else(|e| panic!("log of {name}: {e}"))
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn restricted_namespace_runs_wasm_then_the_container_when_the_runtime_goes() {
    let mut s = Scenario::new("restricted").await;
    enforce_restricted(&s);
    let runtime = removable_wasm_runtime(&mut s);
    s.apply(&workload(
        "app",
        &[runtime],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    // Admitted by the namespace and running on the shim: a Wasm pod that is Ready.
    wait_for(&s.workloads(), "app", "a Ready Wasm pod", ready_in(Mode::Wasm)).await;
    let pods = pods_of(&s, "app").await;
    let spec = pods[0].spec.as_ref().unwrap();
    assert_eq!(spec.runtime_class_name.as_deref(), Some(REMOVABLE_RUNTIME_CLASS));
    assert_eq!(
        spec.security_context.as_ref().unwrap().run_as_non_root,
        Some(true),
        "the operator's defaults"
    );

    // The runtime goes: the container runs in the same restricted namespace.
    kubectl(&["delete", "runtimeclass", REMOVABLE_RUNTIME_CLASS]).unwrap();
    wait_for(
        &s.workloads(),
        "app",
        "a Ready container pod",
        ready_in(Mode::Container),
    )
    .await;
    let w = s.workloads().get("app").await.unwrap();
    assert!(
        w.status.unwrap().fallback_reason.unwrap().contains("not installed"),
        "the reason names the missing RuntimeClass"
    );
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_quota_too_small_for_one_pod_is_named_and_the_mode_holds() {
    let mut s = Scenario::new("quota").await;
    let rc = wasm_runtime_class(&mut s);
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "tiny"},
                       "spec": {"hard": {"limits.memory": "1Mi"}}});
    s.apply(&quota).unwrap();
    let mut wl = workload("app", &[&rc], "OnFailure", Some(&container_image()));
    wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(5);
    wl["spec"]["resources"] = json!({"requests": {"memory": "16Mi"}, "limits": {"memory": "16Mi"}});
    s.apply(&wl).unwrap();
    let w = wait_for(
        &s.workloads(),
        "app",
        "Ready=False PodsRefused",
        |w: Option<&WasmWorkload>| {
            w.and_then(ready_of)
                .is_some_and(|(_, reason, _)| reason == "PodsRefused")
        },
    )
    .await;
    let (status, _, message) = ready_of(&w).unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("exceeded quota: tiny"),
        "the server's words: {message}"
    );
    assert_eq!(w.status.as_ref().unwrap().mode, Some(Mode::Wasm));

    // Four startup timeouts later the workload is still Wasm: a refusal the container would
    // meet as well is no reason to switch (watched, not slept through).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let w = s.workloads().get("app").await.unwrap();
        assert_eq!(w.status.as_ref().unwrap().mode, Some(Mode::Wasm), "no flapping");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let d: Deployment = s.deployments().get("app").await.unwrap();
    let template = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(template.runtime_class_name.as_deref(), Some(rc.as_str()));
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("WasmWorkload"))
        .filter_map(|e| e.reason)
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "PodsRefused").count(),
        1,
        "one Warning Event: {reasons:?}"
    );
    assert!(!reasons.iter().any(|r| r == "FellBack"), "{reasons:?}");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_config_map_mounted_into_a_wasm_pod_is_read_by_the_module() {
    let mut s = Scenario::new("configmap").await;
    enforce_restricted(&s);
    let runtime = removable_wasm_runtime(&mut s);
    let text = format!("hello from a ConfigMap in {}", s.ns);
    s.apply(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "msg"}, "data": {"msg": text}}))
        .unwrap();
    let mut wl = workload("app", &[runtime], "WhenUnavailable", Some(&container_image()));
    wl["spec"]["wasm"]["args"] = json!(["/config/msg"]);
    wl["spec"]["fallback"]["args"] = json!(["/config/msg"]);
    wl["spec"]["volumes"] = json!([{"name": "config", "configMap": {"name": "msg"}}]);
    wl["spec"]["volumeMounts"] = json!([{"name": "config", "mountPath": "/config", "readOnly": true}]);
    s.apply(&wl).unwrap();
    wait_for(&s.workloads(), "app", "a Ready Wasm pod", ready_in(Mode::Wasm)).await;
    let expected = format!("/config/msg: {text}");
    let log = eventually("the module's log line", || async {
        let log = log_of_ready_pod(&s, "app").await;
        log.contains(&expected).then_some(log)
    })
    .await;
    assert!(
        log.contains("(wasm)"),
        "E2E_WASM_IMAGE must be apps/print-and-sleep (make apps): {log}"
    );

    // The same mount in the container mode.
    kubectl(&["delete", "runtimeclass", REMOVABLE_RUNTIME_CLASS]).unwrap();
    wait_for(
        &s.workloads(),
        "app",
        "a Ready container pod",
        ready_in(Mode::Container),
    )
    .await;
    eventually("the container's log line", || async {
        let pods = pods_of(&s, "app").await;
        let only_container = pods
            .iter()
            .all(|p| p.spec.as_ref().unwrap().runtime_class_name.is_none());
        let log = log_of_ready_pod(&s, "app").await;
        (only_container && log.contains("(container)") && log.contains(&expected)).then_some(())
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn a_liveness_probe_restarts_a_container_that_stops_answering() {
    let s = Scenario::new("liveness").await;
    enforce_restricted(&s);
    let (_, http_container) = http_images();
    let mut wl = workload("app", &["e2e-missing"], "WhenUnavailable", Some(&http_container));
    wl["spec"]["env"] = json!([{"name": "HELLO_STOP_ANSWERING_AFTER_SECONDS", "value": "5"}]);
    wl["spec"]["ports"] = json!([{"name": "http", "containerPort": 8080}]);
    wl["spec"]["readinessProbe"] = json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1});
    wl["spec"]["livenessProbe"] =
        json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1, "failureThreshold": 2});
    s.apply(&wl).unwrap();
    wait_for(
        &s.workloads(),
        "app",
        "a Ready container pod",
        ready_in(Mode::Container),
    )
    .await;
    let restarts = eventually("a restart by the liveness probe", || async {
        let pods = pods_of(&s, "app").await;
        let count: i32 = pods
            .iter()
            .flat_map(|p| {
                p.status
                    .as_ref()
                    .and_then(|st| st.container_statuses.clone())
                    .unwrap_or_default()
            })
            .map(|c| c.restart_count)
            .sum();
        (count >= 1).then_some(count)
    })
    .await;
    assert!(restarts >= 1);
    // The kubelet says why, in an Event of the pod.
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let said = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .any(|m| m.contains("failed liveness probe"));
    assert!(said, "an Event says the liveness probe failed");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn an_autoscaler_owns_the_replicas_and_a_reapplied_manifest_does_not_fight_it() {
    let s = Scenario::new("autoscaler").await;
    let mut wl = workload("app", &["e2e-missing"], "WhenUnavailable", Some(&container_image()));
    // As the README says: leave `replicas` out when an autoscaler owns it.
    wl["spec"].as_object_mut().unwrap().remove("replicas");
    s.apply(&wl).unwrap();
    let hpa = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "app"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload", "name": "app"},
            "minReplicas": 2, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        }
    });
    s.apply(&hpa).unwrap();
    // The HorizontalPodAutoscaler raises the count to its minimum through the scale subresource.
    let scaled = |w: Option<&WasmWorkload>| w.is_some_and(|w| w.spec.replicas == 2);
    wait_for(&s.workloads(), "app", "replicas 2 from the autoscaler", scaled).await;
    wait_for(
        &s.deployments(),
        "app",
        "a Deployment of 2",
        |d: Option<&Deployment>| d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas) == Some(2),
    )
    .await;

    // Re-applying the manifest, client-side and server-side, leaves the autoscaler's count.
    s.apply(&wl).unwrap();
    kubectl_stdin(&["apply", "--server-side", "-n", &s.ns, "-f", "-"], &wl.to_string()).unwrap();
    assert_eq!(s.workloads().get("app").await.unwrap().spec.replicas, 2);
    let w = wait_for(&s.workloads(), "app", "2 pods Ready", |w: Option<&WasmWorkload>| {
        w.and_then(|w| w.status.as_ref())
            .is_some_and(|st| st.ready_replicas == 2)
    })
    .await;
    assert_eq!(w.spec.replicas, 2);
    let d = s.deployments().get("app").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2), "the operator follows the workload");
}
