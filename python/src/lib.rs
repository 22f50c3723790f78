//! `tracer._native`: the Rust half of the Python package. `tracer.psutil` (Python) calls it in
//! one of two modes: through the agent's socket ([`agent::Agent`], the typed protocol of
//! `tracer::agent::protocol`, rows decoded with serde into typed values here) or in-process
//! ([`direct`], the Rust library's `Process`, `process_iter`, `wait_procs` and `system`).
//! The GIL is released while a request or a wait runs.
//!
//! Python objects are built here from typed values: psutil's named tuples come from the
//! Python side's registry ([`types::init`]), byte strings become `str` with surrogateescape.

mod agent;
mod convert;
mod direct;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(types::init, m)?)?;
    m.add_function(wrap_pyfunction!(agent::default_socket, m)?)?;
    m.add_class::<agent::Agent>()?;
    m.add_class::<agent::EventStream>()?;
    direct::register(m)?;
    Ok(())
}
