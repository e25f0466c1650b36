//! `scale`: a `replicas = N` service's count changed live. Replicas past the new count
//! are stopped and forgotten, new ones are read from the spec file (so their `${…}` take
//! their own `PROCTOR_INSTANCE` and `PORT`) and started when the group is up; the others
//! keep running untouched (their `PROCTOR_REPLICAS` stays what it was when they started).
//! A reload goes back to the spec's count.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::driver::{Asker, Driver};
use super::machine::{Input, Request, State};
use crate::control::proto::{ErrorBody, ErrorCode, PlanAction, PlanStep, Reply};
use crate::spec::{Spec, MAX_REPLICAS};

type ReplyTx = oneshot::Sender<Result<Reply, ErrorBody>>;

fn error(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody { code, message }
}

impl Driver {
    /// Serves `scale`.
    pub(super) fn on_scale(&mut self, group: &str, count: u32, reply: ReplyTx) {
        match self.scale(group, count) {
            Ok((plan, wait)) => {
                let id = self.next_request_id();
                self.askers.insert(id, Asker::Reload(reply, plan));
                self.apply_all(vec![Input::Request(id, Request::Wait(wait))]);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn scale(&mut self, group: &str, count: u32) -> Result<(Vec<PlanStep>, Vec<usize>), ErrorBody> {
        if !(1..=MAX_REPLICAS).contains(&count) {
            return Err(error(
                ErrorCode::BadRequest,
                format!("replicas must be 1 to {MAX_REPLICAS}, got {count} (to stop them all: `proctor stop {group}`)"),
            ));
        }
        let members: Vec<usize> = (0..self.spec.services.len())
            .filter(|&i| {
                !self.slots[i].removed
                    && self
                        .service(i)
                        .replica
                        .as_ref()
                        .is_some_and(|r| r.group == group)
            })
            .collect();
        if members.is_empty() {
            return Err(error(
                ErrorCode::UnknownService,
                format!("no service named {group:?} with `replicas` runs here"),
            ));
        }
        let new = self.load_scaled(group, count)?;
        let up = members.iter().any(|&i| {
            let u = &self.machine.units()[i];
            u.state.is_active() || u.run.is_some() || (u.want_up && u.state != State::Exited)
        });
        let mut plan = Vec::new();
        let mut inputs = Vec::new();
        let mut wait = Vec::new();
        for &i in &members {
            let index = self.service(i).replica.as_ref().map_or(0, |r| r.index);
            if index >= count {
                plan.push(step(&self.service(i).name, PlanAction::Stop));
                self.slots[i].removed = true;
                inputs.push(Input::Stop(i, None));
            }
        }
        for svc in new.services {
            let ours = svc.replica.as_ref().is_some_and(|r| r.group == group);
            if !ours || self.visible_index(&svc.name).is_some() {
                continue;
            }
            let name = svc.name.clone();
            let i = self.define(svc, false);
            if up {
                plan.push(step(&name, PlanAction::Start));
                inputs.push(Input::Start(i));
                wait.push(i);
            } else {
                plan.push(step(&name, PlanAction::Add));
            }
        }
        self.refresh_policies();
        self.apply_all(inputs);
        tracing::info!(service = group, replicas = count, "scaled");
        Ok((plan, wait))
    }

    /// The spec file as it is now, with `group` at `count` replicas.
    fn load_scaled(&self, group: &str, count: u32) -> Result<Spec, ErrorBody> {
        if self.spec.path.as_os_str().is_empty() {
            return Err(error(
                ErrorCode::BadRequest,
                "this supervisor runs no spec file: nothing to scale".into(),
            ));
        }
        let overrides = BTreeMap::from([(group.to_string(), count)]);
        let new = Spec::load_scaled(&self.spec.path, &overrides).map_err(|e| {
            error(
                ErrorCode::InvalidSpec,
                format!("invalid spec, nothing changed:\n{e}"),
            )
        })?;
        if new.group(group).is_empty() {
            return Err(error(
                ErrorCode::Conflict,
                format!("the spec no longer gives {group:?} `replicas`; run `proctor reload`"),
            ));
        }
        Ok(new)
    }
}

fn step(service: &str, action: PlanAction) -> PlanStep {
    PlanStep {
        service: service.to_string(),
        action,
        reason: Some("scale".into()),
    }
}
