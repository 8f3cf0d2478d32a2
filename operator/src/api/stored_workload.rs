//! A WasmWorkload as the operator's cache keeps it: its metadata typed, its spec and status as
//! compact JSON text. Typed, a workload costs about 3.8 KB in the cache (its resource maps, env
//! entries and conditions are many small allocations); as text, about half. A reconcile reads
//! the typed workload from it (a few microseconds per reconcile), and the few fields other code
//! looks at across all workloads are read from the text alone.

use crate::api::crd::{ComparisonStatus, WasmWorkload};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The cached form of a WasmWorkload.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StoredWorkload {
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "text", serialize_with = "json")]
    pub spec: Box<str>,
    #[serde(
        default,
        deserialize_with = "optional_text",
        serialize_with = "optional_json",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<Box<str>>,
}

/// A JSON value as compact text. Through a `Value`, not serde_json's raw values: a watch event
/// whose `object` comes before its `type` is buffered by serde, and raw values cannot be read
/// from a buffer.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Box<str>, D::Error> {
    let v = Value::deserialize(d)?;
    serde_json::to_string(&v)
        .map(String::into_boxed_str)
        .map_err(serde::de::Error::custom)
}

fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<str>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::to_string(&v)
            .map(|s| Some(s.into_boxed_str()))
            .map_err(serde::de::Error::custom),
    }
}

fn json<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    serde_json::from_str::<Value>(text)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

fn optional_json<S: Serializer>(text: &Option<Box<str>>, s: S) -> Result<S::Ok, S::Error> {
    match text {
        Some(t) => json(t, s),
        None => s.serialize_none(),
    }
}

impl StoredWorkload {
    /// The typed workload.
    pub fn workload(&self) -> Result<WasmWorkload, serde_json::Error> {
        Ok(WasmWorkload {
            metadata: self.metadata.clone(),
            spec: serde_json::from_str(&self.spec)?,
            status: self.status.as_deref().map(serde_json::from_str).transpose()?,
        })
    }

    /// The runtimes the spec asks for (`spec.wasm.runtimes`); none when unreadable.
    pub fn runtimes(&self) -> Vec<String> {
        #[derive(Deserialize, Default)]
        struct Wasm {
            #[serde(default)]
            runtimes: Vec<String>,
        }
        #[derive(Deserialize, Default)]
        struct Spec {
            #[serde(default)]
            wasm: Wasm,
        }
        serde_json::from_str::<Spec>(&self.spec)
            .map(|s| s.wasm.runtimes)
            .unwrap_or_default()
    }

    /// `status.comparison`, the last `wasm-operator compare` of the workload.
    pub fn comparison(&self) -> Option<ComparisonStatus> {
        #[derive(Deserialize)]
        struct Status {
            comparison: Option<ComparisonStatus>,
        }
        serde_json::from_str::<Status>(self.status.as_deref()?).ok()?.comparison
    }
}

impl k8s_openapi::Resource for StoredWorkload {
    const API_VERSION: &'static str = "wasm-operator.dev/v1alpha1";
    const GROUP: &'static str = "wasm-operator.dev";
    const KIND: &'static str = "WasmWorkload";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "wasmworkloads";
    type Scope = NamespaceResourceScope;
}

impl k8s_openapi::Metadata for StoredWorkload {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn the_stored_form_reads_back_the_typed_workload_and_addresses_the_same_api() {
        let mut wl = crate::tests::fixtures::workload("hello", "demo");
        wl.status = Some(crate::api::crd::WasmWorkloadStatus {
            comparison: Some(Box::new(ComparisonStatus {
                node: "n1".into(),
                ..Default::default()
            })),
            ..Default::default()
        });
        let json = serde_json::to_string(&wl).unwrap();
        let stored: StoredWorkload = serde_json::from_str(&json).unwrap();
        assert_eq!(stored.workload().unwrap(), wl);
        // As a watch event whose object comes before its type (serde buffers it).
        let event = format!("{{\"object\":{json},\"type\":\"MODIFIED\"}}");
        let ev: kube::core::WatchEvent<StoredWorkload> = serde_json::from_str(&event).unwrap();
        let kube::core::WatchEvent::Modified(again) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(again.workload().unwrap(), wl);
        let mut typed = serde_json::to_value(&wl).unwrap();
        typed
            .as_object_mut()
            .unwrap()
            .retain(|k, _| k != "apiVersion" && k != "kind");
        assert_eq!(serde_json::to_value(&again).unwrap(), typed, "written back as it came");
        assert_eq!(stored.runtimes(), ["spin", "wasmtime"]);
        assert_eq!(stored.comparison().unwrap().node, "n1");
        assert_eq!(
            StoredWorkload::url_path(&(), Some("demo")),
            WasmWorkload::url_path(&(), Some("demo"))
        );
        assert_eq!(StoredWorkload::kind(&()), "WasmWorkload");
    }
}
