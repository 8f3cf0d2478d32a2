//! `wasm-operator doctor`: its flags, and the engine (`doctor/`) run against the cluster.

use super::cluster::{connect, ClusterArgs};
use super::runtime_config::load_runtime_config;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Namespace of the workload to explain (default: the context's).
    #[arg(short = 'n', long, requires = "name")]
    pub namespace: Option<String>,
    /// A workload to explain (with -n).
    pub name: Option<String>,
    /// Output: text or json.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
    /// The runtime configuration the operator runs with; built-in defaults when unset.
    #[arg(long, env = "RUNTIME_CONFIG")]
    pub runtime_config: Option<std::path::PathBuf>,
    /// Namespace of the operator's Lease (where the chart installed it).
    #[arg(long, default_value = "wasm-system")]
    pub lease_namespace: String,
    /// Port of the operator's /readyz in its pod.
    #[arg(long, default_value_t = 8080)]
    pub metrics_port: u16,
}

pub async fn doctor(args: DoctorArgs, cluster: &ClusterArgs) -> ExitCode {
    let config = match load_runtime_config(args.runtime_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let client = match connect(cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let namespace = args.namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let ask = crate::doctor::Ask {
        workload: args.name.map(|name| (namespace, name)),
        lease_namespace: args.lease_namespace,
        metrics_port: args.metrics_port,
    };
    ExitCode::from(crate::doctor::run(&client, &ask, &config, args.output == "json").await)
}
