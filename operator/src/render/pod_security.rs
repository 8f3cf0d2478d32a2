//! The security settings of a workload's pods: what the spec sets, over defaults that pass the
//! `restricted` Pod Security Standard, the level Kubernetes recommends for application
//! namespaces. Wasm pods lose nothing by them (the module runs in the shim's sandbox); a
//! fallback image that must run as root says so in the spec, where its namespace allows it.
//! Pure: no client.

use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, SeccompProfile, SecurityContext};

/// The user the pods run as when the spec names none: the usual unprivileged uid of distroless
/// and scratch images, since an image's own USER cannot be known before it runs.
pub const DEFAULT_USER: i64 = 65532;

/// Whether the spec asks for root somewhere: then runAsNonRoot is not defaulted, or the kubelet
/// would refuse to start the container it asks for.
fn asks_for_root(pod: Option<&PodSecurityContext>, container: Option<&SecurityContext>) -> bool {
    pod.and_then(|p| p.run_as_user) == Some(0) || container.and_then(|c| c.run_as_user) == Some(0)
}

/// The pod's security context: runAsNonRoot true, runAsUser and runAsGroup 65532 (when no user
/// is named and runAsNonRoot stays true), seccomp RuntimeDefault; each field the spec sets wins.
pub fn pod_security_context(
    pod: Option<&PodSecurityContext>,
    container: Option<&SecurityContext>,
) -> PodSecurityContext {
    let mut sc = pod.cloned().unwrap_or_default();
    if sc.run_as_non_root.is_none() && !asks_for_root(pod, container) {
        sc.run_as_non_root = Some(true);
    }
    let user_named = sc.run_as_user.is_some() || container.and_then(|c| c.run_as_user).is_some();
    if sc.run_as_non_root == Some(true) && !user_named {
        sc.run_as_user = Some(DEFAULT_USER);
        sc.run_as_group.get_or_insert(DEFAULT_USER);
    }
    sc.seccomp_profile.get_or_insert_with(|| SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        localhost_profile: None,
    });
    sc
}

/// The container's security context: allowPrivilegeEscalation false and capabilities drop ALL;
/// each field the spec sets wins. A privileged container or one adding CAP_SYS_ADMIN keeps
/// allowPrivilegeEscalation unset, since the API server refuses `false` beside either.
pub fn container_security_context(container: Option<&SecurityContext>) -> SecurityContext {
    let mut sc = container.cloned().unwrap_or_default();
    let adds_sys_admin = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .is_some_and(|add| add.iter().any(|a| a == "SYS_ADMIN" || a == "CAP_SYS_ADMIN"));
    if sc.privileged != Some(true) && !adds_sys_admin {
        sc.allow_privilege_escalation.get_or_insert(false);
    }
    let caps = sc.capabilities.get_or_insert_with(Capabilities::default);
    caps.drop.get_or_insert_with(|| vec!["ALL".to_string()]);
    sc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_settings_give_the_restricted_defaults() {
        let pod = pod_security_context(None, None);
        assert_eq!(pod.run_as_non_root, Some(true));
        assert_eq!((pod.run_as_user, pod.run_as_group), (Some(65532), Some(65532)));
        assert_eq!(pod.seccomp_profile.unwrap().type_, "RuntimeDefault");
        assert_eq!(pod.fs_group, None, "no recursive chown of volumes unless asked for");
        let c = container_security_context(None);
        assert_eq!(c.allow_privilege_escalation, Some(false));
        assert_eq!(c.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
        assert_eq!(c.privileged, None);
    }

    #[test]
    fn each_field_the_spec_sets_wins_and_the_rest_stay_default() {
        let user = PodSecurityContext {
            run_as_user: Some(1000),
            fs_group: Some(2000),
            ..Default::default()
        };
        let pod = pod_security_context(Some(&user), None);
        assert_eq!(pod.run_as_user, Some(1000));
        assert_eq!(pod.run_as_group, None, "a named user keeps the image's group");
        assert_eq!((pod.run_as_non_root, pod.fs_group), (Some(true), Some(2000)));
        assert_eq!(pod.seccomp_profile.unwrap().type_, "RuntimeDefault");

        let adds = SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_BIND_SERVICE".into()]),
                drop: None,
            }),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        };
        let c = container_security_context(Some(&adds));
        let caps = c.capabilities.unwrap();
        assert_eq!(caps.add, Some(vec!["NET_BIND_SERVICE".to_string()]));
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]), "drop ALL stays under an add");
        assert_eq!(
            (c.read_only_root_filesystem, c.allow_privilege_escalation),
            (Some(true), Some(false))
        );
    }

    #[test]
    fn a_fallback_that_must_run_as_root_gets_root() {
        // The pod level or the container level names uid 0: runAsNonRoot is not forced on it.
        for (pod, ctr) in [
            (
                Some(PodSecurityContext {
                    run_as_user: Some(0),
                    ..Default::default()
                }),
                None,
            ),
            (
                None,
                Some(SecurityContext {
                    run_as_user: Some(0),
                    ..Default::default()
                }),
            ),
        ] {
            let p = pod_security_context(pod.as_ref(), ctr.as_ref());
            assert_eq!(p.run_as_non_root, None);
            assert_ne!(p.run_as_user, Some(DEFAULT_USER));
        }
        let off = PodSecurityContext {
            run_as_non_root: Some(false),
            ..Default::default()
        };
        let p = pod_security_context(Some(&off), None);
        assert_eq!(
            (p.run_as_non_root, p.run_as_user),
            (Some(false), None),
            "the image's user"
        );
    }

    #[test]
    fn privileged_or_sys_admin_containers_keep_escalation_unset() {
        let privileged = SecurityContext {
            privileged: Some(true),
            ..Default::default()
        };
        assert_eq!(
            container_security_context(Some(&privileged)).allow_privilege_escalation,
            None
        );
        let sys_admin = SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(vec!["SYS_ADMIN".into()]),
                drop: Some(vec![]),
            }),
            ..Default::default()
        };
        let c = container_security_context(Some(&sys_admin));
        assert_eq!(c.allow_privilege_escalation, None);
        assert_eq!(
            c.capabilities.unwrap().drop,
            Some(vec![]),
            "an explicit empty drop is kept"
        );
    }
}
