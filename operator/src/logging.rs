//! Log output: text or JSON on stdout, filtered by `RUST_LOG`. Text is coloured only on a
//! terminal and never when `NO_COLOR` is set (https://no-color.org): escape codes in a file or
//! in `kubectl logs` are noise.

use std::ffi::OsStr;
use std::io::IsTerminal;

/// Whether text logs may carry ANSI colours.
pub fn colour(stdout_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Install the global subscriber; `format` is `text` or `json`.
pub fn init(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let ansi = colour(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None), "a file or a pipe gets no escape codes");
        assert!(!colour(true, Some(OsStr::new("1"))), "NO_COLOR set");
        assert!(colour(true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
    }
}
