//! `wasm-operator doctor [-n NS NAME]`: which nodes can run which Wasm RuntimeClass and why
//! not, why one workload is not Wasm, and whether the installation is whole. This file reads
//! the cluster; `report.rs` judges what it read.

pub mod report;

use crate::api::crd::WasmWorkload;
use crate::api::failure_record::FailureRecord;
use crate::api::rbac::{Scope, PERMISSIONS};
use crate::decide::discovery::Readiness;
use crate::decide::runtimes::RuntimeConfig;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, CustomResourceExt, ResourceExt};
use report::{Facts, Installation, SandboxEvent, WasmPod, WorkloadFacts};

/// What to look at.
#[derive(Clone, Debug)]
pub struct Ask {
    /// (namespace, name) of a workload to explain.
    pub workload: Option<(String, String)>,
    /// Namespace of the operator's Lease.
    pub lease_namespace: String,
    /// Port of the operator's `/readyz` in its pod.
    pub metrics_port: u16,
}

/// Read everything the report needs. An API error on one check becomes that check's verdict;
/// only a cluster that does not answer at all is an error.
pub async fn gather(client: &kube::Client, ask: &Ask) -> Result<Facts, kube::Error> {
    let runtime_classes = crate::listing::list_all::<RuntimeClass>(client).await?;
    let nodes = crate::listing::list_all::<Node>(client).await?;
    let events: Api<Event> = Api::all(client.clone());
    let sandbox_events = events
        .list(&ListParams::default().fields("reason=FailedCreatePodSandBox"))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|e| SandboxEvent {
            node: e
                .source
                .as_ref()
                .and_then(|s| s.host.clone())
                .or(e.reporting_instance.clone())
                .unwrap_or_default(),
            message: e.message.unwrap_or_default(),
        })
        .collect();
    let pods: Api<Pod> = Api::all(client.clone());
    let wasm_pods = pods
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let spec = p.spec.as_ref()?;
            // A pod whose container started (running or finished) proves the handler works.
            let started = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.state
                            .as_ref()
                            .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
                    })
                });
            Some(WasmPod {
                node: spec.node_name.clone()?,
                runtime_class: spec.runtime_class_name.clone()?,
            })
            .filter(|_| started)
        })
        .collect();
    let workload = match &ask.workload {
        Some((ns, name)) => {
            let wl = Api::<WasmWorkload>::namespaced(client.clone(), ns).get(name).await?;
            let failure = Api::<Deployment>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .and_then(|d| FailureRecord::from_annotations(d.metadata.annotations.as_ref()));
            Some(WorkloadFacts { workload: wl, failure })
        }
        None => None,
    };
    Ok(Facts {
        runtime_classes,
        nodes,
        sandbox_events,
        wasm_pods,
        installation: installation(client, ask).await,
        workload,
        // The grace is the configuration's: `run` sets it.
        readiness: Readiness::strict(k8s_openapi::jiff::Timestamp::now()),
    })
}

async fn installation(client: &kube::Client, ask: &Ask) -> Installation {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let want = WasmWorkload::crd();
    let crd_matches = crds
        .get_opt(&want.name_any())
        .await
        .ok()
        .flatten()
        .map(|c| schema_of(&c) == schema_of(&want));
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ask.lease_namespace);
    let lease = leases.get_opt("wasm-operator").await.ok().flatten().and_then(|l| {
        let spec = l.spec?;
        let holder = spec.holder_identity.filter(|h| !h.is_empty())?;
        let renewed = spec.renew_time?.0;
        let age = k8s_openapi::jiff::Timestamp::now().duration_since(renewed).as_secs();
        Some((holder, age, i64::from(spec.lease_duration_seconds.unwrap_or(15))))
    });
    let readyz = match &lease {
        Some((holder, _, _)) => Some(leader_ready(client, &ask.lease_namespace, holder, ask.metrics_port).await),
        None => None,
    };
    let metrics_server = client.list_api_group_resources("metrics.k8s.io/v1beta1").await.is_ok();
    let mut permissions = vec![];
    for p in PERMISSIONS {
        let namespace = (p.scope == Scope::OwnNamespace).then(|| ask.lease_namespace.clone());
        for verb in p.verbs {
            let (resource, subresource) = match p.resource.split_once('/') {
                Some((r, s)) => (r.to_string(), Some(s.to_string())),
                None => (p.resource.to_string(), None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(p.group.to_string()),
                        resource: Some(resource),
                        subresource,
                        verb: Some(verb.to_string()),
                        namespace: namespace.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let allowed = Api::<SelfSubjectAccessReview>::all(client.clone())
                .create(&PostParams::default(), &review)
                .await
                .ok()
                .and_then(|r| r.status)
                .is_some_and(|s| s.allowed);
            let group = if p.group.is_empty() { "core" } else { p.group };
            permissions.push((format!("{group}/{}", p.resource), verb.to_string(), allowed));
        }
    }
    Installation {
        crd_matches,
        lease,
        readyz,
        metrics_server,
        permissions,
    }
}

fn schema_of(crd: &CustomResourceDefinition) -> Option<serde_json::Value> {
    let v = crd.spec.versions.iter().find(|v| v.name == "v1alpha1")?;
    serde_json::to_value(v.schema.as_ref()?).ok()
}

/// The leader pod's `/readyz`, through the API server's pod proxy.
async fn leader_ready(client: &kube::Client, namespace: &str, pod: &str, port: u16) -> Result<bool, String> {
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/readyz");
    let req = http::Request::get(path).body(Vec::new()).map_err(|e| e.to_string())?;
    match client.request_text(req).await {
        Ok(body) => Ok(body.trim() == "ready"),
        Err(kube::Error::Api(s)) if s.code == 503 => Ok(false),
        Err(kube::Error::Api(s)) => Err(s.message),
        Err(e) => Err(e.to_string()),
    }
}

/// Gather, judge and print; the exit code: 0 all passed, 1 some failed, 2 no cluster.
pub async fn run(client: &kube::Client, ask: &Ask, config: &RuntimeConfig, json: bool) -> u8 {
    match gather(client, ask).await {
        Ok(mut facts) => {
            facts.readiness.grace = config.not_ready_grace();
            let r = report::build(&facts, config);
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                print!("{}", r.to_text());
            }
            r.exit_code()
        }
        Err(e) => {
            eprintln!("wasm-operator doctor: cannot read the cluster: {e}");
            2
        }
    }
}
