//! What every reconcile shares: the client, the event recorder, metrics, configuration, the
//! caches of the objects the decision reads, and the per-object failure counts for backoff.

use crate::coldstart::ColdStartTracker;
use crate::crd::WasmWorkload;
use crate::error::Backoff;
use crate::footprint::MemoryFigures;
use crate::metrics::Metrics;
use crate::pod_index::PodIndex;
use crate::record_cache::RecordCache;
use crate::runtimes::RuntimeConfig;
use crate::views::{CachedDeployment, CachedService, PodView};
use k8s_openapi::api::core::v1::{Event, Node};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Caches filled by the watches in `watches.rs`, read by the reconciles.
#[derive(Clone)]
pub struct Stores {
    pub runtime_classes: Store<RuntimeClass>,
    pub nodes: Store<Node>,
    pub deployments: RecordCache<CachedDeployment>,
    /// Of Services only their existence, spec hash and resourceVersion.
    pub services: RecordCache<CachedService>,
    pub pods: Store<PodView>,
    /// `FailedCreatePodSandBox` Events only.
    pub sandbox_events: Store<Event>,
    pub pod_index: Arc<RwLock<PodIndex>>,
    pub cold_starts: Arc<Mutex<ColdStartTracker>>,
    pub memory: MemoryFigures,
}

pub struct Context {
    pub client: Client,
    /// Name of this operator instance in Events (the pod name).
    pub instance: String,
    pub metrics: Metrics,
    pub runtimes: RuntimeConfig,
    pub stores: Stores,
    /// Per-object backoff after failed reconciles.
    pub backoff: Backoff,
    failures: Mutex<HashMap<ObjectRef<WasmWorkload>, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, runtimes: RuntimeConfig, stores: Stores) -> Self {
        Self {
            client,
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| crate::labels::FIELD_MANAGER.to_string()),
            metrics,
            runtimes,
            stores,
            backoff: Backoff::default(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Count a failure of this object and return how long to wait before the next try.
    pub fn record_failure(&self, obj: ObjectRef<WasmWorkload>) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(obj).or_insert(0);
        *n = n.saturating_add(1);
        self.backoff.delay(*n)
    }

    /// A success resets the object's backoff.
    pub fn record_success(&self, obj: &ObjectRef<WasmWorkload>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(obj);
    }
}
