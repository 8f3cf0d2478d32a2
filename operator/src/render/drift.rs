//! Whether a child object needs writing, judged from what is on the server.
//!
//! Every rendered child carries a hash of itself in an annotation: a different hash means the
//! workload wants something else. A hand edit shows in the child's managedFields: the fields it
//! changed are no longer held by the operator's apply entry (`owned_fields`). Both are read off
//! the object the watch delivers, so drift is seen after a restart or a leader change as well.

use crate::api::labels::{spec_hash, SPEC_HASH_KEY};
use crate::api::owned_fields::OwnedFields;
use crate::api::views::{CachedDeployment, CachedService, NamedFor};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

/// FNV-1a: stable across Rust releases, unlike `DefaultHasher`, so an upgrade rewrites nothing.
fn fnv1a(bytes: &[u8]) -> u64 {
    crate::api::fnv::extend(crate::api::fnv::OFFSET, bytes.iter().copied())
}

/// Put the hash of `obj` (as rendered, before the hash is added) into its annotations.
pub fn stamp<T: Serialize>(obj: &mut T, meta: impl Fn(&mut T) -> &mut ObjectMeta) -> Result<(), serde_json::Error> {
    let hash = format!("{:016x}", fnv1a(&serde_json::to_vec(&*obj)?));
    meta(obj)
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SPEC_HASH_KEY.to_string(), hash);
    Ok(())
}

/// Whether the cached object carries the hash of what we would write.
fn same_hash(observed: Option<u64>, desired: &ObjectMeta) -> bool {
    observed.is_some() && observed == spec_hash(desired)
}

/// What the caches keep of a child to judge it by: its spec hash and the fields the operator owns.
pub trait CachedChild {
    fn spec_hash(&self) -> Option<u64>;
    fn owned(&self) -> &OwnedFields;
    /// The other workload that owns a child of this name, when it is not the `expected` one.
    fn other_owner(&self, _name: &str, _expected: &NamedFor) -> Option<String> {
        None
    }
}

impl CachedChild for CachedDeployment {
    fn spec_hash(&self) -> Option<u64> {
        self.spec_hash
    }

    fn owned(&self) -> &OwnedFields {
        &self.owned
    }

    fn other_owner(&self, name: &str, expected: &NamedFor) -> Option<String> {
        self.named_for.other_owner(name, expected)
    }
}

impl CachedChild for CachedService {
    fn spec_hash(&self) -> Option<u64> {
        self.spec_hash
    }

    fn owned(&self) -> &OwnedFields {
        &self.owned
    }
}

/// Whether the cached child already is what we would write: it carries the hash of the
/// rendering and the operator still owns every field of it (`desired` gives the rendering as
/// JSON, as applied; it is asked for only when the verdict is not known yet).
pub fn up_to_date<C: CachedChild>(
    observed: Option<&C>,
    desired_meta: &ObjectMeta,
    desired: impl FnOnce() -> Option<Value>,
) -> bool {
    let Some(o) = observed else { return false };
    match o.spec_hash() {
        Some(hash) if same_hash(Some(hash), desired_meta) => o.owned().cover_once(hash, desired),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(hash: Option<&str>, generation: Option<i64>) -> ObjectMeta {
        ObjectMeta {
            name: Some("d".into()),
            namespace: Some("ns".into()),
            generation,
            annotations: hash.map(|h| [(SPEC_HASH_KEY.to_string(), h.to_string())].into()),
            ..Default::default()
        }
    }

    #[test]
    fn stamp_is_stable_and_tracks_content() {
        let mut a = ObjectMeta {
            name: Some("x".into()),
            ..Default::default()
        };
        let mut b = a.clone();
        stamp(&mut a, |m| m).unwrap();
        stamp(&mut b, |m| m).unwrap();
        assert_eq!(a, b);
        let mut c = ObjectMeta {
            name: Some("y".into()),
            ..Default::default()
        };
        stamp(&mut c, |m| m).unwrap();
        assert_ne!(spec_hash(&a), spec_hash(&c));
        assert!(spec_hash(&a).is_some());
        assert_eq!(fnv1a(b"hello"), 0xa430d84680aabd0b, "FNV-1a reference value");
    }

    #[test]
    fn a_different_or_missing_hash_needs_a_write() {
        let desired = meta(Some("00000000000000a1"), None);
        let hash = |h| spec_hash(&meta(h, Some(1)));
        assert!(same_hash(hash(Some("00000000000000a1")), &desired));
        assert!(!same_hash(hash(Some("00000000000000a2")), &desired));
        assert!(!same_hash(hash(None), &desired));
        assert!(!same_hash(None, &desired));
        assert_eq!(hash(Some("not-hex")), None, "a hash we cannot read is no hash");
        assert!(!same_hash(hash(Some("not-hex")), &meta(Some("not-hex"), None)));
    }

    #[test]
    fn a_child_is_up_to_date_with_our_hash_and_every_field_still_ours() {
        use crate::api::owned_fields::fields_v1;
        let mut desired =
            serde_json::json!({"metadata": {"name": "d"}, "spec": {"type": "ClusterIP", "selector": {"a": "b"}}});
        let mut desired_meta = meta(None, None);
        stamp(&mut desired_meta, |m| m).unwrap();
        desired["metadata"]["annotations"] = serde_json::to_value(&desired_meta.annotations).unwrap();
        let cached = |hash: Option<u64>, fields: &Value| CachedService {
            spec_hash: hash,
            owned: OwnedFields::from_fields_v1(fields),
        };
        let ours = fields_v1(&desired);
        let hash = spec_hash(&desired_meta);
        let rendering = || Some(desired.clone());
        let current = cached(hash, &ours);
        assert!(up_to_date(Some(&current), &desired_meta, rendering));
        assert!(
            up_to_date(Some(&current), &desired_meta, || panic!("not rendered again")),
            "the verdict is kept for the same object and rendering"
        );
        assert!(
            !up_to_date::<CachedService>(None, &desired_meta, rendering),
            "missing: write it"
        );
        assert!(
            !up_to_date(Some(&cached(hash.map(|h| h + 1), &ours)), &desired_meta, rendering),
            "another spec"
        );
        let mut edited = ours.clone();
        edited["f:spec"].as_object_mut().unwrap().remove("f:type");
        assert!(
            !up_to_date(Some(&cached(hash, &edited)), &desired_meta, rendering),
            "a field taken by another manager"
        );
    }
}
