//! Reclaiming orphans: services whose supervisor died (e.g. by SIGKILL) but which live on.
//!
//! Their lock names a live process whose supervisor is gone. The new supervisor stops each
//! orphan's process group the way it stops its own services (stop signal, grace period,
//! SIGKILL) and only then starts the service afresh, so nothing runs twice.

use std::time::Duration;

use super::driver::Supervisor;
use crate::lock::{Acquired, Lock, LockRecord};
use crate::spec::Signal;
use crate::sys::child::kill_group;
use crate::sys::pidfd::AsyncPidFd;
use crate::sys::proc::{group_members, probe};

/// Stops the orphan's whole process group: `signal`, up to `timeout`, then SIGKILL.
pub(super) async fn reclaim(
    orphan: LockRecord,
    service: String,
    signal: Signal,
    timeout: Duration,
) {
    // Only signal what is provably the orphan: its pid with the recorded start time.
    if probe(orphan.pid) != Some(orphan.start_time) {
        return;
    }
    let pgid = orphan.pgid;
    let members: Vec<AsyncPidFd> = group_members(pgid)
        .into_iter()
        .filter_map(|pid| AsyncPidFd::open(pid).ok())
        .collect();
    tracing::warn!(
        service,
        pid = orphan.pid,
        pgid,
        processes = members.len(),
        "stopping an orphan left by a dead supervisor"
    );
    let _ = kill_group(pgid, signal);
    let all_gone = async {
        for m in &members {
            let _ = m.exited().await;
        }
    };
    if tokio::time::timeout(timeout, all_gone).await.is_err() {
        // Group members still exist, so the group id is still theirs: safe to signal.
        let _ = kill_group(pgid, Signal::KILL);
        let all_gone = async {
            for m in &members {
                let _ = m.exited().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), all_gone).await;
    } else if crate::sys::child::group_alive(pgid) {
        // Something forked after we looked; the group still exists, so it is still theirs.
        let _ = kill_group(pgid, Signal::KILL);
    }
}

impl Supervisor {
    /// Stops the orphans of a dead supervisor before anything starts (see `orphans`).
    pub(super) async fn reclaim_orphans(&mut self) {
        let mut jobs = Vec::new();
        for i in 0..self.spec.services.len() {
            let svc = &self.spec.services[i];
            let mut lock = Lock::for_service(&self.paths.root, &svc.name);
            // Absent, released or corrupt: no orphan, and the batched start takes it.
            if lock.read().is_none() {
                continue;
            }
            match lock.acquire() {
                Ok(Acquired::Orphan { orphan }) => {
                    jobs.push(tokio::task::spawn_local(reclaim(
                        orphan,
                        svc.name.clone(),
                        svc.stop_signal,
                        svc.stop_timeout,
                    )));
                    self.slots[i].lock = Some(lock);
                }
                Ok(_) => self.slots[i].lock = Some(lock),
                Err(e) => tracing::warn!(service = %svc.name, "{e}"),
            }
        }
        for job in jobs {
            let _ = job.await;
        }
        // With the orphans' process groups gone, clear what they leave outside them: dead
        // tmux sessions on the private server, containers the runtime keeps running.
        self.backends.reclaim(&self.spec);
    }

    /// Makes sure we hold service `i`'s lifecycle lock before spawning it.
    /// Takes the lifecycle locks of `units` in one batch ([`Lock::acquire_many_sync_later`]) ahead of
    /// their spawns. Whatever cannot be taken here is left to [`Self::lock_for_spawn`],
    /// which reports it.
    pub(super) fn prelock(&mut self, units: &[usize]) {
        let units: Vec<usize> = units
            .iter()
            .copied()
            .filter(|&i| self.slots[i].lock.is_none())
            .collect();
        if units.len() < 2 {
            return;
        }
        let mut locks: Vec<Lock> = units
            .iter()
            .map(|&i| Lock::for_service(&self.paths.root, &self.spec.services[i].name))
            .collect();
        let (results, sync) = Lock::acquire_many_sync_later(&mut locks);
        // The records are in place for every other process already; the disk catches up
        // on a thread of its own while the services spawn.
        let spawned = std::thread::Builder::new()
            .name("proctor-lock-sync".into())
            .spawn(move || {
                if let Err(e) = sync.run() {
                    tracing::warn!("cannot sync the lock records to disk: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the lock sync thread ({e}); the records stay unsynced");
        }
        for ((i, lock), result) in units.into_iter().zip(locks).zip(results) {
            if matches!(result, Ok(Acquired::Fresh | Acquired::TakenOver { .. })) {
                self.slots[i].lock = Some(lock);
            }
        }
    }

    pub(super) fn lock_for_spawn(&mut self, i: usize) -> Result<(), String> {
        if self.slots[i].lock.is_some() {
            return Ok(());
        }
        let mut lock = Lock::for_service(&self.paths.root, &self.spec.services[i].name);
        match lock.acquire() {
            Ok(Acquired::Orphan { orphan }) => Err(format!(
                "an orphan (pid {}) still holds the lock; it is stopped when the supervisor starts",
                orphan.pid
            )),
            Ok(_) => {
                self.slots[i].lock = Some(lock);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
