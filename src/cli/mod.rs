//! The `proctor` command line: parse arguments, resolve the spec, run one verb.
//!
//! The CLI is a thin client: each verb is a file in `commands/` that loads the spec, talks
//! to the supervisor over the control socket (blocking, no runtime), and prints through
//! [`Printer`]. The only verbs that run a supervisor in-process are `up` (foreground) and
//! the hidden `supervise`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};

use crate::spec::{self, adhoc, Spec};
use crate::state::Paths;

pub mod args;
mod argvalues;
mod commands;
mod deadline;
pub mod printer;
mod quick;
mod running;
mod setup_args;
mod spawn;
mod top;

pub(crate) use commands::service_names;
pub use printer::Printer;

/// Runs the CLI with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    commands::answer_shell();
    let cli = args::Cli::from_env();
    let printer = Printer;
    let json = cli.command.wants_json();
    match commands::dispatch(cli, &printer) {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}");
            if json {
                // Scripts read stdout; people still see it on stderr.
                printer.json(&serde_json::json!({ "ok": false, "error": { "message": message } }));
            }
            printer.error(&message);
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

/// The spec (with its ad-hoc services) and its state paths. Without `--file` and with no
/// `proctor.toml` around, the per-user default project is used if `proctor run` has put
/// services there.
pub(crate) fn project(file: Option<&Path>) -> Result<(Spec, Paths)> {
    let (mut spec, paths) = match spec_path(file) {
        Ok(path) => {
            let spec = load_spec(Some(&path))?;
            let paths = Paths::for_spec(&spec);
            (spec, paths)
        }
        Err(e) => {
            let (spec, paths) = default_project();
            if file.is_some() || !paths.root.join(adhoc::FILE_NAME).exists() {
                return Err(e);
            }
            (spec, paths)
        }
    };
    adhoc::merge(&mut spec, &adhoc::load(&paths.root));
    Ok((spec, paths))
}

/// The state paths for verbs that need no spec (`lock`, `unlock`): with `$PROCTOR_HOME`
/// that directory whether or not a spec is around (a daemon embedded with the library has
/// none; the spec, if readable, only orders the output), else the project's.
pub(crate) fn state_paths(file: Option<&Path>) -> Result<(Option<Spec>, Paths)> {
    if let Some(home) = crate::state::home_override() {
        let spec = spec_path(file).ok().and_then(|p| load_spec(Some(&p)).ok());
        return Ok((spec, Paths::new(home)));
    }
    let (spec, paths) = project(file)?;
    Ok((Some(spec), paths))
}

/// Like [`project`], but outside any project the per-user default project, even before
/// it holds anything (for `proctor run`).
pub(crate) fn project_or_default(file: Option<&Path>) -> Result<(Spec, Paths)> {
    if file.is_none() && spec_path(None).is_err() {
        let (mut spec, paths) = default_project();
        adhoc::merge(&mut spec, &adhoc::load(&paths.root));
        return Ok((spec, paths));
    }
    project(file)
}

/// The per-user default project that holds `proctor run` services started outside any
/// project: no spec file, state in `$XDG_STATE_HOME/proctor/default`.
pub(crate) fn default_project() -> (Spec, Paths) {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let spec = Spec {
        path: PathBuf::new(),
        dir,
        project: spec::Project {
            name: "default".into(),
            state_dir: Some(crate::state::base_dir().join("default")),
            roles: Vec::new(),
            backend: spec::BackendKind::Process,
            tmux_binary: None,
            container_runtime: None,
            containment: crate::spec::Containment::Auto,
            metrics: None,
        },
        services: Vec::new(),
        export: spec::ExportSettings::default(),
    };
    let paths = Paths::for_spec(&spec);
    (spec, paths)
}
