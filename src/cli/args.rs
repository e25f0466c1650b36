//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::argvalues::{parse_duration, parse_env, parse_when, service_names};
pub use super::setup_args::{ImportArgs, InitArgs, InstallArgs, ScopeArgs, UninstallArgs};

/// How long verbs that wait for services wait by default.
const WAIT_DEFAULT: &str = "120s";

/// Exit codes, also shown in `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (also `stop` and `down` with nothing running: already down is success)
  1  failure: the spec is invalid, a service failed, no supervisor is running, a signal
     for a service that is not running, or an error
  2  usage error (unknown flag, missing argument)
  3  `status`: no supervisor is running (every service is shown as stopped, with
     supervisor_pid 0)

A spec that became invalid while its project runs does not lock you out: status, logs,
stop, down, wait and signal reach the running supervisor and warn with file:line:col.";

/// proctor: declare daemons in proctor.toml, start them once, prove they are ready, keep
/// them alive, capture their logs, stop them cleanly.
#[derive(Debug, Parser)]
#[command(name = "proctor", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The spec file (default: proctor.toml in this directory or the nearest parent).
    /// `--file` works before or after the verb; the short `-f` only before it, since
    /// `logs -f` means follow.
    #[arg(long = "file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Short for `--file`, before the verb: `proctor -f FILE up`.
    #[arg(short = 'f', value_name = "FILE", conflicts_with = "file")]
    pub file_short: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Start the supervisor and the autostart services (or the ones named).
    Up(UpArgs),
    /// Stop every service and the supervisor (none running: says so, exit 0).
    Down(DownArgs),
    /// Start services (and what they depend on); starts a supervisor if none runs. A
    /// service added to proctor.toml since the supervisor started can be started by name.
    Start(StartArgs),
    /// Stop services (and what depends on them); one already stopped is success.
    Stop(StopArgs),
    /// Restart services with their definitions as proctor.toml has them now (a reload of
    /// just those services).
    Restart(NamesArgs),
    /// Show the state of services; with no supervisor running, every service of the spec
    /// as stopped, and exit 3.
    Status(StatusArgs),
    /// Wait until services are ready (exit 0) or failed / timed out (exit 1).
    Wait(WaitArgs),
    /// Show service output: the last lines, merged by time; -f follows new lines.
    Logs(LogsArgs),
    /// List lifecycle locks: holder, and whether it is alive, stale, foreign or orphaned.
    Lock(LockArgs),
    /// Remove a service's lifecycle lock (refuses a live holder without --force).
    Unlock(UnlockArgs),
    /// Attach the terminal to a tmux service's session, or a shell in a container service.
    Attach(AttachArgs),
    /// Start an ad-hoc service without editing proctor.toml (outside a project: under the
    /// per-user default project).
    Run(RunArgs),
    /// Stop an ad-hoc service started with `run` and forget it.
    Rm(RmArgs),
    /// Send a signal to services' whole process groups (e.g. USR1 to reopen logs, HUP to
    /// reload a daemon's own configuration); they keep running. A container service's
    /// main process gets it through its runtime (`kill --signal`). Each service named must
    /// be running.
    #[command(override_usage = "proctor signal NAME... SIG")]
    Signal(SignalArgs),
    /// Re-read proctor.toml and apply what changed to the running project: start what was
    /// added, restart what changed, stop what was removed, leave the rest running.
    Reload(ReloadArgs),
    /// Run N replicas of a `replicas = N` service: start new ones, stop the surplus, leave
    /// the rest running. Holds until `reload`, which goes back to the spec's count.
    Scale(ScaleArgs),
    /// Check a spec file and report every error; `--print` shows it as proctor reads it
    /// (templates merged, replicas split, `${VAR}` interpolated). Alias: `config`.
    #[command(visible_alias = "config")]
    Validate(ValidateArgs),
    /// A live dashboard: every service's state, resources and output; act on them (? lists
    /// the keys).
    Top,
    /// Start the project at boot: write a systemd unit (or launchd plist) running `proctor up`.
    Install(InstallArgs),
    /// Stop, disable and remove a boot service written by `install` (and only what it wrote).
    Uninstall(UninstallArgs),
    /// Run as a container's entrypoint (PID 1): reap every orphan, pass HUP on, stop
    /// everything gracefully on TERM, and exit with the main service's status. With
    /// `-- CMD…`, CMD is the one (main) service; else the spec's services run. With `--new`
    /// (or with no spec around, outside a container): write a starter proctor.toml.
    Init(InitArgs),
    /// Write a proctor.toml from a docker compose file, a Procfile (and its .env), a
    /// supervisord .conf, a pm2 ecosystem.config.json or an ops.sessions YAML file. What
    /// cannot be carried over is kept as `# not imported:` comments and warned about.
    Import(ImportArgs),
    /// Print a shell completion script: `proctor completions bash > /etc/bash_completion.d/proctor`
    /// (also zsh, fish, powershell, elvish). It completes verbs, flags and the service
    /// names of the spec in the current directory (by asking `proctor`, which must be on
    /// PATH).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
        /// clap's static script instead: verbs and flags only, no service names.
        #[arg(long = "static")]
        fixed: bool,
    },
    /// Print the manual page (roff): `proctor man | man -l -`.
    Man,
    /// Render the project for another engine: Kubernetes, compose or systemd units.
    Export(crate::cli::commands::export::ExportArgs),
    /// Run the supervisor (used by `up -d` and boot units).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
}

impl Cli {
    /// The process's arguments. `status [--json] [NAME…]` (with `--file`), the call
    /// scripts and prompts make most often, is read directly ([`super::quick`]): building
    /// clap's whole command tree (every verb and flag) costs more than the rest of the
    /// call. Everything else goes through clap.
    pub fn from_env() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        super::quick::status(&args).unwrap_or_else(Cli::parse)
    }
}

impl Cmd {
    /// Whether the verb was asked for JSON output: a failure is then reported as JSON
    /// on stdout too ([`JSON_ERROR`]).
    pub fn wants_json(&self) -> bool {
        match self {
            Cmd::Status(a) => a.json,
            Cmd::Wait(a) => a.json,
            Cmd::Logs(a) => a.json,
            Cmd::Lock(a) => a.json,
            Cmd::Reload(a) => a.json,
            Cmd::Scale(a) => a.json,
            Cmd::Validate(a) => a.json,
            Cmd::Install(a) => a.json,
            _ => false,
        }
    }
}

/// The shape of every `--json` failure, on stdout, with a non-zero exit:
/// `{"ok": false, "error": {"message": "…"}}` (a spec's errors, from `validate --json`,
/// come as `{"ok": false, "file", "errors": [{"file","line","col","message","help"}]}`).
pub const JSON_ERROR: &str = r#"{"ok": false, "error": {"message": "…"}}"#;

/// `up` arguments.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start (default: those with autostart for the role).
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Run the supervisor in the background and return once the services are ready.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Start the services whose autostart lists this role.
    #[arg(long)]
    pub role: Option<String>,
    /// Give up waiting for the services to be ready after this long (e.g. 30s), naming
    /// those still starting and why.
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
}

/// `down` arguments.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Grace period before SIGKILL, overriding each service's stop_timeout (e.g. 5s).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `start` and `restart` arguments.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Service names.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Every service.
    #[arg(long)]
    pub all: bool,
    /// Give up waiting for them to be ready after this long (e.g. 30s), naming those still
    /// starting and why.
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
}

/// `start` arguments.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Service names.
    #[arg(required = true)]
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Give up waiting for them to be ready after this long (e.g. 30s), naming those still
    /// starting and why.
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
    /// For this start of one service: an environment variable KEY=VALUE (repeatable). Its
    /// restarts keep it until a reload.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// For this start of one service: another working directory.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// For this start of one service: arguments appended to its command (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// `stop` arguments.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Service names.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Every service (the supervisor keeps running; `down` stops it too).
    #[arg(long)]
    pub all: bool,
    /// Grace period before SIGKILL, overriding stop_timeout (e.g. 500ms).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Services to show (default: all).
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Print JSON: {"project", "services": [{"name","state","pid","restarts","uptime_ms","last_exit",…}]}.
    #[arg(long)]
    pub json: bool,
    /// Look the one NAME up in every backend (tmux, podman, docker) instead of asking the
    /// supervisor: fails if none or several hold it.
    #[arg(long)]
    pub all_backends: bool,
}

/// `attach` arguments.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The service.
    #[arg(add = service_names())]
    pub service: String,
}

/// Which backend `run` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// A native process (the default unless `[project] backend` says otherwise).
    Process,
    /// A tmux session, attachable with `proctor attach`.
    Tmux,
    /// A podman or docker container (needs --image).
    Container,
}

/// Restart policy for `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RestartArg {
    /// Never restart.
    No,
    /// Restart after a failure (the default).
    OnFailure,
    /// Restart after any exit.
    Always,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The new service's name.
    pub name: String,
    /// Where it runs (default: the project's backend).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Container image (implies --backend container).
    #[arg(long)]
    pub image: Option<String>,
    /// Restart policy.
    #[arg(long, value_enum)]
    pub restart: Option<RestartArg>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory (default: the current directory).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Give up waiting for it to be ready after this long (e.g. 30s).
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
    /// The command and its arguments, after `--` (optional for containers).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `signal` arguments.
#[derive(Debug, Args)]
pub struct SignalArgs {
    /// Services, then the signal: a name (USR1, SIGHUP) or a number.
    #[arg(required = true, num_args = 2.., value_name = "WORDS")]
    #[arg(add = service_names())]
    pub words: Vec<String>,
}

/// `reload` arguments.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Only print what would change (`+` added, `~` changed, `-` removed); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Give up waiting for what was started or restarted after this long.
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
}

/// `rm` arguments.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Ad-hoc services to stop and forget.
    #[arg(required = true)]
    #[arg(add = service_names())]
    pub services: Vec<String>,
}

/// `wait` arguments.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Services to wait for.
    #[arg(required = true)]
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Give up after this long (e.g. 30s), naming the services still starting and why.
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
    /// Print the reply as JSON: {"services":[…],"failures":[{"service","reason"}],…}.
    #[arg(long)]
    pub json: bool,
}

/// `supervise` arguments.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// Role selecting the autostart set.
    #[arg(long)]
    pub role: Option<String>,
    /// Start nothing; wait for requests.
    #[arg(long)]
    pub start_nothing: bool,
    /// Supervise the per-user default project (ad-hoc services started outside a project).
    #[arg(long)]
    pub default_project: bool,
}

/// Which output stream to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamArg {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// `logs` arguments.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services to show (default: all).
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// How many lines per service.
    #[arg(short = 'n', long = "lines", default_value_t = 100)]
    pub lines: usize,
    /// Keep printing new lines until interrupted (needs a running supervisor; waits for
    /// it across a restart).
    #[arg(short = 'f', long, conflicts_with = "until")]
    pub follow: bool,
    /// Only lines from this time on: an age (10m, 2h) or a time (2026-12-02T10:00:00Z,
    /// `2026-12-02 10:00:00`, 2026-12-02; UTC unless an offset is given).
    #[arg(long, value_parser = parse_when, value_name = "WHEN")]
    pub since: Option<std::time::SystemTime>,
    /// Only lines before this time: an age or a time, as for --since.
    #[arg(long, value_parser = parse_when, value_name = "WHEN")]
    pub until: Option<std::time::SystemTime>,
    /// Only lines matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<regex::Regex>,
    /// Only this stream.
    #[arg(long, value_enum)]
    pub stream: Option<StreamArg>,
    /// Do not prefix lines with `NAME |`.
    #[arg(long)]
    pub no_prefix: bool,
    /// One JSON object per line: {"service","time","stream","line"}.
    #[arg(long)]
    pub json: bool,
}

/// `scale` arguments.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The service with `replicas` (e.g. `web` for web.0, web.1, …).
    #[arg(add = service_names())]
    pub service: String,
    /// How many replicas to run.
    pub replicas: u32,
    /// Give up waiting for the new replicas to be ready after this long.
    #[arg(long, value_parser = parse_duration, default_value = WAIT_DEFAULT)]
    pub timeout: std::time::Duration,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `validate` arguments.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print the spec as resolved: templates merged, replicas split, variables interpolated.
    #[arg(long)]
    pub print: bool,
    /// Print JSON: {"ok":true,"file","services":[…]} or {"ok":false,"file","errors":[{"file","line","col","message","help"}]}.
    #[arg(long, conflicts_with = "print")]
    pub json: bool,
}

/// `lock` arguments.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Services to show (default: all with a lock file).
    #[arg(add = service_names())]
    pub services: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `unlock` arguments.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The service whose lock to remove.
    #[arg(add = service_names())]
    pub service: String,
    /// Remove it even if its holder is alive.
    #[arg(long)]
    pub force: bool,
}
