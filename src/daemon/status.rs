//! What a [`Daemon`](super::Daemon) reports: its status, and a stream of its state changes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::control::proto::{Body, Event, Exit, ServiceStatus, State};
use crate::control::{Client, ControlError};
use crate::error::Error;

/// A daemon's state as its supervisor sees it, from [`Daemon::status`](super::Daemon::status).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DaemonStatus {
    /// Lifecycle state; [`State::Stopped`] when the daemon is not started.
    pub state: State,
    /// Pid of the daemon's process while it runs (also its process group id).
    pub pid: Option<u32>,
    /// Whether it passed its readiness probe since it last started.
    pub ready: bool,
    /// Automatic restarts so far (after crashes or failed liveness probes).
    pub restarts: u32,
    /// How the previous run ended.
    pub last_exit: Option<Exit>,
    /// Its state directory (`PROCTOR_STATE_DIR`), while it exists.
    pub storage_dir: Option<PathBuf>,
    /// How long the current process has been running.
    pub uptime: Duration,
    /// Why it is waiting, failed, or restarting.
    pub reason: Option<String>,
    /// The last failed probe attempt, cleared when a probe passes.
    pub probe_error: Option<String>,
    /// Pid of the process supervising it (this process), while supervised.
    pub supervisor_pid: Option<u32>,
}

impl DaemonStatus {
    /// The status of a daemon with no supervisor: stopped, nothing known.
    pub(super) fn stopped() -> Self {
        Self {
            state: State::Stopped,
            pid: None,
            ready: false,
            restarts: 0,
            last_exit: None,
            storage_dir: None,
            uptime: Duration::ZERO,
            reason: None,
            probe_error: None,
            supervisor_pid: None,
        }
    }

    pub(super) fn from_service(s: Option<ServiceStatus>, supervisor_pid: Option<u32>) -> Self {
        let Some(s) = s else {
            return Self::stopped();
        };
        Self {
            state: s.state,
            pid: s.pid,
            ready: s.ready,
            restarts: s.restarts,
            last_exit: s.last_exit,
            storage_dir: s.storage_dir,
            uptime: Duration::from_millis(s.uptime_ms),
            reason: s.reason,
            probe_error: s.probe_error,
            supervisor_pid,
        }
    }

    /// Whether its process is up (starting or running; ready or not).
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Starting | State::Running) && self.pid.is_some()
    }
}

/// A blocking stream of state changes, from [`Daemon::events`](super::Daemon::events).
///
/// Each [`Event`] names the service, its new [`State`] (`starting` when spawned or
/// restarted, `running` when ready, `backoff` after an exit with a restart pending,
/// `exited`, `failed`, `stopping`, `stopped`), its pid and why. Iterating blocks until the
/// next change and ends when the supervisor stops.
pub struct Events {
    client: Client,
}

impl Events {
    pub(super) fn new(client: Client) -> Self {
        Self { client }
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` when none came in time.
    /// `Err(Error::Control(ControlError::Closed))` once the supervisor has stopped.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.client.set_timeout(Some(left))?;
            match self.client.recv() {
                Ok(resp) => {
                    if let Body::Event(ev) = resp.body {
                        return Ok(Some(ev));
                    }
                }
                // Nothing yet, not even the answer to `hello`: no event came in time.
                Err(ControlError::Timeout(_) | ControlError::NoAnswer { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.client.set_timeout(None).is_err() {
            return None;
        }
        loop {
            match self.client.recv() {
                Ok(resp) => {
                    if let Body::Event(ev) = resp.body {
                        return Some(ev);
                    }
                }
                Err(_) => return None,
            }
        }
    }
}
