//! Starting a detached supervisor when none runs, and connecting to it.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cli::deadline::Deadline;
use crate::control::{Client, ControlError};
use crate::spec::Spec;
use crate::state::Paths;

/// Connects to the project's supervisor, starting one in the background if none runs
/// (and waiting for it no later than `deadline`). Returns the client and whether a new
/// supervisor was started.
pub(crate) fn ensure_supervisor(
    spec: &Spec,
    paths: &Paths,
    role: Option<&str>,
    deadline: Deadline,
) -> Result<(Client, bool)> {
    match Client::connect(&paths.control_socket()) {
        Ok(c) => return Ok((c, false)),
        Err(ControlError::NotRunning { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    crate::cli::running::refuse_second_copy(spec, paths)?;
    crate::sys::fs::create_state_dir(&paths.root)
        .with_context(|| format!("cannot use the state directory {}", paths.root.display()))?;
    // Concurrent CLIs serialize here, so only the first spawns a supervisor and the others
    // find it listening.
    let lock_path = paths.spawn_lock();
    let lock = crate::sys::fs::open_nofollow(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        &lock_path,
    )
    .with_context(|| format!("cannot open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    match Client::connect(&paths.control_socket()) {
        Ok(c) => return Ok((c, false)),
        Err(ControlError::NotRunning { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let exe = std::env::current_exe().context("cannot find the proctor executable")?;
    let mut cmd = Command::new(exe);
    // `proctor supervise` (hidden): the same binary, so boot units and `ps` name one.
    cmd.arg("supervise").arg("--start-nothing");
    if spec.path.as_os_str().is_empty() {
        cmd.arg("--default-project");
    } else {
        cmd.arg("--file").arg(&spec.path);
    }
    if let Some(r) = role {
        cmd.arg("--role").arg(r);
    }
    crate::launch::launch(cmd, paths, false, Some(deadline.left()))?;
    let client = Client::connect(&paths.control_socket())?;
    drop(lock);
    Ok((client, true))
}
