//! The periodic resync, spread over its period: every tick, the workloads whose slot comes up.
//!
//! Each reconcile could instead ask to be run again after the period (a requeue), but then the
//! controller's scheduler holds an entry for every workload at all times: two copies of its
//! object reference, with a timer slot, about a kilobyte a workload (heap profile of the scale
//! bench at 10,000: 15 MiB). Spread by slot, the scheduler holds a tick's share at a time, and
//! a resync never arrives as one burst of every workload.

use crate::api::stored_workload::StoredWorkload;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{ObjectRef, Store};
use std::time::Duration;

/// The slot (0..slots) of a workload: a hash of its namespace and name, so a workload keeps its
/// slot across restarts and the slots fill evenly.
pub fn slot(namespace: &str, name: &str, slots: u64) -> u64 {
    crate::api::fnv::object_key(namespace, name) % slots.max(1)
}

/// The number of ticks in a period (at least one).
pub fn slots(period: Duration, tick: Duration) -> u64 {
    (period.as_millis() / tick.as_millis().max(1)).max(1) as u64
}

/// Every `tick`, the workloads of the store whose slot is the tick's: each workload once a
/// `period`.
pub fn staggered(
    store: Store<StoredWorkload>,
    period: Duration,
    tick: Duration,
) -> impl Stream<Item = ObjectRef<StoredWorkload>> {
    let slots = slots(period, tick);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures::stream::unfold((interval, 0u64), move |(mut interval, n)| {
        let store = store.clone();
        async move {
            interval.tick().await;
            let due: Vec<_> = store
                .state()
                .iter()
                .filter(|w| {
                    let m = &w.metadata;
                    slot(
                        m.namespace.as_deref().unwrap_or(""),
                        m.name.as_deref().unwrap_or(""),
                        slots,
                    ) == n
                })
                .map(|w| ObjectRef::from_obj(w.as_ref()))
                .collect();
            Some((futures::stream::iter(due), (interval, (n + 1) % slots)))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use std::collections::HashMap;

    #[test]
    fn slots_fill_evenly_and_each_workload_has_one() {
        let slots = slots(Duration::from_secs(3600), Duration::from_secs(10));
        assert_eq!(slots, 360);
        let mut count = vec![0u32; slots as usize];
        for i in 0..36_000 {
            let s = slot("team-a", &format!("app-{i}"), slots);
            assert_eq!(s, slot("team-a", &format!("app-{i}"), slots), "stable");
            count[s as usize] += 1;
        }
        // 100 a slot on average; a hash spreads them within a small factor.
        let (min, max) = (count.iter().min().unwrap(), count.iter().max().unwrap());
        assert!(*min >= 50 && *max <= 150, "min {min}, max {max}");
        assert_eq!(super::slots(Duration::from_secs(1), Duration::from_secs(10)), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn each_workload_comes_once_a_period() {
        let (reader, mut writer) = reflector::store::<StoredWorkload>();
        for i in 0..200 {
            let w: StoredWorkload = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("app-{i}"), "namespace": "demo"},
                "spec": {}
            }))
            .unwrap();
            writer.apply_watcher_event(&Event::Apply(w));
        }
        let period = Duration::from_secs(60);
        let mut stream = Box::pin(staggered(reader, period, Duration::from_secs(1)));
        let start = tokio::time::Instant::now();
        let mut seen: HashMap<String, Vec<Duration>> = HashMap::new();
        while seen.values().map(Vec::len).sum::<usize>() < 400 {
            let r = stream.next().await.unwrap();
            seen.entry(r.name.clone()).or_default().push(start.elapsed());
        }
        assert_eq!(seen.len(), 200, "every workload");
        for (name, at) in &seen {
            assert_eq!(at.len(), 2, "{name} twice in two periods");
            assert_eq!(at[1] - at[0], period, "{name}: one period apart");
        }
        let first = seen.values().map(|a| a[0]).collect::<std::collections::BTreeSet<_>>();
        assert!(
            first.len() > 30,
            "spread over the period, not one burst: {} ticks",
            first.len()
        );
    }
}
