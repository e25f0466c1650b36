//! The project specification: `proctor.toml` parsed into typed, validated structs.
//!
//! [`Spec::load`] reads a file and returns every problem at once as [`SpecErrors`], each
//! naming `file:line:col` and what was expected. The structs here are plain data, so the
//! library can also build a [`Service`] in code (see [`Service::new`]). Whichever way a
//! service is made (a file, [`crate::DaemonBuilder`], `proctor run`), [`Service::validate`]
//! holds the rules its values must follow, so all three accept and refuse the same things
//! in the same words.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use rustix::process::Signal;

pub(crate) mod adhoc;
mod backends;
mod depends;
pub(crate) mod diff;
mod error;
mod expand;
mod export;
mod identity;
pub(crate) mod interpolate;
mod locate;
mod names;
mod parse;
mod pattern;
mod probe;
mod resolved;
mod schedule;
mod sections;
mod service;
mod validate;
mod values;
pub(crate) mod watch;

pub use backends::{Backend, BackendKind, ContainerSettings, Runtime};
pub use error::{SpecError, SpecErrors};
pub use expand::{Replica, MAX_REPLICAS};
pub use export::{ExportSettings, PortMap, ServiceExport};
pub use identity::{Identity, Rlimit, RESOURCES};
pub use names::{check_name, names, usable_name};
pub use pattern::LogPattern;
pub use schedule::Schedule;
pub use validate::{Invalid, Seg};
pub use watch::Watch;

/// The signal named `s`: `HUP`, `SIGUSR1` (any case), or a number such as `10`.
pub fn signal_from_str(s: &str) -> Option<Signal> {
    values::parse_signal(s)
}

/// The file name proctor looks for when no `--file` is given.
pub const FILE_NAME: &str = "proctor.toml";

/// A whole project: the `[project]` table and every `[service.NAME]` table.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Absolute path of the spec file (empty for specs built in code).
    pub path: PathBuf,
    /// Directory that relative paths in the spec are resolved against.
    pub dir: PathBuf,
    /// Project-level settings.
    pub project: Project,
    /// Services in the order the file declares them.
    pub services: Vec<Service>,
    /// The `[export]` table (read by `proctor export` only).
    pub export: ExportSettings,
}

/// The `[project]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Project name; defaults to the spec directory's name.
    pub name: String,
    /// Where proctor keeps locks, logs and the control socket (absolute), if set.
    pub state_dir: Option<PathBuf>,
    /// Roles a service's `autostart` may name; empty when none are declared.
    pub roles: Vec<String>,
    /// Backend used by services that do not name one.
    pub backend: BackendKind,
    /// tmux executable for the tmux backend (default `tmux`).
    pub tmux_binary: Option<String>,
    /// Container runtime for container services that do not name one.
    pub container_runtime: Option<Runtime>,
    /// How the supervisor keeps hold of every process a service starts.
    pub containment: Containment,
    /// Where the supervisor serves Prometheus metrics (`GET /metrics`); off when unset.
    pub metrics: Option<std::net::SocketAddr>,
}

/// `[project] containment`: how a supervisor owns every process a service starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Containment {
    /// A cgroup per service where the supervisor can write one, else `subreaper` (default).
    #[default]
    Auto,
    /// A cgroup per service; refuse to start without one.
    Cgroup,
    /// The supervisor adopts and reaps every orphan of its services, and stops escaped
    /// processes with their service.
    Subreaper,
    /// The service's process group only (what escapes it is not followed).
    ProcessGroup,
}

impl Containment {
    /// The name as written in the spec and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Containment::Auto => "auto",
            Containment::Cgroup => "cgroup",
            Containment::Subreaper => "subreaper",
            Containment::ProcessGroup => "process-group",
        }
    }
}

/// One `[service.NAME]` table, with defaults applied and paths made absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Validated name (`[A-Za-z0-9_.-]`, 1..=64 chars, not starting with `.` or `-`).
    pub name: String,
    /// The argv to execute; a `shell = true` string becomes `["sh", "-c", s]`.
    /// May be empty only for container services (the image's default command).
    pub command: Vec<String>,
    /// Working directory (absolute); defaults to the spec's directory.
    pub cwd: PathBuf,
    /// Environment added on top of proctor's own: `env_file`s in order, then `env`.
    pub env: BTreeMap<String, String>,
    /// Whether `up` starts the service, possibly only for some roles.
    pub autostart: Autostart,
    /// What to do when the service exits.
    pub restart: RestartPolicy,
    /// Delay between restarts.
    pub backoff: Backoff,
    /// Restart storm guard.
    pub start_limit: StartLimit,
    /// Signal sent to the process group to stop the service.
    pub stop_signal: Signal,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub stop_timeout: Duration,
    /// Readiness probe; `None` means ready once spawned.
    pub ready: Option<Probe>,
    /// Liveness probe; `None` means no liveness checking.
    pub live: Option<Probe>,
    /// Services that must reach a condition before this one starts.
    pub depends_on: Vec<Dependency>,
    /// Log capture and rotation settings.
    pub logs: LogSettings,
    /// The service's own state directory, if any.
    pub storage: Option<Storage>,
    /// Where the service runs.
    pub backend: Backend,
    /// Files the service reads its configuration from (absolute): a reload that finds
    /// only their content changed sends `reload_signal` if set, else restarts the service.
    pub reload_on: Vec<PathBuf>,
    /// The signal that makes the service re-read `reload_on` itself (e.g. HUP for nginx).
    pub reload_signal: Option<Signal>,
    /// Who it runs as and within which limits.
    pub identity: Identity,
    /// A process or tmux service's `image` and `ports`, read by `proctor export` only.
    pub export: ServiceExport,
    /// Files whose changes restart the service (and its dependents).
    pub watch: Option<Watch>,
    /// When the supervisor runs it as a job; a scheduled service is not started by `up`.
    pub schedule: Option<Schedule>,
    /// Which instance of a `replicas = N` service this is (`web.1` of `web`), if one.
    pub replica: Option<Replica>,
}

/// `autostart = true | false | ["role", …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Autostart {
    /// Started by every `up` (true) or never automatically (false).
    Always(bool),
    /// Started only by `up --role R` for one of these roles.
    Roles(Vec<String>),
}

/// `restart = "no" | "on-failure" | "always"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart.
    No,
    /// Restart after a non-zero exit or a death by signal.
    OnFailure,
    /// Restart after any exit that was not requested.
    Always,
}

/// `backoff = { initial, max, factor }`: exponential delay between restarts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first restart (default 100ms).
    pub initial: Duration,
    /// Upper bound on the delay (default 30s); running longer than this resets it.
    pub max: Duration,
    /// Growth factor per consecutive restart (default 2.0).
    pub factor: f64,
}

/// `start_limit = { burst, interval }`: more than `burst` restarts within `interval` → failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimit {
    /// Restarts allowed within `interval` (default 5).
    pub burst: u32,
    /// The sliding window (default 60s).
    pub interval: Duration,
}

/// A readiness (`ready = {…}`) or liveness (`live = {…}`) probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// What is checked.
    pub kind: ProbeKind,
    /// Time between attempts (default 1s).
    pub interval: Duration,
    /// Time limit of one attempt (default 1s).
    pub timeout: Duration,
    /// Wait before the first attempt (default 0).
    pub initial_delay: Duration,
    /// Readiness only: give up after this long (default 60s).
    pub deadline: Duration,
    /// Liveness only: consecutive failures that trigger a restart (default 3).
    pub failures: u32,
    /// Notify only: restart when no `WATCHDOG=1` arrives within this period.
    pub watchdog: Option<Duration>,
}

/// The check a probe performs.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    /// `tcp = "host:port"`: a connection succeeds.
    Tcp(String),
    /// `http = "http://…"`: a GET answers 2xx, or one of `status` when given.
    Http {
        /// The URL (http only).
        url: String,
        /// Accepted status codes; empty means any 2xx.
        status: Vec<u16>,
    },
    /// `unix = "/path"`: a connection to the unix socket succeeds (absolute path).
    Unix(PathBuf),
    /// `exec = ["cmd", …]`: the command exits 0.
    Exec(Vec<String>),
    /// `log = "regex"`: a line of the service's output matches (readiness only).
    Log(LogPattern),
    /// `notify = true`: the service sends `READY=1` on `NOTIFY_SOCKET` (readiness only).
    Notify,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Name of the service depended on.
    pub name: String,
    /// What it must reach first.
    pub condition: Condition,
}

/// A dependency condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The dependency has been spawned.
    Started,
    /// The dependency passed its readiness probe (the default).
    Ready,
    /// The dependency exited with status 0.
    Completed,
}

/// `logs = { max_size, keep, max_line }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// Rotate when the file reaches this many bytes (default 10 MB).
    pub max_size: u64,
    /// Rotated files kept (default 5).
    pub keep: u32,
    /// Longer lines are split into marked pieces (default 64 KiB).
    pub max_line: usize,
}

/// The service's own state directory, passed as `PROCTOR_STATE_DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A fresh private temp directory per start, always removed after stop.
    Sandboxed,
    /// A persistent directory (absolute), removed at stop only if `keep_on_exit` is false.
    Persistent {
        /// The directory.
        path: PathBuf,
        /// Keep it after the service stops (default true).
        keep_on_exit: bool,
    },
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
        }
    }
}

impl Default for StartLimit {
    fn default() -> Self {
        Self {
            burst: 5,
            interval: Duration::from_secs(60),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            max_size: 10_000_000,
            keep: 5,
            max_line: 64 * 1024,
        }
    }
}

impl Probe {
    /// A probe of `kind` with the documented defaults.
    pub fn new(kind: ProbeKind) -> Self {
        Self {
            kind,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            initial_delay: Duration::ZERO,
            deadline: Duration::from_secs(60),
            failures: 3,
            watchdog: None,
        }
    }
}

impl Project {
    /// A project called `name` with every other setting at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            state_dir: None,
            roles: Vec::new(),
            backend: BackendKind::Process,
            tmux_binary: None,
            container_runtime: None,
            containment: Containment::Auto,
            metrics: None,
        }
    }
}

impl Service {
    /// A service with every setting at its default, running `command` in `cwd`.
    pub fn new(name: impl Into<String>, command: Vec<String>, cwd: PathBuf) -> Self {
        Self {
            name: name.into(),
            command,
            cwd,
            env: BTreeMap::new(),
            autostart: Autostart::Always(true),
            restart: RestartPolicy::OnFailure,
            backoff: Backoff::default(),
            start_limit: StartLimit::default(),
            stop_signal: Signal::TERM,
            stop_timeout: Duration::from_secs(10),
            ready: None,
            live: None,
            depends_on: Vec::new(),
            logs: LogSettings::default(),
            storage: None,
            backend: Backend::Process,
            reload_on: Vec::new(),
            reload_signal: None,
            identity: Identity::default(),
            export: ServiceExport::default(),
            watch: None,
            schedule: None,
            replica: None,
        }
    }

    /// Whether `up` with `role` (or none) starts this service.
    pub fn autostarts(&self, role: Option<&str>) -> bool {
        // A job runs at its times, not as a daemon (see [`Service::schedules`]).
        self.schedule.is_none() && self.schedules(role)
    }

    /// Whether a supervisor started with `role` keeps this service's schedule: `autostart`
    /// selects the jobs as it does the daemons.
    pub fn schedules(&self, role: Option<&str>) -> bool {
        match (&self.autostart, role) {
            (Autostart::Always(b), _) => *b,
            (Autostart::Roles(roles), Some(r)) => roles.iter().any(|x| x == r),
            (Autostart::Roles(_), None) => false,
        }
    }
}

impl Spec {
    /// Reads and validates the spec at `path`, returning every error found.
    pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
        parse::load(path, &BTreeMap::new())
    }

    /// Parses `text` as if read from `path` (used by `load` and by tests).
    pub fn parse_str(text: &str, path: &Path) -> Result<Spec, SpecErrors> {
        parse::parse_str(text, path, &BTreeMap::new())
    }

    /// Reads the spec at `path` with the replica count of each service named in `replicas`
    /// replaced (what `proctor scale` asks for).
    pub fn load_scaled(path: &Path, replicas: &BTreeMap<String, u32>) -> Result<Spec, SpecErrors> {
        parse::load(path, replicas)
    }

    /// The spec at `path` as proctor reads it, as TOML: templates merged, replicas split
    /// into their instances, `${VAR}` interpolated (`proctor validate --print`).
    pub fn resolved_toml(path: &Path) -> Result<String, SpecErrors> {
        resolved::resolved(path)
    }

    /// The services of the group `name` (a `replicas = N` service), in index order.
    pub fn group(&self, name: &str) -> Vec<&Service> {
        self.services
            .iter()
            .filter(|s| s.replica.as_ref().is_some_and(|r| r.group == name))
            .collect()
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The project's state directory (locks, logs, control socket): `$PROCTOR_HOME`, else
    /// `[project] state_dir`, else one under `$XDG_STATE_HOME/proctor`.
    pub fn state_dir(&self) -> PathBuf {
        crate::state::project_dir(self)
    }
}

/// Finds `proctor.toml` in `start` or its nearest ancestor that has one.
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate_tests;
