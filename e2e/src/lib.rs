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
    // tests/hardened_namespaces.rs
    ("restricted_namespace_runs_wasm_then_the_container_when_the_runtime_goes", "a namespace enforcing the restricted Pod Security Standard admits the workload's pods as they are rendered: a Ready Wasm pod on the shim, then, with its RuntimeClass deleted, a Ready container pod"),
    ("a_quota_too_small_for_one_pod_is_named_and_the_mode_holds", "a ResourceQuota too small for one pod: Ready=False PodsRefused with the quota's message and one Warning Event; under OnFailure the workload stays Wasm past four startup timeouts"),
    ("a_config_map_mounted_into_a_wasm_pod_is_read_by_the_module", "a ConfigMap mounted into a Wasm pod (restricted namespace) is read by the module, whose log shows its content; the same mount in container mode"),
    ("a_liveness_probe_restarts_a_container_that_stops_answering", "an HTTP container that stops answering is restarted by the workload's liveness probe, and the kubelet's Event says so"),
    ("an_autoscaler_owns_the_replicas_and_a_reapplied_manifest_does_not_fight_it", "a HorizontalPodAutoscaler scales the workload through its scale subresource to its minimum; re-applying the manifest (without replicas) client-side and server-side leaves that count"),
    // tests/http_app.rs
    ("the_http_app_answers_through_its_service_in_both_modes", "apps/http-hello, a wasi:http component and its container twin, answers GET / through the API server's service proxy from Wasm pods, then (its RuntimeClass deleted) from container pods; status.coldStart names the readiness probe's period"),
    ("compare_http_first_responses_agree_with_the_suite_s_own_poll", "`compare --http /` times each pod to its app's first 2xx through the pod proxy, within 50 ms of the suite's own poll of the same pods, with the probe's lag and status.comparison"),
    // tests/runtime_restart.rs
    ("a_container_runtime_restart_does_not_send_wasm_to_the_fallback", "E2E_RESTART_RUNTIME restarts the Wasm node's container runtime (containerd and every shim): the Wasm pods, Ready before, are restarted by the kubelet and the OnFailure and WhenUnavailable workloads (startup timeout 5 s) never leave Wasm"),
    ("a_slow_runtime_restart_that_makes_the_node_not_ready_keeps_wasm", "the same with the runtime held down E2E_RUNTIME_DOWN_SECONDS (45 s): the kubelet reports the node NotReady (checked), and within the operator's readiness grace both workloads stay Wasm and come back"),
    // tests/spill.rs
    ("wasm_pods_without_room_spill_into_container_pods_and_come_back_when_requests_shrink", "placement Spill in a namespace enforcing restricted under a ResourceQuota, Wasm pods requesting two fifths of the shim node's free CPU each: some Wasm pods Ready, the rest Unschedulable and made up for by container pods (4 Ready, Ready=True, mode Wasm, a Spilled Event, `kubectl get wasmw` shows both, the one Service answers from both modes); with the requests shrunk, back to 4 Wasm pods and no container pod, the Ready pods never below 4 on the way"),
    ("a_node_that_never_starts_wasm_pods_is_excluded_while_its_sibling_keeps_them", "placement Spill in a namespace enforcing restricted, two Wasm pods spread over the real shim node and a kubelet-less node the suite keeps Ready: the pod there times out, the node is excluded (status, NotIn affinity, NodeExcluded Event), both Wasm pods end Ready on the real node, the container pod that covered goes, the workload never falls back"),
    ("a_module_that_fails_where_other_wasm_pods_run_is_named_and_excludes_no_node", "placement Spill whose Wasm command names a module the image lacks (the shim: `wasmtime executor can't handle spec`) on the shim node where another workload's Wasm pod runs Ready: status.spill.reason ModuleFailed naming that pod, a container pod stands in, no node excluded"),
    // tests/runtime_handlers.rs
    ("a_label_the_node_s_runtime_contradicts_is_named_and_no_wasm_pod_is_made", "a RuntimeClass with a handler no node has, selecting the Wasm node by a label: where the node's runtime reports its handlers, the workload runs its container at once, the reason naming node and handler, no Wasm pod and no sandbox failure; where it reports none, Wasm is tried by the label and its sandbox fails"),
    ("under_spill_wasm_pods_are_kept_off_a_node_whose_runtime_lacks_the_handler", "the same under placement Spill with a kubelet-less node carrying the label too: where the Wasm node reports its handlers, the Wasm Deployment keeps its pods off it from the first rollout (NotIn) and RuntimeResolved says so, and no Wasm pod lands there; where it reports none, nothing is kept off by labels"),
    // tests/spin.rs
    ("the_spin_app_answers_through_its_service_in_a_restricted_namespace_then_its_container_twin", "apps/spin-hello on the Spin shim (E2E_SPIN_RUNTIME_CLASS, default wasmtime-spin-v2) in a namespace enforcing restricted with the operator's default security context: a Ready Wasm pod on the Spin RuntimeClass, the Service answers from Spin; its RuntimeClass deleted, from the container twin"),
    ("compare_http_times_the_spin_app_and_its_container_twin", "`compare --http /` on the Spin shim in a namespace enforcing restricted under a ResourceQuota, with a read-only root (the admitted Wasm pod has the operator's writable /.spin): three pods of each mode, every one answering its first GET /, no failures, the table printed"),
    ("the_quickstart_example_runs_on_the_spin_shim", "examples/spin-hello.yaml with only its two image references replaced by images the node has: Wasm mode on RuntimeClass wasmtime-spin-v2 through the runtime name spin, two Ready pods, the Service answers from Spin"),
    ("the_team_example_runs_on_the_spin_shim_with_its_runtime_config_from_a_secret", "examples/spin-app-with-config.yaml (Secret, workload, HPA) the same way in a namespace enforcing restricted: two Ready Wasm pods (the HPA's minimum) with the Secret mounted as /runtime-config.toml, three probes, the Service answers from Spin"),
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

/// The Helm engine of the tests (scripts/helm_tool.py in .venv) on the chart (E2E_CHART: a
/// packaged `.tgz`, or the chart's folder), against KUBECONFIG.
pub fn helm(command: &str, values: &Value) -> Result<String, String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(format!("{root}/.venv/bin/python"))
        .arg(format!("{root}/scripts/helm_tool.py"))
        .arg(command)
        .arg(std::env::var("E2E_CHART").unwrap_or_else(|_| format!("{root}/charts/wasm-operator")))
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

/// A long-running container image for fallbacks: E2E_CONTAINER_IMAGE, or the container twin
/// of `apps/print-and-sleep` (`make apps`).
pub fn container_image() -> String {
    std::env::var("E2E_CONTAINER_IMAGE").unwrap_or_else(|_| "localhost/print-and-sleep:1".into())
}

/// The Wasm image the nodes can run (E2E_WASM_IMAGE, default `apps/print-and-sleep` as `make
/// apps` builds it), and its command (E2E_WASM_COMMAND, a JSON list; `["/"]` for Spin images;
/// none by default: the image's entrypoint).
fn wasm_image_and_command() -> (String, Option<Value>) {
    let image = std::env::var("E2E_WASM_IMAGE").unwrap_or_else(|_| "localhost/print-and-sleep-wasm:1".into());
    let command = std::env::var("E2E_WASM_COMMAND")
        .ok()
        .map(|c| serde_json::from_str(&c).expect("E2E_WASM_COMMAND is a JSON list"));
    (image, command)
}

/// The HTTP app of `apps/http-hello` in both forms (E2E_HTTP_WASM_IMAGE, E2E_HTTP_IMAGE): the
/// wasi:http component and its container twin, both answering on port 8080.
pub fn http_images() -> (String, String) {
    (
        std::env::var("E2E_HTTP_WASM_IMAGE").unwrap_or_else(|_| "localhost/http-hello-wasm:1".into()),
        std::env::var("E2E_HTTP_IMAGE").unwrap_or_else(|_| "localhost/http-hello:1".into()),
    )
}

/// A RuntimeClass manifest, labelled so `make e2e` removes what a failed run leaves.
pub fn runtime_class(name: &str, handler: &str, node_selector: Option<Value>) -> Value {
    let mut rc = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name, "labels": {"wasm-operator.dev/e2e": "true"}}, "handler": handler});
    if let Some(sel) = node_selector {
        rc["scheduling"] = json!({"nodeSelector": sel});
    }
    rc
}

/// Create a RuntimeClass for this scenario, deleted when the scenario ends.
pub fn create_runtime_class(s: &mut Scenario, rc: &Value) {
    kubectl_stdin(&["apply", "-f", "-"], &rc.to_string()).expect("create RuntimeClass");
    let name = rc["metadata"]["name"].as_str().unwrap().to_string();
    s.cleanup(&["delete", "runtimeclass", &name, "--ignore-not-found"]);
}

/// The RuntimeClass whose pods the nodes can run: E2E_WASM_RUNTIME_CLASS when the cluster has
/// one (its nodeSelector names the nodes with the shim), else one made for the scenario with
/// handler E2E_WASM_HANDLER (default spin) on every node.
pub fn wasm_runtime_class(s: &mut Scenario) -> String {
    if let Ok(rc) = std::env::var("E2E_WASM_RUNTIME_CLASS") {
        return rc;
    }
    let rc = format!("{}-cs", s.ns);
    let handler = std::env::var("E2E_WASM_HANDLER").unwrap_or_else(|_| "spin".into());
    create_runtime_class(s, &runtime_class(&rc, &handler, None));
    rc
}

/// The runtime name that `make e2e`'s runtime configuration maps to REMOVABLE_RUNTIME_CLASS.
pub const REMOVABLE_RUNTIME: &str = "e2e-removable";
pub const REMOVABLE_RUNTIME_CLASS: &str = "e2e-removable-rc";

/// A RuntimeClass the scenario may delete (REMOVABLE_RUNTIME_CLASS, named by the runtime name
/// REMOVABLE_RUNTIME) that runs Wasm where E2E_WASM_RUNTIME_CLASS does: the same handler and
/// scheduling (handler E2E_WASM_HANDLER on every node without one). A workload asks for it by
/// its runtime name: a RuntimeClass asked for by its own name and then deleted is an unknown
/// name to the operator, not a missing runtime.
pub fn removable_wasm_runtime(s: &mut Scenario) -> &'static str {
    let name = REMOVABLE_RUNTIME_CLASS;
    let rc = match std::env::var("E2E_WASM_RUNTIME_CLASS") {
        Ok(existing) => copy_of_runtime_class(&existing, name, "E2E_WASM_RUNTIME_CLASS"),
        Err(_) => runtime_class(
            name,
            &std::env::var("E2E_WASM_HANDLER").unwrap_or_else(|_| "spin".into()),
            None,
        ),
    };
    create_runtime_class(s, &rc);
    REMOVABLE_RUNTIME
}

/// A RuntimeClass named `name` with the handler and scheduling of the existing one (which the
/// variable `from` named).
pub fn copy_of_runtime_class(existing: &str, name: &str, from: &str) -> Value {
    let text = kubectl(&["get", "runtimeclass", existing, "-o", "json"])
        .unwrap_or_else(|e| panic!("{from}={existing}: no such RuntimeClass on the cluster: {e}"));
    let found: Value = serde_json::from_str(&text).unwrap();
    let mut rc = runtime_class(name, found["handler"].as_str().unwrap(), None);
    if !found["scheduling"].is_null() {
        rc["scheduling"] = found["scheduling"].clone();
    }
    rc
}

/// The nodes that take pods (not cordoned).
pub async fn schedulable_nodes(s: &Scenario) -> Vec<k8s_openapi::api::core::v1::Node> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(s.client.clone());
    nodes
        .list(&kube::api::ListParams::default())
        .await
        .expect("list the nodes")
        .items
        .into_iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true))
        .collect()
}

/// Put a node's cordon and taints back as they are now when the scenario ends (a merge patch
/// of both), whatever the scenario does to them: the person running the suite may have
/// cordoned or tainted nodes on purpose.
pub fn restore_node_when_done(s: &mut Scenario, node: &str) {
    let text = kubectl(&["get", "node", node, "-o", "json"]).unwrap_or_else(|e| panic!("node {node}: {e}"));
    let found: Value = serde_json::from_str(&text).unwrap();
    let spec = &found["spec"];
    let patch = json!({"spec": {"unschedulable": spec["unschedulable"].clone(), "taints": spec["taints"].clone()}});
    s.cleanup(&["patch", "node", node, "--type=merge", "-p", &patch.to_string()]);
}

/// Label the scenario's namespace to enforce the `restricted` Pod Security Standard, as
/// hardened clusters do for application namespaces.
pub fn enforce_restricted(s: &Scenario) {
    kubectl(&[
        "label",
        "namespace",
        &s.ns,
        "pod-security.kubernetes.io/enforce=restricted",
        "--overwrite",
    ])
    .expect("label the namespace");
}

/// The pods of workload `name` in the scenario's namespace.
pub async fn pods_of(s: &Scenario, name: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(s.client.clone(), &s.ns);
    pods.list(&kube::api::ListParams::default().labels(&format!("wasm-operator.dev/workload={name}")))
        .await
        .expect("list the workload's pods")
        .items
}

/// A workload named `name` asking for `runtimes`, with the given fallback policy and image.
pub fn workload(name: &str, runtimes: &[&str], policy: &str, fallback_image: Option<&str>) -> Value {
    let mut fallback = json!({"policy": policy});
    if let Some(image) = fallback_image {
        fallback["image"] = json!(image);
    }
    let (image, command) = wasm_image_and_command();
    let mut wasm = json!({"image": image, "runtimes": runtimes});
    if let Some(command) = command {
        wasm["command"] = command;
    }
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "wasm": wasm,
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

/// Create node `name` without a kubelet, labelled `labels`, Ready and with a Lease, and keep both
/// fresh every 10 s until the returned task is aborted (the scenario removes the node). Pods
/// bound to it never start. Its runtime reports no handlers: discovery judges it by its labels.
pub fn fake_node(s: &mut Scenario, name: &str, labels: &Value) -> tokio::task::JoinHandle<()> {
    let mut labels = labels.clone();
    labels["kubernetes.io/hostname"] = json!(name);
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"}}
    });
    kubectl_stdin(&["create", "-f", "-"], &node.to_string()).expect("create the node");
    // Pods bound to a node without a kubelet never go away by themselves.
    let bound = format!("spec.nodeName={name}");
    let ns = s.ns.clone();
    s.cleanup(&[
        "delete",
        "pods",
        "-n",
        &ns,
        "--field-selector",
        &bound,
        "--force",
        "--grace-period=0",
    ]);
    s.cleanup(&["delete", "lease", name, "-n", "kube-node-lease", "--ignore-not-found"]);
    s.cleanup(&["delete", "node", name, "--ignore-not-found"]);
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": name, "namespace": "kube-node-lease"},
                       "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}});
    kubectl_stdin(&["apply", "-f", "-"], &lease.to_string()).expect("create the lease");
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            let now = k8s_openapi::jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kept Ready by the e2e suite", "lastHeartbeatTime": now, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
            let _ = kubectl(&[
                "patch",
                "node",
                &name,
                "--subresource=status",
                "--type=strategic",
                "-p",
                &status.to_string(),
            ]);
            let renew = json!({"spec": {"renewTime": k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.000000Z").to_string()}});
            let _ = kubectl(&[
                "patch",
                "lease",
                &name,
                "-n",
                "kube-node-lease",
                "--type=merge",
                "-p",
                &renew.to_string(),
            ]);
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        }
    })
}

/// `compare --http /` of workload `app` in the scenario's namespace, three pods of each mode,
/// with a runtime configuration mapping `runtime` to `runtime_class`; prints the table.
pub async fn compare_http_three_each(
    s: &Scenario,
    runtime: &str,
    runtime_class: &str,
) -> wasm_operator::compare::run::Comparison {
    use wasm_operator::compare::{run, table};
    let config: wasm_operator::decide::runtimes::RuntimeConfig = serde_json::from_value(json!({
        "runtimes": [{"name": runtime, "runtimeClasses": [runtime_class]}],
        "defaultOrder": [runtime]
    }))
    .unwrap();
    let settings = run::Settings {
        pods: 3,
        concurrency: 1,
        node: None,
        ready_timeout: TIMEOUT,
        memory_wait: Duration::ZERO,
        http_path: Some("/".into()),
    };
    let c = run::compare(
        &s.client,
        &s.ns,
        "app",
        &config,
        &settings,
        futures::future::pending(),
        &mut |_| {},
    )
    .await
    .expect("the comparison runs");
    println!("{}", table::render(&c, false));
    c
}

/// GET through the API server's proxy: the status, the `x-served-by` header and the body.
pub async fn proxy_get(client: &kube::Client, path: &str) -> Result<(u16, String, String), String> {
    let req = http::Request::get(path)
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|e| e.to_string())?;
    let res = client.send(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let served_by = res
        .headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = res.into_body().collect_bytes().await.map_err(|e| e.to_string())?;
    Ok((status, served_by, String::from_utf8_lossy(&body).into_owned()))
}

/// Ask the Service `name` (port 80) until it answers 2xx with the suite's HTTP apps' body from
/// the given server (`x-served-by`: wasm, spin, container).
pub async fn service_answers_from(s: &Scenario, name: &str, served_by: &str) {
    let path = format!("/api/v1/namespaces/{}/services/{name}:80/proxy/", s.ns);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        match proxy_get(&s.client, &path).await {
            Ok((200, by, body)) if by == served_by => {
                assert_eq!(body, "Hello from http-hello\n");
                return;
            }
            other => last = format!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the Service {name} never answered from {served_by}; last: {last}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_scenario_is_a_test_and_every_test_is_listed() {
        // The files in the order SCENARIOS lists them.
        let source = [
            include_str!("../tests/scenarios.rs"),
            include_str!("../tests/hardened_namespaces.rs"),
            include_str!("../tests/http_app.rs"),
            include_str!("../tests/runtime_restart.rs"),
            include_str!("../tests/spill.rs"),
            include_str!("../tests/runtime_handlers.rs"),
            include_str!("../tests/spin.rs"),
        ]
        .join("\n");
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
