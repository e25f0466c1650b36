//! Where proctor keeps a project's files: locks, logs, the control socket.
//!
//! The project state directory is `$PROCTOR_HOME` when set (tests always set it), else the
//! spec's `[project] state_dir`, else `$XDG_STATE_HOME/proctor/<name>-<hash of spec path>`
//! (`~/.local/state/...` without XDG). Directories are created 0700.
//!
//! A supervisor records which spec file it runs (`spec.json` in its state directory) and,
//! unless `$PROCTOR_HOME` is set, indexes that file under `<base>/specs/` (see
//! [`record_spec`]). The CLI finds it that way when the spec can no longer say where it is:
//! the file became invalid, or its `[project] name` changed while the project ran.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::spec::Spec;

/// The environment variable that overrides the state directory.
pub const HOME_VAR: &str = "PROCTOR_HOME";

/// Paths inside a project's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The state directory itself.
    pub root: PathBuf,
}

impl Paths {
    /// Paths under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The state directory of `spec`'s project.
    pub fn for_spec(spec: &Spec) -> Self {
        Self::new(project_dir(spec))
    }

    /// The control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.root.join("control.sock")
    }

    /// The supervisor's singleton lock (flock held while it runs).
    pub fn supervisor_lock(&self) -> PathBuf {
        self.root.join("supervisor.lock")
    }

    /// Serializes CLIs that may spawn a supervisor.
    pub fn spawn_lock(&self) -> PathBuf {
        self.root.join("spawn.lock")
    }

    /// The detached supervisor's own output.
    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }

    /// Opens the detached supervisor's log for appending (created 0600); the error names
    /// the path.
    pub fn open_supervisor_log(&self) -> io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.supervisor_log();
        crate::sys::fs::open_nofollow(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600),
            &path,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    /// Per-service log files.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Per-service lifecycle locks.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// Which spec file the supervisor runs ([`SpecRecord`]).
    pub fn spec_record(&self) -> PathBuf {
        self.root.join("spec.json")
    }
}

/// What a supervisor writes in its state directory about the spec file it runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpecRecord {
    /// The spec file (absolute, as in `Spec::path`).
    pub spec: PathBuf,
    /// The file as it was when the supervisor last loaded it (start or reload), so that a
    /// CLI can tell "unchanged, hence valid" without parsing it again.
    pub stamp: Option<FileStamp>,
}

/// Enough of a file's metadata to notice any change of its content: an edit moves the
/// change time, which no tool can set back, and a replaced file has another inode. (File
/// times are coarse, so two writes of the same size within one clock tick look alike; that
/// costs no more than a missed warning.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    /// The stamp of the file at `path` now, if it can be read.
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Records that the supervisor of `paths` runs the spec file of `spec` as it was at
/// `stamp` (taken before the file was read, so an edit during the read counts as a
/// change): `spec.json` in the state directory and, unless `$PROCTOR_HOME` fixes the
/// state directory, the index entry `<base>/specs/<hash of the path>` naming that
/// directory. Only a supervisor in the directory the file names records itself (not a
/// library daemon given another `lock_dir`, which runs one service of the file, not the
/// project). Best effort: both only help the CLI find the supervisor.
pub fn record_spec(paths: &Paths, spec: &Spec, stamp: Option<FileStamp>) {
    // The default project of `proctor run` has no file.
    if spec.path.as_os_str().is_empty() || project_dir(spec) != paths.root {
        return;
    }
    let record = SpecRecord {
        spec: spec.path.clone(),
        stamp,
    };
    // A reload that found the file as it was (every `up -d` of a running project) writes
    // nothing.
    if read_record(paths).as_ref() != Some(&record) {
        let written = serde_json::to_vec(&record)
            .map_err(io::Error::other)
            .and_then(|json| write_atomic(&paths.spec_record(), &json));
        if let Err(e) = written {
            tracing::warn!("cannot record the spec file this supervisor runs: {e}");
        }
    }
    if home_override().is_some() {
        return;
    }
    let index = spec_index(&spec.path);
    if std::fs::read(&index).is_ok_and(|dir| dir == paths.root.as_os_str().as_bytes()) {
        return;
    }
    let written = index
        .parent()
        .map_or(Ok(()), ensure_private_dir)
        .and_then(|()| write_atomic(&index, paths.root.as_os_str().as_encoded_bytes()));
    if let Err(e) = written {
        tracing::warn!("cannot index the spec file this supervisor runs: {e}");
    }
}

/// The state directory whose supervisor last ran the spec file at `spec`, from the index
/// (absolute paths, as in `Spec::path`). `None` without an entry, or when that directory
/// has since been taken by another spec file. The supervisor may have exited since.
pub fn indexed_dir(spec: &Path) -> Option<Paths> {
    let text = std::fs::read(spec_index(spec)).ok()?;
    let paths = Paths::new(PathBuf::from(std::ffi::OsStr::from_bytes(&text)));
    (paths.root.is_absolute() && read_record(&paths)?.spec == spec).then_some(paths)
}

/// The spec record of the supervisor of `paths`, if it wrote one.
pub fn read_record(paths: &Paths) -> Option<SpecRecord> {
    let bytes = std::fs::read(paths.spec_record()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the spec file at `spec` is, to the inode and change time, the one the
/// supervisor of `paths` last loaded: then it is valid, and it names that directory,
/// without parsing it again.
pub fn loaded_unchanged(paths: &Paths, spec: &Path) -> bool {
    read_record(paths)
        .is_some_and(|r| r.spec == spec && r.stamp.is_some() && r.stamp == FileStamp::of(spec))
}

/// Where the index entry of the spec file at `spec` lives.
fn spec_index(spec: &Path) -> PathBuf {
    let hash = fnv1a(spec.as_os_str().as_encoded_bytes());
    base_dir().join("specs").join(format!("{hash:016x}"))
}

/// Writes `bytes` to `path` through a temp file and a rename, so readers never see half.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = crate::sys::fs::open_nofollow(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600),
        &tmp,
    )
    .map_err(named)?;
    io::Write::write_all(&mut f, bytes).map_err(named)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(named)
}

/// `$PROCTOR_HOME`, when set: the state directory whatever the spec says.
pub fn home_override() -> Option<PathBuf> {
    // Made absolute now: the detached supervisor changes its directory after start.
    std::env::var_os(HOME_VAR)
        .filter(|h| !h.is_empty())
        .map(|h| std::path::absolute(&h).unwrap_or_else(|_| PathBuf::from(h)))
}

/// The state directory for `spec` (see the module docs for the order of precedence).
pub fn project_dir(spec: &Spec) -> PathBuf {
    if let Some(home) = home_override() {
        return home;
    }
    if let Some(dir) = &spec.project.state_dir {
        return dir.clone();
    }
    let hash = fnv1a(spec.path.as_os_str().as_encoded_bytes());
    base_dir().join(format!("{}-{:08x}", spec.project.name, hash as u32))
}

/// `$XDG_STATE_HOME/proctor`, or `~/.local/state/proctor`.
pub fn base_dir() -> PathBuf {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        home.join(".local").join("state")
    });
    base.join("proctor")
}

/// A stable 64-bit FNV-1a hash (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Creates the state directory `path` (and missing parents) with mode 0700, or checks an
/// existing one: owned by us and writable by no one else, else refused with an error that
/// names the path and the fix (see [`crate::sys::fs::check_private_dir`]).
pub fn ensure_state_dir(path: &Path) -> io::Result<()> {
    crate::sys::fs::create_state_dir(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Creates `path` and its missing parents with mode 0700 (tightening an existing directory
/// we own); the error names the path.
pub fn ensure_private_dir(path: &Path) -> io::Result<()> {
    crate::sys::fs::create_private_dir(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
