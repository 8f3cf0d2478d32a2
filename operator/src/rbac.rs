//! Every Kubernetes API permission the operator uses, with why. The Helm chart's ClusterRole must
//! grant exactly these (a test compares them), and the controller tests check that every request
//! the operator makes is covered by one.

use crate::api_path::ApiPath;

/// Where a permission is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (ClusterRole).
    Cluster,
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
        scope: Scope::Cluster,
        group: "wasm-operator.dev",
        resource: "wasmworkloads",
        verbs: &["list", "watch"],
        why: "the workloads to reconcile",
    },
    Permission {
        scope: Scope::Cluster,
        group: "wasm-operator.dev",
        resource: "wasmworkloads/status",
        verbs: &["patch"],
        why: "status is written with server-side apply",
    },
    Permission {
        scope: Scope::Cluster,
        group: "apps",
        resource: "deployments",
        verbs: &["list", "watch", "patch"],
        why: "the workload's Deployment: watched by label, written with server-side apply",
    },
    Permission {
        scope: Scope::Cluster,
        group: "",
        resource: "services",
        verbs: &["list", "watch", "patch", "delete"],
        why: "the workload's Service: applied when enabled, deleted when disabled",
    },
    Permission {
        scope: Scope::Cluster,
        group: "",
        resource: "pods",
        verbs: &["list", "watch"],
        why: "the workload's pods (label-selected): cold starts, failures, image size",
    },
    Permission {
        scope: Scope::Cluster,
        group: "",
        resource: "events",
        verbs: &["list", "watch"],
        why: "FailedCreatePodSandBox Events (field-selected) of Wasm pods",
    },
    Permission {
        scope: Scope::Cluster,
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
        scope: Scope::Cluster,
        group: "metrics.k8s.io",
        resource: "pods",
        verbs: &["list"],
        why: "memory working set of the workload's pods (when metrics-server is installed)",
    },
    Permission {
        scope: Scope::OwnNamespace,
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        why: "leader election: read, create and renew (optimistically) the wasm-operator Lease",
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

/// The (group, resource, verb) an HTTP request to the API server needs.
pub fn request_triple(method: &str, path: &str, watch: bool) -> Option<(String, String, String)> {
    let p = ApiPath::parse(path)?;
    let resource = p
        .subresource
        .as_ref()
        .map_or(p.resource.clone(), |s| format!("{}/{s}", p.resource));
    let verb = match (method, p.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        _ => return None,
    };
    Some((p.group, resource, verb.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_rbac_triples() {
        let t = |g: &str, r: &str, v: &str| Some((g.to_string(), r.to_string(), v.to_string()));
        assert_eq!(
            request_triple("GET", "/apis/apps/v1/deployments", true),
            t("apps", "deployments", "watch")
        );
        assert_eq!(request_triple("GET", "/api/v1/nodes", false), t("", "nodes", "list"));
        assert_eq!(
            request_triple(
                "PATCH",
                "/apis/wasm-operator.dev/v1alpha1/namespaces/d/wasmworkloads/x/status",
                false
            ),
            t("wasm-operator.dev", "wasmworkloads/status", "patch")
        );
        assert_eq!(
            request_triple("POST", "/apis/events.k8s.io/v1/namespaces/d/events", false),
            t("events.k8s.io", "events", "create")
        );
        assert_eq!(
            request_triple("DELETE", "/api/v1/namespaces/d/services/x", false),
            t("", "services", "delete")
        );
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
