//! `wasm-operator crd`: the CustomResourceDefinition as YAML, as `crds/` holds it.

use crate::api::crd::WasmWorkload;
use kube::CustomResourceExt;
use std::process::ExitCode;

pub fn crd() -> ExitCode {
    match serde_saphyr::to_string(&WasmWorkload::crd()) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-operator: cannot render the CRD: {e}");
            ExitCode::FAILURE
        }
    }
}
