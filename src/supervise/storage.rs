//! A service's own state directory, passed to it as `PROCTOR_STATE_DIR`.
//!
//! `sandboxed`: a fresh private temp directory per start, removed after every exit.
//! `persistent`: a configured directory, created 0700 if missing, removed when the service
//! is down for good only if `keep_on_exit = false`. Removal never follows a symlink (std's
//! `remove_dir_all` unlinks links instead of descending) and only ever touches the exact
//! path proctor created or was configured with.

use std::path::{Path, PathBuf};

use crate::spec::Storage;

/// Prepares the directory for a start of `service`; returns its path.
pub(super) fn prepare(storage: &Storage, service: &str) -> std::io::Result<PathBuf> {
    match storage {
        Storage::Sandboxed => {
            let dir = tempfile::Builder::new()
                .prefix(&format!("proctor-{service}-"))
                .tempdir()?;
            // TempDir is 0700 already; we own its removal from here on.
            Ok(dir.keep())
        }
        Storage::Persistent { path, .. } => {
            crate::state::ensure_private_dir(path)?;
            Ok(path.clone())
        }
    }
}

/// Whether the directory goes away after each exit (`true`) or only when down for good.
pub(super) fn per_start(storage: &Storage) -> bool {
    matches!(storage, Storage::Sandboxed)
}

/// Takes `dir` out of the way if `storage` says it goes (`dir` must be the path `prepare`
/// returned) and returns what is left to delete, which may take long. It is renamed
/// first, so a start right after never finds a half-removed directory.
pub(super) fn detach(storage: &Storage, dir: &Path) -> Option<PathBuf> {
    let remove = match storage {
        Storage::Sandboxed => true,
        Storage::Persistent { keep_on_exit, .. } => !keep_on_exit,
    };
    if !remove {
        return None;
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            // Configured path replaced by a link: remove the link, never its target.
            let _ = std::fs::remove_file(dir);
            None
        }
        Ok(_) => {
            // Renamed at once (one cheap call), deleted later: the path is free the moment
            // the service is down, however big the tree.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut name = dir.as_os_str().to_owned();
            name.push(format!(".proctor-removing-{}-{n}", std::process::id()));
            let doomed = PathBuf::from(name);
            match std::fs::rename(dir, &doomed) {
                Ok(()) => Some(doomed),
                Err(e) => {
                    tracing::warn!("cannot remove {}: {e}", dir.display());
                    None
                }
            }
        }
        Err(_) => None,
    }
}

/// Deletes a tree [`detach`] returned, never following a symlink (std's `remove_dir_all`
/// unlinks links instead of descending).
pub(super) fn remove(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!("cannot remove {}: {e}", dir.display());
    }
}
