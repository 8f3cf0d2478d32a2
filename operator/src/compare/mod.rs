//! `wasm-operator compare` (in progress): the same app in both modes, on the same node, in
//! short-lived pods. So far the pure parts: the statistics and fairness rules (`stats.rs`) and
//! the comparison pods (`pods.rs`); the command that starts, watches and removes them comes next.

pub mod pods;
pub mod stats;
