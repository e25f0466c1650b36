//! The `proctor` command line: parse arguments, resolve the spec, run one verb.
//!
//! The CLI is a thin client: each verb is a file in `commands/` that loads the spec, talks
//! to the supervisor over the control socket (blocking, no runtime), and prints through
//! [`Printer`]. The only verbs that run a supervisor in-process are `up` (foreground) and
//! the hidden `supervise`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Parser;

use crate::spec::{self, Spec};
use crate::state::Paths;

pub mod args;
mod commands;
pub mod printer;
mod spawn;

pub use printer::Printer;

/// Runs the CLI with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let printer = Printer;
    match commands::dispatch(cli, &printer) {
        Ok(code) => code,
        Err(e) => {
            printer.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Sets up the supervisor's own diagnostics on stderr (`PROCTOR_LOG` overrides the level).
pub(crate) fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROCTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// The spec path: `--file`, else the nearest `proctor.toml` from the current directory up.
pub(crate) fn spec_path(file: Option<&Path>) -> Result<PathBuf> {
    match file {
        Some(f) => Ok(f.to_path_buf()),
        None => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            spec::find(&cwd).ok_or_else(|| {
                anyhow!(
                    "no {} in {} or any parent directory (use -f FILE to name one)",
                    spec::FILE_NAME,
                    cwd.display()
                )
            })
        }
    }
}

/// Loads and validates the spec, or explains every problem.
pub(crate) fn load_spec(file: Option<&Path>) -> Result<Spec> {
    let path = spec_path(file)?;
    Spec::load(&path).map_err(|errs| anyhow!("invalid spec:\n{errs}"))
}

/// The spec and its state paths.
pub(crate) fn project(file: Option<&Path>) -> Result<(Spec, Paths)> {
    let spec = load_spec(file)?;
    let paths = Paths::for_spec(&spec);
    Ok((spec, paths))
}

/// The state paths for verbs that need no spec (`status`, `lock`, `unlock`, `down`, …):
/// the project's, or `$PROCTOR_HOME` alone when no `-f` is given and no spec file is found,
/// so that a daemon embedded with the library (which has no spec file) can be managed
/// with `PROCTOR_HOME=DIR proctor …`.
pub(crate) fn state_paths(file: Option<&Path>) -> Result<(Option<Spec>, Paths)> {
    if file.is_none() {
        if let Some(home) = std::env::var_os(crate::state::HOME_VAR).filter(|h| !h.is_empty()) {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            if spec::find(&cwd).is_none() {
                return Ok((None, Paths::new(PathBuf::from(home))));
            }
        }
    }
    let (spec, paths) = project(file)?;
    Ok((Some(spec), paths))
}
