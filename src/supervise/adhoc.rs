//! `run` and `rm`: adding ad-hoc services to a running supervisor and forgetting them.
//!
//! Units are never removed from the machine, so indices held by in-flight messages stay
//! valid: `rm` hides a unit, and a later `run` of the same name reuses it.

use std::cell::RefCell;
use std::rc::Rc;

use tokio::sync::oneshot;

use super::driver::{Driver, Slot};
use super::machine::{Request, State};
use crate::control::proto::{ErrorBody, ErrorCode, Reply};
use crate::logs::LogSink;
use crate::spec::adhoc::{self, AdHoc};

type ReplyTx = oneshot::Sender<Result<Reply, ErrorBody>>;

fn error(code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody { code, message }
}

impl Slot {
    /// A slot for a service that has not run yet.
    pub(super) fn new(sink: LogSink, adhoc: bool) -> Self {
        Self {
            gen: 0,
            control: None,
            pending_notify: None,
            sink: Rc::new(RefCell::new(sink)),
            started_wall: None,
            tasks: Vec::new(),
            live_task: None,
            cpu_sample: std::cell::Cell::new(None),
            probe_error: None,
            status_text: None,
            main_pid: None,
            lock: None,
            storage_dir: None,
            session: None,
            overrides: None,
            config_hash: None,
            adhoc,
            watch: None,
            job: super::schedule::JobTimer::default(),
            removed: false,
        }
    }
}

impl Driver {
    /// `run`: defines the ad-hoc service (anew if it exists and is stopped), remembers it,
    /// and starts it.
    pub(super) fn on_run(&mut self, def: AdHoc, reply: ReplyTx) {
        if let Err(why) = def.check(&self.spec.project) {
            let _ = reply.send(Err(error(ErrorCode::BadRequest, why)));
            return;
        }
        if let Some(group) = self.group_named(&def.name) {
            let _ = reply.send(Err(error(
                ErrorCode::Conflict,
                format!(
                    "{:?} is {} of the `replicas` service {group:?} in {}; choose another name",
                    def.name,
                    if def.name == group {
                        "the name"
                    } else {
                        "a replica name"
                    },
                    self.spec.path.display()
                ),
            )));
            return;
        }
        let svc = def.to_service(&self.spec.project);
        let i = match self.index_of(&def.name) {
            Some(i) if !self.slots[i].adhoc => {
                let _ = reply.send(Err(error(
                    ErrorCode::Conflict,
                    format!(
                        "{:?} is declared in {}; start it with `proctor start {}`",
                        def.name,
                        self.spec.path.display(),
                        def.name
                    ),
                )));
                return;
            }
            Some(i)
                if self.machine.units()[i].state.is_active()
                    || self.machine.units()[i].state == State::Backoff =>
            {
                let what = if self.slots[i].removed {
                    "is still stopping after `rm`; try again in a moment"
                } else {
                    "is already running; `proctor rm` it first"
                };
                let _ = reply.send(Err(error(
                    ErrorCode::Conflict,
                    format!("{:?} {what}", def.name),
                )));
                return;
            }
            _ => {
                let i = self.define(svc, true);
                self.refresh_policies();
                i
            }
        };
        self.adhoc.retain(|a| a.name != def.name);
        self.adhoc.push(def);
        self.save_adhoc();
        self.submit(Request::Start(vec![i]), reply);
    }

    /// The `replicas = N` service whose name `name` is, or whose replica it is or would be
    /// after a `scale` (`web`, `web.7`): an ad-hoc service there would shadow the group.
    fn group_named(&self, name: &str) -> Option<String> {
        self.spec
            .services
            .iter()
            .filter_map(|s| s.replica.as_ref())
            .find(|r| crate::spec::names(&r.group, name))
            .map(|r| r.group.clone())
    }

    /// `rm`: stops ad-hoc services and forgets them.
    pub(super) fn on_rm(&mut self, names: Vec<String>, reply: ReplyTx) {
        let mut units = Vec::new();
        for n in &names {
            match self.index_of(n) {
                Some(i) if self.slots[i].adhoc && !self.slots[i].removed => units.push(i),
                Some(i) if !self.slots[i].removed => {
                    let _ = reply.send(Err(error(
                        ErrorCode::Conflict,
                        format!(
                            "{n:?} is declared in {}, not started with `proctor run`; remove it from the file",
                            self.spec.path.display()
                        ),
                    )));
                    return;
                }
                _ => {
                    let _ = reply.send(Err(error(
                        ErrorCode::UnknownService,
                        format!("no ad-hoc service named {n:?}"),
                    )));
                    return;
                }
            }
        }
        for &i in &units {
            self.slots[i].removed = true;
        }
        self.adhoc.retain(|a| !names.contains(&a.name));
        self.save_adhoc();
        self.submit(Request::Stop(units, None), reply);
    }

    fn save_adhoc(&self) {
        if let Err(e) = adhoc::save(&self.paths.root, &self.adhoc) {
            tracing::warn!("cannot save the ad-hoc services: {e}");
        }
    }
}
