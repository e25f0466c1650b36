//! `proctor supervise` (hidden): the detached supervisor process.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::args::SuperviseArgs;
use crate::cli::spawn::READY_FD_VAR;
use crate::cli::{init_tracing, project};
use crate::supervise::{run_blocking, Options};
use crate::sys::child::detach_session;

pub(crate) fn run(file: Option<&Path>, a: SuperviseArgs) -> Result<ExitCode> {
    init_tracing("info");
    let ready_fd = take_ready_fd();
    if ready_fd.is_some() {
        // Started by `up -d`: leave the terminal's session so its hang-up cannot reach us.
        let _ = detach_session();
    }
    let resolved = if a.default_project {
        let (mut spec, paths) = crate::cli::default_project();
        crate::spec::adhoc::merge(&mut spec, &crate::spec::adhoc::load(&paths.root));
        Ok((spec, paths))
    } else {
        project(file)
    };
    let (spec, paths) = match resolved {
        Ok(v) => v,
        Err(e) => {
            if let Some(fd) = ready_fd {
                use std::io::Write;
                let mut f = std::fs::File::from(fd);
                let _ = writeln!(
                    f,
                    "{}",
                    serde_json::json!({"ok": false, "error": format!("{e:#}")})
                );
            }
            return Err(e);
        }
    };
    // Services run in the spec's directory by default: with the supervisor there too, their
    // spawns need no chdir (see `util::is_current_dir`).
    if let Err(e) = std::env::set_current_dir(&spec.dir) {
        tracing::debug!(
            "staying in the current directory: cannot enter {}: {e}",
            spec.dir.display()
        );
    }
    let opts = Options {
        spec,
        paths,
        role: a.role,
        start: Vec::new(),
        echo: None,
        ready_fd,
        autostart: !a.start_nothing,
        manager_socket: crate::supervise::take_manager_socket(),
    };
    run_blocking(opts)?;
    Ok(ExitCode::SUCCESS)
}

/// Takes the readiness pipe our parent passed, if any.
fn take_ready_fd() -> Option<OwnedFd> {
    let raw: i32 = std::env::var(READY_FD_VAR).ok()?.parse().ok()?;
    // Keep it from leaking into the services we spawn.
    std::env::remove_var(READY_FD_VAR);
    crate::sys::fd::take_inherited(raw)
}
