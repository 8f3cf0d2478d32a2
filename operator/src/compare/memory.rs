//! Memory working set of comparison pods, from `metrics.k8s.io` PodMetrics: whether the cluster
//! serves it, and the figure of each pod once metrics-server has scraped it.

use crate::compare::pods::RUN_KEY;
use crate::report::footprint::{pod_metrics_resource, pod_working_set};
use kube::api::{Api, DynamicObject, ListParams};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn pod_metrics(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pod_metrics_resource())
}

/// Why there will be no memory figures, or None when `metrics.k8s.io` answers.
pub async fn not_served(client: &kube::Client, ns: &str) -> Option<String> {
    let err = pod_metrics(client, ns)
        .list(&ListParams::default().limit(1))
        .await
        .err()?;
    Some(match err {
        kube::Error::Api(s) if s.code == 404 || s.code == 503 => {
            format!(
                "metrics.k8s.io is not served here ({}); install metrics-server for memory figures",
                s.code
            )
        }
        kube::Error::Api(s) if s.code == 403 => {
            format!("metrics.k8s.io is not available to you: listing pods.metrics.k8s.io in {ns} is forbidden")
        }
        e => format!("metrics.k8s.io is not available: {e}"),
    })
}

/// Working set of each named pod the list reports: the sum over its containers.
pub fn working_sets(items: &[DynamicObject], names: &[String]) -> HashMap<String, i64> {
    items
        .iter()
        .filter_map(|pm| {
            let name = pm.metadata.name.clone()?;
            names.contains(&name).then_some(())?;
            Some((name, pod_working_set(pm)?))
        })
        .collect()
}

/// Poll the run's PodMetrics until every pod of `names` has a figure or `wait` has passed
/// (metrics-server scrapes every 15 s or so, so a new pod needs some); what came by then.
pub async fn wait_for(
    client: &kube::Client,
    ns: &str,
    run: &str,
    names: &[String],
    wait: Duration,
    every: Duration,
) -> HashMap<String, i64> {
    let api = pod_metrics(client, ns);
    let params = ListParams::default().labels(&format!("{RUN_KEY}={run}"));
    let until = Instant::now() + wait;
    let mut found = HashMap::new();
    loop {
        if let Ok(list) = api.list(&params).await {
            found.extend(working_sets(&list.items, names));
        }
        if names.iter().all(|n| found.contains_key(n)) || Instant::now() + every > until {
            return found;
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_s_working_set_is_the_sum_of_its_containers() {
        let pm = |name: &str, mems: &[&str]| {
            serde_json::from_value::<DynamicObject>(json!({
                "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                "metadata": {"name": name, "namespace": "demo"},
                "containers": mems.iter().map(|m| json!({"name": "c", "usage": {"cpu": "0", "memory": m}})).collect::<Vec<_>>()
            }))
            .unwrap()
        };
        let items = [
            pm("a", &["6Mi", "512Ki"]),
            pm("b", &["1Mi"]),
            pm("c", &["not a quantity"]),
        ];
        let names = ["a", "c", "d"].map(String::from);
        let got = working_sets(&items, &names);
        assert_eq!(got.get("a"), Some(&(6 * 1024 * 1024 + 512 * 1024)));
        assert!(!got.contains_key("b"), "not asked for");
        assert!(!got.contains_key("c"), "an unreadable figure is no figure");
    }
}
