//! `doctor` against the scripted API: it reads RuntimeClasses, nodes, sandbox Events, pods, the
//! CRD, the Lease, the leader's /readyz and the operator's permissions, and its exit code says
//! whether every check passed (0), some failed (1) or the cluster could not be read (2).

use crate::api::crd::{FallbackPolicy, WasmWorkload};
use crate::decide::runtimes::RuntimeConfig;
use crate::doctor::{self, report, Ask};
use crate::tests::controller_tests::{node_json, runtime_class_json, sandbox_event_json, workload_json};
use crate::tests::mock_api::{self, World};
use kube::CustomResourceExt;
use serde_json::json;

fn ask(workload: bool) -> Ask {
    Ask {
        workload: workload.then(|| ("demo".to_string(), "hello".to_string())),
        lease_namespace: "ops".into(),
        metrics_port: 8080,
    }
}

/// A cluster with a usable `wasmtime-spin-v2` on n1, a cordoned n2, a tainted n3, a RuntimeClass
/// `broken` whose handler no node has (a sandbox failure says so), the CRD and a fresh Lease.
fn cluster(w: &mut World) {
    w.put("runtimeclasses", runtime_class_json("wasmtime-spin-v2", "spin", None));
    w.put(
        "runtimeclasses",
        runtime_class_json("broken", "nope", Some(json!({"broken": "yes"}))),
    );
    w.put("nodes", node_json("n1", json!({"broken": "yes"}), true));
    let mut cordoned = node_json("n2", json!({}), true);
    cordoned["spec"] = json!({"unschedulable": true});
    w.put("nodes", cordoned);
    let mut tainted = node_json("n3", json!({}), true);
    tainted["spec"] = json!({"taints": [{"key": "gpu", "value": "x", "effect": "NoSchedule"}]});
    w.put("nodes", tainted);
    let mut ev = sandbox_event_json("hello-wasm-1");
    ev["source"] = json!({"component": "kubelet", "host": "n1"});
    ev["message"] = json!("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"nope\" is configured");
    w.put("events", ev);
    let mut crd = serde_json::to_value(WasmWorkload::crd()).unwrap();
    crd["metadata"]["namespace"] = serde_json::Value::Null;
    w.put("customresourcedefinitions", crd);
    w.put(
        "leases",
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "wasm-operator", "namespace": "ops"},
               "spec": {"holderIdentity": "op-1", "leaseDurationSeconds": 15, "renewTime": k8s_openapi::jiff::Timestamp::now().to_string()}}),
    );
    w.put("wasmworkloads", workload_json(FallbackPolicy::OnFailure, &["spin"]));
}

fn lines(r: &report::Report) -> Vec<String> {
    r.sections
        .iter()
        .flat_map(|s| {
            s.lines
                .iter()
                .map(move |l| format!("{} | {:?} | {}", s.title, l.verdict, l.text))
        })
        .collect()
}

fn has(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l.contains(want))
}

#[tokio::test]
async fn the_full_report_and_its_exit_codes() {
    let mut world = World::default();
    cluster(&mut world);
    let (client, world) = mock_api::client(world);
    let facts = doctor::gather(&client, &ask(true)).await.unwrap();
    let r = report::build(&facts, &RuntimeConfig::default());
    let l = lines(&r);
    let granted = format!(
        "Installation | Pass | all {} permissions the operator uses are granted",
        crate::api::rbac::triples().len()
    );
    for want in [
        "RuntimeClass wasmtime-spin-v2 | Pass | n1: usable",
        "RuntimeClass wasmtime-spin-v2 | Info | n2: unschedulable (cordoned)",
        "RuntimeClass wasmtime-spin-v2 | Info | n3: usable by workloads that tolerate gpu=x:NoSchedule",
        "RuntimeClass broken | Fail | n1: the handler is missing: 1 FailedCreatePodSandBox Event(s) say no runtime for \"nope\" is configured",
        "RuntimeClass broken | Info | n3: lacks label broken=yes of the RuntimeClass's nodeSelector",
        "WasmWorkload demo/hello | Pass | spin → RuntimeClass wasmtime-spin-v2: chosen, usable on 1 node(s)",
        "WasmWorkload demo/hello | Info | spin → RuntimeClass spin-v2: not installed",
        "Installation | Pass | CRD wasmworkloads.wasm-operator.dev is installed, as this binary expects",
        "Installation | Pass | leader op-1, Lease renewed",
        "Installation | Pass | the leader's /readyz: ready",
        "Installation | Info | metrics.k8s.io is not served",
        granted.as_str(),
    ] {
        assert!(has(&l, want), "{want:?} missing from:\n{}", l.join("\n"));
    }
    // The handler is missing on n1 and the workload is not reconciled yet: exit 1.
    assert_eq!(
        doctor::run(&client, &ask(true), &RuntimeConfig::default(), false).await,
        1
    );

    // Without the broken RuntimeClass and with the workload in Wasm mode, every check passes.
    {
        let mut w = world.lock().unwrap();
        w.remove("runtimeclasses", None, "broken");
        let mut wl = w.get("wasmworkloads", Some("demo"), "hello").unwrap().clone();
        wl["status"] = json!({"mode": "Wasm", "runtimeClassName": "wasmtime-spin-v2"});
        w.put("wasmworkloads", wl);
    }
    let all_pass = doctor::run(&client, &ask(true), &RuntimeConfig::default(), true).await;
    assert_eq!(all_pass, 0);

    // A permission the operator needs and does not have fails the installation check.
    world
        .lock()
        .unwrap()
        .denied
        .push(("apps".into(), "deployments".into(), "create".into()));
    let facts = doctor::gather(&client, &ask(false)).await.unwrap();
    let l = lines(&report::build(&facts, &RuntimeConfig::default()));
    assert!(
        has(&l, "Installation | Fail | not granted: create apps/deployments"),
        "{}",
        l.join("\n")
    );

    // A cluster that cannot be read: exit 2.
    world
        .lock()
        .unwrap()
        .fail("GET", "/apis/node.k8s.io/v1/runtimeclasses", 500, usize::MAX, 0);
    assert_eq!(
        doctor::run(&client, &ask(false), &RuntimeConfig::default(), false).await,
        2
    );
}
