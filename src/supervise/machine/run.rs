//! One process of a unit, from spawn to its last line of output.
//!
//! ```text
//! spawning ─Spawned→ up ─(stop)→ signalled ─deadline→ killed ─Exited→ reaping
//!                     │              └─Exited→ draining ─Drained/deadline→ reaping
//!                     └─Exited (crash, or done) → reaping ─Reaped→ flushing ─OutputClosed/deadline→ ended
//! ```
//! A graceful stop gives the whole group its grace period: the main process exiting first
//! leaves the rest of the group (draining) what is left of it. After the grace period the
//! group is killed and counted as timed out. Reaping is the backend's: it kills what is left
//! of the group, collects the status and cleans up. Flushing waits (briefly) for the last
//! output, so a service's final lines land in its log before the news of its exit.

use std::time::Duration;

use tokio::time::Instant;

use super::{set, Action, Machine, State};
use crate::backend::Exit;

/// How long a dead process's last output may take to reach the log.
pub(crate) const FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The backend is starting it.
    Spawning,
    /// It runs.
    Up,
    /// The stop signal went out; SIGKILL at the deadline.
    Signalled {
        /// End of the grace period.
        deadline: Instant,
    },
    /// SIGKILL went out after the grace period; waiting for the exit.
    Killed,
    /// The main process exited during a stop; the rest of the group has until the deadline.
    Draining {
        /// End of the grace period.
        deadline: Instant,
    },
    /// The backend is reaping it and cleaning up.
    Reaping,
    /// Reaped; waiting for the last output until the deadline.
    Flushing {
        /// When to stop waiting.
        deadline: Instant,
    },
}

/// The current process of a unit.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Its phase.
    pub(crate) phase: Phase,
    /// A stop signal was sent: its end is a requested stop, not a crash.
    stopped: bool,
    /// The grace period ran out and it was killed.
    timed_out: bool,
    /// Every output pipe reached end of file.
    output_closed: bool,
    /// The backend sees the whole group (a cgroup) and says when it is gone: the pipes
    /// closing does not end the grace period then (a daemon that closed its output may
    /// still be shutting down).
    group_watched: bool,
    /// How it ended, once reaped.
    exit: Option<Exit>,
}

impl Run {
    /// A process the backend is starting.
    pub(crate) fn spawning() -> Self {
        Self {
            phase: Phase::Spawning,
            stopped: false,
            timed_out: false,
            output_closed: false,
            group_watched: false,
            exit: None,
        }
    }

    /// The phase's deadline, if it has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Signalled { deadline }
            | Phase::Draining { deadline }
            | Phase::Flushing { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Brings the end of a grace period forward to `at` (a second stop with a shorter
    /// timeout); never extends it.
    pub(crate) fn shorten(&mut self, at: Instant) {
        match &mut self.phase {
            Phase::Signalled { deadline } | Phase::Draining { deadline } => {
                *deadline = (*deadline).min(at);
            }
            _ => {}
        }
    }
}

impl Machine {
    /// Unit `i`'s backend watches the whole of its current process's group (a cgroup) and
    /// reports `Drained`: only that ends a stop's drain.
    pub(crate) fn watch_group(&mut self, i: usize) {
        if let Some(run) = self.units[i].run.as_mut() {
            run.group_watched = true;
        }
    }

    pub(super) fn spawned(&mut self, i: usize, pid: u32, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        let Some(run) = u.run.as_mut().filter(|r| r.phase == Phase::Spawning) else {
            return;
        };
        run.phase = Phase::Up;
        u.pid = Some(pid);
        u.spawned_at = Some(now);
        // Why it waited or last exited no longer describes it; `last_exit` keeps the exit.
        u.reason = None;
        if !u.policy.has_ready {
            u.ready = true;
            set(u, State::Running, now);
        }
        acts.push(Action::Changed(i));
        // A stop that arrived while it was spawning goes out now (see `settle`).
    }

    /// A process left by a dead supervisor: it is the unit's now, and is stopped at once.
    pub(super) fn adopted(&mut self, i: usize, pid: u32, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        if u.run.is_some() {
            return;
        }
        let mut run = Run::spawning();
        run.phase = Phase::Up;
        // Nothing of it is ours to read: its pipes went with the old supervisor.
        run.output_closed = true;
        u.run = Some(run);
        u.pid = Some(pid);
        u.spawned_at = Some(now);
        u.want_up = false;
        set(u, State::Running, now);
        self.signal(i, None, now, acts);
        self.units[i].reason = Some("stopping an orphan left by a dead supervisor".into());
    }

    /// Sends the stop signal: the unit is stopping, its grace period starts now.
    pub(super) fn signal(
        &mut self,
        i: usize,
        timeout: Option<Duration>,
        now: Instant,
        acts: &mut Vec<Action>,
    ) {
        let u = &mut self.units[i];
        let Some(run) = u.run.as_mut().filter(|r| r.phase == Phase::Up) else {
            return;
        };
        let grace = timeout.unwrap_or(u.policy.stop_timeout);
        run.stopped = true;
        run.phase = Phase::Signalled {
            deadline: now + grace,
        };
        u.stop_pending = None;
        set(u, State::Stopping, now);
        acts.push(Action::Signal(i, u.policy.stop_signal, grace));
        acts.push(Action::Changed(i));
    }

    pub(super) fn exited(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let Some(run) = self.units[i].run.as_mut() else {
            return;
        };
        match run.phase {
            Phase::Up | Phase::Killed => {
                run.phase = Phase::Reaping;
                acts.push(Action::Reap(i));
            }
            Phase::Signalled { deadline } => {
                if run.output_closed && !run.group_watched {
                    run.phase = Phase::Reaping;
                    acts.push(Action::Reap(i));
                } else {
                    run.phase = Phase::Draining { deadline };
                }
            }
            _ => {}
        }
        let _ = now;
    }

    pub(super) fn drained(&mut self, i: usize, _now: Instant, acts: &mut Vec<Action>) {
        if let Some(run) = self.units[i].run.as_mut() {
            if matches!(run.phase, Phase::Draining { .. }) {
                run.phase = Phase::Reaping;
                acts.push(Action::Reap(i));
            }
        }
    }

    pub(super) fn output_closed(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let Some(run) = self.units[i].run.as_mut() else {
            return;
        };
        run.output_closed = true;
        match run.phase {
            // The pipes close once the whole group has let go of them.
            Phase::Draining { .. } if !run.group_watched => {
                run.phase = Phase::Reaping;
                acts.push(Action::Reap(i));
            }
            Phase::Flushing { .. } => {
                if let Some(exit) = run.exit.take() {
                    self.finish(i, exit, now, acts);
                }
            }
            _ => {}
        }
    }

    pub(super) fn reaped(
        &mut self,
        i: usize,
        mut exit: Exit,
        now: Instant,
        acts: &mut Vec<Action>,
    ) {
        let Some(run) = self.units[i].run.as_mut() else {
            return;
        };
        if run.phase != Phase::Reaping {
            return;
        }
        exit.timed_out |= run.timed_out;
        if run.output_closed {
            self.finish(i, exit, now, acts);
        } else {
            run.exit = Some(exit);
            run.phase = Phase::Flushing {
                deadline: now + FLUSH_LIMIT,
            };
        }
    }

    /// The current phase's deadline passed.
    pub(super) fn run_deadline(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let Some(run) = self.units[i].run.as_mut() else {
            return;
        };
        match run.phase {
            Phase::Signalled { .. } => {
                run.timed_out = true;
                run.phase = Phase::Killed;
                acts.push(Action::Kill(i));
            }
            Phase::Draining { .. } => {
                // Members of the group outlived the grace period; reaping kills them.
                run.timed_out = true;
                run.phase = Phase::Reaping;
                acts.push(Action::Reap(i));
            }
            Phase::Flushing { .. } => {
                if let Some(exit) = run.exit.take() {
                    self.finish(i, exit, now, acts);
                }
            }
            _ => {}
        }
    }

    /// The run is over: the unit has no process any more, and policy decides what follows.
    pub(super) fn finish(&mut self, i: usize, exit: Exit, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        let Some(run) = u.run.take() else {
            return;
        };
        let ran = u.spawned_at.map(|t| now.saturating_duration_since(t));
        u.pid = None;
        u.ready = false;
        u.spawned_at = None;
        u.runs_ended += 1;
        u.last_exit = Some(exit);
        acts.push(Action::Ended(i));
        acts.push(Action::Changed(i));
        self.after_run(i, run.stopped, ran, now, acts);
    }
}
