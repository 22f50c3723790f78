//! In-process, through the Rust library (no agent running): `tracer::process` for processes
//! (the process-wide table: `/proc` snapshots, or eBPF after [`start`]) and `tracer::system` for
//! the system-wide figures. Same semantics as the CLI's direct mode.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use tracer::host::{IoClass, Rlimit};
use tracer::render::events::UsageRecord;
use tracer::system;
use tracer::{Attr, Tracer, TracerConfig};

use crate::convert::{os_str, value};
use crate::types::{tuple, Failure, IntoPyResult};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Proc>()?;
    m.add_function(wrap_pyfunction!(pids, m)?)?;
    m.add_function(wrap_pyfunction!(pid_exists, m)?)?;
    m.add_function(wrap_pyfunction!(process_iter, m)?)?;
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(feed, m)?)?;
    m.add_function(wrap_pyfunction!(sys, m)?)?;
    m.add_function(wrap_pyfunction!(heap_info, m)?)?;
    m.add_function(wrap_pyfunction!(heap_trim, m)?)?;
    Ok(())
}

fn attrs(names: &[String]) -> PyResult<Vec<Attr>> {
    names
        .iter()
        .map(|n| n.parse::<Attr>().map_err(PyValueError::new_err))
        .collect()
}

/// `(heap_used, mmap_used)` of this process's glibc heap (`mallinfo2`, read by the Rust
/// library: the extension shares the interpreter's allocator), None without glibc.
#[pyfunction]
fn heap_info() -> Option<(u64, u64)> {
    tracer::process::heap_info()
}

/// `malloc_trim(0)`: whether glibc gave some memory back.
#[pyfunction]
fn heap_trim() -> bool {
    tracer::process::heap_trim()
}

/// Every live pid, sorted: `/proc`'s listing through the host reader (psutil's `pids()`;
/// `tracer::pids()` would rescan the in-process table, which a snapshot table does per call).
#[pyfunction]
fn pids(py: Python<'_>) -> PyResult<Vec<u32>> {
    py.allow_threads(|| tracer::Host::new().pids())
        .map_err(|e| Failure::Other(format!("listing /proc: {e}")).into_py(py))
}

/// Whether a process with this pid exists.
#[pyfunction]
fn pid_exists(pid: u32) -> bool {
    tracer::pid_exists(pid)
}

/// `[pid, create_time, info, pid, …]` of every live process (flat, as the agent's `query`
/// with `flat`), `info` holding `attrs` (`ad_value` for what could not be read).
#[pyfunction]
#[pyo3(signature = (names, ad_value=None))]
fn process_iter(
    py: Python<'_>,
    names: Vec<String>,
    ad_value: Option<PyObject>,
) -> PyResult<Py<PyList>> {
    let wanted = attrs(&names)?;
    let rows = py.allow_threads(|| tracer::process_iter(&wanted));
    let ad_value = ad_value.unwrap_or_else(|| py.None());
    let keys: Vec<Bound<'_, PyString>> = names.iter().map(|a| PyString::intern(py, a)).collect();
    let out = PyList::empty(py);
    for (process, values) in rows {
        let info = PyDict::new(py);
        for ((key, attr), v) in keys.iter().zip(&wanted).zip(&values) {
            // No terminal is None for psutil too, not a failure to read.
            if matches!(v, tracer::Value::Null) && *attr != Attr::Terminal {
                info.set_item(key, &ad_value)?;
            } else {
                info.set_item(key, value(py, attr.name(), v)?)?;
            }
        }
        out.append(process.pid())?;
        out.append(process.create_time())?;
        out.append(info)?;
    }
    Ok(out.unbind())
}

/// Starts the in-process table with eBPF (root): from then on `wait` knows the exit code of
/// any process. Returns the feed's name (`ebpf`, or `snapshot` when it could not start).
#[pyfunction]
fn start(py: Python<'_>) -> String {
    py.allow_threads(|| {
        Tracer::configure_global(TracerConfig::default());
        Tracer::global().feed().name().to_string()
    })
}

/// The in-process table's feed (`snapshot` unless [`start`] loaded eBPF).
#[pyfunction]
fn feed() -> String {
    Tracer::global().feed().name().to_string()
}

/// A process of the in-process table (psutil's `Process` methods; errors are psutil's).
#[pyclass(module = "tracer._native", frozen)]
pub struct Proc {
    inner: tracer::Process,
}

impl Proc {
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&tracer::Process) -> tracer::process::Result<T> + Send,
    ) -> PyResult<T> {
        let inner = &self.inner;
        py.allow_threads(|| f(inner)).py(py)
    }
}

fn ints(py: Python<'_>, class: &str, keys: &[&str], values: &[i64]) -> PyResult<PyObject> {
    let d = PyDict::new(py);
    for (k, v) in keys.iter().zip(values) {
        d.set_item(*k, v)?;
    }
    tuple(py, class, d)
}

#[pymethods]
impl Proc {
    #[new]
    fn new(py: Python<'_>, pid: u32) -> PyResult<Proc> {
        let inner = py.allow_threads(|| tracer::Process::new(pid)).py(py)?;
        Ok(Proc { inner })
    }

    #[getter]
    fn pid(&self) -> u32 {
        self.inner.pid()
    }

    fn create_time(&self) -> f64 {
        self.inner.create_time()
    }

    fn is_running(&self, py: Python<'_>) -> bool {
        py.allow_threads(|| self.inner.is_running())
    }

    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |p| p.name())
    }

    fn exe(&self, py: Python<'_>) -> PyResult<PyObject> {
        let exe = self.run(py, |p| p.exe())?;
        os_str(py, &exe)
    }

    fn cmdline(&self, py: Python<'_>) -> PyResult<PyObject> {
        let args = self.run(py, |p| p.cmdline())?;
        let list = PyList::empty(py);
        for arg in &args {
            list.append(os_str(py, arg)?)?;
        }
        Ok(list.into_any().unbind())
    }

    fn ppid(&self, py: Python<'_>) -> PyResult<u32> {
        self.run(py, |p| p.ppid())
    }

    /// Children's `(pid, create_time)`.
    fn children(&self, py: Python<'_>, recursive: bool) -> PyResult<Vec<(u32, f64)>> {
        let children = self.run(py, |p| p.children(recursive))?;
        Ok(children
            .iter()
            .map(|c| (c.pid(), c.create_time()))
            .collect())
    }

    fn status(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.run(py, |p| p.status())
    }

    fn username(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |p| p.username())
    }

    fn uids(&self, py: Python<'_>) -> PyResult<PyObject> {
        let [r, e, s] = self.run(py, |p| p.uids())?;
        ints(
            py,
            "puids",
            &["real", "effective", "saved"],
            &[r.into(), e.into(), s.into()],
        )
    }

    fn gids(&self, py: Python<'_>) -> PyResult<PyObject> {
        let [r, e, s] = self.run(py, |p| p.gids())?;
        ints(
            py,
            "pgids",
            &["real", "effective", "saved"],
            &[r.into(), e.into(), s.into()],
        )
    }

    fn memory_info(&self, py: Python<'_>) -> PyResult<PyObject> {
        let m = self.run(py, |p| p.memory_info())?;
        let v = [m.rss, m.vms, m.shared, m.text, m.lib, m.data, m.dirty].map(|x| x as i64);
        ints(
            py,
            "pmem",
            &["rss", "vms", "shared", "text", "lib", "data", "dirty"],
            &v,
        )
    }

    fn memory_full_info(&self, py: Python<'_>) -> PyResult<PyObject> {
        let m = self.run(py, |p| p.memory_full_info())?;
        let v = [
            m.rss, m.vms, m.shared, m.text, m.lib, m.data, m.dirty, m.uss, m.pss, m.swap,
        ]
        .map(|x| x as i64);
        ints(
            py,
            "pfullmem",
            &[
                "rss", "vms", "shared", "text", "lib", "data", "dirty", "uss", "pss", "swap",
            ],
            &v,
        )
    }

    /// Every mapping of smaps as a plain tuple `(addr, perms, path, rss, size, pss,
    /// shared_clean, shared_dirty, private_clean, private_dirty, referenced, anonymous, swap)`
    /// (psutil's `_pslinux` rows: the Python side groups them or makes `pmmap_ext`s).
    fn memory_maps(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let maps = self.run(py, |p| p.memory_maps())?;
        let list = PyList::empty(py);
        for m in &maps {
            let nums = [
                m.rss,
                m.size,
                m.pss,
                m.shared_clean,
                m.shared_dirty,
                m.private_clean,
                m.private_dirty,
                m.referenced,
                m.anonymous,
                m.swap,
            ];
            let mut row: Vec<PyObject> = vec![
                m.addr.as_str().into_pyobject(py)?.into_any().unbind(),
                m.perms.as_str().into_pyobject(py)?.into_any().unbind(),
                os_str(py, &m.path)?,
            ];
            for n in nums {
                row.push(n.into_pyobject(py)?.into_any().unbind());
            }
            list.append(PyTuple::new(py, row)?)?;
        }
        Ok(list.unbind())
    }

    fn cpu_times(&self, py: Python<'_>) -> PyResult<PyObject> {
        let t = self.run(py, |p| p.cpu_times())?;
        let d = PyDict::new(py);
        d.set_item("user", t.user)?;
        d.set_item("system", t.system)?;
        d.set_item("children_user", t.children_user)?;
        d.set_item("children_system", t.children_system)?;
        d.set_item("iowait", t.iowait)?;
        tuple(py, "pcputimes", d)
    }

    fn num_threads(&self, py: Python<'_>) -> PyResult<u32> {
        self.run(py, |p| p.num_threads())
    }

    fn num_fds(&self, py: Python<'_>) -> PyResult<u32> {
        self.run(py, |p| p.num_fds())
    }

    fn num_ctx_switches(&self, py: Python<'_>) -> PyResult<PyObject> {
        let (v, i) = self.run(py, |p| p.num_ctx_switches())?;
        ints(
            py,
            "pctxsw",
            &["voluntary", "involuntary"],
            &[v as i64, i as i64],
        )
    }

    fn io_counters(&self, py: Python<'_>) -> PyResult<PyObject> {
        let io = self.run(py, |p| p.io_counters())?;
        let v = [
            io.read_count,
            io.write_count,
            io.read_bytes,
            io.write_bytes,
            io.read_chars,
            io.write_chars,
        ]
        .map(|x| x as i64);
        ints(
            py,
            "pio",
            &[
                "read_count",
                "write_count",
                "read_bytes",
                "write_bytes",
                "read_chars",
                "write_chars",
            ],
            &v,
        )
    }

    fn nice(&self, py: Python<'_>) -> PyResult<i64> {
        self.run(py, |p| p.nice())
    }

    /// `(ioclass, value)` as numbers; the Python side makes psutil's `IOPriority` of the class.
    fn ionice(&self, py: Python<'_>) -> PyResult<(i64, u32)> {
        let io = self.run(py, |p| p.ionice())?;
        let class: IoClass = io.ioclass;
        Ok((i64::from(class), io.value))
    }

    /// Sets the I/O priority: `ioclass` 0-3 (another class is the kernel's `EINVAL`, an
    /// `OSError` as psutil's), `value` as psutil checked it.
    fn set_ionice(&self, py: Python<'_>, ioclass: i64, value: u32) -> PyResult<()> {
        let class = match ioclass {
            0 => IoClass::None,
            1 => IoClass::Rt,
            2 => IoClass::Be,
            3 => IoClass::Idle,
            _ => {
                // EINVAL (22 on Linux): what ioprio_set answers for it.
                return Err(pyo3::exceptions::PyOSError::new_err((
                    22,
                    "Invalid argument",
                )));
            }
        };
        self.run(py, |p| p.set_ionice(class, value))
    }

    fn rlimit(&self, py: Python<'_>, resource: usize) -> PyResult<(i64, i64)> {
        let resource = *Rlimit::ALL
            .get(resource)
            .ok_or_else(|| PyValueError::new_err(format!("invalid resource {resource}")))?;
        self.run(py, |p| p.rlimit(resource))
    }

    fn terminal(&self, py: Python<'_>) -> PyResult<PyObject> {
        match self.run(py, |p| p.terminal())? {
            Some(t) => os_str(py, &t),
            None => Ok(py.None()),
        }
    }

    fn cwd(&self, py: Python<'_>) -> PyResult<PyObject> {
        let cwd = self.run(py, |p| p.cwd())?;
        os_str(py, &cwd)
    }

    fn environ(&self, py: Python<'_>) -> PyResult<PyObject> {
        let vars = self.run(py, |p| p.environ())?;
        let d = PyDict::new(py);
        for (k, v) in &vars {
            d.set_item(os_str(py, k)?, os_str(py, v)?)?;
        }
        Ok(d.into_any().unbind())
    }

    fn open_files(&self, py: Python<'_>) -> PyResult<PyObject> {
        let files = self.run(py, |p| p.open_files())?;
        let list = PyList::empty(py);
        for f in &files {
            let d = PyDict::new(py);
            d.set_item("path", os_str(py, &f.path)?)?;
            d.set_item("fd", f.fd)?;
            d.set_item("position", f.position)?;
            d.set_item("mode", f.mode)?;
            d.set_item("flags", f.flags)?;
            list.append(tuple(py, "popenfile", d)?)?;
        }
        Ok(list.into_any().unbind())
    }

    fn threads(&self, py: Python<'_>) -> PyResult<PyObject> {
        let threads = self.run(py, |p| p.threads())?;
        let list = PyList::empty(py);
        for t in &threads {
            let d = PyDict::new(py);
            d.set_item("id", t.id)?;
            d.set_item("user_time", t.user_time)?;
            d.set_item("system_time", t.system_time)?;
            list.append(tuple(py, "pthread", d)?)?;
        }
        Ok(list.into_any().unbind())
    }

    fn cpu_num(&self, py: Python<'_>) -> PyResult<u32> {
        self.run(py, |p| p.cpu_num())
    }

    fn cpu_affinity(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        self.run(py, |p| p.cpu_affinity())
    }

    /// psutil's `net_connections(kind)` as plain values (the Python side makes `pconn`s).
    fn net_connections(&self, py: Python<'_>, kind: &str) -> PyResult<PyObject> {
        let kind: system::ConnKind = kind
            .parse()
            .map_err(|e: system::SystemError| PyValueError::new_err(e.to_string()))?;
        let conns = self.run(py, |p| p.net_connections(kind))?;
        Ok(pythonize::pythonize(py, &conns)?.unbind())
    }

    fn send_signal(&self, py: Python<'_>, signal: i32) -> PyResult<()> {
        self.run(py, |p| p.send_signal(signal))
    }

    /// The exit code (negative signal when one ended it; None when unknown), waiting at most
    /// `timeout` seconds (`TimeoutExpired`), without the GIL.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<i32>> {
        let timeout = match timeout {
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                return Err(PyValueError::new_err("timeout must be a positive number"))
            }
            Some(t) => Some(Duration::from_secs_f64(t)),
            None => None,
        };
        self.run(py, |p| p.wait(timeout))
    }

    /// What the process consumed in all, when the in-process table saw its exit (eBPF).
    fn exit_usage(&self, py: Python<'_>) -> PyResult<PyObject> {
        let usage = Tracer::global()
            .lock()
            .find(self.inner.id())
            .and_then(|entry| entry.exit.as_deref().copied())
            .and_then(|exit| exit.status)
            .and_then(|status| status.usage);
        crate::convert::usage(py, &UsageRecord::new(usage.as_ref()))
    }

    /// `{attr: value}` of `names` read at once (psutil's `as_dict` over the attributes the
    /// library knows); None for what could not be read.
    fn as_dict(&self, py: Python<'_>, names: Vec<String>) -> PyResult<PyObject> {
        let wanted = attrs(&names)?;
        let pairs = self.run(py, |p| p.as_dict(&wanted))?;
        let d = PyDict::new(py);
        for (attr, v) in &pairs {
            d.set_item(attr.name(), value(py, attr.name(), v)?)?;
        }
        Ok(d.into_any().unbind())
    }
}

impl From<system::SystemError> for Failure {
    fn from(error: system::SystemError) -> Failure {
        Failure::Other(error.to_string())
    }
}

/// A system-wide figure, by psutil's function name, as plain Python values (dicts, lists,
/// numbers) made from the library's typed records through serde: the Python side shapes them
/// into psutil's named tuples.
#[pyfunction]
#[pyo3(signature = (function, *args))]
fn sys(py: Python<'_>, function: &str, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
    fn out<T: serde::Serialize>(py: Python<'_>, value: system::Result<T>) -> PyResult<PyObject> {
        let value = value.py(py)?;
        Ok(pythonize::pythonize(py, &value)?.unbind())
    }
    let flag = |i: usize| -> PyResult<bool> {
        Ok(args
            .get_item(i)
            .ok()
            .map(|a| a.is_truthy())
            .transpose()?
            .unwrap_or(false))
    };
    match function {
        "cpu_times" if flag(0)? => out(py, system::cpu_times_percpu()),
        "cpu_times" => out(py, system::cpu_times()),
        "cpu_count" => out(py, system::cpu_count(flag(0)?)),
        "cpu_stats" => out(py, system::cpu_stats()),
        "cpu_freq" if flag(0)? => out(py, system::cpu_freq_percpu()),
        "cpu_freq" => out(py, system::cpu_freq()),
        "getloadavg" => out(py, system::getloadavg()),
        "virtual_memory" => out(py, system::virtual_memory()),
        "swap_memory" => out(py, system::swap_memory()),
        "disk_partitions" => out(py, system::disk_partitions(flag(0)?)),
        "disk_usage" => {
            let path: std::path::PathBuf = args.get_item(0)?.extract()?;
            out(py, system::disk_usage(path))
        }
        "disk_io_counters" if flag(0)? => out(py, system::disk_io_counters_perdisk()),
        "disk_io_counters" => out(py, system::disk_io_counters()),
        "net_io_counters" if flag(0)? => out(py, system::net_io_counters_pernic()),
        "net_io_counters" => out(py, system::net_io_counters()),
        "net_if_addrs" => out(py, system::net_if_addrs()),
        "net_if_stats" => out(py, system::net_if_stats()),
        "net_connections" => {
            let kind: String = args.get_item(0)?.extract()?;
            let kind: system::ConnKind = kind
                .parse()
                .map_err(|e: system::SystemError| PyValueError::new_err(e.to_string()))?;
            out(py, system::net_connections(kind))
        }
        "sensors_temperatures" => out(py, system::sensors_temperatures()),
        "sensors_fans" => out(py, system::sensors_fans()),
        "sensors_battery" => out(py, system::sensors_battery()),
        "boot_time" => out(py, system::boot_time()),
        "users" => out(py, system::users()),
        other => Err(PyValueError::new_err(format!(
            "unknown system function '{other}'"
        ))),
    }
}
