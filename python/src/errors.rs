//! Rust errors as Python exceptions: each becomes an instance of a class of
//! `proctor._errors` (all under `proctor.ProctorError`), carrying the Rust error's fields
//! as attributes.

use std::path::Path;

use proctor::control::ControlError;
use proctor::error::SuperviseError;
use proctor::lock::LockError;
use proctor::session::{AttachError, BackendError};
use proctor::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert;

/// Where a daemon's log is, so a failed start can carry its last lines.
#[derive(Clone, Copy)]
pub(crate) struct LogAt<'a> {
    /// The state directory (its `logs/` holds `NAME.log`).
    pub(crate) state_dir: &'a Path,
    /// The service.
    pub(crate) name: &'a str,
}

/// How many log lines a `StartFailed` or `ReadyTimeout` carries.
const LOG_TAIL: usize = 20;

/// Builds `proctor._errors.<class>(message, **fields)`.
pub(crate) fn raise(
    py: Python<'_>,
    class: &str,
    message: String,
    fields: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("proctor._errors")?.getattr(class)?;
        let kwargs = PyDict::new(py);
        fields(&kwargs)?;
        let exc = cls.call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// The last lines of a daemon's log, oldest first (empty when unreadable).
pub(crate) fn log_tail(at: LogAt<'_>, lines: usize) -> Vec<String> {
    let dir = at.state_dir.join("logs");
    proctor::logs::tail(&dir, at.name, lines, None, |_| true)
        .unwrap_or_default()
        .iter()
        .filter_map(|raw| proctor::logs::parse_record(raw))
        .map(|r| String::from_utf8_lossy(r.line).into_owned())
        .collect()
}

/// `err` as a Python exception; `log` lets start failures carry the daemon's last lines.
pub(crate) fn to_py(py: Python<'_>, err: Error, log: Option<LogAt<'_>>) -> PyErr {
    let message = err.to_string();
    let tail = || log.map(|at| log_tail(at, LOG_TAIL)).unwrap_or_default();
    match err {
        Error::Spec(errs) => raise(py, "SpecError", message, |kw| {
            let items = errs
                .0
                .iter()
                .map(|e| {
                    let d = PyDict::new(py);
                    d.set_item("file", e.file.to_string_lossy())?;
                    d.set_item("line", e.line)?;
                    d.set_item("col", e.col)?;
                    d.set_item("message", &e.message)?;
                    d.set_item("help", e.help.as_deref())?;
                    Ok(d)
                })
                .collect::<PyResult<Vec<_>>>()?;
            kw.set_item("errors", items)
        }),
        Error::AlreadyRunning { name, holder } => raise(py, "AlreadyRunning", message, |kw| {
            kw.set_item("name", name)?;
            kw.set_item("holder", convert::record(py, &holder)?)
        }),
        Error::NotStarted(name) => raise(py, "NotRunning", message, |kw| kw.set_item("name", name)),
        Error::SpawnFailed { name, reason } => {
            let log_tail = tail();
            raise(py, "StartFailed", message, |kw| {
                kw.set_item("name", name)?;
                kw.set_item("cause", reason)?;
                kw.set_item("log_tail", log_tail)
            })
        }
        Error::ReadyTimeout { name, waited } => {
            let log_tail = tail();
            raise(py, "ReadyTimeout", message, |kw| {
                kw.set_item("name", name)?;
                kw.set_item("waited", convert::secs(waited))?;
                kw.set_item("log_tail", log_tail)
            })
        }
        Error::UnknownService { name, path } => raise(py, "UnknownService", message, |kw| {
            kw.set_item("name", name)?;
            kw.set_item("path", path.to_string_lossy())
        }),
        Error::Lock(e) => lock_error(py, e),
        Error::Control(e) => control_error(py, e),
        Error::Supervise(e) => supervise_error(py, e, message),
        Error::Io { context, source } => raise(py, "ProctorOSError", message, |kw| {
            kw.set_item("context", context)?;
            kw.set_item("errno", source.raw_os_error())
        }),
        _ => raise(py, "ProctorError", message, |_| Ok(())),
    }
}

/// A lock error: `LockConflict` for a live holder (or one starting right now), else
/// `LockError`.
pub(crate) fn lock_error(py: Python<'_>, err: LockError) -> PyErr {
    let message = err.to_string();
    match err {
        LockError::Conflict { holder, path } => raise(py, "LockConflict", message, |kw| {
            kw.set_item("holder", convert::record(py, &holder)?)?;
            kw.set_item("path", path.to_string_lossy())
        }),
        LockError::Busy { path } => raise(py, "LockConflict", message, |kw| {
            kw.set_item("holder", py.None())?;
            kw.set_item("path", path.to_string_lossy())
        }),
        LockError::Io { path, source } => raise(py, "LockError", message, |kw| {
            kw.set_item("path", path.to_string_lossy())?;
            kw.set_item("errno", source.raw_os_error())
        }),
        _ => raise(py, "LockError", message, |_| Ok(())),
    }
}

/// A control-socket error: `NotRunning` when no supervisor listens, else `ControlError`.
pub(crate) fn control_error(py: Python<'_>, err: ControlError) -> PyErr {
    let message = err.to_string();
    match err {
        ControlError::NotRunning { .. } => raise(py, "NotRunning", message, |kw| {
            kw.set_item("name", py.None())
        }),
        ControlError::Timeout(waited) => raise(py, "ControlTimeout", message, |kw| {
            kw.set_item("remote", py.None())?;
            kw.set_item("waited", convert::secs(waited))
        }),
        ControlError::Remote(body) => raise(py, "ControlError", message, |kw| {
            kw.set_item("remote", convert::to_py(py, &body)?)
        }),
        _ => raise(py, "ControlError", message, |kw| {
            kw.set_item("remote", py.None())
        }),
    }
}

fn supervise_error(py: Python<'_>, err: SuperviseError, message: String) -> PyErr {
    match err {
        SuperviseError::AlreadyRunning { pid, dir } => {
            raise(py, "SupervisorRunning", message, |kw| {
                kw.set_item("pid", pid)?;
                kw.set_item("state_dir", dir.to_string_lossy())
            })
        }
        _ => raise(py, "ProctorError", message, |_| Ok(())),
    }
}

/// A backend error (`BackendError`, or `AmbiguousBackend` naming where the name was found).
pub(crate) fn backend_error(py: Python<'_>, err: BackendError) -> PyErr {
    let message = err.to_string();
    match err {
        BackendError::Ambiguous { name, found } => raise(py, "AmbiguousBackend", message, |kw| {
            kw.set_item("name", name)?;
            kw.set_item("found", convert::to_py(py, &found)?)
        }),
        _ => raise(py, "BackendError", message, |_| Ok(())),
    }
}

/// Why a session cannot be attached to.
pub(crate) fn attach_error(py: Python<'_>, err: AttachError) -> PyErr {
    let message = err.to_string();
    match err {
        AttachError::Backend(e) => backend_error(py, e),
        AttachError::NotRunning { service, .. } => {
            raise(py, "NotRunning", message, |kw| kw.set_item("name", service))
        }
        _ => raise(py, "BackendError", message, |_| Ok(())),
    }
}
