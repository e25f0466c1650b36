//! [`Host`]: where boot services live on this machine, and whether systemd runs.

use std::path::{Path, PathBuf};

use super::{InstallError, Scope, Target};

/// Overrides systemd detection: `1` treats systemd as running, `0` as absent. Tests set `0`
/// so they never touch the real service manager.
pub const SYSTEMD_RUNNING_VAR: &str = "PROCTOR_SYSTEMD_RUNNING";
/// The `systemctl` program to run (default `systemctl`); tests point it at a recorder.
pub const SYSTEMCTL_VAR: &str = "PROCTOR_SYSTEMCTL";

/// The machine that [`super::install`] acts on. [`Host::detect`] reads the real one; tests
/// build one with temp directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `$HOME`: LaunchAgents and launchd logs live under it.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` or `~/.config`: systemd user units and user manifests.
    pub config_home: PathBuf,
    /// Prefix for system-wide paths (`/`; a temp dir in tests, like `DESTDIR`).
    pub root: PathBuf,
    /// The target that can be installed here, if any.
    pub native: Option<Target>,
    /// Whether systemd is the running init system, so `systemctl` may be called.
    pub systemd_running: bool,
    /// The `systemctl` program.
    pub systemctl: PathBuf,
    /// Our uid, for `launchctl bootstrap gui/<uid>`.
    pub uid: u32,
}

impl Host {
    /// This machine, from the environment: `HOME`, `XDG_CONFIG_HOME`, and systemd running
    /// when `/run/systemd/system` exists (what `sd_booted()` checks), unless overridden by
    /// `SYSTEMD_RUNNING_VAR`.
    pub fn detect() -> Result<Host, InstallError> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .filter(|h| h.is_absolute())
            .ok_or(InstallError::NoHome)?;
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".config"));
        let systemd_running = match std::env::var(SYSTEMD_RUNNING_VAR).as_deref() {
            Ok("1") => true,
            Ok("0") => false,
            _ => Path::new("/run/systemd/system").is_dir(),
        };
        let systemctl = std::env::var_os(SYSTEMCTL_VAR)
            .filter(|s| !s.is_empty())
            .map_or_else(|| PathBuf::from("systemctl"), PathBuf::from);
        Ok(Host {
            home,
            config_home,
            root: PathBuf::from("/"),
            native: Target::native(),
            systemd_running,
            systemctl,
            uid: rustix::process::getuid().as_raw(),
        })
    }

    /// `path` (absolute) under [`Host::root`].
    pub fn system_path(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// Where the service file for `name` goes; `None` for Windows, which is never written.
    pub fn service_file(&self, target: Target, scope: Scope, name: &str) -> Option<PathBuf> {
        Some(match (target, scope) {
            (Target::Systemd, Scope::User) => self
                .config_home
                .join("systemd/user")
                .join(format!("{name}.service")),
            (Target::Systemd, Scope::System) => self
                .system_path(Path::new("/etc/systemd/system"))
                .join(format!("{name}.service")),
            (Target::Launchd, Scope::User) => self
                .home
                .join("Library/LaunchAgents")
                .join(format!("{name}.plist")),
            (Target::Launchd, Scope::System) => self
                .system_path(Path::new("/Library/LaunchDaemons"))
                .join(format!("{name}.plist")),
            (Target::Windows, _) => return None,
        })
    }

    /// Where the manifest of the installation called `name` is kept: beside the user's
    /// config, or in `/var/lib/proctor` for system services (root's home may not be the
    /// installing user's).
    pub fn manifest_file(&self, scope: Scope, name: &str) -> PathBuf {
        let dir = match scope {
            Scope::User => self.config_home.join("proctor/installed"),
            Scope::System => self.system_path(Path::new("/var/lib/proctor/installed")),
        };
        dir.join(format!("{name}.json"))
    }

    /// launchd only: the directory the service's output goes to (launchd does not create
    /// it, so install does). This is the path as the service sees it, without [`Host::root`].
    pub fn log_dir(&self, _target: Target, scope: Scope) -> PathBuf {
        match scope {
            Scope::User => self.home.join("Library/Logs/proctor"),
            Scope::System => PathBuf::from("/Library/Logs/proctor"),
        }
    }
}
