//! Arguments of the verbs that write a project's files or its boot service: `init`,
//! `import`, `install` and `uninstall` (re-exported by [`super::args`]).

use std::path::PathBuf;

use clap::Args;

use super::argvalues::parse_env;

/// `init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The service whose end ends the container, and whose status is its exit status
    /// (default: the first service that autostarts).
    #[arg(long, value_name = "NAME")]
    pub main: Option<String>,
    /// Start the services whose autostart lists this role.
    #[arg(long)]
    pub role: Option<String>,
    /// The command to run as the main service (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// Write a commented starter proctor.toml here instead (also what plain `proctor init`
    /// does where there is no spec, outside a container).
    #[arg(long, conflicts_with_all = ["main", "role", "command"])]
    pub new: bool,
}

/// `import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    pub source: PathBuf,
    /// Print the proctor.toml to stdout instead of writing it.
    #[arg(long, conflicts_with_all = ["out", "force"])]
    pub print: bool,
    /// Where to write it (a file, or a directory for its proctor.toml; default: `--file`,
    /// else proctor.toml next to the source).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Overwrite an existing proctor.toml.
    #[arg(long)]
    pub force: bool,
    /// The source's format, when its name and content do not tell: compose, procfile,
    /// supervisord, pm2 or sessions.
    #[arg(long, value_name = "FORMAT", value_parser = clap::value_parser!(crate::import::Format))]
    pub from: Option<crate::import::Format>,
}

/// `--user` / `--system`.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// A system service (/etc/systemd/system, /Library/LaunchDaemons); needs root.
    #[arg(long, conflicts_with = "user")]
    pub system: bool,
    /// A service of the current user's service manager (the default, except for Windows).
    #[arg(long)]
    pub user: bool,
}

/// `install` arguments.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Whose service manager.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Run `proctor up --role ROLE` at boot.
    #[arg(long)]
    pub role: Option<String>,
    /// Write the rendering to stdout and touch nothing.
    #[arg(long)]
    pub print: bool,
    /// With --print: JSON {"target","scope","name","content"} instead of the file.
    #[arg(long, requires = "print")]
    pub json: bool,
    /// Service name (default: proctor-PROJECT[-ROLE]; launchd: proctor.PROJECT[.ROLE]).
    #[arg(long)]
    pub name: Option<String>,
    /// Init system to render for (default: this machine's; others only with --print).
    #[arg(long, value_enum)]
    pub target: Option<crate::install::Target>,
    /// With --system: the account the service runs as.
    #[arg(long, value_name = "USER")]
    pub user_name: Option<String>,
    /// Extra environment for `proctor up` (repeatable). PATH, PROCTOR_HOME and
    /// XDG_STATE_HOME are taken from this shell when set.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

/// `uninstall` arguments.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Whose service manager.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The role given to `install` (picks the default name).
    #[arg(long)]
    pub role: Option<String>,
    /// The service name given to `install` (default: derived from the spec and role).
    #[arg(long)]
    pub name: Option<String>,
}
