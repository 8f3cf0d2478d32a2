//! A comparison as a table: for a terminal, or as Markdown for a README or an issue.

use crate::compare::run::Comparison;
use crate::compare::stats::{ratio, ModeSummary, Spread};

fn secs(v: Option<f64>) -> String {
    // + 0.0 turns a negative zero (a lag of -0.0001 s, rounded) into 0.000.
    v.map_or("—".into(), |s| {
        format!("{:.3} s", (s * 1000.0).round() / 1000.0 + 0.0)
    })
}

fn bytes(v: Option<i64>) -> String {
    v.map_or("—".into(), |b| {
        let digits = b.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{out} B")
    })
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

/// The rows: what, Wasm, container, Wasm ÷ container.
fn rows(c: &Comparison) -> Vec<[String; 4]> {
    let pick =
        |m: &ModeSummary, f: fn(&Spread) -> f64, first: bool| (if first { m.first } else { m.warm }).as_ref().map(f);
    let mut rows = vec![];
    let mut row = |what: &str, w: Option<f64>, k: Option<f64>| {
        // A ratio of two lags says nothing: that row has none.
        let r = if what == LAG { String::new() } else { times(ratio(w, k)) };
        rows.push([what.to_string(), secs(w), secs(k), r]);
    };
    row(
        "cold start p50",
        pick(&c.wasm, |s| s.p50, false),
        pick(&c.container, |s| s.p50, false),
    );
    row(
        "cold start p95",
        pick(&c.wasm, |s| s.p95, false),
        pick(&c.container, |s| s.p95, false),
    );
    row(
        "cold start min",
        pick(&c.wasm, |s| s.min, false),
        pick(&c.container, |s| s.min, false),
    );
    row(
        "cold start max",
        pick(&c.wasm, |s| s.max, false),
        pick(&c.container, |s| s.max, false),
    );
    row(
        "first start on the node (pull included)",
        pick(&c.wasm, |s| s.p50, true),
        pick(&c.container, |s| s.p50, true),
    );
    if c.http.is_some() {
        let first = |m: &ModeSummary, f: fn(&Spread) -> f64| m.first_response.as_ref().map(f);
        row(
            "first response p50",
            first(&c.wasm, |s| s.p50),
            first(&c.container, |s| s.p50),
        );
        row(
            "first response p95",
            first(&c.wasm, |s| s.p95),
            first(&c.container, |s| s.p95),
        );
        row(
            "first response min",
            first(&c.wasm, |s| s.min),
            first(&c.container, |s| s.min),
        );
        row(
            "first response max",
            first(&c.wasm, |s| s.max),
            first(&c.container, |s| s.max),
        );
        row(
            LAG,
            c.wasm.ready_lag.map(|s| s.p50),
            c.container.ready_lag.map(|s| s.p50),
        );
    }
    row(
        "scheduled p50",
        c.wasm.scheduled.map(|s| s.p50),
        c.container.scheduled.map(|s| s.p50),
    );
    row(
        "containers running p50",
        c.wasm.started.map(|s| s.p50),
        c.container.started.map(|s| s.p50),
    );
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
        format!("{} / {}", samples(&c.wasm), c.wasm.failures.len()),
        format!("{} / {}", samples(&c.container), c.container.failures.len()),
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
