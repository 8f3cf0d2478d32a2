//! Which comparison results (`status.comparison`, written by `wasm-operator compare`) go into
//! the cold-start histogram: each once, by the process that saw it arrive. One that finished
//! before this process started was recorded by the one that ran then, so a restart or a
//! re-list does not count it again.

use crate::api::crd::ComparisonStatus;
use crate::api::stored_workload::StoredWorkload;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::collections::HashMap;

#[derive(Debug)]
pub struct ComparisonRuns {
    started: Timestamp,
    /// The time of the last comparison recorded, per workload that has one.
    recorded: HashMap<(String, String), String>,
}

impl ComparisonRuns {
    pub fn new(started: Timestamp) -> Self {
        Self {
            started,
            recorded: HashMap::new(),
        }
    }

    /// The comparison of this version of `wl` when it is one to record now.
    pub fn news(&mut self, wl: &StoredWorkload) -> Option<ComparisonStatus> {
        let c = wl.comparison()?;
        // A second-resolution time: a comparison that ended in this process's first second counts.
        let when: Timestamp = c.time.parse().ok()?;
        if when.as_second() < self.started.as_second() {
            return None;
        }
        let key = (wl.namespace().unwrap_or_default(), wl.name_any());
        if self.recorded.get(&key) == Some(&c.time) {
            return None;
        }
        self.recorded.insert(key, c.time.clone());
        Some(c)
    }

    pub fn forget(&mut self, wl: &StoredWorkload) {
        self.recorded
            .remove(&(wl.namespace().unwrap_or_default(), wl.name_any()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::crd::WasmWorkloadStatus;
    use crate::tests::fixtures::workload;

    fn stored(wl: &crate::api::crd::WasmWorkload) -> StoredWorkload {
        serde_json::from_value(serde_json::to_value(wl).unwrap()).unwrap()
    }

    fn compared_at(time: &str) -> StoredWorkload {
        let mut wl = workload("hello", "demo");
        wl.status = Some(WasmWorkloadStatus {
            comparison: Some(Box::new(ComparisonStatus {
                time: time.into(),
                ..Default::default()
            })),
            ..Default::default()
        });
        stored(&wl)
    }

    #[test]
    fn each_comparison_once_and_none_from_before_the_start() {
        let mut runs = ComparisonRuns::new("2026-12-02T10:00:00Z".parse().unwrap());
        assert!(
            runs.news(&compared_at("2026-12-02T09:59:59Z")).is_none(),
            "recorded by an earlier process"
        );
        assert!(
            runs.news(&stored(&workload("hello", "demo"))).is_none(),
            "never compared"
        );
        assert!(runs.news(&compared_at("not a time")).is_none());
        let first = compared_at("2026-12-02T10:00:00Z");
        assert!(runs.news(&first).is_some());
        assert!(
            runs.news(&first).is_none(),
            "the same result seen again (a status write, a re-list)"
        );
        assert!(runs.news(&compared_at("2026-12-02T10:05:00Z")).is_some(), "a new run");
        runs.forget(&first);
        assert!(
            runs.news(&compared_at("2026-12-02T10:05:00Z")).is_some(),
            "recreated workload"
        );
    }
}
