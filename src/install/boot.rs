//! [`Boot`]: everything a renderer needs, resolved from a spec and checked once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Host, InstallError, Scope, Target};
use crate::spec::{Service, Spec};

/// Time on top of the services' own stop budget for the supervisor's teardown.
const STOP_MARGIN: Duration = Duration::from_secs(5);
/// Time on top of the readiness budget for spawning and the supervisor's start-up.
const START_MARGIN: Duration = Duration::from_secs(30);
/// systemd's default start timeout; never ask for less.
const MIN_START: Duration = Duration::from_secs(90);

/// What the user asked `install` for; [`Boot::new`] fills in the rest from the spec.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which init system.
    pub target: Target,
    /// User or system service.
    pub scope: Scope,
    /// The role `proctor up --role` runs with.
    pub role: Option<String>,
    /// The service name (default: [`Target::default_name`]).
    pub name: Option<String>,
    /// For a system service: the account it runs as (default: root / LocalSystem).
    pub user_name: Option<String>,
    /// Environment given to `proctor up` (and so to every service).
    pub env: BTreeMap<String, String>,
}

/// The input of the renderers: a boot service that runs `exe up --file spec_path [--role]`.
///
/// Fields are public so tests and embedders can build one with fixed paths; [`Boot::check`]
/// (called by every renderer) rejects what a target cannot carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Boot {
    /// Which init system.
    pub target: Target,
    /// User or system service.
    pub scope: Scope,
    /// Unit name, launchd label or Windows service name.
    pub name: String,
    /// The project's name, for descriptions.
    pub project: String,
    /// The proctor executable (absolute).
    pub exe: PathBuf,
    /// The spec file (absolute).
    pub spec_path: PathBuf,
    /// Where `proctor up` runs: the spec's directory.
    pub working_dir: PathBuf,
    /// The role passed to `proctor up --role`.
    pub role: Option<String>,
    /// Environment for `proctor up`.
    pub env: BTreeMap<String, String>,
    /// The account a system service runs as.
    pub user_name: Option<String>,
    /// How long stopping may take before the init system kills everything.
    pub stop_timeout: Duration,
    /// How long `proctor up` may take to report ready.
    pub start_timeout: Duration,
    /// launchd only: where the service's stdout and stderr go (`<log_dir>/<name>.log`).
    pub log_dir: PathBuf,
}

impl Boot {
    /// Resolves `req` against `spec`: checks the role, picks the name, and derives the
    /// timeouts from the services' `stop_timeout`s and readiness deadlines.
    pub fn new(spec: &Spec, req: Request, exe: PathBuf, host: &Host) -> Result<Boot, InstallError> {
        if !spec.path.is_absolute() {
            return Err(InstallError::RelativePath {
                what: "spec",
                path: spec.path.clone(),
            });
        }
        if !spec.path.is_file() {
            return Err(InstallError::MissingSpec(spec.path.clone()));
        }
        if let Some(role) = &req.role {
            if !spec.project.roles.contains(role) {
                let declared = if spec.project.roles.is_empty() {
                    "(none)".to_string()
                } else {
                    spec.project.roles.join(", ")
                };
                return Err(InstallError::UnknownRole {
                    role: role.clone(),
                    declared,
                });
            }
        }
        let name = match req.name {
            // `systemctl` takes both `x` and `x.service`; accept both here too.
            Some(n) if req.target == Target::Systemd => {
                n.strip_suffix(".service").unwrap_or(&n).to_string()
            }
            Some(n) => n,
            None => req
                .target
                .default_name(&spec.project.name, req.role.as_deref()),
        };
        let boot = Boot {
            target: req.target,
            scope: req.scope,
            log_dir: host.log_dir(req.target, req.scope),
            name,
            project: spec.project.name.clone(),
            exe,
            spec_path: spec.path.clone(),
            working_dir: spec.dir.clone(),
            role: req.role,
            env: req.env,
            user_name: req.user_name,
            stop_timeout: longest_chain(&spec.services, |s| s.stop_timeout) + STOP_MARGIN,
            start_timeout: (longest_chain(&spec.services, ready_budget) + START_MARGIN)
                .max(MIN_START),
        };
        boot.check()?;
        Ok(boot)
    }

    /// Checks every field against what the target can carry.
    pub fn check(&self) -> Result<(), InstallError> {
        self.target
            .check_name(&self.name)
            .map_err(|why| InstallError::InvalidName {
                name: self.name.clone(),
                target: self.target,
                why,
            })?;
        for (what, path) in [
            ("proctor executable", &self.exe),
            ("spec", &self.spec_path),
            ("working directory", &self.working_dir),
            ("log directory", &self.log_dir),
        ] {
            check_path(what, path)?;
        }
        if let Some(role) = &self.role {
            crate::spec::check_name(role).map_err(|why| InstallError::InvalidRole {
                role: role.clone(),
                why,
            })?;
        }
        for (key, value) in &self.env {
            check_env(self.target, key, value)?;
        }
        if self.target == Target::Windows && self.scope == Scope::User {
            return Err(InstallError::WindowsIsSystemWide);
        }
        if let Some(user) = &self.user_name {
            if self.scope == Scope::User {
                return Err(InstallError::UserNameNeedsSystem);
            }
            check_user(user)?;
        }
        Ok(())
    }

    /// The argv the service runs: `exe up --file spec [--role R]`.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![
            self.exe.display().to_string(),
            "up".into(),
            "--file".into(),
            self.spec_path.display().to_string(),
        ];
        if let Some(r) = &self.role {
            v.push("--role".into());
            v.push(r.clone());
        }
        v
    }

    /// A one-line description: `proctor: project shop (role worker)`.
    pub fn description(&self) -> String {
        match &self.role {
            Some(r) => format!("proctor: project {} (role {r})", self.project),
            None => format!("proctor: project {}", self.project),
        }
    }
}

/// Readiness can take up to the probe's initial delay plus its deadline.
fn ready_budget(s: &Service) -> Duration {
    s.ready
        .as_ref()
        .map_or(Duration::ZERO, |p| p.initial_delay + p.deadline)
}

/// The longest sum of `cost` along a dependency chain. Services start after their
/// dependencies and stop after their dependents, but independent services run in parallel,
/// so the slowest chain is what an init system has to wait for.
fn longest_chain(services: &[Service], cost: impl Fn(&Service) -> Duration) -> Duration {
    fn visit(
        i: usize,
        services: &[Service],
        cost: &dyn Fn(&Service) -> Duration,
        memo: &mut [Option<Duration>],
        depth: usize,
    ) -> Duration {
        if let Some(d) = memo[i] {
            return d;
        }
        // The spec is validated acyclic; the depth bound only guards hand-built specs.
        let deps = if depth > services.len() {
            Duration::ZERO
        } else {
            services[i]
                .depends_on
                .iter()
                .filter_map(|d| services.iter().position(|s| s.name == d.name))
                .map(|j| visit(j, services, cost, memo, depth + 1))
                .max()
                .unwrap_or_default()
        };
        let total = cost(&services[i]) + deps;
        memo[i] = Some(total);
        total
    }
    let mut memo = vec![None; services.len()];
    (0..services.len())
        .map(|i| visit(i, services, &cost, &mut memo, 0))
        .max()
        .unwrap_or_default()
}

fn check_path(what: &'static str, path: &Path) -> Result<(), InstallError> {
    if !path.is_absolute() {
        return Err(InstallError::RelativePath {
            what,
            path: path.to_path_buf(),
        });
    }
    // Unit files and scripts are line-based; a control character cannot be carried safely.
    if path
        .to_str()
        .is_none_or(|s| s.chars().any(char::is_control))
    {
        return Err(InstallError::BadPath {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn check_env(target: Target, key: &str, value: &str) -> Result<(), InstallError> {
    let bad = |why: &str| InstallError::InvalidEnv {
        key: key.to_string(),
        why: why.to_string(),
    };
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad(
            "names may contain only letters, digits and '_', not starting with a digit",
        ));
    }
    if value.contains('\0') {
        return Err(bad("the value contains a NUL byte"));
    }
    // A Windows service's environment is a list of lines (REG_MULTI_SZ).
    if target == Target::Windows && value.contains(['\n', '\r']) {
        return Err(bad("Windows service values cannot contain line breaks"));
    }
    Ok(())
}

/// POSIX-ish account names, which systemd, launchd and Windows all accept.
fn check_user(user: &str) -> Result<(), InstallError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with(['-', '.'])
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(InstallError::InvalidUserName(user.to_string()))
    }
}
