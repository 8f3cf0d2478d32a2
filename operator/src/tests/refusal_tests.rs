//! Pods the API server refuses to create: the Deployment's `ReplicaFailure` condition, as a
//! real v1.36 server writes it for a namespace enforcing the `restricted` Pod Security Standard
//! and for a ResourceQuota. `Ready=False PodsRefused` with the server's message and a Warning
//! Event, under every policy and in both modes, and never a switch of mode.

use crate::api::crd::FallbackPolicy;
use crate::tests::controller_tests::{
    condition, container_world, event_reasons, ready_condition_reason, spin_world, workload_json, Harness, DEPLOYMENT,
};
use serde_json::{json, Value};
use std::time::Duration;

/// The condition a real kube-controller-manager v1.36 copied from the ReplicaSet when the
/// namespace enforced `restricted` and the pod template lacked the security settings.
const POD_SECURITY: &str = r#"pods "hello-848cd54c84-8qlb6" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "busybox" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "busybox" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "busybox" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "busybox" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#;

/// The same for a ResourceQuota `tiny` with `pods=0`.
const QUOTA: &str = r#"pods "hello-848cd54c84-m5x65" is forbidden: exceeded quota: tiny, requested: pods=1, used: pods=0, limited: pods=0"#;

/// The Deployment's status as the real deployment controller wrote it: no pod, and the
/// ReplicaSet's `FailedCreate` moved into a `ReplicaFailure` condition.
fn refused_status(message: &str) -> Value {
    json!({
        "observedGeneration": 1,
        "unavailableReplicas": 2,
        "terminatingReplicas": 0,
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
             "message": "Created new replica set \"hello-848cd54c84\"",
             "lastTransitionTime": "2026-12-02T15:17:18Z", "lastUpdateTime": "2026-12-02T15:17:18Z"},
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability.",
             "lastTransitionTime": "2026-12-02T15:17:18Z", "lastUpdateTime": "2026-12-02T15:17:18Z"},
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message,
             "lastTransitionTime": "2026-12-02T15:17:18Z", "lastUpdateTime": "2026-12-02T15:17:18Z"}
        ]
    })
}

fn set_deployment_status(h: &Harness, status: Value) {
    let mut w = h.world.lock().unwrap();
    let mut d = w.get("deployments", Some("demo"), "hello").unwrap().clone();
    d["status"] = status;
    w.put("deployments", d);
}

fn ready(h: &Harness) -> Value {
    let w = h.world.lock().unwrap();
    condition(
        &w.get("wasmworkloads", Some("demo"), "hello").unwrap()["status"],
        "Ready",
    )
    .clone()
}

async fn wait_for_ready_reason(h: &Harness, what: &str, reason: &'static str) {
    h.wait_for(what, move |w| {
        let st = &w.get("wasmworkloads", Some("demo"), "hello").unwrap()["status"];
        st["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["reason"] == reason)
    })
    .await;
}

#[tokio::test]
async fn refused_wasm_pods_are_named_under_every_policy_and_never_flip_the_mode() {
    for policy in [
        FallbackPolicy::Never,
        FallbackPolicy::WhenUnavailable,
        FallbackPolicy::OnFailure,
    ] {
        let h = Harness::converged(|w| {
            spin_world(w);
            let mut wl = workload_json(policy, &["spin"]);
            // A startup deadline that passes while the pods are refused: still no fallback.
            wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(1);
            w.put("wasmworkloads", wl);
        })
        .await;
        set_deployment_status(&h, refused_status(POD_SECURITY));
        wait_for_ready_reason(&h, &format!("{policy:?}: PodsRefused"), "PodsRefused").await;
        let r = ready(&h);
        assert_eq!(r["status"], "False");
        let message = r["message"].as_str().unwrap();
        assert_eq!(
            message,
            format!("the API server refused to create pods: {POD_SECURITY}"),
            "the server's own words"
        );
        assert!(
            event_reasons(&h).contains(&("Warning".into(), "PodsRefused".into())),
            "{policy:?}: {:?}",
            event_reasons(&h)
        );

        // Past the startup deadline, and poked: the mode holds, nothing more is written.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        h.poke_nodes("n1").await;
        assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1, "{policy:?}: no switch");
        let mode = h
            .world
            .lock()
            .unwrap()
            .get("wasmworkloads", Some("demo"), "hello")
            .unwrap()["status"]["mode"]
            .clone();
        assert_eq!(mode, "Wasm", "{policy:?}");
        let warnings = event_reasons(&h).iter().filter(|(_, r)| r == "PodsRefused").count();
        assert_eq!(warnings, 1, "{policy:?}: one Event per refusal, not one per reconcile");
    }
}

#[tokio::test]
async fn a_quota_refusal_in_container_mode_is_named_and_clears_when_pods_come() {
    let h = Harness::converged(container_world).await;
    set_deployment_status(&h, refused_status(QUOTA));
    wait_for_ready_reason(&h, "PodsRefused for the quota", "PodsRefused").await;
    assert!(ready(&h)["message"]
        .as_str()
        .unwrap()
        .ends_with("exceeded quota: tiny, requested: pods=1, used: pods=0, limited: pods=0"));
    assert_eq!(h.writes_to("PATCH", DEPLOYMENT).len(), 1);

    // The quota is raised: the deployment controller drops the condition and the pods come up.
    set_deployment_status(
        &h,
        json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
    );
    wait_for_ready_reason(&h, "Ready again", "Available").await;
    assert_eq!(ready_condition_reason(&h), "Available");
    let w = h.world.lock().unwrap();
    assert_eq!(
        w.get("wasmworkloads", Some("demo"), "hello").unwrap()["status"]["mode"],
        "Container"
    );
}

#[tokio::test]
async fn a_replica_failure_of_another_kind_is_not_a_refusal_to_create() {
    // FailedDelete: the ReplicaSet could not remove a pod; nothing is refused at creation.
    let h = Harness::converged(spin_world).await;
    let mut status = refused_status("pods \"hello-1\" is forbidden: a webhook said no");
    status["conditions"][2]["reason"] = json!("FailedDelete");
    set_deployment_status(&h, status);
    h.settle().await;
    assert_ne!(ready_condition_reason(&h), "PodsRefused");
}
