//! End-to-end: `kubectl wasm doctor` through the real kubectl, against the suite's cluster:
//! kubectl finds the plugin, passes it its words and the cluster flags, and the doctor explains
//! a workload in the namespace the flags name.

use e2e::{container_image, mode_is, wait_for, wasm_runtime_class, workload, Scenario};
use std::process::Command;
use wasm_operator::api::crd::{Mode, WasmWorkload};

#[tokio::test]
#[ignore = "needs a cluster: make e2e"]
async fn kubectl_wasm_doctor_explains_a_workload_through_kubectl() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let binary = format!("{root}/target/release/wasm-operator");
    assert!(
        std::path::Path::new(&binary).exists(),
        "{binary} is missing: make e2e builds it (cargo build --release -p wasm-operator)"
    );
    let mut s = Scenario::new("kubectl-plugin").await;
    let rc = wasm_runtime_class(&mut s);
    s.apply(&workload("app", &[&rc], "OnFailure", Some(&container_image())))
        .unwrap();
    wait_for(&s.workloads(), "app", "Wasm mode", |w: Option<&WasmWorkload>| {
        mode_is(Mode::Wasm)(w)
    })
    .await;

    let dir = std::env::temp_dir().join(format!("e2e-kubectl-wasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("kubectl-wasm");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&binary, &link).unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG names the suite's cluster");
    let out = Command::new("kubectl")
        .args(["wasm", "doctor", "--kubeconfig", &kubeconfig, "-n", &s.ns, "app"])
        .env("PATH", &path)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?} (2: no cluster): {}{}",
        out.status.code(),
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&rc), "the doctor names the RuntimeClass {rc}: {text}");
    assert!(text.contains("app"), "and the workload: {text}");
}
