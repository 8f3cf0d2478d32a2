//! The API the operator speaks: the WasmWorkload CRD, the labels, annotations and reason words
//! it writes, the failure record it keeps on Deployments, the compact views and records of the
//! objects it caches, the shape of server-side-apply ownership, RBAC and API paths.
//!
//! Pure data and parsing: imports nothing from the other stages.

pub mod api_path;
pub mod crd;
pub mod excluded_nodes;
pub mod failure_record;
pub mod fnv;
pub mod interned;
pub mod labels;
pub mod owned_fields;
pub mod rbac;
pub mod reason;
pub mod stored_workload;
pub mod time;
pub mod views;
