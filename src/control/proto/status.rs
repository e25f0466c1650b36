//! What the supervisor reports: the services' view (`status` and every waiting command),
//! state changes, log lines. These types are the wire's own: the supervisor converts its
//! internal state into them, so renaming an internal field cannot change the protocol.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// A service's lifecycle state, as the protocol (and the library's API) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not running and not wanted.
    Stopped,
    /// Wanted, but waiting for its dependencies.
    Waiting,
    /// Spawned, not yet ready.
    Starting,
    /// Spawned and ready.
    Running,
    /// Exited; a restart is scheduled.
    Backoff,
    /// A stop is in progress.
    Stopping,
    /// Exited successfully and not restarted.
    Exited,
    /// Gave up: start limit hit, a failed exit without restart, or a failed dependency.
    Failed,
}

impl State {
    /// Whether a process may exist in this state.
    pub fn is_active(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Stopping)
    }

    /// The state's name on the wire and in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a service's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Exit code, when it exited on its own.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
    /// A stop timed out and proctor escalated to SIGKILL.
    pub timed_out: bool,
    /// The start itself failed (e.g. program not found); `code` and `signal` are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_error: Option<String>,
    /// When it ended.
    #[serde(with = "super::rfc3339")]
    pub at: SystemTime,
}

impl Exit {
    /// Whether this counts as success: exit code 0, and not after a stop timed out.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// A short human description (`exited 1`, `killed by SIGTERM`, `stop timed out, killed
    /// by SIGKILL`), naming signals with `signal_name` (signal numbers are the platform's,
    /// and this module knows no platform).
    pub fn describe_with(&self, signal_name: impl Fn(i32) -> String) -> String {
        if let Some(e) = &self.spawn_error {
            return format!("failed to start: {e}");
        }
        let base = match (self.code, self.signal) {
            (Some(c), _) => format!("exited {c}"),
            (None, Some(s)) => format!("killed by SIG{}", signal_name(s)),
            (None, None) => "ended".to_string(),
        };
        if self.timed_out {
            format!("stop timed out, {base}")
        } else {
            base
        }
    }
}

/// The answer to every non-streaming command: the project and its services.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Reply {
    /// Project name.
    pub project: String,
    /// Role the supervisor was started with.
    #[serde(default)]
    pub role: Option<String>,
    /// Supervisor pid.
    #[serde(default)]
    pub supervisor_pid: u32,
    /// Services concerned (all for `status` without names).
    pub services: Vec<ServiceStatus>,
    /// Services that did not reach what was asked, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// What a `reload` changed (or, with `dry_run`, would change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanStep>,
}

/// One service's part of a reload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanStep {
    /// Service name.
    pub service: String,
    /// What happens to it.
    pub action: PlanAction,
    /// Why: the fields that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a reload does to one service.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Added, and started (its autostart says so).
    Start,
    /// Added, not started (its autostart does not say so).
    Add,
    /// Changed in what its process is made of: restarted with the new definition.
    Restart,
    /// Changed, and not running: the new definition applies at its next start.
    Update,
    /// Changed only in what the supervisor does with it: applied to the running process.
    Apply,
    /// Only its `reload_on` files changed: sent its `reload_signal` to re-read them.
    Signal,
    /// Removed while running: stopped and forgotten.
    Stop,
    /// Removed while not running: forgotten.
    Remove,
}

impl PlanAction {
    /// The mark `reload --dry-run` shows: `+` added, `~` changed, `-` removed.
    pub fn mark(self) -> char {
        match self {
            PlanAction::Start | PlanAction::Add => '+',
            PlanAction::Restart | PlanAction::Update | PlanAction::Apply | PlanAction::Signal => {
                '~'
            }
            PlanAction::Stop | PlanAction::Remove => '-',
        }
    }

    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Start => "start",
            PlanAction::Add => "add",
            PlanAction::Restart => "restart",
            PlanAction::Update => "update",
            PlanAction::Apply => "apply",
            PlanAction::Signal => "signal",
            PlanAction::Stop => "stop",
            PlanAction::Remove => "remove",
        }
    }
}

/// A service that did not reach the requested condition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// Service name.
    pub service: String,
    /// Why.
    pub reason: String,
}

/// One service as `status --json` shows it. `name`, `state`, `pid`, `restarts`,
/// `uptime_ms` and `last_exit` are a stable contract (always present, `null` when unset);
/// other keys may be added, and optional ones are left out when unset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// For a replica (`web.1`), the `replicas = N` service it is one of (`web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Lifecycle state.
    pub state: State,
    /// Main process id while running.
    pub pid: Option<u32>,
    /// Passed its readiness probe since the last start.
    pub ready: bool,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// Milliseconds since the current process started (0 when not running).
    pub uptime_ms: u64,
    /// How the previous run ended.
    pub last_exit: Option<Exit>,
    /// When the state last changed.
    #[serde(with = "super::rfc3339")]
    pub since: SystemTime,
    /// Why it is waiting, failed, or restarting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds until the scheduled restart (state `backoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_restart_ms: Option<u64>,
    /// The backend running it.
    #[serde(default)]
    pub backend: String,
    /// The last log write error, while writing fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// The last failed probe attempt ("not ready: …"), cleared when a probe passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
    /// Status text the service sent with `STATUS=` (notify protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// Main pid the service announced with `MAINPID=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    /// How the supervisor keeps hold of the service's processes: `cgroup`, `subreaper`,
    /// `process-group`, or `container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containment: Option<String>,
    /// CPU use of the service's whole tree, in percent of one CPU: since the previous
    /// status call, or on average since it started on the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// Memory of the service's whole tree in bytes: the cgroup's `memory.current` where
    /// there is one, else the summed RSS of its processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The service's state directory (`PROCTOR_STATE_DIR`), while it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_dir: Option<PathBuf>,
    /// The tmux session of a running tmux service (on the project's private server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_session: Option<String>,
    /// When a scheduled service (`schedule = …`) runs next, while its schedule is kept.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::rfc3339::option"
    )]
    pub next_run: Option<SystemTime>,
    /// The container name of a running container service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The (short) container id, once the runtime has reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
}

/// A log record streamed by `follow`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    /// Service name.
    pub service: String,
    /// The raw record (`TIMESTAMP STREAM LINE`), lossily decoded as UTF-8.
    pub record: String,
}

/// A state change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// When it happened.
    #[serde(with = "super::rfc3339")]
    pub at: SystemTime,
    /// Service name.
    pub service: String,
    /// New state.
    pub state: State,
    /// Pid, if running.
    pub pid: Option<u32>,
    /// Why, when there is a reason.
    #[serde(default)]
    pub reason: Option<String>,
}
