//! `wasm-operator compare`: its flags, and the comparison run printed as asked.

use super::cluster::{connect, ClusterArgs};
use super::runtime_config::load_runtime_config;
use super::signal::shutdown_signal;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The WasmWorkload to compare.
    pub name: String,
    /// Its namespace (default: the context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Pods of each mode.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub pods: u16,
    /// Pods started at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub concurrency: u16,
    /// The node to run on; the first that can run both modes when unset.
    #[arg(long)]
    pub node: Option<String>,
    /// A pod not Ready after this many seconds counts as failed.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// After the timings, how long one pod of each mode waits for metrics.k8s.io to report
    /// its memory (metrics-server scrapes every 15 s or so); 0 skips memory.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub memory_wait: u64,
    /// Output: table, json or markdown.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json", "markdown"])]
    pub output: String,
    /// Also write a chart of both modes' cold starts to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
    /// Also time each pod to its app's first 2xx answer for this path (e.g. `/`), on the
    /// workload's first port, through the API server's pod proxy, polled every 10–20 ms.
    #[arg(long, value_name = "PATH")]
    pub http: Option<String>,
    /// The runtime configuration the operator runs with; built-in defaults when unset.
    #[arg(long, env = "RUNTIME_CONFIG")]
    pub runtime_config: Option<std::path::PathBuf>,
}

pub async fn compare(args: CompareArgs, cluster: &ClusterArgs) -> ExitCode {
    use crate::compare::{run, table};
    let config = match load_runtime_config(args.runtime_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match connect(cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = run::Settings {
        pods: usize::from(args.pods),
        concurrency: usize::from(args.concurrency),
        node: args.node,
        ready_timeout: std::time::Duration::from_secs(args.timeout),
        memory_wait: std::time::Duration::from_secs(args.memory_wait),
        http_path: args.http,
    };
    let cancel = shutdown_signal();
    let mut progress = crate::compare::progress::terminal();
    match run::compare(
        &client,
        args.namespace.as_deref().unwrap_or(client.default_namespace()),
        &args.name,
        &config,
        &settings,
        cancel,
        &mut progress,
    )
    .await
    {
        Ok(c) => {
            match args.output.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default()),
                "markdown" => print!("{}", table::render(&c, true)),
                _ => print!("{}", table::render(&c, false)),
            }
            if let Some(path) = &args.svg {
                if let Err(e) = std::fs::write(path, crate::compare::svg::render(&c)) {
                    eprintln!("wasm-operator compare: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-operator compare: {e}");
            ExitCode::FAILURE
        }
    }
}
