//! The CRD as users install it: the checked-in file matches the binary's output, it fits the
//! client-side-apply limit, and its CEL rules (evaluated by kube's CEL interpreter, with the
//! schema's defaults applied first as the API server does) accept good specs and refuse bad ones
//! with the message users will see.

use crate::crd::WasmWorkload;
use crate::testing::{cel_messages, crd_schema};
use kube::CustomResourceExt;
use serde_json::{json, Value};

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}

fn valid() -> Value {
    json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": "hello", "namespace": "demo"},
        "spec": {
            "replicas": 2,
            "wasm": {"image": "registry.example/hello-wasm:1.0", "runtimes": ["spin", "wasmtime"], "command": ["/"]},
            "fallback": {"image": "registry.example/hello:1.0", "policy": "OnFailure", "startupTimeoutSeconds": 60},
            "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"enabled": true, "type": "ClusterIP", "port": 80}
        }
    })
}

#[test]
fn checked_in_crd_matches_the_generated_one() {
    let generated = serde_saphyr::to_string(&WasmWorkload::crd()).unwrap();
    assert!(
        repo_file("crds/wasmworkload.yaml") == generated,
        "crds/wasmworkload.yaml is stale: run `cargo run -p wasm-operator -- crd > crds/wasmworkload.yaml`"
    );
}

#[test]
fn crd_fits_the_client_side_apply_annotation_limit() {
    // `kubectl apply` stores the object as JSON in an annotation limited to 256 KiB.
    let json = serde_json::to_vec(&WasmWorkload::crd()).unwrap();
    assert!(json.len() < 256 * 1024, "CRD is {} bytes of JSON", json.len());
}

#[test]
fn names_subresources_and_printer_columns() {
    let crd = serde_json::to_value(WasmWorkload::crd()).unwrap();
    let spec = &crd["spec"];
    assert_eq!(spec["group"], "wasm-operator.dev");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(spec["names"]["shortNames"], json!(["wasmw"]));
    let v = &spec["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["subresources"]["status"], json!({}));
    assert_eq!(
        v["subresources"]["scale"],
        json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"})
    );
    let columns: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Mode", "Runtime", "Ready", "Cold start", "Age"]);
}

#[test]
fn kubectl_explain_has_descriptions_for_every_spec_field() {
    fn walk(path: &str, s: &Value, missing: &mut Vec<String>) {
        if let Some(props) = s["properties"].as_object() {
            for (k, v) in props {
                let p = format!("{path}.{k}");
                if v["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(p.clone());
                }
                // Embedded Kubernetes types carry their own documentation; check only ours.
                if ![
                    "env",
                    "resources",
                    "readinessProbe",
                    "imagePullSecrets",
                    "affinity",
                    "tolerations",
                    "topologySpreadConstraints",
                    "conditions",
                ]
                .contains(&k.as_str())
                {
                    walk(&p, v, missing);
                    walk(&p, &v["items"], missing);
                }
            }
        }
    }
    let mut missing = vec![];
    walk("spec", &crd_schema()["properties"]["spec"], &mut missing);
    assert!(missing.is_empty(), "fields without a description: {missing:?}");
}

#[test]
fn schema_bounds_numbers() {
    let s = crd_schema();
    let spec = &s["properties"]["spec"]["properties"];
    assert_eq!(
        (
            spec["replicas"]["minimum"].as_f64(),
            spec["replicas"]["maximum"].as_f64()
        ),
        (Some(0.0), Some(10000.0))
    );
    let timeout = &spec["fallback"]["properties"]["startupTimeoutSeconds"];
    assert_eq!(
        (timeout["minimum"].as_f64(), timeout["maximum"].as_f64()),
        (Some(1.0), Some(3600.0))
    );
    assert_eq!(
        spec["fallback"]["properties"]["policy"]["enum"],
        json!(["Never", "WhenUnavailable", "OnFailure"])
    );
}

#[test]
fn cel_accepts_the_valid_spec_and_every_example() {
    assert_eq!(cel_messages(&valid()), Vec::<String>::new());
    let dir = format!("{}/../examples", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let obj: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(cel_messages(&obj), Vec::<String>::new(), "{}", path.display());
        serde_json::from_value::<WasmWorkload>(obj).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        count += 1;
    }
    assert!(count >= 3, "examples/ holds {count} workloads");
}

#[test]
fn cel_refuses_bad_specs_with_the_message_users_see() {
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "no fallback image with OnFailure",
            Box::new(|v| {
                v["spec"]["fallback"].as_object_mut().unwrap().remove("image");
            }),
            "fallback.image is required unless fallback.policy is Never",
        ),
        (
            "empty fallback image with WhenUnavailable",
            Box::new(|v| {
                v["spec"]["fallback"] = json!({"image": "", "policy": "WhenUnavailable"});
            }),
            "fallback.image is required unless fallback.policy is Never",
        ),
        (
            "fallback omitted: the default policy OnFailure needs an image",
            Box::new(|v| {
                v["spec"].as_object_mut().unwrap().remove("fallback");
            }),
            "fallback.image is required unless fallback.policy is Never",
        ),
        (
            "empty runtime name",
            Box::new(|v| {
                v["spec"]["wasm"]["runtimes"] = json!(["spin", ""]);
            }),
            "wasm.runtimes entries must not be empty",
        ),
        (
            "duplicate runtime",
            Box::new(|v| {
                v["spec"]["wasm"]["runtimes"] = json!(["spin", "spin"]);
            }),
            "wasm.runtimes entries must be unique",
        ),
        (
            "service without ports",
            Box::new(|v| {
                v["spec"].as_object_mut().unwrap().remove("ports");
            }),
            "service.enabled requires at least one entry in ports",
        ),
        (
            "duplicate port names",
            Box::new(|v| {
                v["spec"]["ports"] =
                    json!([{"name": "http", "containerPort": 1}, {"name": "http", "containerPort": 2}]);
            }),
            "ports names must be unique",
        ),
        (
            "bad protocol",
            Box::new(|v| {
                v["spec"]["ports"][0]["protocol"] = json!("HTTP");
            }),
            "protocol must be TCP, UDP or SCTP",
        ),
        (
            "bad service type",
            Box::new(|v| {
                v["spec"]["service"]["type"] = json!("ExternalName");
            }),
            "service.type must be ClusterIP, NodePort or LoadBalancer",
        ),
        (
            "image with a space",
            Box::new(|v| {
                v["spec"]["wasm"]["image"] = json!("registry.example/hello wasm");
            }),
            "wasm.image must be an image reference without spaces",
        ),
        (
            "fallback image with leading space",
            Box::new(|v| {
                v["spec"]["fallback"]["image"] = json!(" busybox");
            }),
            "fallback.image must be an image reference without spaces",
        ),
    ];
    for (name, mutate, expected) in cases {
        let mut obj = valid();
        mutate(&mut obj);
        let messages = cel_messages(&obj);
        assert!(
            messages.iter().any(|m| m == expected),
            "{name}: expected {expected:?}, got {messages:?}"
        );
    }
    let mut never = valid();
    never["spec"]["fallback"] = json!({"policy": "Never"});
    assert_eq!(
        cel_messages(&never),
        Vec::<String>::new(),
        "policy Never needs no image"
    );
}
