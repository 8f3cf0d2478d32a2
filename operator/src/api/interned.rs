//! Shared strings for the values many cached pods repeat: node and RuntimeClass names, images
//! and image IDs, condition types and statuses. Thirty thousand pods name a handful of nodes
//! and images; each pod holding a reference instead of its own copy saves about 350 bytes a pod
//! (the `cache_bytes` bench).
//!
//! The table keeps at most `CAPACITY` strings and never forgets one (they are few and small);
//! past that, strings are no longer shared, which costs memory, never correctness.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

const CAPACITY: usize = 16_384;

static TABLE: Mutex<Option<HashSet<Arc<str>>>> = Mutex::new(None);

/// A string shared with every equal one read through `Interned`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interned(Arc<str>);

impl Interned {
    pub fn new(s: &str) -> Self {
        let mut guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let table = guard.get_or_insert_with(HashSet::new);
        if let Some(found) = table.get(s) {
            return Interned(found.clone());
        }
        let shared: Arc<str> = Arc::from(s);
        if table.len() < CAPACITY {
            table.insert(shared.clone());
        }
        Interned(shared)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Interned {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Interned {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Interned {
    fn from(s: &str) -> Self {
        Interned::new(s)
    }
}

impl From<String> for Interned {
    fn from(s: String) -> Self {
        Interned::new(&s)
    }
}

impl PartialEq<str> for Interned {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Interned {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Serialize for Interned {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Interned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Interned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Interned, E> {
                Ok(Interned::new(v))
            }
        }
        d.deserialize_str(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation_and_read_as_str() {
        let a: Interned = serde_json::from_str("\"node-1\"").unwrap();
        let b = Interned::from(String::from("node-1"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "node-1");
        assert_eq!(a.as_str(), "node-1");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"node-1\"");
        assert_eq!(format!("{a} {a:?}"), "node-1 \"node-1\"");
        assert!(serde_json::from_str::<Interned>("3").is_err());
    }
}
