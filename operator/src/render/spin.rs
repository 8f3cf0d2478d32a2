//! What a Spin app needs in a pod that the `restricted` defaults would take away. Pure.
//!
//! SpinKube's `containerd-shim-spin-v2` sets up the app's default key-value store under `.spin/`
//! beside the app (the image's root) before it serves, whether or not the app uses the store.
//! Under a read-only root filesystem (`containerSecurityContext.readOnlyRootFilesystem`, as
//! hardened teams set it) that fails ("failed to create key value store's parent directory:
//! '/.spin'") and the pod crash-loops; a writable emptyDir at `/.spin` gives the store its place
//! and keeps the root read-only.

use crate::decide::discovery::Chosen;
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PodSpec, Volume, VolumeMount};

/// Where the Spin shim keeps the app's state.
pub const STATE_PATH: &str = "/.spin";
/// The operator's volume for it (a prefix no user volume is likely to take).
pub const STATE_VOLUME: &str = "wasm-operator-spin-state";

/// Whether the chosen RuntimeClass runs the Spin shim: the runtime named `spin`, or a handler
/// as SpinKube (`spin`), runtime-class-manager (`spin-v2`) and k3s (`spin`) configure it.
pub fn runs_spin(chosen: &Chosen) -> bool {
    chosen.candidate.runtime == "spin" || chosen.runtime_class.handler.starts_with("spin")
}

/// Give a Spin app's pod a writable `/.spin`, unless its root filesystem is writable or the
/// workload mounts something there itself.
pub fn add_state_dir(pod: &mut PodSpec) {
    let Some(container) = pod.containers.first_mut() else {
        return;
    };
    let read_only = container
        .security_context
        .as_ref()
        .and_then(|s| s.read_only_root_filesystem)
        .unwrap_or(false);
    let mounted = container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path.trim_end_matches('/') == STATE_PATH);
    if !read_only || mounted {
        return;
    }
    container.volume_mounts.get_or_insert_with(Vec::new).push(VolumeMount {
        name: STATE_VOLUME.to_string(),
        mount_path: STATE_PATH.to_string(),
        ..Default::default()
    });
    pod.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: STATE_VOLUME.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    });
}
