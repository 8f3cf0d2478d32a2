//! How loud a watch error is. An API server answers a watch whose resource version it no
//! longer keeps (after its own restart, or a long disconnect) with 410 Gone; the watcher then
//! lists again: routine, logged at info and counted per kind. Other errors are retried with
//! backoff; they become warnings only when they persist, so a blip of the API server does not
//! read as trouble in the operator's log.

use kube::runtime::watcher;
use std::time::{Duration, Instant};

/// How long a watch keeps failing, with no event in between, before it is worth a warning.
pub const PERSISTS_AFTER: Duration = Duration::from_secs(30);
/// While a failure persists, one warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What to make of one error of a watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loudness {
    /// 410 Gone: the watcher lists again. Info, and the re-list counter.
    Relist,
    /// A failure retried with backoff, not (yet) persisting: info.
    Transient,
    /// A failure that has lasted PERSISTS_AFTER: a warning (at most once per WARN_EVERY).
    Persistent,
    /// Still persisting, warned about recently: debug.
    StillFailing,
}

/// Whether the API server said the watch's resource version is too old.
pub fn is_gone(err: &watcher::Error) -> bool {
    let code = match err {
        watcher::Error::WatchError(status) => Some(status.code),
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            match e {
                kube::Error::Api(status) => Some(status.code),
                _ => None,
            }
        }
        watcher::Error::NoResourceVersion => None,
    };
    code == Some(410)
}

/// The failure streak of one watch.
#[derive(Debug, Default)]
pub struct WatchErrors {
    /// When the current streak of failures began.
    since: Option<Instant>,
    last_warned: Option<Instant>,
    /// Failures in the current streak.
    pub failures: u32,
}

impl WatchErrors {
    /// An event arrived: the watch works; returns how many failures the streak had.
    pub fn recovered(&mut self) -> u32 {
        self.since = None;
        self.last_warned = None;
        std::mem::take(&mut self.failures)
    }

    /// Judge an error at `now`.
    pub fn judge(&mut self, err: &watcher::Error, now: Instant) -> Loudness {
        if is_gone(err) {
            // The re-list that follows is normal operation, not part of a failure streak.
            return Loudness::Relist;
        }
        self.failures += 1;
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) < PERSISTS_AFTER {
            return Loudness::Transient;
        }
        match self.last_warned {
            Some(t) if now.duration_since(t) < WARN_EVERY => Loudness::StillFailing,
            _ => {
                self.last_warned = Some(now);
                Loudness::Persistent
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn gone() -> watcher::Error {
        let mut s = Status::failure("too old resource version: 12 (3456)", "Expired");
        s.code = 410;
        watcher::Error::WatchError(Box::new(s))
    }

    fn refused() -> watcher::Error {
        let mut s = Status::failure(
            "the server is currently unable to handle the request",
            "ServiceUnavailable",
        );
        s.code = 503;
        watcher::Error::WatchFailed(kube::Error::Api(Box::new(s)))
    }

    #[test]
    fn a_410_is_a_relist_whatever_else_happens() {
        let mut w = WatchErrors::default();
        let t0 = Instant::now();
        assert_eq!(w.judge(&gone(), t0), Loudness::Relist);
        assert_eq!(w.failures, 0, "not a failure");
        let mut s = Status::failure("gone", "Gone");
        s.code = 410;
        assert!(is_gone(&watcher::Error::InitialListFailed(kube::Error::Api(Box::new(
            s
        )))));
        assert!(!is_gone(&refused()));
    }

    #[test]
    fn failures_warn_only_once_they_persist_and_then_once_a_minute() {
        let mut w = WatchErrors::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(w.judge(&refused(), at(0)), Loudness::Transient);
        assert_eq!(w.judge(&refused(), at(10)), Loudness::Transient);
        assert_eq!(w.judge(&refused(), at(30)), Loudness::Persistent);
        assert_eq!(w.judge(&refused(), at(60)), Loudness::StillFailing);
        assert_eq!(w.judge(&refused(), at(95)), Loudness::Persistent);
        assert_eq!(w.recovered(), 5);
        assert_eq!(
            w.judge(&refused(), at(100)),
            Loudness::Transient,
            "an event ends the streak"
        );
    }
}
