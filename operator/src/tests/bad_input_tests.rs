//! The catalogue of bad WasmWorkloads in `operator/tests/bad-specs/`. Each file says on its first
//! line what must happen to it:
//!   `# expect: schema <json pointer>`  the CRD's openAPIV3Schema refuses it at that field
//!                                      (checked with the jsonschema crate),
//!   `# expect: cel <message>`          the schema accepts it and a CEL rule refuses it with
//!                                      that message (kube's CEL interpreter),
//!   `# expect: operator <Reason>`      both accept it; the operator makes it Ready=False with
//!                                      that reason and a Warning Event, writes no Deployment,
//!                                      and does not loop.

use crate::api::crd::WasmWorkload;
use crate::tests::controller_tests::{node_json, runtime_class_json, Harness};
use crate::tests::fixtures::{cel_messages, crd_schema, example_workloads};
use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Schema(String),
    Cel(String),
    Operator(String),
}

fn catalogue() -> Vec<(String, Expect, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-specs");
    let mut out = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or("");
        let rest = first
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
        let (kind, arg) = rest.split_once(' ').unwrap();
        let expect = match kind {
            "schema" => Expect::Schema(arg.to_string()),
            "cel" => Expect::Cel(arg.to_string()),
            "operator" => Expect::Operator(arg.to_string()),
            other => panic!("{}: unknown expectation {other}", path.display()),
        };
        let obj: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((path.file_name().unwrap().to_string_lossy().into_owned(), expect, obj));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (instance path, message) of every schema violation.
fn schema_errors(obj: &Value) -> Vec<(String, String)> {
    let validator = jsonschema::validator_for(&crd_schema()).expect("the CRD schema compiles");
    validator
        .iter_errors(obj)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

#[test]
fn the_catalogue_covers_enough_bad_input() {
    let c = catalogue();
    assert!(c.len() >= 25, "{} bad specs", c.len());
    for kind in ["schema", "cel", "operator"] {
        let n = c
            .iter()
            .filter(|(_, e, _)| format!("{e:?}").to_lowercase().starts_with(kind))
            .count();
        assert!(n >= 3, "{n} {kind} cases");
    }
}

#[test]
fn the_validators_accept_the_examples() {
    for (file, obj) in example_workloads() {
        assert_eq!(schema_errors(&obj), vec![], "{file}");
    }
}

#[test]
fn schema_and_cel_refuse_what_they_can_judge_naming_the_field() {
    for (file, expect, obj) in catalogue() {
        let errors = schema_errors(&obj);
        match expect {
            Expect::Schema(pointer) => {
                assert!(
                    errors.iter().any(|(path, _)| path == &pointer),
                    "{file}: expected a schema error at {pointer}, got {errors:?}"
                );
                let field = pointer.rsplit('/').next().unwrap();
                let named = errors
                    .iter()
                    .any(|(path, msg)| path.ends_with(field) || msg.contains(field) || path == &pointer);
                assert!(named, "{file}: no message names {field}: {errors:?}");
            }
            Expect::Cel(message) => {
                assert_eq!(errors, vec![], "{file}: the schema must accept it, CEL refuses it");
                let messages = cel_messages(&obj);
                assert!(
                    messages.contains(&message),
                    "{file}: expected {message:?}, got {messages:?}"
                );
            }
            Expect::Operator(_) => {
                assert_eq!(errors, vec![], "{file}: the schema accepts it");
                assert_eq!(cel_messages(&obj), Vec::<String>::new(), "{file}: CEL accepts it");
                serde_json::from_value::<WasmWorkload>(obj).unwrap_or_else(|e| panic!("{file}: {e}"));
            }
        }
    }
}

#[tokio::test]
async fn the_operator_turns_the_rest_into_ready_false_without_looping() {
    for (file, expect, mut obj) in catalogue() {
        let Expect::Operator(reason) = expect else { continue };
        obj["metadata"]["uid"] = json!("uid-bad");
        obj["metadata"]["generation"] = json!(1);
        let h = Harness::start(|w| {
            w.put(
                "runtimeclasses",
                runtime_class_json("spin", "spin", Some(json!({"spin": "yes"}))),
            );
            w.put("nodes", node_json("n1", json!({"spin": "yes"}), true));
            w.put("wasmworkloads", obj.clone());
        })
        .await;
        let path = "/apis/wasm-operator.dev/v1alpha1/namespaces/demo/wasmworkloads/bad/status";
        let p = path.to_string();
        h.wait_for(&format!("{file}: a status write"), move |w| {
            w.writes().iter().any(|r| r.path == p)
        })
        .await;
        h.settle().await;
        let writes = h.world_writes();
        let status = &writes
            .iter()
            .rev()
            .find(|r| r.path == path)
            .unwrap()
            .body
            .as_ref()
            .unwrap()["status"];
        let ready = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str()),
            (Some("False"), Some(reason.as_str())),
            "{file}"
        );
        let events: Vec<&Value> = writes
            .iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| r.body.as_ref())
            .collect();
        assert!(
            events
                .iter()
                .any(|e| e["type"] == "Warning" && e["reason"] == reason.as_str()),
            "{file}: {events:?}"
        );
        assert!(
            !writes.iter().any(|r| r.path.contains("/deployments/")),
            "{file}: no Deployment"
        );
        // Nothing more happens by itself, and a poke reconciles once without writing.
        let before = (h.reconciles(), writes.len());
        h.poke_nodes("n1").await;
        assert_eq!(
            h.world_writes().len(),
            before.1,
            "{file}: a reconcile of an unchanged bad spec writes nothing"
        );
        assert!(
            h.reconciles() <= before.0 + 2,
            "{file}: {} reconciles after one poke",
            h.reconciles() - before.0
        );
    }
}
