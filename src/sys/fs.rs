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

/// `open(2)` flag that refuses a symbolic link as the last component of a path: files in
/// proctor's state directory are opened with it, so a link planted there (say
/// `logs/web.log -> /etc/passwd`) makes the open fail instead of redirecting a write.
pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

/// Opens `path` with `opts` plus [`NOFOLLOW`]; a symbolic link there is an error that says
/// so (the kernel's own, ELOOP, reads "too many levels of symbolic links").
pub fn open_nofollow(opts: &mut std::fs::OpenOptions, path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    opts.custom_flags(NOFOLLOW).open(path).map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "is a symbolic link, which proctor does not follow in its state directory; \
                 remove it (proctor then creates a plain file)",
            )
        } else {
            e
        }
    })
}

/// Checks that proctor may keep its state in the existing directory `path`, as ssh checks
/// its files: owned by the effective user and writable by no one else. Otherwise another
/// user could plant links or files there (a lock naming a process to stop, a log link to
/// write through), so it is refused, with the fix in the message. `path` itself may be a
/// symbolic link (to a directory passing the same checks); its parents are not checked,
/// so a state directory under `/tmp` is fine.
pub fn check_private_dir(path: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    let me = rustix::process::geteuid().as_raw();
    let shown = path.display();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "is owned by uid {}, not by you (uid {me}); proctor keeps locks and logs there \
                 and trusts no directory another user controls: `chown {me} {shown}` if it is \
                 yours, or choose another PROCTOR_HOME / state_dir",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "is writable by {} (mode {:o}); proctor keeps locks and logs there and trusts \
                 no directory others can write: `chmod 700 {shown}`, or choose another \
                 PROCTOR_HOME / state_dir",
                if meta.mode() & 0o002 != 0 {
                    "everyone"
                } else {
                    "its group"
                },
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// [`create_private_dir`] for a state directory: an existing one must pass
/// [`check_private_dir`] before it is tightened to 0700 (a directory others could write
/// may already hold what they planted, so tightening it would be too late).
pub fn create_state_dir(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => check_private_dir(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    create_private_dir(path)
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

/// Watches a directory for entries appearing in it (created or moved in), so a client can
/// wait for a supervisor's socket without polling.
pub struct DirWatch {
    fd: std::os::fd::OwnedFd,
}

impl DirWatch {
    /// Starts watching `dir`.
    pub fn new(dir: &std::path::Path) -> std::io::Result<Self> {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
        let fd = inotify::init(CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            dir,
            WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::ATTRIB,
        )?;
        Ok(Self { fd })
    }

    /// Waits until something appears (or `limit` passes), and drains what was reported.
    pub fn wait(&self, limit: std::time::Duration) {
        if super::fd::wait_readable(&self.fd, limit) {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
            let _ = rustix::io::read(&self.fd, &mut buf);
        }
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
