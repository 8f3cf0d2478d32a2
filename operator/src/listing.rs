//! One-shot reads of a whole cluster-scoped kind, for the commands that look at the cluster
//! once (`doctor`, `compare`) rather than watch it.

use kube::api::{Api, ListParams};
use std::sync::Arc;

/// Every object of a cluster-scoped kind.
pub async fn list_all<K>(client: &kube::Client) -> Result<Vec<Arc<K>>, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(Arc::new)
        .collect())
}
