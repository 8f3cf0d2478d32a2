//! Building the children a decision asks for: the Deployment (with the merged scheduling), the
//! Service, and whether what is on the server already is that (drift).
//!
//! Pure: takes no client; imports only `api` and `decide`.

pub mod children;
pub mod deployment;
pub mod drift;
pub mod pod_security;
pub mod scheduling;
pub mod service;
pub mod spill;
pub mod spin;
