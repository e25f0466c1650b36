//! Starting a detached supervisor and waiting until it listens.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use crate::control::{Client, ControlError};
use crate::spec::Spec;
use crate::state::{ensure_private_dir, Paths};
use crate::sys::child::set_inheritable;

/// The variable telling a spawned supervisor which fd to report readiness on.
pub(crate) const READY_FD_VAR: &str = "PROCTOR_READY_FD";

/// Connects to the project's supervisor, starting one in the background if none runs.
/// Returns the client and whether a new supervisor was started.
pub(crate) fn ensure_supervisor(
    spec: &Spec,
    paths: &Paths,
    role: Option<&str>,
) -> Result<(Client, bool)> {
    match Client::connect(&paths.control_socket()) {
        Ok(c) => return Ok((c, false)),
        Err(ControlError::NotRunning { .. }) => {}
        Err(e) => return Err(e.into()),
    }
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
    spawn(spec, paths, role)?;
    let client = Client::connect(&paths.control_socket())?;
    drop(lock);
    Ok((client, true))
}

fn spawn(spec: &Spec, paths: &Paths, role: Option<&str>) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the proctor executable")?;
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .context("cannot create a pipe")?;
    set_inheritable(&wr, true).context("cannot pass the readiness pipe")?;
    let log_path = paths.supervisor_log();
    let log = paths
        .open_supervisor_log()
        .context("cannot open the supervisor log")?;
    let mut cmd = Command::new(exe);
    cmd.arg("supervise").arg("--start-nothing");
    if spec.path.as_os_str().is_empty() {
        cmd.arg("--default-project");
    } else {
        cmd.arg("--file").arg(&spec.path);
    }
    if let Some(r) = role {
        cmd.arg("--role").arg(r);
    }
    cmd.env(READY_FD_VAR, wr.as_raw_fd().to_string())
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot duplicate the log file")?)
        .stderr(log);
    let _child = cmd.spawn().context("cannot start the supervisor")?;
    drop(wr);
    let mut answer = String::new();
    let mut file = std::fs::File::from(rd);
    file.read_to_string(&mut answer)
        .context("cannot read the supervisor's readiness report")?;
    let v: serde_json::Value = serde_json::from_str(answer.trim()).map_err(|_| {
        anyhow!(
            "the supervisor exited during start-up; see {}",
            log_path.display()
        )
    })?;
    if v.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
        Ok(())
    } else {
        bail!(
            "the supervisor could not start: {}",
            v.get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown error")
        )
    }
}
