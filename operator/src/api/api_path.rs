//! The parts of a Kubernetes REST path: group, namespace, resource, name, subresource.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath {
    /// "" for the core group.
    pub group: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl ApiPath {
    pub fn parse(path: &str) -> Option<ApiPath> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", "v1", rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            rest => (None, rest),
        };
        let (resource, rest) = rest.split_first()?;
        if rest.len() > 2 {
            return None;
        }
        Some(ApiPath {
            group: group.to_string(),
            namespace,
            resource: resource.to_string(),
            name: rest.first().map(|s| s.to_string()),
            subresource: rest.get(1).map(|s| s.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let p = ApiPath::parse("/apis/apps/v1/namespaces/demo/deployments/hello").unwrap();
        assert_eq!(
            (
                p.group.as_str(),
                p.namespace.as_deref(),
                p.resource.as_str(),
                p.name.as_deref()
            ),
            ("apps", Some("demo"), "deployments", Some("hello"))
        );
        let p = ApiPath::parse("/apis/wasm-operator.dev/v1alpha1/namespaces/demo/wasmworkloads/hello/status").unwrap();
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let p = ApiPath::parse("/api/v1/nodes").unwrap();
        assert_eq!(
            (p.group.as_str(), p.resource.as_str(), p.namespace, p.name),
            ("", "nodes", None, None)
        );
        let p = ApiPath::parse("/api/v1/namespaces/demo/services").unwrap();
        assert_eq!(
            (p.resource.as_str(), p.namespace.as_deref(), p.name),
            ("services", Some("demo"), None)
        );
        assert_eq!(ApiPath::parse("/version"), None);
        assert_eq!(ApiPath::parse("/api/v1/a/b/c/d"), None);
    }
}
