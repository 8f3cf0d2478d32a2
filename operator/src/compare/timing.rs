//! Starting a batch of comparison pods and timing each from its creation to Ready on this
//! process's clock, from a watch on the run's label, and (with `--http`) to its app's first 2xx
//! answer through the pod proxy; a pod that fails, is not Ready or gives no answer in time is a
//! failure with its reason.

use crate::api::crd::{Mode, WasmWorkload};
use crate::compare::error::CompareError;
use crate::compare::first_response::first_response;
use crate::compare::pods::{comparison_pod, PodPlan};
use crate::compare::stats::{Outcome, Phases, Run};
use crate::decide::discovery::Chosen;
use crate::decide::failure::waiting_reason_category;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How much longer than the Ready timeout a batch waits for the polls of `--http` to end.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// The run's pods as the watch delivers them.
pub type PodEvents = BoxStream<'static, Result<Pod, kube::runtime::watcher::Error>>;

/// Ask the app of each pod for `path` on `port` until it answers (`compare --http PATH`).
#[derive(Clone, Debug)]
pub struct HttpCheck {
    pub path: String,
    pub port: i32,
}

/// What every pod of a run shares.
pub struct Batches<'a> {
    pub client: &'a kube::Client,
    pub http: Option<HttpCheck>,
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
    /// Creation → Ready, once seen.
    ready: Option<f64>,
    /// Creation → first 2xx (or why none), once known; asked only with `--http`.
    answer: Option<Result<f64, String>>,
}

impl Starting {
    /// The run, once everything it waits for is known.
    fn outcome(&self, http: bool) -> Option<Outcome> {
        let seconds = self.ready?;
        match (&self.answer, http) {
            (_, false) => Some(Outcome::Ready {
                seconds,
                phases: self.phases,
                first_response: None,
            }),
            (None, true) => None,
            (Some(Ok(first)), true) => Some(Outcome::Ready {
                seconds,
                phases: self.phases,
                first_response: Some(*first),
            }),
            (Some(Err(why)), true) => Some(Outcome::Failed { reason: why.clone() }),
        }
    }
}

impl<'a> Batches<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: &'a kube::Client,
        http: Option<HttpCheck>,
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
            client,
            http,
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
        let mut answers: FuturesUnordered<BoxFuture<'a, (String, Result<f64, String>)>> = FuturesUnordered::new();
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
            let created = Instant::now();
            let name = made.name_any();
            self.created.push(name.clone());
            if let Some(check) = self.http.clone() {
                let (client, ns, timeout) = (self.client, made.namespace().unwrap_or_default(), self.ready_timeout);
                let pod_name = name.clone();
                answers.push(Box::pin(async move {
                    let answer =
                        first_response(client, &ns, &pod_name, check.port, &check.path, created, timeout).await;
                    (pod_name, answer)
                }));
            }
            pending.insert(
                name,
                Starting {
                    mode: *mode,
                    created,
                    first,
                    phases: Phases::default(),
                    ready: None,
                    answer: None,
                },
            );
        }
        let http = self.http.is_some();
        let mut out = vec![];
        let started = Instant::now();
        // The polls give up on their own at the timeout, counted from each pod's creation:
        // the batch waits a little longer for their verdicts.
        let batch_timeout = self.ready_timeout + if http { ANSWER_GRACE } else { Duration::ZERO };
        while !pending.is_empty() {
            let left = batch_timeout.saturating_sub(started.elapsed());
            let name = tokio::select! {
                event = tokio::time::timeout(left, self.watch.try_next()) => match event {
                    Ok(Ok(Some(pod))) => {
                        let name = pod.name_any();
                        let Some(entry) = pending.get_mut(&name) else { continue };
                        let since = entry.created.elapsed().as_secs_f64();
                        if entry.phases.scheduled.is_none() && condition_true(&pod, "PodScheduled") {
                            entry.phases.scheduled = Some(since);
                        }
                        if entry.phases.started.is_none() && containers_running(&pod) {
                            entry.phases.started = Some(since);
                        }
                        match judge(&pod) {
                            Some(Ok(())) => {
                                entry.ready.get_or_insert(since);
                            }
                            // A pod that fails is done, whatever its app said.
                            Some(Err(reason)) => entry.answer = Some(Err(reason)),
                            None => {}
                        }
                        name
                    }
                    Ok(Ok(None)) | Ok(Err(_)) => continue,
                    Err(_) => {
                        for (name, p) in pending.drain() {
                            let reason = match (&p.ready, &p.answer) {
                                (Some(_), _) => "no 2xx answer within the timeout".to_string(),
                                (None, Some(Err(why))) => why.clone(),
                                (None, _) => format!("not Ready within {} s", self.ready_timeout.as_secs()),
                            };
                            let run = Run {
                                mode: p.mode,
                                first_on_node: p.first,
                                outcome: Outcome::Failed { reason },
                            };
                            judged(&run);
                            out.push((name, run));
                        }
                        break;
                    }
                },
                Some((name, answer)) = answers.next(), if !answers.is_empty() => {
                    let Some(entry) = pending.get_mut(&name) else { continue };
                    entry.answer.get_or_insert(answer);
                    name
                }
            };
            let Some(entry) = pending.get(&name) else { continue };
            let failed = matches!(entry.answer, Some(Err(_))) && (entry.ready.is_none() || http);
            let outcome = if failed {
                entry
                    .answer
                    .clone()
                    .and_then(|a| a.err())
                    .map(|reason| Outcome::Failed { reason })
            } else {
                entry.outcome(http)
            };
            if let Some(outcome) = outcome {
                let p = pending.remove(&name).expect("present");
                let run = Run {
                    mode: p.mode,
                    first_on_node: p.first,
                    outcome,
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
