//! The Python classes the native side builds: psutil's named tuples (psutil's own when it is
//! importable) and exceptions, handed over once by `tracer._types` at import.

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple};

static REGISTRY: GILOnceCell<Py<PyDict>> = GILOnceCell::new();

/// Takes the registry: class name → class (`pmem`, `NoSuchProcess`, …).
#[pyfunction]
pub fn init(py: Python<'_>, registry: Bound<'_, PyDict>) -> PyResult<()> {
    let _ = REGISTRY.set(py, registry.unbind());
    Ok(())
}

/// The class registered under `name`.
pub fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let registry = REGISTRY
        .get(py)
        .ok_or_else(|| PyRuntimeError::new_err("tracer._native used before tracer._types.init"))?
        .bind(py);
    registry
        .get_item(name)?
        .ok_or_else(|| PyRuntimeError::new_err(format!("tracer._types has no '{name}'")))
}

/// A named tuple `name(**fields)`; a plain dict when the fields are not the tuple's (an
/// exited process's partial usage).
pub fn tuple<'py>(py: Python<'py>, name: &str, fields: Bound<'py, PyDict>) -> PyResult<PyObject> {
    let cls = class(py, name)?;
    match cls.call((), Some(&fields)) {
        Ok(value) => Ok(value.unbind()),
        Err(_) => Ok(fields.into_any().unbind()),
    }
}

/// psutil's exceptions, with pid and name; `tracer.AgentError` for the rest.
pub enum Failure {
    NoSuchProcess {
        pid: u32,
        name: Option<String>,
    },
    AccessDenied {
        pid: u32,
        name: Option<String>,
    },
    ZombieProcess {
        pid: u32,
        name: Option<String>,
    },
    TimeoutExpired {
        seconds: f64,
        pid: u32,
        name: Option<String>,
    },
    Agent(String),
    Other(String),
}

impl Failure {
    pub fn into_py(self, py: Python<'_>) -> PyErr {
        let made = (|| -> PyResult<PyErr> {
            let (cls, args) = match self {
                Failure::NoSuchProcess { pid, name } => (
                    "NoSuchProcess",
                    PyTuple::new(
                        py,
                        [pid.into_pyobject(py)?.into_any(), name.into_pyobject(py)?],
                    )?,
                ),
                Failure::AccessDenied { pid, name } => (
                    "AccessDenied",
                    PyTuple::new(
                        py,
                        [pid.into_pyobject(py)?.into_any(), name.into_pyobject(py)?],
                    )?,
                ),
                Failure::ZombieProcess { pid, name } => (
                    "ZombieProcess",
                    PyTuple::new(
                        py,
                        [pid.into_pyobject(py)?.into_any(), name.into_pyobject(py)?],
                    )?,
                ),
                Failure::TimeoutExpired { seconds, pid, name } => (
                    "TimeoutExpired",
                    PyTuple::new(
                        py,
                        [
                            seconds.into_pyobject(py)?.into_any(),
                            pid.into_pyobject(py)?.into_any(),
                            name.into_pyobject(py)?,
                        ],
                    )?,
                ),
                Failure::Agent(message) => (
                    "AgentError",
                    PyTuple::new(py, [message.into_pyobject(py)?.into_any()])?,
                ),
                Failure::Other(message) => return Ok(PyOSError::new_err(message)),
            };
            let instance = class(py, cls)?.call1(args)?;
            Ok(PyErr::from_value(instance))
        })();
        made.unwrap_or_else(|e| e)
    }
}

impl From<tracer::Error> for Failure {
    fn from(error: tracer::Error) -> Failure {
        match error {
            tracer::Error::NoSuchProcess { pid, name } => Failure::NoSuchProcess { pid, name },
            tracer::Error::AccessDenied { pid, name } => Failure::AccessDenied { pid, name },
            tracer::Error::ZombieProcess { pid, name } => Failure::ZombieProcess { pid, name },
            tracer::Error::TimeoutExpired { seconds, pid, name } => {
                Failure::TimeoutExpired { seconds, pid, name }
            }
            tracer::Error::Other(message) => Failure::Other(message),
        }
    }
}

/// `Result` whose error becomes a Python exception.
pub trait IntoPyResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Failure>> IntoPyResult<T> for Result<T, E> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into().into_py(py))
    }
}
