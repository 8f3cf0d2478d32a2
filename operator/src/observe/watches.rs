//! The watches besides the primary one: RuntimeClasses, Nodes and the owned Deployments and
//! Services. Each fills a cache the reconcile reads and sends triggers that name the workloads
//! a change may affect. Owned objects are watched by label; caches drop managed fields.

use crate::api::labels;
use crate::api::stored_workload::StoredWorkload;
use crate::api::views::{CachedDeployment, CachedPod, CachedService, DeploymentView, PodView};
use crate::decide::runtimes::RuntimeConfig;
use crate::observe::pod_index::PodIndex;
use crate::observe::record_cache::RecordCache;
use crate::observe::watch_errors::{Loudness, WatchErrors};
use crate::report::coldstart::ColdStartTracker;
use crate::report::footprint::MemoryFigures;
use crate::report::metrics::Metrics;
use futures::channel::mpsc::UnboundedSender;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, NodeStatus, Service};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

/// Why workloads need another look.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// A child of this workload changed.
    Owner(ObjectRef<StoredWorkload>),
    /// This RuntimeClass appeared, changed or went away.
    RuntimeClass(String),
    /// A node changed in a way that can change which RuntimeClasses are usable.
    Nodes,
}

/// Workloads a trigger may affect.
pub fn affected(
    trigger: &Trigger,
    workloads: &Store<StoredWorkload>,
    runtimes: &RuntimeConfig,
) -> Vec<ObjectRef<StoredWorkload>> {
    match trigger {
        Trigger::Owner(r) => vec![r.clone()],
        Trigger::RuntimeClass(rc) => workloads
            .state()
            .iter()
            .filter(|w| runtimes.may_use(&w.runtimes(), rc))
            .map(|w| ObjectRef::from_obj(w.as_ref()))
            .collect(),
        Trigger::Nodes => workloads
            .state()
            .iter()
            .map(|w| ObjectRef::from_obj(w.as_ref()))
            .collect(),
    }
}

/// The workload a cached pod belongs to, from its workload label.
fn workload_of(pod: &CachedPod) -> Option<ObjectRef<StoredWorkload>> {
    let ns = pod.metadata.namespace.as_deref()?;
    Some(ObjectRef::new(pod.workload.as_deref()?).within(ns))
}

/// What of a node decides usability: labels, taints, cordon, readiness and the handlers its
/// runtime reports. Heartbeats that change nothing else are not triggers.
pub fn node_fingerprint(node: &Node) -> u64 {
    let mut h = DefaultHasher::new();
    node.metadata.labels.hash(&mut h);
    if let Some(spec) = &node.spec {
        spec.unschedulable.hash(&mut h);
        for t in spec.taints.iter().flatten() {
            (&t.key, &t.value, &t.effect).hash(&mut h);
        }
    }
    crate::decide::discovery::node_ready_and_schedulable(node).hash(&mut h);
    crate::decide::discovery::reported_handlers(node).hash(&mut h);
    h.finish()
}

/// Nodes carry much the operator never reads; keep labels, taints, cordon, the Ready condition,
/// images and the handlers the runtime reports (their names: features are not read).
fn prune_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    if let Some(st) = node.status.take() {
        node.status = Some(NodeStatus {
            conditions: st
                .conditions
                .map(|cs| cs.into_iter().filter(|c| c.type_ == "Ready").collect()),
            images: st.images,
            runtime_handlers: st.runtime_handlers.map(|hs| {
                hs.into_iter()
                    .map(|h| k8s_openapi::api::core::v1::NodeRuntimeHandler {
                        name: h.name,
                        features: None,
                    })
                    .collect()
            }),
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

/// Drive a watch in its own task, sending triggers. Errors are retried with backoff by the
/// watcher; how loud each is in the log is `watch_errors`' call, and re-lists are counted.
fn spawn_watch<K, S>(
    kind: &'static str,
    stream: S,
    mut to_triggers: impl FnMut(Event<K>) -> Vec<Trigger> + Send + 'static,
    metrics: &Metrics,
    tx: UnboundedSender<Trigger>,
) where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    let relists = metrics.watch_relists.with_label_values(&[kind]);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut errors = WatchErrors::default();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    let failures = errors.recovered();
                    if failures > 0 {
                        tracing::info!(kind, failures, "watch works again");
                    }
                    for t in to_triggers(event) {
                        if tx.unbounded_send(t).is_err() {
                            return; // the controller is gone
                        }
                    }
                }
                Err(e) => match errors.judge(&e, std::time::Instant::now()) {
                    Loudness::Relist => {
                        relists.inc();
                        tracing::info!(kind, reason = %e, "watch expired; listing again");
                    }
                    Loudness::Transient => tracing::info!(kind, error = %e, "watch failed; retrying with backoff"),
                    Loudness::Persistent => tracing::warn!(
                        kind,
                        error = %e,
                        failures = errors.failures,
                        "watch keeps failing; retrying with backoff"
                    ),
                    Loudness::StillFailing => tracing::debug!(kind, error = %e, "watch still failing"),
                },
            }
        }
    });
}

/// Triggers for an owned Deployment or Service event: the workload its label names (a spill
/// Deployment is not named as its workload), else the one it is named after.
fn owned_triggers<K: Resource>(event: Event<K>) -> Vec<Trigger> {
    match event {
        Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => {
            let m = o.meta();
            let workload = m
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::WORKLOAD_KEY))
                .or(m.name.as_ref());
            match (workload, &m.namespace) {
                (Some(name), Some(ns)) => vec![Trigger::Owner(ObjectRef::new(name).within(ns))],
                _ => vec![],
            }
        }
        Event::Init | Event::InitDone => vec![],
    }
}

/// Keep an owned kind's records in `cache` and trigger the workloads of its objects: those of
/// the events, and those a relist found gone (deleted while the watch was down).
fn cached_owned<K: Resource, V: Clone>(
    cache: &RecordCache<V>,
    record: fn(&K) -> V,
) -> impl FnMut(Event<K>) -> Vec<Trigger> {
    let cache = cache.clone();
    move |event| {
        let gone = cache.apply(&event, record);
        let mut triggers = owned_triggers(event);
        // Only names are left of those: a spill Deployment's is its workload's with `-spill`.
        triggers.extend(gone.iter().flat_map(|(ns, name)| {
            let spilled = name
                .strip_suffix("-spill")
                .map(|w| Trigger::Owner(ObjectRef::new(w).within(ns)));
            std::iter::once(Trigger::Owner(ObjectRef::new(name).within(ns))).chain(spilled)
        }));
        triggers
    }
}

/// Nothing reads a workload's labels or annotations (a kubectl last-applied annotation is a
/// whole copy of the object), nor its managed fields: the workload cache keeps none of them.
pub fn prune_workload(w: &mut StoredWorkload) {
    w.metadata.managed_fields = None;
    w.metadata.annotations = None;
    w.metadata.labels = None;
}

/// Cached views carry no managed fields, ownerReferences or foreign annotations.
fn prune_meta(m: &mut ObjectMeta) {
    m.managed_fields = None;
    m.owner_references = None;
    if let Some(a) = m.annotations.as_mut() {
        a.retain(|k, _| k.starts_with("wasm-operator.dev/"));
    }
}

/// Of a pod's labels only the operator's are read (kept as fields), and of its conditions only
/// PodScheduled and Ready.
pub fn prune_pod(pod: &mut PodView) {
    prune_meta(&mut pod.metadata);
    pod.take_labels();
    pod.metadata.generate_name = None;
    pod.metadata.resource_version = None;
    if let Some(cs) = pod.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        cs.retain(|c| c.type_ == "Ready" || c.type_ == "PodScheduled");
    }
}

fn prune_event(ev: &mut CoreEvent) {
    ev.metadata.managed_fields = None;
    ev.source = None;
    ev.related = None;
}

/// The pod cache, its index by workload, and the cold-start tracker the pod watch fills.
type PodCaches = (
    RecordCache<Arc<CachedPod>>,
    Arc<RwLock<PodIndex>>,
    Arc<Mutex<ColdStartTracker>>,
);

/// Watch the operator's own pods (label-selected): cache them compactly, index them by
/// workload, time their cold starts, and trigger their workload's reconcile.
fn watch_pods(
    client: &kube::Client,
    namespace: Option<&str>,
    metrics: Metrics,
    tx: UnboundedSender<Trigger>,
) -> PodCaches {
    let owned = watcher::Config::default()
        .labels(&labels::managed_selector())
        .any_semantic();
    let stream = watcher::watcher(scoped::<PodView>(client, namespace), owned)
        .default_backoff()
        .modify(prune_pod);
    let pods = RecordCache::default();
    let index = Arc::new(RwLock::new(PodIndex::default()));
    let tracker = Arc::new(Mutex::new(ColdStartTracker::default()));
    let (cache, idx, trk) = (pods.clone(), index.clone(), tracker.clone());
    let watch_metrics = metrics.clone();
    spawn_watch(
        "Pod",
        stream,
        move |event: Event<PodView>| {
            let now = tokio::time::Instant::now();
            // The cached form, made once: the cache, the index and the tracker share it.
            let cached = match &event {
                Event::Apply(p) | Event::InitApply(p) | Event::Delete(p) => Some(Arc::new(CachedPod::from(p.clone()))),
                Event::Init | Event::InitDone => None,
            };
            cache.apply(&event, |_| cached.clone().expect("an object event"));
            let mut index = idx.write().unwrap_or_else(|e| e.into_inner());
            let mut tracker = trk.lock().unwrap_or_else(|e| e.into_inner());
            let pod = match (event, cached) {
                (Event::Init, _) => {
                    index.relist_started();
                    tracker.relist_started();
                    return vec![];
                }
                (Event::InitDone, _) => {
                    index.relist_done();
                    tracker.relist_done();
                    return vec![];
                }
                (Event::Delete(_), Some(p)) => {
                    index.remove(&p);
                    if let Some(uid) = &p.metadata.uid {
                        tracker.forget_pod(uid);
                    }
                    p
                }
                (Event::Apply(_), Some(p)) => {
                    index.insert(&p);
                    if let Some(sample) = tracker.observe(&p, true, now) {
                        metrics.record_cold_start(&sample);
                    }
                    p
                }
                (Event::InitApply(_), Some(p)) => {
                    index.insert(&p);
                    if let Some(sample) = tracker.observe(&p, false, now) {
                        metrics.record_cold_start(&sample);
                    }
                    p
                }
                _ => return vec![],
            };
            workload_of(&pod).map(Trigger::Owner).into_iter().collect()
        },
        &watch_metrics,
        tx,
    );
    (pods, index, tracker)
}

/// Watch `FailedCreatePodSandBox` Events (field-selected, so only those) and trigger the
/// workload of the pod they are about.
fn watch_sandbox_failures(
    client: &kube::Client,
    namespace: Option<&str>,
    pods: RecordCache<Arc<CachedPod>>,
    metrics: &Metrics,
    tx: UnboundedSender<Trigger>,
) -> Store<CoreEvent> {
    let config = watcher::Config::default()
        .fields(&format!("reason={SANDBOX_FAILURE_REASON}"))
        .any_semantic();
    let (events, stream) = reflect(scoped::<CoreEvent>(client, namespace), config, prune_event);
    spawn_watch(
        "Event",
        stream,
        move |event| match event {
            Event::Apply(ev) | Event::InitApply(ev) => {
                let obj = &ev.involved_object;
                let (Some(ns), Some(name)) = (obj.namespace.as_deref(), obj.name.as_deref()) else {
                    return vec![];
                };
                pods.get(ns, name)
                    .and_then(|p| workload_of(p.as_ref()))
                    .map(Trigger::Owner)
                    .into_iter()
                    .collect()
            }
            _ => vec![],
        },
        metrics,
        tx,
    );
    events
}

/// The Event reason of a pod whose sandbox could not be created.
pub const SANDBOX_FAILURE_REASON: &str = "FailedCreatePodSandBox";

/// Start every secondary watch; returns their caches. `namespace` scopes the namespaced watches.
pub fn start(
    client: kube::Client,
    namespace: Option<&str>,
    metrics: Metrics,
    memory_poll: std::time::Duration,
    tx: UnboundedSender<Trigger>,
) -> crate::observe::stores::Stores {
    let (pods, pod_index, cold_starts) = watch_pods(&client, namespace, metrics.clone(), tx.clone());
    let sandbox_events = watch_sandbox_failures(&client, namespace, pods.clone(), &metrics, tx.clone());
    let memory = MemoryFigures::default();
    tokio::spawn(crate::report::footprint::poll_memory(
        client.clone(),
        namespace.map(String::from),
        metrics.clone(),
        memory.clone(),
        memory_poll,
    ));
    let owned = watcher::Config::default()
        .labels(&labels::managed_selector())
        .any_semantic();
    // Deployments and Services are found by name: the caches keep a small record of each.
    let deployments = RecordCache::default();
    let dstream = watcher::watcher(scoped::<DeploymentView>(&client, namespace), owned.clone()).default_backoff();
    spawn_watch(
        "Deployment",
        dstream,
        cached_owned(&deployments, |d: &DeploymentView| CachedDeployment::from(d)),
        &metrics,
        tx.clone(),
    );
    // Services as metadata only, and of that only the spec hash and resourceVersion.
    let services = RecordCache::default();
    let sstream = watcher::watcher(scoped::<PartialObjectMeta<Service>>(&client, namespace), owned).default_backoff();
    spawn_watch(
        "Service",
        sstream,
        cached_owned(&services, |s: &PartialObjectMeta<Service>| {
            CachedService::from(&s.metadata)
        }),
        &metrics,
        tx.clone(),
    );

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
        &metrics,
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
        &metrics,
        tx,
    );
    crate::observe::stores::Stores {
        runtime_classes,
        nodes,
        deployments,
        services,
        pods,
        sandbox_events,
        pod_index,
        cold_starts,
        memory,
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
    use crate::tests::fixtures::{node, taint};
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

    #[test]
    fn cached_pods_keep_only_what_is_read() {
        let mut p = crate::tests::fixtures::pod_as_served("p", "hello", "wasm", true, true, true);
        let m = &mut p.metadata;
        m.labels
            .as_mut()
            .unwrap()
            .insert("pod-template-hash".into(), "abc".into());
        m.annotations = Some([("kubectl.kubernetes.io/restartedAt".to_string(), "x".to_string())].into());
        m.managed_fields = Some(vec![Default::default()]);
        m.owner_references = Some(vec![Default::default()]);
        p.status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(crate::api::views::PodConditionView {
                type_: "Initialized".into(),
                status: "True".into(),
                ..Default::default()
            });
        m.resource_version = Some("9".into());
        (p.workload, p.mode) = (None, None);
        prune_pod(&mut p);
        assert!(p.metadata.labels.is_none() && p.metadata.resource_version.is_none());
        assert_eq!(
            (p.workload.as_deref(), p.mode),
            (Some("hello"), Some(crate::api::crd::Mode::Wasm))
        );
        assert_eq!(
            workload_of(&CachedPod::from(p.clone())),
            Some(ObjectRef::new("hello").within("demo"))
        );
        assert_eq!(p.metadata.annotations, Some(Default::default()));
        assert!(p.metadata.managed_fields.is_none() && p.metadata.owner_references.is_none());
        let conditions = p.status.unwrap().conditions.unwrap();
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["PodScheduled", "Ready"]);
    }

    #[test]
    fn cached_deployments_keep_what_is_read() {
        let mut d = DeploymentView::default();
        let record = crate::api::failure_record::FailureRecord {
            generation: 2,
            runtime_class: "spin".into(),
            usable_nodes: 1,
            reason: "CrashLoopBackOff".into(),
            message: "m".into(),
            failures: 1,
            retry_at: Some(1_000),
        };
        d.metadata.annotations = Some(
            [
                ("deployment.kubernetes.io/revision", "3"),
                (labels::SPEC_HASH_KEY, "00000000000000ff"),
                (
                    crate::api::failure_record::FAILURE_ANNOTATION,
                    record.to_annotation().as_str(),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        d.metadata.generation = Some(4);
        let cached = CachedDeployment::from(&d);
        assert_eq!(cached.spec_hash, Some(0xff), "the hash is kept as a number");
        assert_eq!(cached.failure.as_deref(), Some(&record), "the failure record, parsed");
        assert_eq!(cached.generation, Some(4));
    }
}
