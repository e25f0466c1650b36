//! Why a lifecycle lock could not be taken, written or read.

use std::io;
use std::path::{Path, PathBuf};

use super::record::LockRecord;

/// An error from the lifecycle lock. IO errors always name the file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The service already runs under a live supervisor.
    #[error(
        "{} is already running: pid {} on {} since {}",
        service_name(.path), .holder.pid, .holder.hostname, .holder.started_at
    )]
    Conflict {
        /// The live holder's record.
        holder: LockRecord,
        /// The lock file.
        path: PathBuf,
    },
    /// Another process holds the kernel lock but has not written its record yet: it is
    /// starting the service right now.
    #[error(
        "{} is being started by another process (lock {} is held, its record not yet written)",
        service_name(.path), .path.display()
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// `acquire` was called on a [`Lock`](super::Lock) that already holds the lock.
    #[error("lock {} is already held by this process", .path.display())]
    AlreadyHeld {
        /// The lock file.
        path: PathBuf,
    },
    /// An operation that needs the lock held (such as `set_child`) was called without it.
    #[error("lock {} is not held: acquire it first", .path.display())]
    NotHeld {
        /// The lock file.
        path: PathBuf,
    },
    /// Reading, writing or removing a lock file (or its directory) failed.
    #[error("lock file {}: {source}", .path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl LockError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        LockError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The service a lock file is for: its name without `.lock`.
pub(crate) fn service_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}
