//! Where proctor keeps a project's files: locks, logs, the control socket.
//!
//! The project state directory is `$PROCTOR_HOME` when set (tests always set it), else the
//! spec's `[project] state_dir`, else `$XDG_STATE_HOME/proctor/<name>-<hash of spec path>`
//! (`~/.local/state/...` without XDG). Directories are created 0700.

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
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
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

/// Where the index of running spec files lives: `<base>/specs/<hash of the spec path>`
/// holds the state directory of the supervisor that last ran that file. It lets the CLI
/// find a running supervisor when the spec can no longer tell (it became invalid, or its
/// `[project] name` changed while the project ran).
fn spec_index(spec_path: &Path) -> PathBuf {
    let hash = fnv1a(spec_path.as_os_str().as_encoded_bytes());
    base_dir().join("specs").join(format!("{hash:016x}"))
}

/// Records that the supervisor with state directory `root` runs the spec file at
/// `spec_path` (see [`spec_index`]); best effort, the index only helps the CLI find it.
pub fn remember_spec(spec_path: &Path, root: &Path) {
    if spec_path.as_os_str().is_empty() {
        return;
    }
    let index = spec_index(spec_path);
    let written = index
        .parent()
        .map_or(Ok(()), ensure_private_dir)
        .and_then(|()| {
            let tmp = index.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, root.as_os_str().as_encoded_bytes())?;
            std::fs::rename(&tmp, &index)
        });
    if let Err(e) = written {
        tracing::debug!(
            "cannot record {} in the spec index: {e}",
            spec_path.display()
        );
    }
}

/// The state directory last recorded for the spec file at `spec_path`, if any.
pub fn remembered_state_dir(spec_path: &Path) -> Option<PathBuf> {
    let text = std::fs::read(spec_index(spec_path)).ok()?;
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(&text));
    dir.is_absolute().then_some(dir)
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

/// Creates `path` and its missing parents with mode 0700 (tightening an existing directory
/// we own); the error names the path.
pub fn ensure_private_dir(path: &Path) -> io::Result<()> {
    crate::sys::fs::create_private_dir(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
