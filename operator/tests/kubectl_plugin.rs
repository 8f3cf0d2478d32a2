//! `kubectl wasm`, through a real kubectl: the binary linked as `kubectl-wasm` on PATH is found
//! by kubectl's plugin lookup, gets the words after `kubectl wasm`, and honours `--kubeconfig`
//! and `--context` as kubectl does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory with `kubectl-wasm` linked to this build's binary, and PATH with it first.
struct PluginPath {
    dir: PathBuf,
    path: String,
}

impl PluginPath {
    fn new(name: &str) -> PluginPath {
        let dir = std::env::temp_dir().join(format!("kubectl-wasm-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_wasm-operator"), dir.join("kubectl-wasm")).unwrap();
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
        PluginPath { dir, path }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        let kubectl = find_kubectl(&self.path);
        Command::new(kubectl)
            .args(args)
            .env("PATH", &self.path)
            .env_remove("KUBECONFIG")
            .env("HOME", &self.dir)
            .output()
            .expect("kubectl runs")
    }
}

impl Drop for PluginPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_kubectl(path: &str) -> PathBuf {
    std::env::split_paths(path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl is not on PATH: these tests run the plugin through a real kubectl; install kubectl")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn kubectl_finds_the_plugin_and_passes_its_words() {
    let p = PluginPath::new("words");
    let list = p.kubectl(&["plugin", "list"]);
    assert!(
        text(&list.stdout).contains("kubectl-wasm"),
        "kubectl plugin list: {}{}",
        text(&list.stdout),
        text(&list.stderr)
    );

    let help = p.kubectl(&["wasm", "--help"]);
    assert!(help.status.success());
    assert!(
        text(&help.stdout).contains("Usage: kubectl wasm"),
        "{}",
        text(&help.stdout)
    );
    for sub in ["doctor", "compare", "report", "crd"] {
        assert!(text(&help.stdout).contains(sub), "{sub} in the plugin's help");
    }

    let version = p.kubectl(&["wasm", "--version"]);
    assert!(text(&version.stdout).contains(env!("CARGO_PKG_VERSION")));

    let through_kubectl = p.kubectl(&["wasm", "crd"]);
    let direct = Command::new(env!("CARGO_BIN_EXE_wasm-operator"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(through_kubectl.status.success() && direct.status.success());
    assert_eq!(through_kubectl.stdout, direct.stdout, "the same CRD either way");
}

/// A kubeconfig with two contexts, each naming a server where nothing listens.
fn two_contexts(dir: &Path) -> PathBuf {
    let file = dir.join("kubeconfig");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Config\ncurrent-context: one\n\
         clusters:\n- name: one\n  cluster: {server: 'http://127.0.0.1:9'}\n- name: two\n  cluster: {server: 'http://127.0.0.1:7'}\n\
         contexts:\n- name: one\n  context: {cluster: one, user: u, namespace: team-a}\n- name: two\n  context: {cluster: two, user: u}\n\
         users:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    file
}

#[test]
fn kubeconfig_and_context_flags_choose_the_cluster_as_kubectl_s_do() {
    let p = PluginPath::new("flags");
    let kubeconfig = two_contexts(&p.dir);
    let kubeconfig = kubeconfig.to_str().unwrap();

    // The current context of the file given with --kubeconfig.
    let out = p.kubectl(&["wasm", "doctor", "--kubeconfig", kubeconfig]);
    assert_eq!(out.status.code(), Some(2), "no cluster: exit 2");
    assert!(text(&out.stderr).contains("127.0.0.1:9"), "{}", text(&out.stderr));

    // --context picks another one, before or after the subcommand.
    for args in [
        ["wasm", "doctor", "--kubeconfig", kubeconfig, "--context", "two"],
        ["wasm", "--context", "two", "--kubeconfig", kubeconfig, "doctor"],
    ] {
        let out = p.kubectl(&args);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains("127.0.0.1:7"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    // A context the file does not have is named in the error.
    let out = p.kubectl(&["wasm", "report", "--kubeconfig", kubeconfig, "--context", "three"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("three"), "{}", text(&out.stderr));
}

#[test]
fn the_krew_manifest_names_an_archive_per_platform_for_this_version() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(repo.join("plugins/wasm.yaml")).expect("plugins/wasm.yaml");
    let m: serde_json::Value = serde_saphyr::from_str(&text).expect("the manifest is YAML");
    assert_eq!(m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(
        m["metadata"]["name"], "wasm",
        "installed as kubectl-wasm, run as kubectl wasm"
    );
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(m["spec"]["version"], serde_json::json!(version));
    assert!(m["spec"]["shortDescription"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.len() < 80));
    let platforms = m["spec"]["platforms"].as_array().expect("platforms");
    let mut seen = vec![];
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (labels["os"].as_str().unwrap(), labels["arch"].as_str().unwrap());
        seen.push(format!("{os}/{arch}"));
        let uri = p["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("https://")
                && uri.contains(&format!("/{version}/"))
                && uri.ends_with(&format!("kubectl-wasm-{os}-{arch}.tar.gz")),
            "{uri}"
        );
        let sha = p["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{sha}");
        assert_eq!(p["bin"], "kubectl-wasm");
        assert!(p["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["from"] == "kubectl-wasm"));
    }
    seen.sort();
    assert_eq!(seen, ["linux/amd64", "linux/arm64"], "one archive per platform built");
}
