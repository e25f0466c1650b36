//! Which backend holds a session name, and the command that attaches to it
//! ([`proctor::session`]); `proctor.SessionManager` and `proctor.auto_detect_backend`
//! wrap these.

use std::path::PathBuf;

use proctor::spec::{Backend, ContainerSettings, Project, Service, Spec};
use pyo3::prelude::*;

use crate::convert;
use crate::daemon::runtime;
use crate::errors;

/// A spec of one service, as a `Daemon` of that name builds it (the project is named after
/// the daemon, so its tmux session and container names match).
fn spec_of_one(
    name: &str,
    backend: Backend,
    tmux_binary: Option<String>,
    container_runtime: Option<&str>,
) -> PyResult<Spec> {
    let mut project = Project::new(name);
    project.tmux_binary = tmux_binary;
    project.container_runtime = runtime(container_runtime)?;
    let mut service = Service::new(name, Vec::new(), PathBuf::from("/"));
    service.backend = backend;
    Ok(Spec {
        path: PathBuf::new(),
        dir: PathBuf::from("/"),
        project,
        services: vec![service],
        export: Default::default(),
    })
}

/// The state directory a `Daemon` called `name` uses by default.
#[pyfunction]
fn default_state_dir(py: Python<'_>, name: &str) -> PyResult<PathBuf> {
    let d = proctor::Daemon::builder(name)
        .command(["true"])
        .build()
        .map_err(|e| errors::to_py(py, e, None))?;
    Ok(d.state_dir().to_path_buf())
}

/// Every tmux session and container that a session called `name` would use: a list of
/// `{"backend", "name", "runtime"}` dicts.
#[pyfunction]
#[pyo3(signature = (name, state_dir, *, tmux_binary=None, container_name=None))]
fn find_backends(
    py: Python<'_>,
    name: &str,
    state_dir: PathBuf,
    tmux_binary: Option<String>,
    container_name: Option<String>,
) -> PyResult<Py<PyAny>> {
    let backend = Backend::Container(ContainerSettings {
        image: String::new(),
        volumes: Vec::new(),
        ports: Vec::new(),
        runtime: None,
        container_name,
    });
    let spec = spec_of_one(name, backend, tmux_binary, None)?;
    let found = py.detach(|| proctor::session::find_all(&spec, &state_dir, name));
    let found = found.map_err(|e| errors::backend_error(py, e))?;
    convert::to_py(py, &found)
}

/// The argv that attaches a terminal to session `name` (`backend` `"tmux"` or
/// `"container"`).
#[pyfunction]
#[pyo3(signature = (name, backend, state_dir, *, tmux_binary=None, container_runtime=None, container_name=None))]
fn attach_argv(
    py: Python<'_>,
    name: &str,
    backend: &str,
    state_dir: PathBuf,
    tmux_binary: Option<String>,
    container_runtime: Option<&str>,
    container_name: Option<String>,
) -> PyResult<Vec<String>> {
    let backend = match backend {
        "tmux" => Backend::Tmux,
        "container" => Backend::Container(ContainerSettings {
            image: String::new(),
            volumes: Vec::new(),
            ports: Vec::new(),
            runtime: runtime(container_runtime)?,
            container_name,
        }),
        _ => Backend::Process,
    };
    let spec = spec_of_one(name, backend, tmux_binary, None)?;
    let cmd = py.detach(|| proctor::session::attach_command(&spec, &state_dir, name));
    let cmd = cmd.map_err(|e| errors::attach_error(py, e))?;
    let mut argv = vec![cmd.get_program().to_string_lossy().into_owned()];
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    Ok(argv)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(default_state_dir, m)?)?;
    m.add_function(wrap_pyfunction!(find_backends, m)?)?;
    m.add_function(wrap_pyfunction!(attach_argv, m)?)?;
    Ok(())
}
