//! The Pod Security Standard `restricted` (the level Kubernetes recommends for application
//! namespaces), checked on every pod the operator renders and on the operator's own pod. The
//! rules are those of the published standard (baseline and restricted) that a pod spec shows;
//! the e2e suite has the real API server's admission judge the same pods.

use crate::render::deployment::render_deployment;
use crate::tests::schema_validation_tests::{corpus, decisions};
use serde_json::{json, Value};

/// The volume kinds the restricted profile allows.
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Every rule of the restricted profile the pod spec breaks, in words.
pub fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut v = vec![];
    let psc = &pod["securityContext"];
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[key] == true {
            v.push(format!("{key} must not be set"));
        }
    }
    for vol in pod["volumes"].as_array().into_iter().flatten() {
        let kinds: Vec<&String> = vol.as_object().into_iter().flatten().map(|(k, _)| k).collect();
        for kind in kinds.into_iter().filter(|k| *k != "name") {
            if !ALLOWED_VOLUMES.contains(&kind.as_str()) {
                v.push(format!("volume {}: {kind} volumes are not allowed", vol["name"]));
            }
        }
    }
    if psc["windowsOptions"]["hostProcess"] == true {
        v.push("hostProcess".into());
    }
    let containers = pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod["initContainers"].as_array().into_iter().flatten());
    for c in containers {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        if sc["allowPrivilegeEscalation"] != false {
            v.push(format!("{name}: allowPrivilegeEscalation must be false"));
        }
        if sc["privileged"] == true {
            v.push(format!("{name}: privileged"));
        }
        let non_root = match sc["runAsNonRoot"].as_bool() {
            Some(b) => b,
            None => psc["runAsNonRoot"] == true,
        };
        if !non_root {
            v.push(format!("{name}: runAsNonRoot must be true"));
        }
        if sc["runAsUser"] == 0 || psc["runAsUser"] == 0 {
            v.push(format!("{name}: runAsUser 0"));
        }
        let drops = sc["capabilities"]["drop"].as_array().cloned().unwrap_or_default();
        if !drops.iter().any(|d| d == "ALL") {
            v.push(format!("{name}: capabilities must drop ALL"));
        }
        let adds = sc["capabilities"]["add"].as_array().cloned().unwrap_or_default();
        if adds.iter().any(|a| a != "NET_BIND_SERVICE") {
            v.push(format!("{name}: only NET_BIND_SERVICE may be added"));
        }
        let seccomp = sc["seccompProfile"]["type"]
            .as_str()
            .or(psc["seccompProfile"]["type"].as_str());
        if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) {
            v.push(format!("{name}: seccompProfile must be RuntimeDefault or Localhost"));
        }
        if sc["procMount"].as_str().is_some_and(|m| m != "Default") {
            v.push(format!("{name}: procMount must be Default"));
        }
        if c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p.get("hostPort").is_some())
        {
            v.push(format!("{name}: hostPort"));
        }
    }
    v
}

#[test]
fn the_check_catches_what_it_is_for() {
    let bad = json!({
        "hostNetwork": true,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}, {"name": "ok", "emptyDir": {}}],
        "containers": [{"name": "x", "securityContext": {"privileged": true, "runAsNonRoot": false}}]
    });
    let found = restricted_violations(&bad);
    for expected in [
        "hostNetwork must not be set",
        "volume \"h\": hostPath volumes are not allowed",
        "x: privileged",
        "x: allowPrivilegeEscalation must be false",
        "x: runAsNonRoot must be true",
        "x: capabilities must drop ALL",
        "x: seccompProfile must be RuntimeDefault or Localhost",
    ] {
        assert!(found.contains(&expected.to_string()), "{expected} not in {found:?}");
    }
    assert!(!found.iter().any(|f| f.contains("\"ok\"")), "{found:?}");
}

#[test]
fn every_example_and_fixture_renders_pods_the_restricted_profile_admits() {
    let mut checked = 0;
    for (name, wl) in corpus() {
        for (mode, decision) in decisions() {
            let d = render_deployment(&wl, &decision).unwrap();
            let pod = serde_json::to_value(d.spec.unwrap().template.spec.unwrap()).unwrap();
            assert_eq!(
                restricted_violations(&pod),
                Vec::<String>::new(),
                "{name} in {mode} mode"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} renderings");
}

#[test]
fn a_spec_that_asks_for_root_gets_it_and_the_check_says_so() {
    // The escape hatch for a fallback image that must run as root (where its namespace allows
    // it): the spec says so, and that pod is no longer within the profile.
    let (_, mut wl) = corpus().remove(0);
    wl.spec.security_context = Some(Box::new(k8s_openapi::api::core::v1::PodSecurityContext {
        run_as_user: Some(0),
        ..Default::default()
    }));
    let (_, decision) = decisions().pop().unwrap();
    let d = render_deployment(&wl, &decision).unwrap();
    let pod = serde_json::to_value(d.spec.unwrap().template.spec.unwrap()).unwrap();
    let found = restricted_violations(&pod);
    assert!(found.contains(&"app: runAsUser 0".to_string()), "{found:?}");
    assert!(
        found.contains(&"app: runAsNonRoot must be true".to_string()),
        "{found:?}"
    );
}
