//! The Helm chart, driven through the real Helm v4 engine (PyPI helm-python-sdk, via
//! scripts/helm_tool.py): strict lint, rendering with default and with every optional part,
//! values refused by the schema, rendered manifests valid for the Kubernetes versions we claim,
//! RBAC equal to what the operator uses, and the operator pod within the restricted profile.

use crate::tests::pod_security_tests::restricted_violations;
use crate::tests::schema_validation_tests::assert_valid_for_kubernetes;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    let p = repo().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} not found: run `make test` (it creates .venv with helm-python-sdk)",
        p.display()
    );
    p
}

/// Run the Helm tool; Ok(stdout) or Err(stderr) when Helm refuses.
fn helm(command: &str, values: Option<&Value>) -> Result<String, String> {
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("scripts/helm_tool.py"))
        .arg(command)
        .arg(repo().join("charts/wasm-operator"));
    if let Some(v) = values {
        cmd.arg(v.to_string());
    }
    let out = cmd.output().expect("python runs");
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(2) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        _ => panic!("helm_tool.py failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn render(values: Option<&Value>) -> Vec<Value> {
    let text = helm("render", values).unwrap_or_else(|e| panic!("render refused: {e}"));
    let docs: Vec<Value> = serde_json::from_str(&text).unwrap();
    docs.into_iter().map(|d| d["object"].clone()).collect()
}

fn every_option() -> Value {
    json!({
        "watchNamespace": "apps",
        "runtimeConfig": {"runtimes": [{"name": "spin", "runtimeClasses": ["wasmtime-spin-v2", "spin"]}], "defaultOrder": ["spin"]},
        "serviceMonitor": {"enabled": true, "labels": {"release": "prom"}},
        "dashboards": {"enabled": true, "namespace": "monitoring"},
        "runtimeClasses": [
            {"name": "wasmtime-spin-v2", "handler": "spin", "nodeSelector": {"spin": "yes"}, "tolerations": [{"key": "wasm", "operator": "Exists", "effect": "NoSchedule"}]},
            {"name": "wasmtime", "handler": "wasmtime"}
        ],
        "podAnnotations": {"a": "b"},
        "priorityClassName": "system-cluster-critical",
        "imagePullSecrets": [{"name": "pull"}],
        "nodeSelector": {"kubernetes.io/os": "linux"}
    })
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = find(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

#[test]
fn strict_lint_is_clean_with_default_and_every_option() {
    for values in [None, Some(every_option())] {
        let report: Value = serde_json::from_str(&helm("lint", values.as_ref()).unwrap()).unwrap();
        assert_eq!(report["total_charts_linted"], 1);
        assert_eq!(report["errors"], json!([]), "{report}");
        let findings: Vec<&Value> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["severity"].as_i64() >= Some(2))
            .collect();
        assert!(findings.is_empty(), "lint findings: {findings:?}");
    }
}

#[test]
fn default_render_has_the_core_and_no_optional_parts() {
    let docs = render(None);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    for kind in ["ServiceMonitor", "ConfigMap", "RuntimeClass"] {
        assert!(!kinds.contains(&kind), "{kind} is optional and off by default");
    }
}

#[test]
fn every_option_renders_its_part() {
    let docs = render(Some(&every_option()));
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "http-metrics");
    let configmaps = find(&docs, "ConfigMap");
    let dashboards = configmaps
        .iter()
        .find(|c| c["metadata"]["name"].as_str().unwrap().ends_with("-dashboards"))
        .unwrap();
    assert_eq!(dashboards["metadata"]["namespace"], "monitoring");
    assert_eq!(dashboards["metadata"]["labels"]["grafana_dashboard"], "1");
    for file in ["wasm-vs-container.json", "operator.json"] {
        let text = dashboards["data"][file]
            .as_str()
            .unwrap_or_else(|| panic!("{file} missing"));
        let d: Value = serde_json::from_str(text).unwrap();
        assert!(d["panels"].as_array().unwrap().len() >= 4);
    }
    let runtimes = configmaps
        .iter()
        .find(|c| c["metadata"]["name"].as_str().unwrap().ends_with("-runtimes"))
        .unwrap();
    let config =
        crate::decide::runtimes::RuntimeConfig::from_yaml(runtimes["data"]["runtimes.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(
        config.runtimes[0].runtime_classes,
        ["wasmtime-spin-v2", "spin"],
        "the operator parses the chart's runtime config"
    );
    let rcs = find(&docs, "RuntimeClass");
    assert_eq!(rcs.len(), 2);
    assert_eq!(rcs[0]["handler"], "spin");
    assert_eq!(rcs[0]["scheduling"]["nodeSelector"]["spin"], "yes");
    let dep = one(&docs, "Deployment");
    let args: Vec<&str> = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--namespace=apps"), "{args:?}");
    assert!(
        args.contains(&"--runtime-config=/etc/wasm-operator/runtimes.yaml"),
        "{args:?}"
    );
}

#[test]
fn bad_values_are_refused_by_the_schema() {
    for (values, expect) in [
        (json!({"replicaCount": "two"}), "/replicaCount"),
        (json!({"unknownKey": 1}), "unknownKey"),
        (json!({"logging": {"format": "xml"}}), "/logging/format"),
        (
            json!({"serviceMonitor": {"interval": "soon"}}),
            "/serviceMonitor/interval",
        ),
        (json!({"runtimeClasses": [{"name": "x"}]}), "handler"),
        (
            json!({"runtimeConfig": {"runtimes": [{"name": "spin", "runtimeClasses": []}]}}),
            "runtimeClasses",
        ),
    ] {
        let err = helm("render", Some(&values)).expect_err(&format!("{values} must be refused"));
        assert!(err.contains(expect), "{values}: {err}");
    }
}

#[test]
fn the_charts_crd_is_the_generated_one() {
    let chart = std::fs::read_to_string(repo().join("charts/wasm-operator/crds/wasmworkload.yaml")).unwrap();
    let top = std::fs::read_to_string(repo().join("crds/wasmworkload.yaml")).unwrap();
    assert!(
        chart == top,
        "charts/wasm-operator/crds/wasmworkload.yaml differs from crds/wasmworkload.yaml: run `make crd`"
    );
}

#[test]
fn rendered_manifests_validate_against_kubernetes_schemas() {
    let dir = std::env::temp_dir().join(format!("wasm-operator-chart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = vec![];
    for (set, values) in [("default", None), ("every-option", Some(every_option()))] {
        for (i, doc) in render(values.as_ref()).into_iter().enumerate() {
            // ServiceMonitor is the Prometheus Operator's CRD, not in the Kubernetes schemas.
            if doc["kind"] == "ServiceMonitor" {
                continue;
            }
            let p = dir.join(format!("{set}-{i}-{}.json", doc["kind"].as_str().unwrap()));
            std::fs::write(&p, doc.to_string()).unwrap();
            files.push(p);
        }
    }
    assert_valid_for_kubernetes(&files, "the chart");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every (group, resource, verb) a Role or ClusterRole grants, sorted.
fn rule_triples(role: &Value) -> Vec<(String, String, String)> {
    let mut out = vec![];
    for rule in role["rules"].as_array().unwrap() {
        let strs = |k: &str| {
            rule[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        for g in strs("apiGroups") {
            for r in strs("resources") {
                for v in strs("verbs") {
                    out.push((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out.sort();
    out
}

fn scoped(scopes: &[crate::api::rbac::Scope]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = scopes
        .iter()
        .flat_map(|s| crate::api::rbac::scoped_triples(Some(*s)))
        .collect();
    out.sort();
    out
}

/// The one Role in `namespace`, checked to be bound to the operator's ServiceAccount.
fn bound_role<'a>(docs: &'a [Value], namespace: &str) -> &'a Value {
    let roles: Vec<&Value> = find(docs, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["namespace"] == namespace)
        .collect();
    assert_eq!(roles.len(), 1, "one Role in {namespace}");
    let binding = find(docs, "RoleBinding")
        .into_iter()
        .find(|b| b["metadata"]["namespace"] == namespace)
        .unwrap_or_else(|| panic!("no RoleBinding in {namespace}"));
    assert_eq!(binding["roleRef"]["name"], roles[0]["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["name"],
        one(docs, "ServiceAccount")["metadata"]["name"]
    );
    assert_eq!(binding["subjects"][0]["namespace"], "wasm-system");
    roles[0]
}

#[test]
fn cluster_role_grants_exactly_what_the_operator_uses() {
    use crate::api::rbac::Scope;
    let docs = render(None);
    let role = one(&docs, "ClusterRole");
    assert_eq!(
        rule_triples(role),
        scoped(&[Scope::Cluster, Scope::Watched]),
        "charts/wasm-operator/templates/clusterrole.yaml vs operator/src/rbac.rs"
    );
    assert_eq!(
        rule_triples(bound_role(&docs, "wasm-system")),
        scoped(&[Scope::OwnNamespace]),
        "templates/role.yaml"
    );
    let mut rules = 0;
    let mut commented = 0;
    for template in ["clusterrole.yaml", "_helpers.tpl", "role.yaml"] {
        let text = std::fs::read_to_string(repo().join("charts/wasm-operator/templates").join(template)).unwrap();
        rules += text.matches("- apiGroups:").count();
        commented += text
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].trim_start().starts_with("- apiGroups:") && w[0].trim_start().starts_with('#'))
            .count();
    }
    assert_eq!(commented, rules, "every rule carries a comment saying why");
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["name"],
        one(&docs, "ServiceAccount")["metadata"]["name"]
    );
}

#[test]
fn a_namespace_scoped_install_has_no_cluster_wide_rights_on_namespaced_resources() {
    use crate::api::rbac::Scope;
    let docs = render(Some(&json!({"watchNamespace": "apps"})));
    assert_eq!(
        rule_triples(one(&docs, "ClusterRole")),
        scoped(&[Scope::Cluster]),
        "only nodes and RuntimeClasses stay cluster-wide"
    );
    assert_eq!(
        rule_triples(bound_role(&docs, "apps")),
        scoped(&[Scope::Watched]),
        "the workloads' rights live in a Role of the watched namespace"
    );
    assert_eq!(
        rule_triples(bound_role(&docs, "wasm-system")),
        scoped(&[Scope::OwnNamespace])
    );
}

#[test]
fn operator_pod_passes_the_restricted_profile_and_is_well_run() {
    for values in [None, Some(every_option())] {
        let docs = render(values.as_ref());
        let dep = one(&docs, "Deployment");
        let pod = &dep["spec"]["template"]["spec"];
        assert_eq!(restricted_violations(pod), Vec::<String>::new());
        let c = &pod["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(c["args"][0], "run");
        assert!(c["env"].as_array().unwrap().iter().any(|e| e["name"] == "POD_NAME"));
    }
}

#[test]
fn notes_tell_the_next_step() {
    let notes = helm("notes", None).unwrap();
    assert!(notes.contains("kubectl get wasmworkloads"), "{notes}");
    assert!(notes.contains("serviceMonitor.enabled=true"), "{notes}");
}

#[test]
fn upgrades_roll_with_a_surge_and_readiness_that_does_not_wait_for_the_lease() {
    // A follower reports ready (startup.rs), and the strategy starts the new pod before the old
    // leader goes: with one replica and maxUnavailable 0, a rollout must be able to surge.
    for values in [None, Some(json!({"replicaCount": 2}))] {
        let docs = render(values.as_ref());
        let d = one(&docs, "Deployment");
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert!(c["args"].as_array().unwrap().contains(&json!("--leader-election")));
    }
}

/// Chart.yaml as a JSON value, and one of its Artifact Hub annotations (YAML in a string).
fn chart_yaml() -> Value {
    let text = std::fs::read_to_string(repo().join("charts/wasm-operator/Chart.yaml")).unwrap();
    serde_saphyr::from_str(&text).expect("Chart.yaml parses")
}

fn annotation(chart: &Value, key: &str) -> Value {
    let text = chart["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("Chart.yaml has no annotation {key}"));
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("annotation {key}: {e}"))
}

#[test]
fn artifact_hub_metadata_names_the_image_crd_and_license_the_chart_ships() {
    use kube::CustomResourceExt;
    let chart = chart_yaml();
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo().join("charts/wasm-operator/values.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart["annotations"]["artifacthub.io/license"], json!("Apache-2.0"));
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("license = \"Apache-2.0\""),
        "the crates' license is the chart's"
    );

    let images = annotation(&chart, "artifacthub.io/images");
    let image = format!(
        "{}:{}",
        values["image"]["repository"].as_str().unwrap(),
        chart["appVersion"].as_str().unwrap()
    );
    assert_eq!(images[0]["image"], json!(image), "the image the chart runs by default");
    assert_eq!(images[0]["platforms"], json!(["linux/amd64", "linux/arm64"]));
    let makefile = std::fs::read_to_string(repo().join("Makefile")).unwrap();
    assert!(
        makefile.contains("--also linux/arm64"),
        "make image writes both platforms"
    );

    let crd = crate::api::crd::WasmWorkload::crd();
    let crds = annotation(&chart, "artifacthub.io/crds");
    assert_eq!(crds[0]["kind"], json!(crd.spec.names.kind));
    assert_eq!(crds[0]["name"], json!(crd.metadata.name.unwrap()));
    assert_eq!(crds[0]["version"], json!(crd.spec.versions[0].name));

    let examples = annotation(&chart, "artifacthub.io/crdsExamples");
    let examples = examples.as_array().expect("a list of examples");
    assert!(!examples.is_empty());
    for ex in examples {
        let wl: crate::api::crd::WasmWorkload =
            serde_json::from_value(ex.clone()).unwrap_or_else(|e| panic!("example is not a WasmWorkload: {e}"));
        assert!(
            crate::decide::decision::invalid_spec(&wl.spec).is_none(),
            "the example passes the operator's own checks"
        );
    }
    for link in annotation(&chart, "artifacthub.io/links").as_array().unwrap() {
        assert!(link["url"].as_str().unwrap().starts_with("https://"));
    }
}

#[test]
fn the_chart_packages_with_its_metadata() {
    let dir = std::env::temp_dir().join(format!("wasm-operator-package-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(python())
        .arg(repo().join("scripts/helm_tool.py"))
        .args([
            "package",
            repo().join("charts/wasm-operator").to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let version = chart_yaml()["version"].as_str().unwrap().to_string();
    let tgz = dir.join(format!("wasm-operator-{version}.tgz"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tgz.to_str().unwrap());
    let listing = Command::new("tar").arg("-tzf").arg(&tgz).output().unwrap();
    let files = String::from_utf8_lossy(&listing.stdout);
    for f in [
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "crds/wasmworkload.yaml",
        "templates/deployment.yaml",
    ] {
        assert!(
            files.lines().any(|l| l == format!("wasm-operator/{f}")),
            "{f} in the package"
        );
    }
    let chart = Command::new("tar")
        .arg("-xzOf")
        .arg(&tgz)
        .arg("wasm-operator/Chart.yaml")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&chart.stdout).contains("artifacthub.io/images"));
    let _ = std::fs::remove_dir_all(&dir);
}
