//! One malloc arena. glibc gives threads that allocate at the same time arenas of their own
//! (up to eight per core), and each keeps its own freed memory: the watch tasks, the reconciles
//! and the HTTP server run on different worker threads, so the same live data costs more RSS.
//! With one arena the operator holds 10,000 workloads in about 10 % less memory; convergence is
//! as fast, a no-op resync somewhat slower from lock contention, still over 10,000 workloads a
//! second (BENCHMARKS.md). `MALLOC_ARENA_MAX` in the environment still decides.

/// Limit malloc to one arena, unless the environment says otherwise. Call before any thread
/// starts. Returns whether the limit was set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() -> bool {
    use std::os::raw::c_int;
    // From glibc's malloc.h.
    const M_ARENA_MAX: c_int = -8;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    // SAFETY: mallopt takes two integers and only changes malloc's tuning; glibc documents it
    // as safe to call at any time, and it returns 1 on success.
    unsafe { mallopt(M_ARENA_MAX, 1) == 1 }
}

/// Other allocators manage their own arenas.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #[test]
    fn glibc_takes_the_arena_limit() {
        assert!(
            std::env::var_os("MALLOC_ARENA_MAX").is_some() || super::limit_arenas(),
            "mallopt(M_ARENA_MAX, 1) was refused"
        );
    }
}
