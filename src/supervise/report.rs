//! What the supervisor says about its services: status replies and state-change events.

use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use std::time::SystemTime;

use tokio::time::Instant;

use super::driver::Driver;
use super::machine::State;
use crate::backend::Session;
use crate::control::proto::{Event, Reply, ServiceStatus};
use crate::sys::proc::ProcTable;

/// How long one walk of `/proc` serves status calls: CPU and memory shown by `status` are at
/// most this old, and a script polling `status` walks `/proc` at most once per period.
const READING_TTL: Duration = Duration::from_secs(1);

/// What one status call reads the services' CPU and memory from.
struct Resources {
    /// The process table, read on first use.
    procs: OnceCell<Rc<ProcTable>>,
    /// Whether the cgroup leaves account memory, so no RSS needs summing.
    memory_leaves: bool,
}

impl Resources {
    fn procs(&self, driver: &Driver) -> &ProcTable {
        self.procs.get_or_init(|| driver.proc_table())
    }
}

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
    /// its CPU and memory when `res` says where to read them.
    fn status_of(
        &self,
        i: usize,
        now: Instant,
        wall_now: SystemTime,
        res: Option<&Resources>,
    ) -> ServiceStatus {
        let u = &self.machine.units()[i];
        let slot = &self.slots[i];
        let since = wall_now
            .checked_sub(now.saturating_duration_since(u.since))
            .unwrap_or(wall_now);
        ServiceStatus {
            name: self.spec.services[i].name.clone(),
            group: self.spec.services[i]
                .replica
                .as_ref()
                .map(|r| r.group.clone()),
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
            next_run: slot.job.next_run(),
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
            cpu_percent: res
                .zip(u.pid)
                .and_then(|(r, p)| self.cpu_percent(i, p, r.procs(self))),
            memory_bytes: res.zip(u.pid).map(|(r, p)| {
                r.memory_leaves
                    .then(|| self.contain.memory_file(&self.spec.services[i]))
                    .flatten()
                    .and_then(|f| super::memory::read_bytes(&f))
                    .unwrap_or_else(|| super::memory::tree_rss(p, r.procs(self)))
            }),
        }
    }

    /// The processes as last read, if that was less than [`READING_TTL`] ago, else as now.
    pub(super) fn proc_table(&self) -> Rc<ProcTable> {
        let mut last = self.procs.borrow_mut();
        match &*last {
            Some(t) if t.taken().elapsed() < READING_TTL => t.clone(),
            _ => last.insert(Rc::new(ProcTable::scan())).clone(),
        }
    }

    /// Memory of service `i` (led by `pid`), as `status` reports it.
    pub(super) fn memory_of(&self, i: usize, pid: u32, procs: &ProcTable) -> u64 {
        self.contain
            .memory_in_leaves()
            .then(|| self.contain.memory_file(&self.spec.services[i]))
            .flatten()
            .and_then(|f| super::memory::read_bytes(&f))
            .unwrap_or_else(|| super::memory::tree_rss(pid, procs))
    }

    /// CPU use of service `i` (led by `pid`) between the reading `procs` and the one before
    /// (read only when asked, so an idle supervisor never wakes for it); since its start
    /// for the first reading.
    fn cpu_percent(&self, i: usize, pid: u32, procs: &ProcTable) -> Option<f64> {
        let ticks: u64 = procs.tree(pid).map(|p| p.cpu_ticks).sum();
        let at = Instant::from_std(procs.taken());
        let slot = &self.slots[i];
        let before = slot.cpu_sample.get();
        if let Some((_, _, percent)) = before.filter(|(t, ..)| *t == at) {
            return percent;
        }
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let (secs, used) = match before {
            Some((t, then, _)) if ticks >= then && at > t => {
                (at.duration_since(t).as_secs_f64(), ticks - then)
            }
            _ => (slot.started_wall?.elapsed().ok()?.as_secs_f64(), ticks),
        };
        let percent = (secs > 0.0).then(|| (used as f64 / hz / secs * 1000.0).round() / 10.0);
        slot.cpu_sample.set(Some((at, ticks, percent)));
        percent
    }

    /// A reply describing `units`, as the answer to a request that acted on them.
    pub(super) fn reply(&self, units: &[usize]) -> Reply {
        self.reply_with(units, None)
    }

    /// The answer to `status`: `units` with the CPU and memory each uses, from one walk of
    /// the process table (only a status call pays for it, at most once per [`READING_TTL`]).
    pub(super) fn status_reply(&self, units: &[usize]) -> Reply {
        // A group's replicas are listed together, in index order, where its first is.
        let mut units = units.to_vec();
        let key = |i: usize| match &self.spec.services[i].replica {
            Some(r) => {
                let first = units
                    .iter()
                    .position(|&j| {
                        self.spec.services[j]
                            .replica
                            .as_ref()
                            .is_some_and(|o| o.group == r.group)
                    })
                    .unwrap_or(0);
                (first, r.index as usize)
            }
            None => (units.iter().position(|&j| j == i).unwrap_or(0), 0),
        };
        let mut keyed: Vec<((usize, usize), usize)> = units.iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        units = keyed.into_iter().map(|(_, i)| i).collect();
        let units = &units[..];
        let res = Resources {
            procs: OnceCell::new(),
            memory_leaves: self.contain.memory_in_leaves(),
        };
        self.reply_with(units, Some(&res))
    }

    fn reply_with(&self, units: &[usize], res: Option<&Resources>) -> Reply {
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        Reply {
            project: self.spec.project.name.clone(),
            role: self.role.clone(),
            supervisor_pid: std::process::id(),
            services: units
                .iter()
                .map(|&i| self.status_of(i, now, wall_now, res))
                .collect(),
            failures: Vec::new(),
            plan: Vec::new(),
        }
    }
}
