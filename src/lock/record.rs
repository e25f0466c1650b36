//! The lock file's payload and how it is read and written.
//!
//! Writes are atomic: a temp file in the same directory, fsync, swap with the lock file,
//! fsync the directory. A reader therefore sees the old record or the new one, never half.
//! The swap is a `RENAME_EXCHANGE`, so the temp file keeps the old record's inode for the
//! next write: no inode is created or freed per acquire, and a released lock keeps its file
//! with a `null` record (see [`write_released`]).

use std::fs::{self, File, OpenOptions};
use std::io;
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

/// What a lock file holds, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDisk {
    /// No file.
    Absent,
    /// A released lock (a `null` record).
    Released,
    /// A record.
    Held(LockRecord),
    /// Not a record: empty, truncated, not JSON, wrong types. Says why.
    Corrupt(String),
}

/// Parses the bytes of a lock file. Never panics, whatever `bytes` holds.
pub fn parse(bytes: &[u8]) -> OnDisk {
    match serde_json::from_slice::<Option<LockRecord>>(bytes) {
        Ok(Some(record)) => OnDisk::Held(record),
        Ok(None) => OnDisk::Released,
        Err(e) => OnDisk::Corrupt(e.to_string()),
    }
}

/// Reads the lock file at `path`; only IO errors other than "not found" are errors.
pub(crate) fn read_state(path: &Path) -> Result<OnDisk, LockError> {
    match read_nofollow(path) {
        Ok(bytes) => Ok(parse(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(OnDisk::Absent),
        Err(e) => Err(LockError::io(path, e)),
    }
}

/// Reads the record at `path`. Absent or released (a `null` record) is `Ok(None)`; so is
/// corrupt in any way (empty, truncated, not JSON, wrong types), with a warning; other IO
/// errors are errors.
pub(crate) fn read(path: &Path) -> Result<Option<LockRecord>, LockError> {
    Ok(match read_state(path)? {
        OnDisk::Held(record) => Some(record),
        OnDisk::Absent | OnDisk::Released => None,
        OnDisk::Corrupt(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring corrupt lock file");
            None
        }
    })
}

/// The bytes of `path`, refusing a symbolic link there.
fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    sys::fs::open_nofollow(OpenOptions::new().read(true), path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Atomically replaces `path` with `record`, mode 0600, durably. The directory must exist.
///
/// Callers hold the sibling flock, so the fixed temp name cannot collide with another
/// writer; a temp file left by a crash is simply overwritten.
pub(crate) fn write(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    write_with(path, record, true)
}

/// [`write`] without the fsyncs: still atomic for every other process (the rename), only
/// not across a power loss. For updates whose loss a power cut makes moot anyway.
pub(crate) fn write_fast(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    write_with(path, record, false)
}

/// First half of a batched durable write: the record in its temp file, not yet synced or
/// swapped in. A lock's first write renames the temp file into place; later ones exchange
/// them, so the old file stays as the spare the next write reuses: from a project's second
/// start on, taking a lock creates no inode (creating one can cost far more than the rest
/// of an acquire on ext4 without a journal, which skips inodes freed in the last minutes). [`commit_staged`] finishes a batch with one filesystem sync for all of them.
pub(crate) fn stage(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    let tmp = temp_path(path);
    let json = to_json(path, Some(record))?;
    overwrite(&tmp, json, true)
        .map(drop)
        .map_err(|e| LockError::io(&tmp, e))
}

/// Second half of a batched write: when `durable`, one `syncfs` makes every staged temp
/// file durable (as an fsync of each would) first; then each is swapped in for its lock file
/// and, when `durable`, each directory is fsynced once. One result per path, in order.
pub(crate) fn commit_staged(paths: &[&Path], durable: bool) -> Vec<Result<(), LockError>> {
    let Some(first) = paths.first() else {
        return Vec::new();
    };
    let dir = parent(first);
    let synced = if durable {
        fs::File::open(dir)
            .and_then(|d| rustix::fs::syncfs(&d).map_err(io::Error::from))
            .map_err(|e| LockError::io(dir, e))
    } else {
        Ok(())
    };
    let mut out: Vec<Result<(), LockError>> = paths
        .iter()
        .map(|path| {
            if let Err(e) = &synced {
                return Err(LockError::io(dir, io::Error::other(e.to_string())));
            }
            sys::fs::swap_in(&temp_path(path), path).map_err(|e| LockError::io(path, e))
        })
        .collect();
    if !durable {
        return out;
    }
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
    match overwrite(path, to_json(path, Some(record))?, false) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => write_fast(path, record),
        Err(e) => Err(LockError::io(path, e)),
    }
}

/// Writes `record` to the witness file at `path` in place, creating it 0600 if missing: it
/// is read only when the lock file is corrupt, so no spare temp file is kept for it (a
/// witness being created reads as no witness, never as a wrong one).
pub(crate) fn write_witness(path: &Path, record: &LockRecord) -> Result<(), LockError> {
    overwrite(path, to_json(path, Some(record))?, true)
        .map(drop)
        .map_err(|e| LockError::io(path, e))
}

/// Marks the lock at `path` released: its record becomes `null`, written in place like
/// [`write_in_place`]. The file stays: deleting it would free its (fsynced) block, and on a
/// disk mounted with `discard` every freed block is a synchronous discard, which made
/// stopping many services spend half its time in `unlink`. `Ok(false)` if it is gone.
pub(crate) fn write_released(path: &Path) -> Result<bool, LockError> {
    overwrite(path, to_json(path, None)?, false)
        .map(|f| f.is_some())
        .map_err(|e| LockError::io(path, e))
}

/// The record as written: pretty JSON and a newline (`null` for a released lock).
fn to_json(path: &Path, record: Option<&LockRecord>) -> Result<Vec<u8>, LockError> {
    let mut json = serde_json::to_vec_pretty(&record).map_err(|e| LockError::io(path, e.into()))?;
    json.push(b'\n');
    Ok(json)
}

/// Writes `json` (ending in a newline) over `path` from offset 0 in one write, padded with
/// spaces before the newline to the file's old length. With `create` a missing file is
/// created 0600; without, `Ok(false)` says it is missing. A file beyond a page (a reader
/// could see a mix; only a hand-edited file gets there) is cut to length first.
fn overwrite(path: &Path, mut json: Vec<u8>, create: bool) -> io::Result<Option<File>> {
    use std::os::unix::fs::FileExt;
    let file = match sys::fs::open_nofollow(
        OpenOptions::new()
            .write(true)
            .create(create)
            .truncate(false)
            .mode(sys::fs::PRIVATE_FILE_MODE),
        path,
    ) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
        Err(e) => return Err(e),
    };
    let old_len = file.metadata()?.len();
    if old_len > 4096 {
        file.set_len(0)?;
    } else if (json.len() as u64) < old_len {
        let end = json.len() - 1;
        json.truncate(end);
        json.resize(usize::try_from(old_len).unwrap_or(json.len()) - 1, b' ');
        json.push(b'\n');
    }
    file.write_all_at(&json, 0)?;
    Ok(Some(file))
}

fn write_with(path: &Path, record: &LockRecord, durable: bool) -> Result<(), LockError> {
    let tmp = temp_path(path);
    let json = to_json(path, Some(record))?;
    // fsync before the swap and of the directory after it: after a crash or power loss
    // the lock holds the old record or the new one, never an empty file that would hide
    // who ran the service.
    overwrite(&tmp, json, true)
        .and_then(|file| match file {
            Some(f) if durable => f.sync_all(),
            _ => Ok(()),
        })
        .map_err(|e| LockError::io(&tmp, e))?;
    sys::fs::swap_in(&tmp, path).map_err(|e| LockError::io(path, e))?;
    if !durable {
        return Ok(());
    }
    let dir = parent(path);
    sys::fs::sync_dir(dir).map_err(|e| LockError::io(dir, e))
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
