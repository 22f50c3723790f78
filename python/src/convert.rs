//! Typed Rust values into Python objects: the library's dynamic [`tracer::Value`] (direct
//! mode) and the exit usage the agent sends. Byte strings become `str` decoded as
//! `os.fsdecode` does (surrogateescape).

use std::ffi::OsStr;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tracer::render::events::UsageRecord;
use tracer::Value;

/// An OS string as `os.fsdecode` gives it.
pub fn os_str(py: Python<'_>, value: &OsStr) -> PyResult<PyObject> {
    Ok(value.into_pyobject(py)?.into_any().unbind())
}

/// The named tuple class of an attribute's value (or of its list's items).
pub fn tuple_class(attr: &str) -> Option<&'static str> {
    Some(match attr {
        "memory_info" => "pmem",
        "memory_full_info" => "pfullmem",
        "cpu_times" => "pcputimes",
        "uids" => "puids",
        "gids" => "pgids",
        "num_ctx_switches" => "pctxsw",
        "io_counters" => "pio",
        "ionice" => "pionice",
        "open_files" => "popenfile",
        "threads" => "pthread",
        "num_page_faults" => "ppagefaults",
        _ => return None,
    })
}

/// A library value of attribute `attr` as psutil returns it.
pub fn value(py: Python<'_>, attr: &str, value: &Value) -> PyResult<PyObject> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Int(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Float(v) => v.into_pyobject(py)?.into_any().unbind(),
        Value::Str(s) => os_str(py, s)?,
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(self::value(py, attr, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Tuple(fields) => {
            let dict = PyDict::new(py);
            for (key, field) in fields {
                dict.set_item(*key, self::value(py, key, field)?)?;
            }
            match tuple_class(attr) {
                Some(name) => crate::types::tuple(py, name, dict)?,
                None => dict.into_any().unbind(),
            }
        }
        Value::Dict(items) => {
            let dict = PyDict::new(py);
            for (key, item) in items {
                dict.set_item(os_str(py, key)?, self::value(py, attr, item)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// What an exited process consumed (`wait_procs`' gone, `exited()`): `pexitusage` with
/// psutil's tuples inside, or None when its exit was not seen with usage.
pub fn usage(py: Python<'_>, usage: &UsageRecord) -> PyResult<PyObject> {
    let Some(cpu) = usage.cpu_times else {
        return Ok(py.None());
    };
    let fields = PyDict::new(py);
    let cpu_times = PyDict::new(py);
    cpu_times.set_item("user", cpu.user)?;
    cpu_times.set_item("system", cpu.system)?;
    cpu_times.set_item("children_user", cpu.children_user)?;
    cpu_times.set_item("children_system", cpu.children_system)?;
    cpu_times.set_item("iowait", cpu.iowait)?;
    fields.set_item(
        "cpu_times",
        crate::types::tuple(py, "pcputimes", cpu_times)?,
    )?;
    fields.set_item("peak_rss", usage.memory_info.map(|m| m.rss))?;
    match usage.num_ctx_switches {
        Some(c) => {
            let d = PyDict::new(py);
            d.set_item("voluntary", c.voluntary)?;
            d.set_item("involuntary", c.involuntary)?;
            fields.set_item("num_ctx_switches", crate::types::tuple(py, "pctxsw", d)?)?;
        }
        None => fields.set_item("num_ctx_switches", py.None())?,
    }
    match usage.io_counters {
        Some(io) => {
            let d = PyDict::new(py);
            for (key, v) in [
                ("read_count", io.read_count),
                ("write_count", io.write_count),
                ("read_bytes", io.read_bytes),
                ("write_bytes", io.write_bytes),
                ("read_chars", io.read_chars),
                ("write_chars", io.write_chars),
            ] {
                d.set_item(key, v)?;
            }
            fields.set_item("io_counters", crate::types::tuple(py, "pio", d)?)?;
        }
        None => fields.set_item("io_counters", py.None())?,
    }
    match usage.num_page_faults {
        Some(f) => {
            let d = PyDict::new(py);
            d.set_item("minor", f.minor)?;
            d.set_item("major", f.major)?;
            fields.set_item(
                "num_page_faults",
                crate::types::tuple(py, "ppagefaults", d)?,
            )?;
        }
        None => fields.set_item("num_page_faults", py.None())?,
    }
    crate::types::tuple(py, "pexitusage", fields)
}
