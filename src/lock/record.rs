//! The lock file's payload and how it is read and written.
//!
//! Writes are atomic: a temp file in the same directory, fsync, rename over the lock file,
//! fsync the directory. A reader therefore sees the old record or the new one, never half.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::LockError;
use crate::sys;

/// The record format this code writes. Readers accept higher versions as long as the fields
/// below are present with the right types, and ignore fields they do not know.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON payload of `<state>/locks/<service>.lock`: who runs the service, and under
/// which supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Format version of the record ([`SCHEMA_VERSION`] when written by this code).
    pub schema_version: u32,
    /// Pid of the service (the supervisor's own pid until the service is spawned).
    pub pid: u32,
    /// Process group of the service: what must be signalled to stop it and its children.
    pub pgid: u32,
    /// Kernel start time of `pid` (clock ticks since boot), so a reused pid is not mistaken
    /// for the holder.
    pub start_time: u64,
    /// Host the holder runs on; pids mean nothing on another host.
    pub hostname: String,
    /// When the holder started, RFC 3339 UTC (for people reading `proctor lock`).
    pub started_at: String,
    /// Pid of the supervisor holding the lock; if it is gone while `pid` lives, the service
    /// is an orphan.
    pub supervisor_pid: u32,
    /// Kernel start time of `supervisor_pid`; `None` in records that did not store it, in
    /// which case only the supervisor pid's liveness is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_start_time: Option<u64>,
}

/// Who is asking for a lock: this host and this process (the would-be supervisor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// This machine's host name.
    pub hostname: String,
    /// The supervisor's pid.
    pub pid: u32,
    /// The supervisor's process group.
    pub pgid: u32,
    /// The supervisor's kernel start time (0 where the platform has none).
    pub start_time: u64,
}

impl HostInfo {
    /// The calling process on this host.
    pub fn current() -> Self {
        let pid = sys::proc::current_pid();
        HostInfo {
            hostname: sys::proc::hostname(),
            pid,
            pgid: sys::proc::current_pgid(),
            start_time: own_start_time(pid),
        }
    }

    /// A fresh record naming this process as both holder and supervisor, started now.
    pub fn record(&self) -> LockRecord {
        LockRecord {
            schema_version: SCHEMA_VERSION,
            pid: self.pid,
            pgid: self.pgid,
            start_time: self.start_time,
            hostname: self.hostname.clone(),
            started_at: now_rfc3339(),
            supervisor_pid: self.pid,
            supervisor_start_time: Some(self.start_time),
        }
    }
}

impl LockRecord {
    /// Whether this record names `me` as its supervisor (same host, pid and start time).
    pub fn is_supervised_by(&self, me: &HostInfo) -> bool {
        self.hostname == me.hostname
            && self.supervisor_pid == me.pid
            && self
                .supervisor_start_time
                .is_none_or(|t| t == me.start_time)
    }
}

/// The current time as RFC 3339 UTC with whole seconds, e.g. `2026-05-01T12:00:00Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Reads the record at `path`. Absent, or corrupt in any way (empty, truncated, not JSON,
/// wrong types), is `Ok(None)`, with a warning for corrupt; other IO errors are errors.
pub(crate) fn read(path: &Path) -> Result<Option<LockRecord>, LockError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LockError::io(path, e)),
    };
    match serde_json::from_slice::<LockRecord>(&bytes) {
        Ok(record) => Ok(Some(record)),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring corrupt lock file");
            Ok(None)
        }
    }
}

/// Atomically replaces `path` with `record`, mode 0600. The directory must exist.
///
/// Callers hold the sibling flock, so the fixed temp name cannot collide with another
/// writer; a temp file left by a crash is simply replaced.
pub(crate) fn write(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    write_with(path, record, true)
}

/// [`write`] without the fsyncs: still atomic for every other process (the rename), only
/// not across a power loss. For updates whose loss a power cut makes moot anyway.
pub(crate) fn write_fast(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    write_with(path, record, false)
}

/// First half of a batched durable write: the record in its temp file, not yet synced or
/// renamed. [`commit_staged`] finishes a batch with one filesystem sync for all of them.
pub(crate) fn stage(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut json =
            serde_json::to_vec_pretty(record).map_err(|e| LockError::io(path, e.into()))?;
        json.push(b'\n');
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LockError::io(&tmp, e)),
        }
        let mut file = create_private(&tmp).map_err(|e| LockError::io(&tmp, e))?;
        file.write_all(&json).map_err(|e| LockError::io(&tmp, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Second half of a batched durable write: one `syncfs` makes every staged temp file
/// durable (as an fsync of each would), then each is renamed over its lock file and each
/// directory is fsynced once. Returns one result per path, in order.
pub(crate) fn commit_staged(paths: &[&Path]) -> Vec<Result<(), LockError>> {
    let Some(first) = paths.first() else {
        return Vec::new();
    };
    let dir = parent(first);
    let synced = fs::File::open(dir)
        .and_then(|d| rustix::fs::syncfs(&d).map_err(io::Error::from))
        .map_err(|e| LockError::io(dir, e));
    let mut out: Vec<Result<(), LockError>> = paths
        .iter()
        .map(|path| {
            let tmp = temp_path(path);
            if let Err(e) = &synced {
                let _ = fs::remove_file(&tmp);
                return Err(LockError::io(dir, io::Error::other(e.to_string())));
            }
            fs::rename(&tmp, path).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                LockError::io(path, e)
            })
        })
        .collect();
    let mut dirs: Vec<&Path> = paths.iter().map(|p| parent(p)).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = sys::fs::sync_dir(d) {
            for (k, path) in paths.iter().enumerate() {
                if parent(path) == d && out[k].is_ok() {
                    out[k] = Err(LockError::io(d, io::Error::other(e.to_string())));
                }
            }
        }
    }
    out
}

/// Replaces the record in place: one write of the whole record at offset 0, padded with
/// spaces (which JSON readers skip) to the old length so nothing stale is left behind. A
/// write within one page is seen whole or not at all by concurrent readers; and creating a
/// temp file per update made ext4 hunt for free inodes among the ones just deleted, which
/// dominated starting many services. Falls back to a temp file and rename when the file is
/// gone.
pub(crate) fn write_in_place(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    use std::os::unix::fs::FileExt;
    let mut json = serde_json::to_vec_pretty(record).map_err(|e| LockError::io(path, e.into()))?;
    json.push(b'\n');
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return write_fast(path, record),
        Err(e) => return Err(LockError::io(path, e)),
    };
    let old_len = file.metadata().map_err(|e| LockError::io(path, e))?.len();
    if json.len() > 4096 || old_len > 4096 {
        // Beyond one page a reader could see a mix: take the atomic path.
        return write_fast(path, record);
    }
    if (json.len() as u64) < old_len {
        let end = json.len() - 1;
        json.truncate(end);
        json.resize(usize::try_from(old_len).unwrap_or(json.len()) - 1, b' ');
        json.push(b'\n');
    }
    file.write_all_at(&json, 0)
        .map_err(|e| LockError::io(path, e))
}

fn write_with(path: &Path, record: &LockRecord, durable: bool) -> Result<(), LockError> {
    let tmp = temp_path(path);
    let result = write_via(&tmp, path, record, durable);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_via(tmp: &Path, path: &Path, record: &LockRecord, durable: bool) -> Result<(), LockError> {
    let mut json = serde_json::to_vec_pretty(record).map_err(|e| LockError::io(path, e.into()))?;
    json.push(b'\n');
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LockError::io(tmp, e)),
    }
    let mut file = create_private(tmp).map_err(|e| LockError::io(tmp, e))?;
    // fsync before the rename and of the directory after it: after a crash or power loss
    // the lock holds the old record or the new one, never an empty file that would hide
    // who ran the service.
    file.write_all(&json)
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) })
        .map_err(|e| LockError::io(tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| LockError::io(path, e))?;
    if !durable {
        return Ok(());
    }
    let dir = parent(path);
    sys::fs::sync_dir(dir).map_err(|e| LockError::io(dir, e))
}

/// Opens `path` for writing, creating it with mode 0600 if needed.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(sys::fs::PRIVATE_FILE_MODE)
        .open(path)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `<dir>/.<name>.tmp`: hidden, same directory (so rename is atomic), never a `.lock`.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    parent(path).join(name)
}

/// This process's start time, read from /proc once: a supervisor takes a lock per service
/// start, and the value never changes for a given pid.
fn own_start_time(pid: u32) -> u64 {
    static CACHE: std::sync::Mutex<Option<(u32, u64)>> = std::sync::Mutex::new(None);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match *cache {
        Some((p, t)) if p == pid => t,
        _ => {
            let t = sys::proc::probe(pid).unwrap_or(0);
            if t != 0 {
                *cache = Some((pid, t));
            }
            t
        }
    }
}
