//! `proctor completions SHELL` and `proctor man`: generated from the CLI's own definition,
//! so they always match the verbs and flags this binary has.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::args::Cli;

/// Writes the completion script for `shell` to stdout.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "proctor", &mut script);
    emit(&script, "the completion script")
}

/// Writes the manual page (roff) to stdout.
pub(crate) fn man() -> Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .context("rendering the manual page")?;
    emit(&page, "the manual page")
}

/// Writes `bytes` to stdout; a reader that stopped early (`| head`) is not an error.
fn emit(bytes: &[u8], what: &str) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).with_context(|| format!("writing {what}"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
