//! Events about workloads (events.k8s.io/v1). The operator emits one only when something
//! changes (a mode switch, a new reason it cannot run), so it posts each directly and keeps no
//! per-object cache for aggregating repeats.

use crate::api::crd::WasmWorkload;
use crate::api::labels::FIELD_MANAGER;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// The Event to post about a workload. `instance` names the operator pod.
pub fn build(wl: &WasmWorkload, type_: EventType, reason: &str, note: &str, instance: &str) -> Event {
    let now = k8s_openapi::jiff::Timestamp::now();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", wl.name_any(), now.as_nanosecond())),
            namespace: wl.namespace(),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some("Reconcile".to_string()),
        reason: Some(reason.to_string()),
        note: Some(note.chars().take(1000).collect()),
        regarding: Some(wl.object_ref(&())),
        reporting_controller: Some(format!("wasm-operator.dev/{FIELD_MANAGER}")),
        reporting_instance: Some(instance.to_string()),
        type_: Some(
            match type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_string(),
        ),
        ..Default::default()
    }
}

pub async fn publish(client: &kube::Client, event: &Event) -> Result<(), kube::Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), event.metadata.namespace.as_deref().unwrap_or("default"));
    api.create(&PostParams::default(), event).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::workload;

    #[test]
    fn an_event_regards_the_workload_and_is_bounded() {
        let wl = workload("hello", "demo");
        let ev = build(&wl, EventType::Warning, "FellBack", &"x".repeat(5000), "op-0");
        assert_eq!(ev.metadata.namespace.as_deref(), Some("demo"));
        assert!(ev.metadata.name.as_deref().unwrap().starts_with("hello."));
        let r = ev.regarding.unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("WasmWorkload"), Some("hello"), Some("uid-hello"))
        );
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        assert_eq!(ev.note.unwrap().len(), 1000);
        assert_eq!(
            ev.reporting_controller.as_deref(),
            Some("wasm-operator.dev/wasm-operator")
        );
        assert_eq!(ev.reporting_instance.as_deref(), Some("op-0"));
    }
}
