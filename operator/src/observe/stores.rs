//! The caches the watches fill and the reconciles read.

use crate::api::views::{CachedDeployment, CachedPod, CachedService};
use crate::observe::pod_index::PodIndex;
use crate::observe::record_cache::RecordCache;
use crate::report::coldstart::ColdStartTracker;
use crate::report::footprint::MemoryFigures;
use k8s_openapi::api::core::v1::{Event, Node};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::runtime::reflector::Store;
use std::sync::{Arc, Mutex, RwLock};

/// Caches filled by the watches in `watches.rs`, read by the reconciles.
#[derive(Clone)]
pub struct Stores {
    pub runtime_classes: Store<RuntimeClass>,
    pub nodes: Store<Node>,
    pub deployments: RecordCache<CachedDeployment>,
    /// Of Services only their existence, spec hash and resourceVersion.
    pub services: RecordCache<CachedService>,
    pub pods: RecordCache<Arc<CachedPod>>,
    /// `FailedCreatePodSandBox` Events only.
    pub sandbox_events: Store<Event>,
    pub pod_index: Arc<RwLock<PodIndex>>,
    pub cold_starts: Arc<Mutex<ColdStartTracker>>,
    pub memory: MemoryFigures,
}
