//! The daemon's state behind its mutex: start, stop, status and recovery, all blocking.

use std::time::Duration;

use super::process::{Supervisor, SupervisorProcess};
use super::status::{DaemonStatus, Events};
use super::thread::SupervisorThread;
use crate::control::proto::{Command, ErrorCode, Reply, ServiceStatus, State};
use crate::control::{Client, ControlError};
use crate::error::Error;
use crate::lock::{inspect, Lock, LockHealth};
use crate::spec::Spec;
use crate::state::Paths;
use crate::supervise::Options;

/// Extra time allowed on top of a deadline the supervisor enforces itself, so that its
/// answer (not our timeout) decides when it can.
const MARGIN: Duration = Duration::from_secs(2);

/// How long a start waits for a service without a readiness probe (ready once spawned).
const SPAWN_WAIT: Duration = Duration::from_secs(10);

/// A running supervisor, wherever it runs.
enum Running {
    Thread(SupervisorThread),
    Process(SupervisorProcess),
    /// Someone else's, taken over by [`Inner::attach`]: known only by its socket and pid.
    Remote {
        socket: std::path::PathBuf,
        pid: u32,
        /// Held from the attach on, so waiting for its exit cannot mistake a reused pid.
        pidfd: Option<std::os::fd::OwnedFd>,
    },
}

impl Running {
    fn is_alive(&mut self) -> bool {
        match self {
            Running::Thread(t) => t.is_alive(),
            Running::Process(p) => p.is_alive(),
            Running::Remote { socket, .. } => Client::connect(socket).is_ok(),
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Running::Thread(_) => Some(std::process::id()),
            Running::Process(p) => p.pid(),
            Running::Remote { pid, .. } => Some(*pid),
        }
    }

    fn shutdown(&mut self) {
        match self {
            Running::Thread(t) => t.shutdown(),
            Running::Process(p) => p.shutdown(),
            // Not ours to signal: it may be a thread of another program.
            Running::Remote { .. } => {}
        }
    }

    fn join(&mut self) -> Result<(), Error> {
        match self {
            Running::Thread(t) => t.join(),
            Running::Process(p) => p.join(),
            Running::Remote { pidfd, .. } => {
                // A supervisor process exits right after closing our connection; one that
                // is a thread of another program does not, hence the short bound.
                if let Some(fd) = pidfd {
                    crate::sys::child::wait_exited(fd, Duration::from_secs(1));
                }
                Ok(())
            }
        }
    }

    fn detach(self) {
        match self {
            Running::Thread(t) => t.detach(),
            Running::Process(p) => p.detach(),
            Running::Remote { .. } => {}
        }
    }
}

pub(super) struct Inner {
    pub(super) name: String,
    pub(super) spec: Spec,
    pub(super) paths: Paths,
    supervisor: Supervisor,
    sup: Option<Running>,
    /// `(pid, restarts)` when last seen healthy; a change means the daemon was restarted.
    seen: Option<(Option<u32>, u32)>,
}

impl Inner {
    pub(super) fn new(name: String, spec: Spec, paths: Paths, supervisor: Supervisor) -> Self {
        Self {
            name,
            spec,
            paths,
            supervisor,
            sup: None,
            seen: None,
        }
    }

    fn service(&self) -> Option<&crate::spec::Service> {
        self.spec.service(&self.name)
    }

    /// How long the service may take to become ready: its probe's deadline.
    pub(super) fn ready_wait(&self) -> Duration {
        self.service()
            .and_then(|s| s.ready.as_ref())
            .map_or(SPAWN_WAIT, |p| p.initial_delay + p.deadline)
            + MARGIN
    }

    /// How long a stop may take: the longest grace period, then the kill.
    fn stop_wait(&self) -> Duration {
        let grace = self
            .spec
            .services
            .iter()
            .map(|s| s.stop_timeout)
            .max()
            .unwrap_or_default();
        grace + MARGIN + MARGIN
    }

    /// Whether our supervisor thread runs; reaps it if it ended behind our back.
    pub(super) fn supervising(&mut self) -> bool {
        if self.sup.as_mut().is_some_and(Running::is_alive) {
            return true;
        }
        if let Some(mut sup) = self.sup.take() {
            if let Err(e) = sup.join() {
                tracing::warn!(daemon = %self.name, "the supervisor ended: {e}");
            }
        }
        false
    }

    fn client(&self, timeout: Duration) -> Result<Client, Error> {
        let mut c = Client::connect(&self.paths.control_socket())?;
        c.set_timeout(Some(timeout))?;
        Ok(c)
    }

    pub(super) fn start(&mut self) -> Result<(), Error> {
        if self.supervising() {
            return Ok(());
        }
        // Refuse early, with the holder, when another live process runs it.
        if let Some(holder) = Lock::for_service(&self.paths.root, &self.name).read() {
            if inspect(&holder) == LockHealth::Alive {
                return Err(Error::AlreadyRunning {
                    name: self.name.clone(),
                    holder: Box::new(holder),
                });
            }
        }
        self.sup = Some(self.spawn_supervisor()?);
        match self.request_up(Command::Start {
            services: vec![self.name.clone()],
            overrides: None,
        }) {
            Ok(()) => Ok(()),
            Err(e) => {
                // A start that fails leaves nothing running.
                if let Err(stop) = self.stop() {
                    tracing::warn!(daemon = %self.name, "stopping after a failed start: {stop}");
                }
                Err(e)
            }
        }
    }

    fn spawn_supervisor(&self) -> Result<Running, Error> {
        match &self.supervisor {
            Supervisor::Thread => {
                let opts = Options {
                    spec: self.spec.clone(),
                    paths: self.paths.clone(),
                    role: None,
                    start: Vec::new(),
                    echo: None,
                    ready_fd: None,
                    autostart: false,
                    manager_socket: None,
                    init: None,
                };
                SupervisorThread::spawn(&self.name, opts).map(Running::Thread)
            }
            Supervisor::Process(program) => {
                // The other process reads its spec from a file: write what we hold (with
                // any builder overrides) next to its other files.
                let text = super::render::render(&self.spec).map_err(|why| {
                    Error::Spec(crate::spec::SpecErrors(vec![crate::spec::SpecError {
                        file: self.spec.path.clone(),
                        line: 0,
                        col: 0,
                        message: why,
                        help: Some("use Supervisor::Thread".into()),
                    }]))
                })?;
                crate::state::ensure_state_dir(&self.paths.root)
                    .map_err(|e| Error::io("cannot create the state directory", e))?;
                let file = self.paths.root.join("daemon.toml");
                write_private(&file, text.as_bytes())
                    .map_err(|e| Error::io(format!("cannot write {}", file.display()), e))?;
                SupervisorProcess::spawn(program, &file, &self.paths).map(Running::Process)
            }
        }
    }

    /// Sends a request that answers once the service is ready (or has failed) and checks
    /// the outcome.
    fn request_up(&mut self, cmd: Command) -> Result<(), Error> {
        let waited = self.ready_wait();
        let reply = match self.client(waited)?.request(cmd) {
            Ok(r) => r,
            Err(ControlError::Timeout(_)) => {
                return Err(Error::ReadyTimeout {
                    name: self.name.clone(),
                    waited,
                })
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(f) = reply.failures.first() {
            // Lost a race for the lock after our check: report the holder, not a failure.
            if let Some(holder) = Lock::for_service(&self.paths.root, &self.name).read() {
                let ours = self.sup.as_ref().and_then(Running::pid);
                if inspect(&holder) == LockHealth::Alive && Some(holder.supervisor_pid) != ours {
                    return Err(Error::AlreadyRunning {
                        name: self.name.clone(),
                        holder: Box::new(holder),
                    });
                }
            }
            return Err(Error::SpawnFailed {
                name: f.service.clone(),
                reason: f.reason.clone(),
            });
        }
        self.note(&reply);
        Ok(())
    }

    /// Remembers who answered healthy, to notice a restart later.
    fn note(&mut self, reply: &Reply) {
        if let Some(s) = reply.services.iter().find(|s| s.name == self.name) {
            self.seen = Some((s.pid, s.restarts));
        }
    }

    pub(super) fn stop(&mut self) -> Result<(), Error> {
        self.stop_within(None)
    }

    /// [`stop`](Self::stop) with a grace period overriding each `stop_timeout`.
    pub(super) fn stop_within(&mut self, grace: Option<Duration>) -> Result<(), Error> {
        self.seen = None;
        let Some(mut sup) = self.sup.take() else {
            return Ok(());
        };
        // `down` answers once every service is stopped and its lock released; the
        // supervisor closes the connection last thing before it ends.
        let wait = grace.map_or_else(|| self.stop_wait(), |g| g + MARGIN + MARGIN);
        let timeout_ms = grace.map(|g| u64::try_from(g.as_millis()).unwrap_or(u64::MAX));
        let asked = self.client(wait).and_then(|mut c| {
            c.request(Command::Down { timeout_ms })?;
            while c.recv().is_ok() {}
            Ok(())
        });
        if let Err(e) = asked {
            if sup.is_alive() {
                tracing::debug!(daemon = %self.name, "down over the socket failed ({e}); asking directly");
            }
            sup.shutdown();
        }
        sup.join()
    }

    /// Takes charge of the supervisor already running this daemon in our state dir (one a
    /// `detach` left behind, or a `proctor up -d`).
    pub(super) fn attach(&mut self) -> Result<(), Error> {
        if self.supervising() {
            return Ok(());
        }
        let not_started = || Error::NotStarted(self.name.clone());
        let mut client = match self.client(MARGIN * 5) {
            Ok(c) => c,
            Err(Error::Control(ControlError::NotRunning { .. })) => return Err(not_started()),
            Err(e) => return Err(e),
        };
        let reply = match client.request(Command::Status {
            services: vec![self.name.clone()],
        }) {
            Ok(r) => r,
            Err(ControlError::Remote(e)) if e.code == ErrorCode::UnknownService => {
                return Err(not_started())
            }
            Err(e) => return Err(e.into()),
        };
        self.sup = Some(Running::Remote {
            socket: self.paths.control_socket(),
            pid: reply.supervisor_pid,
            pidfd: crate::sys::child::pidfd_open(reply.supervisor_pid).ok(),
        });
        self.note(&reply);
        Ok(())
    }

    pub(super) fn detach(&mut self) {
        if let Some(sup) = self.sup.take() {
            sup.detach();
        }
    }

    /// The service's status as the supervisor reports it; `None` when not supervising.
    pub(super) fn service_status(&mut self) -> Result<Option<ServiceStatus>, Error> {
        if !self.supervising() {
            return Ok(None);
        }
        let reply = match self.client(MARGIN * 5) {
            Ok(mut c) => c.request(Command::Status {
                services: vec![self.name.clone()],
            }),
            Err(Error::Control(ControlError::NotRunning { .. })) => return Ok(None),
            Err(e) => return Err(e),
        };
        match reply {
            Ok(r) => Ok(r.services.into_iter().find(|s| s.name == self.name)),
            // It exited between our check and the request.
            Err(ControlError::NotRunning { .. } | ControlError::Closed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn status(&mut self) -> Result<DaemonStatus, Error> {
        let s = self.service_status()?;
        let supervisor_pid = self.sup.as_ref().and_then(Running::pid);
        Ok(DaemonStatus::from_service(s, supervisor_pid))
    }

    pub(super) fn events(&mut self) -> Result<Events, Error> {
        if !self.supervising() {
            return Err(Error::NotStarted(self.name.clone()));
        }
        let mut c = Client::connect(&self.paths.control_socket())?;
        c.send(Command::Events)?;
        Ok(Events::new(c))
    }

    pub(super) fn ensure_running(&mut self) -> Result<(), Error> {
        let Some(s) = self.service_status()? else {
            // Never started, stopped, or the supervisor was taken down from outside.
            return self.start();
        };
        let services = vec![self.name.clone()];
        match s.state {
            State::Running if s.ready && s.probe_error.is_none() => {
                self.seen = Some((s.pid, s.restarts));
                Ok(())
            }
            // Running but failing its liveness probe: do not wait for the verdict.
            State::Running if s.ready => self.request_up(Command::Restart { services }),
            State::Running | State::Starting | State::Waiting => {
                self.request_up(Command::Wait { services })
            }
            State::Backoff | State::Stopping | State::Stopped | State::Exited | State::Failed => {
                self.request_up(Command::Start {
                    services,
                    overrides: None,
                })
            }
        }
    }

    /// After a failed call: recovers the daemon if it is the cause. Returns whether the call
    /// is worth retrying (the daemon was dead, unhealthy or restarted since last seen).
    pub(super) fn recover(&mut self) -> Result<bool, Error> {
        let seen = self.seen;
        let Some(s) = self.service_status()? else {
            self.start()?;
            return Ok(true);
        };
        let healthy = s.state == State::Running && s.ready && s.probe_error.is_none();
        if healthy {
            let same = seen == Some((s.pid, s.restarts));
            self.seen = Some((s.pid, s.restarts));
            // Restarted by the supervisor since we last looked: the failure was likely the
            // old process dying; retry against the new one.
            return Ok(!same);
        }
        self.ensure_running()?;
        Ok(true)
    }
}

/// Writes `path` owner-only (0600): the spec may carry secrets in its environment.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = crate::sys::fs::open_nofollow(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600),
        path,
    )?;
    f.write_all(bytes)
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(daemon = %self.name, "stopping on drop: {e}");
        }
    }
}
