//! A daemon's supervisor in a process of its own ([`Supervisor::Process`]), so that a
//! detached daemon stays supervised after the program that started it exits.
//!
//! The protocol between the two sides is three variables and two pipes:
//! - `PROCTOR_DAEMON_SPEC` (the spec file) and `PROCTOR_DAEMON_HOME` (the state dir) tell
//!   [`serve_if_requested`] to act as a supervisor instead of running `main`;
//! - `PROCTOR_DAEMON_READY_FD` is a pipe the supervisor answers on, one JSON line, once it
//!   listens (or why it could not);
//! - `PROCTOR_DAEMON_PARENT_FD` is the read end of a pipe whose write end only the handle
//!   holds (close-on-exec, so no other child inherits it). End of file means the handle's
//!   process is gone — however it died — and the supervisor stops everything; a `d` byte
//!   first means "detached": from then on only a `down` request stops it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tokio::sync::oneshot;

use crate::error::Error;
use crate::spec::Spec;
use crate::state::{ensure_private_dir, Paths};
use crate::supervise::{self, Options};
use crate::sys::child::{detach_session, set_inheritable};
use crate::sys::fd::take_inherited;

const SPEC_VAR: &str = "PROCTOR_DAEMON_SPEC";
const HOME_VAR: &str = "PROCTOR_DAEMON_HOME";
const READY_VAR: &str = "PROCTOR_DAEMON_READY_FD";
const PARENT_VAR: &str = "PROCTOR_DAEMON_PARENT_FD";

/// Where a daemon's supervisor runs; see [`DaemonBuilder::supervisor`](super::DaemonBuilder::supervisor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Supervisor {
    /// A thread of this process (the default; nothing else is needed). A detached daemon
    /// is supervised for as long as this process lives.
    #[default]
    Thread,
    /// A process of its own running `program`: an executable that calls
    /// [`serve_if_requested`] first thing in `main`. The `proctor` binary does, and so can
    /// yours (`std::env::current_exe()`). A detached daemon then stays supervised after
    /// this process exits; one that is not detached is stopped when this process exits,
    /// however it exits (even by SIGKILL). The spec is handed over as a file, which cannot
    /// carry container services: those need [`Supervisor::Thread`].
    Process(PathBuf),
}

/// Call first thing in `main` of a program used as [`Supervisor::Process`]: when this
/// process was started to supervise a daemon, runs the supervisor and exits; otherwise
/// returns at once. Call it before starting any thread.
pub fn serve_if_requested() {
    let Some(spec) = std::env::var_os(SPEC_VAR) else {
        return;
    };
    let home = std::env::var_os(HOME_VAR).unwrap_or_default();
    let ready = take_fd(READY_VAR);
    let parent = take_fd(PARENT_VAR);
    for var in [SPEC_VAR, HOME_VAR] {
        // Not for the services it spawns.
        std::env::remove_var(var);
    }
    let code = serve(Path::new(&spec), PathBuf::from(home), ready, parent);
    std::process::exit(code);
}

fn take_fd(var: &str) -> Option<OwnedFd> {
    let raw: i32 = std::env::var(var).ok()?.parse().ok()?;
    std::env::remove_var(var);
    // Adopt only a pipe: a stale number must not make us own (and close) another file.
    let target = std::fs::read_link(format!("/proc/self/fd/{raw}")).ok()?;
    if !target.to_string_lossy().starts_with("pipe:") {
        return None;
    }
    take_inherited(raw)
}

fn serve(spec: &Path, home: PathBuf, ready: Option<OwnedFd>, parent: Option<OwnedFd>) -> i32 {
    // Out of the caller's session, so its terminal's hang-up cannot reach us.
    let _ = detach_session();
    let spec = match Spec::load(spec) {
        Ok(s) => s,
        Err(e) => {
            if let Some(fd) = ready {
                let msg = serde_json::json!({"ok": false, "error": format!("invalid spec:\n{e}")});
                let _ = writeln!(std::fs::File::from(fd), "{msg}");
            }
            return 1;
        }
    };
    let opts = Options {
        spec,
        paths: Paths::new(home),
        role: None,
        start: Vec::new(),
        echo: None,
        ready_fd: ready,
        autostart: false,
        manager_socket: None,
    };
    let parent_gone = async move {
        let gone = match parent.map(watch_parent) {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        if !gone {
            std::future::pending::<()>().await;
        }
    };
    match supervise::run_blocking_until(opts, parent_gone) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("proctor supervisor: {e}");
            1
        }
    }
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
        eprintln!("proctor supervisor: cannot watch the parent; it stops only on request");
    }
    rx
}

/// The handle's side: a supervisor child process.
pub(super) struct SupervisorProcess {
    child: Option<Child>,
    /// Write end of the parent pipe; closing it without a `d` stops the supervisor.
    parent: Option<std::fs::File>,
}

impl SupervisorProcess {
    /// Starts `program` as the supervisor of `spec_file` in `paths` and returns once it
    /// listens (or has failed to start).
    pub(super) fn spawn(program: &Path, spec_file: &Path, paths: &Paths) -> Result<Self, Error> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| Error::io(what, e)
        };
        ensure_private_dir(&paths.root).map_err(io("cannot create the state directory"))?;
        let pipe = || {
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| Error::io("cannot create a pipe", e.into()))
        };
        let (ready_rd, ready_wr) = pipe()?;
        let (parent_rd, parent_wr) = pipe()?;
        set_inheritable(&ready_wr, true).map_err(io("cannot pass a pipe"))?;
        set_inheritable(&parent_rd, true).map_err(io("cannot pass a pipe"))?;
        let log_path = paths.supervisor_log();
        let log = paths
            .open_supervisor_log()
            .map_err(io("cannot open the supervisor log"))?;
        let child = Command::new(program)
            .env(SPEC_VAR, spec_file)
            .env(HOME_VAR, &paths.root)
            .env(READY_VAR, ready_wr.as_raw_fd().to_string())
            .env(PARENT_VAR, parent_rd.as_raw_fd().to_string())
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
                program.display()
            )))?;
        // Only the child may hold these ends, or its end of file would never come.
        drop(ready_wr);
        drop(parent_rd);
        let mut me = Self {
            child: Some(child),
            parent: Some(std::fs::File::from(parent_wr)),
        };
        let mut answer = String::new();
        let _ = BufReader::new(std::fs::File::from(ready_rd)).read_line(&mut answer);
        let v: serde_json::Value = serde_json::from_str(answer.trim()).unwrap_or_default();
        if v.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
            return Ok(me);
        }
        me.shutdown();
        let _ = me.join();
        let why = v
            .get("error")
            .and_then(serde_json::Value::as_str)
            .map_or_else(
                || {
                    format!(
                        "{} exited during start-up (does its main call \
                     proctor::daemon::serve_if_requested()?); see {}",
                        program.display(),
                        log_path.display()
                    )
                },
                str::to_owned,
            );
        Err(Error::io(
            "the supervisor process could not start",
            std::io::Error::other(why),
        ))
    }

    /// The supervisor's pid.
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process still runs (a `proctor down` may have ended it).
    pub(super) fn is_alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Asks it to stop every service and exit: closes the parent pipe.
    pub(super) fn shutdown(&mut self) {
        self.parent.take();
    }

    /// Waits for it to exit (reaping it).
    pub(super) fn join(&mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = child
            .wait()
            .map_err(|e| Error::io("waiting for the supervisor process", e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::io(
                "the supervisor process",
                std::io::Error::other(format!("it ended with {status}")),
            ))
        }
    }

    /// Lets it run on after this process exits.
    pub(super) fn detach(mut self) {
        if let Some(mut p) = self.parent.take() {
            if let Err(e) = p.write_all(b"d") {
                tracing::warn!("cannot detach the supervisor process: {e}");
            }
        }
        // It is still our child: reap it whenever it ends, so it never lingers as a zombie.
        if let Some(mut child) = self.child.take() {
            let _ = std::thread::Builder::new()
                .name("proctor-reaper".into())
                .spawn(move || child.wait());
        }
    }
}
