//! A one-line progress bar on stderr, drawn only on a terminal.

use std::io::{IsTerminal, Write};

pub struct Progress {
    total: usize,
    label: &'static str,
    visible: bool,
}

impl Progress {
    pub fn new(label: &'static str, total: usize) -> Progress {
        Progress {
            total,
            label,
            visible: std::io::stderr().is_terminal(),
        }
    }

    pub fn set(&self, done: usize) {
        if !self.visible || (!done.is_multiple_of(16) && done != self.total) {
            return;
        }
        const WIDTH: usize = 40;
        let filled = WIDTH * done / self.total.max(1);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r{} [{}{}] {done}/{}",
            self.label,
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.total
        );
        if done == self.total {
            let _ = writeln!(stderr);
        }
    }
}
