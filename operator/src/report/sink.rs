//! Where a reconcile's report goes: the API server (status, Events) and the metrics.

use crate::api::crd::WasmWorkload;
use crate::report::events::{self, EventType};
use crate::report::metrics::Metrics;
use kube::{Client, ResourceExt};

pub struct Sink<'a> {
    pub client: &'a Client,
    pub metrics: &'a Metrics,
    /// The operator pod's name, in Events.
    pub instance: &'a str,
}

impl Sink<'_> {
    /// Publish an Event about the workload; a failure to do so is logged, never fatal.
    pub async fn publish(&self, wl: &WasmWorkload, type_: EventType, reason: &str, note: &str) {
        let ev = events::build(wl, type_, reason, note, self.instance);
        if let Err(e) = events::publish(self.client, &ev).await {
            tracing::warn!(workload = %wl.name_any(), namespace = ?wl.namespace(), error = %e, "could not publish event");
        }
    }
}
