//! The mapping from runtime names (`spin`, `wasmtime`…) to the RuntimeClass names that provide them.
//!
//! The defaults cover what the common installers create: SpinKube (`wasmtime-spin-v2`),
//! runtime-class-manager (a RuntimeClass named after its shim, nodes labelled `<shim>=provisioned`),
//! k3s (`spin`, `wasmtime`, `wasmedge`, `wasmer`, `lunatic`, `slight`, `wws`) and crun
//! (`crun-wasm`/`crun`, which needs the wasm variant annotation on the pod).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One runtime name and the RuntimeClasses that provide it, in order of preference.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEntry {
    pub name: String,
    pub runtime_classes: Vec<String>,
    /// Annotations the pods need for this runtime (crun reads the wasm variant from one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
}

/// The operator's runtime configuration (the `--runtime-config` file).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    pub runtimes: Vec<RuntimeEntry>,
    /// Order tried when a workload lists no runtimes.
    pub default_order: Vec<String>,
    /// How long a node whose Ready condition turned False or Unknown still counts for
    /// discovery, in seconds (its container runtime restarting, as an upgrade does, must not
    /// roll every workload to containers and back). 0 acts at once.
    #[serde(default = "default_not_ready_grace")]
    pub node_not_ready_grace_seconds: u64,
}

fn default_not_ready_grace() -> u64 {
    DEFAULT_NOT_READY_GRACE_SECONDS
}

/// Longer than a containerd restart that waits on its shims or an upgrade of it (seen: 20–60 s,
/// the node NotReady for most of it), shorter than the 300 s Kubernetes itself waits before it
/// evicts the pods of a NotReady node.
pub const DEFAULT_NOT_READY_GRACE_SECONDS: u64 = 120;

/// A RuntimeClass a workload may run with, and the runtime name it was asked for by.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub runtime: String,
    pub runtime_class: String,
    pub pod_annotations: BTreeMap<String, String>,
}

/// Runtime names that are neither configured nor an existing RuntimeClass.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("unknown runtime {}: not a configured runtime name ({known}) nor an existing RuntimeClass", names.join(", "))]
pub struct UnknownRuntimes {
    pub names: Vec<String>,
    pub known: String,
}

fn entry(name: &str, classes: &[&str]) -> RuntimeEntry {
    RuntimeEntry {
        name: name.to_string(),
        runtime_classes: classes.iter().map(|c| c.to_string()).collect(),
        pod_annotations: BTreeMap::new(),
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let mut crun = entry("crun", &["crun-wasm", "crun"]);
        crun.pod_annotations
            .insert("module.wasm.image/variant".to_string(), "compat-smart".to_string());
        Self {
            runtimes: vec![
                entry("spin", &["wasmtime-spin-v2", "spin-v2", "spin"]),
                entry("wasmtime", &["wasmtime", "wasmtime-v1"]),
                entry("wasmedge", &["wasmedge", "wasmedge-v1"]),
                entry("wasmer", &["wasmer", "wasmer-v1"]),
                entry("lunatic", &["lunatic", "lunatic-v1"]),
                entry("slight", &["slight", "slight-v1"]),
                entry("wws", &["wws", "wws-v1"]),
                crun,
            ],
            default_order: ["spin", "wasmtime", "wasmedge", "wasmer", "crun"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            node_not_ready_grace_seconds: DEFAULT_NOT_READY_GRACE_SECONDS,
        }
    }
}

impl RuntimeConfig {
    /// Parse a YAML configuration, checking that the default order only names configured runtimes.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let config: RuntimeConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if let Some(missing) = config
            .default_order
            .iter()
            .find(|n| !config.runtimes.iter().any(|r| &r.name == *n))
        {
            return Err(format!("defaultOrder names {missing:?}, which is not in runtimes"));
        }
        if let Some(empty) = config.runtimes.iter().find(|r| r.runtime_classes.is_empty()) {
            return Err(format!("runtime {:?} lists no runtimeClasses", empty.name));
        }
        Ok(config)
    }

    /// The grace of a node that stopped being Ready.
    pub fn not_ready_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.node_not_ready_grace_seconds)
    }

    fn find(&self, name: &str) -> Option<&RuntimeEntry> {
        self.runtimes.iter().find(|r| r.name == name)
    }

    /// Every RuntimeClass name a workload asking for `requested` could use, in preference order,
    /// deduplicated. A requested name that is not configured is taken as a RuntimeClass name when
    /// `rc_exists` says such a RuntimeClass exists; otherwise it is reported as unknown.
    pub fn candidates(
        &self,
        requested: &[String],
        rc_exists: impl Fn(&str) -> bool,
    ) -> Result<Vec<Candidate>, UnknownRuntimes> {
        let names = if requested.is_empty() {
            &self.default_order
        } else {
            requested
        };
        let mut out: Vec<Candidate> = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            let expanded: Vec<Candidate> = match self.find(name) {
                Some(entry) => entry
                    .runtime_classes
                    .iter()
                    .map(|rc| Candidate {
                        runtime: entry.name.clone(),
                        runtime_class: rc.clone(),
                        pod_annotations: entry.pod_annotations.clone(),
                    })
                    .collect(),
                None if rc_exists(name) => vec![Candidate {
                    runtime: name.clone(),
                    runtime_class: name.clone(),
                    pod_annotations: BTreeMap::new(),
                }],
                None => {
                    unknown.push(name.clone());
                    continue;
                }
            };
            for c in expanded {
                if !out.iter().any(|o| o.runtime_class == c.runtime_class) {
                    out.push(c);
                }
            }
        }
        if unknown.is_empty() {
            Ok(out)
        } else {
            Err(UnknownRuntimes {
                names: unknown,
                known: self
                    .runtimes
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// Whether a workload asking for `requested` could ever use RuntimeClass `rc` (or names it
    /// directly). Used to map RuntimeClass events to the workloads they affect.
    pub fn may_use(&self, requested: &[String], rc: &str) -> bool {
        let names = if requested.is_empty() {
            &self.default_order
        } else {
            requested
        };
        names
            .iter()
            .any(|n| n == rc || self.find(n).is_some_and(|e| e.runtime_classes.iter().any(|c| c == rc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn classes(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|c| c.runtime_class.as_str()).collect()
    }

    #[test]
    fn defaults_cover_spinkube_rcm_k3s_and_crun() {
        let cfg = RuntimeConfig::default();
        let spin = cfg.candidates(&names(&["spin"]), |_| false).unwrap();
        assert_eq!(classes(&spin), ["wasmtime-spin-v2", "spin-v2", "spin"]);
        for k3s in ["wasmtime", "wasmedge", "wasmer", "lunatic", "slight", "wws"] {
            let c = cfg.candidates(&names(&[k3s]), |_| false).unwrap();
            assert_eq!(c[0].runtime_class, k3s, "k3s installs a RuntimeClass named {k3s}");
        }
        let crun = cfg.candidates(&names(&["crun"]), |_| false).unwrap();
        assert_eq!(classes(&crun), ["crun-wasm", "crun"]);
        assert_eq!(crun[0].pod_annotations["module.wasm.image/variant"], "compat-smart");
    }

    #[test]
    fn order_is_kept_and_duplicates_dropped() {
        let cfg = RuntimeConfig::default();
        let c = cfg
            .candidates(&names(&["wasmtime", "spin", "wasmtime"]), |_| false)
            .unwrap();
        assert_eq!(
            classes(&c),
            ["wasmtime", "wasmtime-v1", "wasmtime-spin-v2", "spin-v2", "spin"]
        );
        assert_eq!(c[2].runtime, "spin");
    }

    #[test]
    fn empty_list_uses_default_order() {
        let cfg = RuntimeConfig::default();
        let c = cfg.candidates(&[], |_| false).unwrap();
        assert_eq!(c[0].runtime_class, "wasmtime-spin-v2");
        assert_eq!(c.last().unwrap().runtime_class, "crun");
    }

    #[test]
    fn runtime_class_names_are_accepted_when_they_exist() {
        let cfg = RuntimeConfig::default();
        let c = cfg.candidates(&names(&["my-shim"]), |n| n == "my-shim").unwrap();
        assert_eq!(classes(&c), ["my-shim"]);
        assert_eq!(c[0].runtime, "my-shim");
    }

    #[test]
    fn unknown_names_are_reported_all_at_once() {
        let cfg = RuntimeConfig::default();
        let err = cfg
            .candidates(&names(&["spim", "spin", "wasmtim"]), |_| false)
            .unwrap_err();
        assert_eq!(err.names, ["spim", "wasmtim"]);
        let msg = err.to_string();
        assert!(
            msg.starts_with("unknown runtime spim, wasmtim: not a configured runtime name (spin, wasmtime"),
            "{msg}"
        );
    }

    #[test]
    fn may_use_follows_the_mapping() {
        let cfg = RuntimeConfig::default();
        assert!(cfg.may_use(&names(&["spin"]), "wasmtime-spin-v2"));
        assert!(!cfg.may_use(&names(&["spin"]), "wasmtime"));
        assert!(cfg.may_use(&names(&["custom"]), "custom"));
        assert!(cfg.may_use(&[], "wasmedge"), "default order includes wasmedge");
    }

    #[test]
    fn yaml_configuration_round_trips_and_is_checked() {
        let yaml = "runtimes:\n- name: fast\n  runtimeClasses: [rc-a, rc-b]\ndefaultOrder: [fast]\n";
        let cfg = RuntimeConfig::from_yaml(yaml).unwrap();
        assert_eq!(cfg.runtimes[0].runtime_classes, ["rc-a", "rc-b"]);
        let bad = "runtimes: []\ndefaultOrder: [nope]\n";
        assert_eq!(
            RuntimeConfig::from_yaml(bad).unwrap_err(),
            "defaultOrder names \"nope\", which is not in runtimes"
        );
        let empty = "runtimes:\n- name: x\n  runtimeClasses: []\ndefaultOrder: []\n";
        assert!(RuntimeConfig::from_yaml(empty)
            .unwrap_err()
            .contains("lists no runtimeClasses"));
        let default_yaml = serde_saphyr::to_string(&RuntimeConfig::default()).unwrap();
        assert_eq!(
            RuntimeConfig::from_yaml(&default_yaml).unwrap(),
            RuntimeConfig::default()
        );
    }
}
