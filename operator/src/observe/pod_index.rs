//! Which pods belong to which workload, kept beside the pod cache so a reconcile finds its
//! workload's pods without scanning every pod.

use crate::api::views::CachedPod;
use std::collections::HashMap;

/// A 64-bit hash of namespace and workload name: a third of the bytes of the two strings. A
/// collision would only list another workload's pods too, which `observe` filters out by
/// their workload label.
type WorkloadKey = u64;

fn workload_key(namespace: &str, workload: &str) -> WorkloadKey {
    crate::api::fnv::object_key(namespace, workload)
}
/// Sorted pod names: a workload has a few, and a `BTreeSet` would allocate a node of 11 slots
/// even for one.
type PodNames = Vec<Box<str>>;

#[derive(Debug, Default)]
pub struct PodIndex {
    by_workload: HashMap<WorkloadKey, PodNames>,
    /// Built during a re-list, swapped in when it completes (as the reflector's store does).
    relisting: Option<HashMap<WorkloadKey, PodNames>>,
}

fn key(pod: &CachedPod) -> Option<(WorkloadKey, &str)> {
    let ns = pod.metadata.namespace.as_deref()?;
    let name = pod.metadata.name.as_deref()?;
    let workload = pod.workload.as_deref()?;
    Some((workload_key(ns, workload), name))
}

impl PodIndex {
    pub fn insert(&mut self, pod: &CachedPod) {
        if let Some((k, name)) = key(pod) {
            let map = self.relisting.as_mut().unwrap_or(&mut self.by_workload);
            let names = map.entry(k).or_default();
            if let Err(at) = names.binary_search_by(|n| n.as_ref().cmp(name)) {
                names.insert(at, name.into());
            }
        }
    }

    pub fn remove(&mut self, pod: &CachedPod) {
        if let Some((k, name)) = key(pod) {
            if let Some(set) = self.by_workload.get_mut(&k) {
                set.retain(|n| n.as_ref() != name);
                if set.is_empty() {
                    self.by_workload.remove(&k);
                }
            }
        }
    }

    pub fn relist_started(&mut self) {
        self.relisting = Some(HashMap::new());
    }

    pub fn relist_done(&mut self) {
        if let Some(fresh) = self.relisting.take() {
            self.by_workload = fresh;
        }
    }

    /// Names of the workload's pods.
    pub fn pods_of(&self, namespace: &str, workload: &str) -> Vec<String> {
        self.by_workload
            .get(&workload_key(namespace, workload))
            .map(|s| s.iter().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::pod;

    #[test]
    fn insert_remove_and_relist() {
        let mut idx = PodIndex::default();
        idx.insert(&pod("a", "hello", "wasm", true, true, true));
        idx.insert(&pod("b", "hello", "wasm", true, true, true));
        idx.insert(&pod("c", "other", "container", true, true, true));
        idx.insert(&pod("a", "hello", "wasm", true, true, false));
        assert_eq!(idx.pods_of("demo", "hello"), ["a", "b"]);
        idx.remove(&pod("a", "hello", "wasm", true, true, true));
        assert_eq!(idx.pods_of("demo", "hello"), ["b"]);
        idx.relist_started();
        idx.insert(&pod("d", "hello", "wasm", true, true, true));
        assert_eq!(
            idx.pods_of("demo", "hello"),
            ["b"],
            "the old view serves until the relist is done"
        );
        idx.relist_done();
        assert_eq!(idx.pods_of("demo", "hello"), ["d"]);
        assert!(idx.pods_of("demo", "other").is_empty());
    }
}
