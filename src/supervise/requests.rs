//! Control requests: the wire's commands turned into the machine's requests, by name.
//! When a waiting request is answered is the machine's rule (see `machine::requests`).

use std::time::Duration;

use tokio::sync::oneshot;

use super::driver::{Asker, Driver};
use super::machine::{Input, Request};
use crate::control::proto::{Command, ErrorBody, ErrorCode, Reply, StartOverrides};
use crate::control::server::Call;

fn error(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody { code, message }
}

impl Driver {
    /// Resolves names, listing the known services when one is unknown.
    pub(super) fn resolve(&self, names: &[String]) -> Result<Vec<usize>, ErrorBody> {
        if names.is_empty() {
            return Ok((0..self.spec.services.len())
                .filter(|&i| !self.slots[i].removed)
                .collect());
        }
        let mut out = Vec::new();
        for n in names {
            let found: Vec<usize> = match self.index_of(n).filter(|&i| !self.slots[i].removed) {
                Some(i) => vec![i],
                // A `replicas = N` service's name stands for all its replicas.
                None => (0..self.spec.services.len())
                    .filter(|&i| {
                        !self.slots[i].removed
                            && self
                                .service(i)
                                .replica
                                .as_ref()
                                .is_some_and(|r| &r.group == n)
                    })
                    .collect(),
            };
            match found.is_empty() {
                false => {
                    for i in found {
                        if !out.contains(&i) {
                            out.push(i);
                        }
                    }
                }
                true => {
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

    /// Serves one control request.
    pub(super) fn on_call(&mut self, call: Call) {
        let Call { cmd, reply } = call;
        if self.shutting_down && !matches!(cmd, Command::Status { .. } | Command::Down { .. }) {
            let _ = reply.send(Err(error(
                ErrorCode::ShuttingDown,
                "the supervisor is shutting down".into(),
            )));
            return;
        }
        self.schedules_for(&cmd);
        let result = match cmd {
            Command::Status { services } => {
                let r = self.resolve(&services).map(|u| self.status_reply(&u));
                let _ = reply.send(r);
                return;
            }
            Command::Up { services, role } => {
                if role.is_some() && self.role.is_none() {
                    self.role = role;
                }
                self.resolve_start(&services).map(Request::Start)
            }
            Command::Start {
                services,
                overrides,
            } => self
                .take_from_disk(&services, false)
                .and_then(|()| {
                    // A job just read from the file was unknown to `schedules_for` above.
                    self.schedules_for(&Command::Start {
                        services: services.clone(),
                        overrides: None,
                    });
                    self.resolve(&services)
                })
                .and_then(|units| self.set_overrides(&units, overrides).map(|()| units))
                .map(Request::Start),
            Command::Restart { services } => self
                .take_from_disk(&services, true)
                .and_then(|()| self.resolve(&services))
                .map(Request::Restart),
            Command::Wait { services } => self.resolve(&services).map(Request::Wait),
            Command::Stop {
                services,
                timeout_ms,
            } => self
                .resolve(&services)
                .map(|u| Request::Stop(u, timeout_ms.map(Duration::from_millis))),
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
            Command::Signal { services, signal } => {
                let r = self
                    .resolve(&services)
                    .and_then(|u| self.deliver(&u, &signal));
                let _ = reply.send(r);
                return;
            }
            Command::Reload { dry_run } => {
                self.on_reload(dry_run, Some(reply));
                return;
            }
            Command::Scale { service, replicas } => {
                self.on_scale(&service, replicas, reply);
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
            Ok(req) => self.submit(req, reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Hands `req` to the machine; `reply` gets its answer.
    pub(super) fn submit(
        &mut self,
        req: Request,
        reply: oneshot::Sender<Result<Reply, ErrorBody>>,
    ) {
        let id = self.next_request_id();
        self.askers.insert(id, Asker::Client(reply));
        self.apply_all(vec![Input::Request(id, req)]);
    }

    /// Keeps `start NAME -e … --cwd … -- ARGS` for that service's starts until a reload.
    fn set_overrides(
        &mut self,
        units: &[usize],
        overrides: Option<StartOverrides>,
    ) -> Result<(), ErrorBody> {
        let Some(o) = overrides else {
            return Ok(());
        };
        let [i] = units else {
            return Err(error(
                ErrorCode::BadRequest,
                "-e, --cwd and extra arguments apply to one service at a time".into(),
            ));
        };
        let u = &self.machine.units()[*i];
        if u.state.is_active() || u.run.is_some() {
            return Err(error(
                ErrorCode::Conflict,
                format!(
                    "{} is running; stop it first to start it with other settings",
                    self.service(*i).name
                ),
            ));
        }
        self.slots[*i].overrides = Some(o);
        Ok(())
    }

    /// `signal`: sends `signal` to each of `units`, all of which must be running.
    fn deliver(&self, units: &[usize], signal: &str) -> Result<Reply, ErrorBody> {
        let sig = crate::spec::signal_from_str(signal).ok_or_else(|| {
            error(
                ErrorCode::BadRequest,
                format!("unknown signal {signal:?} (examples: HUP, USR1, SIGTERM, 10)"),
            )
        })?;
        let stopped: Vec<&str> = units
            .iter()
            .filter(|&&i| self.machine.units()[i].run.is_none() || self.slots[i].control.is_none())
            .map(|&i| self.service(i).name.as_str())
            .collect();
        if !stopped.is_empty() {
            return Err(error(
                ErrorCode::Conflict,
                format!("not running, so not signalled: {}", stopped.join(", ")),
            ));
        }
        for &i in units {
            self.order(i, crate::backend::Ctl::Deliver(sig));
        }
        Ok(self.reply(units))
    }
}
