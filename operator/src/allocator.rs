//! The allocator's settings. Every build of the binary allocates with mimalloc (`main.rs`):
//! musl's allocator is slow under the operator's many small allocations and glibc's held 15-20 %
//! more memory at 10,000 workloads (BENCHMARKS.md). mimalloc keeps freed memory for a second
//! and commits whole arenas by default; the operator's memory comes in bursts (the initial
//! lists, a resync), so it gives memory back at once instead, which halved its RSS at 1,000
//! workloads. An environment variable of mimalloc's own (`MIMALLOC_PURGE_DELAY`,
//! `MIMALLOC_ARENA_EAGER_COMMIT`) still wins.

use std::os::raw::{c_int, c_long};

/// `mi_option_arena_eager_commit` and `mi_option_purge_delay` in mimalloc's `mimalloc.h` (the
/// v3 sources libmimalloc-sys builds); its Rust bindings name neither.
const ARENA_EAGER_COMMIT: c_int = 4;
const PURGE_DELAY: c_int = 15;

/// Free memory goes back to the system at once; arenas are committed as they are used.
pub fn give_memory_back_at_once() {
    for (option, env, value) in [
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 0),
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
    ] {
        if std::env::var_os(env).is_none() {
            set(option, value);
        }
    }
}

fn set(option: c_int, value: c_long) {
    // SAFETY: mi_option_set only stores a value in mimalloc's option table; it is safe to call
    // at any time from any thread.
    unsafe { libmimalloc_sys::mi_option_set(option, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are mimalloc's: each names the option whose default mimalloc.h gives
    /// (purge_delay 1000 ms, arena_eager_commit 2), and keeps what is set.
    #[test]
    fn the_numbers_name_the_options() {
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        assert_eq!(
            (get(PURGE_DELAY), get(ARENA_EAGER_COMMIT)),
            (1000, 2),
            "mimalloc's defaults"
        );
        set(PURGE_DELAY, 0);
        set(ARENA_EAGER_COMMIT, 0);
        assert_eq!((get(PURGE_DELAY), get(ARENA_EAGER_COMMIT)), (0, 0));
        set(PURGE_DELAY, 1000);
        set(ARENA_EAGER_COMMIT, 2);
    }
}
