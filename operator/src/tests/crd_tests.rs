//! The CRD as users install it: the checked-in file matches the binary's output, it fits the
//! client-side-apply limit, and its CEL rules (evaluated by kube's CEL interpreter, with the
//! schema's defaults applied first as the API server does) accept good specs and refuse bad ones
//! with the message users will see.

use crate::api::crd::WasmWorkload;
use crate::tests::fixtures::{cel_messages, crd_schema};
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
    assert_eq!(
        columns,
        ["Mode", "Runtime", "Ready", "Wasm", "Container", "Cold start", "Age"]
    );
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
    let mut count = 0;
    for (file, obj) in crate::tests::fixtures::example_workloads() {
        assert_eq!(cel_messages(&obj), Vec::<String>::new(), "{file}");
        serde_json::from_value::<WasmWorkload>(obj).unwrap_or_else(|e| panic!("{file}: {e}"));
        count += 1;
    }
    assert!(count >= 4, "examples/ holds {count} workloads");
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
            "fallback given without an image: its policy defaults to OnFailure",
            Box::new(|v| {
                v["spec"]["fallback"] = json!({"startupTimeoutSeconds": 30});
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

/// Every `default` in the schema, with the schema node it sits on and the path to it.
fn defaults(path: &str, node: &Value, out: &mut Vec<(String, Value, Value)>) {
    if let Some(d) = node.get("default") {
        out.push((path.to_string(), d.clone(), node.clone()));
    }
    if let Some(props) = node["properties"].as_object() {
        for (k, v) in props {
            defaults(&format!("{path}.{k}"), v, out);
        }
    }
    if node["items"].is_object() {
        defaults(&format!("{path}[]"), &node["items"], out);
    }
    if node["additionalProperties"].is_object() {
        defaults(&format!("{path}.*"), &node["additionalProperties"], out);
    }
}

#[test]
fn every_default_passes_the_schema_and_the_cel_rules_it_sits_under() {
    // The API server refuses a CRD whose defaults break its own schema or CEL rules
    // (`spec.validation.openAPIV3Schema.properties[spec].properties[fallback].default: Invalid value`).
    let mut found = vec![];
    defaults("", &crd_schema(), &mut found);
    assert!(found.len() >= 8, "{} defaults", found.len());
    for (path, default, node) in &found {
        let validator = jsonschema::validator_for(node).expect("a schema node compiles");
        let errors: Vec<String> = validator.iter_errors(default).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "default of {path} breaks the schema: {errors:?}");
        if let Err(errors) = kube::core::cel::Validator::new().validate(node, default, None) {
            let messages: Vec<String> = errors.into_vec().into_iter().map(|e| e.message).collect();
            panic!("default of {path} ({default}) breaks a CEL rule: {messages:?}");
        }
    }
}

#[test]
fn a_workload_without_fallback_is_accepted_and_never_falls_back() {
    let minimal = json!({
        "apiVersion": "wasm-operator.dev/v1alpha1", "kind": "WasmWorkload",
        "metadata": {"name": "hello", "namespace": "demo"},
        "spec": {"wasm": {"image": "registry.example/hello-wasm:1.0"}}
    });
    assert_eq!(cel_messages(&minimal), Vec::<String>::new());
    let wl: WasmWorkload = serde_json::from_value(minimal).unwrap();
    assert_eq!(wl.spec.fallback.policy, crate::api::crd::FallbackPolicy::Never);
    assert_eq!(wl.spec.fallback.image, None);
    let fallback = &crd_schema()["properties"]["spec"]["properties"]["fallback"];
    assert_eq!(fallback["default"]["policy"], "Never");
    assert!(
        fallback["description"]
            .as_str()
            .unwrap()
            .contains("Absent means no fallback"),
        "kubectl explain says what a workload without fallback means"
    );
}

/// Every `format` in the schema, with its JSON path.
fn formats(path: &str, node: &Value, out: &mut Vec<(String, String, String)>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(f)) = map.get("format") {
                let t = map.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                out.push((path.to_string(), t, f.clone()));
            }
            for (k, v) in map {
                formats(&format!("{path}.{k}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                formats(&format!("{path}[{i}]"), v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_schema_uses_only_formats_kubernetes_knows() {
    // The API server's OpenAPI formats; any other makes `kubectl apply` warn
    // `unrecognized format "…"` (schemars writes uint32 for a u32).
    let crd = serde_json::to_value(WasmWorkload::crd()).unwrap();
    let mut found = vec![];
    formats("", &crd, &mut found);
    assert!(!found.is_empty(), "the walk found no format at all");
    let odd: Vec<_> = found
        .iter()
        .filter(|(_, t, f)| match t.as_str() {
            "integer" => !matches!(f.as_str(), "int32" | "int64"),
            "number" => !matches!(f.as_str(), "float" | "double"),
            "string" => !matches!(f.as_str(), "date-time" | "date" | "byte" | "int-or-string"),
            _ => true,
        })
        .collect();
    assert!(odd.is_empty(), "formats Kubernetes does not know: {odd:?}");
}
