//! Footprint of a workload's pods: the size of the image they run, from `node.status.images`
//! (exact match on the reference or digest the container status reports), and their memory
//! working set, from `metrics.k8s.io` PodMetrics when metrics-server is installed.

use crate::api::labels::{managed_selector, MODE_KEY, WORKLOAD_KEY};
use crate::api::views::CachedPod;
use crate::report::metrics::Metrics;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Size of the image the pods' application container runs, as a node that has it reports it.
pub fn image_size(pods: &[&CachedPod], nodes: &[Arc<Node>]) -> Option<i64> {
    for pod in pods {
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        // The pod's own node first: it surely has the image.
        let mut ordered: Vec<&Arc<Node>> = nodes
            .iter()
            .filter(|n| n.metadata.name.as_deref() == node_name)
            .collect();
        ordered.extend(nodes.iter().filter(|n| n.metadata.name.as_deref() != node_name));
        for cs in pod.container_statuses() {
            let refs: Vec<&str> = [cs.image_id.as_str(), cs.image.as_str()]
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect();
            for node in &ordered {
                let images = node.status.as_ref().and_then(|s| s.images.as_deref()).unwrap_or(&[]);
                for img in images {
                    let names = img.names.as_deref().unwrap_or(&[]);
                    if names.iter().any(|n| refs.contains(&n.as_str())) {
                        if let Some(size) = img.size_bytes {
                            return Some(size);
                        }
                    }
                }
            }
        }
    }
    None
}

/// The size nodes report for an image named `image` (exactly, or with a registry in front, as
/// containerd lists `docker.io/…`), for commands that know an image by name, not by a pod.
pub fn named_image_size<'a>(nodes: impl IntoIterator<Item = &'a Node>, image: &str) -> Option<i64> {
    let prefixed = format!("/{image}");
    nodes
        .into_iter()
        .filter_map(|n| n.status.as_ref()?.images.as_ref())
        .flatten()
        .find(|i| i.names.iter().flatten().any(|n| n == image || n.ends_with(&prefixed)))
        .and_then(|i| i.size_bytes)
}

/// Bytes of a Kubernetes memory quantity ("5324Ki", "12Mi", "1G", "1048576").
pub fn parse_bytes(q: &str) -> Option<i64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "m" => 1e-3,
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    Some((n * factor).round() as i64)
}

/// metrics.k8s.io's PodMetrics (its plural is "pods").
pub fn pod_metrics_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics");
    ApiResource::from_gvk_with_plural(&gvk, "pods")
}

/// Working set of one pod's PodMetrics: the sum of its containers' figures that can be read;
/// None when none can.
pub fn pod_working_set(pm: &DynamicObject) -> Option<i64> {
    let figures: Vec<i64> = pm.data["containers"]
        .as_array()?
        .iter()
        .filter_map(|c| c["usage"]["memory"].as_str().and_then(parse_bytes))
        .collect();
    (!figures.is_empty()).then(|| figures.iter().sum())
}

/// Mean memory working set per pod, per (namespace, workload, mode), from a PodMetrics list.
pub fn memory_by_workload(items: &[DynamicObject]) -> HashMap<(String, String, String), i64> {
    let mut sums: HashMap<(String, String, String), (i64, i64)> = HashMap::new();
    for pm in items {
        let labels = pm.metadata.labels.as_ref();
        let (Some(ns), Some(workload)) = (pm.metadata.namespace.clone(), labels.and_then(|l| l.get(WORKLOAD_KEY)))
        else {
            continue;
        };
        let mode = labels.and_then(|l| l.get(MODE_KEY)).cloned().unwrap_or_default();
        let bytes = pod_working_set(pm).unwrap_or(0);
        let e = sums.entry((ns, workload.clone(), mode)).or_default();
        e.0 += bytes;
        e.1 += 1;
    }
    sums.into_iter().map(|(k, (sum, n))| (k, sum / n.max(1))).collect()
}

/// The latest memory figures, shared between the poller and the reconciles.
pub type MemoryFigures = Arc<RwLock<HashMap<(String, String, String), i64>>>;

/// Poll PodMetrics of the operator's pods. Without metrics-server: one log line, no series, and
/// a quiet retry every few minutes in case it gets installed.
pub async fn poll_memory(
    client: kube::Client,
    namespace: Option<String>,
    metrics: Metrics,
    figures: MemoryFigures,
    every: Duration,
) {
    let ar = pod_metrics_resource();
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    };
    let params = ListParams::default().labels(&managed_selector());
    let mut announced_absent = false;
    loop {
        let wait = match api.list(&params).await {
            Ok(list) => {
                announced_absent = false;
                let fresh = memory_by_workload(&list.items);
                metrics.workloads.replace_memory(&fresh);
                *figures.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                every
            }
            Err(e) => {
                if !announced_absent {
                    tracing::info!(error = %e, "metrics.k8s.io is not available (no metrics-server?); memory footprint is not exported");
                    announced_absent = true;
                }
                every * 10
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::pod;
    use k8s_openapi::api::core::v1::{ContainerImage, NodeStatus};
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(parse_bytes("5324Ki"), Some(5324 * 1024));
        assert_eq!(parse_bytes("6Mi"), Some(6 * 1024 * 1024));
        assert_eq!(parse_bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse_bytes("262144"), Some(262144));
        assert_eq!(parse_bytes("1.5Gi"), Some(1610612736));
        assert_eq!(parse_bytes("12Xi"), None);
        assert_eq!(parse_bytes("Ki"), None);
    }

    fn node_with_images(name: &str, images: Vec<(Vec<&str>, i64)>) -> Arc<Node> {
        Arc::new(Node {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: None,
            status: Some(NodeStatus {
                images: Some(
                    images
                        .into_iter()
                        .map(|(names, size)| ContainerImage {
                            names: Some(names.into_iter().map(String::from).collect()),
                            size_bytes: Some(size),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn image_size_matches_reference_or_digest_exactly() {
        let mut p = pod("p", "hello", "wasm", true, true, true);
        {
            let cs = &mut p.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0];
            cs.image = "ghcr.io/example/hello-wasm:1.0".into();
            cs.image_id = "ghcr.io/example/hello-wasm@sha256:abc".into();
        }
        let nodes = vec![
            node_with_images("n1", vec![(vec!["docker.io/library/busybox:1.36"], 1_000_000)]),
            node_with_images(
                "n2",
                vec![(
                    vec![
                        "ghcr.io/example/hello-wasm@sha256:abc",
                        "ghcr.io/example/hello-wasm:1.0",
                    ],
                    21_000,
                )],
            ),
        ];
        assert_eq!(image_size(&[&p], &nodes), Some(21_000));
        let near_miss = vec![node_with_images(
            "n1",
            vec![(vec!["ghcr.io/example/hello-wasm:1.01"], 5)],
        )];
        assert_eq!(image_size(&[&p], &near_miss), None, "no prefix or fuzzy matches");
    }

    #[test]
    fn memory_is_the_mean_per_pod_per_workload_and_mode() {
        let pm = |ns: &str, wl: &str, mode: &str, mems: &[&str]| {
            serde_json::from_value::<DynamicObject>(json!({
                "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                "metadata": {"name": "x", "namespace": ns, "labels": {WORKLOAD_KEY: wl, MODE_KEY: mode}},
                "containers": mems.iter().map(|m| json!({"name": "app", "usage": {"cpu": "0", "memory": m}})).collect::<Vec<_>>()
            }))
            .unwrap()
        };
        let items = vec![
            pm("demo", "hello", "wasm", &["6Mi"]),
            pm("demo", "hello", "wasm", &["4Mi"]),
            pm("demo", "other", "container", &["256Ki", "0"]),
        ];
        let m = memory_by_workload(&items);
        assert_eq!(m[&("demo".into(), "hello".into(), "wasm".into())], 5 * 1024 * 1024);
        assert_eq!(m[&("demo".into(), "other".into(), "container".into())], 256 * 1024);
    }
}
