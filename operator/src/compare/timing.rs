//! Starting a batch of comparison pods and timing each from its creation to Ready on this
//! process's clock, from a watch on the run's label; a pod that fails or is not Ready in time is
//! a failure with its reason.

use crate::api::crd::{Mode, WasmWorkload};
use crate::compare::error::CompareError;
use crate::compare::pods::{comparison_pod, PodPlan};
use crate::compare::stats::{Outcome, Phases, Run};
use crate::decide::discovery::Chosen;
use crate::decide::failure::waiting_reason_category;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The run's pods as the watch delivers them.
pub type PodEvents = BoxStream<'static, Result<Pod, kube::runtime::watcher::Error>>;

/// What every pod of a run shares.
pub struct Batches<'a> {
    pub pods: &'a Api<Pod>,
    pub wl: &'a WasmWorkload,
    pub chosen: &'a Chosen,
    pub node: &'a str,
    pub run: &'a str,
    pub ready_timeout: Duration,
    /// Names of the pods created and not yet removed: the caller removes them whatever happens.
    pub created: Vec<String>,
    /// Whether each mode's image is on the node already (a start of one that is not pulls it).
    pub present: HashMap<Mode, bool>,
    pub watch: PodEvents,
    next_index: usize,
}

/// How one pod stands: Ready, failed with a reason, or neither yet.
fn judge(pod: &Pod) -> Option<Result<(), String>> {
    let status = pod.status.as_ref()?;
    if condition_true(pod, "Ready") {
        return Some(Ok(()));
    }
    if status.phase.as_deref() == Some("Failed") {
        // The pod's own reason (DeadlineExceeded, Evicted…), else its container's (StartError
        // with the runtime's message), else the bare phase.
        let container = status.container_statuses.iter().flatten().find_map(|c| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            let reason = t.reason.clone().unwrap_or_else(|| format!("exit code {}", t.exit_code));
            Some(match &t.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            })
        });
        return Some(Err(status
            .reason
            .clone()
            .or(container)
            .unwrap_or_else(|| "Failed".into())));
    }
    status.container_statuses.iter().flatten().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let category = waiting_reason_category(waiting.reason.as_deref()?)?;
        Some(Err(format!(
            "{category}: {}",
            waiting.message.clone().unwrap_or_default()
        )))
    })
}

fn condition_true(pod: &Pod, type_: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

fn containers_running(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

/// A pod started and not yet judged.
struct Starting {
    mode: Mode,
    /// When its creation returned, on this process's clock.
    created: Instant,
    first: bool,
    phases: Phases,
}

impl<'a> Batches<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pods: &'a Api<Pod>,
        wl: &'a WasmWorkload,
        chosen: &'a Chosen,
        node: &'a str,
        run: &'a str,
        ready_timeout: Duration,
        present: HashMap<Mode, bool>,
        watch: PodEvents,
    ) -> Self {
        Self {
            pods,
            wl,
            chosen,
            node,
            run,
            ready_timeout,
            created: vec![],
            present,
            watch,
            next_index: 0,
        }
    }

    /// Start one pod of each of `modes` at once, kept `extra_life` beyond the Ready timeout
    /// before the kubelet stops them; wait until each is judged. Each result comes with its
    /// pod's name; `judged` is told of each as it comes.
    pub async fn start(
        &mut self,
        modes: &[Mode],
        extra_life: Duration,
        judged: &mut (dyn FnMut(&Run) + Send),
    ) -> Result<Vec<(String, Run)>, CompareError> {
        let deadline = (self.ready_timeout + extra_life).as_secs() + 60;
        let mut pending: HashMap<String, Starting> = HashMap::new();
        for mode in modes {
            let plan = PodPlan {
                run: self.run.to_string(),
                index: self.next_index,
                mode: *mode,
                node: self.node.to_string(),
                deadline_seconds: i64::try_from(deadline).unwrap_or(i64::MAX),
            };
            self.next_index += 1;
            let pod = comparison_pod(self.wl, self.chosen, &plan)
                .ok_or_else(|| CompareError::Refused("the workload renders no pod".into()))?;
            let first = !self.present.insert(*mode, true).unwrap_or(false);
            let made = self.pods.create(&PostParams::default(), &pod).await?;
            self.created.push(made.name_any());
            pending.insert(
                made.name_any(),
                Starting {
                    mode: *mode,
                    created: Instant::now(),
                    first,
                    phases: Phases::default(),
                },
            );
        }
        let mut out = vec![];
        let started = Instant::now();
        while !pending.is_empty() {
            let left = self.ready_timeout.saturating_sub(started.elapsed());
            let pod = match tokio::time::timeout(left, self.watch.try_next()).await {
                Ok(Ok(Some(p))) => p,
                Ok(Ok(None)) | Ok(Err(_)) => continue,
                Err(_) => {
                    let reason = format!("not Ready within {} s", self.ready_timeout.as_secs());
                    for (name, p) in pending.drain() {
                        let run = Run {
                            mode: p.mode,
                            first_on_node: p.first,
                            outcome: Outcome::Failed { reason: reason.clone() },
                        };
                        judged(&run);
                        out.push((name, run));
                    }
                    break;
                }
            };
            let name = pod.name_any();
            let Some(entry) = pending.get_mut(&name) else { continue };
            let since = entry.created.elapsed().as_secs_f64();
            if entry.phases.scheduled.is_none() && condition_true(&pod, "PodScheduled") {
                entry.phases.scheduled = Some(since);
            }
            if entry.phases.started.is_none() && containers_running(&pod) {
                entry.phases.started = Some(since);
            }
            if let Some(verdict) = judge(&pod) {
                let p = pending.remove(&name).expect("present");
                let run = Run {
                    mode: p.mode,
                    first_on_node: p.first,
                    outcome: match verdict {
                        Ok(()) => Outcome::Ready {
                            seconds: since,
                            phases: p.phases,
                        },
                        Err(reason) => Outcome::Failed { reason },
                    },
                };
                judged(&run);
                out.push((name, run));
            }
        }
        Ok(out)
    }

    /// Remove these pods now.
    pub async fn remove(&mut self, names: &[String]) -> Result<(), CompareError> {
        for name in names {
            self.pods
                .delete(name, &kube::api::DeleteParams::default().grace_period(0))
                .await?;
            self.created.retain(|c| c != name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    #[test]
    fn a_failed_pod_is_judged_with_the_most_precise_reason_at_hand() {
        let start_error = pod(json!({"phase": "Failed", "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 0, "image": "", "imageID": "",
            "state": {"terminated": {"exitCode": 128, "reason": "StartError",
                                     "message": "exec: \"sleep\": executable file not found in $PATH"}}}]}));
        assert_eq!(
            judge(&start_error),
            Some(Err(
                "StartError: exec: \"sleep\": executable file not found in $PATH".into()
            ))
        );
        let deadline = pod(json!({"phase": "Failed", "reason": "DeadlineExceeded"}));
        assert_eq!(judge(&deadline), Some(Err("DeadlineExceeded".into())));
        let exited = pod(json!({"phase": "Failed", "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 0, "image": "", "imageID": "",
            "state": {"terminated": {"exitCode": 3}}}]}));
        assert_eq!(judge(&exited), Some(Err("exit code 3".into())));
        let ready = pod(json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}));
        assert_eq!(judge(&ready), Some(Ok(())));
        assert_eq!(judge(&pod(json!({"phase": "Pending"}))), None, "not yet");
    }
}
