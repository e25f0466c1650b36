//! Carrying out the machine's run actions: `Spawn` (notify socket, storage, lock, backend,
//! output capture, probes), orders to a run's watcher, and what is released when it ends.

use std::cell::Cell;
use std::rc::Rc;
use std::time::SystemTime;

use super::driver::{Driver, Msg};
use super::machine::Input;
use crate::backend::{BackendError, Ctl, Exit, Reporter, Running, StartRequest, Started};
use crate::logs::capture;
use crate::probe::notify::NotifySocket;

impl Driver {
    /// A start of service `i` that failed before anything ran.
    fn spawn_failed(&mut self, i: usize, msg: String) -> Input {
        Input::SpawnFailed(
            i,
            Exit::spawn_failed(crate::sys::limits::explain_message(msg)),
        )
    }

    /// Where the watcher of run `gen` of service `i` reports.
    pub(super) fn reporter(&self, i: usize, gen: u64) -> Reporter {
        let tx = self.tx.clone();
        Reporter::new(move |event| {
            // The loop is gone only at exit, when nothing is left to tell.
            let _ = tx.send(Msg::Run {
                unit: i,
                gen,
                event,
            });
        })
    }

    /// Starts a new run of service `i`: notify socket, storage, lock, backend. Returns the
    /// machine's next input, or `None` while a backend's tool is still starting it.
    pub(super) fn spawn(&mut self, i: usize) -> Option<Input> {
        self.slots[i].gen += 1;
        let gen = self.slots[i].gen;
        // Names the service in the environment of all it starts: how a subreaper attributes
        // an orphan that left the group (and a hint for people reading `/proc`).
        let mut extra_env = vec![(
            crate::sys::children::SERVICE_VAR.to_string(),
            self.spec.services[i].name.clone(),
        )];
        let notify = match self.notify_socket(i) {
            Some(Ok(sock)) => {
                extra_env.push((
                    "NOTIFY_SOCKET".to_string(),
                    sock.path().display().to_string(),
                ));
                if let Some(w) = self.service(i).ready.as_ref().and_then(|p| p.watchdog) {
                    extra_env.push(("WATCHDOG_USEC".to_string(), w.as_micros().to_string()));
                }
                Some(sock)
            }
            Some(Err(e)) => {
                return Some(self.spawn_failed(i, format!("cannot create the notify socket: {e}")))
            }
            None => None,
        };
        if let Some(storage) = &self.spec.services[i].storage {
            let dir = match self.slots[i].storage_dir.clone() {
                Some(d) => Ok(d),
                None => super::storage::prepare(storage, &self.spec.services[i].name),
            };
            match dir {
                Ok(d) => {
                    extra_env.push(("PROCTOR_STATE_DIR".to_string(), d.display().to_string()));
                    self.slots[i].storage_dir = Some(d);
                }
                Err(e) => {
                    return Some(
                        self.spawn_failed(i, format!("cannot prepare the state directory: {e}")),
                    )
                }
            }
        }
        if let Err(msg) = self.lock_for_spawn(i) {
            return Some(self.spawn_failed(i, msg));
        }
        let report = self.reporter(i, gen);
        let hold = match self.contain.hold(&self.spec.services[i]) {
            Ok(h) => h,
            Err(msg) => return Some(self.spawn_failed(i, msg)),
        };
        if matches!(hold, crate::backend::Hold::Cgroup(_)) {
            self.machine.watch_group(i);
        }
        let svc = self.effective(i);
        let req = StartRequest {
            hold,
            project: &self.spec.project.name,
            service: &svc,
            extra_env,
            report,
            batch: self.prelocking.is_some(),
        };
        match self.backends.start(req) {
            Started::Now(Ok(run)) => Some(self.running(i, run, notify)),
            Started::Now(Err(e)) => Some(self.spawn_failed(i, e.to_string())),
            Started::Later(started) => {
                self.slots[i].pending_notify = notify;
                let tx = self.tx.clone();
                tokio::task::spawn_local(async move {
                    let result = started.await;
                    let _ = tx.send(Msg::Started {
                        unit: i,
                        gen,
                        result,
                    });
                });
                None
            }
        }
    }

    /// Service `i` as this start runs it: its definition, with what `start` overrode.
    fn effective(&self, i: usize) -> std::borrow::Cow<'_, crate::spec::Service> {
        let svc = &self.spec.services[i];
        let Some(o) = &self.slots[i].overrides else {
            return std::borrow::Cow::Borrowed(svc);
        };
        let mut svc = svc.clone();
        svc.env.extend(o.env.clone());
        if let Some(cwd) = &o.cwd {
            svc.cwd.clone_from(cwd);
        }
        svc.command.extend(o.args.iter().cloned());
        std::borrow::Cow::Owned(svc)
    }

    /// A start that needed a tool finished.
    pub(super) fn on_started(&mut self, i: usize, gen: u64, result: Result<Running, BackendError>) {
        if self.slots[i].gen != gen {
            // Cannot happen while the machine waits for this start; never leave it unowned.
            if let Ok(run) = result {
                tokio::task::spawn_local(run.watch);
                run.control.send(Ctl::Kill);
                run.control.send(Ctl::Reap);
            }
            return;
        }
        let notify = self.slots[i].pending_notify.take();
        let input = match result {
            Ok(run) => self.running(i, run, notify),
            Err(e) => self.spawn_failed(i, e.to_string()),
        };
        self.apply_all(vec![input]);
    }

    /// Takes over a started run: output capture, its watcher, probes.
    fn running(&mut self, i: usize, run: Running, notify: Option<NotifySocket>) -> Input {
        let gen = self.slots[i].gen;
        let slot = &mut self.slots[i];
        slot.probe_error = None;
        slot.status_text = None;
        slot.control = Some(run.control);
        let reload_on = &self.spec.services[i].reload_on;
        slot.config_hash =
            (!reload_on.is_empty()).then(|| crate::spec::diff::config_hash(reload_on));
        slot.started_wall = Some(SystemTime::now());
        slot.session = run.session;
        slot.sink.borrow().set_idle(false);
        let tty = run.tty;
        // The last reader to reach end of file tells the machine the output is complete.
        let open = Rc::new(Cell::new(run.output.len()));
        if run.output.is_empty() {
            let _ = self.tx.send(Msg::OutputClosed { unit: i, gen });
        }
        for (stream, fd) in run.output {
            let sink = slot.sink.clone();
            let (open, tx) = (open.clone(), self.tx.clone());
            self.readers.spawn_local(async move {
                capture(fd, stream, sink, tty).await;
                open.set(open.get() - 1);
                if open.get() == 0 {
                    let _ = tx.send(Msg::OutputClosed { unit: i, gen });
                }
            });
        }
        tokio::task::spawn_local(run.watch);
        if let Some(lock) = &mut self.slots[i].lock {
            if let Err(e) = lock.set_child(run.pid, run.pid) {
                tracing::warn!("cannot record the child in its lock: {e}");
            }
        }
        let mut tasks = self.start_readiness(i, gen, run.pid, notify);
        tasks.extend(self.watch_memory(i, gen, run.pid));
        self.slots[i].tasks = tasks;
        if self.service(i).ready.is_none() {
            // Ready once spawned, so liveness checking starts now.
            self.start_liveness(i);
        }
        Input::Spawned(i, run.pid)
    }

    /// Passes an order to service `i`'s current run.
    pub(super) fn order(&self, i: usize, ctl: Ctl) {
        if let Some(c) = &self.slots[i].control {
            c.send(ctl);
        }
    }

    /// Service `i`'s run is over: note how, and let go of what belonged to it.
    pub(super) fn ended(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.control = None;
        slot.started_wall = None;
        slot.session = None;
        slot.main_pid = None;
        slot.pending_notify = None;
        for t in slot.tasks.drain(..).chain(slot.live_task.take()) {
            t.abort();
        }
        slot.sink.borrow_mut().unwatch();
        slot.sink.borrow().set_idle(true);
        if let Some(exit) = &self.machine.units()[i].last_exit {
            slot.sink
                .borrow_mut()
                .note(&format!("proctor: {}", exit.describe()));
        }
        self.remove_storage(i, false);
    }

    /// Removes service `i`'s state directory if its storage says so now (`for_good`: the
    /// service is down for good, else a run just ended). Off the loop: a big tree or a
    /// slow disk must not hold up every other service.
    pub(super) fn remove_storage(&mut self, i: usize, for_good: bool) {
        let Some(storage) = &self.spec.services[i].storage else {
            return;
        };
        if !for_good && !super::storage::per_start(storage) {
            return;
        }
        if let Some(dir) = self.slots[i].storage_dir.take() {
            if let Some(doomed) = super::storage::detach(storage, &dir) {
                let job = tokio::task::spawn_blocking(move || super::storage::remove(&doomed));
                self.removals.spawn_local(job);
            }
        }
    }
}
