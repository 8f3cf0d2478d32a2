//! Helpers of the end-to-end suite: a temporary namespace per scenario, waits on conditions with
//! timeouts (never fixed sleeps), and the operator's endpoints. The scenarios are in
//! `tests/scenarios.rs`; `make e2e` (e2e/run.sh) prepares the cluster and runs them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::wait::{await_condition, Condition};
use kube::{Client, Resource};
use serde_json::json;
use serde_json::Value;
use std::fmt::Debug;
use std::process::Command;
use std::time::Duration;
use wasm_operator::api::crd::{Mode, WasmWorkload};

/// Every scenario of the suite and what it asserts (kept equal to tests/scenarios.rs by a test).
pub const SCENARIOS: &[(&str, &str)] = &[
    ("usable_runtime_runs_wasm", "a usable RuntimeClass gives a Deployment with runtimeClassName, status mode Wasm, and `kubectl get wasmw` shows Mode and Runtime"),
    ("missing_runtime_class_falls_back", "no such RuntimeClass: Container mode, fallbackReason names it"),
    ("node_selector_matching_no_node_falls_back", "a RuntimeClass whose nodeSelector matches no Ready node: Container mode with the reason"),
    ("tainted_node_falls_back", "a RuntimeClass whose only node is tainted: Container mode with the reason"),
    ("node_affinity_matching_no_runtime_node_falls_back", "a workload whose required node affinity excludes every node of the RuntimeClass: Container mode with the reason"),
    ("runtime_class_created_switches_back_to_wasm", "a RuntimeClass created while in Container mode switches the workload to Wasm"),
    ("policy_never_stays_pending", "policy Never with no usable runtime: no Deployment, Ready=False NoUsableRuntime"),
    ("scale_follows", "`kubectl scale` changes the Deployment's replicas; status replicas/readyReplicas follow the pods"),
    ("sandbox_failure_falls_back_on_failure", "a Wasm pod whose sandbox fails (FailedCreatePodSandBox) with OnFailure: fallback with reason SandboxFailed"),
    ("bad_specs_are_refused_with_the_cel_message", "the API server refuses bad specs with the CEL message, verbatim"),
    ("metrics_report_cold_starts_per_mode", "the operator's /metrics counts the cold starts of pods that became Ready, per mode"),
    ("deletion_garbage_collects_children", "deleting the workload garbage-collects its Deployment and Service"),
    ("hand_edited_service_is_put_back", "`kubectl patch` of a managed Service's port is undone by the operator, with a PutBack Event"),
    ("hand_edited_deployment_is_put_back", "`kubectl set image` on a managed Deployment is undone, and status never claims a mode the pods do not run"),
    ("children_edited_while_the_operator_is_down_are_put_back", "the operator restarted mid-way (SIGTERM, or its pods deleted): a Service and a Deployment edited meanwhile are put back"),
    ("failing_wasm_pod_is_named_under_every_policy", "a Wasm pod whose sandbox fails: Ready=False SandboxFailed in Wasm mode under Never and WhenUnavailable, the fallback under OnFailure"),
    ("real_wasm_and_container_cold_starts_agree_with_an_independent_watch", "the same app as Wasm and as a container: the operator's cold start per mode agrees with the suite's own pod watch, image sizes come from node.status.images"),
    ("chart_upgrade_rolls_out", "E2E_HELM only: `helm upgrade` of the chart completes its rollout (a follower is Ready), and the new leader reconciles"),
    ("doctor_names_each_node_s_reason", "`doctor` on the cluster: a RuntimeClass whose handler no node has (a real sandbox failure) fails, a cordoned and a tainted node get their reason"),
    ("compare_times_both_modes_and_report_shows_it", "`compare` on a real Wasm node: both modes timed pod by pod with a progress count, every pod removed, status.comparison written and recorded by the operator in its histogram (source=comparison), and `report` shows it"),
];

pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Whether the suite runs against the operator the Helm chart installed (E2E_HELM=1).
pub fn helm_install() -> bool {
    std::env::var("E2E_HELM").as_deref() == Ok("1")
}

/// Stop the running operator as a crash or an eviction would: SIGTERM to the binary `make e2e`
/// started (its supervisor starts it again a few seconds later), or, with the chart, delete the
/// operator's pods (their Deployment makes new ones; a follower may take over first).
pub fn restart_operator() {
    if helm_install() {
        kubectl(&[
            "delete",
            "pod",
            "-n",
            "wasm-system",
            "-l",
            "app.kubernetes.io/name=wasm-operator",
            "--wait=false",
        ])
        .expect("delete the operator's pods");
        return;
    }
    let file = std::env::var("E2E_OPERATOR_PIDFILE").expect("E2E_OPERATOR_PIDFILE is set by e2e/run.sh");
    let pid = std::fs::read_to_string(&file).expect("the operator's pid file");
    let status = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "cannot signal the operator (pid {pid})");
}

/// The Helm engine of the tests (scripts/helm_tool.py in .venv) on the chart, against KUBECONFIG.
pub fn helm(command: &str, values: &Value) -> Result<String, String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(format!("{root}/.venv/bin/python"))
        .arg(format!("{root}/scripts/helm_tool.py"))
        .arg(command)
        .arg(format!("{root}/charts/wasm-operator"))
        .arg(values.to_string())
        .output()
        .expect("the .venv Python runs (make test creates it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The cluster of KUBECONFIG, or a clear failure.
pub async fn client() -> Client {
    let client = Client::try_default()
        .await
        .unwrap_or_else(|e| panic!("e2e: no cluster configured ({e}); set KUBECONFIG to a reachable cluster"));
    client
        .apiserver_version()
        .await
        .unwrap_or_else(|e| panic!("e2e: the cluster of KUBECONFIG is not reachable ({e})"));
    client
}

/// A namespace for one scenario, deleted when dropped (also when the scenario fails).
pub struct Scenario {
    pub client: Client,
    pub ns: String,
    cleanups: Vec<Vec<String>>,
}

impl Scenario {
    pub async fn new(name: &str) -> Scenario {
        let client = client().await;
        let suffix = std::process::id() % 100_000;
        let ns = format!(
            "e2e-{}-{suffix}",
            name.replace('_', "-").chars().take(40).collect::<String>()
        );
        let nss: Api<Namespace> = Api::all(client.clone());
        let meta = ObjectMeta {
            name: Some(ns.clone()),
            labels: Some([("wasm-operator.dev/e2e".to_string(), "true".to_string())].into()),
            ..Default::default()
        };
        nss.create(
            &PostParams::default(),
            &Namespace {
                metadata: meta,
                ..Default::default()
            },
        )
        .await
        .expect("create the scenario namespace");
        Scenario {
            client,
            ns,
            cleanups: vec![],
        }
    }

    /// Run `kubectl args…` when the scenario ends (for cluster-scoped objects it creates).
    pub fn cleanup(&mut self, args: &[&str]) {
        self.cleanups.push(args.iter().map(|s| s.to_string()).collect());
    }

    pub fn workloads(&self) -> Api<WasmWorkload> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Apply workload `app` (falling back to a pause container) with a Service, and wait for
    /// the Service.
    pub async fn apply_workload_with_service(&self) -> Service {
        let mut wl = workload("app", &["e2e-missing"], "WhenUnavailable", Some(&container_image()));
        wl["spec"]["ports"] = json!([{"name": "http", "containerPort": 8080}]);
        wl["spec"]["service"] = json!({"enabled": true});
        self.apply(&wl).unwrap();
        wait_for(&self.services(), "app", "the Service", |d: Option<&Service>| {
            d.is_some()
        })
        .await
    }

    /// `kubectl apply` a manifest into the scenario's namespace.
    pub fn apply(&self, manifest: &Value) -> Result<String, String> {
        kubectl_stdin(&["apply", "-n", &self.ns, "-f", "-"], &manifest.to_string())
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        for args in &self.cleanups {
            let _ = Command::new("kubectl").args(args).output();
        }
        let _ = Command::new("kubectl")
            .args(["delete", "namespace", &self.ns, "--wait=false"])
            .output();
    }
}

/// Run kubectl with `input` on stdin: Ok(stdout) or Err(stderr).
pub fn kubectl_stdin(args: &[&str], input: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl is installed");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn kubectl(args: &[&str]) -> Result<String, String> {
    kubectl_stdin(args, "")
}

/// Wait until `cond` holds for the named object, or fail saying what was awaited.
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, cond: impl Condition<K>) -> K
where
    K: Resource + Clone + Debug + Send + serde::de::DeserializeOwned + 'static,
{
    match tokio::time::timeout(TIMEOUT, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{name}: deleted while waiting for {what}"),
        Ok(Err(e)) => panic!("{name}: watch failed while waiting for {what}: {e}"),
        Err(_) => panic!("{name}: timed out after {TIMEOUT:?} waiting for {what}"),
    }
}

/// Wait until the named object is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, what: &str)
where
    K: Resource + Clone + Debug + Send + serde::de::DeserializeOwned + 'static,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while api.get_opt(name).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {what} not gone after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The running operator's `/metrics`: from the address `make e2e` started the binary on
/// (E2E_METRICS_URL), or, with the chart, from the pod holding the Lease (through the API
/// server's pod proxy, so it follows leader changes).
pub fn operator_metrics() -> String {
    if helm_install() {
        let leader = kubectl(&[
            "get",
            "lease",
            "wasm-operator",
            "-n",
            "wasm-system",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .expect("the operator's Lease");
        let path = format!(
            "/api/v1/namespaces/wasm-system/pods/{}:8080/proxy/metrics",
            leader.trim()
        );
        return kubectl(&["get", "--raw", &path]).unwrap_or_else(|e| panic!("cannot fetch {path}: {e}"));
    }
    let url = std::env::var("E2E_METRICS_URL").expect("E2E_METRICS_URL is set by e2e/run.sh");
    let out = Command::new("curl")
        .args(["-sf", &format!("{url}/metrics")])
        .output()
        .expect("curl is installed");
    assert!(out.status.success(), "cannot fetch {url}/metrics");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sum of a metric's samples whose labels contain every `label="value"` given.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A small long-running container image for fallbacks: E2E_CONTAINER_IMAGE, or pause.
pub fn container_image() -> String {
    std::env::var("E2E_CONTAINER_IMAGE").unwrap_or_else(|_| "registry.k8s.io/pause:3.10".into())
}

/// The Wasm image the nodes can run (E2E_WASM_IMAGE), and its command (E2E_WASM_COMMAND, a
/// JSON list; `["/"]` for Spin images).
fn wasm_image_and_command() -> (String, Value) {
    let image = std::env::var("E2E_WASM_IMAGE")
        .unwrap_or_else(|_| "ghcr.io/spinkube/containerd-shim-spin/examples/spin-rust-hello:v0.15.1".into());
    let command = std::env::var("E2E_WASM_COMMAND")
        .ok()
        .map(|c| serde_json::from_str(&c).expect("E2E_WASM_COMMAND is a JSON list"))
        .unwrap_or_else(|| json!(["/"]));
    (image, command)
}

/// A workload named `name` asking for `runtimes`, with the given fallback policy and image.
pub fn workload(name: &str, runtimes: &[&str], policy: &str, fallback_image: Option<&str>) -> Value {
    let mut fallback = json!({"policy": policy});
    if let Some(image) = fallback_image {
        fallback["image"] = json!(image);
    }
    let (image, command) = wasm_image_and_command();
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "wasm": {"image": image, "runtimes": runtimes, "command": command},
            "fallback": fallback
        }
    })
}

pub fn mode_is(mode: Mode) -> impl Fn(Option<&WasmWorkload>) -> bool {
    move |w| w.and_then(|w| w.status.as_ref()).is_some_and(|s| s.mode == Some(mode))
}

pub fn reason_of(w: &WasmWorkload) -> String {
    w.status
        .as_ref()
        .and_then(|s| s.fallback_reason.clone())
        .unwrap_or_default()
}

/// A workload asking only for RuntimeClass `rc`, which exists but has no usable node, falls back
/// and says so.
pub async fn expect_no_usable_node(s: &Scenario, rc: &str) {
    s.apply(&workload("app", &[rc], "WhenUnavailable", Some(&container_image())))
        .unwrap();
    let w = wait_for(&s.workloads(), "app", "mode Container", mode_is(Mode::Container)).await;
    assert!(
        reason_of(&w).contains(&format!("{rc}: no Ready, schedulable node")),
        "{}",
        reason_of(&w)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_scenario_is_a_test_and_every_test_is_listed() {
        let source = include_str!("../tests/scenarios.rs");
        // The scenarios are the functions marked opt-in; helpers are not listed.
        let lines: Vec<&str> = source.lines().map(str::trim).collect();
        let tests: Vec<&str> = lines
            .windows(2)
            .filter(|w| w[0].starts_with("#[ignore = \"needs a cluster"))
            .filter_map(|w| w[1].strip_prefix("async fn "))
            .filter_map(|l| l.split('(').next())
            .collect();
        let listed: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
        assert_eq!(tests, listed, "tests/scenarios.rs and SCENARIOS differ");
        assert!(
            source.matches("#[ignore = \"needs a cluster").count() == SCENARIOS.len(),
            "every scenario is opt-in"
        );
        for (name, what) in SCENARIOS {
            assert!(!what.is_empty(), "{name} says what it asserts");
        }
    }

    #[test]
    fn metric_sums_filter_by_labels() {
        let text = "x_count{mode=\"wasm\",ns=\"a\"} 2\nx_count{mode=\"container\",ns=\"a\"} 3\nx_count_other 9\n";
        assert_eq!(metric_sum(text, "x_count", &[("mode", "wasm")]), 2.0);
        assert_eq!(metric_sum(text, "x_count", &[]), 5.0);
    }
}
