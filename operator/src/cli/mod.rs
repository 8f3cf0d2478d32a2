//! The command line: each subcommand's flags and handler in a module of its own; `main.rs` only
//! parses and dispatches.

pub mod cluster;
pub mod compare;
pub mod crd;
pub mod doctor;
pub mod report;
pub mod run;
pub mod runtime_config;
pub mod signal;

use clap::{Parser, Subcommand};
use cluster::ClusterArgs;

#[derive(Parser)]
#[command(
    name = "wasm-operator",
    version,
    about = "Runs WebAssembly workloads on Kubernetes, with a container fallback and cold-start metrics"
)]
pub struct Cli {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the controller against the cluster of KUBECONFIG or the in-cluster service account.
    Run(run::RunArgs),
    /// Print the WasmWorkload CustomResourceDefinition as YAML.
    Crd,
    /// The same app in both modes on the same node, in short-lived pods: cold start, phases and
    /// image size, Wasm against container.
    Compare(compare::CompareArgs),
    /// The cluster's workloads in one table: mode, why not Wasm, cold start, footprint, the last
    /// comparison, and totals.
    Report(report::ReportArgs),
    /// Which nodes can run which Wasm RuntimeClass and why not, why a workload is not Wasm, and
    /// whether the installation is whole. Exit 0: all checks pass; 1: some fail; 2: no cluster.
    Doctor(doctor::DoctorArgs),
}
