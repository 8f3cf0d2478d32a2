//! Writing a child: server-side apply under the operator's field manager, and putting the child
//! back when other managers' edits make that apply invalid.
//!
//! Keyed lists (a Service's ports keyed by port and protocol, a container's env by name…) merge
//! entry by entry. When someone edits a key (`kubectl patch` of `spec.ports[0].port`), the edited
//! entry is theirs and our apply adds a second entry beside it, which the server refuses (422
//! `spec.ports[1].name: Duplicate value`). A JSON merge patch replaces lists whole: it puts back
//! our lists, and the apply that follows owns them again.

use crate::api::labels::FIELD_MANAGER;
use crate::error::Error;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// How a child was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The apply went through.
    Applied,
    /// The apply was refused as invalid; the child was replaced and applied again.
    PutBack,
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Whether the API server refused a request as invalid (422).
pub fn is_invalid(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422)
}

/// Apply `desired` as `name`; on a 422, replace the child's lists with ours and apply once more.
/// A second 422 is the desired object's own fault and is returned.
pub async fn apply_child<K>(api: &Api<K>, name: &str, desired: &K) -> Result<(K, Written), Error>
where
    K: Clone + Debug + Serialize + DeserializeOwned,
{
    match api.patch(name, &apply_params(), &Patch::Apply(desired)).await {
        Ok(obj) => Ok((obj, Written::Applied)),
        Err(e) if is_invalid(&e) => {
            tracing::info!(child = name, error = %e, "apply refused; replacing the edited lists");
            let merge = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            };
            api.patch(name, &merge, &Patch::Merge(desired)).await?;
            let obj = api.patch(name, &apply_params(), &Patch::Apply(desired)).await?;
            Ok((obj, Written::PutBack))
        }
        Err(e) => Err(e.into()),
    }
}
