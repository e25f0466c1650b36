//! A supervisor's start: orphans of a dead supervisor are stopped first, then what they left
//! outside their process groups is cleared, then the waiting CLI hears that we listen and
//! the first services start.
//!
//! Orphans are processes whose lock names a live process whose supervisor is gone. Each is
//! adopted as its service's current run and stopped by the machine like any other (stop
//! signal, grace period, SIGKILL), so nothing runs twice.

use std::io::Write;

use super::driver::{Asker, Driver};
use super::machine::{Input, Machine, Request};
use crate::backend::orphan;
use crate::control::proto::{self, Ready};
use crate::lock::{Acquired, Lock, LockState};

/// What a supervisor still has to do before it counts as started.
pub(super) struct Startup {
    /// Where the waiting CLI hears that we listen.
    ready: Option<std::fs::File>,
    /// Services to start once the orphans are gone.
    initial: Vec<usize>,
    /// Services whose orphans are being stopped.
    adopted: Vec<usize>,
}

impl Startup {
    /// Whether every adopted orphan is gone.
    pub(super) fn orphans_gone(&self, machine: &Machine) -> bool {
        self.adopted
            .iter()
            .all(|&i| machine.units()[i].run.is_none())
    }
}

/// Tells the waiting CLI (or daemon handle) that we listen, or why we cannot.
pub(super) fn report_ready(ready: Option<&mut std::fs::File>, result: Result<u32, &str>) {
    let Some(f) = ready else {
        return;
    };
    let ready = match result {
        Ok(pid) => Ready::Listening { pid },
        Err(e) => Ready::Failed {
            error: e.to_string(),
        },
    };
    // Nobody may be reading any more; the supervisor runs either way.
    let _ = f.write_all(&proto::encode(&ready));
}

impl Driver {
    /// Adopts orphans and notes what to start once they are gone.
    pub(super) fn begin_startup(
        &mut self,
        ready: Option<std::fs::File>,
        start: &[String],
        autostart: bool,
    ) {
        let initial = match self.resolve_start(start) {
            Ok(v) if autostart => v,
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::error!("{}", e.message);
                Vec::new()
            }
        };
        let adopted = self.adopt_orphans();
        self.startup = Some(Startup {
            ready,
            initial,
            adopted,
        });
    }

    /// Clears what the orphans left, reports that we listen, starts the first services.
    pub(super) async fn finish_startup(&mut self) {
        let Some(mut st) = self.startup.take() else {
            return;
        };
        // With the orphans' process groups gone, clear what they leave outside them: dead
        // tmux sessions on the private server, containers the runtime keeps running.
        self.backends.reclaim(&self.spec).await;
        self.contain.clear_leftovers(&self.spec.services).await;
        report_ready(st.ready.as_mut(), Ok(std::process::id()));
        tracing::info!(project = %self.spec.project.name, pid = std::process::id(), "supervisor started");
        let id = self.next_request_id();
        if let Some(sock) = self.manager_socket.clone() {
            // Our own service manager hears READY=1 once the first services are up.
            self.askers.insert(id, Asker::Manager(sock));
        }
        self.apply_all(vec![Input::Request(id, Request::Start(st.initial))]);
    }

    /// A fresh request id.
    pub(super) fn next_request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// Adopts the processes of every service whose lock names an orphan; returns them.
    fn adopt_orphans(&mut self) -> Vec<usize> {
        let mut adopted = Vec::new();
        for i in 0..self.spec.services.len() {
            let name = self.spec.services[i].name.clone();
            let mut lock = Lock::for_service(&self.paths.root, &name);
            // Absent, released, or corrupt without a witness: no orphan, and the batched
            // start takes it. A corrupt one with a witness is judged by it.
            match lock.state() {
                Ok(
                    LockState::Held(_)
                    | LockState::Corrupt {
                        witness: Some(_), ..
                    },
                ) => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(service = %name, "{e}");
                    continue;
                }
            }
            match lock.acquire() {
                Ok(Acquired::Orphan { orphan }) => {
                    self.slots[i].lock = Some(lock);
                    self.slots[i].gen += 1;
                    let report = self.reporter(i, self.slots[i].gen);
                    if let Some((control, watch)) = orphan::adopt(&orphan, report) {
                        tracing::warn!(
                            service = %name,
                            pid = orphan.pid,
                            pgid = orphan.pgid,
                            "stopping an orphan left by a dead supervisor"
                        );
                        self.slots[i].control = Some(control);
                        tokio::task::spawn_local(watch);
                        self.apply_all(vec![Input::Adopted(i, orphan.pid)]);
                        adopted.push(i);
                    }
                }
                Ok(_) => self.slots[i].lock = Some(lock),
                Err(e) => tracing::warn!(service = %name, "{e}"),
            }
        }
        adopted
    }
}
