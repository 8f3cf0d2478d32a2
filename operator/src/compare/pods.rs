//! The short-lived pods of a comparison: the workload's own pod template, as the Deployment
//! builder renders it for each mode (same env, resources, readiness probe, security context),
//! pinned to one node, never restarted, removed by the kubelet after a deadline even if the
//! command is killed, owned by the workload (deleted with it), and labelled so that neither
//! the workload's Service nor its Deployment selects them.

use crate::api::crd::{Mode, WasmWorkload};
use crate::decide::decision::Decision;
use crate::decide::discovery::Chosen;
use crate::render::deployment::render_deployment;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// The comparison run a pod belongs to; `kubectl delete pod -l` cleans a run up by hand.
pub const RUN_KEY: &str = "wasm-operator.dev/compare-run";
/// `wasm` or `container`.
pub const COMPARE_MODE_KEY: &str = "wasm-operator.dev/compare-mode";
/// The workload compared (not the workload label, which selectors match).
pub const COMPARED_KEY: &str = "wasm-operator.dev/compared-workload";

/// One pod to start.
#[derive(Clone, Debug)]
pub struct PodPlan {
    pub run: String,
    pub index: usize,
    pub mode: Mode,
    pub node: String,
    /// Seconds after which the kubelet stops the pod whatever happens to the command.
    pub deadline_seconds: i64,
}

/// The comparison pod for `plan`, with the RuntimeClass `chosen` in Wasm mode.
pub fn comparison_pod(wl: &WasmWorkload, chosen: &Chosen, plan: &PodPlan) -> Option<Pod> {
    let decision = match plan.mode {
        Mode::Wasm => Decision::Wasm(chosen.clone()),
        _ => Decision::Container {
            reason: "",
            message: String::new(),
            record: None,
        },
    };
    let template = render_deployment(wl, &decision)?.spec?.template;
    let mut spec: PodSpec = template.spec?;
    spec.node_name = Some(plan.node.clone());
    spec.restart_policy = Some("Never".into());
    spec.active_deadline_seconds = Some(plan.deadline_seconds);
    // The scheduler is bypassed (nodeName); spreading over a single pod means nothing.
    spec.topology_spread_constraints = None;
    let mode = plan.mode.as_label();
    let labels = BTreeMap::from([
        (RUN_KEY.to_string(), plan.run.clone()),
        (COMPARE_MODE_KEY.to_string(), mode.to_string()),
        (COMPARED_KEY.to_string(), wl.name_any()),
    ]);
    let name: String = format!("{}-cmp-{}-{}-{mode}", wl.name_any(), plan.run, plan.index)
        .chars()
        .take(63)
        .collect();
    Some(Pod {
        metadata: ObjectMeta {
            name: Some(name.trim_end_matches('-').to_string()),
            namespace: wl.namespace(),
            labels: Some(labels),
            annotations: template.metadata.and_then(|m| m.annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: WasmWorkload::api_version(&()).into_owned(),
                kind: WasmWorkload::kind(&()).into_owned(),
                name: wl.name_any(),
                uid: wl.uid().unwrap_or_default(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::labels::{selector_labels, WORKLOAD_KEY};
    use crate::tests::fixtures::{chosen, workload};

    fn plan(mode: Mode) -> PodPlan {
        PodPlan {
            run: "r1".into(),
            index: 0,
            mode,
            node: "n1".into(),
            deadline_seconds: 300,
        }
    }

    #[test]
    fn pods_run_the_workload_s_template_pinned_and_out_of_its_selectors() {
        let wl = workload("hello", "demo");
        let rc = chosen("wasmtime-spin-v2");
        let wasm = comparison_pod(&wl, &rc, &plan(Mode::Wasm)).unwrap();
        let container = comparison_pod(&wl, &rc, &plan(Mode::Container)).unwrap();
        for (pod, image, runtime_class) in [
            (&wasm, "registry.example/hello-wasm:1.0", Some("wasmtime-spin-v2")),
            (&container, "registry.example/hello:1.0", None),
        ] {
            let spec = pod.spec.as_ref().unwrap();
            assert_eq!(spec.node_name.as_deref(), Some("n1"));
            assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
            assert_eq!(spec.active_deadline_seconds, Some(300));
            assert_eq!(spec.runtime_class_name.as_deref(), runtime_class);
            assert_eq!(spec.containers[0].image.as_deref(), Some(image));
            let labels = pod.metadata.labels.as_ref().unwrap();
            assert!(
                !labels.contains_key(WORKLOAD_KEY),
                "no selector of the workload matches it"
            );
            for (k, v) in selector_labels("hello") {
                assert_ne!(labels.get(&k), Some(&v));
            }
            let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
                ("WasmWorkload", "hello", "uid-hello")
            );
        }
        assert_eq!(wasm.metadata.name.as_deref(), Some("hello-cmp-r1-0-wasm"));
        // The workload's container settings carry over: the fallback's args, the ports.
        let c = &container.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.args.as_deref(), Some(&["--port".to_string(), "8080".to_string()][..]));
        assert!(c.ports.as_ref().is_some_and(|p| p[0].container_port == 8080));
    }
}
