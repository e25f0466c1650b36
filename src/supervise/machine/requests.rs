//! Control requests that wait for an outcome, and the rules that decide their answer.
//!
//! - `start` (and `up`) takes the named units and everything they depend on; it is answered
//!   once each is up (ready, or completed) or can no longer be (failed, or stopped).
//! - `restart` and `wait` are answered the same way, for the named units only.
//! - `stop` takes the named units and everything that depends on them; it is answered once
//!   the process each had when the request arrived has ended. A `start` that arrives during
//!   a stop is queued after it: the stop is still answered when its process has ended, and
//!   the start when the fresh process is up. A `stop` during a queued start cancels the
//!   start, whose request is answered with "stopped".

use std::time::Duration;

use tokio::time::Instant;

use super::{Action, Machine, State};

/// Identifies a waiting request; chosen by the driver.
pub(crate) type RequestId = u64;

/// A control request that waits for an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Start units and what they depend on.
    Start(Vec<usize>),
    /// Stop units and what depends on them, with another grace period if given.
    Stop(Vec<usize>, Option<Duration>),
    /// Restart units.
    Restart(Vec<usize>),
    /// Wait until units are up.
    Wait(Vec<usize>),
}

/// The outcome of a waiting request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The request.
    pub(crate) id: RequestId,
    /// Every unit it concerned (closures included).
    pub(crate) units: Vec<usize>,
    /// Units that did not reach what was asked, with why.
    pub(crate) failures: Vec<(usize, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// Up: ready (or completed), or given up.
    Up,
    /// The process each unit had at the request has ended.
    Down,
}

/// A request whose answer waits until its units reach a goal.
#[derive(Debug, Clone)]
pub(super) struct Waiter {
    id: RequestId,
    units: Vec<usize>,
    goal: Goal,
    /// Each unit's count of ended runs when the request arrived.
    runs_ended: Vec<u64>,
    /// Each unit's outcome once seen; a unit that reached its goal once stays done, so a
    /// crash-looping service that was up counts as started.
    done: Vec<Option<Result<(), String>>>,
}

impl Machine {
    pub(super) fn request(
        &mut self,
        id: RequestId,
        req: Request,
        now: Instant,
        acts: &mut Vec<Action>,
    ) {
        let (units, goal) = match &req {
            Request::Start(u) => (self.with_dependencies(u), Goal::Up),
            Request::Stop(u, _) => (self.with_dependents(u), Goal::Down),
            Request::Restart(u) | Request::Wait(u) => (u.clone(), Goal::Up),
        };
        self.waiters.push(Waiter {
            id,
            runs_ended: units.iter().map(|&i| self.units[i].runs_ended).collect(),
            done: vec![None; units.len()],
            units: units.clone(),
            goal,
        });
        match req {
            Request::Start(_) => units.iter().for_each(|&i| self.start(i, now, acts)),
            Request::Stop(_, t) => units.iter().for_each(|&i| self.stop(i, t, now, acts)),
            Request::Restart(_) => units.iter().for_each(|&i| self.restart(i, now, acts)),
            Request::Wait(_) => {}
        }
    }

    /// Forgets a request whose asker went away.
    pub(crate) fn cancel(&mut self, id: RequestId) {
        self.waiters.retain(|w| w.id != id);
    }

    /// Answers every request whose units have all reached their goal.
    pub(super) fn answer(&mut self, acts: &mut Vec<Action>) {
        let mut waiters = std::mem::take(&mut self.waiters);
        waiters.retain_mut(|w| {
            for (k, &i) in w.units.iter().enumerate() {
                if w.done[k].is_none() {
                    w.done[k] = self.outcome(i, w.goal, w.runs_ended[k]);
                }
            }
            if w.done.iter().any(Option::is_none) {
                return true;
            }
            let failures = w
                .units
                .iter()
                .zip(&w.done)
                .filter_map(|(&i, d)| match d {
                    Some(Err(why)) => Some((i, why.clone())),
                    _ => None,
                })
                .collect();
            acts.push(Action::Answer(super::Answer {
                id: w.id,
                units: std::mem::take(&mut w.units),
                failures,
            }));
            false
        });
        self.waiters = waiters;
    }

    fn outcome(&self, i: usize, goal: Goal, runs_then: u64) -> Option<Result<(), String>> {
        let u = &self.units[i];
        let why = || {
            u.reason
                .clone()
                .unwrap_or_else(|| u.state.as_str().to_string())
        };
        match goal {
            Goal::Up => match u.state {
                State::Running if u.ready => Some(Ok(())),
                State::Exited => Some(Ok(())),
                State::Failed => Some(Err(why())),
                State::Stopped if !u.want_up => Some(Err("stopped".into())),
                _ => None,
            },
            Goal::Down => {
                let down = u.run.is_none() && !u.state.is_active() && u.state != State::Backoff;
                (down || u.runs_ended > runs_then).then_some(Ok(()))
            }
        }
    }
}
