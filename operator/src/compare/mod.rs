//! `wasm-operator compare NAME -n NS`: the same app in both modes, on the same node, in
//! short-lived pods, timed creation → Ready: the statistics and fairness rules (`stats.rs`), the
//! pods (`pods.rs`), starting and timing them (`timing.rs`), their memory (`memory.rs`), the run
//! that puts it together and cleans up (`run.rs`), and its outputs: the progress bar
//! (`progress.rs`), the table (`table.rs`) and the SVG chart (`svg.rs`).

pub mod error;
pub mod first_response;
pub mod memory;
pub mod pods;
pub mod progress;
pub mod run;
pub mod stats;
pub mod svg;
pub mod table;
pub mod timing;
