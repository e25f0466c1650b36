//! The supervisor's own life: taking the project's state directory, and what each signal
//! to its process means (see [`ProcessSignal`]).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::mpsc;

use super::driver::Driver;
use super::machine::State;
use super::{ProcessSignal, SuperviseError};
use crate::state::{ensure_private_dir, Paths};

/// Creates the state directory, takes the singleton lock, binds the control socket.
pub(super) fn setup(paths: &Paths) -> Result<(std::fs::File, UnixListener), SuperviseError> {
    use std::io::Write;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| SuperviseError::Io { path, source }
    };
    crate::sys::fs::create_state_dir(&paths.root).map_err(io(&paths.root))?;
    ensure_private_dir(&paths.logs_dir()).map_err(io(&paths.logs_dir()))?;
    let lock_path = paths.supervisor_lock();
    let mut lock = crate::sys::fs::open_nofollow(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        &lock_path,
    )
    .map_err(io(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(SuperviseError::AlreadyRunning {
                pid: pid.trim().to_string(),
                dir: paths.root.clone(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
    }
    lock.set_len(0).map_err(io(&lock_path))?;
    write!(lock, "{}", std::process::id()).map_err(io(&lock_path))?;
    let sock = paths.control_socket();
    // We hold the singleton lock, so a socket file left here belongs to a dead supervisor.
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(io(&sock))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(io(&sock))?;
    Ok((lock, listener))
}

/// The next signal, if this supervisor owns its process's signals; never otherwise.
pub(super) async fn next(
    signals: &mut Option<mpsc::UnboundedReceiver<ProcessSignal>>,
) -> Option<ProcessSignal> {
    match signals {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Says what a signal does: on the terminal of a foreground `up`, else in the log.
fn notice(foreground: bool, what: &str) {
    if foreground {
        eprintln!("proctor: {what}");
    } else {
        tracing::warn!("{what}");
    }
}

impl Driver {
    /// Acts on `sig`; returns whether the supervisor must exit at once (QUIT).
    pub(super) fn on_signal(
        &mut self,
        sig: ProcessSignal,
        foreground: bool,
        entrypoint: bool,
        interrupted: &mut bool,
    ) -> bool {
        match sig {
            ProcessSignal::Hup if entrypoint => {
                // A container's entrypoint passes HUP on, as tini and dumb-init do.
                for i in 0..self.slots.len() {
                    if self.machine.units()[i].run.is_some() {
                        self.order(i, crate::backend::Ctl::Deliver(crate::spec::Signal::HUP));
                    }
                }
            }
            ProcessSignal::Term => {
                tracing::info!("SIGTERM: stopping every service");
                self.begin_shutdown(None);
            }
            ProcessSignal::Int if !*interrupted => {
                *interrupted = true;
                notice(
                    foreground,
                    "stopping every service (Ctrl-C again kills them now)",
                );
                self.begin_shutdown(None);
            }
            ProcessSignal::Int => {
                notice(foreground, "second Ctrl-C: killing every service now");
                self.begin_shutdown(Some(Duration::ZERO));
            }
            ProcessSignal::Hup if foreground => {
                notice(foreground, "the terminal hung up: stopping every service");
                self.begin_shutdown(None);
            }
            ProcessSignal::Hup => {
                tracing::info!("SIGHUP: reloading the spec");
                self.on_reload(false, None);
            }
            ProcessSignal::Quit => {
                tracing::warn!("SIGQUIT: exiting now, leaving the services to the next supervisor");
                return true;
            }
        }
        false
    }

    /// `proctor init`: once the main service is done for good, stop the rest; its exit
    /// status becomes the process's.
    pub(super) fn init_main_done(&mut self, init: &super::Init) {
        if self.shutting_down {
            return;
        }
        let Some(i) = self.visible_index(&init.main) else {
            return;
        };
        let u = &self.machine.units()[i];
        if u.run.is_some() || !matches!(u.state, State::Exited | State::Failed | State::Stopped) {
            return;
        }
        if u.state == State::Stopped && u.last_exit.is_none() {
            // Not started yet.
            return;
        }
        let code = match &u.last_exit {
            Some(e) if e.spawn_error.is_some() => 127,
            Some(e) => e.code.or(e.signal.map(|s| 128 + s)).unwrap_or(1),
            None => 0,
        };
        init.code.store(code, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(code, "the main service is done: stopping the rest");
        self.begin_shutdown(None);
    }
}
