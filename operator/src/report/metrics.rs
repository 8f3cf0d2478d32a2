//! Prometheus metrics of the design's table, in the operator's own registry.
//! Histograms are labelled by namespace × mode × runtime class only; per-workload series are
//! gauges, removed when the workload is deleted.

use crate::api::crd::Mode;
use crate::report::workload_gauges::WorkloadGauges;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// Cold-start buckets: Wasm starts in tens of milliseconds, containers can take minutes.
pub const COLD_START_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];
/// Reconcile latency excluding nothing: API round trips included.
const RECONCILE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The kinds the operator watches besides its WasmWorkloads (the `kind` of the re-list counter).
pub const WATCHED_KINDS: &[&str] = &["Pod", "Event", "Deployment", "Service", "RuntimeClass", "Node"];

/// `source` of the cold starts of the workloads' own pods.
pub const SOURCE_DEPLOYMENT: &str = "deployment";
/// `source` of the cold starts of `wasm-operator compare` runs.
pub const SOURCE_COMPARISON: &str = "comparison";

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub cold_start: HistogramVec,
    pub cold_start_api: HistogramVec,
    /// Replicas, last cold start, image size and memory per workload.
    pub workloads: WorkloadGauges,
    pub fallbacks: IntCounterVec,
    pub runtime_nodes: IntGaugeVec,
    pub reconcile_duration: HistogramVec,
    pub reconcile_errors: IntCounterVec,
    /// 1 while this instance holds the leader Lease (or runs without election).
    pub leader: IntGauge,
    /// Watches the API server expired (410 Gone), answered by a fresh list, per kind.
    pub watch_relists: IntCounterVec,
    /// The operator's resident set size.
    pub memory_rss: IntGauge,
    /// Its container's memory limit (0: none).
    pub memory_limit: IntGauge,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique and valid");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let hist = |name: &str, help: &str, buckets: &[f64], labels: &[&str]| {
            register(
                r,
                HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).unwrap(),
            )
        };
        let igauge = |name: &str, help: &str, labels: &[&str]| {
            register(r, IntGaugeVec::new(Opts::new(name, help), labels).unwrap())
        };
        Self {
            // `workload` is set on comparison runs only (a handful of workloads, by hand);
            // the workloads' own pods leave it empty, which Prometheus stores as no label.
            cold_start: hist(
                "wasm_workload_cold_start_seconds",
                "Time from a pod's creation to its first Ready, per namespace, mode and RuntimeClass; \
                 source=deployment for the workloads' own pods, source=comparison for `wasm-operator compare` runs",
                COLD_START_BUCKETS,
                &["namespace", "mode", "runtime_class", "source", "workload"],
            ),
            cold_start_api: hist(
                "wasm_workload_cold_start_api_seconds",
                "Cold starts of pods the operator did not see being created, timed from API timestamps (1 s resolution)",
                COLD_START_BUCKETS,
                &["namespace", "mode", "runtime_class"],
            ),
            workloads: WorkloadGauges::default(),
            fallbacks: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "wasm_workload_fallbacks_total",
                        "Switches of a workload to its container fallback",
                    ),
                    &["namespace", "workload", "reason"],
                )
                .unwrap(),
            ),
            runtime_nodes: igauge(
                "wasm_operator_runtime_nodes",
                "Ready, schedulable nodes that match each RuntimeClass",
                &["runtime_class"],
            ),
            reconcile_duration: hist(
                "wasm_operator_reconcile_duration_seconds",
                "Duration of one reconcile, API calls included",
                RECONCILE_BUCKETS,
                &["result"],
            ),
            reconcile_errors: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "wasm_operator_reconcile_errors_total",
                        "Failed reconciles by error category",
                    ),
                    &["reason"],
                )
                .unwrap(),
            ),
            leader: register(
                r,
                IntGauge::new(
                    "wasm_operator_leader",
                    "1 while this instance holds the leader Lease and reconciles",
                )
                .unwrap(),
            ),
            watch_relists: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "wasm_operator_watch_relists_total",
                        "Watches the API server expired (410 Gone, after its restart or a long disconnect), answered by listing again, per kind",
                    ),
                    &["kind"],
                )
                .unwrap(),
            ),
            memory_rss: register(
                r,
                IntGauge::new(
                    "wasm_operator_memory_rss_bytes",
                    "The operator's resident set size (its caches grow with workloads and pods)",
                )
                .unwrap(),
            ),
            memory_limit: register(
                r,
                IntGauge::new(
                    "wasm_operator_memory_limit_bytes",
                    "The memory limit of the operator's cgroup (its container's resources.limits.memory); 0 when there is none",
                )
                .unwrap(),
            ),
            registry,
        }
        .with_error_categories_at_zero()
    }

    /// Known label values start at 0, so rate() and dashboards work before the first error.
    fn with_error_categories_at_zero(self) -> Self {
        for category in crate::error::CATEGORIES {
            self.reconcile_errors.with_label_values(&[category]);
        }
        for kind in WATCHED_KINDS {
            self.watch_relists.with_label_values(&[kind]);
        }
        self
    }

    pub fn observe_reconcile(&self, elapsed: Duration, error: Option<&'static str>) {
        let result = if error.is_some() { "error" } else { "ok" };
        self.reconcile_duration
            .with_label_values(&[result])
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = error {
            self.reconcile_errors.with_label_values(&[reason]).inc();
        }
    }

    /// Record one cold start: watch-timed samples in the main histogram and the workload's gauge,
    /// API-timed ones in their own histogram, never mixed.
    pub fn record_cold_start(&self, s: &crate::report::coldstart::Sample) {
        let labels = [s.namespace.as_str(), s.mode.as_str(), s.runtime_class.as_str()];
        match s.timing {
            crate::report::coldstart::Timing::Watch => {
                let [ns, mode, rc] = labels;
                self.cold_start
                    .with_label_values(&[ns, mode, rc, SOURCE_DEPLOYMENT, ""])
                    .observe(s.seconds);
                self.workloads
                    .set_last_cold_start(&s.namespace, &s.workload, &s.mode, s.seconds);
            }
            crate::report::coldstart::Timing::Api => self.cold_start_api.with_label_values(&labels).observe(s.seconds),
        }
    }

    /// Record the warm starts of a comparison run of `workload` (`status.comparison`), labelled
    /// with the workload so the dashboard shows each workload's runs.
    pub fn record_comparison(&self, namespace: &str, workload: &str, c: &crate::api::crd::ComparisonStatus) {
        let wasm = (Mode::Wasm.as_label(), c.runtime_class.as_str(), &c.wasm);
        let container = (Mode::Container.as_label(), "none", &c.container);
        for (mode, rc, m) in [wasm, container] {
            let h = self
                .cold_start
                .with_label_values(&[namespace, mode, rc, SOURCE_COMPARISON, workload]);
            for s in m.cold_starts_seconds.iter().filter(|s| s.is_finite() && **s >= 0.0) {
                h.observe(*s);
            }
        }
    }

    /// Set a workload's replica gauges, in the mode it runs in now.
    /// The replica figures of a workload, per mode it runs in.
    pub fn set_replicas(&self, namespace: &str, workload: &str, per_mode: &[(&str, i32, i32)]) {
        self.workloads.set_replicas(namespace, workload, per_mode);
    }

    /// Replace the usable-nodes gauge with these counts (RuntimeClasses gone lose their series).
    pub fn set_runtime_nodes(&self, counts: &[(String, usize)]) {
        self.runtime_nodes.reset();
        for (rc, n) in counts {
            self.runtime_nodes
                .with_label_values(&[rc.as_str()])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// Remove every per-workload series of a deleted workload.
    pub fn forget_workload(&self, namespace: &str, workload: &str) {
        self.workloads.forget(namespace, workload);
        for reason in crate::api::reason::FALLBACK_REASONS {
            let _ = self.fallbacks.remove_label_values(&[namespace, workload, reason]);
        }
    }

    /// The registry and the per-workload gauges in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        let mut text = String::from_utf8(buf).expect("Prometheus text format is UTF-8");
        self.workloads.render(&mut text);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_follow_the_mode_and_are_forgotten() {
        let m = Metrics::new();
        m.set_replicas("demo", "hello", &[("wasm", 2, 1)]);
        m.set_replicas("demo", "hello", &[("container", 2, 2)]);
        let text = m.render();
        assert!(
            text.contains(
                r#"wasm_workload_replicas{mode="container",namespace="demo",state="ready",workload="hello"} 2"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"mode="wasm""#),
            "the old mode's series is gone: {text}"
        );
        m.fallbacks
            .with_label_values(&["demo", "hello", "NoUsableRuntime"])
            .inc();
        m.forget_workload("demo", "hello");
        let text = m.render();
        assert!(!text.contains("hello"), "{text}");
    }

    #[test]
    fn reconcile_results_are_counted() {
        let m = Metrics::new();
        m.observe_reconcile(Duration::from_millis(3), None);
        m.observe_reconcile(Duration::from_millis(3), Some("conflict"));
        let text = m.render();
        assert!(text.contains(r#"wasm_operator_reconcile_duration_seconds_count{result="ok"} 1"#));
        assert!(text.contains(r#"wasm_operator_reconcile_errors_total{reason="conflict"} 1"#));
    }
}
