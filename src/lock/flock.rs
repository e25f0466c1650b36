//! The kernel lock that serializes acquirers of one lifecycle lock on one host.
//!
//! `flock` on a sibling `<name>.flock` file. The lock belongs to the open file, so it is
//! released when the [`Flock`] is dropped or the process dies, however it dies. The file is
//! opened close-on-exec, so spawned services never inherit it.
//!
//! Dropping unlocks explicitly (`LOCK_UN`) before closing: a fork in another thread (a
//! spawn in progress) briefly holds a copy of every descriptor, and a plain close would
//! leave the lock held until that child execs.
//!
//! The `.flock` file is never deleted: unlinking it while another process has it open would
//! let a third process lock a fresh inode beside it, and both would win.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::LockError;
use crate::sys;

/// A held kernel lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct Flock {
    file: File,
}

impl Drop for Flock {
    fn drop(&mut self) {
        // Closing follows; an unlock error leaves nothing better to do than that close.
        let _ = self.file.unlock();
    }
}

/// Takes the exclusive lock on `path` without blocking, creating the file (0600) if needed.
/// `Ok(None)` means another open file holds it.
pub(crate) fn try_lock(path: &Path) -> Result<Option<Flock>, LockError> {
    let file = sys::fs::open_nofollow(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(sys::fs::PRIVATE_FILE_MODE),
        path,
    )
    .map_err(|e| LockError::io(path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Flock { file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(LockError::io(path, e)),
    }
}
