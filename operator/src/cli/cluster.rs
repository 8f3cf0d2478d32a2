//! Which cluster a command talks to, as kubectl takes it, and the client for it.

use crate::error::Backoff;
use crate::startup;

/// Which cluster, as kubectl takes it (and passes it on to a plugin).
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

/// A client for the cluster. In a pod the API server may be down for a while (an outage, an
/// upgrade): wait for it, not ready meanwhile, instead of exiting into a crash loop. Outside a
/// cluster a missing or wrong kubeconfig gets one sentence and a non-zero exit.
pub async fn connect(cluster: &ClusterArgs) -> Result<kube::Client, String> {
    let hint = "Set KUBECONFIG to a kubeconfig file (or create ~/.kube/config), or run inside a cluster with a service account";
    let config = if cluster.kubeconfig.is_some() || cluster.context.is_some() {
        let options = kube::config::KubeConfigOptions {
            context: cluster.context.clone(),
            ..Default::default()
        };
        let file = match &cluster.kubeconfig {
            Some(path) => kube::config::Kubeconfig::read_from(path),
            None => kube::config::Kubeconfig::read(),
        }
        .map_err(|e| format!("wasm-operator: cannot read the kubeconfig: {e}. {hint}."))?;
        kube::Config::from_custom_kubeconfig(file, &options)
            .await
            .map_err(|e| format!("wasm-operator: cannot use the kubeconfig: {e}. {hint}."))?
    } else {
        kube::Config::infer().await.map_err(|e| {
            format!("wasm-operator: no Kubernetes cluster configured: tried in-cluster config and KUBECONFIG/~/.kube/config ({e}). {hint}.")
        })?
    };
    let url = config.cluster_url.clone();
    let client = kube::Client::try_from(config)
        .map_err(|e| format!("wasm-operator: cannot build a client for {url}: {e}. {hint}."))?;
    if startup::in_cluster() {
        startup::wait_for_api(&client, Backoff::default()).await;
        return Ok(client);
    }
    match tokio::time::timeout(std::time::Duration::from_secs(10), client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(format!(
            "wasm-operator: the Kubernetes API server at {url} did not answer: {e}. {hint}."
        )),
        Err(_) => Err(format!(
            "wasm-operator: the Kubernetes API server at {url} did not answer within 10 s. {hint}."
        )),
    }
}
