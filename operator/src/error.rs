//! The operator's one error type. Metric labels come from `category`, never from a message.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),

    #[error("could not serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("WasmWorkload {0} has no namespace")]
    NoNamespace(String),

    #[error("could not read the cached WasmWorkload: {source}")]
    Deserialize {
        #[source]
        source: serde_json::Error,
    },
}

/// Every value `Error::category` can return.
pub const CATEGORIES: &[&str] = &[
    "conflict",
    "throttled",
    "gone",
    "rejected",
    "server_error",
    "unreachable",
    "serialize",
    "no_namespace",
    "deserialize",
];

impl Error {
    /// A bounded label for `wasm_operator_reconcile_errors_total{reason}`.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) => match status.code {
                409 => "conflict",
                429 => "throttled",
                404 | 410 => "gone",
                400..=499 => "rejected",
                _ => "server_error",
            },
            Error::Kube(_) => "unreachable",
            Error::Serialize { .. } => "serialize",
            Error::NoNamespace(_) => "no_namespace",
            Error::Deserialize { .. } => "deserialize",
        }
    }
}

impl Error {
    /// How long the API server asked us to wait (a 429's or 5xx's `retryAfterSeconds`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Kube(kube::Error::Api(status)) => status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s))),
            _ => None,
        }
    }
}

/// Per-object exponential backoff for failed reconciles: base, 2×base, 4×base … capped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s … up to 5 minutes.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(16);
        self.base.saturating_mul(1 << exp).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::default();
        let d: Vec<u64> = (1..=12).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn retry_after_comes_from_the_status_details() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 429, "reason": "TooManyRequests", "message": "slow down",
            "details": {"retryAfterSeconds": 3}
        }))
        .unwrap();
        assert_eq!(
            Error::Kube(kube::Error::Api(Box::new(status))).retry_after(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(Error::NoNamespace("x".into()).retry_after(), None);
    }

    #[test]
    fn categories_are_bounded() {
        let api = |code| {
            Error::Kube(kube::Error::Api(Box::new(
                kube::core::Status::failure("m", "r").with_code(code),
            )))
        };
        assert_eq!(api(409).category(), "conflict");
        assert_eq!(api(429).category(), "throttled");
        assert_eq!(api(500).category(), "server_error");
        assert_eq!(api(422).category(), "rejected");
        for code in [400, 404, 409, 410, 422, 429, 500, 503] {
            assert!(CATEGORIES.contains(&api(code).category()));
        }
        assert!(CATEGORIES.contains(&Error::NoNamespace("x".into()).category()));
    }
}
