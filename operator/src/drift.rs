//! Whether a child object needs writing: the rendered object carries a hash of itself in an
//! annotation, and the object in the cache must carry the same hash and still contain every
//! field we render (so a hand edit is put right on the next reconcile).

use crate::labels::SPEC_HASH_KEY;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

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

/// Whether `observed` holds every field of `desired` with the same value. Lists must have the
/// same length (an entry the user removed must be removed); maps may hold more (server defaults).
pub fn contains(observed: &Value, desired: &Value) -> bool {
    match (observed, desired) {
        (Value::Object(o), Value::Object(d)) => d.iter().all(|(k, dv)| match o.get(k) {
            Some(ov) => contains(ov, dv),
            None => dv.is_null(),
        }),
        (Value::Array(o), Value::Array(d)) => o.len() == d.len() && o.iter().zip(d).all(|(ov, dv)| contains(ov, dv)),
        (o, d) => o == d,
    }
}

/// Whether the cached object already is what we would write.
pub fn up_to_date<T: Serialize>(observed: Option<&T>, desired: &T) -> bool {
    let Some(observed) = observed else {
        return false;
    };
    match (serde_json::to_value(observed), serde_json::to_value(desired)) {
        (Ok(o), Ok(d)) => contains(&o, &d),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_allows_server_defaults_but_not_changes() {
        let desired = json!({"a": 1, "m": {"x": "y"}, "l": [{"n": 1}]});
        assert!(contains(
            &json!({"a": 1, "b": 2, "m": {"x": "y", "z": 0}, "l": [{"n": 1, "d": true}]}),
            &desired
        ));
        assert!(!contains(&json!({"a": 2, "m": {"x": "y"}, "l": [{"n": 1}]}), &desired));
        assert!(!contains(&json!({"a": 1, "m": {}, "l": [{"n": 1}]}), &desired));
        assert!(
            !contains(&json!({"a": 1, "m": {"x": "y"}, "l": [{"n": 1}, {"n": 2}]}), &desired),
            "extra list entry"
        );
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
        assert_ne!(
            a.annotations.as_ref().unwrap()[SPEC_HASH_KEY],
            c.annotations.as_ref().unwrap()[SPEC_HASH_KEY]
        );
        assert_eq!(fnv1a(b"hello"), 0xa430d84680aabd0b, "FNV-1a reference value");
    }
}
