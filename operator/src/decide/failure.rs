//! Detecting that a workload's pods fail: the Wasm pods, for the `OnFailure` fallback, and the
//! pods of either mode, for the reason the Ready condition gives.
//!
//! A Wasm pod fails when its sandbox cannot be created (a `FailedCreatePodSandBox` Event, as when
//! the node has no handler for the RuntimeClass), its container cannot be created or keeps
//! crashing, its image cannot be pulled, or it is not Ready within `startupTimeoutSeconds`.
//! The verdict is remembered on the Deployment (see `api::failure_record`) so the fallback is sticky:
//! it holds until the spec or the set of usable runtimes changes, and never flaps.

use crate::api::reason;
use crate::api::views::PodView;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// Why pods fail.
#[derive(Clone, Debug, PartialEq)]
pub struct PodFailure {
    pub reason: &'static str,
    pub message: String,
}

/// What a reconcile learns from the Wasm pods: a failure, or when to look again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    pub failure: Option<PodFailure>,
    /// The earliest startup deadline of a pod not Ready yet.
    pub recheck_in: Option<Duration>,
}

/// A sandbox failure reported for a pod (from a `FailedCreatePodSandBox` Event).
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxFailure {
    pub pod: String,
    pub message: String,
}

/// The failure category of a waiting container reason, if it is one that falling back can cure.
/// `CreateContainerConfigError` is not: the fallback has the same (broken) configuration.
pub fn waiting_reason_category(waiting: &str) -> Option<&'static str> {
    match waiting {
        "CrashLoopBackOff" => Some(reason::CRASH_LOOP_BACK_OFF),
        "CreateContainerError" | "RunContainerError" | "StartError" => Some(reason::CREATE_CONTAINER_ERROR),
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" => Some(reason::IMAGE_PULL_FAILED),
        _ => None,
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Pods the API server refused to create (the Deployment's `ReplicaFailure` condition, reason
/// `FailedCreate`): the namespace's Pod Security level, a ResourceQuota, a LimitRange, an
/// admission webhook. The message is the server's.
///
/// Such a refusal never counts against Wasm under any policy: the pod never reached a node, and
/// the pods of the other mode differ only in image and RuntimeClass, so the same admission
/// would meet them as well. Falling back would only move the refusal to the container (and the
/// cooldown would bring it back): the workload stays in its mode, and `Ready` names the refusal
/// until the user mends the namespace or the spec.
pub fn pods_refused(refusal: Option<&str>) -> Option<PodFailure> {
    refusal.map(|message| PodFailure {
        reason: reason::PODS_REFUSED,
        message: truncate(&format!("the API server refused to create pods: {message}"), 1000),
    })
}

/// Judge the Wasm pods of a workload at wall-clock `now`.
pub fn detect(pods: &[&PodView], sandbox: &[SandboxFailure], now: Timestamp, startup_timeout: Duration) -> Health {
    let mut recheck_in: Option<Duration> = None;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        if let Some(s) = sandbox.iter().find(|s| s.pod == name) {
            return Health {
                failure: Some(PodFailure {
                    reason: reason::SANDBOX_FAILED,
                    message: truncate(&format!("pod {name}: {}", s.message), 500),
                }),
                recheck_in: None,
            };
        }
        let statuses = pod.container_statuses();
        for cs in statuses {
            let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
            if let Some(category) = waiting
                .and_then(|w| w.reason.as_deref())
                .and_then(waiting_reason_category)
            {
                let detail = waiting.and_then(|w| w.message.as_deref()).unwrap_or("");
                return Health {
                    failure: Some(PodFailure {
                        reason: category,
                        message: truncate(&format!("pod {name}: {category}: {detail}"), 500),
                    }),
                    recheck_in: None,
                };
            }
        }
        if pod.condition_true("Ready") {
            continue;
        }
        let Some(created) = pod.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
            continue;
        };
        // A creation time ahead of our clock (skew) counts as just created.
        let age = Duration::try_from(now.duration_since(created)).unwrap_or(Duration::ZERO);
        if age >= startup_timeout {
            return Health {
                failure: Some(PodFailure {
                    reason: reason::STARTUP_TIMEOUT,
                    message: format!("pod {name} not Ready within {} s", startup_timeout.as_secs()),
                }),
                recheck_in: None,
            };
        }
        let left = startup_timeout - age;
        recheck_in = Some(recheck_in.map_or(left, |r| r.min(left)));
    }
    Health {
        failure: None,
        recheck_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::{pod, set_times, set_waiting};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    const TIMEOUT: Duration = Duration::from_secs(60);

    #[test]
    fn a_healthy_ready_pod_is_no_failure() {
        let mut p = pod("ok", "hello", "wasm", true, true, true);
        set_times(&mut p, 100, 101);
        assert_eq!(detect(&[&p], &[], at(1000), TIMEOUT), Health::default());
    }

    #[test]
    fn crash_loop_triggers_and_names_the_pod() {
        let mut p = pod("bad", "hello", "wasm", true, false, false);
        set_times(&mut p, 100, 0);
        set_waiting(&mut p, "CrashLoopBackOff", "back-off 10s restarting failed container");
        let h = detect(&[&p], &[], at(110), TIMEOUT);
        let f = h.failure.unwrap();
        assert_eq!(f.reason, "CrashLoopBackOff");
        assert_eq!(
            f.message,
            "pod bad: CrashLoopBackOff: back-off 10s restarting failed container"
        );
    }

    #[test]
    fn waiting_reasons_map_to_bounded_categories() {
        for (waiting, expected) in [
            ("CreateContainerError", Some("CreateContainerError")),
            ("ErrImagePull", Some("ImagePullFailed")),
            ("ImagePullBackOff", Some("ImagePullFailed")),
            ("ContainerCreating", None),
            ("CreateContainerConfigError", None),
        ] {
            assert_eq!(waiting_reason_category(waiting), expected, "{waiting}");
        }
    }

    #[test]
    fn sandbox_failure_event_triggers() {
        let mut p = pod("stuck", "hello", "wasm", true, false, false);
        set_times(&mut p, 100, 0);
        let ev = SandboxFailure {
            pod: "stuck".into(),
            message: "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"spin\" is configured".into(),
        };
        let f = detect(&[&p], &[ev], at(101), TIMEOUT).failure.unwrap();
        assert_eq!(f.reason, "SandboxFailed");
        assert!(f.message.contains("no runtime for \"spin\" is configured"));
    }

    #[test]
    fn not_ready_in_time_times_out_and_before_that_says_when_to_look_again() {
        let mut p = pod("slow", "hello", "wasm", true, true, false);
        set_times(&mut p, 100, 0);
        let h = detect(&[&p], &[], at(130), TIMEOUT);
        assert_eq!(h.failure, None);
        assert_eq!(h.recheck_in, Some(Duration::from_secs(30)));
        let f = detect(&[&p], &[], at(160), TIMEOUT).failure.unwrap();
        assert_eq!(
            (f.reason, f.message.as_str()),
            ("StartupTimeout", "pod slow not Ready within 60 s")
        );
    }

    #[test]
    fn a_creation_time_ahead_of_our_clock_counts_as_just_created() {
        let mut p = pod("skewed", "hello", "wasm", true, true, false);
        set_times(&mut p, 200, 0);
        let h = detect(&[&p], &[], at(190), TIMEOUT);
        assert_eq!((h.failure, h.recheck_in), (None, Some(TIMEOUT)));
    }

    #[test]
    fn terminating_pods_are_ignored() {
        let mut p = pod("going", "hello", "wasm", true, false, false);
        set_times(&mut p, 100, 0);
        set_waiting(&mut p, "CrashLoopBackOff", "");
        p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
        assert_eq!(detect(&[&p], &[], at(1000), TIMEOUT), Health::default());
    }
}
