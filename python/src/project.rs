//! A `proctor.toml` project from Python: its supervisor started in the background (as
//! `proctor up -d` does), requests over its control socket, and boot services. The
//! `proctor.Project` class wraps these functions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proctor::control::proto::Command as Request;
use proctor::control::{Client, ControlError};
use proctor::install::{self, Boot, Host, Scope, Target};
use proctor::spec::Spec;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert;
use crate::errors;

/// How long a supervisor may take to report that it listens.
const LAUNCH_DEADLINE: Duration = Duration::from_secs(10);

fn load(py: Python<'_>, path: &Path) -> PyResult<Spec> {
    py.detach(|| Spec::load(path))
        .map_err(|e| errors::to_py(py, proctor::Error::Spec(e), None))
}

/// The spec's state directory and service names.
#[pyfunction]
fn project_info(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    let spec = load(py, &path)?;
    let d = convert::dict(py);
    d.set_item("path", &spec.path)?;
    d.set_item("name", &spec.project.name)?;
    d.set_item("state_dir", spec.state_dir())?;
    d.set_item("roles", &spec.project.roles)?;
    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    d.set_item("services", names)?;
    Ok(d.into_any().unbind())
}

/// Starts the project's supervisor in the background unless one runs: `argv` is a program
/// that calls `serve_if_requested()` first. Returns whether one was started.
#[pyfunction]
fn project_ensure_supervisor(py: Python<'_>, path: PathBuf, argv: Vec<String>) -> PyResult<bool> {
    let spec = load(py, &path)?;
    let state_dir = spec.state_dir();
    let Some((program, args)) = argv.split_first() else {
        return Err(PyValueError::new_err("argv must name a program"));
    };
    let started = py.detach(|| -> Result<bool, proctor::Error> {
        match Client::connect(&state_dir.join("control.sock")) {
            Ok(_) => return Ok(false),
            Err(ControlError::NotRunning { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let mut cmd = Command::new(program);
        cmd.args(args);
        proctor::daemon::launch_supervisor(cmd, &spec.path, &state_dir, LAUNCH_DEADLINE)?;
        Ok(true)
    });
    started.map_err(|e| errors::to_py(py, e, None))
}

/// Sends `request` (a protocol command as JSON, e.g. `{"cmd": "status"}`) to the project's
/// supervisor and returns the reply's JSON text; waits at most `timeout` seconds.
#[pyfunction]
#[pyo3(signature = (path, request, timeout=None))]
fn project_request(
    py: Python<'_>,
    path: PathBuf,
    request: &str,
    timeout: Option<f64>,
) -> PyResult<String> {
    let cmd: Request = serde_json::from_str(request)
        .map_err(|e| PyValueError::new_err(format!("not a proctor request: {e}")))?;
    let spec = load(py, &path)?;
    let socket = spec.state_dir().join("control.sock");
    let timeout = convert::duration(timeout)?;
    let reply = py.detach(|| -> Result<String, ControlError> {
        let mut client = Client::connect(&socket)?;
        client.set_timeout(timeout)?;
        client.request_raw(cmd)
    });
    reply.map_err(|e| errors::control_error(py, e))
}

/// Stops every service and the supervisor; returns once it is gone. False when none ran.
#[pyfunction]
#[pyo3(signature = (path, timeout=None))]
fn project_down(py: Python<'_>, path: PathBuf, timeout: Option<f64>) -> PyResult<bool> {
    let spec = load(py, &path)?;
    let socket = spec.state_dir().join("control.sock");
    let grace = convert::duration(timeout)?;
    let done = py.detach(|| -> Result<bool, ControlError> {
        let mut client = match Client::connect(&socket) {
            Ok(c) => c,
            Err(ControlError::NotRunning { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let timeout_ms = grace.map(|g| u64::try_from(g.as_millis()).unwrap_or(u64::MAX));
        client.request(Request::Down { timeout_ms })?;
        // It closes the connection last thing before it exits.
        while client.recv().is_ok() {}
        Ok(true)
    });
    done.map_err(|e| errors::control_error(py, e))
}

fn target(s: Option<&str>) -> PyResult<Target> {
    match s {
        None => Target::native().ok_or_else(|| {
            PyValueError::new_err("this OS has no init system proctor knows; pass target=")
        }),
        Some("systemd") => Ok(Target::Systemd),
        Some("launchd") => Ok(Target::Launchd),
        Some("windows") => Ok(Target::Windows),
        Some(other) => Err(PyValueError::new_err(format!(
            "target must be \"systemd\", \"launchd\" or \"windows\", not {other:?}"
        ))),
    }
}

/// A boot service running `exe up --file SPEC [--role ROLE]`: rendered only
/// (`print_only`, returns `{"text": …}`) or installed (returns `{"files", "ran",
/// "to_run"}`).
#[pyfunction]
#[pyo3(signature = (path, exe, *, role=None, target=None, system=false, name=None, env=None, print_only=false))]
#[allow(clippy::too_many_arguments)]
fn project_install(
    py: Python<'_>,
    path: PathBuf,
    exe: PathBuf,
    role: Option<String>,
    target: Option<&str>,
    system: bool,
    name: Option<String>,
    env: Option<BTreeMap<String, String>>,
    print_only: bool,
) -> PyResult<Py<PyAny>> {
    let spec = load(py, &path)?;
    let target = self::target(target)?;
    let scope = if system { Scope::System } else { Scope::User };
    let req = install::Request {
        target,
        scope,
        role,
        name,
        user_name: None,
        env: env.unwrap_or_default(),
    };
    let install_err = |py: Python<'_>, e: install::InstallError| {
        errors::raise(py, "InstallError", e.to_string(), |_| Ok(()))
    };
    let out = py.detach(
        || -> Result<Result<String, install::Outcome>, install::InstallError> {
            let host = Host::detect()?;
            let boot = Boot::new(&spec, req, exe, &host)?;
            if print_only {
                return Ok(Ok(install::render(&boot)?));
            }
            Ok(Err(install::install(&boot, &host)?))
        },
    );
    let d = convert::dict(py);
    match out.map_err(|e| install_err(py, e))? {
        Ok(text) => d.set_item("text", text)?,
        Err(outcome) => {
            d.set_item("files", &outcome.files)?;
            d.set_item("ran", &outcome.ran)?;
            d.set_item("to_run", &outcome.to_run)?;
        }
    }
    Ok(d.into_any().unbind())
}

/// The last `lines` lines of service `name`'s log in the state directory `state_dir`.
#[pyfunction]
fn log_tail(py: Python<'_>, state_dir: PathBuf, name: &str, lines: usize) -> Vec<String> {
    py.detach(|| {
        errors::log_tail(
            errors::LogAt {
                state_dir: &state_dir,
                name,
            },
            lines,
        )
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(log_tail, m)?)?;
    m.add_function(wrap_pyfunction!(project_info, m)?)?;
    m.add_function(wrap_pyfunction!(project_ensure_supervisor, m)?)?;
    m.add_function(wrap_pyfunction!(project_request, m)?)?;
    m.add_function(wrap_pyfunction!(project_down, m)?)?;
    m.add_function(wrap_pyfunction!(project_install, m)?)?;
    Ok(())
}
