//! The supervisor's pure core: every rule of a service's life, and no I/O.
//!
//! [`Machine::on`] takes an [`Input`] and the current time and returns the [`Action`]s the
//! driver must carry out. It reads no clock and touches no process, so every rule here is
//! unit tested with a fake clock and fake children. Time-based work (a backoff, a stop's
//! grace period, the last output of a dead service) is a deadline: the driver sleeps until
//! [`Machine::next_deadline`] and then feeds [`Input::Tick`]; with nothing pending there is
//! no deadline and no wake-up.
//!
//! A unit's life: `Stopped` → (`Waiting` for dependencies) → `Starting` → `Running` once
//! ready → `Stopping` → `Stopped`, with `Backoff` between automatic restarts and `Exited` or
//! `Failed` at the end. Each process it runs goes through the phases of a [`run::Run`]:
//! spawning → up → signalled (grace deadline) → killed → draining → reaping → flushing.
//! Backends only carry out [`Action::Signal`], [`Action::Kill`] and [`Action::Reap`] and
//! report what happened; they own no policy and no timer.
//!
//! - [`run`]: one process's phases, from spawn to its last line of output.
//! - [`restart`]: what follows a run's end (restart policy, backoff, start limit).
//! - [`deps`]: dependency conditions, closures, and the order of starts and stops.
//! - [`requests`]: control requests that wait for an outcome, and when they are answered.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::Exit;
use crate::spec::{Backoff, Condition, RestartPolicy, Service, Signal, StartLimit};

mod cascade;
mod deps;
mod requests;
mod restart;
mod run;

pub(crate) use requests::{Answer, Request, RequestId};
pub(crate) use run::Phase;

/// A service's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not running and not wanted.
    Stopped,
    /// Wanted, but waiting for its dependencies.
    Waiting,
    /// Spawned, not yet ready.
    Starting,
    /// Spawned and ready.
    Running,
    /// Exited; a restart is scheduled.
    Backoff,
    /// A stop is in progress.
    Stopping,
    /// Exited successfully and not restarted.
    Exited,
    /// Gave up: start limit hit, a failed exit without restart, or a failed dependency.
    Failed,
}

impl State {
    /// Whether a process may exist in this state.
    pub fn is_active(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Stopping)
    }

    /// The state's name as shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }
}

/// What happened.
#[derive(Debug, Clone)]
// `Start` and `Restart` without a request are for tests: the driver always asks through
// `Request`, which adds the dependency closure and an answer.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Input {
    /// A request to start the unit (resets its start limit).
    Start(usize),
    /// A request to stop the unit, optionally with another grace period.
    Stop(usize, Option<Duration>),
    /// A request to restart the unit.
    Restart(usize),
    /// A control request that waits for an outcome.
    Request(RequestId, Request),
    /// The backend started the unit's process.
    Spawned(usize, u32),
    /// The start failed before anything ran.
    SpawnFailed(usize, Exit),
    /// A process of the unit left by a dead supervisor: it is stopped like the unit's own.
    Adopted(usize, u32),
    /// The unit's main process ended (it may not be reaped yet).
    Exited(usize),
    /// Nothing of the unit's process group is left but its unreaped leader.
    Drained(usize),
    /// Every output pipe of the current process reached end of file.
    OutputClosed(usize),
    /// The backend reaped the process and cleaned up after it; `Exit` says how it ended.
    Reaped(usize, Exit),
    /// The readiness probe passed.
    Ready(usize),
    /// The readiness deadline passed, or liveness failed: restart it as a failure.
    Unhealthy(usize, String),
    /// A deadline may have passed.
    Tick,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Start a process for the unit; report [`Input::Spawned`] or [`Input::SpawnFailed`].
    Spawn(usize),
    /// Send the stop signal to the unit's processes. `grace` is how long they have, for a
    /// backend whose tool escalates on its own (`podman stop -t`).
    Signal(usize, Signal, Duration),
    /// SIGKILL everything of the unit that is left.
    Kill(usize),
    /// Kill what is left of the group, reap the process, clean up after it; report
    /// [`Input::Reaped`].
    Reap(usize),
    /// The unit's run is over (`last_exit` says how): note it, release what it held.
    Ended(usize),
    /// The unit's state or details changed: publish an event.
    Changed(usize),
    /// A waiting request has its outcome.
    Answer(Answer),
}

/// Per-unit policy, taken from the spec.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// The service's name, for messages.
    pub(crate) name: String,
    /// Restart policy.
    pub(crate) restart: RestartPolicy,
    /// Backoff settings.
    pub(crate) backoff: Backoff,
    /// Restart storm guard.
    pub(crate) start_limit: StartLimit,
    /// Whether a readiness probe must pass before the unit counts as ready.
    pub(crate) has_ready: bool,
    /// Dependencies as (unit index, condition).
    pub(crate) deps: Vec<(usize, Condition)>,
    /// The graceful stop signal.
    pub(crate) stop_signal: Signal,
    /// Grace period between the stop signal and SIGKILL.
    pub(crate) stop_timeout: Duration,
}

impl Policy {
    /// The policy of `svc`, with dependency names resolved by `index_of`.
    pub(crate) fn of(svc: &Service, index_of: impl Fn(&str) -> Option<usize>) -> Self {
        Self {
            name: svc.name.clone(),
            restart: svc.restart,
            backoff: svc.backoff,
            start_limit: svc.start_limit,
            has_ready: svc.ready.is_some(),
            deps: svc
                .depends_on
                .iter()
                .filter_map(|d| index_of(&d.name).map(|i| (i, d.condition)))
                .collect(),
            stop_signal: svc.stop_signal,
            stop_timeout: svc.stop_timeout,
        }
    }
}

/// One supervised service's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// Its policy.
    pub(crate) policy: Policy,
    /// Current state.
    pub(crate) state: State,
    /// When the state last changed.
    pub(crate) since: Instant,
    /// Whether the user (or `up`) wants it running.
    pub(crate) want_up: bool,
    /// Pid of the running process.
    pub(crate) pid: Option<u32>,
    /// Passed its readiness probe since the last spawn.
    pub(crate) ready: bool,
    /// Automatic restarts so far.
    pub(crate) restarts: u32,
    /// How the last run ended.
    pub(crate) last_exit: Option<Exit>,
    /// When the current process was spawned.
    pub(crate) spawned_at: Option<Instant>,
    /// Why it is waiting, failed, or being restarted.
    pub(crate) reason: Option<String>,
    /// When a scheduled restart is due (state `Backoff`).
    pub(crate) deadline: Option<Instant>,
    /// The current process, from spawn to its last output.
    pub(crate) run: Option<run::Run>,
    /// Runs that have ended so far: a stop request is answered once the run it stopped has
    /// ended, even if a later start already began another.
    pub(crate) runs_ended: u64,
    /// Delay before the next automatic restart.
    delay: Duration,
    /// Times of recent automatic restarts, for the start limit.
    history: VecDeque<Instant>,
    /// Starts in a row that never became ready: they count towards the start limit
    /// whatever its window, so a service that is never ready cannot retry for ever.
    unready_starts: u32,
    /// Spawn again once the current process has stopped (a restart or a start during stop).
    restart_pending: bool,
    /// The current stop was proctor's response to a failure (probe, deadline).
    failure_pending: bool,
    /// A stop is wanted but waits for dependents to stop first (or for the spawn to finish).
    stop_pending: Option<Option<Duration>>,
}

impl Unit {
    fn new(policy: Policy, now: Instant) -> Self {
        let delay = policy.backoff.initial;
        Self {
            policy,
            state: State::Stopped,
            since: now,
            want_up: false,
            pid: None,
            ready: false,
            restarts: 0,
            last_exit: None,
            spawned_at: None,
            reason: None,
            deadline: None,
            run: None,
            runs_ended: 0,
            delay,
            history: VecDeque::new(),
            unready_starts: 0,
            restart_pending: false,
            failure_pending: false,
            stop_pending: None,
        }
    }

    /// The phase of the current process, if there is one.
    pub(crate) fn phase(&self) -> Option<Phase> {
        self.run.as_ref().map(|r| r.phase)
    }
}

/// All units of a project and the rules that move them.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    units: Vec<Unit>,
    waiters: Vec<requests::Waiter>,
}

impl Machine {
    /// A machine with every unit stopped.
    pub(crate) fn new(policies: Vec<Policy>, now: Instant) -> Self {
        Self {
            units: policies.into_iter().map(|p| Unit::new(p, now)).collect(),
            waiters: Vec::new(),
        }
    }

    /// The units, in spec order.
    pub(crate) fn units(&self) -> &[Unit] {
        &self.units
    }

    /// Adds a unit (an ad-hoc service) and returns its index.
    pub(crate) fn add(&mut self, policy: Policy, now: Instant) -> usize {
        self.units.push(Unit::new(policy, now));
        self.units.len() - 1
    }

    /// Replaces unit `i`'s policy (an ad-hoc service defined anew while stopped).
    pub(crate) fn set_policy(&mut self, i: usize, policy: Policy) {
        if let Some(u) = self.units.get_mut(i) {
            u.policy = policy;
        }
    }

    /// The earliest pending deadline, if any: a restart, a stop's grace period, the wait for
    /// a dead process's last output.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.units
            .iter()
            .flat_map(|u| [u.deadline, u.run.as_ref().and_then(run::Run::deadline)])
            .flatten()
            .min()
    }

    /// Whether no unit has a process or a pending restart.
    pub(crate) fn all_down(&self) -> bool {
        self.units
            .iter()
            .all(|u| !u.state.is_active() && u.state != State::Backoff && u.run.is_none())
    }

    /// Applies `input` at time `now`.
    pub(crate) fn on(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        match input {
            Input::Start(i) => self.start(i, now, &mut acts),
            Input::Stop(i, timeout) => self.stop(i, timeout, now, &mut acts),
            Input::Restart(i) => self.restart(i, now, &mut acts),
            Input::Request(id, req) => self.request(id, req, now, &mut acts),
            Input::Spawned(i, pid) => self.spawned(i, pid, now, &mut acts),
            Input::SpawnFailed(i, exit) => {
                if self.units[i].phase() == Some(Phase::Spawning) {
                    self.finish(i, exit, now, &mut acts);
                }
            }
            Input::Adopted(i, pid) => self.adopted(i, pid, now, &mut acts),
            Input::Exited(i) => self.exited(i, now, &mut acts),
            Input::Drained(i) => self.drained(i, now, &mut acts),
            Input::OutputClosed(i) => self.output_closed(i, now, &mut acts),
            Input::Reaped(i, exit) => self.reaped(i, exit, now, &mut acts),
            Input::Ready(i) => {
                let u = &mut self.units[i];
                if u.state == State::Starting && u.phase() == Some(Phase::Up) {
                    u.ready = true;
                    u.reason = None;
                    u.unready_starts = 0;
                    set(u, State::Running, now);
                    acts.push(Action::Changed(i));
                }
            }
            Input::Unhealthy(i, why) => {
                let u = &mut self.units[i];
                if matches!(u.state, State::Starting | State::Running)
                    && u.phase() == Some(Phase::Up)
                {
                    if !u.ready {
                        u.unready_starts += 1;
                    }
                    u.failure_pending = true;
                    u.reason = Some(why);
                    self.signal(i, None, now, &mut acts);
                }
            }
            Input::Tick => self.tick(now, &mut acts),
        }
        self.settle(now, &mut acts);
        self.answer(&mut acts);
        acts
    }

    fn tick(&mut self, now: Instant, acts: &mut Vec<Action>) {
        for i in 0..self.units.len() {
            if self.units[i].deadline.is_some_and(|d| d <= now) {
                let u = &mut self.units[i];
                u.deadline = None;
                u.restarts += 1;
                self.launch(i, now, acts);
            }
            if self.units[i]
                .run
                .as_ref()
                .and_then(run::Run::deadline)
                .is_some_and(|d| d <= now)
            {
                self.run_deadline(i, now, acts);
            }
        }
    }

    fn start(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        u.want_up = true;
        u.stop_pending = None;
        if u.run.is_some() {
            // A process is still around: once it is gone, policy or the pending restart
            // decides. A start during a stop queues a fresh start after it.
            if u.state == State::Stopping {
                u.restart_pending = true;
            }
            return;
        }
        match u.state {
            State::Starting | State::Running | State::Waiting | State::Stopping => {}
            State::Stopped | State::Exited | State::Failed | State::Backoff => {
                u.history.clear();
                u.unready_starts = 0;
                u.delay = u.policy.backoff.initial;
                u.deadline = None;
                u.reason = None;
                set(u, State::Waiting, now);
                acts.push(Action::Changed(i));
                // `settle` launches it once its dependencies allow.
            }
        }
    }

    fn stop(&mut self, i: usize, timeout: Option<Duration>, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        u.want_up = false;
        u.restart_pending = false;
        match u.phase() {
            Some(Phase::Spawning | Phase::Up) if u.state != State::Stopping => {
                // `settle` signals it once no dependent is still up and it has a pid.
                u.stop_pending = Some(timeout);
            }
            Some(_) => {
                if let Some(t) = timeout {
                    if let Some(run) = &mut u.run {
                        run.shorten(now + t);
                    }
                }
            }
            None => {
                if matches!(u.state, State::Waiting | State::Backoff) {
                    u.deadline = None;
                    set(u, State::Stopped, now);
                    acts.push(Action::Changed(i));
                }
            }
        }
    }

    fn restart(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        match (u.phase(), u.state) {
            (Some(Phase::Up), State::Starting | State::Running) => {
                u.want_up = true;
                u.restart_pending = true;
                u.stop_pending = None;
                self.signal(i, None, now, acts);
            }
            (Some(Phase::Spawning), _) => {
                u.want_up = true;
                u.restart_pending = true;
                u.stop_pending = Some(None);
            }
            (Some(_), State::Stopping) => {
                u.want_up = true;
                u.restart_pending = true;
            }
            _ => self.start(i, now, acts),
        }
    }

    /// Spawns now if dependencies allow, else waits for them.
    fn launch(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        match self.deps_status(i) {
            deps::DepStatus::Met => {
                let u = &mut self.units[i];
                u.ready = false;
                u.run = Some(run::Run::spawning());
                set(u, State::Starting, now);
                acts.push(Action::Spawn(i));
            }
            deps::DepStatus::Pending(why) => {
                let u = &mut self.units[i];
                u.reason = Some(why);
                set(u, State::Waiting, now);
            }
            deps::DepStatus::Failed(why) => {
                let u = &mut self.units[i];
                u.reason = Some(why);
                set(u, State::Failed, now);
            }
        }
        acts.push(Action::Changed(i));
    }
}

fn set(u: &mut Unit, state: State, now: Instant) {
    if u.state != state {
        u.state = state;
        u.since = now;
    }
}

fn describe(exit: Option<&Exit>) -> String {
    exit.map_or_else(|| "ended".to_string(), Exit::describe)
}

#[cfg(test)]
mod tests;
