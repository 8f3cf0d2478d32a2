//! The watches besides the primary one: RuntimeClasses, Nodes and the owned Deployments and
//! Services. Each fills a cache the reconcile reads and sends triggers that name the workloads
//! a change may affect. Owned objects are watched by label; caches drop managed fields.

use crate::crd::WasmWorkload;
use crate::labels;
use crate::runtimes::RuntimeConfig;
use futures::channel::mpsc::UnboundedSender;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, NodeStatus, Service};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// Why workloads need another look.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// A child of this workload changed.
    Owner(ObjectRef<WasmWorkload>),
    /// This RuntimeClass appeared, changed or went away.
    RuntimeClass(String),
    /// A node changed in a way that can change which RuntimeClasses are usable.
    Nodes,
}

/// Workloads a trigger may affect.
pub fn affected(
    trigger: &Trigger,
    workloads: &Store<WasmWorkload>,
    runtimes: &RuntimeConfig,
) -> Vec<ObjectRef<WasmWorkload>> {
    match trigger {
        Trigger::Owner(r) => vec![r.clone()],
        Trigger::RuntimeClass(rc) => workloads
            .state()
            .iter()
            .filter(|w| runtimes.may_use(&w.spec.wasm.runtimes, rc))
            .map(|w| ObjectRef::from_obj(w.as_ref()))
            .collect(),
        Trigger::Nodes => workloads
            .state()
            .iter()
            .map(|w| ObjectRef::from_obj(w.as_ref()))
            .collect(),
    }
}

/// The workload that controls an owned object, from its controller ownerReference.
fn controller_owner<K: Resource>(obj: &K) -> Option<ObjectRef<WasmWorkload>> {
    let ns = obj.meta().namespace.as_deref()?;
    obj.owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "WasmWorkload")
        .map(|o| ObjectRef::new(&o.name).within(ns))
}

/// What of a node decides usability: labels, taints, cordon and readiness. Heartbeats that
/// change nothing else are not triggers.
pub fn node_fingerprint(node: &Node) -> u64 {
    let mut h = DefaultHasher::new();
    node.metadata.labels.hash(&mut h);
    if let Some(spec) = &node.spec {
        spec.unschedulable.hash(&mut h);
        for t in spec.taints.iter().flatten() {
            (&t.key, &t.value, &t.effect).hash(&mut h);
        }
    }
    crate::discovery::node_ready_and_schedulable(node).hash(&mut h);
    h.finish()
}

/// Nodes carry much the operator never reads; keep labels, taints, cordon, conditions and images.
fn prune_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    if let Some(st) = node.status.take() {
        node.status = Some(NodeStatus {
            conditions: st
                .conditions
                .map(|cs| cs.into_iter().filter(|c| c.type_ == "Ready").collect()),
            images: st.images,
            ..Default::default()
        });
    }
}

fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    prune: fn(&mut K),
) -> (Store<K>, impl Stream<Item = Result<Event<K>, watcher::Error>> + Send)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = watcher::watcher(api, config)
        .default_backoff()
        .modify(prune)
        .reflect(writer);
    (reader, stream)
}

fn clear_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Drive a watch in its own task, sending triggers; watch errors are logged and retried with backoff.
fn spawn_watch<K, S>(
    kind: &'static str,
    stream: S,
    mut to_triggers: impl FnMut(Event<K>) -> Vec<Trigger> + Send + 'static,
    tx: UnboundedSender<Trigger>,
) where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    for t in to_triggers(event) {
                        if tx.unbounded_send(t).is_err() {
                            return; // the controller is gone
                        }
                    }
                }
                Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying with backoff"),
            }
        }
    });
}

/// Triggers for an owned Deployment or Service event.
fn owned_triggers<K: Resource>(event: Event<K>) -> Vec<Trigger> {
    match event {
        Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => {
            controller_owner(&o).map(Trigger::Owner).into_iter().collect()
        }
        Event::Init | Event::InitDone => vec![],
    }
}

/// Start every secondary watch; returns their caches. `namespace` scopes the owned watches.
pub fn start(client: kube::Client, namespace: Option<&str>, tx: UnboundedSender<Trigger>) -> crate::context::Stores {
    let owned = watcher::Config::default()
        .labels(&labels::managed_selector())
        .any_semantic();
    let (deployments, dstream) = reflect(
        scoped::<Deployment>(&client, namespace),
        owned.clone(),
        clear_managed_fields,
    );
    spawn_watch("Deployment", dstream, owned_triggers, tx.clone());
    let (services, sstream) = reflect(scoped::<Service>(&client, namespace), owned, clear_managed_fields);
    spawn_watch("Service", sstream, owned_triggers, tx.clone());

    let any = watcher::Config::default().any_semantic();
    let (runtime_classes, rstream) = reflect(
        Api::<RuntimeClass>::all(client.clone()),
        any.clone(),
        clear_managed_fields,
    );
    spawn_watch(
        "RuntimeClass",
        rstream,
        |event| match event {
            Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => {
                vec![Trigger::RuntimeClass(o.name_any())]
            }
            Event::Init | Event::InitDone => vec![],
        },
        tx.clone(),
    );

    let (nodes, nstream) = reflect(Api::<Node>::all(client), any, prune_node);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut relisted: HashMap<String, u64> = HashMap::new();
    spawn_watch(
        "Node",
        nstream,
        move |event| {
            let changed = match event {
                Event::Apply(n) => seen.insert(n.name_any(), node_fingerprint(&n)) != Some(node_fingerprint(&n)),
                Event::Delete(n) => seen.remove(&n.name_any()).is_some(),
                Event::Init => {
                    relisted.clear();
                    false
                }
                Event::InitApply(n) => {
                    relisted.insert(n.name_any(), node_fingerprint(&n));
                    false
                }
                // A relist replaces what we knew: nodes may have come, gone or changed meanwhile.
                Event::InitDone => {
                    let changed = relisted != seen;
                    seen = std::mem::take(&mut relisted);
                    changed
                }
            };
            if changed {
                vec![Trigger::Nodes]
            } else {
                vec![]
            }
        },
        tx,
    );
    crate::context::Stores {
        runtime_classes,
        nodes,
        deployments,
        services,
    }
}

/// An Api over one namespace, or all of them.
pub fn scoped<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, taint};
    use k8s_openapi::api::core::v1::NodeCondition;

    #[test]
    fn heartbeats_do_not_change_the_fingerprint() {
        let a = node("n", &[("spin", "yes")], true, false, vec![]);
        let mut b = (*a).clone();
        b.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_heartbeat_time = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
        );
        b.status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(NodeCondition {
                type_: "MemoryPressure".into(),
                status: "False".into(),
                ..Default::default()
            });
        assert_eq!(node_fingerprint(&a), node_fingerprint(&b));
    }

    #[test]
    fn what_decides_usability_changes_the_fingerprint() {
        let base = node_fingerprint(&node("n", &[("spin", "yes")], true, false, vec![]));
        assert_ne!(base, node_fingerprint(&node("n", &[], true, false, vec![])), "label");
        assert_ne!(
            base,
            node_fingerprint(&node("n", &[("spin", "yes")], false, false, vec![])),
            "ready"
        );
        assert_ne!(
            base,
            node_fingerprint(&node("n", &[("spin", "yes")], true, true, vec![])),
            "cordon"
        );
        assert_ne!(
            base,
            node_fingerprint(&node(
                "n",
                &[("spin", "yes")],
                true,
                false,
                vec![taint("t", None, "NoSchedule")]
            )),
            "taint"
        );
    }

    #[test]
    fn pruned_nodes_keep_what_discovery_reads() {
        let mut n = (*node(
            "n",
            &[("spin", "yes")],
            true,
            false,
            vec![taint("t", None, "NoSchedule")],
        ))
        .clone();
        n.metadata.annotations = Some([("big".to_string(), "x".repeat(1000))].into());
        let before = node_fingerprint(&n);
        prune_node(&mut n);
        assert_eq!(node_fingerprint(&n), before);
        assert!(n.metadata.annotations.is_none());
    }
}
