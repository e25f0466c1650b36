//! The supervisor: one event loop per project that keeps its services alive.
//!
//! `machine` is the pure core: every rule of a service's life, from the dependency order
//! to the stop's grace period. [`run`] is the thin I/O driver around it: it spawns through
//! the backends, captures logs, serves the control socket, carries out the machine's
//! actions, and sleeps only until the next deadline (the machine's, a watched service's
//! debounced restart in `watch`, a job's next time in `schedule`), so an idle supervisor
//! never wakes.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use crate::spec::Spec;
use crate::state::Paths;

mod adhoc;
mod apply;
mod backends;
mod contain;
mod driver;
pub mod echo;
mod locks;
pub(crate) mod machine;
mod memory;
mod metrics;
mod probes;
mod reload;
mod report;
mod requests;
mod scale;
mod schedule;
mod signals;
mod spawn;
mod startup;
mod storage;
mod watch;
mod wire;

pub use echo::Echo;

/// How to run a supervisor.
pub struct Options {
    /// The project.
    pub spec: Spec,
    /// Its state directory.
    pub paths: Paths,
    /// Role selecting the autostart set.
    pub role: Option<String>,
    /// Services to start at once (empty = the autostart set for `role`).
    pub start: Vec<String>,
    /// Print service output and events to stdout (foreground `up`).
    pub echo: Option<Echo>,
    /// Where to report "listening" (or the start-up error) to a waiting CLI.
    pub ready_fd: Option<OwnedFd>,
    /// Start services at once (`false`: wait for requests).
    pub autostart: bool,
    /// Our own service manager's notify socket (`NOTIFY_SOCKET` when run by systemd): it
    /// gets `READY=1` once the first services are ready and `STOPPING=1` on the way down.
    pub manager_socket: Option<String>,
    /// Run as a container's entrypoint (`proctor init`): see [`Init`].
    pub init: Option<Init>,
}

/// `proctor init`: the supervisor is the entrypoint (often PID 1) of a container. It reaps
/// every orphan, passes HUP on to the services, and once the main service is done (exited
/// or failed for good) stops the rest and exits with the main service's status.
#[derive(Debug, Clone)]
pub struct Init {
    /// The main service.
    pub main: String,
    /// Where its exit status is left for the process's exit code.
    pub code: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

/// Takes `NOTIFY_SOCKET` out of this process's environment, so the services we spawn do
/// not talk to our service manager, and returns it. Call before any thread starts.
pub fn take_manager_socket() -> Option<String> {
    let v = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
    std::env::remove_var("NOTIFY_SOCKET");
    v
}

/// Why a supervisor could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuperviseError {
    /// Another supervisor holds the project.
    #[error("a supervisor is already running for this project (pid {pid}, state dir {dir})")]
    AlreadyRunning {
        /// Its pid, if readable.
        pid: String,
        /// The state directory.
        dir: PathBuf,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Services named on the command line do not exist.
    #[error("{0}")]
    UnknownService(String),
    /// The metrics address could not be bound.
    #[error("cannot serve metrics at {addr}: {source}")]
    Metrics {
        /// `[project] metrics`.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The containment the spec asks for is not available.
    #[error(transparent)]
    Contain(#[from] contain::ContainError),
}

/// Runs a supervisor until `shutdown` resolves or a `down` request arrives, then stops every
/// service. Must be called inside a tokio `LocalSet` on a current-thread runtime.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), SuperviseError> {
    driver::run(opts, shutdown, None).await
}

/// A signal to a supervisor that owns its process (`proctor up`, `proctor supervise`), as
/// the loop acts on it:
/// - TERM: stop every service gracefully, then exit;
/// - INT: the same; a second INT kills every service now;
/// - HUP: a detached supervisor reloads the spec; a foreground `up` lost its terminal and
///   stops every service gracefully, as for Ctrl-C;
/// - QUIT: exit at once, leaving the services running: the next supervisor of the project
///   finds them as orphans and stops them before it starts anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessSignal {
    /// SIGTERM.
    Term,
    /// SIGINT.
    Int,
    /// SIGHUP.
    Hup,
    /// SIGQUIT.
    Quit,
}

/// Runs a supervisor on a fresh current-thread runtime, acting on TERM, INT, HUP and QUIT
/// (see [`ProcessSignal`]).
pub fn run_blocking(opts: Options) -> Result<(), SuperviseError> {
    run_blocking_until(opts, std::future::pending())
}

/// [`run_blocking`], also stopping when `also` resolves.
pub fn run_blocking_until(
    opts: Options,
    also: impl Future<Output = ()>,
) -> Result<(), SuperviseError> {
    // This process is ours (`supervise`, `up`, `init`): with one pipe, pidfd and log file
    // per service, the usual soft limit of 1,024 descriptors would cap it at a few hundred.
    if let Some((from, to)) = crate::sys::limits::raise_nofile() {
        tracing::debug!("raised the open-file limit from {from} to {to}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SuperviseError::Io {
            path: PathBuf::from("<runtime>"),
            source,
        })?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered before anything else happens: once we report ready, a SIGTERM must
        // already mean "stop everything", not the default death.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for (kind, sig) in [
            (SignalKind::terminate(), ProcessSignal::Term),
            (SignalKind::interrupt(), ProcessSignal::Int),
            (SignalKind::hangup(), ProcessSignal::Hup),
            (SignalKind::quit(), ProcessSignal::Quit),
        ] {
            match signal(kind) {
                Ok(mut stream) => {
                    let tx = tx.clone();
                    tokio::task::spawn_local(async move {
                        while stream.recv().await.is_some() {
                            if tx.send(sig).is_err() {
                                break;
                            }
                        }
                    });
                }
                Err(e) => tracing::warn!("cannot handle {sig:?}: {e}"),
            }
        }
        driver::run(opts, also, Some(rx)).await
    })
}
