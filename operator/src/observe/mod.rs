//! Observing the cluster: the watches and the caches they fill (small records of Deployments
//! and Services, pods indexed by workload), and the filter that keeps the operator's own status
//! writes from coming back as work.
//!
//! I/O: may import the pure stages and `report` (watches time cold starts as they see pods);
//! never the controller.

pub mod gather;
pub mod generation_filter;
pub mod pod_index;
pub mod record_cache;
pub mod resync;
pub mod stores;
pub mod watch_errors;
pub mod watches;
