//! Starting and stopping one service generation: everything between the machine's `Spawn`
//! or `Stop` action and the backend.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::driver::{Msg, Supervisor};
use super::machine::Input;
use crate::backend::{Exit, StartRequest, StopCmd};
use crate::logs::capture;

impl Supervisor {
    /// A start of service `i` that failed before anything ran: noted in its log, reported
    /// to the machine as an exit of a generation of its own.
    fn spawn_failed(&mut self, i: usize, msg: String) -> Input {
        self.slots[i].gen += 1;
        self.slots[i]
            .sink
            .borrow_mut()
            .note(&format!("proctor: {msg}"));
        Input::Exited(i, Exit::spawn_failed(msg))
    }

    /// Starts generation `gen + 1` of service `i`: notify socket, storage, lock, backend,
    /// output capture and exit watch. Returns the machine's next input.
    pub(super) fn spawn(&mut self, i: usize) -> Input {
        let (closed_tx, closed_rx) = mpsc::channel::<()>(1);
        let mut extra_env = Vec::new();
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
                return self.spawn_failed(i, format!("cannot create the notify socket: {e}"))
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
                    return self.spawn_failed(i, format!("cannot prepare the state directory: {e}"))
                }
            }
        }
        if let Err(msg) = self.lock_for_spawn(i) {
            return self.spawn_failed(i, msg);
        }
        let svc = &self.spec.services[i];
        let req = StartRequest {
            project: &self.spec.project.name,
            service: svc,
            extra_env,
            output_closed: closed_rx,
        };
        let started = self.backends.start(req);
        let slot = &mut self.slots[i];
        slot.probe_error = None;
        slot.status_text = None;
        match started {
            Ok(run) => {
                slot.gen += 1;
                slot.stop = Some(run.stop);
                slot.main_handle = run.main_pid;
                slot.started_wall = Some(SystemTime::now());
                slot.session = run.session;
                let tty = run.tty;
                for (stream, fd) in run.output {
                    let sink = slot.sink.clone();
                    let closed = closed_tx.clone();
                    let guard = self.readers.enter();
                    tokio::task::spawn_local(async move {
                        capture(fd, stream, sink, tty).await;
                        drop(closed);
                        drop(guard);
                    });
                }
                let tx = self.tx.clone();
                let gen = slot.gen;
                let watch = run.watch;
                tokio::task::spawn_local(async move {
                    let exit = watch.await;
                    let _ = tx.send(Msg::Exited { unit: i, gen, exit });
                });
                if let Some(lock) = &mut self.slots[i].lock {
                    if let Err(e) = lock.set_child(run.pid, run.pid) {
                        tracing::warn!("cannot record the child in its lock: {e}");
                    }
                }
                let tasks = self.start_readiness(i, gen, run.pid, notify);
                self.slots[i].tasks = tasks;
                if self.service(i).ready.is_none() {
                    // Ready once spawned, so liveness checking starts now.
                    self.start_liveness(i);
                }
                Input::Spawned(i, run.pid)
            }
            Err(e) => self.spawn_failed(i, e.to_string()),
        }
    }

    /// Asks the backend to stop service `i` (its stop signal, then SIGKILL after `timeout`).
    pub(super) fn stop(&mut self, i: usize, timeout: Option<Duration>) {
        let svc = &self.spec.services[i];
        let cmd = StopCmd {
            signal: svc.stop_signal,
            timeout: timeout.unwrap_or(svc.stop_timeout),
        };
        if let Some(h) = &self.slots[i].stop {
            h.stop(cmd);
        }
    }
}
