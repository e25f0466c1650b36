//! A daemon's supervisor in a process of its own ([`Supervisor::Process`]), so that a
//! detached daemon stays supervised after the program that started it exits.
//!
//! The process is started by the crate's one launcher (`launch`), tethered: it stops everything when this
//! process is gone, unless [`SupervisorProcess::detach`] said otherwise first. The program
//! learns its spec file and state directory from the launch's environment, in
//! [`serve_if_requested`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::error::Error;
use crate::launch::{self, Handoff, LaunchError, HOME_VAR, SPEC_VAR};
use crate::spec::Spec;
use crate::state::Paths;
use crate::supervise::{self, Options};
use crate::sys::child::detach_session;

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
    let handoff = Handoff::take();
    for var in [SPEC_VAR, HOME_VAR] {
        // Not for the services it spawns.
        std::env::remove_var(var);
    }
    let code = serve(Path::new(&spec), PathBuf::from(home), handoff);
    std::process::exit(code);
}

fn serve(spec: &Path, home: PathBuf, mut handoff: Handoff) -> i32 {
    // Out of the caller's session, so its terminal's hang-up cannot reach us.
    let _ = detach_session();
    let spec = match Spec::load(spec) {
        Ok(s) => s,
        Err(e) => {
            handoff.fail(format!("invalid spec:\n{e}"));
            return 1;
        }
    };
    let parent_gone = handoff.parent_gone();
    let opts = Options {
        spec,
        paths: Paths::new(home),
        role: None,
        start: Vec::new(),
        echo: None,
        ready_fd: handoff.ready.take(),
        autostart: false,
        manager_socket: None,
        init: None,
    };
    match supervise::run_blocking_until(opts, parent_gone) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("proctor supervisor: {e}");
            1
        }
    }
}

/// Starts `cmd` (a program whose `main` calls [`serve_if_requested`] first thing) in the
/// background as the supervisor of the project at `spec_file`, keeping its files in
/// `state_dir`, and returns its pid once it listens on its control socket. Unlike a
/// [`Supervisor::Process`] daemon's, this supervisor is not tethered to this process: it
/// runs until asked to stop (`down`), like `proctor up -d`'s. It starts nothing by itself;
/// send it an `Up` or `Start` request. Fails when it does not report within `deadline`.
pub fn launch_supervisor(
    mut cmd: Command,
    spec_file: &Path,
    state_dir: &Path,
    deadline: std::time::Duration,
) -> Result<u32, Error> {
    cmd.env(SPEC_VAR, spec_file).env(HOME_VAR, state_dir);
    let paths = Paths::new(state_dir.to_path_buf());
    match launch::launch(cmd, &paths, false, Some(deadline)) {
        Ok(l) => {
            let mut child = l.child;
            let pid = child.id();
            // Our child until it ends: reap it then, so it never lingers as a zombie.
            let _ = std::thread::Builder::new()
                .name("proctor-reaper".into())
                .spawn(move || child.wait());
            Ok(pid)
        }
        Err(LaunchError::Io { what, source }) => Err(Error::io(what, source)),
        Err(e) => Err(Error::io(
            "the supervisor process could not start",
            std::io::Error::other(e.to_string()),
        )),
    }
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
        let mut cmd = Command::new(program);
        cmd.env(SPEC_VAR, spec_file).env(HOME_VAR, &paths.root);
        match launch::launch(cmd, paths, true, None) {
            Ok(l) => Ok(Self {
                child: Some(l.child),
                parent: l.parent,
            }),
            Err(LaunchError::Io { what, source }) => Err(Error::io(what, source)),
            Err(e) => {
                let why = match e {
                    LaunchError::Refused(why) => why,
                    LaunchError::Exited { log } => format!(
                        "{} exited during start-up (does its main call \
                         proctor::daemon::serve_if_requested()?); see {}",
                        program.display(),
                        log.display()
                    ),
                    other => other.to_string(),
                };
                Err(Error::io(
                    "the supervisor process could not start",
                    std::io::Error::other(why),
                ))
            }
        }
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
