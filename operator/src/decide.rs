//! The decision: run the workload as Wasm (and with which RuntimeClass), as its fallback container,
//! or not at all. Pure: it takes what discovery found and the spec, nothing else.

use crate::crd::{FallbackPolicy, Mode, WasmWorkloadSpec};
use crate::discovery::{Chosen, Resolution};
use crate::runtimes::UnknownRuntimes;

/// Reasons, in PascalCase: condition reasons, Event reasons and bounded metric labels.
pub mod reason {
    pub const WASM: &str = "Wasm";
    pub const CONTAINER: &str = "Container";
    pub const NO_USABLE_RUNTIME: &str = "NoUsableRuntime";
    pub const UNKNOWN_RUNTIME: &str = "UnknownRuntime";
    pub const MISSING_FALLBACK_IMAGE: &str = "MissingFallbackImage";
    pub const SERVICE_WITHOUT_PORTS: &str = "ServiceWithoutPorts";

    /// Every reason a workload can fall back for (the `reason` label of the fallbacks counter).
    pub const FALLBACK_REASONS: &[&str] = &[NO_USABLE_RUNTIME];
}

/// What the workload should run as.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Run the Wasm image with this RuntimeClass.
    Wasm(Chosen),
    /// Run the fallback image; `reason` is a bounded category, `message` the explanation.
    Container { reason: &'static str, message: String },
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

/// Decide from the spec and the result of discovery (or the unknown runtime names that kept
/// discovery from running).
pub fn decide(spec: &WasmWorkloadSpec, discovery: Result<Resolution, UnknownRuntimes>) -> Decision {
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
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{NOT_INSTALLED, NO_NODE};
    use crate::testing::{chosen, spec};

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
            Ok(Resolution {
                chosen: Some(chosen("wasmtime")),
                rejected: vec![],
            }),
        );
        assert!(matches!(&d, Decision::Wasm(c) if c.candidate.runtime_class == "wasmtime"));
        assert_eq!(d.mode(), Some(Mode::Wasm));
    }

    #[test]
    fn no_runtime_falls_back_for_when_unavailable_and_on_failure() {
        for policy in [FallbackPolicy::WhenUnavailable, FallbackPolicy::OnFailure] {
            let mut s = spec();
            s.fallback.policy = policy;
            match decide(&s, Ok(none_usable())) {
                Decision::Container { reason, message } => {
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
        let d = decide(&s, Ok(none_usable()));
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
        let d = decide(&spec(), Err(err));
        assert!(
            matches!(&d, Decision::Invalid { reason: reason::UNKNOWN_RUNTIME, message } if message.contains("spim"))
        );
    }

    #[test]
    fn operator_side_checks_catch_what_cel_would() {
        let mut s = spec();
        s.fallback.image = Some("  ".into());
        assert!(matches!(
            decide(&s, Ok(none_usable())),
            Decision::Invalid {
                reason: reason::MISSING_FALLBACK_IMAGE,
                ..
            }
        ));
        let mut s = spec();
        s.ports.clear();
        s.service = Some(crate::crd::ServiceSpec {
            enabled: true,
            ..Default::default()
        });
        assert!(matches!(
            decide(&s, Ok(none_usable())),
            Decision::Invalid {
                reason: reason::SERVICE_WITHOUT_PORTS,
                ..
            }
        ));
    }
}
