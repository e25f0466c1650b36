//! Control requests: which services they touch, and replies that wait for an outcome.

use std::time::Duration;

use tokio::sync::oneshot;

use super::driver::Supervisor;
use super::machine::{Input, State};
use crate::control::proto::{Command, ErrorBody, ErrorCode, Failure, Reply};

/// What a waiting request needs each of its services to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Goal {
    /// Ready (or completed, or given up).
    Up,
    /// No process left.
    Down,
}

/// A request whose reply waits until its services reach a goal.
pub(super) struct Waiter {
    units: Vec<usize>,
    goal: Goal,
    /// Each unit's outcome once seen; a unit that reached its goal once stays done, so a
    /// crash-looping service that was up counts as started.
    done: Vec<Option<Result<(), String>>>,
    reply: Option<oneshot::Sender<Result<Reply, ErrorBody>>>,
}

fn error(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody { code, message }
}

impl Supervisor {
    /// Resolves names, listing the known services when one is unknown.
    pub(super) fn resolve(&self, names: &[String]) -> Result<Vec<usize>, ErrorBody> {
        if names.is_empty() {
            return Ok((0..self.spec.services.len())
                .filter(|&i| !self.slots[i].removed)
                .collect());
        }
        let mut out = Vec::new();
        for n in names {
            match self.index_of(n).filter(|&i| !self.slots[i].removed) {
                Some(i) => {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                None => {
                    let known: Vec<&str> = self
                        .spec
                        .services
                        .iter()
                        .zip(&self.slots)
                        .filter(|(_, slot)| !slot.removed)
                        .map(|(s, _)| s.name.as_str())
                        .collect();
                    return Err(error(
                        ErrorCode::UnknownService,
                        format!(
                            "no service named {n:?}; services: {}",
                            if known.is_empty() {
                                "(none)".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The services `up` starts: the named ones, or the autostart set for the role.
    pub(super) fn resolve_start(&self, names: &[String]) -> Result<Vec<usize>, ErrorBody> {
        if names.is_empty() {
            let role = self.role.as_deref();
            Ok((0..self.spec.services.len())
                .filter(|&i| self.service(i).autostarts(role) && !self.slots[i].removed)
                .collect())
        } else {
            self.resolve(names)
        }
    }

    /// `units` plus everything they depend on, dependencies first.
    pub(super) fn with_dependencies(&self, units: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        fn visit(sup: &Supervisor, i: usize, out: &mut Vec<usize>, depth: usize) {
            if out.contains(&i) || depth > sup.spec.services.len() {
                return;
            }
            for d in &sup.service(i).depends_on {
                if let Some(j) = sup.index_of(&d.name) {
                    visit(sup, j, out, depth + 1);
                }
            }
            out.push(i);
        }
        for &i in units {
            visit(self, i, &mut out, 0);
        }
        out
    }

    /// `units` plus everything that depends on them.
    fn with_dependents(&self, units: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = units.to_vec();
        let mut k = 0;
        while k < out.len() {
            let name = &self.service(out[k]).name;
            for j in 0..self.spec.services.len() {
                if !out.contains(&j) && self.service(j).depends_on.iter().any(|d| &d.name == name) {
                    out.push(j);
                }
            }
            k += 1;
        }
        out
    }

    pub(super) fn on_request(
        &mut self,
        cmd: Command,
        reply: oneshot::Sender<Result<Reply, ErrorBody>>,
    ) {
        if self.shutting_down && !matches!(cmd, Command::Status { .. } | Command::Down { .. }) {
            let _ = reply.send(Err(error(
                ErrorCode::ShuttingDown,
                "the supervisor is shutting down".into(),
            )));
            return;
        }
        let result = match cmd {
            Command::Status { services } => {
                let r = self.resolve(&services).map(|u| self.reply(&u));
                let _ = reply.send(r);
                return;
            }
            Command::Up { services, role } => {
                if role.is_some() && self.role.is_none() {
                    self.role = role;
                }
                self.resolve_start(&services).map(|u| {
                    let u = self.with_dependencies(&u);
                    (
                        u.clone(),
                        Goal::Up,
                        u.into_iter().map(Input::Start).collect(),
                    )
                })
            }
            Command::Start { services } => self.resolve(&services).map(|u| {
                let u = self.with_dependencies(&u);
                (
                    u.clone(),
                    Goal::Up,
                    u.into_iter().map(Input::Start).collect(),
                )
            }),
            Command::Restart { services } => self.resolve(&services).map(|u| {
                let inputs = u.iter().map(|&i| Input::Restart(i)).collect();
                (u, Goal::Up, inputs)
            }),
            Command::Wait { services } => {
                self.resolve(&services).map(|u| (u, Goal::Up, Vec::new()))
            }
            Command::Stop {
                services,
                timeout_ms,
            } => self.resolve(&services).map(|u| {
                let u = self.with_dependents(&u);
                let t = timeout_ms.map(Duration::from_millis);
                let inputs = u.iter().map(|&i| Input::Stop(i, t)).collect();
                (u, Goal::Down, inputs)
            }),
            Command::Down { timeout_ms } => {
                self.down_replies.push(reply);
                self.begin_shutdown(timeout_ms.map(Duration::from_millis));
                return;
            }
            Command::Run { service } => {
                self.on_run(service.into(), reply);
                return;
            }
            Command::Rm { services } => {
                self.on_rm(services, reply);
                return;
            }
            Command::Follow { .. } | Command::Events | Command::Hello { .. } => {
                // Streams and the handshake are served by the connection itself.
                let _ = reply.send(Err(error(
                    ErrorCode::BadRequest,
                    "streaming commands are handled by the connection".into(),
                )));
                return;
            }
        };
        match result {
            Ok((units, goal, inputs)) => {
                self.waiters.push(Waiter::new(units, goal, reply));
                self.apply_all(inputs);
                // apply_all checks waiters, but only if inputs were given.
                self.check_waiters();
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Answers every waiter whose services all reached their goal.
    pub(super) fn check_waiters(&mut self) {
        let mut waiters = std::mem::take(&mut self.waiters);
        waiters.retain_mut(|w| {
            if w.reply.as_ref().is_none_or(oneshot::Sender::is_closed) {
                return false;
            }
            for (k, &i) in w.units.iter().enumerate() {
                if w.done[k].is_none() {
                    w.done[k] = self.outcome(i, w.goal);
                }
            }
            if w.done.iter().any(Option::is_none) {
                return true;
            }
            let mut reply = self.reply(&w.units);
            for (k, &i) in w.units.iter().enumerate() {
                if let Some(Err(reason)) = &w.done[k] {
                    reply.failures.push(Failure {
                        service: self.service(i).name.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            if let Some(tx) = w.reply.take() {
                let _ = tx.send(Ok(reply));
            }
            false
        });
        waiters.append(&mut self.waiters);
        self.waiters = waiters;
    }

    fn outcome(&self, i: usize, goal: Goal) -> Option<Result<(), String>> {
        let u = &self.machine.units()[i];
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
            Goal::Down => (!u.state.is_active() && u.state != State::Backoff).then_some(Ok(())),
        }
    }
}

impl Waiter {
    pub(super) fn new(
        units: Vec<usize>,
        goal: Goal,
        reply: oneshot::Sender<Result<Reply, ErrorBody>>,
    ) -> Self {
        let done = vec![None; units.len()];
        Self {
            units,
            goal,
            done,
            reply: Some(reply),
        }
    }
}
