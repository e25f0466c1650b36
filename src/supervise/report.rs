//! What the supervisor says about its services: status replies and state-change events.

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::driver::Driver;
use super::machine::State;
use crate::backend::Session;
use crate::control::proto::{Event, Reply, ServiceStatus};
use crate::sys::proc::ProcTable;

impl Driver {
    /// Broadcasts service `i`'s current state as an event (and logs it).
    pub(super) fn publish(&mut self, i: usize) {
        let u = &self.machine.units()[i];
        let ev = Event {
            at: SystemTime::now(),
            service: self.spec.services[i].name.clone(),
            state: u.state.into(),
            pid: u.pid,
            reason: u.reason.clone(),
        };
        tracing::info!(service = %ev.service, state = ev.state.as_str(), pid = ?ev.pid, reason = ?ev.reason, "state");
        let _ = self.events.send(Arc::new(ev));
    }

    /// The status of service `i` at `now` (and the same instant by the wall clock), with
    /// its CPU and memory when `procs` is given (a table of processes, read on first use).
    fn status_of(
        &self,
        i: usize,
        now: Instant,
        wall_now: SystemTime,
        procs: Option<&OnceCell<ProcTable>>,
    ) -> ServiceStatus {
        let u = &self.machine.units()[i];
        let slot = &self.slots[i];
        let since = wall_now
            .checked_sub(now.saturating_duration_since(u.since))
            .unwrap_or(wall_now);
        ServiceStatus {
            name: self.spec.services[i].name.clone(),
            state: u.state.into(),
            // After a MAINPID= hand-over the main process is the service.
            pid: slot.main_pid.or(u.pid),
            ready: u.ready,
            restarts: u.restarts,
            uptime_ms: match (u.pid, slot.started_wall) {
                (Some(_), Some(t)) => crate::util::millis_between(t, wall_now),
                _ => 0,
            },
            last_exit: u.last_exit.as_ref().map(Into::into),
            since,
            reason: u.reason.clone(),
            next_restart_ms: u.deadline.filter(|_| u.state == State::Backoff).map(|d| {
                u64::try_from(d.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
            }),
            backend: self.spec.services[i].backend.name().into(),
            tmux_session: slot
                .session
                .as_ref()
                .filter(|s| s.id_file.is_none())
                .map(|s| s.name.clone()),
            container: slot
                .session
                .as_ref()
                .filter(|s| s.id_file.is_some())
                .map(|s| s.name.clone()),
            container_id: slot.session.as_ref().and_then(Session::container_id),
            log_error: slot.sink.borrow().error(),
            probe_error: slot.probe_error.clone(),
            status_text: slot.status_text.clone(),
            main_pid: slot.main_pid,
            storage_dir: slot.storage_dir.clone(),
            containment: Some(self.contain.name(&self.spec.services[i]).to_string()),
            cpu_percent: procs
                .zip(u.pid)
                .and_then(|(t, p)| self.cpu_percent(i, p, now, t)),
            memory_bytes: procs
                .zip(u.pid)
                .map(|(t, p)| super::memory::tree_memory(p, t)),
        }
    }

    /// CPU use of service `i` (led by `pid`) since the last time it was asked (read only
    /// when asked, so an idle supervisor never wakes for it).
    fn cpu_percent(
        &self,
        i: usize,
        pid: u32,
        now: Instant,
        procs: &OnceCell<ProcTable>,
    ) -> Option<f64> {
        let ticks = super::memory::tree_cpu_ticks(pid, procs);
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let slot = &self.slots[i];
        let since = match slot.cpu_sample.replace(Some((now, ticks))) {
            Some((t, before)) if ticks >= before && now > t => Some((t, before)),
            _ => None,
        };
        let (secs, used) = match since {
            Some((t, before)) => (now.duration_since(t).as_secs_f64(), ticks - before),
            None => {
                let up = slot.started_wall?.elapsed().ok()?.as_secs_f64();
                (up, ticks)
            }
        };
        (secs > 0.0).then(|| (used as f64 / hz / secs * 1000.0).round() / 10.0)
    }

    /// A reply describing `units`, as the answer to a request that acted on them.
    pub(super) fn reply(&self, units: &[usize]) -> Reply {
        self.reply_with(units, None)
    }

    /// The answer to `status`: `units` with the CPU and memory each uses, read now from one
    /// walk of the process table (only a status call pays for it).
    pub(super) fn status_reply(&self, units: &[usize]) -> Reply {
        self.reply_with(units, Some(&OnceCell::new()))
    }

    fn reply_with(&self, units: &[usize], procs: Option<&OnceCell<ProcTable>>) -> Reply {
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        Reply {
            project: self.spec.project.name.clone(),
            role: self.role.clone(),
            supervisor_pid: std::process::id(),
            services: units
                .iter()
                .map(|&i| self.status_of(i, now, wall_now, procs))
                .collect(),
            failures: Vec::new(),
            plan: Vec::new(),
        }
    }
}
