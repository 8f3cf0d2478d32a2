//! A comparison as an SVG chart (`--svg FILE`): the cold starts of both modes on one time axis,
//! one dot per pod (first starts hollow), with each mode's p50 and p95 marked, so the two
//! distributions are seen side by side. Plain SVG 1.1, no script, no external reference.

use crate::compare::run::Comparison;
use crate::compare::stats::ModeSummary;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 30.0;
const ROW: f64 = 70.0;
/// The title's font size, and the width of its widest character there (a bold `W` is about
/// 0.95 em in common sans-serif fonts): what a line may hold is judged by that, so it fits
/// whatever characters the names are made of.
const TITLE_SIZE: f64 = 13.0;
const TITLE_LINE: f64 = 17.0;
const WIDEST_CHAR: f64 = TITLE_SIZE * 0.95;
/// Characters of the legend (11 px, plain text of our own) to a line.
const LEGEND_CHARS: usize = 100;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Lines of at most `max` characters: broken at spaces, and inside a word only where the word
/// alone is longer (names run up to 253 characters with no space in them).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    let mut line = String::new();
    for word in text.split(' ') {
        let fits = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count() <= max;
        if !line.is_empty() && !fits {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        for ch in word.chars() {
            if line.chars().count() == max {
                lines.push(std::mem::take(&mut line));
            }
            line.push(ch);
        }
    }
    lines.push(line);
    lines
}

/// The title, wrapped to the chart's width: whose workload, which node, which RuntimeClass.
fn title_lines(c: &Comparison) -> Vec<String> {
    let max = ((WIDTH - 20.0) / WIDEST_CHAR).floor() as usize;
    [
        format!("{}/{}", c.namespace, c.workload),
        format!("cold start, creation → Ready, on node {}", c.node),
        format!("RuntimeClass {}", c.runtime_class),
    ]
    .iter()
    .flat_map(|part| wrap(part, max))
    .collect()
}

/// A round step for about five ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn seconds_label(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

/// The chart.
pub fn render(c: &Comparison) -> String {
    let modes: [(&str, &ModeSummary, &str); 2] = [("Wasm", &c.wasm, "#6a3fc8"), ("container", &c.container, "#d9822b")];
    let all = modes
        .iter()
        .flat_map(|(_, m, _)| {
            m.warm_seconds
                .iter()
                .chain(&m.first_seconds)
                .chain(&m.first_response_seconds)
        })
        .copied()
        .filter(|s| s.is_finite() && *s >= 0.0);
    let max = all.fold(0.0_f64, f64::max).max(0.001);
    let step = tick_step(max);
    let axis_max = (max / step).ceil() * step;
    let plot = WIDTH - LEFT - RIGHT;
    let x = |s: f64| LEFT + plot * (s / axis_max);
    let title = title_lines(c);
    let top = 22.0 + TITLE_LINE * title.len() as f64 + 12.0;
    let legend = wrap(
        &format!(
            "filled: warm starts (creation → Ready); hollow: first start on the node (pull included); bars: p50 and p95 of the warm starts{}",
            if c.http.is_some() { "; squares: the app's first 2xx answer" } else { "" }
        ),
        LEGEND_CHARS,
    );
    let height = top + ROW * 2.0 + 46.0 + 14.0 * legend.len() as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    for (i, line) in title.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}" font-size="{TITLE_SIZE}" font-weight="bold">{}</text>"#,
            22.0 + TITLE_LINE * i as f64,
            escape(line)
        );
    }
    let axis_y = top + ROW * 2.0;
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#444"/>"##,
        WIDTH - RIGHT
    );
    let ticks = (axis_max / step).round() as usize;
    for i in 0..=ticks {
        let s = step * i as f64;
        let tx = x(s);
        let _ = writeln!(
            out,
            r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{axis_y}" stroke="#ddd"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            axis_y + 16.0,
            seconds_label(s)
        );
    }
    for (row, (name, m, colour)) in modes.iter().enumerate() {
        let mid = top + ROW * row as f64 + ROW / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{name}</text>"#,
            LEFT - 10.0,
            mid + 4.0
        );
        let dots = m
            .warm_seconds
            .iter()
            .map(|s| (s, true))
            .chain(m.first_seconds.iter().map(|s| (s, false)));
        for (i, (s, warm)) in dots.filter(|(s, _)| s.is_finite() && **s >= 0.0).enumerate() {
            // A small vertical spread, the same every time, so equal times stay visible.
            let dy = ((i % 5) as f64 - 2.0) * 5.0;
            let fill = if warm { *colour } else { "none" };
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{fill}" stroke="{colour}" fill-opacity="0.7"><title>{}</title></circle>"#,
                x(*s),
                mid + dy,
                seconds_label(*s)
            );
        }
        // The app's first 2xx answers (`--http`): squares below the dots.
        for s in m.first_response_seconds.iter().filter(|s| s.is_finite() && **s >= 0.0) {
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="none" stroke="{colour}" stroke-width="1.5"><title>first response {}</title></rect>"#,
                x(*s) - 3.5,
                mid + 14.0,
                seconds_label(*s)
            );
        }
        if let Some(w) = m.warm {
            for (q, v, len) in [("p50", w.p50, 18.0), ("p95", w.p95, 12.0)] {
                let _ = writeln!(
                    out,
                    r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#000" stroke-width="2"/><text x="{0:.1}" y="{3:.1}" text-anchor="middle" font-size="10">{q}</text>"##,
                    x(v),
                    mid - len,
                    mid + len,
                    mid - len - 3.0
                );
            }
        }
        if !m.failures.is_empty() {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#b00">{} failed</text>"##,
                WIDTH - RIGHT,
                mid + 24.0,
                m.failures.len()
            );
        }
    }
    for (i, line) in legend.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}" font-size="11">{}</text>"#,
            axis_y + 38.0 + 14.0 * i as f64,
            escape(line)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::stats::{spread, ModeSummary};

    fn mode(warm: &[f64], first: &[f64]) -> ModeSummary {
        ModeSummary {
            warm: spread(warm),
            first: spread(first),
            warm_seconds: warm.to_vec(),
            first_seconds: first.to_vec(),
            ..Default::default()
        }
    }

    fn comparison() -> Comparison {
        Comparison {
            workload: "a<b&c".into(),
            namespace: "demo".into(),
            node: "n1".into(),
            runtime_class: "wasmtime".into(),
            http: None,
            wasm: mode(&[0.5, 0.6, 0.55], &[2.0]),
            container: mode(&[0.6, 1.4], &[]),
            wasm_image_bytes: None,
            container_image_bytes: None,
            wasm_memory_bytes: None,
            container_memory_bytes: None,
            memory_note: None,
        }
    }

    fn circles_x(svg: &str) -> Vec<f64> {
        svg.match_indices("<circle cx=\"")
            .map(|(i, m)| {
                let rest = &svg[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn one_dot_per_pod_on_a_common_time_axis() {
        let svg = render(&comparison());
        let xs = circles_x(&svg);
        assert_eq!(xs.len(), 6, "3 warm + 1 first Wasm, 2 warm container");
        // Wasm 0.5 s, 0.6 s, 0.55 s then the 2 s first start; container 0.6 s, 1.4 s.
        assert!(xs[0] < xs[2] && xs[2] < xs[1] && xs[1] < xs[3]);
        assert_eq!(xs[1], xs[4], "the same time is the same place in both rows");
        assert!(xs.iter().all(|x| (LEFT..=WIDTH - RIGHT).contains(x)));
        assert_eq!(svg.matches("fill=\"none\"").count(), 1, "the first start is hollow");
        assert!(svg.contains("a&lt;b&amp;c"), "text is escaped");
        assert_eq!(svg.matches(">p50<").count(), 2);
    }

    #[test]
    fn the_chart_is_well_formed_xml() {
        let python = crate::tests::fixtures::require_tool("python3", "apt-get install python3");
        let path = std::env::temp_dir().join(format!("wasm-operator-chart-{}.svg", std::process::id()));
        std::fs::write(&path, render(&comparison())).unwrap();
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(d.documentElement.tagName)",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "svg");
    }

    #[test]
    fn a_title_of_the_longest_names_is_wrapped_inside_the_chart_and_loses_nothing() {
        // The API's limits: a namespace is a DNS label (63), a workload and a node name DNS
        // subdomains (253), as is a RuntimeClass name.
        let long = |c: char, n: usize| std::iter::repeat_n(c, n).collect::<String>();
        let mut c = comparison();
        c.namespace = long('n', 63);
        c.workload = format!("{}.w", long('w', 251));
        c.node = long('m', 253);
        c.runtime_class = long('r', 253);
        let svg = render(&c);
        let lines: Vec<String> = svg
            .lines()
            .filter(|l| l.contains("font-weight=\"bold\"") && l.contains(&format!("font-size=\"{TITLE_SIZE}\"")))
            .map(|l| {
                let text = &l[l.find('>').unwrap() + 1..];
                text[..text.find('<').unwrap()].to_string()
            })
            .collect();
        assert!(lines.len() >= 6, "{lines:?}");
        for l in &lines {
            let width = 10.0 + l.chars().count() as f64 * WIDEST_CHAR;
            assert!(width <= WIDTH, "{width} px: {l}");
        }
        let joined: String = lines.concat();
        for name in [&c.namespace, &c.workload, &c.node, &c.runtime_class] {
            assert!(joined.contains(name.as_str()), "every character of {name} is shown");
        }
        // The plot starts below the last title line.
        let first_row_label = svg.find(">Wasm</text>").unwrap();
        let last_title = svg.rfind(&lines[lines.len() - 1]).unwrap();
        assert!(last_title < first_row_label);
        let y_of = |needle: &str| -> f64 {
            let i = svg.find(needle).unwrap();
            let line_start = svg[..i].rfind('\n').map_or(0, |n| n + 1);
            let line = &svg[line_start..];
            let y = &line[line.find(" y=\"").unwrap() + 4..];
            y[..y.find('"').unwrap()].parse().unwrap()
        };
        assert!(y_of(">Wasm</text>") - 20.0 > y_of(&lines[lines.len() - 1]));
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_words_only_when_it_must() {
        assert_eq!(wrap("ab cd ef", 5), ["ab cd", "ef"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("short", 40), ["short"]);
    }

    #[test]
    fn first_responses_are_squares_on_the_same_axis() {
        let mut c = comparison();
        c.http = Some("GET / on port 8080".into());
        c.wasm.first_response_seconds = vec![0.3, 0.35, 0.32];
        c.container.first_response_seconds = vec![2.5];
        let svg = render(&c);
        assert_eq!(svg.matches("<rect ").count(), 4);
        assert!(svg.contains("squares: the app's first 2xx answer"));
        // 2.5 s is the latest time: the axis reaches it, so every square is inside the plot.
        let xs: Vec<f64> = svg
            .match_indices("<rect x=\"")
            .map(|(i, m)| {
                let rest = &svg[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse::<f64>().unwrap() + 3.5
            })
            .collect();
        assert!(xs.iter().all(|x| (LEFT..=WIDTH - RIGHT).contains(x)), "{xs:?}");
        assert!(!render(&comparison()).contains("<rect "), "none without --http");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(2.0), 0.5);
        assert_eq!(tick_step(0.7), 0.2);
        assert_eq!(tick_step(60.0), 20.0);
    }
}
