//! The `WasmWorkload` custom resource: spec, status and the CEL rules the API server enforces.

use k8s_openapi::api::core::v1::{
    Affinity, CSIVolumeSource, ConfigMapVolumeSource, DownwardAPIVolumeSource, EmptyDirVolumeSource, EnvFromSource,
    EnvVar, EphemeralVolumeSource, LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSecurityContext, Probe,
    ProjectedVolumeSource, ResourceRequirements, SecretVolumeSource, SecurityContext, Toleration,
    TopologySpreadConstraint, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// Large optional parts are boxed: every cached workload pays only a pointer for them when unset.

/// Desired state of a WasmWorkload: a WebAssembly module to run through a Wasm RuntimeClass,
/// with an ordinary container image to fall back to where no Wasm runtime is usable.
// Several printer columns share `type_ = "string"`: not duplicates, separate columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "wasm-operator.dev",
    version = "v1alpha1",
    kind = "WasmWorkload",
    namespaced,
    shortname = "wasmw",
    category = "all",
    status = "WasmWorkloadStatus",
    derive = "PartialEq",
    doc = "A WebAssembly application run through a Wasm RuntimeClass where the cluster can, and as a container where it cannot.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".status.mode",
        description = "Wasm, Container or Pending"
    ),
    printcolumn(
        name = "Runtime",
        type_ = "string",
        json_path = ".status.runtimeClassName",
        description = "RuntimeClass used in Wasm mode"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Pods Ready"
    ),
    printcolumn(
        name = "Wasm",
        type_ = "integer",
        json_path = ".status.replicasByMode.wasm.readyReplicas",
        description = "Wasm pods Ready"
    ),
    printcolumn(
        name = "Container",
        type_ = "integer",
        json_path = ".status.replicasByMode.container.readyReplicas",
        description = "Container pods Ready (the fallback, or the spill under placement Spill)"
    ),
    printcolumn(
        name = "Cold start",
        type_ = "number",
        json_path = ".status.coldStart.p50Seconds",
        description = "Median cold start in seconds, over status.coldStart.windowSamples recent pods"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("!has(self.service) || !has(self.service.enabled) || !self.service.enabled || (has(self.ports) && size(self.ports) > 0)").message("service.enabled requires at least one entry in ports"))]
#[x_kube(validation = Rule::new("!has(self.ports) || self.ports.all(p, !has(p.name) || self.ports.exists_one(q, has(q.name) && q.name == p.name))").message("ports names must be unique"))]
#[x_kube(validation = Rule::new("!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.name))").message("every volumeMounts entry must name an entry of volumes"))]
#[x_kube(validation = Rule::new("(!has(self.readinessProbe) || !has(self.readinessProbe.exec)) && (!has(self.livenessProbe) || !has(self.livenessProbe.exec)) && (!has(self.startupProbe) || !has(self.startupProbe.exec))").message("probes cannot use exec: Wasm pods run no commands; use httpGet, tcpSocket or grpc"))]
#[x_kube(validation = Rule::new("!has(self.placement) || self.placement != 'Spill' || (has(self.fallback) && has(self.fallback.image) && self.fallback.policy != 'Never')").message("placement Spill needs fallback.image and a fallback.policy other than Never"))]
#[serde(rename_all = "camelCase")]
pub struct WasmWorkloadSpec {
    /// Number of pods. `kubectl scale` and HorizontalPodAutoscalers change it through the scale subresource.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 10000))]
    pub replicas: i32,

    /// The WebAssembly module and the runtimes that may run it.
    pub wasm: WasmSpec,

    /// The ordinary container image of the same application, used where Wasm cannot run.
    /// Absent means no fallback (policy `Never`): the workload stays Pending while no Wasm runtime
    /// is usable. Given, its policy defaults to `OnFailure` and it needs an image.
    #[serde(default = "FallbackSpec::none")]
    pub fallback: FallbackSpec,

    /// `Whole` (default): every pod runs in one mode at a time. `Spill`: the Wasm Deployment runs
    /// all `replicas`, and a second Deployment of the fallback image (`<name>-spill`) makes up
    /// for the Wasm pods that cannot run; nodes where Wasm pods fail are kept out for a while.
    #[serde(default, skip_serializing_if = "Placement::is_whole")]
    pub placement: Placement,

    /// How `placement: Spill` shifts pods between the modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill: Option<SpillSpec>,

    /// Environment variables, shared by the Wasm and the container mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub env: Vec<EnvVar>,

    /// Environment variables from ConfigMaps and Secrets, shared by both modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub env_from: Vec<EnvFromSource>,

    /// Ports the application listens on, shared by both modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub ports: Vec<WorkloadPort>,

    /// A Service in front of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,

    /// Compute resources of the application container in both modes, unless `wasm.resources` or
    /// `fallback.resources` gives that mode its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<ResourceRequirements>>,

    /// Readiness probe of the application container (httpGet, tcpSocket or grpc: Wasm pods run no
    /// commands). A pod counts as started (cold start) when it first passes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Box<Probe>>,

    /// Liveness probe of the application container: the kubelet restarts it when this fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Box<Probe>>,

    /// Startup probe of the application container: the other probes wait until it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Box<Probe>>,

    /// Volumes of the pods, the kinds the `restricted` Pod Security Standard allows. Mounted with
    /// `volumeMounts`, the same in both modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub volumes: Vec<WorkloadVolume>,

    /// Where the volumes are mounted in the application container, in both modes (a Wasm module
    /// sees them as directories of its filesystem).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["mountPath".into()]))]
    pub volume_mounts: Vec<VolumeMount>,

    /// The pods' security context. Unset fields take the operator's defaults, which pass the
    /// `restricted` Pod Security Standard: runAsNonRoot true, runAsUser and runAsGroup 65532
    /// (when runAsNonRoot stays true and no user is given), seccompProfile RuntimeDefault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<PodSecurityContext>>,

    /// The application container's security context. Unset fields take the operator's defaults:
    /// allowPrivilegeEscalation false, capabilities drop ALL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_security_context: Option<Box<SecurityContext>>,

    /// Where the pods may run. Merged with the chosen RuntimeClass's scheduling, never replaced by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Box<SchedulingSpec>>,

    /// ServiceAccount the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,

    /// Secrets holding credentials to pull the Wasm or the fallback image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,

    /// Extra labels on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,

    /// Extra annotations on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,

    /// Extra annotations on the Deployment (the operator's own keys under wasm-operator.dev/ win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployment_annotations: BTreeMap<String, String>,
}

fn default_replicas() -> i32 {
    1
}

/// The WebAssembly side of the workload.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WasmSpec {
    /// OCI image holding the .wasm module (any layout the runwasi shims accept).
    #[x_kube(validation = Rule::new("self.trim() == self && !self.contains(' ')").message("wasm.image must be an image reference without spaces"))]
    #[schemars(length(min = 1, max = 512))]
    pub image: String,

    /// Runtimes in order of preference: runtime names from the operator's configuration (spin, wasmtime…)
    /// or RuntimeClass names. The first usable one wins. Empty means the operator's default order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(r, size(r) > 0)").message("wasm.runtimes entries must not be empty"))]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(s, s == r))").message("wasm.runtimes entries must be unique"))]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    pub runtimes: Vec<String>,

    /// Entrypoint override, for example `["/"]` for Spin images. Empty keeps the image's entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub command: Vec<String>,

    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,

    /// Compute resources of the Wasm pods, instead of `spec.resources` (a shim's pod and a
    /// container of the same app use very different memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<ResourceRequirements>>,
}

/// The container fallback of the workload.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.policy == 'Never' || (has(self.image) && size(self.image) > 0)").message("fallback.image is required unless fallback.policy is Never"))]
#[x_kube(validation = Rule::new("self.maxCooldownSeconds >= self.cooldownSeconds").message("fallback.maxCooldownSeconds must not be below fallback.cooldownSeconds"))]
pub struct FallbackSpec {
    /// Ordinary container image of the same application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.trim() == self && !self.contains(' ')").message("fallback.image must be an image reference without spaces"))]
    #[schemars(length(max = 512))]
    pub image: Option<String>,

    /// Entrypoint override of the fallback image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,

    /// Arguments of the fallback image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,

    /// Compute resources of the container pods, instead of `spec.resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<ResourceRequirements>>,

    /// When to run the fallback image: `Never`; `WhenUnavailable` (no usable Wasm RuntimeClass);
    /// `OnFailure` (also when Wasm pods fail or are not Ready within startupTimeoutSeconds).
    #[serde(default)]
    pub policy: FallbackPolicy,

    /// With `OnFailure`: Wasm pods not Ready after this many seconds make the workload fall back.
    #[serde(default = "default_startup_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub startup_timeout_seconds: i32,

    /// With `OnFailure`: after falling back, Wasm is tried again after this many seconds, and
    /// after twice as long for each failure in a row since (up to `maxCooldownSeconds`).
    #[serde(default = "default_cooldown")]
    #[schemars(range(min = 10, max = 86400))]
    pub cooldown_seconds: i32,

    /// With `OnFailure`: the longest cooldown between two tries of Wasm.
    #[serde(default = "default_max_cooldown")]
    #[schemars(range(min = 10, max = 604800))]
    pub max_cooldown_seconds: i32,
}

fn default_cooldown() -> i32 {
    300
}

fn default_max_cooldown() -> i32 {
    3600
}

fn default_startup_timeout() -> i32 {
    60
}

impl FallbackSpec {
    /// What a workload without `fallback` gets: no container image, never fall back. (A default
    /// with the policy `OnFailure` would break the rule that it needs an image, and the API server
    /// refuses a CRD whose defaults break its own rules.)
    pub fn none() -> Self {
        Self {
            policy: FallbackPolicy::Never,
            ..Self::default()
        }
    }
}

impl Default for FallbackSpec {
    fn default() -> Self {
        Self {
            image: None,
            command: Vec::new(),
            args: Vec::new(),
            resources: None,
            policy: FallbackPolicy::default(),
            startup_timeout_seconds: default_startup_timeout(),
            cooldown_seconds: default_cooldown(),
            max_cooldown_seconds: default_max_cooldown(),
        }
    }
}

/// When the container fallback is used.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FallbackPolicy {
    /// Never run the container image: stay Pending while no Wasm runtime is usable.
    Never,
    /// Run the container image while no Wasm RuntimeClass is usable.
    WhenUnavailable,
    /// Like WhenUnavailable, and also when Wasm pods fail or do not become Ready in time.
    #[default]
    OnFailure,
}

/// How a workload's pods are split between the modes.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// All pods in one mode: Wasm, or the fallback container.
    #[default]
    Whole,
    /// Wasm where the pods can run, the fallback container for the rest.
    Spill,
}

impl Placement {
    fn is_whole(&self) -> bool {
        *self == Placement::Whole
    }
}

/// The timing of `placement: Spill`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SpillSpec {
    /// A container pod is removed only for a Wasm pod that has been Ready this long (and only
    /// while the Ready pods of both modes stay at least `replicas`).
    #[serde(default = "default_hold")]
    #[schemars(range(min = 0, max = 3600))]
    pub hold_seconds: i32,

    /// A node where Wasm pods fail to start is kept out of the Wasm Deployment this long, then
    /// tried again; if it fails again within as long once more, twice as long as the last time
    /// (up to `fallback.maxCooldownSeconds`).
    #[serde(default = "default_node_exclusion")]
    #[schemars(range(min = 10, max = 86400))]
    pub node_exclusion_seconds: i32,
}

fn default_hold() -> i32 {
    60
}

fn default_node_exclusion() -> i32 {
    900
}

impl Default for SpillSpec {
    fn default() -> Self {
        Self {
            hold_seconds: default_hold(),
            node_exclusion_seconds: default_node_exclusion(),
        }
    }
}

/// A port the application listens on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadPort {
    /// IANA service name of the port (lower case, at most 15 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: Option<String>,

    /// Port number in the container.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,

    /// TCP, UDP or SCTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['TCP', 'UDP', 'SCTP']").message("protocol must be TCP, UDP or SCTP"))]
    pub protocol: Option<String>,
}

/// A volume of the pods: exactly one source, of the kinds the `restricted` Pod Security Standard
/// allows (no hostPath), each the Kubernetes type of the same name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.configMap), has(self.secret), has(self.emptyDir), has(self.persistentVolumeClaim), has(self.projected), has(self.downwardAPI), has(self.csi), has(self.ephemeral)].filter(s, s).size() == 1").message("a volume needs exactly one of configMap, secret, emptyDir, persistentVolumeClaim, projected, downwardAPI, csi, ephemeral"))]
pub struct WorkloadVolume {
    /// Name of the volume, as `volumeMounts` refer to it (a DNS label).
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// A ConfigMap's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// A Secret's keys as files (runtime configuration, credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// An empty directory that lives as long as the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// A PersistentVolumeClaim in the workload's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    /// Several sources (ConfigMaps, Secrets, the downward API, a service account token) in one directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
    /// Fields of the pod as files.
    #[serde(default, rename = "downwardAPI", skip_serializing_if = "Option::is_none")]
    pub downward_api: Option<DownwardAPIVolumeSource>,
    /// A CSI driver's ephemeral volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<CSIVolumeSource>,
    /// A volume claimed for the pod's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralVolumeSource>,
}

/// The Service in front of the pods.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Create the Service.
    #[serde(default)]
    pub enabled: bool,

    /// ClusterIP, NodePort or LoadBalancer.
    #[serde(default = "default_service_type", rename = "type")]
    #[x_kube(validation = Rule::new("self in ['ClusterIP', 'NodePort', 'LoadBalancer']").message("service.type must be ClusterIP, NodePort or LoadBalancer"))]
    pub type_: String,

    /// Port the Service listens on; it forwards to the first entry of `ports`.
    #[serde(default = "default_service_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,

    /// Annotations on the Service, for ingress controllers and cloud load balancers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn default_service_type() -> String {
    "ClusterIP".to_string()
}

fn default_service_port() -> i32 {
    80
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            type_: default_service_type(),
            port: default_service_port(),
            annotations: BTreeMap::new(),
        }
    }
}

/// Where the pods may run; merged with the RuntimeClass's own scheduling.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingSpec {
    /// Node labels the pods require.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Affinity rules of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Spread of the pods across topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,

    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// Observed state, written by the operator.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WasmWorkloadStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Wasm, Container or Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,

    /// The RuntimeClass the pods run with, in Wasm mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,

    /// Why the container fallback (or Pending) was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,

    /// After Wasm pods failed (`OnFailure`): how many times in a row, and when Wasm is tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_retry: Option<WasmRetryStatus>,

    /// Pods of the Deployment.
    #[serde(default)]
    pub replicas: i32,

    /// Pods of the Deployment that are Ready.
    #[serde(default)]
    pub ready_replicas: i32,

    /// Pods and Ready pods of each mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_by_mode: Option<ReplicasByMode>,

    /// Under `placement: Spill`: why container pods run, and the nodes kept out of Wasm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill: Option<SpillStatus>,

    /// Label selector of the pods, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// Cold start of the pods: creation to first Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<ColdStartStatus>,

    /// Image size and memory of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint: Option<FootprintStatus>,

    /// The last `wasm-operator compare` of this workload: both modes, one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Box<ComparisonStatus>>,

    /// Ready, RuntimeResolved and Progressing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Pods of each mode.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReplicasByMode {
    pub wasm: ModeReplicas,
    pub container: ModeReplicas,
}

/// Pods of one mode.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModeReplicas {
    /// Pods the mode's Deployment runs.
    pub replicas: i32,
    /// Those that are Ready.
    pub ready_replicas: i32,
}

/// What `placement: Spill` did.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SpillStatus {
    /// Container pods the spill Deployment runs.
    pub container_replicas: i32,
    /// Why Wasm pods cannot run (a reason such as Unschedulable or SandboxFailed), while any cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The first such pod's story.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Nodes kept out of the Wasm Deployment after its pods failed there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_nodes: Vec<ExcludedNode>,
}

/// A node kept out of the Wasm Deployment.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedNode {
    pub node: String,
    /// Why: the failure of the Wasm pod there.
    pub reason: String,
    pub message: String,
    /// When Wasm is tried on the node again (RFC 3339).
    pub until: String,
    /// Exclusions of this node in a row: one that fails again soon after its exclusion ended is
    /// kept out twice as long as the last time, up to `fallback.maxCooldownSeconds`.
    #[serde(default = "one_exclusion")]
    pub exclusions: i32,
}

fn one_exclusion() -> i32 {
    1
}

/// When a workload that fell back after Wasm failures tries Wasm again.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WasmRetryStatus {
    /// Failures of Wasm in a row; each doubles the cooldown (up to fallback.maxCooldownSeconds).
    pub failures: i64,
    /// When Wasm is tried again (RFC 3339), unless the spec or the usable runtimes change first.
    pub next_attempt: String,
}

/// How the workload runs.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Through a Wasm RuntimeClass.
    Wasm,
    /// As the fallback container image.
    Container,
    /// Not running: no usable runtime and no fallback allowed, or the spec cannot be run.
    Pending,
}

impl Mode {
    /// Lower-case form used in labels and metric labels.
    pub fn as_label(self) -> &'static str {
        match self {
            Mode::Wasm => "wasm",
            Mode::Container => "container",
            Mode::Pending => "pending",
        }
    }

    /// The mode a label value names.
    pub fn from_label(label: &str) -> Option<Mode> {
        [Mode::Wasm, Mode::Container, Mode::Pending]
            .into_iter()
            .find(|m| m.as_label() == label)
    }
}

/// Cold-start summary of the workload's pods: creation to first Ready, timed from the watch.
/// The percentiles are over the recent window (`windowSamples` pods, kept here so an operator
/// restart does not shrink it to the pods it saw since).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ColdStartStatus {
    /// The most recent sample.
    pub last_seconds: f64,
    /// Median of the recent window.
    pub p50_seconds: f64,
    /// 95th percentile (nearest rank) of the recent window: with few samples, the slowest.
    pub p95_seconds: f64,
    /// Pods timed since the workload was created.
    pub samples: i64,
    /// Pods the percentiles are computed over (the recent window).
    #[serde(default)]
    pub window_samples: i64,
    /// The recent window itself, in milliseconds, oldest first (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "recent_millis_schema")]
    pub recent_millis: Vec<u32>,
    /// The readiness probe's period, when the workload has one: a pod is Ready (and its cold
    /// start ends) only when a probe passes, up to this long after its app can answer, so the
    /// figures above are bounded below by nothing faster than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_period_seconds: Option<i32>,
}

/// `recentMillis` as integers Kubernetes knows (int64): schemars would write `uint32`, which
/// the API server does not know and `kubectl apply` warns about.
fn recent_millis_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "The recent window itself, in milliseconds, oldest first (at most 64).",
        "type": "array",
        "maxItems": 64,
        "items": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4_294_967_295_u64}
    })
}

/// The last comparison of the two modes (`wasm-operator compare`).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonStatus {
    /// When it ran (RFC 3339).
    pub time: String,
    /// The node both modes ran on.
    pub node: String,
    /// The RuntimeClass of the Wasm pods.
    pub runtime_class: String,
    /// With `compare --http`: the request each pod's app was timed to its first 2xx answer for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// What the Wasm pods showed.
    pub wasm: ModeComparison,
    /// What the container pods showed.
    pub container: ModeComparison,
}

/// One mode of a comparison: warm starts, creation to Ready.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModeComparison {
    /// Pods that became Ready (warm starts).
    pub samples: i64,
    /// Pods that never became Ready.
    #[serde(default)]
    pub failed: i64,
    /// Median cold start of the warm starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_seconds: Option<f64>,
    /// 95th percentile of the warm starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_seconds: Option<f64>,
    /// The image's size on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size_bytes: Option<i64>,
    /// Memory working set of a Ready pod of this mode, from metrics.k8s.io (absent when the
    /// cluster does not serve it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_working_set_bytes: Option<i64>,
    /// Each warm start, in seconds (millisecond precision), in the order the pods started: what
    /// the operator records in `wasm_workload_cold_start_seconds{source="comparison"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub cold_starts_seconds: Vec<f64>,
    /// With `--http`: median time from creation to the app's first 2xx answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_p50_seconds: Option<f64>,
    /// With `--http`: 95th percentile of the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_p95_seconds: Option<f64>,
    /// With `--http`: each first response, in seconds, in the order the pods started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub first_responses_seconds: Vec<f64>,
}

/// Footprint of the workload's pods.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FootprintStatus {
    /// Size of the image the pods run, as the nodes report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size_bytes: Option<i64>,
    /// Memory working set of the pods, from metrics.k8s.io.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_working_set_bytes: Option<i64>,
}
