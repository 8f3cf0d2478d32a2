//! The per-workload gauges (replicas, last cold start, image size, memory), kept as one small
//! record per workload and written as Prometheus text only when Prometheus scrapes. A labelled
//! gauge of the prometheus crate keeps a child object with its own label pairs and descriptor
//! per series, about 2.7 KB per workload across these four; this keeps about 100 bytes. Going
//! through the crate's collector at scrape time would still build a protobuf-shaped object per
//! series (tens of megabytes at 10,000 workloads, for a moment): the text is written directly.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, RwLock};

/// The modes pods run in; per-mode figures are kept per slot.
const MODES: [&str; 3] = ["wasm", "container", "pending"];

fn slot(mode: &str) -> Option<usize> {
    MODES.iter().position(|m| *m == mode)
}

#[derive(Clone, Debug, Default)]
struct Figures {
    /// (desired, ready) per mode the workload runs in now: one mode, or both under placement Spill.
    replicas: [Option<(i32, i32)>; 3],
    last_cold_start: [Option<f64>; 3],
    image_size: [Option<i64>; 3],
    memory: [Option<i64>; 3],
}

impl Figures {
    fn is_empty(&self) -> bool {
        self.replicas.iter().all(Option::is_none)
            && self.last_cold_start.iter().all(Option::is_none)
            && self.image_size.iter().all(Option::is_none)
            && self.memory.iter().all(Option::is_none)
    }
}

/// One sample value, as the text format spells it.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    Float(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) if v.is_nan() => f.write_str("NaN"),
            Value::Float(v) if v.is_infinite() => f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" }),
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// A sample of one workload: (mode, state label if any, value).
type Sample = (&'static str, Option<&'static str>, Value);

/// A family: its name, help, and the samples of one workload's figures.
struct Family {
    name: &'static str,
    help: &'static str,
    samples: fn(&Figures) -> Vec<Sample>,
}

fn per_mode<T: Copy>(values: &[Option<T>; 3], value: fn(T) -> Value) -> Vec<Sample> {
    MODES
        .iter()
        .zip(values)
        .filter_map(|(mode, v)| v.map(|v| (*mode, None, value(v))))
        .collect()
}

const FAMILIES: [Family; 4] = [
    Family {
        name: "wasm_workload_replicas",
        help: "Pods of a workload, desired and ready",
        samples: |f| {
            MODES
                .iter()
                .zip(&f.replicas)
                .filter_map(|(mode, r)| r.map(|r| (*mode, r)))
                .flat_map(|(mode, (desired, ready))| {
                    [
                        (mode, Some("desired"), Value::Int(i64::from(desired))),
                        (mode, Some("ready"), Value::Int(i64::from(ready))),
                    ]
                })
                .collect()
        },
    },
    Family {
        name: "wasm_workload_last_cold_start_seconds",
        help: "Most recent cold start of a workload's pods",
        samples: |f| per_mode(&f.last_cold_start, Value::Float),
    },
    Family {
        name: "wasm_workload_image_size_bytes",
        help: "Size of the image a workload's pods run, as reported by the nodes",
        samples: |f| per_mode(&f.image_size, Value::Int),
    },
    Family {
        name: "wasm_workload_memory_working_set_bytes",
        help: "Memory working set per pod of a workload, from metrics.k8s.io",
        samples: |f| per_mode(&f.memory, Value::Int),
    },
];

/// A label value with backslash, double quote and newline escaped, as the text format wants.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Cheap to clone: clones share the figures.
#[derive(Clone, Default)]
pub struct WorkloadGauges {
    figures: Arc<RwLock<HashMap<(String, String), Figures>>>,
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

    /// Replace the replica figures with these (mode, desired, ready): modes not given lose theirs.
    pub fn set_replicas(&self, namespace: &str, workload: &str, per_mode: &[(&str, i32, i32)]) {
        let mut replicas = [None; 3];
        for (mode, desired, ready) in per_mode {
            if let Some(s) = slot(mode) {
                replicas[s] = Some((*desired, *ready));
            }
        }
        self.update(namespace, workload, |f| f.replicas = replicas);
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

    /// Append the gauges in Prometheus text format; a family without samples is left out.
    pub fn render(&self, out: &mut String) {
        let all = self.figures.read().unwrap_or_else(|e| e.into_inner());
        for family in &FAMILIES {
            let mut header = false;
            for ((ns, wl), figures) in all.iter() {
                for (mode, state, value) in (family.samples)(figures) {
                    if !header {
                        let _ = write!(out, "# HELP {0} {1}\n# TYPE {0} gauge\n", family.name, family.help);
                        header = true;
                    }
                    // Label names in sorted order, as the prometheus crate writes its own.
                    let _ = write!(out, "{}{{mode=\"{mode}\",namespace=\"{}\"", family.name, Escaped(ns));
                    if let Some(state) = state {
                        let _ = write!(out, ",state=\"{state}\"");
                    }
                    let _ = writeln!(out, ",workload=\"{}\"}} {value}", Escaped(wl));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(g: WorkloadGauges) -> String {
        let mut text = String::new();
        g.render(&mut text);
        text
    }

    #[test]
    fn figures_become_series_and_go_away() {
        let g = WorkloadGauges::default();
        g.set_replicas("demo", "hello", &[("wasm", 2, 1)]);
        g.set_replicas("demo", "hello", &[("container", 2, 2)]);
        g.set_replicas("demo", "spilled", &[("wasm", 10, 3), ("container", 7, 7)]);
        g.set_last_cold_start("demo", "hello", "wasm", 0.04);
        g.set_image_size("demo", "hello", "container", Some(1000));
        g.replace_memory(&[(("demo".into(), "hello".into(), "wasm".into()), 5)].into());
        g.set_replicas("demo", "other", &[("wasm", 1, 1)]);
        g.forget("demo", "other");
        g.set_replicas("demo", "x", &[("bogus", 1, 1)]);
        let text = render(g);
        assert!(
            text.contains(
                r#"wasm_workload_replicas{mode="container",namespace="demo",state="ready",workload="hello"} 2"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"wasm_workload_replicas{mode="wasm",namespace="demo",state="ready",workload="hello"}"#),
            "only the current mode: {text}"
        );
        for both in [
            r#"wasm_workload_replicas{mode="wasm",namespace="demo",state="ready",workload="spilled"} 3"#,
            r#"wasm_workload_replicas{mode="container",namespace="demo",state="desired",workload="spilled"} 7"#,
        ] {
            assert!(text.contains(both), "both halves of a spilled workload: {text}");
        }
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
    fn label_values_are_escaped_and_values_spelled_as_prometheus_reads_them() {
        let g = WorkloadGauges::default();
        g.set_last_cold_start("demo", "we\\ird\"\nname", "wasm", f64::INFINITY);
        let text = render(g);
        assert!(text.contains(r#"workload="we\\ird\"\nname"} +Inf"#), "{text}");
        assert_eq!(text.lines().count(), 3, "HELP, TYPE and one sample: {text}");
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
