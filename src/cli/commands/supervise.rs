//! `proctor supervise` (hidden): the detached supervisor process.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::args::SuperviseArgs;
use crate::cli::{init_tracing, project};
use crate::launch::Handoff;
use crate::supervise::{run_blocking_until, Options};
use crate::sys::child::detach_session;

pub(crate) fn run(file: Option<&Path>, a: SuperviseArgs) -> Result<ExitCode> {
    init_tracing("info");
    let mut handoff = Handoff::take();
    if handoff.ready.is_some() {
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
            handoff.fail(format!("{e:#}"));
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
    let manager_socket = crate::supervise::take_manager_socket();
    // After the environment is read: this may start a thread.
    let parent_gone = handoff.parent_gone();
    let opts = Options {
        spec,
        paths,
        role: a.role,
        start: Vec::new(),
        echo: None,
        ready_fd: handoff.ready.take(),
        autostart: !a.start_nothing,
        manager_socket,
        init: None,
    };
    run_blocking_until(opts, parent_gone)?;
    Ok(ExitCode::SUCCESS)
}
