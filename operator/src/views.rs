//! Compact views of the Pods and Deployments the operator caches: only the fields it reads, so
//! deserializing a watch event allocates little and a cached object costs a fraction of the full
//! k8s-openapi type (a `Pod` is 2.2 KB before any of its contents, a `Deployment` 2.4 KB).
//! Field names and shapes follow the full types, so code reads them the same way.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::{ContainerState, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};

/// The parts of a pod spec the operator reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatusView {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default, rename = "imageID")]
    pub image_id: String,
    #[serde(default)]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatusView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<ContainerStatusView>>,
}

/// A Pod as cached: metadata, where and with which RuntimeClass it runs, and its readiness.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodView {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpecView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatusView>,
}

impl PodView {
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
                        node_name: p.node_name.clone(),
                        runtime_class_name: p.runtime_class_name.clone(),
                    }),
                }),
            }),
            status: d.status.clone(),
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
            "metadata": {"name": "p", "namespace": "demo"},
            "spec": {"nodeName": "n1", "runtimeClassName": "spin", "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "image": "x:1", "imageID": "x@sha256:1", "ready": true, "restartCount": 0,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        }))
        .unwrap();
        assert_eq!(pod.spec.as_ref().unwrap().runtime_class_name.as_deref(), Some("spin"));
        let cs = &pod.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
        assert_eq!((cs.image.as_str(), cs.image_id.as_str()), ("x:1", "x@sha256:1"));
        assert_eq!(
            cs.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(),
            Some("CrashLoopBackOff")
        );
        assert_eq!(PodView::url_path(&(), Some("demo")), "/api/v1/namespaces/demo/pods");
        assert_eq!(DeploymentView::url_path(&(), None), "/apis/apps/v1/deployments");
        assert!(std::mem::size_of::<PodView>() < 700 && std::mem::size_of::<DeploymentView>() < 1000);
    }

    #[test]
    fn a_deployment_view_keeps_what_the_reconcile_reads() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": 3, "annotations": {"wasm-operator.dev/spec-hash": "h"}},
            "spec": {"replicas": 2, "selector": {}, "template": {"spec": {"runtimeClassName": "spin", "containers": []}}},
            "status": {"observedGeneration": 3, "readyReplicas": 2}
        }))
        .unwrap();
        let v = DeploymentView::from(&d);
        assert_eq!(v.runtime_class_name(), Some("spin"));
        assert_eq!(v.spec.as_ref().unwrap().replicas, Some(2));
        assert_eq!(v.metadata.generation, Some(3));
        let parsed: DeploymentView = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(parsed, v, "a watch event parses into the same view");
    }
}
