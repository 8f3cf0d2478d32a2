//! A cache of small records by namespace and name, filled from a watch: for kinds where the
//! reconcile needs a number or two per object, not the object. kube's reflector store keeps the
//! whole object under a key that repeats its name, namespace, uid and resourceVersion; at
//! 10,000 objects that is most of a megabyte per field the reconcile never reads.

use kube::runtime::watcher::Event;
use kube::Resource;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type ByName<V> = HashMap<Box<str>, V>;
type ByNamespace<V> = HashMap<Box<str>, ByName<V>>;

#[derive(Debug)]
struct Maps<V> {
    live: ByNamespace<V>,
    /// Built during a (re-)list and swapped in when it completes, as kube's store does.
    relisting: Option<ByNamespace<V>>,
}

/// Shared handle: clones see the same records.
#[derive(Debug)]
pub struct RecordCache<V> {
    maps: Arc<RwLock<Maps<V>>>,
    ready: watch::Receiver<bool>,
    ready_tx: Arc<watch::Sender<bool>>,
}

impl<V> Clone for RecordCache<V> {
    fn clone(&self) -> Self {
        Self {
            maps: self.maps.clone(),
            ready: self.ready.clone(),
            ready_tx: self.ready_tx.clone(),
        }
    }
}

impl<V> Default for RecordCache<V> {
    fn default() -> Self {
        let (ready_tx, ready) = watch::channel(false);
        Self {
            maps: Arc::new(RwLock::new(Maps {
                live: HashMap::new(),
                relisting: None,
            })),
            ready,
            ready_tx: Arc::new(ready_tx),
        }
    }
}

/// What `old` has that `new` does not.
fn gone<V>(old: &ByNamespace<V>, new: &ByNamespace<V>) -> Vec<(String, String)> {
    old.iter()
        .flat_map(|(ns, names)| names.keys().map(move |name| (ns, name)))
        .filter(|(ns, name)| new.get(*ns).is_none_or(|n| !n.contains_key(*name)))
        .map(|(ns, name)| (ns.to_string(), name.to_string()))
        .collect()
}

fn insert<V>(map: &mut ByNamespace<V>, namespace: &str, name: &str, record: V) {
    map.entry(namespace.into()).or_default().insert(name.into(), record);
}

impl<V: Clone> RecordCache<V> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<V> {
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        maps.live.get(namespace)?.get(name).cloned()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        maps.live.values().map(HashMap::len).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Apply a watch event, recording each object as `record` makes it. Returns the
    /// (namespace, name) of objects a completed relist no longer has: deleted while the watch
    /// was down, so no watch event will say so.
    pub fn apply<K: Resource>(&self, event: &Event<K>, record: impl Fn(&K) -> V) -> Vec<(String, String)> {
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let key = |o: &K| Some((o.meta().namespace.clone()?, o.meta().name.clone()?));
        match event {
            Event::Init => maps.relisting = Some(HashMap::new()),
            Event::InitApply(o) => {
                if let (Some((ns, name)), Some(map)) = (key(o), maps.relisting.as_mut()) {
                    insert(map, &ns, &name, record(o));
                }
            }
            Event::InitDone => {
                if let Some(fresh) = maps.relisting.take() {
                    let old = std::mem::replace(&mut maps.live, fresh);
                    self.ready_tx.send_replace(true);
                    return gone(&old, &maps.live);
                }
                self.ready_tx.send_replace(true);
            }
            Event::Apply(o) => {
                if let Some((ns, name)) = key(o) {
                    insert(&mut maps.live, &ns, &name, record(o));
                }
            }
            Event::Delete(o) => {
                if let Some((ns, name)) = key(o) {
                    if let Some(names) = maps.live.get_mut(ns.as_str()) {
                        names.remove(name.as_str());
                        if names.is_empty() {
                            maps.live.remove(ns.as_str());
                        }
                    }
                }
            }
        }
        Vec::new()
    }

    /// Every record.
    pub fn values(&self) -> Vec<V> {
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        maps.live.values().flat_map(|names| names.values().cloned()).collect()
    }

    /// Resolves once the first list has completed.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        // Every handle holds the sender, so waiting cannot fail while we wait.
        let _ = ready.wait_for(|r| *r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use kube::core::PartialObjectMeta;

    fn svc(name: &str, hash: u64) -> PartialObjectMeta<Service> {
        let mut s = PartialObjectMeta::<Service>::default();
        s.metadata.name = Some(name.into());
        s.metadata.namespace = Some("demo".into());
        s.metadata.generation = Some(hash as i64);
        s
    }

    fn gen(s: &PartialObjectMeta<Service>) -> u64 {
        s.metadata.generation.unwrap_or(0) as u64
    }

    #[tokio::test]
    async fn lists_swap_in_whole_and_watch_events_update() {
        let cache = RecordCache::<u64>::default();
        cache.apply(&Event::Init, gen);
        cache.apply(&Event::InitApply(svc("a", 1)), gen);
        assert_eq!(cache.get("demo", "a"), None, "not served before the list completes");
        assert!(
            futures::FutureExt::now_or_never(cache.wait_until_ready()).is_none(),
            "not ready before the first list"
        );
        assert!(cache.apply(&Event::InitDone, gen).is_empty());
        cache.wait_until_ready().await;
        assert_eq!(cache.get("demo", "a"), Some(1));

        cache.apply(&Event::Apply(svc("b", 2)), gen);
        cache.apply(&Event::Apply(svc("a", 3)), gen);
        assert_eq!((cache.get("demo", "a"), cache.get("demo", "b")), (Some(3), Some(2)));
        cache.apply(&Event::Delete(svc("a", 3)), gen);
        assert_eq!((cache.get("demo", "a"), cache.len()), (None, 1));
        assert_eq!(cache.get("other", "b"), None);

        // A relist replaces everything: what it does not list is gone.
        cache.apply(&Event::Init, gen);
        cache.apply(&Event::InitApply(svc("c", 4)), gen);
        assert_eq!(cache.get("demo", "b"), Some(2), "the old records serve during a relist");
        let gone = cache.apply(&Event::InitDone, gen);
        assert_eq!(
            gone,
            [("demo".to_string(), "b".to_string())],
            "what the relist dropped is reported"
        );
        assert_eq!((cache.get("demo", "b"), cache.get("demo", "c")), (None, Some(4)));
        assert!(!cache.is_empty());
    }
}
