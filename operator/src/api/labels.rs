//! Label and annotation keys the operator puts on what it creates, and the field manager it writes with.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The one server-side-apply field manager of the operator.
pub const FIELD_MANAGER: &str = "wasm-operator";
/// `app.kubernetes.io/managed-by` value; owned watches select on it.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "wasm-operator";
/// The workload a Deployment, Service or pod belongs to; also the pod selector.
pub const WORKLOAD_KEY: &str = "wasm-operator.dev/workload";
/// `wasm` or `container`: how the pods run.
pub const MODE_KEY: &str = "wasm-operator.dev/mode";
/// Hash of the rendered child, so an unchanged workload writes nothing.
pub const SPEC_HASH_KEY: &str = "wasm-operator.dev/spec-hash";

/// Label selector for everything the operator manages, used by owned watches.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
}

/// Label selector string of a workload's pods (status.selector, for the scale subresource).
pub fn pod_selector(workload: &str) -> String {
    format!("{WORKLOAD_KEY}={workload}")
}

/// The selector labels of a workload's pods: stable across mode switches, since a Deployment's
/// selector is immutable.
pub fn selector_labels(workload: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(WORKLOAD_KEY.to_string(), workload.to_string())])
}

/// Labels carried by every object the operator creates for a workload.
pub fn common_labels(workload: &str, mode: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
        (WORKLOAD_KEY.to_string(), workload.to_string()),
        (MODE_KEY.to_string(), mode.to_string()),
    ])
}

/// The hash an object carries; caches keep it as this number instead of the annotation.
/// One that is not ours to read counts as none, so the object is written again.
pub fn spec_hash(meta: &ObjectMeta) -> Option<u64> {
    let hex = meta.annotations.as_ref()?.get(SPEC_HASH_KEY)?;
    u64::from_str_radix(hex, 16).ok()
}
