//! Owner-only files and directories.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Mode of proctor's private directories: owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of proctor's private files: owner read and write only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents with mode 0700; if `path` already exists and is
/// owned by us, tightens its mode to 0700. Errors are the raw IO error: callers name the path.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "exists and is not a directory",
        ));
    }
    let owned = meta.uid() == rustix::process::geteuid().as_raw();
    if owned && meta.mode() & 0o7777 != PRIVATE_DIR_MODE {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))?;
    }
    Ok(())
}

/// Flushes a directory's entries (a rename or a create inside it) to disk.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Atomically puts `from` in place of `to`. Where `to` exists the two are exchanged
/// (`RENAME_EXCHANGE`), so `from` then holds the old file and no inode is freed: freeing
/// one costs a synchronous discard on a disk mounted with `discard`. Plain rename where `to`
/// is missing or the filesystem cannot exchange.
pub fn swap_in(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            std::fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").mode() & 0o7777
    }

    #[test]
    fn creates_nested_dirs_0700() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b/c");
        create_private_dir(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        // Idempotent.
        create_private_dir(&dir).expect("again");
        sync_dir(&dir).expect("sync");
    }

    #[test]
    fn tightens_existing_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("open");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        create_private_dir(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn refuses_a_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("f");
        std::fs::write(&file, b"").expect("write");
        assert!(create_private_dir(&file).is_err());
    }
}
