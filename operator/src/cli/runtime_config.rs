//! The runtime configuration file the operator, `compare` and `doctor` read.

use crate::decide::runtimes::RuntimeConfig;

pub fn load_runtime_config(path: Option<&std::path::Path>) -> Result<RuntimeConfig, String> {
    let Some(path) = path else {
        return Ok(RuntimeConfig::default());
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read runtime config {}: {e}", path.display()))?;
    RuntimeConfig::from_yaml(&text).map_err(|e| format!("invalid runtime config {}: {e}", path.display()))
}
