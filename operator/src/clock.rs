//! The wall clock reconciles judge time by (startup deadlines, fallback cooldowns), which
//! controller tests move forward instead of waiting minutes for a cooldown to end.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The system clock, plus an offset that only tests set.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.checked_add(SignedDuration::from_secs(self.offset_secs.load(Ordering::Relaxed)))
            .unwrap_or(now)
    }

    /// Move the clock forward (tests).
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_copy() {
        let c = Clock::default();
        let copy = c.clone();
        let before = copy.now();
        c.advance(600);
        assert!(copy.now().duration_since(before).as_secs() >= 600);
    }
}
