//! Starting a supervisor in a process of its own, and being one: the one way a background
//! supervisor is launched, by the CLI (`up -d`, `start` or `run` with none running) and by
//! a [`Daemon`](crate::Daemon) supervised by a process (`Supervisor::Process`).
//!
//! The starter hands the supervisor, in its environment:
//! - `PROCTOR_DAEMON_READY_FD`: the write end of a pipe on which the supervisor sends one
//!   [`Ready`] line once it listens on its control socket (or why it cannot run), then
//!   closes it. The starter waits for that line, within a deadline.
//! - `PROCTOR_DAEMON_PARENT_FD` (a tethered launch only): the read end of a pipe whose
//!   write end only the starter holds (close-on-exec, so no other child inherits it). End
//!   of file means the starter is gone — however it died — and the supervisor stops
//!   everything; a `d` byte first means "detached": from then on only a `down` request
//!   stops it.
//! - `PROCTOR_DAEMON_SPEC` and `PROCTOR_DAEMON_HOME`, for a program that is not the
//!   `proctor` command (see [`serve_if_requested`](crate::daemon::serve_if_requested)):
//!   the spec file and the state directory. The `proctor` command takes them as arguments
//!   of `proctor supervise` instead.
//!
//! The supervisor's output goes to `supervisor.log` in the state directory.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::control::proto::{self, Ready};
use crate::state::{ensure_state_dir, Paths};
use crate::sys::child::set_inheritable;
use crate::sys::fd::{take_inherited, wait_readable};

/// The spec file, for a supervisor started by [`serve_if_requested`](crate::daemon::serve_if_requested).
pub(crate) const SPEC_VAR: &str = "PROCTOR_DAEMON_SPEC";
/// The state directory, likewise.
pub(crate) const HOME_VAR: &str = "PROCTOR_DAEMON_HOME";
/// The pipe the supervisor reports [`Ready`] on.
pub(crate) const READY_VAR: &str = "PROCTOR_DAEMON_READY_FD";
/// The tether: end of file without a `d` first stops the supervisor.
pub(crate) const PARENT_VAR: &str = "PROCTOR_DAEMON_PARENT_FD";

/// Why a supervisor could not be launched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LaunchError {
    /// Preparing or starting the process failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The supervisor started and reported that it cannot run.
    #[error("the supervisor could not start: {0}")]
    Refused(String),
    /// The supervisor ended without a report.
    #[error("the supervisor exited during start-up; see {}", log.display())]
    Exited {
        /// Its log.
        log: PathBuf,
    },
    /// The supervisor runs but did not report within the deadline.
    #[error(
        "the supervisor (pid {pid}) did not report that it listens within {}; see {}",
        humantime::format_duration(*waited),
        log.display()
    )]
    NoReport {
        /// Its pid.
        pid: u32,
        /// How long we waited.
        waited: Duration,
        /// Its log.
        log: PathBuf,
    },
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> LaunchError + '_ {
    move |source| LaunchError::Io {
        what: what.to_string(),
        source,
    }
}

/// A supervisor process that reported it listens.
pub(crate) struct Launched {
    /// The process (ours to reap).
    pub(crate) child: Child,
    /// The write end of the tether, for a tethered launch.
    pub(crate) parent: Option<std::fs::File>,
}

/// Starts `cmd` (a program that runs a supervisor for `paths`) in the background and
/// returns once it reports that it listens. `tethered` passes it the parent pipe; a
/// `deadline` bounds the wait for its report. On a failed start the process is reaped
/// (it is exiting); one that did not report in time is left to run.
pub(crate) fn launch(
    mut cmd: Command,
    paths: &Paths,
    tethered: bool,
    deadline: Option<Duration>,
) -> Result<Launched, LaunchError> {
    let started = Instant::now();
    ensure_state_dir(&paths.root).map_err(io("cannot use the state directory"))?;
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| io("cannot create a pipe")(e.into()))
    };
    let (ready_rd, ready_wr) = pipe()?;
    set_inheritable(&ready_wr, true).map_err(io("cannot pass a pipe"))?;
    cmd.env(READY_VAR, ready_wr.as_raw_fd().to_string());
    let tether = if tethered {
        let (rd, wr) = pipe()?;
        set_inheritable(&rd, true).map_err(io("cannot pass a pipe"))?;
        cmd.env(PARENT_VAR, rd.as_raw_fd().to_string());
        Some((rd, wr))
    } else {
        None
    };
    let log_path = paths.supervisor_log();
    let log = paths
        .open_supervisor_log()
        .map_err(io("cannot open the supervisor log"))?;
    let mut child = cmd
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(io("cannot duplicate the log file"))?,
        )
        .stderr(log)
        .spawn()
        .map_err(io(&format!(
            "cannot start the supervisor {}",
            cmd.get_program().to_string_lossy()
        )))?;
    // Only the child may hold these ends, or their end of file would never come.
    drop(ready_wr);
    let parent = tether.map(|(rd, wr)| {
        drop(rd);
        std::fs::File::from(wr)
    });
    let left = deadline.map(|d| d.saturating_sub(started.elapsed()));
    match read_report(ready_rd, left) {
        Ok(Some(Ready::Listening { .. })) => Ok(Launched { child, parent }),
        Err(Waited) => Err(LaunchError::NoReport {
            pid: child.id(),
            // Whole milliseconds: what is left of a deadline reads oddly to the nanosecond.
            waited: Duration::from_millis(
                u64::try_from(left.unwrap_or_default().as_millis()).unwrap_or(u64::MAX),
            ),
            log: log_path,
        }),
        Ok(report) => {
            // It is on its way out (a tethered one once the tether closes): reap it.
            drop(parent);
            let _ = child.wait();
            Err(match report {
                Some(Ready::Failed { error }) => LaunchError::Refused(error),
                _ => LaunchError::Exited { log: log_path },
            })
        }
    }
}

/// The deadline for a report passed.
pub(crate) struct Waited;

/// Reads a supervisor's [`Ready`] report from `fd`, waiting at most `limit` (`None`: until
/// the supervisor writes or ends; its end closes the pipe, so this cannot hang on a dead
/// one). `Ok(None)`: it ended, or wrote something unreadable, without a report.
pub(crate) fn read_report(fd: OwnedFd, limit: Option<Duration>) -> Result<Option<Ready>, Waited> {
    let deadline = limit.map(|l| Instant::now() + l);
    let mut file = std::fs::File::from(fd);
    let mut line = Vec::new();
    let mut chunk = [0u8; 1024];
    while !line.contains(&b'\n') {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !wait_readable(&file, left) {
                return Err(Waited);
            }
        }
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => line.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let first = line.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(serde_json::from_slice(first.trim_ascii()).ok())
}

/// What a launched supervisor takes over from its starter.
pub(crate) struct Handoff {
    /// Where to report [`Ready`].
    pub(crate) ready: Option<OwnedFd>,
    /// The tether, when the starter holds one.
    pub(crate) parent: Option<OwnedFd>,
}

impl Handoff {
    /// Takes the descriptors our starter passed (none when started otherwise) and removes
    /// their variables, so the services we spawn neither see nor inherit them.
    pub(crate) fn take() -> Self {
        Self {
            ready: take_pipe(READY_VAR),
            parent: take_pipe(PARENT_VAR),
        }
    }

    /// Reports that the supervisor cannot run, for one that fails before it gets going.
    pub(crate) fn fail(&mut self, error: String) {
        if let Some(fd) = self.ready.take() {
            report(fd, &Ready::Failed { error });
        }
    }

    /// A future that resolves when the starter is gone without detaching first; it never
    /// resolves for an untethered supervisor or after a detach.
    pub(crate) fn parent_gone(&mut self) -> impl std::future::Future<Output = ()> {
        let watch = self.parent.take().map(watch_parent);
        async move {
            let gone = match watch {
                Some(rx) => rx.await.is_ok(),
                None => false,
            };
            if !gone {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Writes `ready` to the starter's pipe (and closes it).
pub(crate) fn report(fd: OwnedFd, ready: &Ready) {
    use std::io::Write;
    // The starter may have given up waiting; nothing to do about it then.
    let _ = std::fs::File::from(fd).write_all(&proto::encode(ready));
}

fn take_pipe(var: &str) -> Option<OwnedFd> {
    let raw: i32 = std::env::var(var).ok()?.parse().ok()?;
    std::env::remove_var(var);
    // Adopt only a pipe: a stale number must not make us own (and close) another file.
    let target = std::fs::read_link(format!("/proc/self/fd/{raw}")).ok()?;
    if !target.to_string_lossy().starts_with("pipe:") {
        return None;
    }
    take_inherited(raw)
}

/// Resolves the receiver when the parent's end closes without a detach byte first.
fn watch_parent(fd: OwnedFd) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("proctor-parent".into())
        .spawn(move || {
            let mut f = std::fs::File::from(fd);
            let mut b = [0u8; 1];
            loop {
                match f.read(&mut b) {
                    Ok(0) => {
                        let _ = tx.send(());
                        return;
                    }
                    // Detached: dropping `tx` unsent means "never".
                    Ok(_) if b[0] == b'd' => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
    if spawned.is_err() {
        // To the supervisor log: a supervisor run by another program has no tracing set up.
        eprintln!("proctor supervisor: cannot watch the parent; it stops only on request");
    }
    rx
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn pipe() -> (OwnedFd, std::fs::File) {
        let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        (rd, std::fs::File::from(wr))
    }

    #[test]
    fn reads_a_report() {
        let (rd, mut wr) = pipe();
        wr.write_all(&proto::encode(&Ready::Listening { pid: 7 }))
            .expect("write");
        let got = read_report(rd, Some(Duration::from_secs(10)));
        assert!(matches!(got, Ok(Some(Ready::Listening { pid: 7 }))));
    }

    #[test]
    fn an_end_without_a_report_is_no_report() {
        let (rd, wr) = pipe();
        drop(wr);
        assert!(matches!(read_report(rd, None), Ok(None)));
    }

    #[test]
    fn a_silent_supervisor_is_given_up_on_at_the_deadline() {
        let (rd, mut wr) = pipe();
        // Half a line, then nothing: still no report.
        wr.write_all(b"{\"ok\":tr").expect("write");
        let started = Instant::now();
        assert!(read_report(rd, Some(Duration::from_millis(100))).is_err());
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(5));
        drop(wr);
    }
}
