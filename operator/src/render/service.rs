//! Builds the Service of a workload. Pure: no client.

use crate::api::crd::WasmWorkload;
use crate::api::labels;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

/// The Service when `service.enabled`; it forwards `service.port` to the first container port.
pub fn render_service(wl: &WasmWorkload, mode: &str) -> Option<Service> {
    let svc = wl.spec.service.as_ref().filter(|s| s.enabled)?;
    let port = wl.spec.ports.first()?;
    let name = wl.name_any();
    let target = match &port.name {
        Some(n) => IntOrString::String(n.clone()),
        None => IntOrString::Int(port.container_port),
    };
    Some(Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: wl.namespace(),
            labels: Some(labels::common_labels(&name, mode)),
            annotations: (!svc.annotations.is_empty()).then(|| svc.annotations.clone()),
            owner_references: wl.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(svc.type_.clone()),
            selector: Some(labels::selector_labels(&name)),
            ports: Some(vec![ServicePort {
                name: Some(port.name.clone().unwrap_or_else(|| "app".to_string())),
                port: svc.port,
                target_port: Some(target),
                // Explicit, as the server defaults it: the list is keyed by port and protocol.
                protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::crd::{ServiceSpec as WlService, WorkloadPort};
    use crate::tests::fixtures::workload;

    #[test]
    fn enabled_service_targets_the_first_port_by_name() {
        let wl = workload("hello", "demo");
        let s = render_service(&wl, "wasm").unwrap();
        let spec = s.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.selector, Some(labels::selector_labels("hello")));
        let p = &spec.ports.unwrap()[0];
        assert_eq!(p.port, 80);
        assert_eq!(p.target_port, Some(IntOrString::String("http".into())));
        assert_eq!(s.metadata.owner_references.unwrap()[0].name, "hello");
        assert_eq!(s.metadata.labels.unwrap()[labels::MODE_KEY], "wasm");
    }

    #[test]
    fn unnamed_port_is_targeted_by_number() {
        let mut wl = workload("hello", "demo");
        wl.spec.ports = vec![WorkloadPort {
            name: None,
            container_port: 3000,
            protocol: None,
        }];
        wl.spec.service = Some(WlService {
            enabled: true,
            type_: "NodePort".into(),
            port: 8080,
            annotations: [(
                "service.beta.kubernetes.io/aws-load-balancer-type".to_string(),
                "nlb".to_string(),
            )]
            .into(),
        });
        let svc = render_service(&wl, "container").unwrap();
        assert_eq!(
            svc.metadata.annotations.unwrap()["service.beta.kubernetes.io/aws-load-balancer-type"],
            "nlb",
            "load balancers read the Service's annotations"
        );
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        let p = &spec.ports.unwrap()[0];
        assert_eq!((p.port, p.target_port.clone()), (8080, Some(IntOrString::Int(3000))));
    }

    #[test]
    fn disabled_or_absent_service_renders_nothing() {
        let mut wl = workload("hello", "demo");
        wl.spec.service.as_mut().unwrap().enabled = false;
        assert!(render_service(&wl, "wasm").is_none());
        wl.spec.service = None;
        assert!(render_service(&wl, "wasm").is_none());
    }
}
