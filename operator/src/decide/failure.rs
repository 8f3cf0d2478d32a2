//! Detecting that a workload's pods fail: the Wasm pods, for the `OnFailure` fallback, and the
//! pods of either mode, for the reason the Ready condition gives.
//!
//! A Wasm pod fails when its sandbox cannot be created (a `FailedCreatePodSandBox` Event, as when
//! the node has no handler for the RuntimeClass), its container cannot be created or keeps
//! crashing, its image cannot be pulled, or it is not Ready within `startupTimeoutSeconds`.
//! The verdict is remembered on the Deployment (see `api::failure_record`) so the fallback is sticky:
//! it holds until the spec or the set of usable runtimes changes, and never flaps.

use crate::api::reason;
use crate::api::views::CachedPod;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// Why pods fail.
#[derive(Clone, Debug, PartialEq)]
pub struct PodFailure {
    pub reason: &'static str,
    pub message: String,
    /// The failing pod's node and creation time, where known: whether the failure is the
    /// node's (`node_trouble`) is judged from them.
    pub pod: Option<FailingPod>,
}

/// Where and since when the pod that failed was.
#[derive(Clone, Debug, PartialEq)]
pub struct FailingPod {
    pub node: Option<String>,
    pub created: Option<Timestamp>,
}

impl FailingPod {
    fn of(pod: &CachedPod) -> Option<FailingPod> {
        Some(FailingPod {
            node: pod.spec.as_ref().and_then(|s| s.node_name.as_deref().map(String::from)),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
        })
    }
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
        pod: None,
    })
}

/// Why a failure of a Wasm pod is its node's and not Wasm's, if it is: the node is not Ready,
/// its readiness changed after the pod was created (a kubelet or container runtime restarted,
/// as a node upgrade does), or a container pod on the same node that had been Ready is not
/// Ready now. `pods` are every pod the operator watches; `was_ready` says whether one has been
/// Ready since it was created. Such a failure falls back no workload: the container would fare
/// no better on that node.
pub fn node_trouble(
    failing: &FailingPod,
    nodes: &[std::sync::Arc<k8s_openapi::api::core::v1::Node>],
    pods: &[&CachedPod],
    was_ready: &dyn Fn(&CachedPod) -> bool,
) -> Option<String> {
    let name = failing.node.as_deref()?;
    let node = nodes.iter().find(|n| n.metadata.name.as_deref() == Some(name))?;
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status != "True" => return Some(format!("node {name} is not Ready ({})", c.status)),
        None => return Some(format!("node {name} reports no Ready condition")),
        Some(c) => {
            let changed = c.last_transition_time.as_ref().map(|t| t.0);
            if let (Some(changed), Some(created)) = (changed, failing.created) {
                if changed > created {
                    return Some(format!(
                        "node {name} became Ready again at {changed}, after the pod was created"
                    ));
                }
            }
        }
    }
    pods.iter()
        .filter(|p| p.mode == Some(crate::api::crd::Mode::Container))
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name))
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !p.condition_true("Ready"))
        .find(|p| was_ready(p) || p.has_restarted())
        .map(|p| {
            format!(
                "container pod {} on node {name} lost its readiness too",
                p.metadata.name.as_deref().unwrap_or("?")
            )
        })
}

/// What one pod says at wall-clock `now`.
#[derive(Clone, Debug, PartialEq)]
pub enum PodState {
    /// Being deleted: it says nothing any more.
    Deleting,
    /// Ready, or has been since it was created (losing readiness later is no startup timeout).
    Started,
    /// Not Ready yet; its startup deadline passes in `left`.
    Starting {
        left: Duration,
    },
    Failed(PodFailure),
}

/// Judge one pod. A pod that has been Ready since it was created (`was_ready`), or whose
/// container restarted, has started.
pub fn judge(
    pod: &CachedPod,
    sandbox: &[SandboxFailure],
    now: Timestamp,
    startup_timeout: Duration,
    was_ready: &dyn Fn(&CachedPod) -> bool,
) -> PodState {
    if pod.metadata.deletion_timestamp.is_some() {
        return PodState::Deleting;
    }
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    if let Some(s) = sandbox.iter().find(|s| s.pod == name) {
        return PodState::Failed(PodFailure {
            reason: reason::SANDBOX_FAILED,
            message: truncate(&format!("pod {name}: {}", s.message), 500),
            pod: FailingPod::of(pod),
        });
    }
    for cs in pod.container_statuses() {
        let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
        if let Some(category) = waiting
            .and_then(|w| w.reason.as_deref())
            .and_then(waiting_reason_category)
        {
            let detail = waiting.and_then(|w| w.message.as_deref()).unwrap_or("");
            return PodState::Failed(PodFailure {
                reason: category,
                message: truncate(&format!("pod {name}: {category}: {detail}"), 500),
                pod: FailingPod::of(pod),
            });
        }
    }
    if pod.condition_true("Ready") || was_ready(pod) || pod.has_restarted() {
        return PodState::Started;
    }
    let Some(created) = pod.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
        return PodState::Starting { left: startup_timeout };
    };
    // A creation time ahead of our clock (skew) counts as just created.
    let age = Duration::try_from(now.duration_since(created)).unwrap_or(Duration::ZERO);
    if age >= startup_timeout {
        return PodState::Failed(PodFailure {
            reason: reason::STARTUP_TIMEOUT,
            message: format!("pod {name} not Ready within {} s", startup_timeout.as_secs()),
            pod: FailingPod::of(pod),
        });
    }
    PodState::Starting {
        left: startup_timeout - age,
    }
}

/// The scheduler's verdict on a pod it cannot place (`PodScheduled=False`, reason
/// `Unschedulable`, as a `FailedScheduling` Event also says): no node with room, taints,
/// affinity. Under `placement: Spill` such a Wasm pod is made up for at once.
pub fn unschedulable(pod: &CachedPod) -> Option<PodFailure> {
    let scheduled = pod.condition("PodScheduled")?;
    let why = pod
        .status
        .as_ref()?
        .unschedulable
        .as_deref()
        .filter(|_| scheduled.status == "False")?;
    Some(PodFailure {
        reason: reason::UNSCHEDULABLE,
        message: truncate(
            &format!("pod {}: {why}", pod.metadata.name.as_deref().unwrap_or("?")),
            500,
        ),
        pod: None,
    })
}

/// Judge the pods of a workload at wall-clock `now`: the first failure, or when the earliest
/// startup deadline passes.
pub fn detect(
    pods: &[&CachedPod],
    sandbox: &[SandboxFailure],
    now: Timestamp,
    startup_timeout: Duration,
    was_ready: &dyn Fn(&CachedPod) -> bool,
) -> Health {
    let mut recheck_in: Option<Duration> = None;
    for pod in pods {
        match judge(pod, sandbox, now, startup_timeout, was_ready) {
            PodState::Failed(f) => {
                return Health {
                    failure: Some(f),
                    recheck_in: None,
                }
            }
            PodState::Starting { left } if pod.metadata.creation_timestamp.is_some() => {
                recheck_in = Some(recheck_in.map_or(left, |r| r.min(left)));
            }
            _ => {}
        }
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

    fn never(_: &CachedPod) -> bool {
        false
    }

    #[test]
    fn a_healthy_ready_pod_is_no_failure() {
        let mut p = pod("ok", "hello", "wasm", true, true, true);
        set_times(&mut p, 100, 101);
        assert_eq!(detect(&[&p], &[], at(1000), TIMEOUT, &never), Health::default());
    }

    #[test]
    fn crash_loop_triggers_and_names_the_pod() {
        let mut p = pod("bad", "hello", "wasm", true, false, false);
        set_times(&mut p, 100, 0);
        set_waiting(&mut p, "CrashLoopBackOff", "back-off 10s restarting failed container");
        let h = detect(&[&p], &[], at(110), TIMEOUT, &never);
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
        let f = detect(&[&p], &[ev], at(101), TIMEOUT, &never).failure.unwrap();
        assert_eq!(f.reason, "SandboxFailed");
        assert!(f.message.contains("no runtime for \"spin\" is configured"));
    }

    #[test]
    fn not_ready_in_time_times_out_and_before_that_says_when_to_look_again() {
        let mut p = pod("slow", "hello", "wasm", true, true, false);
        set_times(&mut p, 100, 0);
        let h = detect(&[&p], &[], at(130), TIMEOUT, &never);
        assert_eq!(h.failure, None);
        assert_eq!(h.recheck_in, Some(Duration::from_secs(30)));
        let f = detect(&[&p], &[], at(160), TIMEOUT, &never).failure.unwrap();
        assert_eq!(
            (f.reason, f.message.as_str()),
            ("StartupTimeout", "pod slow not Ready within 60 s")
        );
    }

    #[test]
    fn a_creation_time_ahead_of_our_clock_counts_as_just_created() {
        let mut p = pod("skewed", "hello", "wasm", true, true, false);
        set_times(&mut p, 200, 0);
        let h = detect(&[&p], &[], at(190), TIMEOUT, &never);
        assert_eq!((h.failure, h.recheck_in), (None, Some(TIMEOUT)));
    }

    #[test]
    fn a_pod_that_was_ready_and_lost_it_is_no_startup_timeout() {
        // A container runtime restart: the pod started long ago, was Ready, and is not now.
        let mut p = pod("blinked", "hello", "wasm", true, true, false);
        set_times(&mut p, 100, 0);
        let was_ready = |_: &CachedPod| true;
        assert_eq!(detect(&[&p], &[], at(1000), TIMEOUT, &was_ready), Health::default());
        assert_eq!(
            detect(&[&p], &[], at(1000), TIMEOUT, &never).failure.unwrap().reason,
            "StartupTimeout",
            "one never Ready still times out"
        );
        // The operator restarted with the node's runtime, so its watch never saw the pod Ready;
        // the kubelet's restart count says the container had started.
        p.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0].restart_count = 1;
        assert_eq!(detect(&[&p], &[], at(1000), TIMEOUT, &never), Health::default());
    }

    fn node_with_ready(
        name: &str,
        status: &str,
        changed_secs: i64,
    ) -> std::sync::Arc<k8s_openapi::api::core::v1::Node> {
        use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
        std::sync::Arc::new(Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: None,
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    last_transition_time: Some(Time(at(changed_secs))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn on_node(mut p: CachedPod, node: &str) -> CachedPod {
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        p
    }

    #[test]
    fn a_failure_the_node_shares_is_the_node_s() {
        let failing = FailingPod {
            node: Some("n1".into()),
            created: Some(at(100)),
        };
        let healthy = [node_with_ready("n1", "True", 50)];
        assert_eq!(node_trouble(&failing, &healthy, &[], &never), None, "a Wasm failure");
        // The node went NotReady and back after the pod was created.
        let flapped = [node_with_ready("n1", "True", 150)];
        assert!(node_trouble(&failing, &flapped, &[], &never)
            .unwrap()
            .contains("became Ready again"));
        let down = [node_with_ready("n1", "False", 150)];
        assert!(node_trouble(&failing, &down, &[], &never)
            .unwrap()
            .contains("not Ready"));
        // A container pod on the same node that had been Ready lost it too.
        let ctr = on_node(pod("web-1", "web", "container", true, true, false), "n1");
        let elsewhere = on_node(pod("web-2", "web", "container", true, true, false), "n2");
        let was_ready = |_: &CachedPod| true;
        assert!(node_trouble(&failing, &healthy, &[&ctr], &was_ready)
            .unwrap()
            .contains("container pod web-1 on node n1"));
        assert_eq!(node_trouble(&failing, &healthy, &[&elsewhere], &was_ready), None);
        assert_eq!(
            node_trouble(&failing, &healthy, &[&ctr], &never),
            None,
            "a container that never came up fails for its own reasons"
        );
    }

    #[test]
    fn terminating_pods_are_ignored() {
        let mut p = pod("going", "hello", "wasm", true, false, false);
        set_times(&mut p, 100, 0);
        set_waiting(&mut p, "CrashLoopBackOff", "");
        p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
        assert_eq!(detect(&[&p], &[], at(1000), TIMEOUT, &never), Health::default());
    }
}
