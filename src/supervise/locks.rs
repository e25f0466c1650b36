//! Lifecycle locks around spawns: taken in one batch for many starts, or one at a time.

use super::driver::Driver;
use super::machine::{Input, Request};
use crate::lock::{Acquired, Lock};

impl Driver {
    /// Takes, in one batch, the locks of the services `inputs` are about to start.
    pub(super) fn prelock_for(&mut self, inputs: &[Input]) {
        let mut starts = Vec::new();
        for input in inputs {
            match input {
                Input::Start(i) => starts.push(*i),
                Input::Request(_, Request::Start(units)) => {
                    starts.extend(self.machine.with_dependencies(units));
                }
                _ => {}
            }
        }
        starts.retain(|&i| self.machine.units()[i].run.is_none());
        self.prelock(&starts);
    }

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

    /// Makes sure we hold service `i`'s lifecycle lock before spawning it.
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
