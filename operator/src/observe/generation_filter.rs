//! Passes a workload on only when its spec generation moved (or it is new), so the operator's
//! own status writes do not come back as work. One small entry per workload, dropped on delete.

use kube::Resource;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct GenerationFilter(Mutex<HashMap<u64, i64>>);

fn key<K: Resource>(wl: &K) -> u64 {
    // Namespace and name identify it; a 64-bit hash of them keeps the entry small.
    crate::api::fnv::object_key(
        wl.meta().namespace.as_deref().unwrap_or(""),
        wl.meta().name.as_deref().unwrap_or(""),
    )
}

impl GenerationFilter {
    /// Whether this version of the workload is news.
    pub fn changed<K: Resource>(&self, wl: &K) -> bool {
        let Some(generation) = wl.meta().generation else {
            return true;
        };
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(key(wl), generation) != Some(generation)
    }

    pub fn forget<K: Resource>(&self, wl: &K) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&key(wl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::workload;

    #[test]
    fn only_new_generations_pass() {
        let f = GenerationFilter::default();
        let mut wl = workload("hello", "demo");
        assert!(f.changed(&wl), "new");
        assert!(!f.changed(&wl), "status write: same generation");
        wl.metadata.generation = Some(2);
        assert!(f.changed(&wl), "spec changed");
        f.forget(&wl);
        assert!(f.changed(&wl), "deleted and created again");
        wl.metadata.generation = None;
        assert!(
            f.changed(&wl) && f.changed(&wl),
            "without a generation everything passes"
        );
    }
}
