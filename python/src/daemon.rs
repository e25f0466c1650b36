//! `Probe`, `Storage` and `NativeDaemon`: [`proctor::Daemon`] for Python.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use proctor::daemon::Supervisor;
use proctor::spec::{Backend, ContainerSettings, Runtime};
use proctor::{Daemon, DaemonBuilder, DaemonStatus, RecoveryError, RestartPolicy};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::convert;
use crate::errors::{self, LogAt};

/// A readiness (or liveness) check: `Probe.tcp("127.0.0.1:8080")`, `Probe.http(url)`,
/// `Probe.unix(path)`, `Probe.exec(argv)`, `Probe.log(regex)`, `Probe.notify()`.
/// `interval`, `timeout`, `initial_delay` and `deadline` are seconds.
#[pyclass(module = "proctor._native", frozen, from_py_object)]
#[derive(Clone)]
pub(crate) struct Probe {
    pub(crate) inner: proctor::Probe,
}

fn tuned(
    mut p: proctor::Probe,
    interval: Option<f64>,
    timeout: Option<f64>,
    initial_delay: Option<f64>,
    deadline: Option<f64>,
) -> PyResult<Probe> {
    if let Some(d) = convert::duration(interval)? {
        p = p.with_interval(d);
    }
    if let Some(d) = convert::duration(timeout)? {
        p = p.with_timeout(d);
    }
    if let Some(d) = convert::duration(initial_delay)? {
        p = p.with_initial_delay(d);
    }
    if let Some(d) = convert::duration(deadline)? {
        p = p.with_deadline(d);
    }
    Ok(Probe { inner: p })
}

#[pymethods]
impl Probe {
    /// Ready once a TCP connection to `addr` (`host:port`) succeeds.
    #[staticmethod]
    #[pyo3(signature = (addr, *, interval=None, timeout=None, initial_delay=None, deadline=None))]
    fn tcp(
        addr: &str,
        interval: Option<f64>,
        timeout: Option<f64>,
        initial_delay: Option<f64>,
        deadline: Option<f64>,
    ) -> PyResult<Self> {
        tuned(
            proctor::Probe::tcp(addr),
            interval,
            timeout,
            initial_delay,
            deadline,
        )
    }

    /// Ready once a GET of `url` answers 2xx.
    #[staticmethod]
    #[pyo3(signature = (url, *, interval=None, timeout=None, initial_delay=None, deadline=None))]
    fn http(
        url: &str,
        interval: Option<f64>,
        timeout: Option<f64>,
        initial_delay: Option<f64>,
        deadline: Option<f64>,
    ) -> PyResult<Self> {
        tuned(
            proctor::Probe::http(url),
            interval,
            timeout,
            initial_delay,
            deadline,
        )
    }

    /// Ready once a connection to the unix socket at `path` succeeds.
    #[staticmethod]
    #[pyo3(signature = (path, *, interval=None, timeout=None, initial_delay=None, deadline=None))]
    fn unix(
        path: PathBuf,
        interval: Option<f64>,
        timeout: Option<f64>,
        initial_delay: Option<f64>,
        deadline: Option<f64>,
    ) -> PyResult<Self> {
        tuned(
            proctor::Probe::unix(path),
            interval,
            timeout,
            initial_delay,
            deadline,
        )
    }

    /// Ready once `argv` exits 0.
    #[staticmethod]
    #[pyo3(signature = (argv, *, interval=None, timeout=None, initial_delay=None, deadline=None))]
    fn exec(
        argv: Vec<String>,
        interval: Option<f64>,
        timeout: Option<f64>,
        initial_delay: Option<f64>,
        deadline: Option<f64>,
    ) -> PyResult<Self> {
        tuned(
            proctor::Probe::exec(argv),
            interval,
            timeout,
            initial_delay,
            deadline,
        )
    }

    /// Ready once a line of its output matches the regex `pattern`.
    #[staticmethod]
    #[pyo3(signature = (pattern, *, interval=None, timeout=None, initial_delay=None, deadline=None))]
    fn log(
        pattern: &str,
        interval: Option<f64>,
        timeout: Option<f64>,
        initial_delay: Option<f64>,
        deadline: Option<f64>,
    ) -> PyResult<Self> {
        tuned(
            proctor::Probe::log(pattern),
            interval,
            timeout,
            initial_delay,
            deadline,
        )
    }

    /// Ready once it sends `READY=1` on `$NOTIFY_SOCKET` (the systemd protocol).
    #[staticmethod]
    #[pyo3(signature = (*, deadline=None))]
    fn notify(deadline: Option<f64>) -> PyResult<Self> {
        tuned(proctor::Probe::notify(), None, None, None, deadline)
    }

    fn __repr__(&self) -> String {
        format!("Probe({:?})", self.inner.kind)
    }
}

/// Where a daemon's state directory (`PROCTOR_STATE_DIR`) lives:
/// `Storage.sandboxed()` (a fresh temp dir, removed at every stop) or
/// `Storage.physical(path, persist_on_exit=False)`.
#[pyclass(module = "proctor._native", frozen, from_py_object)]
#[derive(Clone)]
pub(crate) struct Storage {
    inner: proctor::Storage,
}

#[pymethods]
impl Storage {
    /// A fresh private temp directory per start, removed after every stop.
    #[staticmethod]
    fn sandboxed() -> Self {
        Self {
            inner: proctor::Storage::Sandboxed,
        }
    }

    /// The directory `path` (created if missing); removed at stop unless
    /// `persist_on_exit` is true.
    #[staticmethod]
    #[pyo3(signature = (path, persist_on_exit=false))]
    fn physical(path: PathBuf, persist_on_exit: bool) -> PyResult<Self> {
        let path = std::path::absolute(&path)
            .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
        Ok(Self {
            inner: proctor::Storage::Persistent {
                path,
                keep_on_exit: persist_on_exit,
            },
        })
    }

    /// `"sandboxed"` or `"physical"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            proctor::Storage::Sandboxed => "sandboxed",
            proctor::Storage::Persistent { .. } => "physical",
        }
    }

    /// The directory of physical storage (`None` when sandboxed).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        match &self.inner {
            proctor::Storage::Sandboxed => None,
            proctor::Storage::Persistent { path, .. } => Some(path.clone()),
        }
    }

    /// Whether physical storage is kept after stop.
    #[getter]
    fn persist_on_exit(&self) -> bool {
        matches!(
            self.inner,
            proctor::Storage::Persistent {
                keep_on_exit: true,
                ..
            }
        )
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            proctor::Storage::Sandboxed => "Storage.sandboxed()".into(),
            proctor::Storage::Persistent { path, keep_on_exit } => format!(
                "Storage.physical({:?}, persist_on_exit={})",
                path.display(),
                if *keep_on_exit { "True" } else { "False" }
            ),
        }
    }
}

fn restart_policy(s: &str) -> PyResult<RestartPolicy> {
    match s {
        "no" | "never" => Ok(RestartPolicy::No),
        "on-failure" | "on_failure" => Ok(RestartPolicy::OnFailure),
        "always" => Ok(RestartPolicy::Always),
        other => Err(PyValueError::new_err(format!(
            "restart must be \"no\", \"on-failure\" or \"always\", not {other:?}"
        ))),
    }
}

pub(crate) fn runtime(s: Option<&str>) -> PyResult<Option<Runtime>> {
    match s {
        None | Some("auto") => Ok(None),
        Some("podman") => Ok(Some(Runtime::Podman)),
        Some("docker") => Ok(Some(Runtime::Docker)),
        Some(other) => Err(PyValueError::new_err(format!(
            "container runtime must be \"podman\" or \"docker\", not {other:?}"
        ))),
    }
}

/// Container settings of a daemon: the image and how it is run.
#[derive(FromPyObject, Default)]
pub(crate) struct ContainerOpts {
    #[pyo3(item)]
    image: String,
    #[pyo3(item, default)]
    volumes: Vec<String>,
    #[pyo3(item, default)]
    ports: Vec<String>,
    #[pyo3(item, default)]
    runtime: Option<String>,
    #[pyo3(item, default)]
    container_name: Option<String>,
}

/// One daemon managed from Python; the `proctor.Daemon` class wraps it.
#[pyclass(module = "proctor._native", frozen)]
pub(crate) struct NativeDaemon {
    name: String,
    state_dir: PathBuf,
    /// `None` once detached.
    daemon: Mutex<Option<Arc<Daemon>>>,
}

impl NativeDaemon {
    fn handle(&self) -> PyResult<Arc<Daemon>> {
        self.daemon
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| PyRuntimeError::new_err(format!("{} was detached", self.name)))
    }

    fn err(&self, py: Python<'_>, e: proctor::Error) -> PyErr {
        errors::to_py(
            py,
            e,
            Some(LogAt {
                state_dir: &self.state_dir,
                name: &self.name,
            }),
        )
    }

    /// Runs `op` on the daemon with the GIL released.
    fn blocking<T: Send>(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&Daemon) -> Result<T, proctor::Error> + Send,
    ) -> PyResult<T> {
        let d = self.handle()?;
        py.detach(|| op(&d)).map_err(|e| self.err(py, e))
    }

    fn wrap(daemon: Daemon) -> Self {
        Self {
            name: daemon.name().to_string(),
            state_dir: daemon.state_dir().to_path_buf(),
            daemon: Mutex::new(Some(Arc::new(daemon))),
        }
    }
}

/// Settings that a daemon from code and one from a spec share.
#[allow(clippy::too_many_arguments)]
fn common(
    mut b: DaemonBuilder,
    env: Option<HashMap<String, String>>,
    cwd: Option<PathBuf>,
    ready: Option<Probe>,
    live: Option<Probe>,
    restart: Option<&str>,
    storage: Option<Storage>,
    supervisor: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    stop_timeout: Option<f64>,
) -> PyResult<DaemonBuilder> {
    for (k, v) in env.unwrap_or_default() {
        b = b.env(k, v);
    }
    if let Some(cwd) = cwd {
        b = b.cwd(cwd);
    }
    if let Some(p) = ready {
        b = b.ready(p.inner);
    }
    if let Some(p) = live {
        b = b.live(p.inner);
    }
    if let Some(r) = restart {
        b = b.restart(restart_policy(r)?);
    }
    if let Some(s) = storage {
        b = b.storage(s.inner);
    }
    if let Some(program) = supervisor {
        b = b.supervisor(Supervisor::Process(program));
    }
    if let Some(dir) = state_dir {
        b = b.lock_dir(dir);
    }
    if let Some(t) = convert::duration(stop_timeout)? {
        b = b.stop_timeout(t);
    }
    Ok(b)
}

#[pymethods]
impl NativeDaemon {
    /// A daemon declared in code. `supervisor` is the program of a supervisor process
    /// (`None`: a thread of this process); `backend` is `"process"`, `"tmux"` or
    /// `"container"` (which needs `container`).
    #[new]
    #[pyo3(signature = (name, command, *, env=None, cwd=None, ready=None, live=None,
        restart="on-failure", storage=None, supervisor=None, state_dir=None, stop_timeout=None,
        backend="process", container=None, tmux_binary=None, container_runtime=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: String,
        command: Vec<String>,
        env: Option<HashMap<String, String>>,
        cwd: Option<PathBuf>,
        ready: Option<Probe>,
        live: Option<Probe>,
        restart: &str,
        storage: Option<Storage>,
        supervisor: Option<PathBuf>,
        state_dir: Option<PathBuf>,
        stop_timeout: Option<f64>,
        backend: &str,
        container: Option<ContainerOpts>,
        tmux_binary: Option<String>,
        container_runtime: Option<String>,
    ) -> PyResult<Self> {
        let backend = match (backend, container) {
            ("process", None) => Backend::Process,
            ("tmux", None) => Backend::Tmux,
            ("container", Some(c)) => Backend::Container(ContainerSettings {
                image: c.image,
                volumes: c.volumes,
                ports: c.ports,
                runtime: runtime(c.runtime.as_deref())?,
                container_name: c.container_name,
            }),
            ("container", None) => {
                return Err(PyValueError::new_err(
                    "a container daemon needs container={\"image\": …}",
                ))
            }
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "backend must be \"process\", \"tmux\" or \"container\" (with container=…), not {other:?}"
                )))
            }
        };
        let project_runtime = runtime(container_runtime.as_deref())?;
        let b = Daemon::builder(name)
            .command(command)
            .configure(move |s| s.backend = backend)
            .configure_project(move |p| {
                p.tmux_binary = tmux_binary;
                p.container_runtime = project_runtime;
            });
        let b = common(
            b,
            env,
            cwd,
            ready,
            live,
            Some(restart),
            storage,
            supervisor,
            state_dir,
            stop_timeout,
        )?;
        let daemon = b.build().map_err(|e| errors::to_py(py, e, None))?;
        Ok(Self::wrap(daemon))
    }

    /// The service `name` of the `proctor.toml` at `path`, with optional overrides.
    #[staticmethod]
    #[pyo3(signature = (path, name, *, env=None, cwd=None, ready=None, restart=None,
        storage=None, supervisor=None, state_dir=None, stop_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn from_spec(
        py: Python<'_>,
        path: PathBuf,
        name: &str,
        env: Option<HashMap<String, String>>,
        cwd: Option<PathBuf>,
        ready: Option<Probe>,
        restart: Option<&str>,
        storage: Option<Storage>,
        supervisor: Option<PathBuf>,
        state_dir: Option<PathBuf>,
        stop_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let b = py
            .detach(|| DaemonBuilder::from_spec(&path, name))
            .map_err(|e| errors::to_py(py, e, None))?;
        let b = common(
            b,
            env,
            cwd,
            ready,
            None,
            restart,
            storage,
            supervisor,
            state_dir,
            stop_timeout,
        )?;
        let daemon = b.build().map_err(|e| errors::to_py(py, e, None))?;
        Ok(Self::wrap(daemon))
    }

    /// The daemon's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Where its supervisor keeps the lock, the control socket and the logs.
    #[getter]
    fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }

    /// Starts it and returns once ready (idempotent).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.blocking(py, Daemon::start)
    }

    /// Stops it (idempotent); `timeout` overrides the grace period before SIGKILL.
    #[pyo3(signature = (timeout=None))]
    fn stop(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let grace = convert::duration(timeout)?;
        self.blocking(py, move |d| match grace {
            Some(g) => d.stop_within(g),
            None => d.stop(),
        })
    }

    /// Starts it if stopped, restarts it if it died, waits while it starts.
    fn ensure_running(&self, py: Python<'_>) -> PyResult<()> {
        self.blocking(py, Daemon::ensure_running)
    }

    /// Takes charge of a supervisor already running it (after a `detach`).
    fn attach(&self, py: Python<'_>) -> PyResult<()> {
        self.blocking(py, Daemon::attach)
    }

    /// Whether its process is up.
    fn is_running(&self, py: Python<'_>) -> PyResult<bool> {
        let d = self.handle()?;
        Ok(py.detach(|| d.is_running()))
    }

    /// Its status as a dict.
    fn status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let s = self.blocking(py, Daemon::status)?;
        status_dict(py, &s)
    }

    /// Calls `fn()`; if it raises, checks the daemon, brings it back if it died, and
    /// calls `fn()` once more. The GIL is released while the daemon is checked.
    fn call_with_recovery(&self, py: Python<'_>, f: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let d = self.handle()?;
        let call = || Python::attach(|py| f.call0(py));
        let outcome = py.detach(|| d.call_with_recovery(call).map_err(Box::new));
        match outcome.map_err(|e| *e) {
            Ok(v) => Ok(v),
            Err(RecoveryError::Call(e)) => Err(e),
            Err(RecoveryError::Recover { first, error }) => {
                let e = self.err(py, error);
                e.set_cause(py, Some(first));
                Err(e)
            }
        }
    }

    /// The last `lines` lines of its output, oldest first.
    #[pyo3(signature = (lines=100))]
    fn logs(&self, py: Python<'_>, lines: usize) -> Vec<String> {
        py.detach(|| {
            errors::log_tail(
                LogAt {
                    state_dir: &self.state_dir,
                    name: &self.name,
                },
                lines,
            )
        })
    }

    /// Lets it outlive this handle, still supervised. The handle is unusable afterwards.
    fn detach(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self
            .daemon
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(d) = taken else {
            return Ok(());
        };
        match Arc::try_unwrap(d) {
            Ok(d) => {
                py.detach(|| d.detach());
                Ok(())
            }
            Err(d) => {
                *self.daemon.lock().unwrap_or_else(PoisonError::into_inner) = Some(d);
                Err(PyRuntimeError::new_err(format!(
                    "cannot detach {} while another thread is using it",
                    self.name
                )))
            }
        }
    }
}

/// A [`DaemonStatus`] as a dict (`state`, `pid`, `ready`, `restarts`, `uptime`,
/// `last_exit`, `storage_dir`, `reason`, `probe_error`, `supervisor_pid`).
fn status_dict(py: Python<'_>, s: &DaemonStatus) -> PyResult<Py<PyAny>> {
    let d = convert::dict(py);
    d.set_item("state", s.state.as_str())?;
    d.set_item("pid", s.pid)?;
    d.set_item("ready", s.ready)?;
    d.set_item("restarts", s.restarts)?;
    d.set_item("uptime", convert::secs(s.uptime))?;
    let last_exit = match &s.last_exit {
        Some(e) => {
            let x = convert::dict(py);
            x.set_item("code", e.code)?;
            x.set_item("signal", e.signal)?;
            x.set_item("timed_out", e.timed_out)?;
            x.set_item("spawn_error", e.spawn_error.as_deref())?;
            x.set_item("description", e.describe_with(signal_name))?;
            Some(x)
        }
        None => None,
    };
    d.set_item("last_exit", last_exit)?;
    d.set_item("storage_dir", s.storage_dir.as_ref())?;
    d.set_item("reason", s.reason.as_deref())?;
    d.set_item("probe_error", s.probe_error.as_deref())?;
    d.set_item("supervisor_pid", s.supervisor_pid)?;
    Ok(d.into_any().unbind())
}

/// A signal's usual name (`TERM`, `KILL`, …), else its number.
fn signal_name(n: i32) -> String {
    let name = match n {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        6 => "ABRT",
        9 => "KILL",
        10 => "USR1",
        11 => "SEGV",
        12 => "USR2",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return n.to_string(),
    };
    name.to_string()
}
