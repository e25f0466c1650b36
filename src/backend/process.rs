//! The native process backend: each service is a process group of its own.
//!
//! Spawned with `process_group(0)` (keeping std's fast posix_spawn path), stdin from
//! /dev/null, stdout and stderr through pipes. The exit is seen through a pidfd; the leader
//! is reaped only after the final SIGKILL to its group, so the group id stays ours.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Backend, BackendError, Exit, Running, StartRequest, StopCmd, StopHandle, Stream};
use crate::spec::Signal;
use crate::sys::child::kill_group;
use crate::sys::pidfd::AsyncPidFd;

/// Runs services as native child processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessBackend;

impl Backend for ProcessBackend {
    fn start(&self, req: StartRequest<'_>) -> Result<Running, BackendError> {
        let svc = req.service;
        let (program, args) = svc
            .command
            .split_first()
            .ok_or(BackendError::EmptyCommand)?;
        let child = spawn_group(
            program,
            args,
            &svc.cwd,
            svc.env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(req.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        )?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Running {
            pid: child.pid,
            output: child.output,
            stop: StopHandle(tx),
            watch: Box::pin(watch(child.pid, child.pidfd, rx, req.output_closed)),
            tty: false,
            session: None,
        })
    }
}

/// A native child spawned as the leader of its own process group.
pub(crate) struct GroupChild {
    /// Its pid, which is also its process group id.
    pub(crate) pid: u32,
    /// Its stdout and stderr pipes.
    pub(crate) output: Vec<(Stream, OwnedFd)>,
    /// Owns the child from here on: readable once it exits, reaps it.
    pub(crate) pidfd: AsyncPidFd,
}

/// Spawns `program args` in `cwd` with `env` added, as a process group of its own, stdin
/// from /dev/null and stdout/stderr piped. Must run inside the supervisor's runtime.
pub(crate) fn spawn_group<'a>(
    program: &str,
    args: &[String],
    cwd: &Path,
    env: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<GroupChild, BackendError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| BackendError::Spawn {
        program: program.to_string(),
        cwd: cwd.to_path_buf(),
        source,
    })?;
    let pid = child.id();
    let mut output = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        output.push((Stream::Out, OwnedFd::from(out)));
    }
    if let Some(err) = child.stderr.take() {
        output.push((Stream::Err, OwnedFd::from(err)));
    }
    let pidfd = AsyncPidFd::open(pid).map_err(|source| {
        // Without a pidfd we cannot watch it; do not leave it running unowned.
        let _ = kill_group(pid, Signal::KILL);
        let _ = child.wait();
        BackendError::Os {
            what: "watching the new process",
            source,
        }
    })?;
    // The pidfd owns the child from here on: std's handle must not reap it.
    drop(child);
    Ok(GroupChild { pid, output, pidfd })
}

/// Waits for the leader to exit, carrying out stop requests on the way, then kills what is
/// left of the group and reaps the leader.
async fn watch(
    pid: u32,
    pidfd: AsyncPidFd,
    mut stop_rx: mpsc::UnboundedReceiver<StopCmd>,
    mut output_closed: mpsc::Receiver<()>,
) -> Exit {
    let mut exited = false;
    let mut stopping = false;
    let mut timed_out = false;
    let mut deadline: Option<Instant> = None;
    loop {
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
        tokio::select! {
            ready = pidfd.exited(), if !exited => {
                if ready.is_err() {
                    // Cannot watch any more: end it so the blocking reap below returns.
                    let _ = kill_group(pid, Signal::KILL);
                    break;
                }
                exited = true;
                // On a crash there is nothing to wait for; on a stop, give the rest of
                // the group its grace period (until the pipes close or time runs out).
                if !stopping || timed_out {
                    break;
                }
            }
            Some(cmd) = stop_rx.recv(), if !stopping => {
                stopping = true;
                if let Err(e) = kill_group(pid, cmd.signal) {
                    tracing::warn!(pid, "sending the stop signal failed: {e}");
                }
                deadline = Some(Instant::now() + cmd.timeout);
            }
            () = sleep, if deadline.is_some() && !timed_out => {
                timed_out = true;
                let _ = kill_group(pid, Signal::KILL);
                if exited {
                    break;
                }
            }
            None = output_closed.recv(), if exited => break,
        }
    }
    // The leader is a zombie (or about to be), so its pid and group id are still ours:
    // no straggler of the group survives, and the signal cannot hit a stranger.
    let _ = kill_group(pid, Signal::KILL);
    let ended = match pidfd.reap_async().await {
        Ok(ended) => ended,
        Err(e) => {
            tracing::warn!(pid, "reaping failed: {e}");
            None
        }
    };
    Exit::from_ended(ended, timed_out)
}
