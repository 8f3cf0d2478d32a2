//! The operator's own memory against its container's limit: its RSS and its cgroup's memory
//! limit as gauges, and a warning in the log past 80 %, before the kernel's OOM killer ends it
//! (and, with it, every cache it rebuilds from a full list on restart, at a higher peak).

use std::time::{Duration, Instant};

/// Warn at this share of the limit, and again only after falling below `REARM`.
pub const WARN_AT: f64 = 0.8;
const REARM: f64 = 0.75;
/// While above WARN_AT, one warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(600);

/// The RSS in bytes from the text of `/proc/self/status`.
pub fn rss_bytes(status: &str) -> Option<u64> {
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A cgroup memory limit as its file gives it: cgroup v2's `memory.max` (`max` for none) or
/// v1's `memory.limit_in_bytes` (a number near 2^63 for none). None: no limit.
pub fn limit_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    text.parse::<u64>().ok().filter(|b| *b < (1 << 62))
}

/// The limit of the cgroup this process runs in, as a container sees it (`/sys/fs/cgroup` is
/// its own cgroup): v2 first, then v1.
pub fn read_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok())
    .and_then(|text| limit_bytes(&text))
}

/// When to warn: on crossing WARN_AT, then every WARN_EVERY while above it; falling below
/// REARM starts over.
#[derive(Debug, Default)]
pub struct LimitWatch {
    warned_at: Option<Instant>,
}

impl LimitWatch {
    /// Whether `rss` of `limit` at `now` deserves a warning.
    pub fn check(&mut self, rss: u64, limit: Option<u64>, now: Instant) -> bool {
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return false;
        };
        let share = rss as f64 / limit as f64;
        if share < REARM {
            self.warned_at = None;
            return false;
        }
        if share < WARN_AT {
            return false;
        }
        match self.warned_at {
            Some(t) if now.duration_since(t) < WARN_EVERY => false,
            _ => {
                self.warned_at = Some(now);
                true
            }
        }
    }
}

/// Every `every`, set the gauges, and warn past 80 % of the limit.
pub async fn watch(metrics: crate::report::metrics::Metrics, every: Duration) {
    let mut warn = LimitWatch::default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(rss) = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| rss_bytes(&s))
        else {
            continue;
        };
        let limit = read_limit();
        metrics.memory_rss.set(i64::try_from(rss).unwrap_or(i64::MAX));
        metrics
            .memory_limit
            .set(limit.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)));
        if warn.check(rss, limit, Instant::now()) {
            let (mib, limit_mib) = (rss as f64 / 1048576.0, limit.unwrap_or(0) as f64 / 1048576.0);
            tracing::warn!(
                rss_mib = format!("{mib:.0}"),
                limit_mib = format!("{limit_mib:.0}"),
                "the operator uses {:.0} % of its memory limit: raise it before the OOM killer ends it (README: Sizing)",
                100.0 * mib / limit_mib
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_comes_from_proc_status() {
        let status = "Name:\twasm-operator\nVmPeak:\t  200000 kB\nVmRSS:\t   65536 kB\nThreads:\t4\n";
        assert_eq!(rss_bytes(status), Some(64 * 1048576));
        assert_eq!(rss_bytes("Name: x\n"), None);
    }

    #[test]
    fn limits_of_both_cgroup_versions() {
        assert_eq!(limit_bytes("134217728\n"), Some(128 * 1048576), "v1 or v2 with a limit");
        assert_eq!(limit_bytes("max\n"), None, "v2 without");
        assert_eq!(limit_bytes("9223372036854771712\n"), None, "v1 without");
        assert_eq!(limit_bytes("garbage"), None);
    }

    #[test]
    fn it_warns_past_80_percent_once_then_every_ten_minutes_and_rearms_below_75() {
        let mut w = LimitWatch::default();
        let t0 = Instant::now();
        let limit = Some(1000);
        assert!(!w.check(790, limit, t0));
        assert!(w.check(810, limit, t0));
        assert!(!w.check(900, limit, t0 + Duration::from_secs(60)), "once");
        assert!(
            w.check(900, limit, t0 + Duration::from_secs(601)),
            "still above, ten minutes on"
        );
        assert!(
            !w.check(780, limit, t0 + Duration::from_secs(700)),
            "between 75 and 80 %: quiet"
        );
        assert!(
            !w.check(700, limit, t0 + Duration::from_secs(710)),
            "below 75 %: re-armed"
        );
        assert!(
            w.check(820, limit, t0 + Duration::from_secs(720)),
            "crossing again warns at once"
        );
        assert!(!w.check(10_000, None, t0), "no limit, no warning");
    }
}
