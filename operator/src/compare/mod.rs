//! `wasm-operator compare NAME -n NS`: the same app in both modes, on the same node, in
//! short-lived pods, timed creation → Ready: the statistics and fairness rules (`stats.rs`), the
//! pods (`pods.rs`), and the run that starts, watches and removes them (`run.rs`).

pub mod pods;
pub mod run;
pub mod stats;
pub mod table;
