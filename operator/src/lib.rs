//! The WasmWorkload operator: runs WebAssembly workloads through a Wasm RuntimeClass where the
//! cluster can, falls back to a container image where it cannot, and measures both.
//!
//! One reconcile is a pipeline: `observe` (caches) → `decide` (the plan) → `render` → `apply` →
//! `report` (status, Events, metrics); `controller` runs it. See ARCHITECTURE.md.

pub mod api;
pub mod cli;
pub mod decide;
pub mod observe;
pub mod render;
pub mod report;

pub mod allocator;
pub mod apply;
pub mod clock;
pub mod compare;
pub mod context;
pub mod controller;
pub mod doctor;
pub mod error;
pub mod leader;
pub mod listing;
pub mod logging;
pub mod plugin_name;
pub mod startup;
pub mod workloads_report;

#[cfg(test)]
mod tests;
