//! `proctor._native`: the Rust core of the `proctor` Python package.
//!
//! Thin wrappers over the `proctor` library: [`daemon`] (one embedded daemon), [`lock`]
//! (the lifecycle lock), [`project`] (a `proctor.toml` project and its supervisor) and
//! [`session`] (which backend holds a name). The Pythonic surface (context managers,
//! `call_with_recovery`, async twins, the exception classes) is in `proctor/*.py`; errors
//! raised here are instances of the classes in `proctor/_errors.py` (see [`errors`]).
//!
//! Every call that can block (starting, stopping, waiting, talking to a supervisor, taking a
//! lock) releases the GIL while it runs, so other Python threads go on meanwhile.

use pyo3::prelude::*;

mod convert;
mod daemon;
mod errors;
mod lock;
mod project;
mod session;

/// Runs the supervisor when this process was started as one (by a `Daemon` with
/// `supervisor="process"`, or by `Project.up`) and exits; returns at once otherwise.
#[pyfunction]
fn serve_if_requested() {
    proctor::daemon::serve_if_requested();
}

/// The module `proctor._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<daemon::Probe>()?;
    m.add_class::<daemon::Storage>()?;
    m.add_class::<daemon::NativeDaemon>()?;
    m.add_class::<lock::NativeLock>()?;
    m.add_function(wrap_pyfunction!(serve_if_requested, m)?)?;
    project::register(m)?;
    session::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
