//! Backends run a service somewhere: a native process group, a tmux session, a container.
//!
//! Every backend answers the same [`Runner::start`] call with a [`Running`]: the pid to
//! show, the output pipes to capture, a [`Control`] for orders ([`Ctl`]: signal, kill,
//! reap), and a watcher that reports [`RunEvent`]s. A backend carries out orders and
//! reports what the kernel or its tool says; it owns no policy and no timer. When to
//! signal, how long to wait and when to kill is the supervisor's machine's decision, the
//! same for every backend.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::spec::{Service, Signal};
use crate::sys::child::{signal_name, Ended};

pub mod container;
pub mod detect;
pub(crate) mod group;
pub(crate) mod orphan;
pub mod process;
mod spawn;
pub mod tmux;
pub(crate) mod tools;

pub use detect::Found;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// What a backend needs to start one service.
pub struct StartRequest<'a> {
    /// The project the service belongs to.
    pub project: &'a str,
    /// The service, as declared.
    pub service: &'a Service,
    /// Variables proctor adds (e.g. `PROCTOR_STATE_DIR`, `NOTIFY_SOCKET`).
    pub extra_env: Vec<(String, String)>,
    /// Where the run's watcher reports what happens to it.
    pub report: Reporter,
    /// How a backend that starts the service's processes itself keeps hold of them.
    pub hold: Hold,
    /// More starts follow at once (a batch): a native child's exec is not waited for, so
    /// the next spawn goes on meanwhile. A lone start (a restart) waits, which hands the
    /// child the CPU at once.
    pub batch: bool,
}

/// How the processes a service starts are kept hold of (by backends that start them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The process group only: what leaves it is not followed.
    Group,
    /// This cgroup (a leaf of the service's own): everything started stays in it, and the
    /// run is over only once it is empty.
    Cgroup(PathBuf),
    /// The group, plus what was re-parented to the (subreaper) supervisor and carries this
    /// service's name in its environment.
    Subreaper(String),
}

/// A started service.
pub struct Running {
    /// Pid of the service's main process (also its process group id for native processes).
    pub pid: u32,
    /// Output pipes to capture.
    pub output: Vec<(Stream, OwnedFd)>,
    /// Carries the supervisor's orders to the watcher.
    pub control: Control,
    /// The watcher: waits for the kernel and the orders on `control`, reports through the
    /// request's [`Reporter`], and ends once it has reported [`RunEvent::Reaped`]. It has no
    /// timer of its own: every deadline is the supervisor's.
    pub watch: Pin<Box<dyn Future<Output = ()>>>,
    /// The output comes from a terminal: lines end in `\r\n`, which the log drops to `\n`.
    pub tty: bool,
    /// The tmux session or container the service lives in, if any.
    pub session: Option<Session>,
}

/// A start's result: at once for a plain process (its spawn is a few microseconds), later
/// for a backend that first has to run a tool (tmux, podman), which must not hold up the
/// supervisor meanwhile.
pub enum Started {
    /// Started (or failed) already.
    Now(Result<Running, BackendError>),
    /// Resolves once started (or failed).
    Later(Pin<Box<dyn Future<Output = Result<Running, BackendError>>>>),
}

/// An order for a run's watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctl {
    /// Send the stop signal to the service's processes; `grace` is the time they have,
    /// for a runtime that escalates on its own.
    Signal(Signal, Duration),
    /// SIGKILL whatever is left of the service.
    Kill,
    /// Send `Signal` to the service's processes, which live on (a reload signal, `USR1`).
    Deliver(Signal),
    /// Kill what is left, reap, clean up, and report [`RunEvent::Reaped`].
    Reap,
    /// The service named its main process (`MAINPID=`): follow it, when the backend can.
    AdoptMain(u32),
}

/// Sends orders to a run's watcher.
#[derive(Debug, Clone)]
pub struct Control(pub(crate) mpsc::UnboundedSender<Ctl>);

impl Control {
    /// A control and the receiver its watcher reads.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Ctl>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    /// Passes `ctl` on; a no-op once the watcher has ended (there is nothing left to act on).
    pub fn send(&self, ctl: Ctl) {
        let _ = self.0.send(ctl);
    }
}

/// What a run's watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The main process ended (it may not be reaped yet).
    Exited,
    /// Nothing of the service's process group is left but its unreaped leader (reported
    /// by backends whose output does not tell: tmux).
    Drained,
    /// Reaped and cleaned up; how it ended.
    Reaped(Exit),
}

/// Where a run's watcher reports to (the supervisor, tagged with the service and run).
pub struct Reporter(Box<dyn Fn(RunEvent)>);

impl Reporter {
    /// A reporter calling `f`.
    pub fn new(f: impl Fn(RunEvent) + 'static) -> Self {
        Self(Box::new(f))
    }

    /// Reports `event`.
    pub fn report(&self, event: RunEvent) {
        (self.0)(event);
    }
}

/// Where a tmux or container service lives, for `status` and `attach`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The tmux session name, or the container name.
    pub name: String,
    /// A file that holds the container id once the runtime has written it.
    pub id_file: Option<PathBuf>,
    /// The container id once read: `status` reads the file until then, not at every call.
    pub id: std::cell::OnceCell<String>,
}

impl Session {
    /// A session called `name`, whose container id the runtime writes to `id_file`.
    pub fn new(name: String, id_file: Option<PathBuf>) -> Self {
        Self {
            name,
            id_file,
            id: std::cell::OnceCell::new(),
        }
    }

    /// The (short) container id, once the runtime has written it (`None` for tmux
    /// sessions).
    pub fn container_id(&self) -> Option<String> {
        if let Some(id) = self.id.get() {
            return Some(id.clone());
        }
        let text = std::fs::read_to_string(self.id_file.as_ref()?).ok()?;
        let id: String = text.trim().chars().take(12).collect();
        (!id.is_empty()).then(|| self.id.get_or_init(|| id).clone())
    }
}

/// How a service ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Exit code, when it exited on its own.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
    /// A stop timed out and proctor escalated to SIGKILL.
    pub timed_out: bool,
    /// The start itself failed (e.g. program not found); `code` and `signal` are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_error: Option<String>,
    /// When it ended.
    #[serde(with = "crate::util::rfc3339")]
    pub at: SystemTime,
}

impl Exit {
    /// An exit as reported by the kernel.
    pub fn from_ended(ended: Option<Ended>, timed_out: bool) -> Self {
        let (code, signal) = match ended {
            Some(Ended::Code(c)) => (Some(c), None),
            Some(Ended::Signal(s)) => (None, Some(s)),
            None => (None, None),
        };
        Self {
            code,
            signal,
            timed_out,
            spawn_error: None,
            at: SystemTime::now(),
        }
    }

    /// A start that failed before the service ran.
    pub fn spawn_failed(message: String) -> Self {
        Self {
            code: None,
            signal: None,
            timed_out: false,
            spawn_error: Some(message),
            at: SystemTime::now(),
        }
    }

    /// Whether this counts as success for `restart = "on-failure"` and `completed`.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// A short human description: `exited 1`, `killed by SIGTERM`, `timed out, killed`.
    pub fn describe(&self) -> String {
        if let Some(e) = &self.spawn_error {
            return format!("failed to start: {e}");
        }
        let base = match (self.code, self.signal) {
            (Some(c), _) => format!("exited {c}"),
            (None, Some(s)) => format!("killed by SIG{}", signal_name(s)),
            (None, None) => "ended".to_string(),
        };
        if self.timed_out {
            format!("stop timed out, {base}")
        } else {
            base
        }
    }
}

/// Why a backend could not start a service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The program could not be executed.
    #[error("cannot start {program:?} in {cwd}: {source}")]
    Spawn {
        /// The program (`argv[0]`).
        program: String,
        /// Working directory.
        cwd: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The service's `user`, `group` or limits cannot be applied.
    #[error("service {service:?}: {why}")]
    Identity {
        /// The service.
        service: String,
        /// Why.
        why: String,
    },
    /// The service has no command to run.
    #[error("service has an empty command")]
    EmptyCommand,
    /// An OS call around the spawn failed.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file the backend needs could not be written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The program a backend drives is not installed.
    #[error("service {service:?} needs {tool}, which is not installed\nhint: {hint}")]
    MissingTool {
        /// The service being started.
        service: String,
        /// The program (`tmux`, or the configured binary).
        tool: String,
        /// How to get it.
        hint: &'static str,
    },
    /// A container service found neither podman nor docker.
    #[error("service {service:?} is a container, but neither podman nor docker is installed\nhint: install one (apt-get install podman, or docker), or set runtime = \"podman\" | \"docker\"")]
    NoRuntime {
        /// The service being started.
        service: String,
    },
    /// The backend's program ran but failed.
    #[error("{program} {what} failed ({status}): {stderr}")]
    Tool {
        /// The program.
        program: String,
        /// What it was asked to do.
        what: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said on stderr.
        stderr: String,
    },
    /// The service is not of the kind this backend runs.
    #[error("service {service:?} is not a {backend} service")]
    WrongBackend {
        /// The service.
        service: String,
        /// The backend asked.
        backend: &'static str,
    },
    /// A name given to look up is not a valid service name.
    #[error("invalid name {name:?}: {why}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// More than one backend holds a session or container of this name.
    #[error("{name:?} is ambiguous: found {}", found.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and "))]
    Ambiguous {
        /// The name looked up.
        name: String,
        /// Everywhere it was found.
        found: Vec<Found>,
    },
}

/// Starts services of one kind.
pub trait Runner {
    /// Starts `req.service`; must be called from inside the supervisor's runtime.
    fn start(&self, req: StartRequest<'_>) -> Started;
}
