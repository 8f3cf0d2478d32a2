//! The GitHub workflows cannot run here: each is checked against the GitHub workflow schema
//! (check-jsonschema's vendored copy, in .venv), and the release workflow against what it must
//! publish, through the make targets that `make test` exercises.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn workflows_match_the_github_workflow_schema() {
    let checker = repo().join(".venv/bin/check-jsonschema");
    assert!(
        checker.exists(),
        "{} not found: run `make test` (scripts/setup.sh installs check-jsonschema into .venv)",
        checker.display()
    );
    let workflows: Vec<PathBuf> = std::fs::read_dir(repo().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(workflows.len() >= 2, "the e2e and release workflows");
    let out = Command::new(&checker)
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(&workflows)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_release_publishes_both_platforms_the_chart_the_plugin_and_the_sbom() {
    let wf = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    let makefile = std::fs::read_to_string(repo().join("Makefile")).unwrap();
    assert!(wf.contains("make image chart plugin"));
    for target in ["image:", "chart:", "plugin:"] {
        assert!(makefile.lines().any(|l| l.starts_with(target)), "make {target} exists");
    }
    assert!(
        wf.contains("skopeo copy --all"),
        "every platform of the index is pushed"
    );
    assert!(
        wf.contains("helm push") && wf.contains("oci://"),
        "the chart goes out as an OCI artifact"
    );
    for asset in [
        "kubectl-wasm-linux-amd64.tar.gz",
        "kubectl-wasm-linux-arm64.tar.gz",
        "plugins/wasm.yaml",
        "wasm-operator.cdx.json",
    ] {
        assert!(wf.contains(asset), "the release carries {asset}");
    }
    let krew = std::fs::read_to_string(repo().join("scripts/krew_manifest.py")).unwrap();
    assert!(
        krew.contains("kubectl-wasm-linux-{arch}.tar.gz"),
        "the archives it names are the ones made"
    );
}
