//! Cold-start tracking: for each pod, the time from its creation to its first Ready.
//!
//! API timestamps have one-second resolution, too coarse for Wasm. For pods whose creation the
//! watch saw (a live ADDED event), the tracker times the watch events on a monotonic clock:
//! cold start = instant the pod was first seen Ready − instant it was first seen. Pods it did not
//! see being created (listed at start-up or after a re-list) are timed from the API timestamps and
//! marked `Timing::Api`, so the two are never mixed silently. Each pod counts once.

use crate::api::crd::{ColdStartStatus, Mode};
use crate::api::views::CachedPod;
use std::collections::{HashMap, HashSet, VecDeque};
use tokio::time::Instant;

/// How a sample was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Watch events on the operator's monotonic clock (millisecond resolution).
    Watch,
    /// API timestamps (one-second resolution), for pods the operator did not see being created.
    Api,
}

/// Time from the pod's creation to each phase, where it was observed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phases {
    pub scheduled: Option<f64>,
    pub containers_started: Option<f64>,
}

/// One cold start.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub namespace: String,
    pub workload: String,
    pub mode: String,
    pub runtime_class: String,
    pub seconds: f64,
    pub timing: Timing,
    pub phases: Phases,
}

#[derive(Debug)]
struct PodTrack {
    /// When the watch saw the pod created; `None` when it did not.
    created: Option<Instant>,
    scheduled: Option<Instant>,
    started: Option<Instant>,
    counted: bool,
}

/// The samples of one workload kept for its status: the last `WINDOW` watch-timed ones, in
/// milliseconds.
#[derive(Debug, Default)]
struct Window {
    recent: VecDeque<u32>,
    last: f64,
    total: i64,
    /// Samples counted in status before this process started, read once.
    base: Option<i64>,
}

/// The samples the percentiles are over (and status keeps, so a restart does not lose them).
pub const WINDOW: usize = 64;

fn millis(seconds: f64) -> u32 {
    (seconds * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// A pod's key: a 64-bit hash of its uid (uids are random; a collision among the pods of one
/// cluster is as likely as none at all), a third of the bytes of the uid itself.
fn pod_key(uid: &str) -> u64 {
    crate::api::fnv::of(uid)
}

#[derive(Debug, Default)]
pub struct ColdStartTracker {
    pods: HashMap<u64, PodTrack>,
    windows: HashMap<(String, String), Window>,
    relisted: HashSet<u64>,
}

fn containers_running(pod: &CachedPod) -> bool {
    let statuses = pod.container_statuses();
    !statuses.is_empty()
        && statuses
            .iter()
            .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
}

/// Ready lastTransitionTime − creationTimestamp, from the API (whole seconds).
fn api_cold_start(pod: &CachedPod) -> Option<f64> {
    let created = pod.metadata.creation_timestamp.as_ref()?.0;
    let ready = pod
        .condition("Ready")
        .filter(|c| c.status == "True")?
        .last_transition_time
        .as_ref()?
        .0;
    let secs = ready.duration_since(created).as_secs_f64();
    (secs >= 0.0).then_some(secs)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    // Nearest rank: the smallest sample with at least p of the samples at or below it.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl ColdStartTracker {
    /// Observe a pod as a watch event delivers it at `now`. `live` is true for events of the
    /// running watch (a pod first seen this way was just created), false for (re-)list results.
    pub fn observe(&mut self, pod: &CachedPod, live: bool, now: Instant) -> Option<Sample> {
        let uid = pod_key(pod.metadata.uid.as_deref()?);
        let namespace = pod.metadata.namespace.clone()?;
        let workload = pod.workload.clone()?;
        if !live {
            self.relisted.insert(uid);
        }
        let track = self.pods.entry(uid).or_insert_with(|| PodTrack {
            created: live.then_some(now),
            scheduled: None,
            started: None,
            counted: false,
        });
        if track.counted {
            return None;
        }
        if track.scheduled.is_none() && pod.condition_true("PodScheduled") {
            track.scheduled = Some(now);
        }
        if track.started.is_none() && containers_running(pod) {
            track.started = Some(now);
        }
        if !pod.condition_true("Ready") {
            return None;
        }
        let (seconds, timing, phases) = match track.created {
            Some(created) => {
                let since = |t: Option<Instant>| t.map(|t| t.duration_since(created).as_secs_f64());
                let phases = Phases {
                    scheduled: since(track.scheduled),
                    containers_started: since(track.started),
                };
                (now.duration_since(created).as_secs_f64(), Timing::Watch, phases)
            }
            None => (api_cold_start(pod)?, Timing::Api, Phases::default()),
        };
        track.counted = true;
        let sample = Sample {
            mode: pod.mode.map_or("unknown", Mode::as_label).to_string(),
            runtime_class: pod
                .spec
                .as_ref()
                .and_then(|s| s.runtime_class_name.as_deref())
                .unwrap_or("none")
                .to_string(),
            namespace,
            workload,
            seconds,
            timing,
            phases,
        };
        if timing == Timing::Watch {
            let w = self
                .windows
                .entry((sample.namespace.clone(), sample.workload.clone()))
                .or_default();
            if w.recent.len() == WINDOW {
                w.recent.pop_front();
            }
            w.recent.push_back(millis(seconds));
            w.last = seconds;
            w.total += 1;
        }
        Some(sample)
    }

    /// Whether the pod has been Ready since it was created, as far as the watch saw (a pod
    /// listed Ready counts; one listed not Ready after a restart is taken as never Ready).
    pub fn has_been_ready(&self, uid: &str) -> bool {
        self.pods.get(&pod_key(uid)).is_some_and(|t| t.counted)
    }

    /// The pod is gone.
    pub fn forget_pod(&mut self, uid: &str) {
        self.pods.remove(&pod_key(uid));
    }

    /// A re-list starts: what it does not list again is gone.
    pub fn relist_started(&mut self) {
        self.relisted.clear();
    }

    pub fn relist_done(&mut self) {
        let keep = std::mem::take(&mut self.relisted);
        self.pods.retain(|uid, _| keep.contains(uid));
    }

    pub fn forget_workload(&mut self, namespace: &str, workload: &str) {
        self.windows.remove(&(namespace.to_string(), workload.to_string()));
    }

    /// Pods tracked right now (bounded by the pods that exist).
    pub fn tracked_pods(&self) -> usize {
        self.pods.len()
    }

    /// The workload's cold-start summary from watch-timed samples, or None when this process
    /// has timed none of its pods (status then keeps what it had). `previous` is the summary
    /// in the workload's status: the first call takes its count as the one from before this
    /// process started, and its recent window as the samples before this process's, so both
    /// carry across operator restarts without counting twice and a percentile is always over
    /// the samples it claims.
    pub fn summary(
        &mut self,
        namespace: &str,
        workload: &str,
        previous: Option<&ColdStartStatus>,
    ) -> Option<ColdStartStatus> {
        let w = self.windows.get_mut(&(namespace.to_string(), workload.to_string()))?;
        if w.base.is_none() {
            w.base = Some(previous.map_or(0, |p| p.samples.max(0)));
            let before = previous.map(|p| p.recent_millis.as_slice()).unwrap_or(&[]);
            for ms in before.iter().rev() {
                if w.recent.len() == WINDOW {
                    break;
                }
                w.recent.push_front(*ms);
            }
        }
        let mut sorted: Vec<u32> = w.recent.iter().copied().collect();
        sorted.sort_unstable();
        let seconds = |ms: u32| f64::from(ms) / 1000.0;
        Some(ColdStartStatus {
            last_seconds: (w.last * 1000.0).round() / 1000.0,
            p50_seconds: seconds(percentile(&sorted, 0.5)),
            p95_seconds: seconds(percentile(&sorted, 0.95)),
            samples: w.base.unwrap_or(0) + w.total,
            window_samples: sorted.len() as i64,
            recent_millis: w.recent.iter().copied().collect(),
            // The spec's to say; status fills it in.
            probe_period_seconds: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::pod;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_pod_ready_40ms_after_creation_is_40ms_not_0_or_1s() {
        let mut t = ColdStartTracker::default();
        let t0 = Instant::now();
        assert_eq!(
            t.observe(&pod("p1", "hello", "wasm", false, false, false), true, t0),
            None
        );
        assert_eq!(
            t.observe(&pod("p1", "hello", "wasm", true, false, false), true, t0 + ms(5)),
            None
        );
        assert_eq!(
            t.observe(&pod("p1", "hello", "wasm", true, true, false), true, t0 + ms(30)),
            None
        );
        let s = t
            .observe(&pod("p1", "hello", "wasm", true, true, true), true, t0 + ms(40))
            .unwrap();
        assert!((s.seconds - 0.040).abs() < 1e-9, "{}", s.seconds);
        assert_eq!(s.timing, Timing::Watch);
        assert_eq!(
            (s.mode.as_str(), s.runtime_class.as_str(), s.workload.as_str()),
            ("wasm", "spin", "hello")
        );
        assert_eq!(s.phases.scheduled, Some(0.005));
        assert_eq!(s.phases.containers_started, Some(0.030));
    }

    #[tokio::test(start_paused = true)]
    async fn each_pod_counts_once_across_updates_and_relists() {
        let mut t = ColdStartTracker::default();
        let t0 = Instant::now();
        t.observe(&pod("p1", "hello", "wasm", false, false, false), true, t0);
        assert!(t
            .observe(&pod("p1", "hello", "wasm", true, true, true), true, t0 + ms(50))
            .is_some());
        assert!(
            t.observe(&pod("p1", "hello", "wasm", true, true, true), true, t0 + ms(60))
                .is_none(),
            "update"
        );
        t.relist_started();
        assert!(
            t.observe(&pod("p1", "hello", "wasm", true, true, true), false, t0 + ms(70))
                .is_none(),
            "relist"
        );
        t.relist_done();
        assert_eq!(t.tracked_pods(), 1);
        let s = t.summary("demo", "hello", None).unwrap();
        assert_eq!(s.samples, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn pods_not_seen_created_use_api_timestamps_and_say_so() {
        let mut t = ColdStartTracker::default();
        let mut p = pod("old", "hello", "container", true, true, true);
        crate::tests::fixtures::set_times(&mut p, 100, 103);
        let s = t.observe(&p, false, Instant::now()).unwrap();
        assert_eq!((s.seconds, s.timing), (3.0, Timing::Api));
        assert!(
            t.summary("demo", "hello", None).is_none(),
            "API-timed samples stay out of the ms summary"
        );

        // Listed before Ready (operator restarted mid-start): still API-timed when it gets Ready.
        let mut q = pod("q", "hello", "container", false, false, false);
        crate::tests::fixtures::set_times(&mut q, 100, 0);
        assert!(t.observe(&q, false, Instant::now()).is_none());
        let mut q = pod("q", "hello", "container", true, true, true);
        crate::tests::fixtures::set_times(&mut q, 100, 102);
        assert_eq!(t.observe(&q, true, Instant::now()).unwrap().timing, Timing::Api);
    }

    #[tokio::test(start_paused = true)]
    async fn deleted_and_unlisted_pods_are_forgotten() {
        let mut t = ColdStartTracker::default();
        let t0 = Instant::now();
        t.observe(&pod("a", "hello", "wasm", false, false, false), true, t0);
        t.observe(&pod("b", "hello", "wasm", false, false, false), true, t0);
        t.forget_pod("uid-a");
        assert_eq!(t.tracked_pods(), 1);
        t.relist_started();
        t.relist_done();
        assert_eq!(t.tracked_pods(), 0, "b was not listed again");
    }

    #[tokio::test(start_paused = true)]
    async fn summary_percentiles_and_restart_carry_over() {
        let mut t = ColdStartTracker::default();
        let t0 = Instant::now();
        for (i, delay) in [10u64, 20, 30, 40, 100].iter().enumerate() {
            let name = format!("p{i}");
            t.observe(&pod(&name, "hello", "wasm", false, false, false), true, t0);
            t.observe(&pod(&name, "hello", "wasm", true, true, true), true, t0 + ms(*delay));
        }
        let before = ColdStartStatus {
            samples: 7,
            ..Default::default()
        };
        let s = t.summary("demo", "hello", Some(&before)).unwrap();
        assert_eq!(
            (
                s.last_seconds,
                s.p50_seconds,
                s.p95_seconds,
                s.samples,
                s.window_samples
            ),
            (0.1, 0.03, 0.1, 12, 5)
        );
        assert_eq!(s.recent_millis, vec![10, 20, 30, 40, 100]);
        assert_eq!(
            t.summary("demo", "hello", Some(&s)).unwrap().samples,
            12,
            "status already counts them"
        );
        t.forget_workload("demo", "hello");
        assert!(t.summary("demo", "hello", None).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_restart_one_slow_pod_is_one_sample_among_the_window_not_the_median() {
        // Before the restart: four starts of 0.7–1.6 s, in status. After it, the first pod the
        // new process times took 19.4 s (the scheduler stalled through an API outage).
        let before = ColdStartStatus {
            last_seconds: 0.9,
            p50_seconds: 0.9,
            p95_seconds: 1.6,
            samples: 4,
            window_samples: 4,
            recent_millis: vec![700, 1200, 1600, 900],
            probe_period_seconds: None,
        };
        let mut t = ColdStartTracker::default();
        let t0 = Instant::now();
        t.observe(&pod("slow", "hello", "wasm", false, false, false), true, t0);
        t.observe(&pod("slow", "hello", "wasm", true, true, true), true, t0 + ms(19_421));
        let s = t.summary("demo", "hello", Some(&before)).unwrap();
        assert_eq!(s.window_samples, 5);
        assert_eq!(s.samples, 5);
        assert_eq!(s.last_seconds, 19.421, "the last one is what it was");
        assert_eq!(s.p50_seconds, 1.2, "the median of the five, not the outlier");
        assert_eq!(
            s.p95_seconds, 19.421,
            "p95 of five is the slowest, and says over how many"
        );
        assert_eq!(s.recent_millis, vec![700, 1200, 1600, 900, 19_421]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_keeps_the_latest_64_across_a_restart() {
        let before = ColdStartStatus {
            samples: 100,
            window_samples: 64,
            recent_millis: (1..=64).collect(),
            ..Default::default()
        };
        let mut t = ColdStartTracker::default();
        let t0 = Instant::now();
        t.observe(&pod("p", "hello", "wasm", false, false, false), true, t0);
        t.observe(&pod("p", "hello", "wasm", true, true, true), true, t0 + ms(500));
        let s = t.summary("demo", "hello", Some(&before)).unwrap();
        assert_eq!((s.window_samples, s.samples), (64, 101));
        assert_eq!(s.recent_millis.first(), Some(&2), "the oldest one dropped");
        assert_eq!(s.recent_millis.last(), Some(&500));
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v = [1, 2, 3, 4];
        assert_eq!(percentile(&v, 0.5), 2);
        assert_eq!(percentile(&v, 0.95), 4);
        assert_eq!(percentile(&[7], 0.5), 7);
    }
}
