//! The progress bar of a comparison on a terminal: pods judged out of all, and how many failed.
//! Drawn on standard error and only when it is a terminal, so pipes and logs get the result alone.

use std::io::{IsTerminal, Write};

/// How far a comparison is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Timed pods judged (Ready or failed).
    pub done: usize,
    pub total: usize,
    pub failed: usize,
}

impl Progress {
    /// One line: `[##########----------]  10/20 pods timed, 1 failed`, the bar `width` wide.
    pub fn line(&self, width: usize) -> String {
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width).min(width);
        let failed = if self.failed > 0 {
            format!(", {} failed", self.failed)
        } else {
            String::new()
        };
        format!(
            "[{}{}] {:>w$}/{} pods timed{failed}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.done,
            self.total,
            w = self.total.to_string().len()
        )
    }
}

/// A progress callback for `compare`: redraws the line on standard error when it is a terminal
/// and erases it once every pod is timed (the memory pods and the table come after).
pub fn terminal() -> impl FnMut(Progress) + Send {
    let tty = std::io::stderr().is_terminal();
    move |p: Progress| {
        if !tty {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if p.done >= p.total {
            write!(err, "\r\x1b[2K")
        } else {
            write!(err, "\r\x1b[2K{}", p.line(30))
        };
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_pods_judged() {
        let p = |done, failed| Progress {
            done,
            total: 20,
            failed,
        };
        assert_eq!(p(0, 0).line(10), "[----------]  0/20 pods timed");
        assert_eq!(p(10, 1).line(10), "[#####-----] 10/20 pods timed, 1 failed");
        assert_eq!(p(20, 0).line(10), "[##########] 20/20 pods timed");
        let none = Progress {
            done: 0,
            total: 0,
            failed: 0,
        };
        assert_eq!(none.line(4), "[####] 0/0 pods timed", "nothing to do is done");
    }
}
