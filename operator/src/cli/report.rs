//! `wasm-operator report`: its flags, and the workloads' table printed as asked.

use super::cluster::{connect, ClusterArgs};
use crate::api::crd::WasmWorkload;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// One namespace (default: the context's).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output: table, json or markdown.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json", "markdown"])]
    pub output: String,
}

pub async fn report(args: ReportArgs, cluster: &ClusterArgs) -> ExitCode {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::ListParams;
    let client = match connect(cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let api: kube::Api<WasmWorkload> = if args.all_namespaces {
        kube::Api::all(client.clone())
    } else {
        kube::Api::namespaced(
            client.clone(),
            args.namespace.as_deref().unwrap_or(client.default_namespace()),
        )
    };
    let listed = async {
        let workloads = api.list(&ListParams::default()).await?.items;
        let nodes = kube::Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await?
            .items;
        Ok::<_, kube::Error>((workloads, nodes))
    };
    match listed.await {
        Ok((workloads, nodes)) => {
            let r = crate::workloads_report::build(&workloads, &nodes);
            match args.output.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
                "markdown" => print!("{}", r.render(true)),
                _ => print!("{}", r.render(false)),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-operator report: {e}");
            ExitCode::FAILURE
        }
    }
}
