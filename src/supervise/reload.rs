//! Reload: the spec file as it is on disk now, applied to the running project by changing
//! only what changed (see `spec::diff`).
//!
//! - added → started if its `autostart` (for the supervisor's role) says so, else known;
//! - removed → stopped and forgotten;
//! - changed in what its process is made of → restarted with the new definition if it is
//!   up (or on its way up), else the new definition waits for its next start;
//! - changed only in what the supervisor does with it → applied to the running process;
//! - unchanged → untouched: same pid, same uptime, its log uninterrupted; but a running
//!   service whose `reload_on` files changed since its process started gets its
//!   `reload_signal` (or, without one, a restart).
//!
//! Dependents of a restarted service keep running: a `started` or `ready` condition orders
//! starts, and a dependent that is up already needs nothing from the dependency's new
//! process that it did not have from the old one. A dependent still waiting for the
//! dependency waits for the new process. Ad-hoc services from `proctor run` are not in the
//! file and survive a reload untouched.

use std::time::Instant as StdInstant;

use tokio::sync::oneshot;

use super::driver::{Asker, Driver};
use super::machine::{Input, Policy, Request, State};
use crate::backend::Ctl;
use crate::control::proto::{ErrorBody, ErrorCode, PlanAction, PlanStep, Reply};
use crate::spec::diff::{self, Diff};
use crate::spec::{Service, Spec};

type ReplyTx = oneshot::Sender<Result<Reply, ErrorBody>>;

/// A running service whose configuration files changed.
struct ConfigChange {
    unit: usize,
    /// Their content now.
    hash: u64,
    /// What tells it to re-read them; `None`: restart it.
    signal: Option<crate::spec::Signal>,
}

fn signal_name(sig: crate::spec::Signal) -> String {
    format!("SIG{}", crate::sys::child::signal_name(sig.as_raw()))
}

fn error(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody { code, message }
}

impl Driver {
    /// `reload` (or SIGHUP, with no one to answer): plans and, unless `dry_run`, applies.
    pub(super) fn on_reload(&mut self, dry_run: bool, reply: Option<ReplyTx>) {
        let started = StdInstant::now();
        let stamp = crate::state::FileStamp::of(&self.spec.path);
        let planned = self.load_disk_spec().and_then(|new| {
            let diff = self.diff_with(&new);
            if !diff.project_fixed.is_empty() {
                return Err(error(
                    ErrorCode::Conflict,
                    format!(
                        "{} changed: a running supervisor cannot take that; run `proctor down`, then `proctor up`",
                        diff.project_fixed.join(", ")
                    ),
                ));
            }
            Ok((new, diff))
        });
        let (new, diff) = match planned {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("reload refused: {}", e.message);
                if let Some(tx) = reply {
                    let _ = tx.send(Err(e));
                }
                return;
            }
        };
        let config = self.config_changes(&new, &diff);
        let mut plan = self.plan(&new, &diff);
        for c in &config {
            plan.push(PlanStep {
                service: self.service(c.unit).name.clone(),
                action: if c.signal.is_some() {
                    PlanAction::Signal
                } else {
                    PlanAction::Restart
                },
                reason: Some(match c.signal {
                    Some(sig) => format!("reload_on files changed; sends {}", signal_name(sig)),
                    None => "reload_on files changed".into(),
                }),
            });
        }
        if dry_run {
            if let Some(tx) = reply {
                let mut r = self.reply(&[]);
                r.plan = plan;
                let _ = tx.send(Ok(r));
            }
            return;
        }
        let mut wait = self.apply_reload(new, &diff);
        crate::state::record_spec(&self.paths, &self.spec, stamp);
        let mut restarts = Vec::new();
        for c in config {
            self.slots[c.unit].config_hash = Some(c.hash);
            match c.signal {
                Some(sig) => self.order(c.unit, Ctl::Deliver(sig)),
                None => {
                    restarts.push(Input::Restart(c.unit));
                    wait.push(c.unit);
                }
            }
        }
        self.apply_all(restarts);
        tracing::info!(
            changes = plan.len(),
            took_us = started.elapsed().as_micros() as u64,
            "reloaded the spec"
        );
        let id = self.next_request_id();
        if let Some(tx) = reply {
            self.askers.insert(id, Asker::Reload(tx, plan));
        }
        self.apply_all(vec![Input::Request(id, Request::Wait(wait))]);
    }

    /// Running services whose `reload_on` files changed since their process started, and
    /// nothing else that needs a restart.
    fn config_changes(&self, new: &Spec, diff: &Diff) -> Vec<ConfigChange> {
        new.services
            .iter()
            .filter(|s| !s.reload_on.is_empty())
            .filter(|s| {
                !diff
                    .changed
                    .iter()
                    .any(|(n, c)| *n == s.name && !c.restart.is_empty())
            })
            .filter_map(|s| {
                let i = self.visible_index(&s.name)?;
                let then = self.slots[i].config_hash?;
                // Only a running process has read them.
                self.machine.units()[i].run.as_ref()?;
                let hash = diff::config_hash(&s.reload_on);
                (hash != then).then_some(ConfigChange {
                    unit: i,
                    hash,
                    signal: s.reload_signal,
                })
            })
            .collect()
    }

    /// The spec file as it is now, with the ad-hoc services merged in as at start-up.
    pub(super) fn load_disk_spec(&self) -> Result<Spec, ErrorBody> {
        if self.spec.path.as_os_str().is_empty() {
            return Err(error(
                ErrorCode::BadRequest,
                "this supervisor runs no spec file (the default project): nothing to re-read"
                    .into(),
            ));
        }
        let mut new = Spec::load(&self.spec.path).map_err(|e| {
            error(
                ErrorCode::InvalidSpec,
                format!("invalid spec, nothing changed:\n{e}"),
            )
        })?;
        crate::spec::adhoc::merge(&mut new, &self.adhoc);
        Ok(new)
    }

    /// The running services (without those forgotten) against `new`.
    fn diff_with(&self, new: &Spec) -> Diff {
        let mut current = self.spec.clone();
        current.services = self
            .spec
            .services
            .iter()
            .zip(&self.slots)
            .filter(|(_, slot)| !slot.removed)
            .map(|(s, _)| s.clone())
            .collect();
        diff::diff(&current, new)
    }

    /// What applying `diff` does, service by service.
    fn plan(&self, new: &Spec, diff: &Diff) -> Vec<PlanStep> {
        let role = self.role.as_deref();
        let up = |name: &str| {
            self.visible_index(name).is_some_and(|i| {
                let u = &self.machine.units()[i];
                u.state.is_active() || u.run.is_some() || (u.want_up && u.state != State::Exited)
            })
        };
        let step = |service: &str, action, reason: Option<String>| PlanStep {
            service: service.to_string(),
            action,
            reason,
        };
        let mut plan = Vec::new();
        for name in &diff.added {
            let starts = new.service(name).is_some_and(|s| s.autostarts(role));
            let action = if starts {
                PlanAction::Start
            } else {
                PlanAction::Add
            };
            plan.push(step(name, action, None));
        }
        for (name, change) in &diff.changed {
            let (action, fields) = if !change.restart.is_empty() {
                let action = if up(name) {
                    PlanAction::Restart
                } else {
                    PlanAction::Update
                };
                (action, &change.restart)
            } else {
                (PlanAction::Apply, &change.live)
            };
            plan.push(step(
                name,
                action,
                Some(format!("{} changed", fields.join(", "))),
            ));
        }
        for name in &diff.removed {
            let action = if up(name) {
                PlanAction::Stop
            } else {
                PlanAction::Remove
            };
            plan.push(step(name, action, None));
        }
        plan
    }

    /// Takes `new` as the project's spec; returns the services to wait for (started or
    /// restarted).
    fn apply_reload(&mut self, new: Spec, diff: &Diff) -> Vec<usize> {
        let role = self.role.clone();
        let tools_changed = self.spec.project.tmux_binary != new.project.tmux_binary
            || self.spec.project.container_runtime != new.project.container_runtime;
        self.spec.project = new.project.clone();
        if tools_changed {
            self.backends = super::backends::Backends::new(&self.spec.project, &self.paths.root);
        }
        let mut inputs = Vec::new();
        let mut wait = Vec::new();
        // What `start` overrode holds until a reload.
        for slot in &mut self.slots {
            slot.overrides = None;
        }
        for name in &diff.removed {
            if let Some(i) = self.visible_index(name) {
                self.slots[i].removed = true;
                inputs.push(Input::Stop(i, None));
            }
        }
        for svc in new.services {
            let name = svc.name.clone();
            if diff.added.contains(&name) {
                let starts = svc.autostarts(role.as_deref());
                let i = self.define(svc, false);
                if starts {
                    inputs.push(Input::Start(i));
                    wait.push(i);
                }
            } else if let Some((_, change)) = diff.changed.iter().find(|(n, _)| *n == name) {
                let Some(i) = self.visible_index(&name) else {
                    continue;
                };
                let live_probe = change.live.iter().any(|f| f == "live");
                self.redefine(i, svc);
                if !change.restart.is_empty() {
                    let u = &self.machine.units()[i];
                    if u.state.is_active() || u.run.is_some() || u.state == State::Backoff {
                        inputs.push(Input::Restart(i));
                        wait.push(i);
                    }
                } else if live_probe && self.machine.units()[i].ready {
                    self.start_liveness(i);
                }
            }
        }
        self.refresh_policies();
        self.apply_all(inputs);
        wait
    }

    /// `restart` and `start` act on the spec as it is on disk: a restarted service takes its
    /// definition from there (`restart` = reload of that service), and a service added to
    /// the file since can be started (with any new services it depends on) without a
    /// reload. Nothing to do for a supervisor without a spec file.
    pub(super) fn take_from_disk(
        &mut self,
        names: &[String],
        restart: bool,
    ) -> Result<(), ErrorBody> {
        if self.spec.path.as_os_str().is_empty()
            || (!restart && names.iter().all(|n| self.visible_index(n).is_some()))
        {
            return Ok(());
        }
        let new = self.load_disk_spec()?;
        // A group's name stands for its replicas that run here (not those a `scale`
        // took away, nor more than it kept).
        let names: Vec<String> = names
            .iter()
            .flat_map(|n| {
                let group = if restart && new.service(n).is_none() {
                    new.group(n)
                } else {
                    Vec::new()
                };
                let members: Vec<String> = group
                    .into_iter()
                    .filter(|s| self.visible_index(&s.name).is_some())
                    .map(|s| s.name.clone())
                    .collect();
                if members.is_empty() {
                    vec![n.clone()]
                } else {
                    members
                }
            })
            .collect();
        let names = &names[..];
        let mut todo: Vec<String> = names.to_vec();
        let mut touched = false;
        while let Some(n) = todo.pop() {
            let Some(svc) = new.service(&n) else {
                continue;
            };
            match self.visible_index(&n) {
                Some(i) if restart && names.contains(&n) => {
                    if !diff::service(&self.spec.services[i], svc).is_empty() {
                        self.redefine(i, svc.clone());
                        touched = true;
                    }
                }
                Some(_) => {}
                None => {
                    todo.extend(svc.depends_on.iter().map(|d| d.name.clone()));
                    self.define(svc.clone(), false);
                    touched = true;
                }
            }
        }
        if touched {
            self.refresh_policies();
        }
        Ok(())
    }

    /// Index of the service `name`, unless it was forgotten.
    pub(super) fn visible_index(&self, name: &str) -> Option<usize> {
        self.index_of(name).filter(|&i| !self.slots[i].removed)
    }

    /// Gives service `i` a new definition, effective from its next start on (and at once
    /// for what the supervisor does with it: logs, policy).
    pub(super) fn redefine(&mut self, i: usize, svc: Service) {
        self.slots[i].sink.borrow_mut().set_settings(svc.logs);
        self.spec.services[i] = svc;
    }

    /// Makes `svc` known: a new unit, or one forgotten earlier under the same name. Call
    /// [`Driver::refresh_policies`] once all definitions are in.
    pub(super) fn define(&mut self, svc: Service, adhoc: bool) -> usize {
        if let Some(i) = self.index_of(&svc.name) {
            self.slots[i].removed = false;
            self.slots[i].adhoc = adhoc;
            self.redefine(i, svc);
            return i;
        }
        let policy = Policy::of(&svc, |_| None);
        let i = self.machine.add(policy, tokio::time::Instant::now());
        let sink = crate::logs::LogSink::new(
            i,
            &self.paths.logs_dir(),
            &svc.name,
            svc.logs,
            self.logs_tx.clone(),
        );
        self.names.borrow_mut().push(svc.name.clone());
        self.spec.services.push(svc);
        self.slots.push(super::driver::Slot::new(sink, adhoc));
        i
    }

    /// Takes up new, changed or forgotten `watch` and `schedule` definitions.
    fn sync_timers(&mut self) {
        for i in 0..self.spec.services.len() {
            self.sync_watch(i);
            self.sync_schedule(i);
        }
    }

    /// Recomputes every unit's policy from its definition: dependencies are indices, which
    /// change meaning when services come and go.
    pub(super) fn refresh_policies(&mut self) {
        for i in 0..self.spec.services.len() {
            let policy = if self.slots[i].removed {
                Policy::of(&self.spec.services[i], |_| None)
            } else {
                Policy::of(&self.spec.services[i], |n| self.visible_index(n))
            };
            self.machine.set_policy(i, policy);
        }
        self.sync_timers();
    }
}
