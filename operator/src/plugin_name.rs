//! `kubectl wasm`: the same binary, installed (or linked) as `kubectl-wasm` on PATH, is a
//! kubectl plugin. kubectl runs it with the words after `kubectl wasm`, so the subcommands and
//! flags are the same; only the name it shows in help and errors differs.

use std::ffi::OsStr;
use std::path::Path;

/// The file name kubectl looks for on PATH.
pub const PLUGIN_FILE: &str = "kubectl-wasm";

/// The name to show: `kubectl wasm` when invoked through kubectl (or as `kubectl-wasm`).
pub fn program_name(argv0: &OsStr) -> &'static str {
    let stem = Path::new(argv0).file_stem().and_then(OsStr::to_str);
    if stem == Some(PLUGIN_FILE) {
        "kubectl wasm"
    } else {
        "wasm-operator"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_known_by_its_file_name_wherever_it_lies() {
        for plugin in ["kubectl-wasm", "/usr/local/bin/kubectl-wasm", "C:/bin/kubectl-wasm.exe"] {
            assert_eq!(program_name(OsStr::new(plugin)), "kubectl wasm", "{plugin}");
        }
        for other in ["wasm-operator", "/wasm-operator", "kubectl-wasmx", "kubectl"] {
            assert_eq!(program_name(OsStr::new(other)), "wasm-operator", "{other}");
        }
    }
}
