//! Starting a detached supervisor when none runs, and connecting to it.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cli::deadline::Deadline;
use crate::control::{Client, ControlError};
use crate::spec::Spec;
use crate::state::{ensure_private_dir, Paths};

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
    refuse_second_copy(spec, paths)?;
    ensure_private_dir(&paths.root)
        .with_context(|| format!("cannot create the state directory {}", paths.root.display()))?;
    // Concurrent CLIs serialize here, so only the first spawns a supervisor and the others
    // find it listening.
    let lock_path = paths.spawn_lock();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
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

/// Refuses to start a supervisor for `spec` when another one already runs the same file
/// under another state directory: its `[project] name` changed while it ran, and a second
/// copy would start every service twice (ports, locks, data).
pub(crate) fn refuse_second_copy(spec: &Spec, paths: &Paths) -> Result<()> {
    if crate::state::home_override().is_some() {
        return Ok(());
    }
    let Some(dir) = crate::state::remembered_state_dir(&spec.path) else {
        return Ok(());
    };
    if dir == paths.root {
        return Ok(());
    }
    let Ok(mut client) = Client::connect(&Paths::new(dir.clone()).control_socket()) else {
        return Ok(());
    };
    client.set_timeout(Some(crate::cli::deadline::ANSWER))?;
    let running = client.request(crate::control::proto::Command::Status {
        services: Vec::new(),
    })?;
    anyhow::bail!(
        "a supervisor (pid {}) already runs {} as project {:?} (state dir {}); starting project {:?} \
         would run every service twice\nhint: `proctor down` stops that supervisor (it finds it \
         through this file), then `proctor up` starts the project under its new name",
        running.supervisor_pid,
        spec.path.display(),
        running.project,
        dir.display(),
        spec.project.name
    )
}
