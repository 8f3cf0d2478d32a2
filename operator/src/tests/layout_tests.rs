//! The layout's import rule, read from the `crate::` paths of every source file (test modules
//! left out): pure stages (`api`, `decide`, `render`) import no I/O stage and nothing above them,
//! `report` imports no `observe` and no `apply`, nothing but the CLI's `run` imports the
//! controller, no module imports itself back through others, and the controller and `main.rs`
//! stay thin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where each stage may import from (besides itself). Top-level modules are absent: they may
/// import any stage, and stages may import only `error` of them.
const ALLOWED: &[(&str, &[&str])] = &[
    ("api", &[]),
    ("decide", &["api"]),
    ("render", &["api", "decide"]),
    ("report", &["api", "decide", "render", "error"]),
    ("observe", &["api", "decide", "render", "report", "error"]),
    ("apply", &["api", "decide", "render", "report", "error"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file as its module path (`decide::failure`), with its text before any test module.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" {
                    walk(&path, &format!("{prefix}{name}::"), out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && !["lib", "main"].contains(&name.as_str()) {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
                let module = if name == "mod" {
                    prefix.trim_end_matches("::").to_string()
                } else {
                    format!("{prefix}{name}")
                };
                out.insert(module, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), "", &mut out);
    out
}

/// The modules a file's code names through `crate::…`, resolved to the longest known module.
fn imports(code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        // `crate::a::{b, c}` names a::b and a::c; `crate::a::b::Item` names a::b.
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let head = head.trim_end_matches(':');
        let group = rest[head.len()..]
            .strip_prefix("::{")
            .map(|g| &g[..g.find('}').unwrap_or(g.len())]);
        let mut paths = vec![head.to_string()];
        if let Some(g) = group {
            paths.extend(
                g.split(',')
                    .map(|p| format!("{head}::{}", p.trim().split("::").next().unwrap_or(""))),
            );
        }
        for p in paths {
            let segments: Vec<&str> = p.split("::").collect();
            if let Some(m) = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| known.contains(m))
            {
                out.insert(m);
            }
        }
    }
    out
}

fn stage(module: &str) -> &str {
    module.split("::").next().unwrap()
}

fn allowed(from: &str) -> Option<&'static [&'static str]> {
    ALLOWED.iter().find(|(s, _)| *s == from).map(|(_, a)| *a)
}

/// Every module a module imports, after the folder modules (which only list files) are dropped.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    mods.iter()
        .map(|(m, code)| {
            let deps = imports(code, &known)
                .into_iter()
                .filter(|d| d != m && !ALLOWED.iter().any(|(s, _)| s == d))
                .collect();
            (m.clone(), deps)
        })
        .collect()
}

#[test]
fn the_import_reader_sees_paths_and_groups() {
    let known: BTreeSet<String> = ["api::crd", "api::reason", "decide::decision", "error"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = "use crate::api::{crd::Mode, reason};\nlet x = crate::decide::decision::Decision::Wasm;\nuse crate::error::Error;";
    let found: Vec<String> = imports(code, &known).into_iter().collect();
    assert_eq!(found, ["api::crd", "api::reason", "decide::decision", "error"]);
}

#[test]
fn stages_import_only_down_the_pipeline_and_nothing_imports_the_controller() {
    let g = graph();
    assert!(g.len() >= 40, "{} modules read", g.len());
    let mut wrong = vec![];
    for (m, deps) in &g {
        for d in deps {
            if stage(d) == "controller" && m != "cli::run" {
                wrong.push(format!("{m} imports the controller"));
            }
            let Some(may) = allowed(stage(m)) else { continue };
            let (from, to) = (stage(m), stage(d));
            if from != to && !may.contains(&to) {
                wrong.push(format!("{m} ({from}) imports {d} ({to})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up the pipeline:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_controller_strings_the_steps_together_and_main_only_dispatches() {
    // Judgement belongs to the stages; these two files only wire them (ARCHITECTURE.md).
    for (file, max) in [("controller.rs", 250), ("main.rs", 100)] {
        let lines = std::fs::read_to_string(src().join(file)).unwrap().lines().count();
        assert!(lines <= max, "{file} has {lines} lines (at most {max})");
    }
}

#[test]
fn no_module_imports_itself_back() {
    let g = graph();
    // Depth-first search for a back edge; report the circle found.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut circle = path[i..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(circle) = visit(m, &g, &mut vec![], &mut done) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
}
