//! A comparison as a table: for a terminal, or as Markdown for a README or an issue.

use crate::compare::run::Comparison;
use crate::compare::stats::{ratio, ModeSummary, Spread};
use crate::report::units::human_bytes;

fn secs(v: Option<f64>) -> String {
    // + 0.0 turns a negative zero (a lag of -0.0001 s, rounded) into 0.000.
    v.map_or("—".into(), |s| {
        format!("{:.3} s", (s * 1000.0).round() / 1000.0 + 0.0)
    })
}

/// Bytes as every table of the CLI prints them (KiB, MiB); the JSON output keeps bytes.
fn bytes(v: Option<i64>) -> String {
    v.map_or("—".into(), human_bytes)
}

fn times(v: Option<f64>) -> String {
    match v {
        Some(r) if r < 0.01 => format!("×{r:.4}"),
        Some(r) => format!("×{r:.2}"),
        None => String::new(),
    }
}

/// The row of what the readiness probe adds after the app first answered.
const LAG: &str = "Ready after the first response p50 (probe lag)";

/// A time row: what, Wasm, container, Wasm ÷ container.
fn time_row(what: &str, w: Option<f64>, k: Option<f64>) -> [String; 4] {
    // A ratio of two lags says nothing: that row has none.
    let r = if what == LAG { String::new() } else { times(ratio(w, k)) };
    [what.to_string(), secs(w), secs(k), r]
}

/// p50, p95, min and max of one measure of both modes, a row each.
fn spread_rows(what: &str, w: Option<Spread>, k: Option<Spread>) -> impl Iterator<Item = [String; 4]> + '_ {
    let pick = |s: &Spread, stat: &str| match stat {
        "p50" => s.p50,
        "p95" => s.p95,
        "min" => s.min,
        _ => s.max,
    };
    ["p50", "p95", "min", "max"].into_iter().map(move |stat| {
        time_row(
            &format!("{what} {stat}"),
            w.map(|s| pick(&s, stat)),
            k.map(|s| pick(&s, stat)),
        )
    })
}

/// The rows: what, Wasm, container, Wasm ÷ container.
fn rows(c: &Comparison) -> Vec<[String; 4]> {
    let p50 = |s: Option<Spread>| s.map(|s| s.p50);
    let (w, k) = (&c.wasm, &c.container);
    let mut rows: Vec<[String; 4]> = spread_rows("cold start", w.warm, k.warm).collect();
    rows.push(time_row(
        "first start on the node (pull included)",
        p50(w.first),
        p50(k.first),
    ));
    if c.http.is_some() {
        rows.extend(spread_rows("first response", w.first_response, k.first_response));
        rows.push(time_row(LAG, p50(w.ready_lag), p50(k.ready_lag)));
    }
    rows.push(time_row("scheduled p50", p50(w.scheduled), p50(k.scheduled)));
    rows.push(time_row("containers running p50", p50(w.started), p50(k.started)));
    for (what, w, k) in [
        ("image size", c.wasm_image_bytes, c.container_image_bytes),
        (
            "memory working set (a Ready pod)",
            c.wasm_memory_bytes,
            c.container_memory_bytes,
        ),
    ] {
        let r = ratio(w.map(|b| b as f64), k.map(|b| b as f64));
        rows.push([what.into(), bytes(w), bytes(k), times(r)]);
    }
    let samples = |m: &ModeSummary| m.warm.map_or(0, |s| s.samples) + m.first.map_or(0, |s| s.samples);
    rows.push([
        "pods Ready / failed".into(),
        format!("{} / {}", samples(w), w.failures.len()),
        format!("{} / {}", samples(k), k.failures.len()),
        String::new(),
    ]);
    rows
}

/// The table; `markdown` for pipes and a header rule, else aligned columns.
pub fn render(c: &Comparison, markdown: bool) -> String {
    let mut title = format!(
        "{}/{} on node {} (RuntimeClass {})",
        c.namespace, c.workload, c.node, c.runtime_class
    );
    if let Some(http) = &c.http {
        title.push_str(&format!(
            "; first response: {http}, asked through the API server's pod proxy every 10–20 ms"
        ));
    }
    let header = ["", "Wasm", "container", "Wasm/container"].map(String::from);
    let mut all = vec![header];
    all.extend(rows(c));
    let mut out = String::new();
    if markdown {
        out.push_str(&format!("**{title}**\n\n"));
        for (i, r) in all.iter().enumerate() {
            out.push_str(&format!("| {} |\n", r.join(" | ")));
            if i == 0 {
                out.push_str("|---|---|---|---|\n");
            }
        }
    } else {
        out.push_str(&format!("{title}\n"));
        let widths: Vec<usize> = (0..4)
            .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &all {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
    }
    let failed = c.wasm.failures.len() + c.container.failures.len();
    if markdown && (c.memory_note.is_some() || failed > 0) {
        // Else Markdown reads the next line as one more row of the table.
        out.push('\n');
    }
    if let Some(note) = &c.memory_note {
        out.push_str(&format!("memory: {note}\n"));
    }
    for (mode, m) in [("Wasm", &c.wasm), ("container", &c.container)] {
        // Ten pods failing alike make one line.
        let mut reasons: Vec<(&String, usize)> = vec![];
        for f in &m.failures {
            match reasons.iter_mut().find(|(r, _)| *r == f) {
                Some((_, n)) => *n += 1,
                None => reasons.push((f, 1)),
            }
        }
        for (reason, n) in reasons {
            let pods = if n == 1 { "pod".to_string() } else { format!("{n} pods") };
            out.push_str(&format!("{mode} {pods} failed: {reason}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::stats::spread;

    fn comparison() -> Comparison {
        let mode = |secs: &[f64]| ModeSummary {
            warm: spread(secs),
            ..Default::default()
        };
        Comparison {
            workload: "hello".into(),
            namespace: "demo".into(),
            node: "node1".into(),
            runtime_class: "wasmtime".into(),
            http: None,
            wasm: mode(&[0.5, 0.6]),
            container: mode(&[0.7, 0.9]),
            wasm_image_bytes: Some(34_901),
            container_image_bytes: Some(1_030_000),
            wasm_memory_bytes: Some(7_581_696),
            container_memory_bytes: Some(262_144),
            memory_note: None,
        }
    }

    /// `report` prints KiB and MiB; so does `compare`, in both of its table styles.
    #[test]
    fn sizes_read_as_the_report_prints_them() {
        for markdown in [false, true] {
            let table = render(&comparison(), markdown);
            for size in ["34.1 KiB", "1005.9 KiB", "7.2 MiB", "256.0 KiB"] {
                assert!(table.contains(size), "{size} missing:\n{table}");
            }
            assert!(!table.contains(" B "), "raw bytes in:\n{table}");
        }
    }

    /// The four statistics of a spread, each a row, in that order.
    #[test]
    fn a_spread_is_four_rows() {
        let table = render(&comparison(), false);
        let labels: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("cold start"))
            .map(|l| &l[..14])
            .collect();
        assert_eq!(
            labels,
            ["cold start p50", "cold start p95", "cold start min", "cold start max"]
        );
        assert!(table.contains("0.500 s"), "p50 of the Wasm pods:\n{table}");
    }
}
