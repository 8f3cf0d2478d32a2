//! The per-workload gauges (replicas, last cold start, image size, memory), kept as one small
//! record per workload and turned into series only when Prometheus scrapes. A labelled gauge of
//! the prometheus crate keeps a child object with its own label pairs and descriptor per series,
//! about 2.7 KB per workload across these four; this keeps about 100 bytes.

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The modes pods run in; per-mode figures are kept per slot.
const MODES: [&str; 3] = ["wasm", "container", "pending"];

fn slot(mode: &str) -> Option<usize> {
    MODES.iter().position(|m| *m == mode)
}

#[derive(Clone, Debug, Default)]
struct Figures {
    /// (mode slot, desired, ready) in the mode the workload runs in now.
    replicas: Option<(usize, i64, i64)>,
    last_cold_start: [Option<f64>; 3],
    image_size: [Option<i64>; 3],
    memory: [Option<i64>; 3],
}

impl Figures {
    fn is_empty(&self) -> bool {
        self.replicas.is_none()
            && self.last_cold_start.iter().all(Option::is_none)
            && self.image_size.iter().all(Option::is_none)
            && self.memory.iter().all(Option::is_none)
    }
}

const REPLICAS: &str = "wasm_workload_replicas";
const LAST_COLD_START: &str = "wasm_workload_last_cold_start_seconds";
const IMAGE_SIZE: &str = "wasm_workload_image_size_bytes";
const MEMORY: &str = "wasm_workload_memory_working_set_bytes";

/// Cheap to clone: clones share the figures (one is registered, one is written to).
#[derive(Clone)]
pub struct WorkloadGauges {
    descs: Vec<Desc>,
    figures: Arc<RwLock<HashMap<(String, String), Figures>>>,
}

fn desc(name: &str, help: &str, labels: &[&str]) -> Desc {
    Desc::new(
        name.into(),
        help.into(),
        labels.iter().map(|l| l.to_string()).collect(),
        HashMap::new(),
    )
    .expect("valid metric description")
}

impl Default for WorkloadGauges {
    fn default() -> Self {
        let wl = ["namespace", "workload", "mode"];
        WorkloadGauges {
            descs: vec![
                desc(
                    REPLICAS,
                    "Pods of a workload, desired and ready",
                    &["namespace", "workload", "mode", "state"],
                ),
                desc(LAST_COLD_START, "Most recent cold start of a workload's pods", &wl),
                desc(
                    IMAGE_SIZE,
                    "Size of the image a workload's pods run, as reported by the nodes",
                    &wl,
                ),
                desc(
                    MEMORY,
                    "Memory working set per pod of a workload, from metrics.k8s.io",
                    &wl,
                ),
            ],
            figures: Arc::new(RwLock::new(HashMap::new())),
        }
    }
}

fn pair(name: &str, value: &str) -> LabelPair {
    let mut p = LabelPair::default();
    p.set_name(name.to_string());
    p.set_value(value.to_string());
    p
}

/// A gauge sample; labels given in name order, as the prometheus crate sorts its own.
fn sample(labels: &[(&str, &str)], value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::from_gauge(g);
    m.set_label(labels.iter().map(|(k, v)| pair(k, v)).collect());
    m
}

fn family(name: &str, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(MetricType::GAUGE);
    f.set_metric(metrics);
    f
}

impl WorkloadGauges {
    fn update(&self, namespace: &str, workload: &str, f: impl FnOnce(&mut Figures)) {
        let mut all = self.figures.write().unwrap_or_else(|e| e.into_inner());
        let key = (namespace.to_string(), workload.to_string());
        let entry = all.entry(key.clone()).or_default();
        f(entry);
        if entry.is_empty() {
            all.remove(&key);
        }
    }

    pub fn set_replicas(&self, namespace: &str, workload: &str, mode: &str, desired: i64, ready: i64) {
        let Some(s) = slot(mode) else { return };
        self.update(namespace, workload, |f| f.replicas = Some((s, desired, ready)));
    }

    pub fn set_last_cold_start(&self, namespace: &str, workload: &str, mode: &str, seconds: f64) {
        let Some(s) = slot(mode) else { return };
        self.update(namespace, workload, |f| f.last_cold_start[s] = Some(seconds));
    }

    pub fn set_image_size(&self, namespace: &str, workload: &str, mode: &str, bytes: Option<i64>) {
        let Some(s) = slot(mode) else { return };
        self.update(namespace, workload, |f| f.image_size[s] = bytes);
    }

    /// Replace every memory figure with these, keyed by (namespace, workload, mode).
    pub fn replace_memory(&self, memory: &HashMap<(String, String, String), i64>) {
        let mut all = self.figures.write().unwrap_or_else(|e| e.into_inner());
        for f in all.values_mut() {
            f.memory = [None; 3];
        }
        for ((ns, wl, mode), bytes) in memory {
            if let Some(s) = slot(mode) {
                all.entry((ns.clone(), wl.clone())).or_default().memory[s] = Some(*bytes);
            }
        }
        all.retain(|_, f| !f.is_empty());
    }

    pub fn forget(&self, namespace: &str, workload: &str) {
        self.figures
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(namespace.to_string(), workload.to_string()));
    }
}

impl Collector for WorkloadGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let all = self.figures.read().unwrap_or_else(|e| e.into_inner());
        let (mut replicas, mut last, mut image, mut memory) = (vec![], vec![], vec![], vec![]);
        for ((ns, wl), f) in all.iter() {
            if let Some((s, desired, ready)) = f.replicas {
                for (state, v) in [("desired", desired), ("ready", ready)] {
                    let labels = [
                        ("mode", MODES[s]),
                        ("namespace", ns.as_str()),
                        ("state", state),
                        ("workload", wl.as_str()),
                    ];
                    replicas.push(sample(&labels, v as f64));
                }
            }
            for (s, mode) in MODES.iter().enumerate() {
                let labels = [("mode", *mode), ("namespace", ns.as_str()), ("workload", wl.as_str())];
                if let Some(v) = f.last_cold_start[s] {
                    last.push(sample(&labels, v));
                }
                if let Some(v) = f.image_size[s] {
                    image.push(sample(&labels, v as f64));
                }
                if let Some(v) = f.memory[s] {
                    memory.push(sample(&labels, v as f64));
                }
            }
        }
        let help = |i: usize| self.descs[i].help.clone();
        [
            (REPLICAS, replicas, 0),
            (LAST_COLD_START, last, 1),
            (IMAGE_SIZE, image, 2),
            (MEMORY, memory, 3),
        ]
        .into_iter()
        .filter(|(_, m, _)| !m.is_empty())
        .map(|(name, m, i)| family(name, &help(i), m))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(g: WorkloadGauges) -> String {
        let r = prometheus::Registry::new();
        r.register(Box::new(g)).unwrap();
        let mut buf = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn figures_become_series_and_go_away() {
        let g = WorkloadGauges::default();
        g.set_replicas("demo", "hello", "wasm", 2, 1);
        g.set_replicas("demo", "hello", "container", 2, 2);
        g.set_last_cold_start("demo", "hello", "wasm", 0.04);
        g.set_image_size("demo", "hello", "container", Some(1000));
        g.replace_memory(&[(("demo".into(), "hello".into(), "wasm".into()), 5)].into());
        g.set_replicas("demo", "other", "wasm", 1, 1);
        g.forget("demo", "other");
        g.set_replicas("demo", "x", "bogus", 1, 1);
        let text = render(g);
        assert!(
            text.contains(
                r#"wasm_workload_replicas{mode="container",namespace="demo",state="ready",workload="hello"} 2"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"wasm_workload_replicas{mode="wasm""#),
            "only the current mode: {text}"
        );
        assert!(text
            .contains(r#"wasm_workload_last_cold_start_seconds{mode="wasm",namespace="demo",workload="hello"} 0.04"#));
        assert!(
            text.contains(r#"wasm_workload_image_size_bytes{mode="container",namespace="demo",workload="hello"} 1000"#)
        );
        assert!(
            text.contains(r#"wasm_workload_memory_working_set_bytes{mode="wasm",namespace="demo",workload="hello"} 5"#)
        );
        assert!(text.contains("# TYPE wasm_workload_replicas gauge"));
        assert!(!text.contains("other") && !text.contains("bogus"), "{text}");
    }

    #[test]
    fn memory_is_replaced_not_accumulated() {
        let g = WorkloadGauges::default();
        g.replace_memory(&[(("demo".into(), "a".into(), "wasm".into()), 5)].into());
        g.replace_memory(&[(("demo".into(), "b".into(), "wasm".into()), 7)].into());
        let text = render(g);
        assert!(!text.contains("workload=\"a\""), "{text}");
        assert!(text.contains("workload=\"b\""));
    }
}
