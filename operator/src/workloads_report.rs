//! `wasm-operator report`: the cluster's workloads in one table, from their status: mode,
//! RuntimeClass, why not Wasm, cold start, footprint and the last comparison, with totals
//! (workloads per mode, image bytes Wasm saves against the fallback images).

use crate::api::crd::{Mode, WasmWorkload};
use crate::report::footprint::named_image_size;
use crate::report::units::human_bytes;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use serde::Serialize;

/// One workload's line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub mode: String,
    /// Under placement Spill: the pods running the fallback image, of all.
    pub spilled: Option<(i32, i32)>,
    pub runtime_class: String,
    pub why_not_wasm: String,
    pub cold_start_p50: Option<f64>,
    pub cold_start_p95: Option<f64>,
    /// The pods the percentiles are over.
    pub cold_start_pods: Option<i64>,
    /// The readiness probe's period, which bounds how soon a pod counts as started.
    pub probe_period_seconds: Option<i32>,
    pub image_size_bytes: Option<i64>,
    pub memory_bytes: Option<i64>,
    /// The last comparison: Wasm and container p50.
    pub compared_p50: Option<(Option<f64>, Option<f64>)>,
}

/// The totals under the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub wasm: usize,
    pub container: usize,
    pub pending: usize,
    /// Workloads running as Wasm with some pods spilled into the fallback image.
    pub spilled: usize,
    /// Σ (fallback image − Wasm image) over the workloads running as Wasm whose sizes are known.
    pub image_bytes_saved: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub totals: Totals,
}

pub fn build(workloads: &[WasmWorkload], nodes: &[Node]) -> Report {
    let mut totals = Totals::default();
    let rows = workloads
        .iter()
        .map(|wl| {
            let st = wl.status.clone().unwrap_or_default();
            match st.mode {
                Some(Mode::Wasm) => totals.wasm += 1,
                Some(Mode::Container) => totals.container += 1,
                _ => totals.pending += 1,
            }
            let spilled = st
                .spill
                .as_ref()
                .filter(|s| s.container_replicas > 0)
                .map(|s| (s.container_replicas, wl.spec.replicas));
            totals.spilled += usize::from(spilled.is_some());
            // A spilled workload is Wasm where it can be: what keeps the rest off is its "why not".
            let why_spilled = st.spill.as_ref().map(|s| {
                let nodes: Vec<String> = s
                    .excluded_nodes
                    .iter()
                    .map(|e| format!("{} ({})", e.node, e.reason))
                    .collect();
                let mut why = s.message.clone().unwrap_or_default();
                if !nodes.is_empty() {
                    why = format!("{why} excluded: {}", nodes.join(", ")).trim().to_string();
                }
                why
            });
            let image = st.footprint.as_ref().and_then(|f| f.image_size_bytes);
            if st.mode == Some(Mode::Wasm) {
                let fallback = wl
                    .spec
                    .fallback
                    .image
                    .as_deref()
                    .and_then(|i| named_image_size(nodes, i));
                if let (Some(w), Some(c)) = (image, fallback) {
                    totals.image_bytes_saved += c - w;
                }
            }
            Row {
                namespace: wl.namespace().unwrap_or_default(),
                name: wl.name_any(),
                mode: st.mode.map_or("—".into(), |m| format!("{m:?}")),
                spilled,
                runtime_class: st.runtime_class_name.clone().unwrap_or_default(),
                why_not_wasm: st.fallback_reason.clone().or(why_spilled).unwrap_or_default(),
                cold_start_p50: st.cold_start.as_ref().map(|c| c.p50_seconds),
                cold_start_p95: st.cold_start.as_ref().map(|c| c.p95_seconds),
                cold_start_pods: st.cold_start.as_ref().map(|c| c.window_samples),
                probe_period_seconds: st.cold_start.as_ref().and_then(|c| c.probe_period_seconds),
                image_size_bytes: image,
                memory_bytes: st.footprint.as_ref().and_then(|f| f.memory_working_set_bytes),
                compared_p50: st
                    .comparison
                    .as_ref()
                    .map(|c| (c.wasm.p50_seconds, c.container.p50_seconds)),
            }
        })
        .collect();
    Report { rows, totals }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("—".into(), |s| format!("{s:.3}"))
}

fn size(v: Option<i64>) -> String {
    v.map_or("—".into(), human_bytes)
}

impl Report {
    /// The table: aligned for a terminal, or Markdown.
    pub fn render(&self, markdown: bool) -> String {
        let header = [
            "NAMESPACE",
            "NAME",
            "MODE",
            "RUNTIME",
            "COLD P50 (s)",
            "COLD P95 (s)",
            "OF PODS",
            "PROBE EVERY",
            "IMAGE",
            "MEMORY",
            "COMPARED P50 WASM/CTR (s)",
            "WHY NOT WASM",
        ]
        .map(String::from);
        let mut table = vec![header.to_vec()];
        for r in &self.rows {
            let compared = r
                .compared_p50
                .map_or("—".into(), |(w, c)| format!("{}/{}", secs(w), secs(c)));
            let why: String = r.why_not_wasm.chars().take(80).collect();
            table.push(vec![
                r.namespace.clone(),
                r.name.clone(),
                match r.spilled {
                    Some((ctr, of)) => format!("{} ({ctr}/{of} spilled)", r.mode),
                    None => r.mode.clone(),
                },
                if r.runtime_class.is_empty() {
                    "—".into()
                } else {
                    r.runtime_class.clone()
                },
                secs(r.cold_start_p50),
                secs(r.cold_start_p95),
                r.cold_start_pods.map_or("—".into(), |n| n.to_string()),
                r.probe_period_seconds.map_or("—".into(), |p| format!("{p} s")),
                size(r.image_size_bytes),
                size(r.memory_bytes),
                compared,
                why,
            ]);
        }
        let mut out = String::new();
        if markdown {
            for (i, row) in table.iter().enumerate() {
                out.push_str(&format!("| {} |\n", row.join(" | ")));
                if i == 0 {
                    out.push_str(&format!("|{}\n", "---|".repeat(row.len())));
                }
            }
        } else {
            let widths: Vec<usize> = (0..table[0].len())
                .map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
                .collect();
            for row in &table {
                let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
                out.push_str(cells.join("  ").trim_end());
                out.push('\n');
            }
        }
        let t = &self.totals;
        out.push_str(&format!(
            "\n{} workload(s): {} Wasm ({} spilled in part), {} container, {} pending; image size saved against the fallback images: {}\n",
            self.rows.len(),
            t.wasm,
            t.spilled,
            t.container,
            t.pending,
            human_bytes(t.image_bytes_saved)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::crd::{ColdStartStatus, ComparisonStatus, FootprintStatus, ModeComparison, WasmWorkloadStatus};
    use crate::tests::fixtures::workload;

    fn node_with_images() -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1"},
            "status": {"images": [{"names": ["docker.io/registry.example/hello:1.0"], "sizeBytes": 1_000_000}]}
        }))
        .unwrap()
    }

    #[test]
    fn rows_come_from_status_and_totals_count_modes_and_bytes_saved() {
        let mut wasm = workload("a", "demo");
        wasm.status = Some(WasmWorkloadStatus {
            mode: Some(Mode::Wasm),
            runtime_class_name: Some("spin".into()),
            cold_start: Some(ColdStartStatus {
                last_seconds: 0.5,
                p50_seconds: 0.5,
                p95_seconds: 0.7,
                samples: 9,
                window_samples: 3,
                recent_millis: vec![500, 400, 700],
                probe_period_seconds: Some(10),
            }),
            footprint: Some(FootprintStatus {
                image_size_bytes: Some(21_000),
                memory_working_set_bytes: None,
            }),
            comparison: Some(Box::new(ComparisonStatus {
                wasm: ModeComparison {
                    p50_seconds: Some(0.58),
                    ..Default::default()
                },
                container: ModeComparison {
                    p50_seconds: Some(0.76),
                    ..Default::default()
                },
                ..Default::default()
            })),
            spill: Some(crate::api::crd::SpillStatus {
                container_replicas: 1,
                reason: Some("Unschedulable".into()),
                message: Some("pod a-x: 0/4 nodes are available: 1 Insufficient cpu.".into()),
                excluded_nodes: vec![],
            }),
            ..Default::default()
        });
        let mut ctr = workload("b", "demo");
        ctr.status = Some(WasmWorkloadStatus {
            mode: Some(Mode::Container),
            fallback_reason: Some("no usable Wasm RuntimeClass (spin: not installed)".into()),
            ..Default::default()
        });
        let fresh = workload("c", "demo");
        let r = build(&[wasm, ctr, fresh], &[node_with_images()]);
        assert_eq!(
            r.totals,
            Totals {
                wasm: 1,
                container: 1,
                pending: 1,
                spilled: 1,
                image_bytes_saved: 1_000_000 - 21_000
            }
        );
        assert_eq!(r.rows[0].compared_p50, Some((Some(0.58), Some(0.76))));
        assert_eq!(
            r.rows[0].why_not_wasm,
            "pod a-x: 0/4 nodes are available: 1 Insufficient cpu."
        );
        assert_eq!(
            r.rows[1].why_not_wasm,
            "no usable Wasm RuntimeClass (spin: not installed)"
        );
        let text = r.render(false);
        assert!(text.contains("0.580/0.760"), "{text}");
        assert!(text.contains(
            "3 workload(s): 1 Wasm (1 spilled in part), 1 container, 1 pending; image size saved against the fallback images: 956.1 KiB"
        ));
        assert!(text.contains("Wasm (1/2 spilled)"), "{text}");
        assert!(text.contains("20.5 KiB"), "sizes in human units: {text}");
        assert!(text.contains("PROBE EVERY") && text.contains("10 s"), "{text}");
        assert!(!text.contains("21000") && !text.contains("979000"), "{text}");
        // JSON keeps the bytes.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["rows"][0]["imageSizeBytes"], 21_000);
        assert_eq!(json["totals"]["imageBytesSaved"], 979_000);
        let md = r.render(true);
        assert!(md.lines().nth(1).unwrap().starts_with("|---|"), "{md}");
        assert!(md.contains("| 20.5 KiB |"), "{md}");
    }
}
