//! Deciding how a workload runs: the runtime-name mapping, which RuntimeClasses are usable on
//! which nodes (discovery, node affinity), whether Wasm pods fail, and the decision itself.
//!
//! Pure: functions of what the caches hold; imports only `api`.

pub mod decision;
pub mod discovery;
pub mod failure;
pub mod module_fault;
pub mod node_affinity;
pub mod node_exclusion;
pub mod observed;
pub mod plan;
pub mod pod_health;
pub mod runtimes;
pub mod spill;
pub mod spill_plan;
