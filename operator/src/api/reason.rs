//! The reason vocabulary, in PascalCase: condition reasons, Event reasons and bounded metric
//! labels. One list, so status, Events, metrics and the failure record say the same words.

pub const WASM: &str = "Wasm";
pub const CONTAINER: &str = "Container";
pub const NO_USABLE_RUNTIME: &str = "NoUsableRuntime";
pub const UNKNOWN_RUNTIME: &str = "UnknownRuntime";
pub const MISSING_FALLBACK_IMAGE: &str = "MissingFallbackImage";
pub const SERVICE_WITHOUT_PORTS: &str = "ServiceWithoutPorts";
pub const SANDBOX_FAILED: &str = "SandboxFailed";
pub const CREATE_CONTAINER_ERROR: &str = "CreateContainerError";
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
pub const IMAGE_PULL_FAILED: &str = "ImagePullFailed";
pub const STARTUP_TIMEOUT: &str = "StartupTimeout";
/// The scheduler found no node for a pod (placement Spill makes up for it with a container pod).
pub const UNSCHEDULABLE: &str = "Unschedulable";
/// Placement Spill: the workload's own Wasm module fails on a node where other workloads' Wasm
/// pods of the same RuntimeClass run (no node is excluded for it).
pub const MODULE_FAILED: &str = "ModuleFailed";
/// Another workload's Deployment has the name this one needs.
pub const NAME_TAKEN: &str = "NameTaken";
/// The API server refused to create the pods of the workload's Deployment (admission: Pod
/// Security, a quota, a LimitRange, a webhook). Never a reason to fall back.
pub const PODS_REFUSED: &str = "PodsRefused";
/// The API server refused a child the operator rendered (422).
pub const CHILD_REJECTED: &str = "ChildRejected";
/// A child edited by another field manager was put back (an Event reason).
pub const PUT_BACK: &str = "PutBack";
/// A remembered failure whose reason this version does not know.
pub const WASM_FAILED: &str = "WasmFailed";

/// Every reason a workload can fall back for (the `reason` label of the fallbacks counter).
pub const FALLBACK_REASONS: &[&str] = &[
    NO_USABLE_RUNTIME,
    SANDBOX_FAILED,
    CREATE_CONTAINER_ERROR,
    CRASH_LOOP_BACK_OFF,
    IMAGE_PULL_FAILED,
    STARTUP_TIMEOUT,
    WASM_FAILED,
];
