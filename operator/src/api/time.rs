//! Times as the API writes them: RFC 3339 in UTC, whole seconds (what `metav1.Time` keeps).

use k8s_openapi::jiff::Timestamp;

/// `t` as `2026-12-02T22:00:00Z`.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_in_utc() {
        let t: Timestamp = "2026-12-02T22:00:00.75+01:00".parse().unwrap();
        assert_eq!(rfc3339(t), "2026-12-02T21:00:00Z");
    }
}
