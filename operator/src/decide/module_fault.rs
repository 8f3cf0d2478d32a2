//! Whose fault a Wasm pod's failure on a node is: the node's, or the workload's own module. When
//! Wasm pods of other workloads with the same RuntimeClass run Ready on that node, its shim
//! works there, so the module is at fault; keeping Wasm off the node would not help (on a bigger
//! cluster it would exclude every node in turn). Pure.

use crate::api::crd::Mode;
use crate::api::views::CachedPod;
use crate::decide::failure::PodFailure;

/// Why the failure is the module's, naming the node and one Wasm pod that runs there, or
/// `None` when nothing shows the node works for Wasm of that RuntimeClass.
pub fn module_at_fault(
    failure: &PodFailure,
    workload: (&str, &str),
    runtime_class: &str,
    pods: &[&CachedPod],
) -> Option<String> {
    let node = failure.pod.as_ref()?.node.as_deref()?;
    let (namespace, name) = workload;
    let witness = pods.iter().find(|p| {
        let same_workload = p.metadata.namespace.as_deref() == Some(namespace) && p.workload.as_deref() == Some(name);
        let spec = p.spec.as_ref();
        !same_workload
            && p.mode == Some(Mode::Wasm)
            && p.metadata.deletion_timestamp.is_none()
            && spec.and_then(|s| s.node_name.as_deref()) == Some(node)
            && spec.and_then(|s| s.runtime_class_name.as_deref()) == Some(runtime_class)
            && p.condition_true("Ready")
    })?;
    Some(format!(
        "the workload's Wasm module fails on node {node}, where Wasm pod {}/{} of another workload runs with RuntimeClass {runtime_class}: no node is excluded",
        witness.metadata.namespace.as_deref().unwrap_or("?"),
        witness.metadata.name.as_deref().unwrap_or("?"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::interned::Interned;
    use crate::api::reason;
    use crate::api::views::PodMeta;
    use crate::decide::failure::FailingPod;
    use crate::tests::fixtures::pod;

    fn failed_on(node: &str) -> PodFailure {
        PodFailure {
            reason: reason::CREATE_CONTAINER_ERROR,
            message: "pod app-1: CreateContainerError: wasmtime executor can't handle spec".into(),
            pod: Some(FailingPod {
                node: Some(node.into()),
                created: None,
            }),
        }
    }

    fn wasm_pod(ns: &str, workload: &str, node: &str, rc: &str, ready: bool) -> CachedPod {
        let mut p = pod(&format!("{workload}-1"), workload, "wasm", true, ready, ready);
        p.metadata.namespace = Some(ns.into());
        if let Some(s) = p.spec.as_mut() {
            s.runtime_class_name = Some(Interned::new(rc));
            s.node_name = Some(Interned::new(node));
        }
        p
    }

    #[test]
    fn another_workload_s_ready_wasm_pod_on_the_node_clears_it() {
        let other = wasm_pod("demo", "other", "node1", "wasmtime", true);
        let why = module_at_fault(&failed_on("node1"), ("demo", "app"), "wasmtime", &[&other]).unwrap();
        assert!(why.contains("node node1"), "{why}");
        assert!(why.contains("demo/other-1"), "{why}");
        assert!(why.ends_with("no node is excluded"), "{why}");
    }

    #[test]
    fn the_node_is_blamed_without_such_a_witness() {
        let cases = [
            (
                "its own pods prove nothing",
                wasm_pod("demo", "app", "node1", "wasmtime", true),
            ),
            ("not Ready", wasm_pod("demo", "other", "node1", "wasmtime", false)),
            ("another node", wasm_pod("demo", "other", "node2", "wasmtime", true)),
            ("another RuntimeClass", wasm_pod("demo", "other", "node1", "spin", true)),
        ];
        for (what, pod) in cases {
            assert_eq!(
                module_at_fault(&failed_on("node1"), ("demo", "app"), "wasmtime", &[&pod]),
                None,
                "{what}"
            );
        }
        let mut container = wasm_pod("demo", "other", "node1", "wasmtime", true);
        container.mode = Some(Mode::Container);
        assert_eq!(
            module_at_fault(&failed_on("node1"), ("demo", "app"), "wasmtime", &[&container]),
            None,
            "a container pod says nothing of the shim"
        );
        let same_name_elsewhere = wasm_pod("prod", "app", "node1", "wasmtime", true);
        assert!(
            module_at_fault(
                &failed_on("node1"),
                ("demo", "app"),
                "wasmtime",
                &[&same_name_elsewhere]
            )
            .is_some(),
            "a workload of the same name in another namespace is another workload"
        );
        let mut gone = wasm_pod("demo", "other", "node1", "wasmtime", true);
        gone.metadata = PodMeta {
            deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            )),
            ..gone.metadata
        };
        assert_eq!(
            module_at_fault(&failed_on("node1"), ("demo", "app"), "wasmtime", &[&gone]),
            None,
            "a pod being deleted"
        );
    }
}
