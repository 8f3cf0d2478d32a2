//! A WasmWorkload as the operator's cache keeps it: its metadata typed, its spec and status as
//! compact JSON text. Typed, a workload costs about 3.8 KB in the cache (its resource maps, env
//! entries and conditions are many small allocations); as text, about half. A reconcile reads
//! the typed workload from it (a few microseconds per reconcile), and the few fields other code
//! looks at across all workloads are read from the text alone. The status's conditions are kept
//! as arrays of their values, without the keys every one repeats.

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

/// The status as compact text, its conditions compacted (`compact_conditions`).
fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<str>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(mut v) => {
            compact_conditions(&mut v);
            serde_json::to_string(&v)
                .map(|s| Some(s.into_boxed_str()))
                .map_err(serde::de::Error::custom)
        }
    }
}

fn json<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    serde_json::from_str::<Value>(text)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

fn optional_json<S: Serializer>(text: &Option<Box<str>>, s: S) -> Result<S::Ok, S::Error> {
    match text.as_deref().map(status_value).transpose() {
        Ok(Some(v)) => v.serialize(s),
        Ok(None) => s.serialize_none(),
        Err(e) => Err(serde::ser::Error::custom(e)),
    }
}

/// The fields of a condition, in the order its compact form lists them.
const CONDITION_FIELDS: [&str; 5] = ["type", "status", "reason", "message", "lastTransitionTime"];

/// Conditions as arrays of their values (`CONDITION_FIELDS`): the keys of three conditions are
/// a fifth of a workload's cached status. A condition's `observedGeneration` is left out when it
/// is the status's own (as the operator writes it); any other condition stays as it is.
fn compact_conditions(status: &mut Value) {
    let generation = status.get("observedGeneration").cloned();
    let Some(Value::Array(conditions)) = status.get_mut("conditions") else {
        return;
    };
    for c in conditions.iter_mut() {
        let Value::Object(fields) = c else { continue };
        let known = fields
            .keys()
            .all(|k| CONDITION_FIELDS.contains(&k.as_str()) || k == "observedGeneration");
        if !known || fields.get("observedGeneration") != generation.as_ref() {
            continue;
        }
        *c = Value::Array(
            CONDITION_FIELDS
                .iter()
                .map(|k| fields.remove(*k).unwrap_or(Value::Null))
                .collect(),
        );
    }
}

/// The status as the API server has it: compact conditions expanded back.
fn status_value(text: &str) -> Result<Value, serde_json::Error> {
    let mut status: Value = serde_json::from_str(text)?;
    let generation = status.get("observedGeneration").cloned();
    if let Some(Value::Array(conditions)) = status.get_mut("conditions") {
        for c in conditions.iter_mut() {
            let Value::Array(values) = c else { continue };
            let mut fields: serde_json::Map<String, Value> = CONDITION_FIELDS
                .iter()
                .zip(std::mem::take(values))
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            if let Some(g) = &generation {
                fields.insert("observedGeneration".into(), g.clone());
            }
            *c = Value::Object(fields);
        }
    }
    Ok(status)
}

impl StoredWorkload {
    /// The typed workload.
    pub fn workload(&self) -> Result<WasmWorkload, serde_json::Error> {
        Ok(WasmWorkload {
            metadata: self.metadata.clone(),
            spec: serde_json::from_str(&self.spec)?,
            status: self
                .status
                .as_deref()
                .map(|t| status_value(t).and_then(serde_json::from_value))
                .transpose()?,
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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use kube::Resource;

    #[test]
    fn the_stored_form_reads_back_the_typed_workload_and_addresses_the_same_api() {
        let mut wl = crate::tests::fixtures::workload("hello", "demo");
        let condition = |type_: &str, generation: i64| Condition {
            type_: type_.into(),
            status: "True".into(),
            reason: "Available".into(),
            message: "2/2 pods ready in wasm mode".into(),
            observed_generation: Some(generation),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap()),
        };
        wl.status = Some(crate::api::crd::WasmWorkloadStatus {
            observed_generation: Some(3),
            comparison: Some(Box::new(ComparisonStatus {
                node: "n1".into(),
                ..Default::default()
            })),
            // The operator's own, and one of another generation (kept as it is).
            conditions: vec![condition("Ready", 3), condition("Progressing", 2)],
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
        let text = stored.status.as_deref().unwrap();
        assert!(
            text.contains(r#"["Ready","True","Available","2/2 pods ready in wasm mode","2023-11-14T22:13:20Z"]"#),
            "the operator's condition is compact: {text}"
        );
        assert_eq!(text.matches("observedGeneration").count(), 2, "{text}");
        assert_eq!(stored.comparison().unwrap().node, "n1");
        assert_eq!(
            StoredWorkload::url_path(&(), Some("demo")),
            WasmWorkload::url_path(&(), Some("demo"))
        );
        assert_eq!(StoredWorkload::kind(&()), "WasmWorkload");
    }
}
