//! The crate's error type: one enum a caller can match, wrapping each module's errors.

use std::path::PathBuf;
use std::time::Duration;

use crate::control::ControlError;
use crate::lock::{LockError, LockRecord};
use crate::spec::SpecErrors;
use crate::supervise::SuperviseError;

/// Everything that can go wrong through the [`crate::Daemon`] API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec (file or builder) is invalid.
    #[error("invalid spec:\n{0}")]
    Spec(#[from] SpecErrors),
    /// Another process already runs this daemon.
    #[error("{name} is already running: pid {} on {} since {}", holder.pid, holder.hostname, holder.started_at)]
    AlreadyRunning {
        /// The daemon's name.
        name: String,
        /// Who holds its lifecycle lock.
        holder: Box<LockRecord>,
    },
    /// The operation needs a started daemon.
    #[error("{0} is not started")]
    NotStarted(String),
    /// The daemon could not be started or did not stay up.
    #[error("{name} failed to start: {reason}")]
    SpawnFailed {
        /// The daemon's name.
        name: String,
        /// Why, as the supervisor saw it.
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
    #[error("no service named {name:?} in {path}")]
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
    /// The supervisor could not run.
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
