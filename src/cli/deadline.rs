//! Deadlines: every CLI call that waits on the supervisor gives up at some point, and then
//! says what it was waiting for.
//!
//! Two kinds of silence are told apart (by the control client): a supervisor that answers
//! nothing at all, not even the `hello` sent with every first request, is reported as not
//! answering; one that answered `hello` but whose services have not yet reached what was
//! asked gets a quick `status`, and the services still under way are named with their
//! state and why (`timed out after 30s waiting for web: starting (not ready: connection
//! refused)`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::control::proto::{Command, Reply, ServiceStatus, State};
use crate::control::{Client, ControlError};
use crate::spec::Spec;

/// How long a supervisor may take to answer what it answers at once (`status`, and the
/// `hello` of every call): a well supervisor takes milliseconds.
pub(crate) const ANSWER: Duration = Duration::from_secs(10);

/// A time limit for a whole verb, started when the verb started: spawning a supervisor and
/// the request share it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// The limit, as the user gave it (and as messages name it).
    pub(crate) total: Duration,
    started: Instant,
}

impl Deadline {
    /// A limit of `total` from now.
    pub(crate) fn new(total: Duration) -> Self {
        Self {
            total,
            started: Instant::now(),
        }
    }

    /// What is left of it.
    pub(crate) fn left(&self) -> Duration {
        self.total.saturating_sub(self.started.elapsed())
    }
}

/// What a waiting request needs its services to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Ready (or done, or given up): `up`, `start`, `restart`, `wait`, `run`.
    Ready,
    /// No process left: `stop`, `down`, `rm`.
    Stopped,
}

/// Sends `cmd` and waits for its reply until `deadline`. On a timeout the error names the
/// services among `names` (all when empty) that are still under way, as a fresh `status`
/// shows them.
pub(crate) fn request(
    client: &mut Client,
    cmd: Command,
    deadline: Deadline,
    names: &[String],
    goal: Goal,
) -> Result<Reply> {
    client.set_timeout(Some(deadline.left()))?;
    match client.request(cmd) {
        Ok(reply) => Ok(reply),
        Err(ControlError::Timeout(_)) => {
            Err(timed_out(client.socket(), names, deadline.total, goal))
        }
        Err(ControlError::NoAnswer { pid, .. }) => Err(ControlError::NoAnswer {
            pid,
            waited: deadline.total,
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The error for a wait that timed out after `waited`: what is still under way.
fn timed_out(socket: &Path, names: &[String], waited: Duration, goal: Goal) -> anyhow::Error {
    let waited = humantime::format_duration(waited);
    let status = Client::connect(socket).and_then(|mut c| {
        c.set_timeout(Some(ANSWER))?;
        c.request(Command::Status {
            services: Vec::new(),
        })
    });
    match status {
        Ok(reply) => {
            let pending = pending(&reply, names, goal);
            if pending.is_empty() {
                // Settled between the timeout and the status: say so rather than guess.
                anyhow!(
                    "timed out after {waited} waiting for {}, which have settled since \
                     (see `proctor status`)",
                    if names.is_empty() {
                        "the services".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            } else {
                anyhow!(
                    "timed out after {waited} waiting for {}",
                    pending.join(", ")
                )
            }
        }
        Err(e) => anyhow!("timed out after {waited}, and asking for the status failed: {e}"),
    }
}

/// `NAME: STATE (why)` for each service among `names` (all when empty) that has not
/// reached `goal`.
fn pending(reply: &Reply, names: &[String], goal: Goal) -> Vec<String> {
    reply
        .services
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .filter_map(|s| under_way(s, goal))
        .collect()
}

fn under_way(s: &ServiceStatus, goal: Goal) -> Option<String> {
    let settled = match goal {
        Goal::Ready => {
            matches!(s.state, State::Stopped | State::Exited | State::Failed)
                || (s.state == State::Running && s.ready)
        }
        Goal::Stopped => matches!(s.state, State::Stopped | State::Exited | State::Failed),
    };
    if settled {
        return None;
    }
    let starting = matches!(s.state, State::Starting | State::Running) && !s.ready;
    let state = if starting {
        "starting"
    } else {
        s.state.as_str()
    };
    let why = if starting {
        Some(
            s.probe_error
                .as_ref()
                .map_or_else(|| "not ready yet".into(), |e| format!("not ready: {e}")),
        )
    } else {
        let restart = s
            .next_restart_ms
            .map(|ms| format!("restart in {}", super::commands::short_duration(ms)));
        match (s.reason.clone(), restart) {
            (Some(r), Some(n)) => Some(format!("{r}; {n}")),
            (r, n) => r.or(n),
        }
    };
    Some(match why {
        Some(why) => format!("{}: {state} ({why})", s.name),
        None => format!("{}: {state}", s.name),
    })
}

/// How long stopping may take: every service's grace period in turn (dependents stop
/// first, so waves add up; their sum bounds them all), plus time to answer. Without the
/// spec, the default wait on top of `grace`.
pub(crate) fn stop_budget(spec: Option<&Spec>, grace: Option<Duration>) -> Deadline {
    let total = match spec {
        Some(spec) => spec
            .services
            .iter()
            .map(|s| grace.unwrap_or(s.stop_timeout))
            .sum(),
        None => Duration::from_secs(120) + grace.unwrap_or_default(),
    };
    Deadline::new(total + ANSWER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, state: State, ready: bool) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            group: None,
            state,
            pid: None,
            ready,
            restarts: 0,
            uptime_ms: 0,
            last_exit: None,
            since: std::time::SystemTime::UNIX_EPOCH,
            reason: None,
            next_restart_ms: None,
            next_run: None,
            backend: "process".into(),
            log_error: None,
            probe_error: None,
            status_text: None,
            main_pid: None,
            storage_dir: None,
            containment: None,
            cpu_percent: None,
            memory_bytes: None,
            tmux_session: None,
            container: None,
            container_id: None,
        }
    }

    #[test]
    fn names_what_is_still_under_way_and_why() {
        let mut web = service("web", State::Starting, false);
        web.probe_error = Some("connection refused".into());
        let mut api = service("api", State::Waiting, false);
        api.reason = Some("waiting for web".into());
        let mut job = service("job", State::Backoff, false);
        job.reason = Some("exited 1".into());
        job.next_restart_ms = Some(2500);
        let reply = Reply {
            services: vec![
                web,
                api,
                job,
                service("db", State::Running, true),
                service("old", State::Failed, false),
            ],
            ..Reply::default()
        };
        assert_eq!(
            pending(&reply, &[], Goal::Ready),
            [
                "web: starting (not ready: connection refused)",
                "api: waiting (waiting for web)",
                "job: backoff (exited 1; restart in 2s)",
            ]
        );
        assert_eq!(
            pending(&reply, &["db".into(), "web".into()], Goal::Stopped),
            [
                "web: starting (not ready: connection refused)",
                "db: running"
            ]
        );
    }
}
