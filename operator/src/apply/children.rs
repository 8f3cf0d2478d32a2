//! The one apply loop: each change the renderer listed, in order, whatever the child's kind —
//! never a child another workload owns, nothing when the cached child already is what we want,
//! server-side apply otherwise (put back after a 422), and the removals once they are due.

use crate::api::reason;
use crate::api::views::{CachedDeployment, DeploymentView, NamedFor};
use crate::apply::server_side::{apply_child, is_invalid, Written};
use crate::decide::observed::Observed;
use crate::error::Error;
use crate::render::children::{Change, Child, Kind, RemoveWhen};
use crate::render::drift::{self, CachedChild};
use crate::report::status::Trouble;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::DeleteParams;
use kube::{Api, Client, Resource, ResourceExt};

/// What the loop did.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// The workload's Deployment and its spill as the server now holds them (as cached when
    /// not written; `None` once removed).
    pub deployment: Option<CachedDeployment>,
    pub spill: Option<CachedDeployment>,
    /// The kinds of the children another manager had changed and that were put back.
    pub put_back: Vec<&'static str>,
    /// The first child that could not be written: its name is another workload's, or the API
    /// server refused it.
    pub refused: Option<Trouble>,
}

/// The result of writing one child.
enum Outcome<K> {
    /// Already what we want: nothing written.
    Unchanged,
    /// Written; `put_back` when someone else had changed it.
    Written {
        object: K,
        put_back: bool,
    },
    Refused(Trouble),
}

pub async fn apply(client: &Client, ns: &str, observed: &Observed, changes: Vec<Change>) -> Result<Applied, Error> {
    let mut applied = Applied {
        deployment: observed.deployment.clone(),
        spill: observed.spill.clone(),
        ..Applied::default()
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    for change in changes {
        match change {
            Change::Write(Child::Deployment { object, for_ }) => {
                let spill = for_ == NamedFor::Spill;
                let cached = if spill { &observed.spill } else { &observed.deployment };
                let outcome = write(&deployments, cached.as_ref(), &for_, *object).await?;
                if let Some(written) = applied.take("Deployment", outcome) {
                    let record = Some(CachedDeployment::from(&DeploymentView::from(&written)));
                    *(if spill {
                        &mut applied.spill
                    } else {
                        &mut applied.deployment
                    }) = record;
                }
            }
            Change::Write(Child::Service(object)) => {
                let outcome = write(&services, observed.service.as_ref(), &NamedFor::Workload, *object).await?;
                applied.take("Service", outcome);
            }
            Change::Remove(removal) => {
                let due = match removal.when {
                    RemoveWhen::Now => true,
                    RemoveWhen::RolledOut { replicas } => {
                        applied.deployment.as_ref().is_some_and(|d| d.rolled_out(replicas))
                    }
                };
                if !due {
                    continue;
                }
                match removal.kind {
                    Kind::Deployment => {
                        deployments.delete(&removal.name, &DeleteParams::default()).await?;
                        applied.spill = None;
                    }
                    Kind::Service => {
                        services.delete(&removal.name, &DeleteParams::default()).await?;
                    }
                }
            }
        }
    }
    Ok(applied)
}

impl Applied {
    /// Keep what one write says: a put-back to report, or the first refusal; the object written.
    fn take<K>(&mut self, kind: &'static str, outcome: Outcome<K>) -> Option<K> {
        match outcome {
            Outcome::Unchanged => None,
            Outcome::Written { object, put_back } => {
                if put_back {
                    self.put_back.push(kind);
                }
                Some(object)
            }
            Outcome::Refused(trouble) => {
                self.refused.get_or_insert(trouble);
                None
            }
        }
    }
}

/// Write one child unless another workload owns its name or the cached one already is what we
/// want.
async fn write<K, C>(api: &Api<K>, cached: Option<&C>, expected: &NamedFor, mut desired: K) -> Result<Outcome<K>, Error>
where
    K: Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    C: CachedChild,
    K::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    let name = desired.name_any();
    if let Some(owner) = cached.and_then(|c| c.other_owner(&name, expected)) {
        return Ok(Outcome::Refused(Trouble {
            reason: reason::NAME_TAKEN,
            message: format!("the {kind} {name} belongs to the workload {owner}; rename one of them"),
        }));
    }
    let serialize = |source| Error::Serialize { what: "child", source };
    drift::stamp(&mut desired, |d| d.meta_mut()).map_err(serialize)?;
    if drift::up_to_date(cached, desired.meta(), || serde_json::to_value(&desired).ok()) {
        return Ok(Outcome::Unchanged);
    }
    // Our hash on it, yet fields we set no longer ours: someone else edited it.
    let edited = cached
        .is_some_and(|c| c.spec_hash().is_some() && c.spec_hash() == crate::api::labels::spec_hash(desired.meta()));
    match apply_child(api, &name, &desired).await {
        Ok((object, written)) => Ok(Outcome::Written {
            object,
            put_back: edited || written == Written::PutBack,
        }),
        Err(Error::Kube(e)) if is_invalid(&e) => Ok(Outcome::Refused(Trouble {
            reason: reason::CHILD_REJECTED,
            message: format!("the API server refused the {kind}: {e}"),
        })),
        Err(e) => Err(e),
    }
}
