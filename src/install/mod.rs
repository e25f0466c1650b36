//! Start at boot: render and install a service that runs `proctor up` for a project.
//!
//! The init system becomes the supervisor's supervisor: the boot service runs
//! `proctor up --file <absolute spec> [--role R]` in the foreground, and proctor's supervisor
//! tells systemd it is ready (`READY=1`) once the autostart services are.
//!
//! Rendering is pure — a [`Boot`] in, text out ([`render`]) — and works for every [`Target`]
//! on every OS, so `--print` can show a launchd plist on Linux. [`install`] and
//! [`uninstall`] write files only for the host's native target, and record what they wrote
//! in a [`Manifest`] so uninstall removes exactly that.
//!
//! # Layout
//! - `boot.rs`: [`Boot`], the renderers' input, built and checked from a spec.
//! - `systemd.rs`, `launchd.rs`, `windows.rs`: one pure renderer each.
//! - `host.rs`: where files go on this machine and whether systemd runs ([`Host`]).
//! - `manifest.rs`: the record of one installation.
//! - `apply.rs`: [`install`] and [`uninstall`].

use std::path::PathBuf;

mod apply;
mod boot;
mod host;
mod launchd;
mod manifest;
pub(crate) mod systemd;
mod windows;

pub use apply::{install, uninstall, Outcome};
pub use boot::{Boot, Request};
pub use host::Host;
pub use manifest::{Manifest, SCHEMA_VERSION};

/// The init system a boot service is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A systemd unit (Linux).
    Systemd,
    /// A launchd LaunchAgent or LaunchDaemon plist (macOS).
    Launchd,
    /// A PowerShell script registering a Windows service (printed, never run here).
    Windows,
}

/// Whose boot service it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The current user's service manager (systemd `--user`, a LaunchAgent).
    User,
    /// The system's service manager (a system unit, a LaunchDaemon, a Windows service).
    System,
}

impl Target {
    /// The target [`install`] can act on here: systemd on Linux, launchd on macOS.
    pub fn native() -> Option<Target> {
        if cfg!(target_os = "linux") {
            Some(Target::Systemd)
        } else if cfg!(target_os = "macos") {
            Some(Target::Launchd)
        } else {
            None
        }
    }

    /// The lowercase name used on the command line and in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Systemd => "systemd",
            Target::Launchd => "launchd",
            Target::Windows => "windows",
        }
    }

    /// The service name used when none is given: `proctor-<project>[-<role>]`, or for
    /// launchd, whose labels are dotted, `proctor.<project>[.<role>]`.
    pub fn default_name(self, project: &str, role: Option<&str>) -> String {
        let sep = if self == Target::Launchd { '.' } else { '-' };
        match role {
            Some(r) => format!("proctor{sep}{project}{sep}{r}"),
            None => format!("proctor{sep}{project}"),
        }
    }

    /// Checks `name` as a service name for this target; returns what is wrong.
    ///
    /// All targets take `[A-Za-z0-9_.-]` (systemd also `:`), not starting with `-` or `.`,
    /// so a name is also a safe file name and never read as an option by `systemctl`.
    pub fn check_name(self, name: &str) -> Result<(), String> {
        let max = match self {
            // 255 for the whole file name, less ".service".
            Target::Systemd => 247,
            Target::Launchd => 200,
            Target::Windows => 256,
        };
        if name.is_empty() || name.len() > max {
            return Err(format!("must be 1 to {max} characters long"));
        }
        if name.starts_with(['-', '.']) {
            return Err("must not start with '-' or '.'".into());
        }
        let extra = if self == Target::Systemd { ":" } else { "" };
        if let Some(c) = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "_.-".contains(c) || extra.contains(c)))
        {
            let allowed = if extra.is_empty() {
                "letters, digits, '_', '.' and '-'"
            } else {
                "letters, digits, '_', '.', '-' and ':'"
            };
            return Err(format!("may contain only {allowed}, found {c:?}"));
        }
        Ok(())
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Scope {
    /// `user` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::System => "system",
        }
    }
}

/// Renders `boot` for its target: a unit file, a plist, or a PowerShell script.
pub fn render(boot: &Boot) -> Result<String, InstallError> {
    boot.check()?;
    match boot.target {
        Target::Systemd => Ok(systemd::render(boot)),
        Target::Launchd => launchd::render(boot),
        Target::Windows => Ok(windows::render(boot)),
    }
}

/// Why a boot service could not be rendered, installed or uninstalled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// Boot services outlive the current directory, so every path must be absolute.
    #[error("the {what} path {path:?} is not absolute")]
    RelativePath {
        /// Which path (`spec`, `proctor executable`, …).
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// The spec file does not exist.
    #[error("the spec {0} does not exist")]
    MissingSpec(PathBuf),
    /// A path holds a character the target's file format cannot carry.
    #[error("the {what} path {path:?} contains a line break or a control character")]
    BadPath {
        /// Which path.
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// The role is not declared in `[project] roles`.
    #[error("unknown role {role:?}; roles declared in [project] roles: {declared}")]
    UnknownRole {
        /// The role asked for.
        role: String,
        /// The declared roles, comma separated, or `(none)`.
        declared: String,
    },
    /// The role is not a valid name.
    #[error("invalid role {role:?}: {why}")]
    InvalidRole {
        /// The role given.
        role: String,
        /// What is wrong.
        why: String,
    },
    /// The service name is not valid for the target.
    #[error("invalid {target} service name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// The target it was checked for.
        target: Target,
        /// What is wrong.
        why: String,
    },
    /// An environment variable cannot be passed to the service.
    #[error("invalid environment variable {key:?}: {why}")]
    InvalidEnv {
        /// The variable's name.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// The account name is not a valid user name.
    #[error("invalid user name {0:?}: use letters, digits, '_', '.' and '-', not starting with '-' or '.'")]
    InvalidUserName(String),
    /// `--user-name` only makes sense for a system service.
    #[error("--user-name needs --system: a user service always runs as its user")]
    UserNameNeedsSystem,
    /// Windows services are system-wide.
    #[error("Windows services are system-wide; use --system (or leave the scope out)")]
    WindowsIsSystemWide,
    /// Only the native target can be installed here.
    #[error(
        "{target} services cannot be installed on this machine (use --print to see the rendering)"
    )]
    NotNative {
        /// The target asked for.
        target: Target,
    },
    /// A file is in the way that proctor did not write.
    #[error(
        "{0} already exists and was not installed by proctor; remove it or pick another --name"
    )]
    Exists(PathBuf),
    /// Nothing is recorded under this name.
    #[error("no {scope} boot service named {name:?} was installed by proctor (no {manifest})")]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// The scope searched.
        scope: &'static str,
        /// The manifest that would record it.
        manifest: PathBuf,
    },
    /// The manifest cannot be read.
    #[error("{path}: not a proctor install manifest: {source}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The home directory is unknown.
    #[error("HOME is not set; cannot tell where user services go")]
    NoHome,
    /// The plist could not be encoded.
    #[error("cannot encode the plist: {0}")]
    Plist(#[from] plist::Error),
    /// A service manager command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and stderr, or why it could not run.
        detail: String,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl InstallError {
    /// An [`InstallError::Io`] naming `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InstallError {
        let path = path.into();
        move |source| InstallError::Io { path, source }
    }
}

#[cfg(test)]
mod tests;
