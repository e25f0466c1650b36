//! Lifecycle locks around spawns: taken in one batch for many starts, or one at a time.

use super::driver::Driver;
use super::machine::{Input, Request, State};
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

    /// Takes the lifecycle locks of `units` ahead of their spawns, on a thread of its own in
    /// batches of [`CHUNK`] ([`Lock::acquire_many_sync_later`]), handing each over as it is
    /// taken: [`Self::lock_for_spawn`] waits only for the one it spawns next. A first start
    /// creates each lock's files, which on ext4 without a journal means a scan past every
    /// inode freed in the last minutes; on the loop, that came before any service spawned.
    /// Whatever cannot be taken here is left to [`Self::lock_for_spawn`], which reports it.
    pub(super) fn prelock(&mut self, units: &[usize]) {
        self.take_prelocked(None);
        let units: Vec<usize> = units
            .iter()
            .copied()
            .filter(|&i| self.slots[i].lock.is_none())
            .collect();
        if units.len() < 2 {
            return;
        }
        let locks = self.locks_of(&units);
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("proctor-locks".into())
            .spawn(move || take_in_chunks(locks, tx));
        match spawned {
            Ok(_) => self.prelocking = Some(Prelocking { rx, waiting: units }),
            Err(e) => {
                tracing::warn!("cannot start the lock thread ({e}); taking the locks here");
                let (tx, rx) = std::sync::mpsc::channel();
                // Takes `tx` and drops it when done, so the wait below ends.
                take_in_chunks(self.locks_of(&units), tx);
                self.prelocking = Some(Prelocking { rx, waiting: units });
                self.take_prelocked(None);
            }
        }
    }

    /// The (not yet taken) locks of `units`.
    fn locks_of(&self, units: &[usize]) -> Vec<(usize, Lock)> {
        units
            .iter()
            .map(|&i| {
                let name = &self.spec.services[i].name;
                (i, Lock::for_service(&self.paths.root, name))
            })
            .collect()
    }

    /// Stores the locks the lock thread has handed over, waiting until service `until`'s
    /// has come (`None`: until all have, after which any of them whose service is down
    /// again, having failed meanwhile, is released).
    pub(super) fn take_prelocked(&mut self, until: Option<usize>) {
        let Some(p) = &mut self.prelocking else {
            return;
        };
        if until.is_some_and(|i| !p.waiting.contains(&i)) {
            return;
        }
        // The thread never waits on the loop, so this wait ends.
        while let Ok((k, lock)) = p.rx.recv() {
            p.waiting.retain(|&w| w != k);
            if let Some(lock) = lock {
                self.slots[k].lock = Some(lock);
            }
            if until == Some(k) {
                return;
            }
        }
        self.prelocking = None;
        for (i, unit) in self.machine.units().iter().enumerate() {
            let down = matches!(unit.state, State::Stopped | State::Exited | State::Failed);
            if down && unit.run.is_none() {
                super::driver::release(&mut self.slots[i].lock);
            }
        }
    }

    /// Makes sure we hold service `i`'s lifecycle lock before spawning it.
    pub(super) fn lock_for_spawn(&mut self, i: usize) -> Result<(), String> {
        self.take_prelocked(Some(i));
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

/// How many locks the lock thread takes per batch: small enough that the first services
/// spawn early, large enough to share the batch's work.
const CHUNK: usize = 8;

/// Locks the lock thread is taking, handed over one by one.
pub(super) struct Prelocking {
    rx: std::sync::mpsc::Receiver<(usize, Option<Lock>)>,
    /// Services whose lock has not come yet.
    waiting: Vec<usize>,
}

/// Takes `locks` in batches of [`CHUNK`], sending each (`None` where it was not taken) as
/// its batch is done; then makes every record durable with one filesystem sync, which
/// covers all the batches.
fn take_in_chunks(
    mut rest: Vec<(usize, Lock)>,
    tx: std::sync::mpsc::Sender<(usize, Option<Lock>)>,
) {
    let mut sync = None;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(CHUNK));
        let (units, mut locks): (Vec<usize>, Vec<Lock>) =
            std::mem::replace(&mut rest, tail).into_iter().unzip();
        let (results, pending) = Lock::acquire_many_sync_later(&mut locks);
        sync = Some(pending);
        for ((i, lock), result) in units.into_iter().zip(locks).zip(results) {
            let taken = matches!(result, Ok(Acquired::Fresh | Acquired::TakenOver { .. }));
            // Not taken (an orphan's, a conflict): dropped here, so its flock goes too.
            if tx.send((i, taken.then_some(lock))).is_err() {
                return;
            }
        }
    }
    if let Some(Err(e)) = sync.map(crate::lock::PendingSync::run) {
        tracing::warn!("cannot sync the lock records to disk: {e}");
    }
}
