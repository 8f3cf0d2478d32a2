//! The arithmetic and the fairness rules of a comparison, pure: in which order the pods of the
//! two modes start (alternating, so a slow minute hurts both alike), which start is a first
//! start on the node (image not present yet: pull included, kept apart from warm starts), and
//! the summary per mode. A pod that never became Ready is a failure with its reason, never a
//! time.

use crate::api::crd::Mode;
use serde::Serialize;

/// The modes in start order for `pods` pods of each: Wasm, container, Wasm, container…
pub fn alternation(pods: usize) -> Vec<Mode> {
    (0..pods).flat_map(|_| [Mode::Wasm, Mode::Container]).collect()
}

/// How one pod of the comparison ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Creation → Ready, in seconds, with the phases the pod status gave, and creation → the
    /// app's first 2xx answer when it was asked (`--http`).
    Ready {
        seconds: f64,
        phases: Phases,
        first_response: Option<f64>,
    },
    /// Never Ready: why (an image pull failure, a sandbox failure, the deadline…).
    Failed { reason: String },
}

/// Creation → each phase, in seconds, where the pod status gave it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phases {
    pub scheduled: Option<f64>,
    pub started: Option<f64>,
}

/// One pod of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub mode: Mode,
    /// Its image was not on the node before it started (the start includes the pull).
    pub first_on_node: bool,
    pub outcome: Outcome,
}

/// p50, p95, min and max of some seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    pub samples: usize,
    pub p50: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The spread of `values`; None without any.
pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some(Spread {
        samples: sorted.len(),
        p50: quantile(&sorted, 0.5),
        p95: quantile(&sorted, 0.95),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
    })
}

/// What one mode showed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeSummary {
    /// Warm starts: the image was on the node already.
    pub warm: Option<Spread>,
    /// First starts on the node, pull included, kept apart.
    pub first: Option<Spread>,
    pub scheduled: Option<Spread>,
    pub started: Option<Spread>,
    /// Reasons of the pods that never became Ready.
    pub failures: Vec<String>,
    /// The warm starts themselves, in start order (seconds).
    pub warm_seconds: Vec<f64>,
    /// The first starts themselves (seconds).
    pub first_seconds: Vec<f64>,
    /// Creation → the app's first 2xx answer, of the warm starts (`--http`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_response: Option<Spread>,
    /// Those first responses themselves, in start order (seconds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_response_seconds: Vec<f64>,
    /// Ready − first response, pod by pod: what the readiness probe's period adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_lag: Option<Spread>,
}

/// Summarise the runs of one mode.
pub fn summarise(runs: &[Run], mode: Mode) -> ModeSummary {
    let mine: Vec<&Run> = runs.iter().filter(|r| r.mode == mode).collect();
    let ready = |first: bool| -> Vec<f64> {
        mine.iter()
            .filter(|r| r.first_on_node == first)
            .filter_map(|r| match r.outcome {
                Outcome::Ready { seconds, .. } => Some(seconds),
                Outcome::Failed { .. } => None,
            })
            .collect()
    };
    let phase = |pick: fn(&Phases) -> Option<f64>| -> Vec<f64> {
        mine.iter()
            .filter(|r| !r.first_on_node)
            .filter_map(|r| match &r.outcome {
                Outcome::Ready { phases, .. } => pick(phases),
                Outcome::Failed { .. } => None,
            })
            .collect()
    };
    let (warm_seconds, first_seconds) = (ready(false), ready(true));
    let answered: Vec<(f64, f64)> = mine
        .iter()
        .filter(|r| !r.first_on_node)
        .filter_map(|r| match r.outcome {
            Outcome::Ready {
                seconds,
                first_response: Some(first),
                ..
            } => Some((seconds, first)),
            _ => None,
        })
        .collect();
    let first_response_seconds: Vec<f64> = answered.iter().map(|(_, f)| *f).collect();
    let lags: Vec<f64> = answered.iter().map(|(ready, first)| ready - first).collect();
    ModeSummary {
        first_response: spread(&first_response_seconds),
        first_response_seconds,
        ready_lag: spread(&lags),
        warm: spread(&warm_seconds),
        first: spread(&first_seconds),
        scheduled: spread(&phase(|p| p.scheduled)),
        started: spread(&phase(|p| p.started)),
        failures: mine
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Failed { reason } => Some(reason.clone()),
                Outcome::Ready { .. } => None,
            })
            .collect(),
        warm_seconds,
        first_seconds,
    }
}

/// Wasm ÷ container of two figures, when both are there and the container one is not zero.
pub fn ratio(wasm: Option<f64>, container: Option<f64>) -> Option<f64> {
    match (wasm, container) {
        (Some(w), Some(c)) if c > 0.0 => Some(w / c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(mode: Mode, first: bool, seconds: f64) -> Run {
        Run {
            mode,
            first_on_node: first,
            outcome: Outcome::Ready {
                first_response: None,
                seconds,
                phases: Phases {
                    scheduled: Some(0.01),
                    started: Some(seconds - 0.05),
                },
            },
        }
    }

    #[test]
    fn modes_alternate() {
        assert_eq!(
            alternation(3),
            [
                Mode::Wasm,
                Mode::Container,
                Mode::Wasm,
                Mode::Container,
                Mode::Wasm,
                Mode::Container
            ]
        );
        assert!(alternation(0).is_empty());
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let s = spread(&[0.5, 0.1, 0.3, 0.2, 0.4]).unwrap();
        assert_eq!((s.samples, s.p50, s.p95, s.min, s.max), (5, 0.3, 0.5, 0.1, 0.5));
        let one = spread(&[0.7]).unwrap();
        assert_eq!((one.p50, one.p95), (0.7, 0.7));
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[f64::NAN]), None, "no time is not a time");
    }

    #[test]
    fn first_starts_are_kept_apart_and_failures_are_not_times() {
        let runs = vec![
            ready(Mode::Wasm, true, 2.0),
            ready(Mode::Container, true, 3.0),
            ready(Mode::Wasm, false, 0.5),
            ready(Mode::Container, false, 0.6),
            ready(Mode::Wasm, false, 0.7),
            Run {
                mode: Mode::Container,
                first_on_node: false,
                outcome: Outcome::Failed {
                    reason: "ImagePullFailed: not found".into(),
                },
            },
        ];
        let wasm = summarise(&runs, Mode::Wasm);
        assert_eq!(wasm.first.unwrap().samples, 1);
        assert_eq!(wasm.first.unwrap().p50, 2.0, "the pull is not mixed into warm starts");
        let warm = wasm.warm.unwrap();
        assert_eq!((warm.samples, warm.min, warm.max), (2, 0.5, 0.7));
        assert_eq!(wasm.started.unwrap().samples, 2, "phases of warm starts only");
        let container = summarise(&runs, Mode::Container);
        assert_eq!(container.warm.unwrap().samples, 1, "the failed pod is no sample");
        assert_eq!(container.failures, ["ImagePullFailed: not found"]);
        assert_eq!(ratio(Some(0.5), Some(1.0)), Some(0.5));
        assert_eq!(ratio(Some(0.5), None), None);
        assert_eq!(ratio(Some(0.5), Some(0.0)), None);
    }
}
