//! Rust values to Python ones: through JSON for serde types, by hand for the rest.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `value` as a Python object (dicts, lists, numbers, strings), via its JSON form.
pub(crate) fn to_py<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    json_to_py(py, &text)
}

/// JSON text as a Python object.
pub(crate) fn json_to_py(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let loads = py.import("json")?.getattr("loads")?;
    Ok(loads.call1((text,))?.unbind())
}

/// A lock record as a dict (`schema_version`, `pid`, `pgid`, `start_time`, `hostname`,
/// `started_at`, `supervisor_pid`, …).
pub(crate) fn record(py: Python<'_>, r: &proctor::lock::LockRecord) -> PyResult<Py<PyAny>> {
    to_py(py, r)
}

/// Seconds as a float.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Optional seconds (a Python float) as a duration; negative or NaN values are refused.
pub(crate) fn duration(secs: Option<f64>) -> PyResult<Option<Duration>> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s).map_err(|_| {
            pyo3::exceptions::PyValueError::new_err(format!("{s} is not a valid number of seconds"))
        })
    })
    .transpose()
}

/// A new dict.
pub(crate) fn dict(py: Python<'_>) -> Bound<'_, PyDict> {
    PyDict::new(py)
}
