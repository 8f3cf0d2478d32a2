//! What one reconcile knows of a workload's world, as plain data: `observe` gathers it from the
//! caches, and the plan and the renderer read only this.

use crate::api::crd::{ColdStartStatus, Mode};
use crate::api::views::{CachedDeployment, CachedPod, CachedService};
use crate::decide::failure::SandboxFailure;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::node::v1::RuntimeClass;
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub deployment: Option<CachedDeployment>,
    /// The spill Deployment (placement Spill), or one left from it.
    pub spill: Option<CachedDeployment>,
    pub service: Option<CachedService>,
    /// The workload's own pods.
    pub pods: Vec<Arc<CachedPod>>,
    /// Every node, for discovery and image sizes.
    pub nodes: Vec<Arc<Node>>,
    pub runtime_classes: Vec<Arc<RuntimeClass>>,
    /// The `FailedCreatePodSandBox` Events of the workload's pods.
    pub sandbox: Vec<SandboxFailure>,
    /// Other workloads' pods on the nodes where a pod of this one is not Ready: whether they
    /// fare better says if a failure is the node's or the module's. Empty while every pod of
    /// the workload is Ready, so a steady workload costs no walk over every pod.
    pub neighbours: Vec<Arc<CachedPod>>,
    /// The UIDs of the pods above that have been Ready since they were created.
    pub ready_before: HashSet<String>,
    /// Cold starts as the pod watch timed them.
    pub cold_start: Option<ColdStartStatus>,
    /// The pods' memory working set per mode, as metrics.k8s.io last reported it.
    pub memory: Vec<(Mode, i64)>,
}

impl Observed {
    /// Whether a pod has been Ready since it was created, as the pod watch saw it.
    pub fn was_ready(&self, pod: &CachedPod) -> bool {
        pod.metadata
            .uid
            .as_deref()
            .is_some_and(|uid| self.ready_before.contains(uid))
    }

    pub fn runtime_class(&self, name: &str) -> Option<Arc<RuntimeClass>> {
        self.runtime_classes
            .iter()
            .find(|rc| rc.metadata.name.as_deref() == Some(name))
            .cloned()
    }

    /// The workload's pods of one mode.
    pub fn pods_of(&self, mode: Mode) -> Vec<&CachedPod> {
        self.pods
            .iter()
            .map(Arc::as_ref)
            .filter(|p| p.mode == Some(mode))
            .collect()
    }

    /// Every pod that says something about a node: the workload's own and its neighbours.
    pub fn pods_on_nodes(&self) -> Vec<&CachedPod> {
        self.pods.iter().chain(&self.neighbours).map(Arc::as_ref).collect()
    }

    /// The sandbox failures of these pods.
    pub fn sandbox_of(&self, pods: &[&CachedPod]) -> Vec<SandboxFailure> {
        self.sandbox
            .iter()
            .filter(|s| pods.iter().any(|p| p.metadata.name.as_deref() == Some(s.pod.as_str())))
            .cloned()
            .collect()
    }

    pub fn memory_of(&self, mode: Mode) -> Option<i64> {
        self.memory.iter().find(|(m, _)| *m == mode).map(|(_, bytes)| *bytes)
    }
}
