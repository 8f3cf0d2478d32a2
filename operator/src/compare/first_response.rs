//! Time to first response (`compare --http PATH`): after a pod is created, ask its app for PATH
//! through the API server's pod proxy (`/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`) every
//! 10–20 ms until the first 2xx. That is the cold start a user of an HTTP app feels; Ready lags
//! it by up to the readiness probe's period.
//!
//! What counts: a 2xx only. A 503 (nothing listens yet: the proxy cannot connect), a 502 or 500
//! (the proxy's own trouble, the pod not running yet) are not answers, nor is a 404 — that one
//! is the app's own (PATH is wrong) or the proxy's (no such pod): polling goes on, and a pod
//! that never gives a 2xx within the deadline fails with the last answer as its reason.

use std::time::{Duration, Instant};

/// The pause after the `attempt`-th request: 10 to 20 ms, varying, so the polls do not keep in
/// step with anything periodic on the node (the kubelet's probes).
pub fn poll_delay(attempt: u32) -> Duration {
    Duration::from_millis(10 + u64::from(attempt.wrapping_mul(7) % 11))
}

/// What one request through the proxy said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx: the app answered.
    Success,
    /// Anything else, in words, for the failure reason if it stays that way.
    NotYet(String),
}

/// Judge the result of one proxied request: its HTTP status, or why there was none.
pub fn judge(result: Result<u16, String>) -> Answer {
    match result {
        Ok(code) if (200..300).contains(&code) => Answer::Success,
        Ok(503) => Answer::NotYet("503 from the proxy: nothing listens on the port yet".into()),
        Ok(404) => Answer::NotYet("404: the app answered Not Found (is PATH right?), or the pod is gone".into()),
        Ok(code) => Answer::NotYet(format!("HTTP {code}")),
        Err(e) => Answer::NotYet(format!("no answer: {e}")),
    }
}

/// The API server path that reaches `path` on port `port` of pod `ns/pod`.
pub fn proxy_path(ns: &str, pod: &str, port: i32, path: &str) -> String {
    format!(
        "/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{}",
        path.trim_start_matches('/')
    )
}

/// One GET through the proxy: the status code, or why there was none. The body is not read:
/// only whether the app answered matters.
async fn ask(client: &kube::Client, path: &str) -> Result<u16, String> {
    let req = http::Request::get(path)
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|e| e.to_string())?;
    match client.send(req).await {
        Ok(res) => Ok(res.status().as_u16()),
        Err(e) => Err(e.to_string()),
    }
}

/// Poll until the first 2xx: the seconds from `created` to it, or why none came by `deadline`
/// (measured from `created`).
pub async fn first_response(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    port: i32,
    path: &str,
    created: Instant,
    deadline: Duration,
) -> Result<f64, String> {
    let url = proxy_path(ns, pod, port, path);
    let mut last = String::from("not asked yet");
    for attempt in 0u32.. {
        match judge(ask(client, &url).await) {
            Answer::Success => return Ok(created.elapsed().as_secs_f64()),
            Answer::NotYet(why) => last = why,
        }
        if created.elapsed() >= deadline {
            break;
        }
        tokio::time::sleep(poll_delay(attempt)).await;
    }
    Err(format!(
        "no 2xx answer to GET {path} within {} s (last: {last})",
        deadline.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_come_every_10_to_20_ms_and_vary() {
        let delays: Vec<u64> = (0..50).map(|n| poll_delay(n).as_millis() as u64).collect();
        assert!(delays.iter().all(|d| (10..=20).contains(d)), "{delays:?}");
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() >= 5, "not one fixed period: {distinct:?}");
    }

    #[test]
    fn only_a_2xx_is_a_first_response() {
        assert_eq!(judge(Ok(200)), Answer::Success);
        assert_eq!(judge(Ok(204)), Answer::Success);
        for code in [503, 502, 500, 404, 301] {
            assert!(matches!(judge(Ok(code)), Answer::NotYet(_)), "{code}");
        }
        assert!(matches!(judge(Ok(503)), Answer::NotYet(w) if w.contains("nothing listens")));
        assert!(matches!(judge(Ok(404)), Answer::NotYet(w) if w.contains("is PATH right")));
        assert!(matches!(judge(Err("connection reset".into())), Answer::NotYet(w) if w.contains("connection reset")));
    }

    #[test]
    fn the_proxy_path_names_pod_port_and_path() {
        assert_eq!(
            proxy_path("demo", "hello-cmp-1", 8080, "/healthz"),
            "/api/v1/namespaces/demo/pods/hello-cmp-1:8080/proxy/healthz"
        );
        assert_eq!(
            proxy_path("demo", "p", 80, "/"),
            "/api/v1/namespaces/demo/pods/p:80/proxy/"
        );
    }
}
