//! 64-bit FNV-1a: the small, stable keys the caches use instead of the strings they stand for
//! (stable across restarts, so a workload keeps its resync slot).

use std::iter::once;

/// The FNV-1a offset basis: the hash of nothing.
pub const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// `hash` continued over `bytes`.
pub fn extend(hash: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes
        .into_iter()
        .fold(hash, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The hash of a string.
pub fn of(s: &str) -> u64 {
    extend(OFFSET, s.bytes())
}

/// The key of a namespaced object: the hash of `namespace/name`.
pub fn object_key(namespace: &str, name: &str) -> u64 {
    extend(OFFSET, namespace.bytes().chain(once(b'/')).chain(name.bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_the_object_key_is_the_hash_of_its_path() {
        assert_eq!(of(""), OFFSET);
        assert_eq!(of("a"), 0xaf63_dc4c_8601_ec8c, "the FNV-1a test vector");
        assert_eq!(object_key("demo", "app"), of("demo/app"));
        assert_ne!(object_key("de", "moapp"), object_key("demo", "app"));
    }
}
