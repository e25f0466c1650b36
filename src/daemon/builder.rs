//! [`DaemonBuilder`]: a daemon declared in code, or taken from a `proctor.toml` entry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Daemon, Supervisor};
use crate::error::Error;
use crate::spec::{
    Probe, Project, RestartPolicy, Service, Signal, Spec, SpecError, SpecErrors, Storage,
};
use crate::state::Paths;

/// Declares a [`Daemon`]: what to run, how to tell it is ready, where its state lives.
///
/// Made by [`Daemon::builder`] (in code) or [`DaemonBuilder::from_spec`] (a `proctor.toml`
/// entry, whose settings the methods here then override). Every setting not given keeps the
/// default a `proctor.toml` service has: restart on failure with backoff from 100ms, stop
/// with SIGTERM and a 10s grace period, ready once spawned.
#[derive(Debug)]
#[must_use = "a builder does nothing until .build()"]
pub struct DaemonBuilder {
    spec: Spec,
    name: String,
    /// Whether `spec` came from a file (its own state dir then applies).
    from_file: bool,
    lock_dir: Option<PathBuf>,
    supervisor: Supervisor,
    cwd_error: Option<std::io::Error>,
}

impl DaemonBuilder {
    /// A daemon called `name`, with no command yet, running in the current directory.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let (cwd, cwd_error) = match std::env::current_dir() {
            Ok(d) => (d, None),
            Err(e) => (PathBuf::from("/"), Some(e)),
        };
        let spec = Spec {
            path: PathBuf::new(),
            dir: cwd.clone(),
            project: Project::new(name.clone()),
            services: vec![Service::new(name.clone(), Vec::new(), cwd)],
            export: crate::spec::ExportSettings::default(),
        };
        Self {
            spec,
            name,
            from_file: false,
            lock_dir: None,
            supervisor: Supervisor::Thread,
            cwd_error,
        }
    }

    /// The service `name` of the spec at `path`. The daemon runs a supervisor for that
    /// project which starts `name` and what it depends on; its state directory is the
    /// project's (so `proctor status`, `lock` and `unlock` in that project see it) unless
    /// [`lock_dir`](Self::lock_dir) says otherwise.
    pub fn from_spec(path: impl AsRef<Path>, name: &str) -> Result<Self, Error> {
        let path = path.as_ref();
        let spec = Spec::load(path)?;
        if spec.service(name).is_none() {
            return Err(Error::UnknownService {
                name: name.to_string(),
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            spec,
            name: name.to_string(),
            from_file: true,
            lock_dir: None,
            supervisor: Supervisor::Thread,
            cwd_error: None,
        })
    }

    fn service(&mut self) -> &mut Service {
        let i = self
            .spec
            .services
            .iter()
            .position(|s| s.name == self.name)
            .unwrap_or(0);
        &mut self.spec.services[i]
    }

    /// The program and its arguments (`argv`).
    pub fn command<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.service().command = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Sets an environment variable on top of this process's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.service().env.insert(key.into(), value.into());
        self
    }

    /// The working directory (relative paths are taken from the current directory).
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        let dir = std::path::absolute(dir.as_ref()).unwrap_or_else(|_| dir.as_ref().into());
        self.service().cwd = dir;
        self
    }

    /// How to tell it is ready; [`Daemon::start`] returns once this passes, or fails
    /// with [`Error::ReadyTimeout`] after the probe's deadline.
    pub fn ready(mut self, probe: Probe) -> Self {
        self.service().ready = Some(probe);
        self
    }

    /// How to tell it is still alive; enough consecutive failures restart it.
    pub fn live(mut self, probe: Probe) -> Self {
        self.service().live = Some(probe);
        self
    }

    /// What to do when it exits on its own (default [`RestartPolicy::OnFailure`]).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.service().restart = policy;
        self
    }

    /// The signal that asks it to stop (default SIGTERM).
    pub fn stop_signal(mut self, signal: Signal) -> Self {
        self.service().stop_signal = signal;
        self
    }

    /// How long a stop waits after the stop signal before SIGKILL (default 10s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.service().stop_timeout = timeout;
        self
    }

    /// A state directory handed to it as `PROCTOR_STATE_DIR`: [`Storage::Sandboxed`] is a
    /// fresh temp dir removed whenever it stops.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.service().storage = Some(storage);
        self
    }

    /// Any other service setting (backoff, start limit, logs, …).
    pub fn configure(mut self, f: impl FnOnce(&mut Service)) -> Self {
        f(self.service());
        self
    }

    /// Any project-wide setting (the tmux binary, the default container runtime, …): a
    /// daemon is a project of one service.
    pub fn configure_project(mut self, f: impl FnOnce(&mut Project)) -> Self {
        f(&mut self.spec.project);
        self
    }

    /// Where the daemon's supervisor keeps its files: the lifecycle lock
    /// (`locks/NAME.lock`), the control socket, logs. Default: the project's state dir for
    /// [`from_spec`](Self::from_spec), else `$XDG_STATE_HOME/proctor/daemons/NAME`.
    /// Point the CLI at it with `PROCTOR_HOME=DIR proctor status`.
    pub fn lock_dir(mut self, dir: impl AsRef<Path>) -> Self {
        let dir = std::path::absolute(dir.as_ref()).unwrap_or_else(|_| dir.as_ref().into());
        self.lock_dir = Some(dir);
        self
    }

    /// Where the supervisor runs: a thread of this process (default), or a process of its
    /// own, which a detached daemon needs to stay supervised after this process exits.
    pub fn supervisor(mut self, supervisor: Supervisor) -> Self {
        self.supervisor = supervisor;
        self
    }

    /// Checks the settings and makes the (not yet started) daemon.
    pub fn build(self) -> Result<Daemon, Error> {
        let (name, spec, paths, supervisor) = self.resolve()?;
        Ok(Daemon::new(name, spec, paths, supervisor))
    }

    /// The spec a test can inspect.
    #[cfg(test)]
    pub(super) fn spec_for_tests(self) -> Spec {
        match self.resolve() {
            Ok((_, spec, _, _)) => spec,
            Err(e) => panic!("{e}"),
        }
    }

    fn resolve(mut self) -> Result<(String, Spec, Paths, Supervisor), Error> {
        if let Some(e) = self.cwd_error.take() {
            return Err(Error::io("cannot read the current directory", e));
        }
        let errors = self.check();
        if !errors.is_empty() {
            return Err(Error::Spec(SpecErrors(errors)));
        }
        let paths = match (&self.lock_dir, self.from_file) {
            (Some(dir), _) => Paths::new(dir.clone()),
            (None, true) => Paths::for_spec(&self.spec),
            (None, false) => Paths::new(crate::state::base_dir().join("daemons").join(&self.name)),
        };
        self.spec.project.state_dir = Some(paths.root.clone());
        Ok((self.name, self.spec, paths, self.supervisor))
    }

    /// Every problem with the spec, as spec errors without a position: the same rules
    /// and words as a `proctor.toml` ([`Spec::validate`]).
    fn check(&self) -> Vec<SpecError> {
        let file = if self.from_file {
            self.spec.path.clone()
        } else {
            PathBuf::from(format!("Daemon::builder({:?})", self.name))
        };
        self.spec
            .validate()
            .into_iter()
            .map(|(_, problem)| problem.into_spec_error(file.clone()))
            .collect()
    }
}
