//! The allocator's settings. Every build of the binary allocates with mimalloc (`main.rs`):
//! musl's allocator is slow under the operator's many small allocations and glibc's held 15-20 %
//! more memory at 10,000 workloads (BENCHMARKS.md). mimalloc keeps freed memory for a second
//! and commits whole arenas by default; the operator's memory comes in bursts (the initial
//! lists, a resync), so it gives memory back at once and commits arenas as they are used
//! instead (`MIMALLOC_PURGE_DELAY=0`, `MIMALLOC_ARENA_EAGER_COMMIT=0`), which halved its RSS at
//! 1,000 workloads. mimalloc reads these when the process starts, before `main` (set later,
//! the arena setting comes too late: the bench measured 49 MiB instead of 24 at 1,000): a
//! process started without them starts itself again with them, once. Set either variable to
//! choose otherwise.

use std::ffi::OsString;

const SETTINGS: [(&str, &str); 2] = [("MIMALLOC_PURGE_DELAY", "0"), ("MIMALLOC_ARENA_EAGER_COMMIT", "0")];

/// What to add to the environment: the settings none of which the user chose.
fn missing(env: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, &'static str)> {
    if SETTINGS.iter().any(|(k, _)| env(k).is_some()) {
        return vec![];
    }
    SETTINGS.to_vec()
}

/// Start this program again with the allocator's settings, unless they (or the user's) are in
/// place. Returns only when they are, or when starting again failed (then it runs as it is).
pub fn ensure_settings() {
    use std::os::unix::process::CommandExt;
    let add = missing(|k| std::env::var_os(k));
    if add.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // exec replaces this process; it returns only on failure.
    let _ = std::process::Command::new(exe).arg0(argv0).args(args).envs(add).exec();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_added_unless_the_user_chose() {
        assert_eq!(missing(|_| None), SETTINGS.to_vec());
        // Set: this is the started-again process, or the user's choice. Either way, as it is.
        assert!(missing(|k| (k == "MIMALLOC_PURGE_DELAY").then(|| "250".into())).is_empty());
        assert!(missing(|_| Some("0".into())).is_empty());
    }
}
