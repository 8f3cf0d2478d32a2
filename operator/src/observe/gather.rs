//! The first step of a reconcile: read what the plan needs of a workload's world from the
//! caches, once, into `Observed`. Nothing after this step reads a cache or takes a lock.

use crate::api::crd::{Mode, WasmWorkload};
use crate::api::views::CachedPod;
use crate::decide::failure::SandboxFailure;
use crate::decide::observed::Observed;
use crate::observe::stores::Stores;
use crate::render::spill::spill_deployment_name;
use kube::ResourceExt;
use std::collections::HashSet;
use std::sync::Arc;

pub fn observe(stores: &Stores, wl: &WasmWorkload) -> Observed {
    let ns = wl.namespace().unwrap_or_default();
    let name = wl.name_any();
    let pod_names = stores
        .pod_index
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .pods_of(&ns, &name);
    let pods: Vec<Arc<CachedPod>> = pod_names
        .iter()
        .filter_map(|p| stores.pods.get(&ns, p))
        .filter(|p| p.workload.as_deref() == Some(name.as_str()))
        .collect();
    let neighbours = neighbours(stores, &ns, &name, &pods);
    let (ready_before, cold_start) = {
        let mut tracker = stores.cold_starts.lock().unwrap_or_else(|e| e.into_inner());
        let ready_before = pods
            .iter()
            .chain(&neighbours)
            .filter_map(|p| p.metadata.uid.clone())
            .filter(|uid| tracker.has_been_ready(uid))
            .collect::<HashSet<_>>();
        let previous = wl.status.as_ref().and_then(|s| s.cold_start.as_ref());
        (ready_before, tracker.summary(&ns, &name, previous))
    };
    let memory = {
        let figures = stores.memory.read().unwrap_or_else(|e| e.into_inner());
        [Mode::Wasm, Mode::Container]
            .into_iter()
            .filter_map(|m| {
                let key = (ns.clone(), name.clone(), m.as_label().to_string());
                figures.get(&key).map(|bytes| (m, *bytes))
            })
            .collect()
    };
    Observed {
        deployment: stores.deployments.get(&ns, &name),
        spill: stores.deployments.get(&ns, &spill_deployment_name(&name)),
        service: stores.services.get(&ns, &name),
        sandbox: sandbox_failures(stores, &ns, &pods),
        nodes: stores.nodes.state(),
        runtime_classes: stores.runtime_classes.state(),
        pods,
        neighbours,
        ready_before,
        cold_start,
        memory,
    }
}

/// The `FailedCreatePodSandBox` Events of these pods.
fn sandbox_failures(stores: &Stores, ns: &str, pods: &[Arc<CachedPod>]) -> Vec<SandboxFailure> {
    stores
        .sandbox_events
        .state()
        .iter()
        .filter(|e| e.involved_object.namespace.as_deref() == Some(ns))
        .filter_map(|e| {
            let pod = e.involved_object.name.clone()?;
            pods.iter()
                .any(|p| p.metadata.name.as_deref() == Some(pod.as_str()))
                .then(|| SandboxFailure {
                    pod,
                    message: e.message.clone().unwrap_or_default(),
                })
        })
        .collect()
}

/// Other workloads' pods on the nodes where one of this workload's pods is not Ready.
fn neighbours(stores: &Stores, ns: &str, name: &str, pods: &[Arc<CachedPod>]) -> Vec<Arc<CachedPod>> {
    let nodes: HashSet<&str> = pods
        .iter()
        .filter(|p| !p.condition_true("Ready"))
        .filter_map(|p| p.spec.as_ref()?.node_name.as_deref())
        .collect();
    if nodes.is_empty() {
        return vec![];
    }
    stores
        .pods
        .values()
        .into_iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| nodes.contains(n))
        })
        .filter(|p| !(p.metadata.namespace.as_deref() == Some(ns) && p.workload.as_deref() == Some(name)))
        .collect()
}
