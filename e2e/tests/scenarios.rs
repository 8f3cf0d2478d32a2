//! End-to-end scenarios against the cluster named by KUBECONFIG. Run with `make e2e`, which
//! installs the CRD, starts the operator and runs these; they are `#[ignore]`d so the default
//! test command compiles and lists them without a cluster. Each runs in its own namespace and
//! waits on conditions with timeouts; none depends on pods really executing except where it says
//! so (pods becoming Ready, which a simulated cluster's driver provides too).

use e2e::{
    container_image, create_runtime_class, expect_no_usable_node, helm, helm_install, kubectl, metric_sum, mode_is,
    operator_metrics, pods_of, reason_of, restart_operator, restore_node_when_done, runtime_class, schedulable_nodes,
    wait_for, wait_gone, wasm_runtime_class, workload, Scenario, TIMEOUT,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

fn runtime_class_of(d: &Deployment) -> Option<String> {
    d.spec.as_ref()?.template.spec.as_ref()?.runtime_class_name.clone()
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn usable_runtime_runs_wasm() {
    let mut s = Scenario::new("usable-runtime").await;
    let rc = format!("{}-wasm", s.ns);
    create_runtime_class(&mut s, &runtime_class(&rc, "spin", None));
    s.apply(&workload("app", &[&rc], "WhenUnavailable", Some(&container_image())))
        .unwrap();
    let w = wait_for(&s.workloads(), "app", "mode Wasm", mode_is(Mode::Wasm)).await;
    assert_eq!(w.status.unwrap().runtime_class_name.as_deref(), Some(rc.as_str()));
    let d = wait_for(&s.deployments(), "app", "the Deployment", |d: Option<&Deployment>| {
        d.is_some()
    })
    .await;
    assert_eq!(runtime_class_of(&d).as_deref(), Some(rc.as_str()));
    let table = kubectl(&["get", "wasmw", "app", "-n", &s.ns]).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..4], ["NAME", "MODE", "RUNTIME", "READY"], "{table}");
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["app", "Wasm", rc.as_str()], "{table}");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn missing_runtime_class_falls_back() {
    let s = Scenario::new("missing-rc").await;
    // e2e-missing maps to RuntimeClass e2e-never-created (e2e/run.sh's runtime config).
    s.apply(&workload(
        "app",
        &["e2e-missing"],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    let w = wait_for(&s.workloads(), "app", "mode Container", mode_is(Mode::Container)).await;
    assert!(
        reason_of(&w).contains("e2e-never-created: not installed"),
        "{}",
        reason_of(&w)
    );
    let d = wait_for(&s.deployments(), "app", "the Deployment", |d: Option<&Deployment>| {
        d.is_some()
    })
    .await;
    assert_eq!(runtime_class_of(&d), None);
    let image = d.spec.unwrap().template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image, Some(container_image()));
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn node_selector_matching_no_node_falls_back() {
    let mut s = Scenario::new("nosel").await;
    let rc = format!("{}-nosel", s.ns);
    create_runtime_class(
        &mut s,
        &runtime_class(&rc, "spin", Some(json!({"e2e.wasm-operator.dev/no-such-node": "true"}))),
    );
    expect_no_usable_node(&s, &rc).await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn tainted_node_falls_back() {
    let mut s = Scenario::new("tainted").await;
    let nodes: Api<Node> = Api::all(s.client.clone());
    let node = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("a node")
        .name_any();
    let key = format!("e2e.wasm-operator.dev/{}", s.ns);
    kubectl(&["label", "node", &node, &format!("{key}=yes")]).unwrap();
    s.cleanup(&["label", "node", &node, &format!("{key}-")]);
    kubectl(&["taint", "node", &node, &format!("{key}=yes:NoSchedule")]).unwrap();
    s.cleanup(&["taint", "node", &node, &format!("{key}=yes:NoSchedule-")]);
    let rc = format!("{}-tainted", s.ns);
    create_runtime_class(&mut s, &runtime_class(&rc, "spin", Some(json!({ key.clone(): "yes" }))));
    expect_no_usable_node(&s, &rc).await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn node_affinity_matching_no_runtime_node_falls_back() {
    let mut s = Scenario::new("affinity").await;
    // The RuntimeClass runs on every node; the workload's required affinity names none.
    let rc = format!("{}-affinity", s.ns);
    create_runtime_class(&mut s, &runtime_class(&rc, "spin", None));
    let mut wl = workload("app", &[&rc], "WhenUnavailable", Some(&container_image()));
    wl["spec"]["scheduling"] = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "e2e.wasm-operator.dev/no-such-node", "operator": "In", "values": ["true"]}]}]}}}});
    s.apply(&wl).unwrap();
    let w = wait_for(&s.workloads(), "app", "mode Container", mode_is(Mode::Container)).await;
    assert!(reason_of(&w).contains("node affinity"), "{}", reason_of(&w));
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn runtime_class_created_switches_back_to_wasm() {
    let mut s = Scenario::new("late-rc").await;
    // e2e-late maps to RuntimeClass e2e-late-rc, created only after the workload fell back.
    s.apply(&workload(
        "app",
        &["e2e-late"],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    wait_for(&s.workloads(), "app", "mode Container", mode_is(Mode::Container)).await;
    create_runtime_class(&mut s, &runtime_class("e2e-late-rc", "spin", None));
    wait_for(&s.workloads(), "app", "mode Wasm", mode_is(Mode::Wasm)).await;
    let d = wait_for(
        &s.deployments(),
        "app",
        "a Wasm Deployment",
        |d: Option<&Deployment>| d.and_then(runtime_class_of).as_deref() == Some("e2e-late-rc"),
    )
    .await;
    assert_eq!(d.metadata.labels.unwrap()["wasm-operator.dev/mode"], "wasm");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn policy_never_stays_pending() {
    let s = Scenario::new("never").await;
    s.apply(&workload("app", &["e2e-missing"], "Never", None)).unwrap();
    let w = wait_for(&s.workloads(), "app", "mode Pending", mode_is(Mode::Pending)).await;
    let ready = w
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "NoUsableRuntime")
    );
    assert!(
        ready.message.contains("e2e-never-created: not installed"),
        "{}",
        ready.message
    );
    assert!(
        s.deployments().get_opt("app").await.unwrap().is_none(),
        "no Deployment with policy Never"
    );
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn scale_follows() {
    let s = Scenario::new("scale").await;
    s.apply(&workload(
        "app",
        &["e2e-missing"],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    wait_for(&s.deployments(), "app", "the Deployment", |d: Option<&Deployment>| {
        d.is_some()
    })
    .await;
    kubectl(&["scale", "wasmw/app", "-n", &s.ns, "--replicas=2"]).unwrap();
    wait_for(&s.deployments(), "app", "2 replicas", |d: Option<&Deployment>| {
        d.and_then(|d| d.spec.as_ref()?.replicas) == Some(2)
    })
    .await;
    wait_for(
        &s.workloads(),
        "app",
        "status replicas 2/2",
        |w: Option<&WasmWorkload>| {
            w.and_then(|w| w.status.as_ref())
                .is_some_and(|st| st.replicas == 2 && st.ready_replicas == 2)
        },
    )
    .await;
}

/// The handler of a RuntimeClass whose pods fail their sandbox for real on this cluster. A node
/// that reports its handlers (containerd 2) is believed, so a handler it lacks never gets a pod:
/// there the suite needs a handler that is configured but whose shim binary is not installed
/// (e2e/README.md, "A broken runtime"). A node that reports none fails any unknown handler.
async fn broken_handler(s: &Scenario) -> &'static str {
    const CONFIGURED_NOT_INSTALLED: &str = "e2e-shim-not-installed";
    let reports: Vec<(String, Vec<String>)> = schedulable_nodes(s)
        .await
        .iter()
        .filter_map(|n| {
            let handlers = wasm_operator::decide::discovery::reported_handlers(n)?;
            Some((n.name_any(), handlers))
        })
        .collect();
    if reports.is_empty() {
        return "e2e-no-such-handler";
    }
    for (node, handlers) in &reports {
        assert!(
            handlers.iter().any(|h| h == CONFIGURED_NOT_INSTALLED),
            "node {node} reports its runtime handlers {handlers:?} but not {CONFIGURED_NOT_INSTALLED:?}: \
             configure that runtime without its shim binary (e2e/README.md, \"A broken runtime\")"
        );
    }
    CONFIGURED_NOT_INSTALLED
}

/// Wait for the first Wasm pod of the scenario and for its FailedCreatePodSandBox Event; returns
/// the pod. A kubelet reports it for a [`broken_handler`]; on a simulated cluster without a
/// kubelet, write the Event it would have written.
async fn sandbox_fails(s: &Scenario) -> Pod {
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &s.ns);
    let params = ListParams::default().labels("wasm-operator.dev/mode=wasm");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let pod = loop {
        if let Some(p) = pods.list(&params).await.unwrap().items.into_iter().next() {
            break p;
        }
        assert!(tokio::time::Instant::now() < deadline, "no Wasm pod appeared");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let by_kubelet = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let evs = events
                .list(&ListParams::default().fields("reason=FailedCreatePodSandBox"))
                .await
                .unwrap();
            if !evs.items.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    if by_kubelet.is_err() {
        let ev: Event = serde_json::from_value(json!({
            "metadata": {"name": format!("{}.e2e", pod.name_any()), "namespace": s.ns},
            "involvedObject": {"kind": "Pod", "name": pod.name_any(), "namespace": s.ns, "uid": pod.uid()},
            "reason": "FailedCreatePodSandBox", "type": "Warning",
            "message": "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"e2e-no-such-handler\" is configured"
        }))
        .unwrap();
        events.create(&PostParams::default(), &ev).await.unwrap();
    }
    pod
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn sandbox_failure_falls_back_on_failure() {
    let mut s = Scenario::new("sandbox").await;
    let rc = format!("{}-broken", s.ns);
    let handler = broken_handler(&s).await;
    create_runtime_class(&mut s, &runtime_class(&rc, handler, None));
    let mut wl = workload("app", &[&rc], "OnFailure", Some(&container_image()));
    wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(3600);
    s.apply(&wl).unwrap();
    wait_for(&s.workloads(), "app", "mode Wasm", mode_is(Mode::Wasm)).await;
    sandbox_fails(&s).await;
    let w = wait_for(&s.workloads(), "app", "the fallback", mode_is(Mode::Container)).await;
    assert!(
        reason_of(&w).contains("Failed to create pod sandbox"),
        "{}",
        reason_of(&w)
    );
    let d = s.deployments().get("app").await.unwrap();
    let record = d.metadata.annotations.unwrap()["wasm-operator.dev/wasm-failure"].clone();
    assert!(record.contains("\"reason\":\"SandboxFailed\""), "{record}");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn bad_specs_are_refused_with_the_cel_message() {
    let s = Scenario::new("bad-specs").await;
    let mut no_image = workload("a", &["spin"], "OnFailure", None);
    no_image["spec"]["fallback"] = json!({"policy": "OnFailure"});
    let mut empty_runtime = workload("b", &["spin", ""], "WhenUnavailable", Some(&container_image()));
    empty_runtime["spec"]["wasm"]["runtimes"] = json!(["spin", ""]);
    let mut service = workload("c", &["spin"], "WhenUnavailable", Some(&container_image()));
    service["spec"]["service"] = json!({"enabled": true});
    for (manifest, message) in [
        (no_image, "fallback.image is required unless fallback.policy is Never"),
        (empty_runtime, "wasm.runtimes entries must not be empty"),
        (service, "service.enabled requires at least one entry in ports"),
    ] {
        let err = s.apply(&manifest).expect_err("the API server refuses it");
        assert!(err.contains(message), "expected {message:?} in: {err}");
    }
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn metrics_report_cold_starts_per_mode() {
    let mut s = Scenario::new("metrics").await;
    let rc = wasm_runtime_class(&mut s);
    s.apply(&workload("wasm", &[&rc], "WhenUnavailable", Some(&container_image())))
        .unwrap();
    s.apply(&workload(
        "ctr",
        &["e2e-missing"],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    for name in ["wasm", "ctr"] {
        wait_for(&s.workloads(), name, "a Ready pod", |w: Option<&WasmWorkload>| {
            w.and_then(|w| w.status.as_ref())
                .is_some_and(|st| st.ready_replicas >= 1)
        })
        .await;
    }
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let text = operator_metrics();
        let count = |mode| {
            metric_sum(
                &text,
                "wasm_workload_cold_start_seconds_count",
                &[("namespace", &s.ns), ("mode", mode)],
            )
        };
        if count("wasm") >= 1.0 && count("container") >= 1.0 {
            let last = metric_sum(
                &text,
                "wasm_workload_last_cold_start_seconds",
                &[("namespace", &s.ns), ("workload", "ctr")],
            );
            assert!(last > 0.0, "last cold start of ctr: {last}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cold starts per mode not reported:\n{text}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn deletion_garbage_collects_children() {
    let s = Scenario::new("gc").await;
    s.apply_workload_with_service().await;
    wait_for(&s.deployments(), "app", "the Deployment", |d: Option<&Deployment>| {
        d.is_some()
    })
    .await;
    s.workloads().delete("app", &DeleteParams::default()).await.unwrap();
    wait_gone(&s.deployments(), "app", "the Deployment").await;
    wait_gone(&s.services(), "app", "the Service").await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn hand_edited_service_is_put_back() {
    let s = Scenario::new("svc-edit").await;
    let port = |svc: Option<&Service>| svc.and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first().map(|p| p.port));
    let original = port(Some(&s.apply_workload_with_service().await));
    patch_service_port_by_hand(&s, 9999);
    wait_for(
        &s.services(),
        "app",
        "the port put back",
        move |svc: Option<&Service>| port(svc).is_some() && port(svc) == original,
    )
    .await;
    event_seen(&s, "PutBack").await;
}

/// `kubectl set image` as a user would, on the workload's Deployment.
fn set_image_by_hand(s: &Scenario, image: &str) {
    kubectl(&["set", "image", "deploy/app", "-n", &s.ns, &format!("app={image}")]).unwrap();
}

fn image_of(d: Option<&Deployment>) -> Option<String> {
    d?.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .clone()
}

/// `kubectl patch` of the first port of the workload's Service, as the real-cluster report did.
fn patch_service_port_by_hand(s: &Scenario, port: i32) {
    kubectl(&[
        "patch",
        "service",
        "app",
        "-n",
        &s.ns,
        "--type=json",
        "-p",
        &format!(r#"[{{"op": "replace", "path": "/spec/ports/0/port", "value": {port}}}]"#),
    ])
    .unwrap();
}

fn service_port(svc: Option<&Service>) -> Option<i32> {
    svc.and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first().map(|p| p.port))
}

/// Wait until the workload's Deployment runs the container image.
async fn container_image_runs(s: &Scenario, what: &str) {
    let want = container_image();
    wait_for(&s.deployments(), "app", what, move |d: Option<&Deployment>| {
        image_of(d).as_deref() == Some(want.as_str())
    })
    .await;
}

/// Wait until an Event with `reason` about the workload was written.
async fn event_seen(s: &Scenario, reason: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !event_reasons(s).await.iter().any(|r| r == reason) {
        assert!(tokio::time::Instant::now() < deadline, "no {reason} Event");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The reasons of the Events about the workload `app`.
async fn event_reasons(s: &Scenario) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("WasmWorkload"))
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn hand_edited_deployment_is_put_back() {
    let s = Scenario::new("deploy-edit").await;
    s.apply_workload_with_service().await;
    container_image_runs(&s, "the Deployment").await;
    set_image_by_hand(&s, "e2e.invalid/hand-edited:1");
    container_image_runs(&s, "the image put back").await;
    event_seen(&s, "PutBack").await;
    let w = s.workloads().get("app").await.unwrap();
    assert_eq!(w.status.unwrap().mode, Some(Mode::Container), "status says what runs");
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn children_edited_while_the_operator_is_down_are_put_back() {
    let s = Scenario::new("restart").await;
    let original = service_port(Some(&s.apply_workload_with_service().await));
    restart_operator();
    // Edit at once: the operator is down (or a follower is only taking over).
    set_image_by_hand(&s, "e2e.invalid/while-down:1");
    patch_service_port_by_hand(&s, 9998);
    container_image_runs(&s, "the image put back").await;
    wait_for(
        &s.services(),
        "app",
        "the port put back",
        move |svc: Option<&Service>| service_port(svc).is_some() && service_port(svc) == original,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn failing_wasm_pod_is_named_under_every_policy() {
    let mut s = Scenario::new("fail-policy").await;
    let rc = format!("{}-broken", s.ns);
    let handler = broken_handler(&s).await;
    create_runtime_class(&mut s, &runtime_class(&rc, handler, None));
    for policy in ["Never", "WhenUnavailable"] {
        let _ = kubectl(&[
            "delete",
            "wasmw",
            "app",
            "-n",
            &s.ns,
            "--ignore-not-found",
            "--wait=true",
        ]);
        wait_gone(&s.deployments(), "app", "the previous Deployment").await;
        let mut wl = workload("app", &[&rc], policy, Some(&container_image()));
        wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(3600);
        s.apply(&wl).unwrap();
        sandbox_fails(&s).await;
        let w = wait_for(
            &s.workloads(),
            "app",
            "Ready=False SandboxFailed",
            |w: Option<&WasmWorkload>| {
                w.and_then(|w| w.status.as_ref()).is_some_and(|st| {
                    st.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "False" && c.reason == "SandboxFailed")
                })
            },
        )
        .await;
        let st = w.status.unwrap();
        assert_eq!(st.mode, Some(Mode::Wasm), "{policy}: no switch of image");
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert!(
            ready.message.contains("Failed to create pod sandbox"),
            "{}",
            ready.message
        );
        event_seen(&s, "SandboxFailed").await;
        let d = s.deployments().get("app").await.unwrap();
        assert_eq!(runtime_class_of(&d).as_deref(), Some(rc.as_str()), "{policy}");
    }
}

/// When each pod of the namespace became Ready, creation → Ready as this watch saw it (ms).
async fn watch_cold_starts(client: kube::Client, ns: String, want: usize) -> Vec<(String, f64)> {
    use futures::TryStreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let mut seen: std::collections::HashMap<String, std::time::Instant> = Default::default();
    let mut done: Vec<(String, String, f64)> = vec![];
    let stream = watcher::watcher(pods, watcher::Config::default()).applied_objects();
    futures::pin_mut!(stream);
    while let Some(p) = stream.try_next().await.expect("pod watch") {
        let name = p.name_any();
        let first = *seen.entry(name.clone()).or_insert_with(std::time::Instant::now);
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let mode = p.labels().get("wasm-operator.dev/mode").cloned().unwrap_or_default();
        if ready && !done.iter().any(|(n, _, _)| n == &name) {
            done.push((name, mode, first.elapsed().as_secs_f64()));
            if done.len() >= want {
                break;
            }
        }
    }
    done.into_iter().map(|(_, mode, secs)| (mode, secs)).collect()
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn real_wasm_and_container_cold_starts_agree_with_an_independent_watch() {
    let mut s = Scenario::new("real-wasm").await;
    let rc = wasm_runtime_class(&mut s);
    let watch = tokio::spawn(watch_cold_starts(s.client.clone(), s.ns.clone(), 2));
    // The same app twice: Wasm through the RuntimeClass, and its container image.
    s.apply(&workload("wasm", &[&rc], "Never", None)).unwrap();
    s.apply(&workload(
        "ctr",
        &["e2e-missing"],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    let ours = tokio::time::timeout(TIMEOUT, watch)
        .await
        .expect("both pods Ready")
        .unwrap();
    let mine = |mode: &str| ours.iter().find(|(m, _)| m == mode).map(|(_, s)| *s).unwrap();
    for (name, mode) in [("wasm", Mode::Wasm), ("ctr", Mode::Container)] {
        let w = wait_for(
            &s.workloads(),
            name,
            "a cold start and an image size",
            |w: Option<&WasmWorkload>| {
                w.and_then(|w| w.status.as_ref()).is_some_and(|st| {
                    st.cold_start.is_some() && st.footprint.as_ref().is_some_and(|f| f.image_size_bytes.is_some())
                })
            },
        )
        .await;
        let st = w.status.unwrap();
        assert_eq!(st.mode, Some(mode));
        let operator = st.cold_start.unwrap().last_seconds;
        let suite = mine(mode.as_label());
        // Both watch the same pod; each sees its events a little late (the watch delay).
        assert!(
            (operator - suite).abs() < 0.5,
            "{name}: the operator measured {operator:.3} s, the suite's own watch {suite:.3} s"
        );
        // The image size is the node's figure for the image the pods run.
        let nodes: Api<Node> = Api::all(s.client.clone());
        let image = if mode == Mode::Wasm {
            w.spec.wasm.image.clone()
        } else {
            container_image()
        };
        let sizes: Vec<i64> = nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .flat_map(|n| n.status.as_ref().and_then(|s| s.images.clone()).unwrap_or_default())
            .filter(|i| {
                i.names
                    .iter()
                    .flatten()
                    .any(|n| n == &image || n.ends_with(&format!("/{image}")))
            })
            .filter_map(|i| i.size_bytes)
            .collect();
        let reported = st.footprint.unwrap().image_size_bytes.unwrap();
        assert!(
            sizes.contains(&reported),
            "{name}: {reported} bytes, nodes say {sizes:?}"
        );
        println!("{name}: cold start {operator:.3} s (suite {suite:.3} s), image {reported} bytes");
    }
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn chart_upgrade_rolls_out() {
    assert!(
        helm_install(),
        "run with E2E_HELM=1: this scenario upgrades the installed chart"
    );
    let s = Scenario::new("upgrade").await;
    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), "wasm-system");
    let before = deployments.get("wasm-operator").await.unwrap();
    let values: Value = serde_json::from_str(&std::env::var("E2E_HELM_VALUES").expect("set by e2e/run.sh")).unwrap();
    let mut values = values;
    values["podAnnotations"] = json!({"e2e.wasm-operator.dev/upgrade": s.ns});
    // The engine waits for the rollout; it never finished when a follower reported not ready.
    helm("upgrade", &values).unwrap_or_else(|e| panic!("helm upgrade: {e}"));
    let d = deployments.get("wasm-operator").await.unwrap();
    assert!(d.metadata.generation > before.metadata.generation);
    let st = d.status.unwrap();
    let want = d.spec.unwrap().replicas.unwrap_or(1);
    assert_eq!(
        (st.updated_replicas, st.ready_replicas, st.observed_generation),
        (Some(want), Some(want), d.metadata.generation),
        "rollout complete"
    );
    // The new pods lead and reconcile.
    s.apply(&workload(
        "app",
        &["e2e-missing"],
        "WhenUnavailable",
        Some(&container_image()),
    ))
    .unwrap();
    wait_for(&s.workloads(), "app", "mode Container", mode_is(Mode::Container)).await;
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn doctor_names_each_node_s_reason() {
    let mut s = Scenario::new("doctor").await;
    // A RuntimeClass whose handler no node has: a pod of it fails its sandbox for real.
    let missing = format!("{}-missing", s.ns);
    create_runtime_class(&mut s, &runtime_class(&missing, "e2e-no-such-handler", None));
    let mut wl = workload("app", &[&missing], "Never", None);
    wl["spec"]["fallback"]["startupTimeoutSeconds"] = json!(3600);
    s.apply(&wl).unwrap();
    // A node whose runtime reports its handlers (containerd 2) is believed: no pod is made, and
    // the doctor names the missing handler from that report instead of a sandbox failure.
    let reporting = schedulable_nodes(&s)
        .await
        .into_iter()
        .find(|n| wasm_operator::decide::discovery::reported_handlers(n).is_some())
        .map(|n| n.name_any());
    if let Some(node) = reporting {
        return doctor_believes_the_runtime_s_report(&mut s, &missing, &node).await;
    }
    // The node the failed pod was scheduled to (the scheduler's pick, among however many).
    let failed = sandbox_fails(&s).await;
    let node = match failed.spec.as_ref().and_then(|p| p.node_name.clone()) {
        Some(n) => n,
        // No scheduler placed it (a simulated cluster): any node that takes pods.
        None => schedulable_nodes(&s)
            .await
            .first()
            .expect("a schedulable node")
            .name_any(),
    };
    // Then that node tainted, and cordoned; its cordon and taints are put back as they were.
    restore_node_when_done(&mut s, &node);
    let key = format!("e2e.wasm-operator.dev/{}", s.ns);
    kubectl(&["taint", "node", &node, &format!("{key}=yes:NoSchedule")]).unwrap();
    kubectl(&["cordon", &node]).unwrap();
    let (text, exit) = doctor_on(&s).await;
    for want in [
        format!("✘ {node}: the handler is missing"),
        format!("· {node}: unschedulable (cordoned)"),
        format!("RuntimeClass {missing}"),
        format!("WasmWorkload {}/app", s.ns),
    ] {
        assert!(text.contains(&want), "{want:?} not in:\n{text}");
    }
    assert_eq!(exit, 1, "a missing handler fails the check");
    // Uncordoned, the taint is the first reason on that node.
    kubectl(&["uncordon", &node]).unwrap();
    let (text, _) = doctor_on(&s).await;
    assert!(
        text.contains(&format!(
            "· {node}: usable by workloads that tolerate {key}=yes:NoSchedule"
        )),
        "{text}"
    );
}

/// The doctor's report on the cluster, explaining the scenario's workload `app`, and its exit code.
async fn doctor_on(s: &Scenario) -> (String, u8) {
    use wasm_operator::doctor::{self, report};
    let ask = doctor::Ask {
        workload: Some((s.ns.clone(), "app".into())),
        lease_namespace: "wasm-system".into(),
        metrics_port: 8080,
    };
    let facts = doctor::gather(&s.client, &ask)
        .await
        .expect("the doctor reads the cluster");
    let r = report::build(&facts, &wasm_operator::decide::runtimes::RuntimeConfig::default());
    let text = r.to_text();
    println!("{text}");
    (text, r.exit_code())
}

/// `doctor_names_each_node_s_reason` on a node whose runtime reports its handlers: the handler's
/// absence is the node's first reason (no pod is ever made to find it out), then its cordon.
async fn doctor_believes_the_runtime_s_report(s: &mut Scenario, missing: &str, node: &str) {
    restore_node_when_done(s, node);
    let w = wait_for(&s.workloads(), "app", "Pending", |w: Option<&WasmWorkload>| {
        w.and_then(|w| w.status.as_ref()).and_then(|s| s.mode) == Some(Mode::Pending)
    })
    .await;
    assert!(
        reason_of(&w).contains("e2e-no-such-handler") || reason_of(&w).contains("no Ready, schedulable node"),
        "{}",
        reason_of(&w)
    );
    let (text, exit) = doctor_on(s).await;
    for want in [
        format!("· {node}: its container runtime does not report handler \"e2e-no-such-handler\""),
        format!("RuntimeClass {missing}"),
        format!("· {node}: its runtime reports handlers"),
        format!("WasmWorkload {}/app", s.ns),
    ] {
        assert!(text.contains(&want), "{want:?} not in:\n{text}");
    }
    assert_eq!(exit, 1, "a RuntimeClass usable on no node fails the check");
    kubectl(&["cordon", node]).unwrap();
    let (text, _) = doctor_on(s).await;
    assert!(text.contains(&format!("· {node}: unschedulable (cordoned)")), "{text}");
    let pods = pods_of(s, "app").await;
    assert!(
        pods.is_empty(),
        "no pod is made for a handler no runtime reports: {}",
        pods.len()
    );
}

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn compare_times_both_modes_and_report_shows_it() {
    use wasm_operator::compare::{pods::RUN_KEY, run, svg, table};
    let mut s = Scenario::new("compare").await;
    let rc = wasm_runtime_class(&mut s);
    s.apply(&workload("app", &[&rc], "OnFailure", Some(&container_image())))
        .unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", mode_is(Mode::Wasm)).await;
    let settings = run::Settings {
        pods: 3,
        concurrency: 1,
        node: None,
        ready_timeout: TIMEOUT,
        memory_wait: Duration::from_secs(20),
        http_path: None,
    };
    let mut progress = vec![];
    let c = run::compare(
        &s.client,
        &s.ns,
        "app",
        &wasm_operator::decide::runtimes::RuntimeConfig::default(),
        &settings,
        futures::future::pending(),
        &mut |p| progress.push((p.done, p.total)),
    )
    .await
    .expect("the comparison runs");
    println!("{}", table::render(&c, false));
    assert_eq!(c.runtime_class, rc);
    for (mode, m) in [("wasm", &c.wasm), ("container", &c.container)] {
        assert!(m.failures.is_empty(), "{mode}: {:?}", m.failures);
        assert_eq!(
            m.warm_seconds.len() + m.first_seconds.len(),
            3,
            "{mode}: every pod timed"
        );
        assert!(m
            .warm_seconds
            .iter()
            .chain(&m.first_seconds)
            .all(|s| *s > 0.0 && *s < 120.0));
    }
    assert_eq!(progress, (0..=6).map(|d| (d, 6)).collect::<Vec<_>>());
    assert!(c.wasm_image_bytes.is_some() && c.container_image_bytes.is_some());
    assert!(
        (c.wasm_memory_bytes.is_some() && c.container_memory_bytes.is_some()) || c.memory_note.is_some(),
        "memory figures, or why there are none"
    );
    let dots = svg::render(&c).matches("<circle").count();
    assert_eq!(dots, 6, "one dot per timed pod");

    // Nothing is left behind.
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &s.ns);
    let left = pods
        .list(&ListParams::default().labels(RUN_KEY))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .count();
    assert_eq!(left, 0, "every comparison pod removed");

    // The result is in the status, and the operator put the warm starts in its histogram.
    let wl = s.workloads().get("app").await.unwrap();
    let cmp = wl.status.and_then(|st| st.comparison).expect("status.comparison");
    assert_eq!(cmp.runtime_class, rc);
    assert_eq!(cmp.wasm.cold_starts_seconds.len(), c.wasm.warm_seconds.len());
    let warm = (c.wasm.warm_seconds.len() + c.container.warm_seconds.len()) as f64;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let text = operator_metrics();
        let recorded = metric_sum(
            &text,
            "wasm_workload_cold_start_seconds_count",
            &[("namespace", &s.ns), ("source", "comparison"), ("workload", "app")],
        );
        if recorded == warm {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the operator recorded {recorded} comparison cold starts, want {warm}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // `report` shows the workload with its last comparison.
    let workloads = s.workloads().list(&ListParams::default()).await.unwrap().items;
    let nodes: Vec<Node> = Api::all(s.client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let r = wasm_operator::workloads_report::build(&workloads, &nodes);
    println!("{}", r.render(false));
    let row = r.rows.iter().find(|r| r.name == "app").expect("a row for app");
    assert_eq!((row.mode.as_str(), row.runtime_class.as_str()), ("Wasm", rc.as_str()));
    assert_eq!(
        row.compared_p50,
        Some((cmp.wasm.p50_seconds, cmp.container.p50_seconds))
    );
    assert_eq!(r.totals.wasm, 1);
}
