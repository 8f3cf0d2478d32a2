//! Whether the operator still owns, on the server, every field it applies to a child.
//!
//! The API server records in `metadata.managedFields` which manager owns which field
//! (`fieldsV1`). A hand edit (`kubectl set image`, `kubectl patch`, `kubectl edit`) takes the
//! fields it changes away from the operator's server-side apply entry, and removing a list entry
//! removes its fields from every manager. So drift is read off the object on the server, after
//! a restart or a leader change too: a field of the desired object that the operator's `Apply`
//! entry no longer holds is someone else's edit, put right by applying again.
//!
//! The cache keeps of that entry only hashes of its paths (a few hundred bytes a child).

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The operator's field manager, as written in managedFields.
use crate::api::labels::FIELD_MANAGER;

/// Which lists of the objects we apply are maps keyed by fields (`+listType=map`), and by which.
/// Any other list counts as atomic: owned whole. Guessing atomic for a keyed list is harmless
/// (its node is then found among the owned ones); a keyed list must use the server's keys.
fn list_keys(field: &str, first: &Value) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" | "claims" => &["name"],
        "ports" if first.get("containerPort").is_some() => &["containerPort", "protocol"],
        "ports" => &["port", "protocol"],
        "volumeMounts" => &["mountPath"],
        "ownerReferences" => &["uid"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        _ => return None,
    })
}

/// A `k:` segment: key fields as compact JSON with their names sorted, whatever order the
/// server wrote them in.
fn k_segment(fields: &BTreeMap<String, Value>) -> String {
    format!("k:{}", serde_json::to_string(fields).unwrap_or_default())
}

/// The `k:` segment of a keyed list entry.
fn key_segment(entry: &Value, keys: &[&str]) -> String {
    let fields = keys
        .iter()
        .filter_map(|k| entry.get(*k).map(|v| ((*k).to_string(), v.clone())))
        .collect();
    k_segment(&fields)
}

/// A segment as the server wrote it, with `k:` keys in our order.
fn canonical_segment(segment: &str) -> String {
    match segment
        .strip_prefix("k:")
        .and_then(|k| serde_json::from_str::<BTreeMap<String, Value>>(k).ok())
    {
        Some(fields) => k_segment(&fields),
        None => segment.to_string(),
    }
}

/// The fieldsV1 set a server-side apply of `obj` gives its manager: every field it sets, with
/// keyed list entries named by their keys. Identity fields (name, namespace…) and status are
/// not part of it, as on the server.
pub fn fields_v1(obj: &Value) -> Value {
    let mut top = Map::new();
    let Some(fields) = obj.as_object() else {
        return Value::Object(top);
    };
    for (k, v) in fields {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                let kept: Map<String, Value> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(mk, _)| {
                        matches!(mk.as_str(), "labels" | "annotations" | "ownerReferences" | "finalizers")
                    })
                    .map(|(mk, mv)| (mk.clone(), mv.clone()))
                    .collect();
                if !kept.is_empty() {
                    top.insert("f:metadata".into(), fields_of(&Value::Object(kept)));
                }
            }
            _ if !v.is_null() => {
                top.insert(format!("f:{k}"), field_set(k, v));
            }
            _ => {}
        }
    }
    Value::Object(top)
}

fn fields_of(obj: &Value) -> Value {
    let map: Map<String, Value> = obj
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (format!("f:{k}"), field_set(k, v)))
        .collect();
    Value::Object(map)
}

/// The set under one field: a leaf `{}`, the fields of an object, or the entries of a keyed list.
fn field_set(name: &str, v: &Value) -> Value {
    match v {
        Value::Object(m) if !m.is_empty() => fields_of(v),
        Value::Array(items) if !items.is_empty() => match list_keys(name, &items[0]) {
            Some(keys) => {
                let entries: Map<String, Value> = items
                    .iter()
                    .map(|item| {
                        let mut set = fields_of(item);
                        set.as_object_mut()
                            .expect("fields_of gives an object")
                            .insert(".".into(), Value::Object(Map::new()));
                        (key_segment(item, keys), set)
                    })
                    .collect();
                Value::Object(entries)
            }
            None => Value::Object(Map::new()),
        },
        _ => Value::Object(Map::new()),
    }
}

/// FNV-1a over path segments, each followed by a 0 byte (segments may contain '/').
fn extend(hash: u64, segment: &str) -> u64 {
    crate::api::fnv::extend(hash, segment.bytes().chain(std::iter::once(0)))
}

const ROOT: u64 = crate::api::fnv::OFFSET;

/// The hash of `f:metadata/f:ownerReferences`: its `k:{"uid":…}` entries differ per child
/// and are kept apart from the shape (see `Shape`).
fn owner_refs() -> u64 {
    extend(extend(ROOT, "f:metadata"), "f:ownerReferences")
}

/// A segment under `hash` as the shape stores it, and the hash of the owner uid it names.
fn shape_segment(hash: u64, segment: &str) -> (std::borrow::Cow<'_, str>, u64) {
    if segment.starts_with("k:") && hash == owner_refs() {
        ("k:owner".into(), extend(ROOT, segment))
    } else {
        (segment.into(), 0)
    }
}

/// The paths of an Apply entry without its owner uids: children rendered from workloads of the
/// same shape own the same paths, so they share one `Shape` (at 10,000 workloads of one shape,
/// one instead of 10,000; about a kilobyte each).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Shape {
    nodes: Box<[u64]>,
    leaves: Box<[u64]>,
}

/// The shapes alive, by content. An entry whose last user is gone is swept when the map has
/// doubled since the last sweep.
#[derive(Default)]
struct Shapes {
    live: std::collections::HashMap<u64, std::sync::Weak<Shape>>,
    swept_at: usize,
}

static SHAPES: std::sync::Mutex<Option<Shapes>> = std::sync::Mutex::new(None);

fn intern(shape: Shape) -> std::sync::Arc<Shape> {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let key = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(&shape);
    let mut guard = SHAPES.lock().unwrap_or_else(|e| e.into_inner());
    let shapes = guard.get_or_insert_with(Shapes::default);
    if let Some(found) = shapes.live.get(&key).and_then(std::sync::Weak::upgrade) {
        if *found == shape {
            return found;
        }
        // A hash collision of two shapes: the newcomer goes unshared.
        return std::sync::Arc::new(shape);
    }
    let shape = std::sync::Arc::new(shape);
    shapes.live.insert(key, std::sync::Arc::downgrade(&shape));
    if shapes.live.len() > 2 * shapes.swept_at + 64 {
        shapes.live.retain(|_, w| w.strong_count() > 0);
        shapes.swept_at = shapes.live.len();
    }
    shape
}

/// What the operator's Apply entry of a child owns: a hash of every path in it, and apart the
/// paths owned whole (atomic lists, maps and structs, scalars); the owner uids apart again.
/// Shared, so the caches hand out copies for the price of a reference count, and a verdict
/// found once for a rendering is kept for as long as the object on the server stays the same.
#[derive(Clone, Debug, Default)]
pub struct OwnedFields(std::sync::Arc<Owned>);

#[derive(Debug, Default)]
struct Owned {
    shape: Option<std::sync::Arc<Shape>>,
    /// The owner uids of the entry, hashed and summed (order does not matter).
    owners: u64,
    /// The spec hash of a rendering found covered (0: none yet).
    covered: AtomicU64,
}

impl PartialEq for OwnedFields {
    fn eq(&self, other: &Self) -> bool {
        self.0.shape == other.0.shape && self.0.owners == other.0.owners
    }
}

impl Eq for OwnedFields {}

impl OwnedFields {
    /// The operator's Apply entry of an object's managedFields (none: nothing is owned).
    pub fn from_meta(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Self {
        let entry = meta.managed_fields.iter().flatten().find(|m| {
            m.manager.as_deref() == Some(FIELD_MANAGER)
                && m.operation.as_deref() == Some("Apply")
                && m.subresource.as_deref().is_none_or(str::is_empty)
        });
        match entry.and_then(|e| e.fields_v1.as_ref()) {
            Some(f) => Self::from_fields_v1(&f.0),
            None => Self::default(),
        }
    }

    pub fn from_fields_v1(fields: &Value) -> Self {
        struct Walk {
            nodes: Vec<u64>,
            leaves: Vec<u64>,
            owners: u64,
        }
        fn walk(set: &Value, hash: u64, w: &mut Walk) {
            for (segment, child) in set.as_object().into_iter().flatten() {
                if segment == "." {
                    continue;
                }
                let canonical = canonical_segment(segment);
                let (segment, owner) = shape_segment(hash, &canonical);
                w.owners = w.owners.wrapping_add(owner);
                let h = extend(hash, &segment);
                w.nodes.push(h);
                if child.as_object().is_none_or(Map::is_empty) {
                    w.leaves.push(h);
                } else {
                    walk(child, h, w);
                }
            }
        }
        let mut w = Walk {
            nodes: vec![],
            leaves: vec![],
            owners: 0,
        };
        walk(fields, ROOT, &mut w);
        if w.nodes.is_empty() {
            return Self::default();
        }
        w.nodes.sort_unstable();
        w.nodes.dedup();
        w.leaves.sort_unstable();
        w.leaves.dedup();
        OwnedFields(std::sync::Arc::new(Owned {
            shape: Some(intern(Shape {
                nodes: w.nodes.into(),
                leaves: w.leaves.into(),
            })),
            owners: w.owners,
            covered: AtomicU64::new(0),
        }))
    }

    /// Whether every field of `desired` (a child as the operator applies it) is still owned:
    /// its path is owned, or a path above it is owned whole, and its owner uids are the entry's.
    pub fn cover(&self, desired: &Value) -> bool {
        fn walk(owned: &Shape, set: &Value, hash: u64, owners: &mut u64) -> bool {
            set.as_object().into_iter().flatten().all(|(segment, child)| {
                if segment == "." {
                    return true;
                }
                let (segment, owner) = shape_segment(hash, segment);
                *owners = owners.wrapping_add(owner);
                let h = extend(hash, &segment);
                if owned.leaves.binary_search(&h).is_ok() {
                    return true;
                }
                match child.as_object() {
                    Some(m) if !m.is_empty() => walk(owned, child, h, owners),
                    _ => owned.nodes.binary_search(&h).is_ok(),
                }
            })
        }
        let Some(shape) = self.0.shape.as_deref() else {
            return false;
        };
        let mut owners = 0;
        walk(shape, &fields_v1(desired), ROOT, &mut owners) && owners == self.0.owners
    }

    /// `cover` of the rendering whose spec hash is `key`, rendered only the first time it is
    /// asked about this object: a no-op resync then costs a comparison, not a walk.
    pub fn cover_once(&self, key: u64, desired: impl FnOnce() -> Option<Value>) -> bool {
        if key != 0 && self.0.covered.load(Ordering::Relaxed) == key {
            return true;
        }
        let covered = desired().is_some_and(|d| self.cover(&d));
        if covered {
            self.0.covered.store(key, Ordering::Relaxed);
        }
        covered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(port: i64) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "app", "namespace": "demo", "labels": {"app": "x"},
                         "annotations": {"wasm-operator.dev/spec-hash": "00ab"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "app", "uid": "u1", "controller": true}]},
            "spec": {"selector": {"app": "x"}, "type": "ClusterIP",
                     "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": "http"}]}
        })
    }

    #[test]
    fn the_set_of_an_apply_names_keyed_entries_by_their_keys() {
        let f = fields_v1(&service(80));
        assert_eq!(
            f["f:spec"]["f:ports"],
            json!({"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}})
        );
        assert_eq!(
            f["f:metadata"]["f:annotations"],
            json!({"f:wasm-operator.dev/spec-hash": {}})
        );
        assert!(f["f:metadata"]["f:ownerReferences"]["k:{\"uid\":\"u1\"}"].is_object());
        assert!(f.get("f:apiVersion").is_none() && f["f:metadata"].get("f:name").is_none());
        let d = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "i", "command": ["/"], "ports": [{"containerPort": 8080, "protocol": "TCP"}]}],
            "tolerations": [{"key": "k", "operator": "Exists"}]}}}});
        let f = fields_v1(&d);
        let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(c["f:command"], json!({}), "command is atomic");
        assert!(c["f:ports"]["k:{\"containerPort\":8080,\"protocol\":\"TCP\"}"].is_object());
        assert_eq!(
            f["f:spec"]["f:template"]["f:spec"]["f:tolerations"],
            json!({}),
            "tolerations are atomic"
        );
    }

    #[test]
    fn what_we_applied_is_covered_and_a_hand_edit_is_not() {
        let applied = OwnedFields::from_fields_v1(&fields_v1(&service(80)));
        assert!(applied.cover(&service(80)));
        // `kubectl patch --type=json ... /spec/ports/0/port 9999`: the entry keyed by port 80 is gone
        // from our set (the edited one belongs to kubectl-patch).
        let mut edited = fields_v1(&service(80));
        edited["f:spec"]["f:ports"].as_object_mut().unwrap().clear();
        edited["f:spec"].as_object_mut().unwrap().remove("f:ports");
        assert!(!OwnedFields::from_fields_v1(&edited).cover(&service(80)));
        // `kubectl set image`-like: one field taken away.
        let mut taken = fields_v1(&service(80));
        taken["f:spec"].as_object_mut().unwrap().remove("f:type");
        assert!(!OwnedFields::from_fields_v1(&taken).cover(&service(80)));
        // Nothing owned (another manager made it, or our entry is gone): not ours yet.
        assert!(!OwnedFields::default().cover(&service(80)));
    }

    #[test]
    fn children_of_one_shape_share_it_and_keep_their_owner_apart() {
        let owned_by = |uid: &str| {
            let mut s = service(80);
            s["metadata"]["ownerReferences"][0]["uid"] = json!(uid);
            s
        };
        let a = OwnedFields::from_fields_v1(&fields_v1(&owned_by("u1")));
        let b = OwnedFields::from_fields_v1(&fields_v1(&owned_by("u2")));
        assert!(std::sync::Arc::ptr_eq(
            a.0.shape.as_ref().unwrap(),
            b.0.shape.as_ref().unwrap()
        ));
        assert_ne!(a, b, "the owners differ");
        assert!(a.cover(&owned_by("u1")) && b.cover(&owned_by("u2")));
        // The workload was deleted and made again under its name: the child on the server
        // still names the old owner, so it is not covered and is applied again.
        assert!(!a.cover(&owned_by("u2")));
        let other = OwnedFields::from_fields_v1(&fields_v1(&service(81)));
        assert!(!std::sync::Arc::ptr_eq(
            a.0.shape.as_ref().unwrap(),
            other.0.shape.as_ref().unwrap()
        ));
    }

    #[test]
    fn the_server_s_own_notion_of_atomic_and_key_order_is_accepted() {
        // The server writes key fields in its own order, and owns some maps whole (`selector`).
        let server = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:annotations": {".": {}, "f:wasm-operator.dev/spec-hash": {}},
                           "f:ownerReferences": {"k:{\"uid\":\"u1\"}": {}}},
            "f:spec": {"f:selector": {}, "f:type": {},
                       "f:ports": {"k:{\"protocol\":\"TCP\",\"port\":80}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}}}
        });
        assert!(OwnedFields::from_fields_v1(&server).cover(&service(80)));
        assert!(!OwnedFields::from_fields_v1(&server).cover(&service(81)));
    }

    #[test]
    fn only_the_operator_s_apply_entry_counts() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta};
        let entry = |manager: &str, operation: &str, subresource: Option<&str>| ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(operation.into()),
            subresource: subresource.map(Into::into),
            fields_v1: Some(FieldsV1(fields_v1(&service(80)))),
            ..Default::default()
        };
        let meta = |entries| ObjectMeta {
            managed_fields: Some(entries),
            ..Default::default()
        };
        assert!(OwnedFields::from_meta(&meta(vec![entry(FIELD_MANAGER, "Apply", None)])).cover(&service(80)));
        for other in [
            entry("kubectl", "Apply", None),
            entry(FIELD_MANAGER, "Update", None),
            entry(FIELD_MANAGER, "Apply", Some("status")),
        ] {
            assert!(!OwnedFields::from_meta(&meta(vec![other])).cover(&service(80)));
        }
    }

    #[test]
    fn a_real_server_s_set_for_a_rendering_with_every_field_is_ours_exactly() {
        // Volumes (keyed by name), mounts (by mountPath), envFrom (atomic), three probes,
        // security contexts, resources and annotations, as kube-apiserver v1.36.2 recorded them.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server-replies");
        let read = |f: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{f}")).unwrap()).unwrap()
        };
        let applied = read("full-deployment-applied.json");
        let fields = read("full-deployment-fields.json");
        let server = OwnedFields::from_fields_v1(&fields);
        assert!(server.cover(&applied), "the server's record covers what we applied");
        let mut renamed = applied.clone();
        renamed["spec"]["template"]["spec"]["volumes"][0]["name"] = json!("renamed");
        assert!(!server.cover(&renamed), "a volume the server does not hold for us");
        // A hand edit takes a mount and an envFrom away from the operator's entry: drift.
        let container = |f: &mut Value| -> Value {
            f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"].take()
        };
        for taken in ["f:volumeMounts", "f:envFrom", "f:securityContext", "f:livenessProbe"] {
            let mut edited = fields.clone();
            let mut c = container(&mut edited);
            c.as_object_mut().unwrap().remove(taken).expect(taken);
            edited["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"] = c;
            assert!(!OwnedFields::from_fields_v1(&edited).cover(&applied), "{taken}");
        }
    }
}
