//! `NativeLock`: the lifecycle lock ([`proctor::lock::Lock`]) for Python; the
//! `proctor.LifecycleLock` class wraps it.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use proctor::lock::{Acquired, Lock, TakeoverReason};
use pyo3::prelude::*;

use crate::convert;
use crate::errors;

/// One lifecycle lock file (same format as the CLI's, so `proctor lock` sees it).
#[pyclass(module = "proctor._native", frozen)]
pub(crate) struct NativeLock {
    path: PathBuf,
    lock: Mutex<Lock>,
}

fn reason(r: &TakeoverReason) -> &'static str {
    match r {
        TakeoverReason::ForeignHost => "foreign_host",
        TakeoverReason::HolderDead => "holder_dead",
        TakeoverReason::PidReused => "pid_reused",
    }
}

#[pymethods]
impl NativeLock {
    /// The lock at `path` (conventionally `STATE/locks/NAME.lock`). No IO.
    #[new]
    fn new(path: PathBuf) -> Self {
        Self {
            lock: Mutex::new(Lock::at(&path)),
            path,
        }
    }

    /// The lock file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Takes the lock for this process. Returns a dict: `{"outcome": "fresh"}`,
    /// `{"outcome": "taken_over", "previous": record, "reason": ...}` or
    /// `{"outcome": "orphan", "previous": record}`. Raises `LockConflict` naming a live
    /// holder.
    fn acquire(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let got = py.detach(|| {
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .acquire()
        });
        let got = got.map_err(|e| errors::lock_error(py, e))?;
        let d = convert::dict(py);
        match &got {
            Acquired::Fresh => d.set_item("outcome", "fresh")?,
            Acquired::TakenOver {
                previous,
                reason: r,
            } => {
                d.set_item("outcome", "taken_over")?;
                d.set_item("previous", convert::record(py, previous)?)?;
                d.set_item("reason", reason(r))?;
            }
            Acquired::Orphan { orphan } => {
                d.set_item("outcome", "orphan")?;
                d.set_item("previous", convert::record(py, orphan)?)?;
            }
        }
        Ok(d.into_any().unbind())
    }

    /// Releases the lock (idempotent); true if a record naming this process was cleared.
    fn release(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| {
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .release()
        })
        .map_err(|e| errors::lock_error(py, e))
    }

    /// The record on disk as a dict, `None` when absent, released or unreadable.
    fn read(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let rec = py.detach(|| {
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read()
        });
        rec.map(|r| convert::record(py, &r)).transpose()
    }

    /// Whether this object holds the lock and the record names this process.
    fn is_held_by_self(&self, py: Python<'_>) -> bool {
        py.detach(|| {
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_held_by_self()
        })
    }

    /// Whether this object holds the kernel lock.
    fn is_held(&self) -> bool {
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_held()
    }

    /// Removes the record whoever holds it; returns the prior holder's record (or None).
    fn force_unlock(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let prior = py.detach(|| {
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .force_unlock()
        });
        let prior = prior.map_err(|e| errors::lock_error(py, e))?;
        prior.map(|r| convert::record(py, &r)).transpose()
    }
}
