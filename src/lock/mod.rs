//! The lifecycle lock: one JSON file per service proving who runs it.
//!
//! `<state>/locks/<service>.lock` holds a [`LockRecord`]: the service's pid, process group
//! and kernel start time, the host, when it started, and the supervisor holding it.
//!
//! # Theory of operation
//! - [`Lock::at`] does no IO. [`Lock::acquire`] takes a kernel `flock` on the sibling
//!   `<service>.flock` (close-on-exec, never deleted), so acquirers on one host are serialized and
//!   a race can never produce two holders; a loser gets [`LockError::Conflict`] (or
//!   [`LockError::Busy`] if the winner has not written its record yet).
//! - Holding the flock, it reads the record and applies the takeover table (`decide`):
//!   absent, corrupt, foreign, dead or reused-pid records are replaced; a live holder under
//!   a live supervisor is a conflict.
//! - A live holder whose supervisor is gone is an **orphan**. `acquire` succeeds with
//!   [`Acquired::Orphan`], keeps the flock, and leaves the orphan's record on disk. The
//!   caller must stop the orphan's process group (checking pid and start time first), then
//!   spawn and call [`Lock::set_child`], which writes the new record. Keeping the flock means
//!   no other supervisor can slip in meanwhile; keeping the record means that if this
//!   supervisor dies before the orphan is stopped, the next one still finds it.
//! - The supervisor acquires with its own pid, spawns, then calls [`Lock::set_child`] to
//!   re-write the record with the service's pid, pgid and start time.
//! - [`Lock::set_child`] also copies the record to a **witness**: the content of the
//!   `.flock` file, whose inode never changes (the flock is on the open file, not its
//!   content), so a first start creates two files per service rather than three. A lock file found corrupt (empty, truncated, garbage) is judged
//!   by its witness instead, so an orphan whose record was torn is still found and stopped,
//!   never run twice; the corruption is logged and shown by `proctor lock`.
//! - Dropping the [`Lock`] releases only the flock; [`Lock::release`] also clears the
//!   record (to `null`, keeping the file), if it names this process.

mod decide;
mod error;
mod flock;
mod record;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

pub(crate) use decide::{decide, Decision};
pub use decide::{health, LockHealth, TakeoverReason};
pub use error::LockError;
pub(crate) use record::HostInfo;
pub use record::{parse as parse_record, LockRecord, OnDisk, SCHEMA_VERSION};

use crate::sys;

/// One service's lifecycle lock: the lock file's path, and the kernel lock while held.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    flock_path: PathBuf,
    /// A copy of the last record naming a spawned service, read when the lock file is
    /// corrupt.
    witness_path: PathBuf,
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    _flock: flock::Flock,
    me: HostInfo,
    /// The record on disk is ours (written by acquire or set_child), not an orphan's.
    own_record: bool,
}

/// A decided acquisition: the flock is held, the record not yet written.
struct Prepared {
    flock: flock::Flock,
    me: HostInfo,
    acquired: Acquired,
    write: Option<LockRecord>,
}

/// A successful acquisition, and what was found in the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an orphan must be stopped before the service is spawned again"]
pub enum Acquired {
    /// There was no readable record; a fresh one was written.
    Fresh,
    /// A stale or foreign record was replaced.
    TakenOver {
        /// The replaced record.
        previous: LockRecord,
        /// Why it could be replaced.
        reason: TakeoverReason,
    },
    /// The holder is alive but its supervisor is gone. The lock is held, the orphan's record
    /// is still on disk: stop `orphan.pgid`, then spawn and call [`Lock::set_child`].
    Orphan {
        /// The orphan's record.
        orphan: LockRecord,
    },
}

impl Acquired {
    /// The orphan to stop before spawning, if any.
    pub fn orphan(&self) -> Option<&LockRecord> {
        match self {
            Acquired::Orphan { orphan } => Some(orphan),
            _ => None,
        }
    }
}

impl Lock {
    /// The lock at `path` (conventionally `<state>/locks/<service>.lock`). No IO.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut flock_path = path.clone();
        flock_path.set_extension("flock");
        // The witness is the flock file's content: one inode fewer per service.
        let witness_path = flock_path.clone();
        Lock {
            path,
            flock_path,
            witness_path,
            held: None,
        }
    }

    /// The lock of `service` in the state directory `state`: `<state>/locks/<service>.lock`.
    pub fn for_service(state: &Path, service: &str) -> Self {
        Lock::at(state.join("locks").join(format!("{service}.lock")))
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this value holds the kernel lock (between a successful acquire and release).
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Takes the lock for the calling process on this host; see the module docs.
    pub fn acquire(&mut self) -> Result<Acquired, LockError> {
        self.acquire_with(HostInfo::current(), sys::proc::probe)
    }

    /// [`acquire`](Self::acquire) as `me`, judging liveness with `probe(pid)` (`Some(start
    /// time)` when alive). For tests and embedders that know better than `/proc`.
    pub fn acquire_with(
        &mut self,
        me: HostInfo,
        probe: impl Fn(u32) -> Option<u64>,
    ) -> Result<Acquired, LockError> {
        let prepared = self.prepare(me, probe)?;
        if let Some(record) = &prepared.write {
            record::write(&self.path, record)?;
        }
        Ok(self.finish(prepared))
    }

    /// Acquires each of `locks` for the calling process, as [`acquire`](Self::acquire)
    /// would one by one, but makes all the new records durable with a single filesystem
    /// sync instead of two fsyncs each: a supervisor starting hundreds of services at once
    /// would otherwise spend most of its start in fsync. One result per lock, in order.
    pub fn acquire_many(locks: &mut [Lock]) -> Vec<Result<Acquired, LockError>> {
        Self::acquire_batch(locks, true).0
    }

    /// [`acquire_many`](Self::acquire_many) with the sync left to the caller: each record is
    /// swapped in atomically (so every other process sees the lock taken at once), and is
    /// durable once the returned [`PendingSync`] has run.
    ///
    /// For a supervisor's start: durability only matters across a power loss, and that also
    /// ends every service the records name, so spawning need not wait on the disk; running
    /// the sync on another thread meanwhile keeps it off the start's critical path.
    pub fn acquire_many_sync_later(
        locks: &mut [Lock],
    ) -> (Vec<Result<Acquired, LockError>>, PendingSync) {
        Self::acquire_batch(locks, false)
    }

    fn acquire_batch(
        locks: &mut [Lock],
        durable: bool,
    ) -> (Vec<Result<Acquired, LockError>>, PendingSync) {
        let me = HostInfo::current();
        let mut prepared: Vec<Option<Result<Prepared, LockError>>> = Vec::new();
        for lock in locks.iter_mut() {
            let p = lock.prepare(me.clone(), sys::proc::probe).and_then(|p| {
                if let Some(r) = &p.write {
                    record::stage(&lock.path, r)?;
                }
                Ok(p)
            });
            prepared.push(Some(p));
        }
        let staged: Vec<usize> = prepared
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p, Some(Ok(p)) if p.write.is_some()))
            .map(|(k, _)| k)
            .collect();
        let paths: Vec<&Path> = staged.iter().map(|&k| locks[k].path.as_path()).collect();
        let pending = PendingSync {
            dir: (!durable)
                .then(|| paths.first().map(|p| record::parent(p).to_path_buf()))
                .flatten(),
        };
        let committed = record::commit_staged(&paths, durable);
        let mut failed: Vec<(usize, LockError)> = Vec::new();
        for (k, result) in staged.iter().zip(committed) {
            if let Err(e) = result {
                failed.push((*k, e));
            }
        }
        for (k, e) in failed {
            // Dropping the prepared acquisition releases its flock.
            prepared[k] = Some(Err(e));
        }
        let results = locks
            .iter_mut()
            .zip(prepared)
            .map(|(lock, p)| match p {
                Some(Ok(p)) => Ok(lock.finish(p)),
                Some(Err(e)) => Err(e),
                None => Err(LockError::Busy {
                    path: lock.path.clone(),
                }),
            })
            .collect();
        (results, pending)
    }

    /// Takes the flock and decides; the record to write (if any) is left to the caller.
    fn prepare(
        &mut self,
        me: HostInfo,
        probe: impl Fn(u32) -> Option<u64>,
    ) -> Result<Prepared, LockError> {
        if self.held.is_some() {
            return Err(LockError::AlreadyHeld {
                path: self.path.clone(),
            });
        }
        let dir = record::parent(&self.path);
        sys::fs::create_private_dir(dir).map_err(|e| LockError::io(dir, e))?;
        let Some(flock) = flock::try_lock(&self.flock_path)? else {
            let path = self.path.clone();
            return Err(match record::read(&self.path)? {
                Some(holder) => LockError::Conflict { holder, path },
                None => LockError::Busy { path },
            });
        };
        let existing = self.judged_record()?;
        let (acquired, write) = match decide(existing.as_ref(), &me, probe) {
            Decision::Conflict { holder } => {
                return Err(LockError::Conflict {
                    holder,
                    path: self.path.clone(),
                })
            }
            Decision::Orphan { orphan } => {
                tracing::warn!(
                    lock = %self.path.display(), pid = orphan.pid, pgid = orphan.pgid,
                    supervisor_pid = orphan.supervisor_pid,
                    "found an orphan: its supervisor is gone; it must be stopped"
                );
                (Acquired::Orphan { orphan }, None)
            }
            Decision::Fresh => (Acquired::Fresh, Some(me.record())),
            Decision::TakeOver { previous, reason } => {
                log_takeover(&self.path, &previous, reason);
                (Acquired::TakenOver { previous, reason }, Some(me.record()))
            }
        };
        Ok(Prepared {
            flock,
            me,
            acquired,
            write,
        })
    }

    /// The record acquisition judges: the lock file's, or its witness's when the lock file
    /// is corrupt (logged as a warning).
    fn judged_record(&self) -> Result<Option<LockRecord>, LockError> {
        Ok(match self.state()? {
            LockState::Held(r) => Some(r),
            LockState::Absent | LockState::Released => None,
            LockState::Corrupt { reason, witness } => {
                tracing::warn!(
                    lock = %self.path.display(), %reason,
                    witness_pid = witness.as_ref().map(|w| w.pid),
                    "the lock file is corrupt; judging by its witness"
                );
                witness
            }
        })
    }

    /// What the lock file holds, with the witness's record when it is corrupt.
    pub fn state(&self) -> Result<LockState, LockError> {
        Ok(match record::read_state(&self.path)? {
            OnDisk::Absent => LockState::Absent,
            OnDisk::Released => LockState::Released,
            OnDisk::Held(r) => LockState::Held(r),
            OnDisk::Corrupt(reason) => LockState::Corrupt {
                reason,
                witness: match record::read_state(&self.witness_path) {
                    Ok(OnDisk::Held(w)) => Some(w),
                    _ => None,
                },
            },
        })
    }

    /// Holds a prepared acquisition whose record (if any) is written.
    fn finish(&mut self, p: Prepared) -> Acquired {
        self.held = Some(Held {
            _flock: p.flock,
            me: p.me,
            own_record: p.write.is_some(),
        });
        p.acquired
    }

    /// Re-writes the record to name the spawned service: `pid`, its process group `pgid`,
    /// and its start time (read now; 0 if it already exited). Needs the lock held.
    pub fn set_child(&mut self, pid: u32, pgid: u32) -> Result<LockRecord, LockError> {
        let Some(held) = &self.held else {
            return Err(LockError::NotHeld {
                path: self.path.clone(),
            });
        };
        let record = LockRecord {
            pid,
            pgid,
            start_time: sys::proc::probe(pid).unwrap_or(0),
            ..held.me.record()
        };
        // The acquire already made a durable record; this update only has to survive the
        // supervisor's own death (a page-cache write does), because a power cut also ends
        // the child it names, leaving nothing to reclaim. Skipping the fsyncs halves the
        // cost of a service start.
        record::write_in_place(&self.path, &record)?;
        // Best effort: without it, only a later corruption of the lock file would lose track.
        if let Err(e) = record::write_witness(&self.witness_path, &record) {
            tracing::warn!("cannot write the lock's witness: {e}");
        }
        if let Some(h) = &mut self.held {
            h.own_record = true;
        }
        Ok(record)
    }

    /// The record on disk; `None` when absent, corrupt (logged) or unreadable (logged).
    pub fn read(&self) -> Option<LockRecord> {
        record::read(&self.path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read lock file");
            None
        })
    }

    /// Whether the record on disk names this process as its supervisor (same host, pid and
    /// start time).
    pub fn is_held_by_self(&self) -> bool {
        let me = self.me();
        self.read().is_some_and(|r| r.is_supervised_by(&me))
    }

    /// Clears the record if it names this process as supervisor, then releases the kernel
    /// lock. Idempotent; returns whether a record was cleared. Someone else's record (or an
    /// orphan's never replaced by [`set_child`](Self::set_child)) is left in place.
    ///
    /// The file stays, holding `null` (which [`read`](Self::read) reports as `None`): see
    /// `record::write_released` for why it is not deleted.
    pub fn release(&mut self) -> Result<bool, LockError> {
        let removed = if self.held.as_ref().is_some_and(|h| h.own_record) {
            // Every writer holds the flock first, so while we hold it the record on disk is
            // the one we wrote (or gone, after a forced unlock): no need to read it back.
            self.release_witness();
            record::write_released(&self.path)?
        } else {
            let me = self.me();
            match record::read(&self.path)? {
                Some(r) if r.is_supervised_by(&me) => {
                    self.release_witness();
                    record::write_released(&self.path)?
                }
                _ => false,
            }
        };
        self.held = None;
        Ok(removed)
    }

    /// Removes the lock file whoever holds it and returns the record it held (`None` if it
    /// was absent or corrupt). For `proctor unlock`; the kernel lock is not touched.
    pub fn force_unlock(&self) -> Result<Option<LockRecord>, LockError> {
        let previous = match self.state()? {
            LockState::Held(r) => Some(r),
            LockState::Corrupt { witness, .. } => witness,
            LockState::Absent | LockState::Released => None,
        };
        // Cleared, not removed: the witness's file is the flock file, which is never deleted.
        if self.witness_path.exists() {
            record::write_released(&self.witness_path)?;
        }
        remove(&self.path)?;
        Ok(previous)
    }

    /// Clears the witness with the record (first: a witness outliving its record is only
    /// read if the record is corrupt, and then names a dead pid, which is harmless).
    fn release_witness(&self) {
        if let Err(e) = record::write_released(&self.witness_path) {
            tracing::warn!("cannot clear the lock's witness: {e}");
        }
    }

    fn me(&self) -> HostInfo {
        self.held
            .as_ref()
            .map_or_else(HostInfo::current, |h| h.me.clone())
    }
}

/// What a lock file holds, as [`Lock::state`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No lock file.
    Absent,
    /// Released (a `null` record).
    Released,
    /// A record.
    Held(LockRecord),
    /// Not a record (empty, truncated, garbage): why, and what the witness says.
    Corrupt {
        /// Why the file is not a record.
        reason: String,
        /// The witness's record (the last spawned holder), if it has one.
        witness: Option<LockRecord>,
    },
}

/// The sync that makes a batch from [`Lock::acquire_many_sync_later`] durable.
#[derive(Debug)]
#[must_use = "the batch is not durable until the sync has run"]
pub struct PendingSync {
    dir: Option<PathBuf>,
}

impl PendingSync {
    /// Syncs the filesystem holding the batch's records (one `syncfs`); blocks on the disk.
    pub fn run(self) -> Result<(), LockError> {
        let Some(dir) = self.dir else {
            return Ok(());
        };
        std::fs::File::open(&dir)
            .and_then(|d| rustix::fs::syncfs(&d).map_err(io::Error::from))
            .map_err(|e| LockError::io(&dir, e))
    }
}

/// The health of the holder `record` names, seen from this process on this host.
pub fn inspect(record: &LockRecord) -> LockHealth {
    health(record, &HostInfo::current(), sys::proc::probe)
}

fn log_takeover(path: &Path, previous: &LockRecord, reason: TakeoverReason) {
    let path = path.display();
    match reason {
        TakeoverReason::ForeignHost => tracing::warn!(
            lock = %path, hostname = %previous.hostname, pid = previous.pid,
            "taking over a lock written on another host; if that host still runs the service, \
             it now runs twice"
        ),
        TakeoverReason::HolderDead | TakeoverReason::PidReused => tracing::info!(
            lock = %path, pid = previous.pid, ?reason, "taking over a stale lock"
        ),
    }
}

/// Removes `path`; `Ok(false)` if it was already gone.
fn remove(path: &Path) -> Result<bool, LockError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LockError::io(path, e)),
    }
}
