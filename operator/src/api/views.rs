//! Compact views of the Pods, Deployments and Services the operator caches: only the fields it
//! reads, so deserializing a watch event allocates little and a cached object costs a fraction
//! of the full k8s-openapi type (a `Pod` is 2.2 KB before any of its contents, a `Deployment`
//! 2.4 KB). Views keep the full types' field names and shapes, so code reads them the same way;
//! Deployments and Services are then cached as records of a few numbers (`CachedDeployment`,
//! `CachedService`), since they are found by name.

use crate::api::crd::{ExcludedNode, Mode};
use crate::api::excluded_nodes::excluded_nodes;
use crate::api::failure_record::FailureRecord;
use crate::api::interned::Interned;
use crate::api::labels::{MODE_KEY, WORKLOAD_KEY};
use crate::api::owned_fields::OwnedFields;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};

/// The parts of a pod spec the operator reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<Interned>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<Interned>,
}

/// A pod condition without its reason, message and probe time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodConditionView {
    #[serde(rename = "type")]
    pub type_: Interned,
    pub status: Interned,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// A running container: only that it runs is read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateRunningView {}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateWaitingView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A container's state, without the terminated details nobody reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStateView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<StateRunningView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<StateWaitingView>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatusView {
    pub name: Interned,
    #[serde(default)]
    pub image: Interned,
    #[serde(default, rename = "imageID")]
    pub image_id: Interned,
    #[serde(default)]
    pub ready: bool,
    /// Restarts, including those after the node's container runtime restarted: a container that
    /// restarted had started before.
    #[serde(default, rename = "restartCount")]
    pub restart_count: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerStateView>,
}

/// A pod's status: its conditions and containers, and the one message read of them, the
/// scheduler's when it cannot place the pod (one field per pod, not two per condition).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "PodStatusText", into = "PodStatusText")]
pub struct PodStatusView {
    pub conditions: Option<Vec<PodConditionView>>,
    pub container_statuses: Option<Vec<ContainerStatusView>>,
    /// The `PodScheduled` condition's message when its reason is `Unschedulable` (shared: the
    /// scheduler gives the same words to every pod it cannot place).
    pub unschedulable: Option<Interned>,
}

/// A pod condition as served, with the reason and message the status reads one of.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodConditionText {
    #[serde(rename = "type")]
    type_: Interned,
    status: Interned,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatusText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conditions: Option<Vec<PodConditionText>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container_statuses: Option<Vec<ContainerStatusView>>,
}

const UNSCHEDULABLE: &str = "Unschedulable";

impl From<PodStatusText> for PodStatusView {
    fn from(s: PodStatusText) -> Self {
        let unschedulable = s
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some(UNSCHEDULABLE))
            .map(|c| Interned::new(c.message.as_deref().unwrap_or(UNSCHEDULABLE)));
        PodStatusView {
            conditions: s.conditions.map(|cs| {
                cs.into_iter()
                    .map(|c| PodConditionView {
                        type_: c.type_,
                        status: c.status,
                        last_transition_time: c.last_transition_time,
                    })
                    .collect()
            }),
            container_statuses: s.container_statuses,
            unschedulable,
        }
    }
}

impl From<PodStatusView> for PodStatusText {
    fn from(s: PodStatusView) -> Self {
        let why = s.unschedulable;
        PodStatusText {
            conditions: s.conditions.map(|cs| {
                cs.into_iter()
                    .map(|c| {
                        let why = why.as_ref().filter(|_| c.type_ == "PodScheduled");
                        PodConditionText {
                            type_: c.type_,
                            status: c.status,
                            last_transition_time: c.last_transition_time,
                            reason: why.map(|_| UNSCHEDULABLE.to_string()),
                            message: why.map(|m| m.as_str().to_string()),
                        }
                    })
                    .collect()
            }),
            container_statuses: s.container_statuses,
        }
    }
}

/// A Pod as read from a watch (`M` = `ObjectMeta`) or as cached (`CachedPod`): metadata, where
/// and with which RuntimeClass it runs, and its readiness.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodView<M = ObjectMeta> {
    pub metadata: M,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpecView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatusView>,
    /// The workload label, kept as a field once the cache drops the label map (a map costs a
    /// node of half a kilobyte even for two entries).
    #[serde(skip)]
    pub workload: Option<String>,
    /// The mode label, likewise.
    #[serde(skip)]
    pub mode: Option<Mode>,
}

/// The metadata of a cached pod: the fields of `ObjectMeta` the operator reads, under the same
/// names (a full `ObjectMeta` is 400 bytes before any of its contents).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
}

/// A pod as the pod cache keeps it (kube's store would keep the whole `ObjectMeta`, and a key
/// repeating its name, namespace and uid).
pub type CachedPod = PodView<PodMeta>;

impl From<PodView> for CachedPod {
    fn from(p: PodView) -> Self {
        let m = p.metadata;
        CachedPod {
            metadata: PodMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                creation_timestamp: m.creation_timestamp,
                deletion_timestamp: m.deletion_timestamp,
            },
            spec: p.spec,
            status: p.status,
            workload: p.workload,
            mode: p.mode,
        }
    }
}

impl PodView {
    /// Keep the operator's labels as fields and drop the label map.
    pub fn take_labels(&mut self) {
        let labels = self.metadata.labels.take().unwrap_or_default();
        self.workload = labels.get(WORKLOAD_KEY).cloned();
        self.mode = labels.get(MODE_KEY).and_then(|m| Mode::from_label(m));
    }
}

impl<M> PodView<M> {
    /// Whether the pod's condition of this type is True.
    pub fn condition_true(&self, type_: &str) -> bool {
        self.condition(type_).is_some_and(|c| c.status == "True")
    }

    pub fn condition(&self, type_: &str) -> Option<&PodConditionView> {
        self.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Whether a container of the pod has restarted: it had started, whatever a watch saw of it
    /// (the operator itself may have restarted with the node's runtime).
    pub fn has_restarted(&self) -> bool {
        self.container_statuses().iter().any(|c| c.restart_count > 0)
    }

    /// The container statuses, empty when the pod has none yet.
    pub fn container_statuses(&self) -> &[ContainerStatusView] {
        self.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or(&[])
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodTemplateView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpecView>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSpecView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateView>,
}

/// A Deployment as cached: metadata, replicas, the template's RuntimeClass and rollout status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<DeploymentSpecView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
}

impl DeploymentView {
    /// The RuntimeClass the Deployment's pods are created with.
    pub fn runtime_class_name(&self) -> Option<&str> {
        self.spec
            .as_ref()?
            .template
            .as_ref()?
            .spec
            .as_ref()?
            .runtime_class_name
            .as_deref()
    }
}

impl From<&Deployment> for DeploymentView {
    fn from(d: &Deployment) -> Self {
        DeploymentView {
            metadata: d.metadata.clone(),
            spec: d.spec.as_ref().map(|s| DeploymentSpecView {
                replicas: s.replicas,
                template: Some(PodTemplateView {
                    spec: s.template.spec.as_ref().map(|p| PodSpecView {
                        node_name: p.node_name.as_deref().map(Interned::new),
                        runtime_class_name: p.runtime_class_name.as_deref().map(Interned::new),
                    }),
                }),
            }),
            status: d.status.clone(),
        }
    }
}

/// A Deployment as the cache keeps it: no metadata map or string the reconcile does not read
/// (it is found by its name, which is its workload's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedDeployment {
    /// Which workload the Deployment's label says it belongs to, against its name: a
    /// Deployment another workload owns is never taken over.
    pub named_for: NamedFor,
    /// Nodes kept out of the Wasm pods (placement Spill), parsed once.
    pub excluded: Option<Box<[ExcludedNode]>>,
    pub generation: Option<i64>,
    /// The spec-hash annotation, as a number.
    pub spec_hash: Option<u64>,
    /// The fields the operator's apply entry holds.
    pub owned: OwnedFields,
    /// The Wasm failure the Deployment remembers, parsed once.
    pub failure: Option<Box<FailureRecord>>,
    pub replicas: Option<i32>,
    pub runtime_class_name: Option<Box<str>>,
    /// Rollout status without its conditions.
    pub status: Option<DeploymentStatus>,
    /// The message of a `ReplicaFailure` condition with reason `FailedCreate`: the API server
    /// refused to create the Deployment's pods.
    pub refused: Option<Box<str>>,
}

impl CachedDeployment {
    /// Whether the rollout of the current spec is done: the controller saw this generation and
    /// `desired` pods are updated and Ready, with no old ones left.
    pub fn rolled_out(&self, desired: i32) -> bool {
        let Some(st) = self.status.as_ref() else {
            return false;
        };
        st.observed_generation.unwrap_or(0) >= self.generation.unwrap_or(0)
            && st.updated_replicas.unwrap_or(0) >= desired
            && st.replicas.unwrap_or(0) == desired
            && st.ready_replicas.unwrap_or(0) >= desired
    }
}

/// A Service as the cache keeps it: its spec hash and the fields the operator owns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedService {
    pub spec_hash: Option<u64>,
    pub owned: OwnedFields,
}

impl From<&ObjectMeta> for CachedService {
    fn from(m: &ObjectMeta) -> Self {
        CachedService {
            spec_hash: crate::api::labels::spec_hash(m),
            owned: OwnedFields::from_meta(m),
        }
    }
}

/// The workload a Deployment's label names, against the Deployment's name. Only a label that
/// fits neither naming is kept as text: every Deployment where it should be costs no allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NamedFor {
    /// No workload label.
    #[default]
    Unlabelled,
    /// The workload of the same name (its Deployment).
    Workload,
    /// The workload whose name `-spill` makes this one's (its spill Deployment).
    Spill,
    /// Some other workload (boxed twice: the enum stays two words).
    Other(Box<String>),
}

impl NamedFor {
    fn of(meta: &ObjectMeta) -> NamedFor {
        let Some(label) = meta.labels.as_ref().and_then(|l| l.get(WORKLOAD_KEY)) else {
            return NamedFor::Unlabelled;
        };
        let name = meta.name.as_deref().unwrap_or_default();
        if name == label {
            NamedFor::Workload
        } else if name.strip_suffix("-spill") == Some(label.as_str()) {
            NamedFor::Spill
        } else {
            NamedFor::Other(Box::new(label.clone()))
        }
    }

    /// The workload that owns the Deployment called `name`, unless it is the one `expected`
    /// (or the Deployment carries no label to say).
    pub fn other_owner(&self, name: &str, expected: &NamedFor) -> Option<String> {
        match self {
            n if n == expected || *n == NamedFor::Unlabelled => None,
            NamedFor::Workload => Some(name.to_string()),
            NamedFor::Spill => Some(name.strip_suffix("-spill").unwrap_or(name).to_string()),
            NamedFor::Other(w) => Some(w.to_string()),
            NamedFor::Unlabelled => None,
        }
    }
}

impl From<&DeploymentView> for CachedDeployment {
    fn from(d: &DeploymentView) -> Self {
        CachedDeployment {
            named_for: NamedFor::of(&d.metadata),
            excluded: excluded_nodes(d.metadata.annotations.as_ref()).map(Vec::into_boxed_slice),
            generation: d.metadata.generation,
            spec_hash: crate::api::labels::spec_hash(&d.metadata),
            owned: OwnedFields::from_meta(&d.metadata),
            failure: FailureRecord::from_annotations(d.metadata.annotations.as_ref()).map(Box::new),
            replicas: d.spec.as_ref().and_then(|s| s.replicas),
            runtime_class_name: d.runtime_class_name().map(Box::from),
            // Field by field: cloning the whole status would copy the conditions only to drop them.
            status: d.status.as_ref().map(|st| DeploymentStatus {
                observed_generation: st.observed_generation,
                replicas: st.replicas,
                ready_replicas: st.ready_replicas,
                updated_replicas: st.updated_replicas,
                available_replicas: st.available_replicas,
                unavailable_replicas: st.unavailable_replicas,
                ..Default::default()
            }),
            refused: d
                .status
                .as_ref()
                .and_then(|st| st.conditions.as_ref())
                .and_then(|cs| {
                    cs.iter().find(|c| {
                        c.type_ == "ReplicaFailure" && c.status == "True" && c.reason.as_deref() == Some("FailedCreate")
                    })
                })
                .map(|c| Box::from(c.message.as_deref().unwrap_or("no message"))),
        }
    }
}

macro_rules! view_resource {
    ($view:ty, $api_version:expr, $group:expr, $kind:expr, $plural:expr) => {
        impl k8s_openapi::Resource for $view {
            const API_VERSION: &'static str = $api_version;
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = "v1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = NamespaceResourceScope;
        }

        impl k8s_openapi::Metadata for $view {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

view_resource!(PodView, "v1", "", "Pod", "pods");
view_resource!(DeploymentView, "apps/v1", "apps", "Deployment", "deployments");

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn views_read_full_objects_and_address_the_same_api() {
        let pod: PodView = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "demo", "labels": {"wasm-operator.dev/workload": "w", "wasm-operator.dev/mode": "wasm"}},
            "spec": {"nodeName": "n1", "runtimeClassName": "spin", "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "reason": "r", "message": "m"}],
                       "containerStatuses": [{"name": "app", "image": "x:1", "imageID": "x@sha256:1", "ready": true, "restartCount": 0,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        }))
        .unwrap();
        let mut pod = pod;
        pod.take_labels();
        assert_eq!((pod.workload.as_deref(), pod.mode), (Some("w"), Some(Mode::Wasm)));
        assert!(pod.condition_true("Ready") && !pod.condition_true("PodScheduled"));
        assert_eq!(pod.spec.as_ref().unwrap().runtime_class_name.as_deref(), Some("spin"));
        let cs = &pod.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
        assert_eq!((cs.image.as_str(), cs.image_id.as_str()), ("x:1", "x@sha256:1"));
        assert_eq!(
            cs.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(),
            Some("CrashLoopBackOff")
        );
        assert_eq!(PodView::url_path(&(), Some("demo")), "/api/v1/namespaces/demo/pods");
        assert_eq!(DeploymentView::url_path(&(), None), "/apis/apps/v1/deployments");
        assert!(
            std::mem::size_of::<PodView>() < 600,
            "{}",
            std::mem::size_of::<PodView>()
        );
        // A cached Deployment is a record, not an object with its metadata (ObjectMeta alone is
        // 360 B); the owned-field hashes are two boxed slices, the workload label and the
        // excluded nodes (placement Spill) two more.
        assert!(
            std::mem::size_of::<CachedDeployment>() <= 224,
            "{}",
            std::mem::size_of::<CachedDeployment>()
        );
    }

    #[test]
    fn of_the_conditions_only_the_scheduler_s_unschedulable_message_is_kept() {
        let served = json!({"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/4 nodes are available: 1 Insufficient cpu."},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "long words"}
        ]});
        let st: PodStatusView = serde_json::from_value(served).unwrap();
        assert_eq!(
            st.unschedulable.as_deref(),
            Some("0/4 nodes are available: 1 Insufficient cpu.")
        );
        let back = serde_json::to_value(&st).unwrap();
        assert_eq!(back["conditions"][0]["reason"], "Unschedulable");
        assert!(back["conditions"][1].get("message").is_none(), "{back}");
        let scheduled: PodStatusView =
            serde_json::from_value(json!({"conditions": [{"type": "PodScheduled", "status": "True"}]})).unwrap();
        assert_eq!(scheduled.unschedulable, None);
    }

    #[test]
    fn a_deployment_view_keeps_what_the_reconcile_reads() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": 3, "annotations": {"wasm-operator.dev/spec-hash": "000000000000000a"}},
            "spec": {"replicas": 2, "selector": {}, "template": {"spec": {"runtimeClassName": "spin", "containers": []}}},
            "status": {"observedGeneration": 3, "readyReplicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
        }))
        .unwrap();
        let v = DeploymentView::from(&d);
        assert_eq!(v.runtime_class_name(), Some("spin"));
        assert_eq!(v.spec.as_ref().unwrap().replicas, Some(2));
        assert_eq!(v.metadata.generation, Some(3));
        let parsed: DeploymentView = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(parsed, v, "a watch event parses into the same view");
        let cached = CachedDeployment::from(&v);
        assert_eq!(
            (cached.generation, cached.spec_hash, cached.replicas),
            (Some(3), Some(10), Some(2))
        );
        assert_eq!(cached.runtime_class_name.as_deref(), Some("spin"));
        assert!(cached.failure.is_none() && cached.status.unwrap().conditions.is_none());
    }
}
