//! The supervisor's pure core: states, restart policy, backoff, start limits, dependencies.
//!
//! [`Machine::on`] takes an [`Input`] and the current time and returns the [`Action`]s the
//! driver must carry out. It does no I/O and reads no clock, so every policy here is unit
//! tested without processes or sleeps. Time-based work (a backoff expiring) is expressed as
//! a deadline: the driver sleeps until [`Machine::next_deadline`] and then feeds
//! [`Input::Tick`]; with nothing pending there is no deadline and no wake-up.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::backend::Exit;
use crate::spec::{Backoff, Condition, RestartPolicy, Service, StartLimit};

/// A service's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
pub enum Input {
    /// A request to start the unit (resets its start limit).
    Start(usize),
    /// A request to stop the unit, optionally with another grace period.
    Stop(usize, Option<Duration>),
    /// A request to restart the unit.
    Restart(usize),
    /// The backend started the unit's process.
    Spawned(usize, u32),
    /// The unit's process ended (or could not be started).
    Exited(usize, Exit),
    /// The readiness probe passed.
    Ready(usize),
    /// The readiness deadline passed, or liveness failed: restart it as a failure.
    Unhealthy(usize, String),
    /// A deadline may have passed.
    Tick,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the unit's process.
    Spawn(usize),
    /// Stop the unit's process gracefully (`None` = the service's own `stop_timeout`).
    Stop(usize, Option<Duration>),
    /// The unit's state or details changed: publish an event.
    Changed(usize),
}

/// Per-unit policy, taken from the spec.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The service's name, for messages.
    pub name: String,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Backoff settings.
    pub backoff: Backoff,
    /// Restart storm guard.
    pub start_limit: StartLimit,
    /// Whether a readiness probe must pass before the unit counts as ready.
    pub has_ready: bool,
    /// Dependencies as (unit index, condition).
    pub deps: Vec<(usize, Condition)>,
}

impl Policy {
    /// The policy of `svc`, with dependency names resolved by `index_of`.
    pub fn of(svc: &Service, index_of: impl Fn(&str) -> Option<usize>) -> Self {
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
        }
    }
}

/// One supervised service's bookkeeping.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its policy.
    pub policy: Policy,
    /// Current state.
    pub state: State,
    /// When the state last changed.
    pub since: Instant,
    /// Whether the user (or `up`) wants it running.
    pub want_up: bool,
    /// Pid of the running process.
    pub pid: Option<u32>,
    /// Passed its readiness probe since the last spawn.
    pub ready: bool,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// How the last run ended.
    pub last_exit: Option<Exit>,
    /// When the current process was spawned.
    pub spawned_at: Option<Instant>,
    /// Why it is waiting, failed, or being restarted.
    pub reason: Option<String>,
    /// When a scheduled restart is due (state `Backoff`).
    pub deadline: Option<Instant>,
    /// Delay before the next automatic restart.
    delay: Duration,
    /// Times of recent automatic restarts, for the start limit.
    history: VecDeque<Instant>,
    /// Spawn again once the current process has stopped (a manual restart).
    restart_pending: bool,
    /// The current stop was proctor's response to a failure (probe, deadline).
    failure_pending: bool,
    /// A stop is wanted but waits for dependents to stop first.
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
            delay,
            history: VecDeque::new(),
            restart_pending: false,
            failure_pending: false,
            stop_pending: None,
        }
    }
}

/// All units of a project and the rules that move them.
#[derive(Debug, Clone)]
pub struct Machine {
    units: Vec<Unit>,
}

impl Machine {
    /// A machine with every unit stopped.
    pub fn new(policies: Vec<Policy>, now: Instant) -> Self {
        Self {
            units: policies.into_iter().map(|p| Unit::new(p, now)).collect(),
        }
    }

    /// The units, in spec order.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// Adds a unit (an ad-hoc service) and returns its index.
    pub fn add(&mut self, policy: Policy, now: Instant) -> usize {
        self.units.push(Unit::new(policy, now));
        self.units.len() - 1
    }

    /// Replaces unit `i`'s policy (an ad-hoc service defined anew while stopped).
    pub fn set_policy(&mut self, i: usize, policy: Policy) {
        if let Some(u) = self.units.get_mut(i) {
            u.policy = policy;
        }
    }

    /// The earliest pending deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.units.iter().filter_map(|u| u.deadline).min()
    }

    /// Whether no unit has a process or a pending restart.
    pub fn all_down(&self) -> bool {
        self.units
            .iter()
            .all(|u| !u.state.is_active() && u.state != State::Backoff)
    }

    /// Applies `input` at time `now`.
    pub fn on(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        match input {
            Input::Start(i) => self.start(i, now, &mut acts),
            Input::Stop(i, timeout) => self.stop(i, timeout, now, &mut acts),
            Input::Restart(i) => self.restart(i, now, &mut acts),
            Input::Spawned(i, pid) => {
                let u = &mut self.units[i];
                u.pid = Some(pid);
                u.spawned_at = Some(now);
                // Why it waited or last exited no longer describes it; `last_exit` keeps the
                // exit.
                u.reason = None;
                if !u.policy.has_ready {
                    u.ready = true;
                    set(u, State::Running, now);
                }
                acts.push(Action::Changed(i));
            }
            Input::Ready(i) => {
                let u = &mut self.units[i];
                if u.state == State::Starting {
                    u.ready = true;
                    u.reason = None;
                    set(u, State::Running, now);
                    acts.push(Action::Changed(i));
                }
            }
            Input::Unhealthy(i, why) => {
                let u = &mut self.units[i];
                if matches!(u.state, State::Starting | State::Running) {
                    u.failure_pending = true;
                    u.reason = Some(why);
                    set(u, State::Stopping, now);
                    acts.push(Action::Stop(i, None));
                    acts.push(Action::Changed(i));
                }
            }
            Input::Exited(i, exit) => self.exited(i, exit, now, &mut acts),
            Input::Tick => {
                for i in 0..self.units.len() {
                    let u = &mut self.units[i];
                    if u.deadline.is_some_and(|d| d <= now) {
                        u.deadline = None;
                        u.restarts += 1;
                        self.launch(i, now, &mut acts);
                    }
                }
            }
        }
        self.settle(now, &mut acts);
        acts
    }

    fn start(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        u.want_up = true;
        u.stop_pending = None;
        match u.state {
            State::Starting | State::Running | State::Waiting => {}
            State::Stopping => u.restart_pending = true,
            State::Stopped | State::Exited | State::Failed | State::Backoff => {
                u.history.clear();
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
        match u.state {
            State::Starting | State::Running => {
                u.stop_pending = Some(timeout);
                // `settle` signals it once no dependent is still up.
            }
            State::Waiting | State::Backoff => {
                u.deadline = None;
                set(u, State::Stopped, now);
                acts.push(Action::Changed(i));
            }
            State::Stopping => {
                if timeout.is_some() {
                    acts.push(Action::Stop(i, timeout));
                }
            }
            State::Stopped | State::Exited | State::Failed => {}
        }
    }

    fn restart(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        match u.state {
            State::Starting | State::Running => {
                u.want_up = true;
                u.restart_pending = true;
                set(u, State::Stopping, now);
                acts.push(Action::Stop(i, None));
                acts.push(Action::Changed(i));
            }
            State::Stopping => {
                u.want_up = true;
                u.restart_pending = true;
            }
            _ => self.start(i, now, acts),
        }
    }

    fn exited(&mut self, i: usize, exit: Exit, now: Instant, acts: &mut Vec<Action>) {
        let u = &mut self.units[i];
        let ran = u.spawned_at.map(|t| now.saturating_duration_since(t));
        u.pid = None;
        u.ready = false;
        u.spawned_at = None;
        let was_stopping = u.state == State::Stopping;
        let forced_failure = std::mem::take(&mut u.failure_pending);
        u.last_exit = Some(exit);
        acts.push(Action::Changed(i));
        if was_stopping && !forced_failure {
            if std::mem::take(&mut u.restart_pending) && u.want_up {
                u.history.clear();
                u.delay = u.policy.backoff.initial;
                u.reason = None;
                self.launch(i, now, acts);
            } else {
                u.reason = None;
                set(u, State::Stopped, now);
            }
            return;
        }
        if !u.want_up {
            set(u, State::Stopped, now);
            return;
        }
        let success = !forced_failure && u.last_exit.as_ref().is_some_and(Exit::success);
        let again = match u.policy.restart {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => !success,
            RestartPolicy::Always => true,
        };
        if !again {
            if success {
                u.reason = None;
                set(u, State::Exited, now);
            } else {
                if !forced_failure {
                    u.reason = Some(format!(
                        "{} and restart = {:?}",
                        describe(u.last_exit.as_ref()),
                        u.policy.restart
                    ));
                }
                set(u, State::Failed, now);
            }
            return;
        }
        // A run longer than the largest delay means the service had recovered.
        if ran.is_some_and(|r| r > u.policy.backoff.max) {
            u.delay = u.policy.backoff.initial;
            u.history.clear();
        }
        let limit = u.policy.start_limit;
        while u
            .history
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > limit.interval)
        {
            u.history.pop_front();
        }
        if u.history.len() >= limit.burst as usize {
            u.reason = Some(format!(
                "start limit hit: more than {} restarts within {:?}",
                limit.burst, limit.interval
            ));
            set(u, State::Failed, now);
            return;
        }
        u.history.push_back(now);
        let delay = u.delay;
        let grown = delay.as_secs_f64() * u.policy.backoff.factor;
        u.delay = Duration::from_secs_f64(grown.min(u.policy.backoff.max.as_secs_f64()));
        if forced_failure {
            // keep the probe's reason
        } else {
            u.reason = Some(describe(u.last_exit.as_ref()));
        }
        if delay.is_zero() {
            u.restarts += 1;
            self.launch(i, now, acts);
        } else {
            u.deadline = Some(now + delay);
            set(u, State::Backoff, now);
        }
    }

    /// Spawns now if dependencies allow, else waits for them.
    fn launch(&mut self, i: usize, now: Instant, acts: &mut Vec<Action>) {
        match self.deps_status(i) {
            DepStatus::Met => {
                let u = &mut self.units[i];
                u.ready = false;
                set(u, State::Starting, now);
                acts.push(Action::Spawn(i));
            }
            DepStatus::Pending(why) => {
                let u = &mut self.units[i];
                u.reason = Some(why);
                set(u, State::Waiting, now);
            }
            DepStatus::Failed(why) => {
                let u = &mut self.units[i];
                u.reason = Some(why);
                set(u, State::Failed, now);
            }
        }
        acts.push(Action::Changed(i));
    }

    /// Moves units whose dependencies or dependents changed: waiting units start (or fail),
    /// pending stops proceed once no dependent is still up. Repeats until nothing moves.
    fn settle(&mut self, now: Instant, acts: &mut Vec<Action>) {
        loop {
            let mut moved = false;
            for i in 0..self.units.len() {
                let u = &self.units[i];
                if u.state == State::Waiting && u.want_up {
                    let before = (u.state, u.reason.clone());
                    self.launch(i, now, acts);
                    let u = &self.units[i];
                    if (u.state, u.reason.clone()) != before {
                        moved = true;
                    } else {
                        acts.pop(); // no change: drop the Changed just pushed
                    }
                }
                let u = &self.units[i];
                if let Some(timeout) = u.stop_pending {
                    if matches!(u.state, State::Starting | State::Running) {
                        if !self.has_active_dependents(i) {
                            let u = &mut self.units[i];
                            u.stop_pending = None;
                            set(u, State::Stopping, now);
                            acts.push(Action::Stop(i, timeout));
                            acts.push(Action::Changed(i));
                            moved = true;
                        }
                    } else {
                        self.units[i].stop_pending = None;
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn has_active_dependents(&self, i: usize) -> bool {
        self.units.iter().any(|u| {
            u.policy.deps.iter().any(|(d, _)| *d == i)
                && (u.state.is_active() || u.state == State::Backoff)
        })
    }

    fn deps_status(&self, i: usize) -> DepStatus {
        let mut pending = Vec::new();
        for &(d, cond) in &self.units[i].policy.deps {
            let dep = &self.units[d];
            let ok = match cond {
                Condition::Started => dep.state.is_active() && dep.pid.is_some(),
                Condition::Ready => dep.state == State::Running && dep.ready,
                Condition::Completed => {
                    dep.state == State::Exited && dep.last_exit.as_ref().is_some_and(Exit::success)
                }
            };
            if ok {
                continue;
            }
            let dead = match dep.state {
                State::Failed => true,
                State::Exited => true,
                State::Stopped => !dep.want_up,
                _ => false,
            };
            let cond = match cond {
                Condition::Started => "started",
                Condition::Ready => "ready",
                Condition::Completed => "completed",
            };
            if dead {
                return DepStatus::Failed(format!(
                    "not started: dependency {} is {} (needed {cond})",
                    dep.policy.name,
                    dep.state.as_str()
                ));
            }
            pending.push(format!("{} ({cond})", dep.policy.name));
        }
        if pending.is_empty() {
            DepStatus::Met
        } else {
            DepStatus::Pending(format!("waiting for {}", pending.join(", ")))
        }
    }
}

enum DepStatus {
    Met,
    Pending(String),
    Failed(String),
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
