//! The decision: run the workload as Wasm (and with which RuntimeClass), as its fallback container,
//! or not at all. Pure: it takes what discovery found and the spec, nothing else.

use crate::api::crd::{FallbackPolicy, Mode, WasmWorkloadSpec};
use crate::api::failure_record::FailureRecord;
use crate::api::reason;
use crate::decide::discovery::{Chosen, Resolution};
use crate::decide::failure::PodFailure;
use crate::decide::runtimes::UnknownRuntimes;

/// What the workload should run as.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Run the Wasm image with this RuntimeClass.
    Wasm(Chosen),
    /// Run the fallback image; `reason` is a bounded category, `message` the explanation, and
    /// `record` the Wasm failure to remember when that is why.
    Container {
        reason: &'static str,
        message: String,
        record: Option<FailureRecord>,
    },
    /// Run nothing new: no usable runtime and the policy forbids the fallback.
    Pending { reason: &'static str, message: String },
    /// The spec cannot be run as written; wait for the user to change it.
    Invalid { reason: &'static str, message: String },
}

impl Decision {
    /// The mode the Deployment is rendered in, if one is rendered at all.
    pub fn mode(&self) -> Option<Mode> {
        match self {
            Decision::Wasm(_) => Some(Mode::Wasm),
            Decision::Container { .. } => Some(Mode::Container),
            Decision::Pending { .. } | Decision::Invalid { .. } => None,
        }
    }
}

/// Checks only the operator can make (the CRD's CEL rules make the same ones where installed,
/// but a CRD applied without them must not make the operator render a broken Deployment).
fn invalid_spec(spec: &WasmWorkloadSpec) -> Option<Decision> {
    let needs_image = spec.fallback.policy != FallbackPolicy::Never;
    if needs_image && spec.fallback.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
        return Some(Decision::Invalid {
            reason: reason::MISSING_FALLBACK_IMAGE,
            message: "fallback.image is required unless fallback.policy is Never".to_string(),
        });
    }
    if spec.service.as_ref().is_some_and(|s| s.enabled) && spec.ports.is_empty() {
        return Some(Decision::Invalid {
            reason: reason::SERVICE_WITHOUT_PORTS,
            message: "service.enabled requires at least one entry in ports".to_string(),
        });
    }
    None
}

/// What is known of the Wasm pods with the chosen RuntimeClass (for `OnFailure`).
#[derive(Clone, Debug, Default)]
pub struct WasmEvidence {
    /// The failure remembered on the Deployment, if any.
    pub remembered: Option<FailureRecord>,
    /// A failure of the Wasm pods running now, if any.
    pub failure: Option<PodFailure>,
}

/// Decide from the spec, the result of discovery (or the unknown runtime names that kept
/// discovery from running) and, for `OnFailure`, the evidence about the chosen runtime's pods.
pub fn decide(
    spec: &WasmWorkloadSpec,
    generation: i64,
    discovery: Result<Resolution, UnknownRuntimes>,
    evidence: impl FnOnce(&Chosen) -> WasmEvidence,
) -> Decision {
    if let Some(invalid) = invalid_spec(spec) {
        return invalid;
    }
    let resolution = match discovery {
        Ok(r) => r,
        Err(unknown) => {
            return Decision::Invalid {
                reason: reason::UNKNOWN_RUNTIME,
                message: unknown.to_string(),
            };
        }
    };
    match resolution.chosen {
        Some(chosen) if spec.fallback.policy == FallbackPolicy::OnFailure => {
            let WasmEvidence { remembered, failure } = evidence(&chosen);
            let rc = &chosen.candidate.runtime_class;
            if let Some(record) = remembered.filter(|r| r.holds(generation, rc, chosen.usable_nodes)) {
                return Decision::Container {
                    reason: record.reason_category(),
                    message: record.message.clone(),
                    record: Some(record),
                };
            }
            match failure {
                Some(f) => {
                    let message = format!("Wasm pods failed with RuntimeClass {rc}: {}", f.message);
                    let record = FailureRecord {
                        generation,
                        runtime_class: rc.clone(),
                        usable_nodes: chosen.usable_nodes,
                        reason: f.reason.to_string(),
                        message: message.clone(),
                    };
                    Decision::Container {
                        reason: f.reason,
                        message,
                        record: Some(record),
                    }
                }
                None => Decision::Wasm(chosen),
            }
        }
        Some(chosen) => Decision::Wasm(chosen),
        None => {
            let message = resolution.why_none();
            match spec.fallback.policy {
                FallbackPolicy::Never => Decision::Pending {
                    reason: reason::NO_USABLE_RUNTIME,
                    message,
                },
                FallbackPolicy::WhenUnavailable | FallbackPolicy::OnFailure => Decision::Container {
                    reason: reason::NO_USABLE_RUNTIME,
                    message,
                    record: None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::discovery::{NOT_INSTALLED, NO_NODE};
    use crate::decide::failure::PodFailure;
    use crate::tests::fixtures::{chosen, spec};

    fn no_evidence(_: &Chosen) -> WasmEvidence {
        WasmEvidence::default()
    }

    fn none_usable() -> Resolution {
        Resolution {
            chosen: None,
            rejected: vec![("spin".into(), NOT_INSTALLED), ("wasmtime".into(), NO_NODE)],
        }
    }

    #[test]
    fn usable_runtime_means_wasm() {
        let d = decide(
            &spec(),
            1,
            Ok(Resolution {
                chosen: Some(chosen("wasmtime")),
                rejected: vec![],
            }),
            no_evidence,
        );
        assert!(matches!(&d, Decision::Wasm(c) if c.candidate.runtime_class == "wasmtime"));
        assert_eq!(d.mode(), Some(Mode::Wasm));
    }

    #[test]
    fn no_runtime_falls_back_for_when_unavailable_and_on_failure() {
        for policy in [FallbackPolicy::WhenUnavailable, FallbackPolicy::OnFailure] {
            let mut s = spec();
            s.fallback.policy = policy;
            match decide(&s, 1, Ok(none_usable()), no_evidence) {
                Decision::Container {
                    reason,
                    message,
                    record,
                } => {
                    assert_eq!(record, None);
                    assert_eq!(reason, reason::NO_USABLE_RUNTIME);
                    assert!(message.contains("spin: not installed"), "{message}");
                }
                other => panic!("{policy:?}: expected Container, got {other:?}"),
            }
        }
    }

    #[test]
    fn never_stays_pending() {
        let mut s = spec();
        s.fallback.policy = FallbackPolicy::Never;
        s.fallback.image = None;
        let d = decide(&s, 1, Ok(none_usable()), no_evidence);
        assert!(
            matches!(
                d,
                Decision::Pending {
                    reason: reason::NO_USABLE_RUNTIME,
                    ..
                }
            ),
            "{d:?}"
        );
        assert_eq!(d.mode(), None);
    }

    #[test]
    fn unknown_runtime_is_invalid() {
        let err = UnknownRuntimes {
            names: vec!["spim".into()],
            known: "spin".into(),
        };
        let d = decide(&spec(), 1, Err(err), no_evidence);
        assert!(
            matches!(&d, Decision::Invalid { reason: reason::UNKNOWN_RUNTIME, message } if message.contains("spim"))
        );
    }

    #[test]
    fn operator_side_checks_catch_what_cel_would() {
        let mut s = spec();
        s.fallback.image = Some("  ".into());
        assert!(matches!(
            decide(&s, 1, Ok(none_usable()), no_evidence),
            Decision::Invalid {
                reason: reason::MISSING_FALLBACK_IMAGE,
                ..
            }
        ));
        let mut s = spec();
        s.ports.clear();
        s.service = Some(crate::api::crd::ServiceSpec {
            enabled: true,
            ..Default::default()
        });
        assert!(matches!(
            decide(&s, 1, Ok(none_usable()), no_evidence),
            Decision::Invalid {
                reason: reason::SERVICE_WITHOUT_PORTS,
                ..
            }
        ));
    }

    fn usable() -> Result<Resolution, UnknownRuntimes> {
        Ok(Resolution {
            chosen: Some(chosen("spin")),
            rejected: vec![],
        })
    }

    fn crash() -> PodFailure {
        PodFailure {
            reason: reason::CRASH_LOOP_BACK_OFF,
            message: "pod p: CrashLoopBackOff: x".into(),
        }
    }

    #[test]
    fn on_failure_falls_back_when_wasm_pods_fail_and_records_why() {
        let d = decide(&spec(), 4, usable(), |_| WasmEvidence {
            remembered: None,
            failure: Some(crash()),
        });
        match d {
            Decision::Container {
                reason,
                message,
                record: Some(r),
            } => {
                assert_eq!(reason, "CrashLoopBackOff");
                assert_eq!(
                    message,
                    "Wasm pods failed with RuntimeClass spin: pod p: CrashLoopBackOff: x"
                );
                assert_eq!((r.generation, r.runtime_class.as_str(), r.usable_nodes), (4, "spin", 1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn healthy_wasm_pods_stay_wasm() {
        assert!(matches!(decide(&spec(), 4, usable(), no_evidence), Decision::Wasm(_)));
    }

    #[test]
    fn failures_only_matter_with_on_failure() {
        let mut s = spec();
        s.fallback.policy = FallbackPolicy::WhenUnavailable;
        let d = decide(&s, 4, usable(), |_| WasmEvidence {
            remembered: None,
            failure: Some(crash()),
        });
        assert!(matches!(d, Decision::Wasm(_)), "{d:?}");
    }

    #[test]
    fn a_remembered_failure_is_sticky_until_spec_or_runtimes_change() {
        let record = FailureRecord {
            generation: 4,
            runtime_class: "spin".into(),
            usable_nodes: 1,
            reason: "SandboxFailed".into(),
            message: "Wasm pods failed".into(),
        };
        let remembered = |r: &FailureRecord| {
            let r = r.clone();
            move |_: &Chosen| WasmEvidence {
                remembered: Some(r),
                failure: None,
            }
        };
        let d = decide(&spec(), 4, usable(), remembered(&record));
        assert!(
            matches!(
                d,
                Decision::Container {
                    reason: "SandboxFailed",
                    record: Some(_),
                    ..
                }
            ),
            "{d:?}"
        );
        assert!(
            matches!(decide(&spec(), 5, usable(), remembered(&record)), Decision::Wasm(_)),
            "spec changed"
        );
        let mut two_nodes = chosen("spin");
        two_nodes.usable_nodes = 2;
        let more = Ok(Resolution {
            chosen: Some(two_nodes),
            rejected: vec![],
        });
        assert!(
            matches!(decide(&spec(), 4, more, remembered(&record)), Decision::Wasm(_)),
            "runtimes changed"
        );
    }
}
