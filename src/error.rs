//! The crate's error type: one enum a caller can match, wrapping each module's errors.
//!
//! Every variant carries what a caller needs to act on it (the holder of a lock, the
//! deadline that passed, the path that failed), never a bare string.

use std::path::PathBuf;
use std::time::Duration;

use crate::control::ControlError;
use crate::lock::{LockError, LockRecord};
use crate::spec::SpecErrors;
pub use crate::supervise::SuperviseError;

/// Everything that can go wrong through the [`crate::Daemon`] API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec (file or builder) is invalid; every problem is listed.
    #[error("invalid spec:\n{0}")]
    Spec(#[from] SpecErrors),
    /// Another live process already runs this daemon: it holds the lifecycle lock.
    #[error(
        "{name} is already running: pid {} on {} since {} (supervisor pid {})",
        holder.pid, holder.hostname, holder.started_at, holder.supervisor_pid
    )]
    AlreadyRunning {
        /// The daemon's name.
        name: String,
        /// Who holds its lifecycle lock.
        holder: Box<LockRecord>,
    },
    /// The operation needs a started daemon.
    #[error("{0} is not started")]
    NotStarted(String),
    /// The daemon could not be started, or gave up before it was ready.
    #[error("{name} failed to start: {reason}")]
    SpawnFailed {
        /// The daemon's name.
        name: String,
        /// Why, as the supervisor saw it (e.g. `failed to start: No such file…`).
        reason: String,
    },
    /// The daemon did not become ready in time.
    #[error("{name} was not ready within {waited:?}")]
    ReadyTimeout {
        /// The daemon's name.
        name: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The spec names no such service.
    #[error("no service named {name:?} in {}", path.display())]
    UnknownService {
        /// The name asked for.
        name: String,
        /// The spec file.
        path: PathBuf,
    },
    /// A lifecycle lock operation failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Talking to the supervisor failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The supervisor could not run (e.g. another supervisor owns the state directory).
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
    /// A file or OS operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
