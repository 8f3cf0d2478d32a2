//! What every reconcile shares: the client, the event recorder, metrics, configuration, the
//! caches of the objects the decision reads, and the per-object failure counts for backoff.

use crate::api::stored_workload::StoredWorkload;
use crate::decide::runtimes::RuntimeConfig;
use crate::error::Backoff;
use crate::observe::stores::Stores;
use crate::report::metrics::Metrics;
use kube::runtime::reflector::ObjectRef;
use kube::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Context {
    pub client: Client,
    /// Name of this operator instance in Events (the pod name).
    pub instance: String,
    pub metrics: Metrics,
    pub runtimes: RuntimeConfig,
    pub stores: Stores,
    /// Per-object backoff after failed reconciles.
    pub backoff: Backoff,
    /// The wall clock of startup deadlines and fallback cooldowns.
    pub clock: crate::clock::Clock,
    failures: Mutex<HashMap<ObjectRef<StoredWorkload>, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, runtimes: RuntimeConfig, stores: Stores) -> Self {
        Self {
            client,
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| crate::api::labels::FIELD_MANAGER.to_string()),
            metrics,
            runtimes,
            stores,
            backoff: Backoff::default(),
            clock: crate::clock::Clock::default(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Count a failure of this object and return how long to wait before the next try.
    pub fn record_failure(&self, obj: ObjectRef<StoredWorkload>) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(obj).or_insert(0);
        *n = n.saturating_add(1);
        self.backoff.delay(*n)
    }

    /// A success resets the object's backoff.
    pub fn record_success(&self, obj: &ObjectRef<StoredWorkload>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(obj);
    }
}
