//! A plan as the list of children the workload should have, in the order they are written, and
//! the children to remove. Pure.

use crate::api::crd::{Mode, WasmWorkload};
use crate::api::views::NamedFor;
use crate::decide::decision::Decision;
use crate::decide::observed::Observed;
use crate::decide::plan::Plan;
use crate::render::deployment::render_deployment;
use crate::render::service::render_service;
use crate::render::spill::{render_spill_deployment, spill_deployment_name, wasm_half};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

/// One child as it should be.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    /// One of the workload's Deployments: its own, or its spill (`for_` says which, so a
    /// Deployment of that name another workload owns is never taken over).
    Deployment {
        object: Box<Deployment>,
        for_: NamedFor,
    },
    Service(Box<Service>),
}

/// When a child that is no longer wanted goes.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoveWhen {
    Now,
    /// Once the workload's Deployment, as written, runs every one of `replicas` pods: a spill
    /// left over goes only then, so the Ready pods never drop on the way.
    RolledOut {
        replicas: i32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    Service,
}

/// A child to remove.
#[derive(Clone, Debug, PartialEq)]
pub struct Removal {
    pub kind: Kind,
    pub name: String,
    pub when: RemoveWhen,
}

/// One step towards the children the workload should have.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Write(Child),
    Remove(Removal),
}

/// What the workload's children should be under `plan`, in the order they are written: its
/// Deployment, the spill Deployment, the Service. No Deployment (Pending, Invalid) means no
/// change to any child.
pub fn children(wl: &WasmWorkload, plan: &Plan, observed: &Observed) -> Vec<Change> {
    let mut out = vec![];
    let Some(deployment) = render_deployment(wl, &plan.decision) else {
        return out;
    };
    let name = wl.name_any();
    let deployment = match &plan.spill {
        Some(p) => wasm_half(deployment, &p.status.excluded_nodes, &p.remembered),
        None => deployment,
    };
    out.push(Change::Write(Child::Deployment {
        object: Box::new(deployment),
        for_: NamedFor::Workload,
    }));
    match (&plan.decision, &plan.spill) {
        (Decision::Wasm(chosen), Some(p)) => {
            if let Some(object) = render_spill_deployment(wl, chosen, p.status.container_replicas) {
                out.push(Change::Write(Child::Deployment {
                    object: Box::new(object),
                    for_: NamedFor::Spill,
                }));
            }
        }
        _ if observed.spill.as_ref().is_some_and(|s| s.named_for == NamedFor::Spill) => {
            out.push(Change::Remove(Removal {
                kind: Kind::Deployment,
                name: spill_deployment_name(&name),
                when: RemoveWhen::RolledOut {
                    replicas: wl.spec.replicas,
                },
            }));
        }
        _ => {}
    }
    let mode = plan.decision.mode().map(Mode::as_label).unwrap_or_default();
    match render_service(wl, mode) {
        Some(service) => out.push(Change::Write(Child::Service(Box::new(service)))),
        None if observed.service.is_some() => out.push(Change::Remove(Removal {
            kind: Kind::Service,
            name,
            when: RemoveWhen::Now,
        })),
        None => {}
    }
    out
}
