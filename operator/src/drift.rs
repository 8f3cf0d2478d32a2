//! Whether a child object needs writing, without caching its whole spec.
//!
//! Every rendered child carries a hash of itself in an annotation: a different hash means the
//! workload wants something else. A hand edit moves a number the operator did not move: a
//! Deployment's spec `metadata.generation`, a Service's `resourceVersion` (Services have no
//! generation). The numbers the server returned to our own applies are remembered, so a number
//! beyond them is someone else's write, put right by applying again. After a restart nothing is
//! remembered and the hash alone decides until the operator writes again.

use crate::labels::SPEC_HASH_KEY;
use crate::views::{CachedDeployment, CachedService};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// FNV-1a: stable across Rust releases, unlike `DefaultHasher`, so an upgrade rewrites nothing.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
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

/// The hash an object carries; caches keep it as this number instead of the annotation.
/// One that is not ours to read counts as none, so the object is written again.
pub fn spec_hash(meta: &ObjectMeta) -> Option<u64> {
    let hex = meta.annotations.as_ref()?.get(SPEC_HASH_KEY)?;
    u64::from_str_radix(hex, 16).ok()
}

/// Whether the cached object carries the hash of what we would write.
fn same_hash(observed: Option<u64>, desired: &ObjectMeta) -> bool {
    observed.is_some() && observed == spec_hash(desired)
}

/// The children of a workload, each named after it.
#[derive(Clone, Copy, Debug)]
pub enum Child {
    Deployment = 0,
    Service = 1,
}

/// A resourceVersion as a number. The API calls it opaque; every Kubernetes API server serves
/// etcd's revision, an integer that grows with every write. One that is not counts as unknown.
pub fn version_number(resource_version: Option<&str>) -> Option<i64> {
    resource_version?.parse().ok()
}

/// Per workload (namespace, name), the numbers our own applies of its children produced: the
/// Deployment's spec generation and the Service's resourceVersion.
#[derive(Debug, Default)]
pub struct AppliedVersions(Mutex<HashMap<(String, String), ChildVersions>>);

/// Indexed by `Child`.
type ChildVersions = [Option<i64>; 2];

impl AppliedVersions {
    pub fn record(&self, child: Child, namespace: &str, name: &str, version: Option<i64>) {
        if let Some(v) = version {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry((namespace.to_string(), name.to_string()))
                .or_default()[child as usize] = Some(v);
        }
    }

    pub fn forget(&self, namespace: &str, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Whether someone else wrote the child: its cached number is past the last one our apply
    /// produced. Unknown (we have not applied since start) counts as not edited; a cached number
    /// behind ours is our own write not echoed yet.
    pub fn edited_by_others(&self, child: Child, namespace: &str, name: &str, observed: Option<i64>) -> bool {
        let applied = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.to_string(), name.to_string()))
            .and_then(|v| v[child as usize]);
        matches!((applied, observed), (Some(a), Some(o)) if o > a)
    }
}

/// What the caches keep of a child to judge it by: its spec hash, and the number every write
/// of it moves.
pub trait CachedChild {
    const CHILD: Child;
    fn spec_hash(&self) -> Option<u64>;
    fn version(&self) -> Option<i64>;
}

impl CachedChild for CachedDeployment {
    const CHILD: Child = Child::Deployment;

    fn spec_hash(&self) -> Option<u64> {
        self.spec_hash
    }

    /// The spec generation: status writes do not move it.
    fn version(&self) -> Option<i64> {
        self.generation
    }
}

impl CachedChild for CachedService {
    const CHILD: Child = Child::Service;

    fn spec_hash(&self) -> Option<u64> {
        self.spec_hash
    }

    fn version(&self) -> Option<i64> {
        self.version
    }
}

/// Whether the cached child `namespace/name` already is what we would write.
pub fn up_to_date<C: CachedChild>(
    (namespace, name): (&str, &str),
    observed: Option<&C>,
    desired: &ObjectMeta,
    applied: &AppliedVersions,
) -> bool {
    let Some(o) = observed else { return false };
    same_hash(o.spec_hash(), desired) && !applied.edited_by_others(C::CHILD, namespace, name, o.version())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::DeploymentView;

    fn meta(hash: Option<&str>, generation: Option<i64>) -> ObjectMeta {
        ObjectMeta {
            name: Some("d".into()),
            namespace: Some("ns".into()),
            generation,
            annotations: hash.map(|h| [(SPEC_HASH_KEY.to_string(), h.to_string())].into()),
            ..Default::default()
        }
    }

    /// A Deployment as the cache holds it.
    fn cached(hash: Option<&str>, generation: Option<i64>) -> CachedDeployment {
        CachedDeployment::from(&DeploymentView {
            metadata: meta(hash, generation),
            ..Default::default()
        })
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
    fn a_spec_generation_we_did_not_write_is_a_hand_edit() {
        let applied = AppliedVersions::default();
        let desired = meta(Some("ab"), None);
        assert!(
            up_to_date(("ns", "d"), Some(&cached(Some("ab"), Some(3))), &desired, &applied),
            "nothing recorded yet"
        );
        applied.record(Child::Deployment, "ns", "d", Some(3));
        assert!(up_to_date(
            ("ns", "d"),
            Some(&cached(Some("ab"), Some(3))),
            &desired,
            &applied
        ));
        assert!(
            up_to_date(("ns", "d"), Some(&cached(Some("ab"), Some(2))), &desired, &applied),
            "our write not echoed yet"
        );
        assert!(
            !up_to_date(("ns", "d"), Some(&cached(Some("ab"), Some(4))), &desired, &applied),
            "someone edited the spec"
        );
        applied.forget("ns", "d");
        assert!(up_to_date(
            ("ns", "d"),
            Some(&cached(Some("ab"), Some(4))),
            &desired,
            &applied
        ));
    }

    #[test]
    fn a_service_resource_version_we_did_not_write_is_a_hand_edit() {
        let applied = AppliedVersions::default();
        let desired = meta(Some("ab"), None);
        let service = |version: &str| {
            let mut m = meta(Some("ab"), None);
            m.resource_version = Some(version.into());
            CachedService::from(&m)
        };
        let current = |s: &CachedService| up_to_date(("ns", "d"), Some(s), &desired, &applied);
        assert!(current(&service("7")), "nothing recorded yet");
        applied.record(Child::Service, "ns", "d", version_number(Some("7")));
        applied.record(Child::Deployment, "ns", "d", Some(100));
        assert!(current(&service("7")));
        assert!(current(&service("6")), "our write not echoed yet");
        assert!(!current(&service("8")), "someone else wrote the Service");
        assert!(
            current(&service("opaque")),
            "a version that is no number cannot be judged"
        );
        assert!(
            !up_to_date::<CachedService>(("ns", "d"), None, &desired, &applied),
            "a missing Service is written"
        );
    }
}
