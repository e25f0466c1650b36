//! `schedule`: running a job at the times its cron expression names.
//!
//! A scheduled service's schedule is kept (armed) from the supervisor's start when its
//! `autostart` selects it, and by `start`/`up NAME`, which also run it at once; `stop`
//! drops it until the next `start`. Only the next time is a deadline in the loop: nothing
//! wakes between runs. A time that comes while a run is still going (or waiting for its
//! dependencies, or in backoff) is skipped with a note in the service's log and a warning;
//! with `overlap = true` it is kept instead, and the next run starts as soon as the
//! current one ends. A service has one process at a time, so runs never go side by side.

use std::time::SystemTime;

use tokio::time::Instant;

use super::driver::Driver;
use super::machine::{Input, Request, State};
use crate::control::proto::Command;
use crate::spec::Schedule;

/// A service's schedule as the loop keeps it.
#[derive(Debug, Default)]
pub(super) struct JobTimer {
    /// The definition last seen, to tell a reload's change.
    def: Option<Schedule>,
    /// The next time it is due, by the loop's clock and by the wall clock; `None` while
    /// the schedule is not kept.
    next: Option<(Instant, SystemTime)>,
    /// `overlap = true`: a time came during a run; run again when it ends.
    missed: bool,
}

impl JobTimer {
    /// When the job runs next, while its schedule is kept.
    pub(super) fn next_run(&self) -> Option<SystemTime> {
        self.next.map(|(_, wall)| wall)
    }
}

/// The loop's instant for wall-clock time `at`.
fn instant_for(at: SystemTime) -> Instant {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(_) => now,
    }
}

impl Driver {
    /// Keeps service `i`'s schedule: its next time after `after` becomes a deadline.
    fn arm(&mut self, i: usize, after: SystemTime) {
        let next = self.spec.services[i]
            .schedule
            .as_ref()
            .and_then(|s| s.next_after(after));
        self.slots[i].job.next = next.map(|at| (instant_for(at), at));
    }

    /// Takes up a new or changed schedule of service `i` (kept if its `autostart` selects
    /// it for the supervisor's role), and drops one that is gone.
    pub(super) fn sync_schedule(&mut self, i: usize) {
        let def = self.spec.services[i]
            .schedule
            .clone()
            .filter(|_| !self.slots[i].removed);
        if def == self.slots[i].job.def {
            return;
        }
        let kept = self.slots[i].job.next.is_some();
        let first = self.slots[i].job.def.is_none();
        self.slots[i].job = JobTimer {
            def: def.clone(),
            ..JobTimer::default()
        };
        let selected = self.spec.services[i].schedules(self.role.as_deref());
        if def.is_some() && (kept || (first && selected && self.arm_jobs)) {
            self.arm(i, SystemTime::now());
        }
    }

    /// `up`, `start` and `stop` keep or drop schedules: `up` keeps those its role selects,
    /// `start NAME` (and `up NAME`) keeps that one's, `stop` drops the named ones'.
    pub(super) fn schedules_for(&mut self, cmd: &Command) {
        let (names, keep) = match cmd {
            Command::Up { services, role } if services.is_empty() => {
                // The request's role becomes the supervisor's if it had none.
                let role = self.role.clone().or_else(|| role.clone());
                for i in 0..self.slots.len() {
                    let s = &self.spec.services[i];
                    if s.schedule.is_some()
                        && s.schedules(role.as_deref())
                        && !self.slots[i].removed
                        && self.slots[i].job.next.is_none()
                    {
                        self.arm(i, SystemTime::now());
                    }
                }
                return;
            }
            Command::Up { services, .. } | Command::Start { services, .. } => (services, true),
            Command::Stop { services, .. } => (services, false),
            _ => return,
        };
        let Ok(units) = self.resolve(names) else {
            return;
        };
        for i in units {
            if self.spec.services[i].schedule.is_none() {
                continue;
            }
            if keep {
                if self.slots[i].job.next.is_none() {
                    self.arm(i, SystemTime::now());
                }
            } else {
                self.slots[i].job.next = None;
                self.slots[i].job.missed = false;
            }
        }
    }

    /// The earliest time a job is due.
    pub(super) fn schedule_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.job.next.map(|(at, _)| at))
            .min()
    }

    /// Whether service `i` has a run going, or one on its way (waiting, in backoff).
    fn busy(&self, i: usize) -> bool {
        let u = &self.machine.units()[i];
        u.run.is_some() || u.state.is_active() || matches!(u.state, State::Waiting | State::Backoff)
    }

    /// Runs the jobs that are due (or notes why not) and sets their next times.
    pub(super) fn fire_schedules(&mut self, now: Instant) {
        let mut inputs = Vec::new();
        for i in 0..self.slots.len() {
            let Some((at, wall)) = self.slots[i].job.next else {
                continue;
            };
            if at > now {
                continue;
            }
            // Never the same time twice, nor a time already past (a suspended machine).
            self.arm(i, SystemTime::now().max(wall));
            let svc = &self.spec.services[i];
            let overlap = svc.schedule.as_ref().is_some_and(|s| s.overlap);
            let due = humantime::format_rfc3339_seconds(wall);
            if self.busy(i) {
                let pid = self.machine.units()[i]
                    .pid
                    .map_or_else(String::new, |p| format!(" (pid {p})"));
                let msg = if overlap {
                    self.slots[i].job.missed = true;
                    format!("run due at {due} waits: the previous run{pid} is still going")
                } else {
                    format!("skipped the run due at {due}: the previous run{pid} is still going")
                };
                tracing::warn!(service = %svc.name, "{msg}");
                self.slots[i].sink.borrow_mut().note(&msg);
                continue;
            }
            tracing::info!(service = %svc.name, "scheduled run due at {due}");
            self.slots[i]
                .sink
                .borrow_mut()
                .note(&format!("scheduled run due at {due}"));
            inputs.push(self.job_start(i));
        }
        if !inputs.is_empty() {
            self.apply_all(inputs);
        }
    }

    /// A start of job `i` (with what it depends on) that nobody waits to hear about.
    fn job_start(&mut self, i: usize) -> Input {
        Input::Request(self.next_request_id(), Request::Start(vec![i]))
    }

    /// After changes: a job whose run ended with a time kept for it (`overlap = true`)
    /// runs again now.
    pub(super) fn overdue_jobs(&mut self, changed: &[usize]) -> Vec<Input> {
        let mut out = Vec::new();
        for &i in changed {
            if self.slots[i].job.missed && !self.busy(i) {
                self.slots[i].job.missed = false;
                if self.slots[i].job.next.is_some() {
                    self.slots[i]
                        .sink
                        .borrow_mut()
                        .note("the previous run ended: starting the run that waited");
                    out.push(self.job_start(i));
                }
            }
        }
        out
    }
}
