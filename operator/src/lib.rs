//! The WasmWorkload operator: runs WebAssembly workloads through a Wasm RuntimeClass where the
//! cluster can, falls back to a container image where it cannot, and measures both.

pub mod api_path;
pub mod apply;
pub mod coldstart;
pub mod context;
pub mod controller;
pub mod crd;
pub mod decide;
pub mod deployment;
pub mod discovery;
pub mod drift;
pub mod error;
pub mod events;
pub mod failure;
pub mod footprint;
pub mod generation_filter;
pub mod http;
pub mod labels;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod node_affinity;
pub mod owned_fields;
pub mod pod_index;
pub mod rbac;
pub mod record_cache;
pub mod runtimes;
pub mod scheduling;
pub mod service;
pub mod startup;
pub mod status;
pub mod views;
pub mod watches;
pub mod workload_gauges;

#[cfg(test)]
mod api_fault_tests;
#[cfg(test)]
mod bad_input_tests;
#[cfg(test)]
mod chart_tests;
#[cfg(test)]
mod controller_tests;
#[cfg(test)]
mod crd_tests;
#[cfg(test)]
mod dashboard_tests;
#[cfg(test)]
mod leader_tests;
#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
mod mock_api;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod schema_validation_tests;
#[cfg(test)]
mod testing;
