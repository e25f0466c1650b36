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

/// Removes `dir` if `storage` says so. `dir` must be the path `prepare` returned.
pub(super) fn cleanup(storage: &Storage, dir: &Path) {
    let remove = match storage {
        Storage::Sandboxed => true,
        Storage::Persistent { keep_on_exit, .. } => !keep_on_exit,
    };
    if !remove {
        return;
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            // Configured path replaced by a link: remove the link, never its target.
            let _ = std::fs::remove_file(dir);
        }
        Ok(_) => {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                tracing::warn!("cannot remove {}: {e}", dir.display());
            }
        }
        Err(_) => {}
    }
}
