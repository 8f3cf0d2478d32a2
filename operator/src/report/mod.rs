//! Reporting what happened: the workload's status, Events, cold-start and footprint
//! measurements, Prometheus metrics (and the per-workload gauges), and the HTTP endpoints.
//!
//! I/O: may import the pure stages; never `observe` or the controller.

pub mod changes;
pub mod coldstart;
pub mod comparison_runs;
pub mod events;
pub mod footprint;
pub mod http;
pub mod measurements;
pub mod memory_limit;
pub mod metrics;
pub mod outcome;
pub mod sink;
pub mod status;
pub mod units;
pub mod workload_gauges;
