//! All command output goes through here: data to stdout, messages to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use serde::Serialize;

/// Writes command output.
#[derive(Debug, Clone, Copy)]
pub struct Printer;

impl Printer {
    /// Writes a line of data to stdout.
    pub fn line(&self, s: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{s}");
    }

    /// Writes `doc` and a line end to stdout in one write. Unlike [`Printer::line`], stdout's
    /// line buffering then finds the line end at once instead of searching all of `doc` for
    /// one (a `status --json` of 200 services is 46 KB on one line).
    pub fn document(&self, mut doc: String) {
        doc.push('\n');
        let _ = self.raw(doc.as_bytes());
    }

    /// Writes raw bytes to stdout.
    pub fn raw(&self, b: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(b)?;
        out.flush()
    }

    /// Writes `v` as pretty JSON to stdout.
    pub fn json<T: Serialize>(&self, v: &T) {
        // Pretty for people; compact for pipes, where it is also cheaper to make.
        let text = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        };
        match text {
            Ok(s) => self.line(&s),
            Err(e) => self.error(&format!("cannot encode JSON: {e}")),
        }
    }

    /// Writes a message for people to stderr.
    pub fn note(&self, s: &str) {
        eprintln!("{s}");
    }

    /// Writes a warning to stderr.
    pub fn warn(&self, s: &str) {
        eprintln!("warning: {s}");
    }

    /// Writes an error to stderr.
    pub fn error(&self, s: &str) {
        eprintln!("error: {s}");
    }
}
