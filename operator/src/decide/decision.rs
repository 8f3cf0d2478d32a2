//! The decision: run the workload as Wasm (and with which RuntimeClass), as its fallback container,
//! or not at all. Pure: it takes what discovery found and the spec, nothing else.

use crate::api::crd::{FallbackPolicy, Mode, Placement, WasmWorkloadSpec};
use crate::api::failure_record::{cooldown, FailureRecord};
use crate::api::reason;
use crate::decide::discovery::{Chosen, Resolution};
use crate::decide::failure::PodFailure;
use crate::decide::runtimes::UnknownRuntimes;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

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
pub(crate) fn invalid_spec(spec: &WasmWorkloadSpec) -> Option<Decision> {
    if spec.placement == Placement::Spill && spec.fallback.policy == FallbackPolicy::Never {
        return Some(Decision::Invalid {
            reason: reason::MISSING_FALLBACK_IMAGE,
            message: "placement Spill needs fallback.image and a fallback.policy other than Never".to_string(),
        });
    }
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
    /// A failure of the Wasm pods running now that counts against Wasm, if any.
    pub failure: Option<PodFailure>,
    /// The Deployment runs this RuntimeClass and every desired pod of it is Ready.
    pub rolled_out: bool,
}

/// Decide from the spec, the result of discovery (or the unknown runtime names that kept
/// discovery from running) and, for `OnFailure`, the evidence about the chosen runtime's pods,
/// at wall-clock `now`.
///
/// Under `OnFailure` a failure of the Wasm pods falls back and is remembered with a cooldown:
/// `fallback.cooldownSeconds` after the first failure, twice as long after each further one in
/// a row, at most `fallback.maxCooldownSeconds`. When it ends, Wasm is tried again with the
/// record still on the Deployment; a failure of that try counts as the next in the row, and
/// the record goes once the Wasm pods are all Ready. A new spec generation or a change in the
/// usable runtimes gives Wasm another try at once, with a clean record.
pub fn decide(
    spec: &WasmWorkloadSpec,
    generation: i64,
    discovery: Result<Resolution, UnknownRuntimes>,
    now: Timestamp,
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
            let WasmEvidence {
                remembered,
                failure,
                rolled_out,
            } = evidence(&chosen);
            let rc = &chosen.candidate.runtime_class;
            let remembered = remembered.filter(|r| r.holds(generation, rc, chosen.usable_nodes));
            if let Some(f) = failure {
                let failures = remembered.as_ref().map_or(1, |r| r.failures.saturating_add(1));
                let cool = cooldown(
                    failures,
                    SignedDuration::from_secs(i64::from(spec.fallback.cooldown_seconds)),
                    SignedDuration::from_secs(i64::from(spec.fallback.max_cooldown_seconds)),
                );
                let message = format!("Wasm pods failed with RuntimeClass {rc}: {}", f.message);
                let record = FailureRecord {
                    generation,
                    runtime_class: rc.clone(),
                    usable_nodes: chosen.usable_nodes,
                    reason: f.reason.to_string(),
                    message: message.clone(),
                    failures,
                    retry_at: Some(now.as_second().saturating_add(cool.as_secs())),
                };
                return Decision::Container {
                    reason: f.reason,
                    message,
                    record: Some(record),
                };
            }
            match remembered {
                Some(record) if record.cooling_down(now) => Decision::Container {
                    reason: record.reason_category(),
                    message: record.message.clone(),
                    record: Some(record),
                },
                // The cooldown is over: Wasm again, remembering until its pods are Ready.
                Some(record) if !rolled_out => Decision::Wasm(Chosen {
                    after_failures: Some(Box::new(record)),
                    ..chosen
                }),
                _ => Decision::Wasm(chosen),
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

    /// The wall clock of these tests.
    fn now() -> Timestamp {
        Timestamp::from_second(10_000).unwrap()
    }

    fn none_usable() -> Resolution {
        Resolution {
            chosen: None,
            rejected: vec![("spin".into(), NOT_INSTALLED), ("wasmtime".into(), NO_NODE)],
            ..Default::default()
        }
    }

    #[test]
    fn usable_runtime_means_wasm() {
        let d = decide(
            &spec(),
            1,
            Ok(Resolution {
                chosen: Some(chosen("wasmtime")),
                ..Default::default()
            }),
            now(),
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
            match decide(&s, 1, Ok(none_usable()), now(), no_evidence) {
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
        let d = decide(&s, 1, Ok(none_usable()), now(), no_evidence);
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
        let d = decide(&spec(), 1, Err(err), now(), no_evidence);
        assert!(
            matches!(&d, Decision::Invalid { reason: reason::UNKNOWN_RUNTIME, message } if message.contains("spim"))
        );
    }

    #[test]
    fn operator_side_checks_catch_what_cel_would() {
        let mut s = spec();
        s.fallback.image = Some("  ".into());
        assert!(matches!(
            decide(&s, 1, Ok(none_usable()), now(), no_evidence),
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
            decide(&s, 1, Ok(none_usable()), now(), no_evidence),
            Decision::Invalid {
                reason: reason::SERVICE_WITHOUT_PORTS,
                ..
            }
        ));
    }

    fn usable() -> Result<Resolution, UnknownRuntimes> {
        Ok(Resolution {
            chosen: Some(chosen("spin")),
            ..Default::default()
        })
    }

    fn crash() -> PodFailure {
        PodFailure {
            reason: reason::CRASH_LOOP_BACK_OFF,
            message: "pod p: CrashLoopBackOff: x".into(),
            pod: None,
        }
    }

    #[test]
    fn on_failure_falls_back_when_wasm_pods_fail_and_records_why() {
        let d = decide(&spec(), 4, usable(), now(), |_| WasmEvidence {
            remembered: None,
            failure: Some(crash()),
            rolled_out: false,
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
                assert_eq!(r.failures, 1);
                assert_eq!(r.retry_at, Some(10_000 + 300), "the first cooldown, 300 s by default");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn healthy_wasm_pods_stay_wasm() {
        assert!(matches!(
            decide(&spec(), 4, usable(), now(), no_evidence),
            Decision::Wasm(_)
        ));
    }

    #[test]
    fn failures_only_matter_with_on_failure() {
        let mut s = spec();
        s.fallback.policy = FallbackPolicy::WhenUnavailable;
        let d = decide(&s, 4, usable(), now(), |_| WasmEvidence {
            remembered: None,
            failure: Some(crash()),
            rolled_out: false,
        });
        assert!(matches!(d, Decision::Wasm(_)), "{d:?}");
    }

    fn record(failures: u32, retry_at: i64) -> FailureRecord {
        FailureRecord {
            generation: 4,
            runtime_class: "spin".into(),
            usable_nodes: 1,
            reason: "StartupTimeout".into(),
            message: "Wasm pods failed with RuntimeClass spin: pod p not Ready within 60 s".into(),
            failures,
            retry_at: Some(retry_at),
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn after_its_cooldown_wasm_is_tried_again_remembering_the_failures() {
        let evidence = |r: FailureRecord, failure: Option<PodFailure>, rolled_out: bool| {
            move |_: &Chosen| WasmEvidence {
                remembered: Some(r),
                failure,
                rolled_out,
            }
        };
        // Before retry_at: the fallback holds.
        let d = decide(
            &spec(),
            4,
            usable(),
            at(10_299),
            evidence(record(1, 10_300), None, false),
        );
        assert!(
            matches!(d, Decision::Container { record: Some(ref r), .. } if r.failures == 1),
            "{d:?}"
        );
        // At retry_at: Wasm again, carrying the record until its pods are Ready.
        let d = decide(
            &spec(),
            4,
            usable(),
            at(10_300),
            evidence(record(1, 10_300), None, false),
        );
        match &d {
            Decision::Wasm(c) => assert_eq!(c.after_failures.as_deref(), Some(&record(1, 10_300))),
            other => panic!("{other:?}"),
        }
        // That try fails too: the second failure in a row, twice the cooldown.
        let d = decide(
            &spec(),
            4,
            usable(),
            at(10_400),
            evidence(record(1, 10_300), Some(crash()), false),
        );
        match &d {
            Decision::Container { record: Some(r), .. } => {
                assert_eq!((r.failures, r.retry_at), (2, Some(10_400 + 600)));
            }
            other => panic!("{other:?}"),
        }
        // Or it comes up: all Wasm pods Ready, and the record goes.
        let d = decide(
            &spec(),
            4,
            usable(),
            at(10_400),
            evidence(record(1, 10_300), None, true),
        );
        assert!(matches!(&d, Decision::Wasm(c) if c.after_failures.is_none()), "{d:?}");
    }

    #[test]
    fn the_cooldown_comes_from_the_spec_and_stops_at_its_cap() {
        let mut s = spec();
        s.fallback.cooldown_seconds = 60;
        s.fallback.max_cooldown_seconds = 200;
        let d = decide(&s, 4, usable(), at(20_000), |_| WasmEvidence {
            remembered: Some(record(5, 19_000)),
            failure: Some(crash()),
            rolled_out: false,
        });
        match d {
            Decision::Container { record: Some(r), .. } => assert_eq!((r.failures, r.retry_at), (6, Some(20_200))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_remembered_failure_is_sticky_until_spec_or_runtimes_change() {
        let record = FailureRecord {
            generation: 4,
            runtime_class: "spin".into(),
            usable_nodes: 1,
            reason: "SandboxFailed".into(),
            message: "Wasm pods failed".into(),
            failures: 1,
            retry_at: Some(10_300),
        };
        let remembered = |r: &FailureRecord| {
            let r = r.clone();
            move |_: &Chosen| WasmEvidence {
                remembered: Some(r),
                failure: None,
                rolled_out: false,
            }
        };
        let d = decide(&spec(), 4, usable(), now(), remembered(&record));
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
            matches!(
                decide(&spec(), 5, usable(), now(), remembered(&record)),
                Decision::Wasm(_)
            ),
            "spec changed"
        );
        let mut two_nodes = chosen("spin");
        two_nodes.usable_nodes = 2;
        let more = Ok(Resolution {
            chosen: Some(two_nodes),
            ..Default::default()
        });
        assert!(
            matches!(decide(&spec(), 4, more, now(), remembered(&record)), Decision::Wasm(_)),
            "runtimes changed"
        );
    }
}
