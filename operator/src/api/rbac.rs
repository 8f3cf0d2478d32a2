//! Every Kubernetes API permission the operator uses, with why. The Helm chart's roles must grant
//! exactly these (a test compares them), and the controller tests check that every request the
//! operator makes is covered, with the verbs the API server's authorizer asks for.

use crate::api::api_path::ApiPath;

/// Where a permission is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-scoped resources (ClusterRole, always).
    Cluster,
    /// The workloads' namespaced resources: a ClusterRole when every namespace is watched, a Role
    /// in the watched namespace when one is.
    Watched,
    /// The operator's own namespace only (Role).
    OwnNamespace,
}

/// One API group/resource and the verbs used on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub scope: Scope,
    /// API group; "" is the core group.
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    pub why: &'static str,
}

pub const PERMISSIONS: &[Permission] = &[
    Permission {
        scope: Scope::Watched,
        group: "wasm-operator.dev",
        resource: "wasmworkloads",
        verbs: &["list", "watch"],
        why: "the workloads to reconcile",
    },
    Permission {
        scope: Scope::Watched,
        group: "wasm-operator.dev",
        resource: "wasmworkloads/status",
        verbs: &["patch"],
        why: "status is written with server-side apply",
    },
    Permission {
        scope: Scope::Watched,
        group: "apps",
        resource: "deployments",
        verbs: &["list", "watch", "create", "patch"],
        why: "the workload's Deployment: watched by label, written with server-side apply (create when it does not exist yet)",
    },
    Permission {
        scope: Scope::Watched,
        group: "",
        resource: "services",
        verbs: &["list", "watch", "create", "patch", "delete"],
        why: "the workload's Service: applied when enabled (create when it does not exist yet), deleted when disabled",
    },
    Permission {
        scope: Scope::Watched,
        group: "",
        resource: "pods",
        verbs: &["list", "watch"],
        why: "the workload's pods (label-selected): cold starts, failures, image size",
    },
    Permission {
        scope: Scope::Watched,
        group: "",
        resource: "events",
        verbs: &["list", "watch"],
        why: "FailedCreatePodSandBox Events (field-selected) of Wasm pods",
    },
    Permission {
        scope: Scope::Watched,
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create"],
        why: "Events about workloads",
    },
    Permission {
        scope: Scope::Cluster,
        group: "node.k8s.io",
        resource: "runtimeclasses",
        verbs: &["list", "watch"],
        why: "runtime discovery",
    },
    Permission {
        scope: Scope::Cluster,
        group: "",
        resource: "nodes",
        verbs: &["list", "watch"],
        why: "which nodes can run each RuntimeClass, and image sizes",
    },
    Permission {
        scope: Scope::Watched,
        group: "metrics.k8s.io",
        resource: "pods",
        verbs: &["list"],
        why: "memory working set of the workload's pods (when metrics-server is installed)",
    },
    Permission {
        scope: Scope::OwnNamespace,
        group: "",
        resource: "pods",
        verbs: &["get"],
        why: "its own pod, to find the Deployment that owns the Lease",
    },
    Permission {
        scope: Scope::OwnNamespace,
        group: "apps",
        resource: "replicasets",
        verbs: &["get"],
        why: "its own ReplicaSet, to find the Deployment that owns the Lease",
    },
    Permission {
        scope: Scope::OwnNamespace,
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "list", "watch", "create", "update"],
        why: "leader election: read, create and renew (optimistically) the wasm-operator Lease, and watch it to take it the moment it is released",
    },
];

/// Every (group, resource, verb) triple granted, in any scope.
pub fn triples() -> Vec<(String, String, String)> {
    scoped_triples(None)
}

/// The (group, resource, verb) triples granted in one scope (all scopes with `None`).
pub fn scoped_triples(scope: Option<Scope>) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = PERMISSIONS
        .iter()
        .filter(|p| scope.is_none_or(|s| p.scope == s))
        .flat_map(|p| {
            p.verbs
                .iter()
                .map(move |v| (p.group.to_string(), p.resource.to_string(), v.to_string()))
        })
        .collect();
    out.sort();
    out
}

/// The content type of a server-side apply.
pub const APPLY_CONTENT_TYPE: &str = "application/apply-patch+yaml";

/// The (group, resource, verb) triples the API server's authorizer checks for an HTTP request.
/// A server-side apply is a `patch`, and also a `create` when the object does not exist yet
/// (except on a subresource, whose object must exist).
pub fn request_triples(
    method: &str,
    path: &str,
    watch: bool,
    content_type: Option<&str>,
) -> Option<Vec<(String, String, String)>> {
    let p = ApiPath::parse(path)?;
    let resource = p
        .subresource
        .as_ref()
        .map_or(p.resource.clone(), |s| format!("{}/{s}", p.resource));
    let apply = content_type.is_some_and(|c| c.starts_with(APPLY_CONTENT_TYPE));
    let verbs: &[&str] = match (method, p.name.is_some()) {
        ("GET", false) if watch => &["watch"],
        ("GET", false) => &["list"],
        ("GET", true) => &["get"],
        ("POST", _) => &["create"],
        ("PATCH", _) if apply && p.subresource.is_none() => &["patch", "create"],
        ("PATCH", _) => &["patch"],
        ("PUT", _) => &["update"],
        ("DELETE", _) => &["delete"],
        _ => return None,
    };
    Some(
        verbs
            .iter()
            .map(|v| (p.group.clone(), resource.clone(), (*v).to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(g: &str, r: &str, verbs: &[&str]) -> Option<Vec<(String, String, String)>> {
        Some(
            verbs
                .iter()
                .map(|v| (g.to_string(), r.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn requests_map_to_the_verbs_the_authorizer_checks() {
        assert_eq!(
            request_triples("GET", "/apis/apps/v1/deployments", true, None),
            t("apps", "deployments", &["watch"])
        );
        assert_eq!(
            request_triples("GET", "/api/v1/nodes", false, None),
            t("", "nodes", &["list"])
        );
        assert_eq!(
            request_triples("POST", "/apis/events.k8s.io/v1/namespaces/d/events", false, None),
            t("events.k8s.io", "events", &["create"])
        );
        assert_eq!(
            request_triples("DELETE", "/api/v1/namespaces/d/services/x", false, None),
            t("", "services", &["delete"])
        );
        // Server-side apply of an object that may not exist is authorized as create too; the
        // real API server answered `cannot create resource "deployments"` to a patch-only role.
        assert_eq!(
            request_triples(
                "PATCH",
                "/apis/apps/v1/namespaces/d/deployments/x",
                false,
                Some("application/apply-patch+yaml")
            ),
            t("apps", "deployments", &["patch", "create"])
        );
        assert_eq!(
            request_triples(
                "PATCH",
                "/api/v1/namespaces/d/services/x",
                false,
                Some("application/merge-patch+json")
            ),
            t("", "services", &["patch"])
        );
        // A subresource's object exists already: status apply is a patch only.
        assert_eq!(
            request_triples(
                "PATCH",
                "/apis/wasm-operator.dev/v1alpha1/namespaces/d/wasmworkloads/x/status",
                false,
                Some("application/apply-patch+yaml")
            ),
            t("wasm-operator.dev", "wasmworkloads/status", &["patch"])
        );
    }

    #[test]
    fn only_cluster_scoped_resources_need_cluster_wide_rights() {
        for p in PERMISSIONS {
            let cluster_scoped = matches!(p.resource, "nodes" | "runtimeclasses");
            assert_eq!(p.scope == Scope::Cluster, cluster_scoped, "{}/{}", p.group, p.resource);
        }
    }

    #[test]
    fn no_wildcards_and_no_secrets() {
        for (g, r, v) in triples() {
            assert!(g != "*" && r != "*" && v != "*", "wildcard in {g}/{r}/{v}");
            assert_ne!(r, "secrets", "the operator never reads Secrets");
            assert!(
                v != "update" || r == "leases",
                "server-side apply needs patch, not update ({r})"
            );
        }
    }
}
