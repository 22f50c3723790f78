//! Through the agent: one connection per [`Agent`], the protocol's typed requests, and its
//! answers decoded with serde into typed values ([`Row`], `WaitAnswer`, [`EventLine`]) before
//! any Python object is made. The GIL is released while a request is on the wire.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use pyo3::IntoPyObjectExt;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use tracer::agent::client::{self, Client, ClientError};
use tracer::agent::protocol::{
    QueryRequest, Request, SignalOp, SignalRequest, SubscribeRequest, WaitAnswer, WaitRequest,
};
use tracer::bytes::ByteString;
use tracer::render::events::UsageRecord;

use crate::convert::os_str;
use crate::types::{tuple, Failure, IntoPyResult};

/// The socket the CLI would use: `TRACER_SOCKET`, else the default path.
#[pyfunction]
pub fn default_socket() -> PathBuf {
    client::socket_path(None)
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        match error {
            ClientError::Refused { kind, message } if kind == "no_such_process" => {
                Failure::NoSuchProcess {
                    pid: pid_in(&message),
                    name: None,
                }
            }
            ClientError::Refused { kind, message } if kind == "access_denied" => {
                Failure::AccessDenied {
                    pid: pid_in(&message),
                    name: None,
                }
            }
            other => Failure::Agent(other.to_string()),
        }
    }
}

/// The pid an agent's message names (`… (pid=42, …)`), or 0.
fn pid_in(message: &str) -> u32 {
    message
        .split("pid=")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// `value` as a Python string, the same object for the same bytes (kept in `strings`).
fn shared<'a>(
    py: Python<'_>,
    strings: &mut HashMap<&'a [u8], PyObject>,
    value: &'a Option<ByteString>,
) -> PyResult<PyObject> {
    let Some(value) = value else {
        return Ok(py.None());
    };
    if let Some(o) = strings.get(value.as_bytes()) {
        return Ok(o.clone_ref(py));
    }
    let o = os_str(py, value)?;
    strings.insert(value.as_bytes(), o.clone_ref(py));
    Ok(o)
}

/// Python's cyclic garbage collector paused while it lives (when it ran before).
struct GcPaused<'py>(Option<Bound<'py, PyModule>>);

impl<'py> GcPaused<'py> {
    fn new(py: Python<'py>) -> GcPaused<'py> {
        let gc = py.import("gc").ok().filter(|gc| {
            gc.call_method0("isenabled")
                .and_then(|on| on.is_truthy())
                .unwrap_or(false)
                && gc.call_method0("disable").is_ok()
        });
        GcPaused(gc)
    }
}

impl Drop for GcPaused<'_> {
    fn drop(&mut self) {
        if let Some(gc) = &self.0 {
            let _ = gc.call_method0("enable");
        }
    }
}

/// `process_iter`'s objects, made here rather than in a Python loop over the rows (an object
/// and three attributes each: the per-process cost of a listing).
struct Objects<'py> {
    py: Python<'py>,
    cls: &'py Bound<'py, PyType>,
    cache: &'py Bound<'py, PyDict>,
    /// `object.__new__`: an instance without running `cls.__init__` (which reads /proc).
    new: Bound<'py, PyAny>,
    seen: Bound<'py, PyDict>,
    with_info: bool,
    keys: [Bound<'py, PyString>; 3],
}

impl<'py> Objects<'py> {
    fn new(
        py: Python<'py>,
        cls: &'py Bound<'py, PyType>,
        cache: &'py Bound<'py, PyDict>,
        with_info: bool,
    ) -> PyResult<Objects<'py>> {
        Ok(Objects {
            py,
            cls,
            cache,
            new: py.get_type::<PyAny>().getattr(intern!(py, "__new__"))?,
            seen: PyDict::new(py),
            with_info,
            keys: [
                intern!(py, "_pid").clone(),
                intern!(py, "_create_time").clone(),
                intern!(py, "info").clone(),
            ],
        })
    }

    /// The object for one row: the cached one when it is the same process, else a new one.
    fn object(&self, pid: u32, create_time: f64, info: Bound<'py, PyDict>) -> PyResult<PyObject> {
        let [k_pid, k_ctime, k_info] = &self.keys;
        let pid = pid.into_pyobject(self.py)?;
        let cached = match self.cache.get_item(&pid)? {
            Some(o) if o.getattr(k_ctime)?.extract::<f64>().ok() == Some(create_time) => Some(o),
            _ => None,
        };
        let object = match cached {
            Some(o) => o,
            None => {
                let o = self.new.call1((self.cls,))?;
                o.setattr(k_pid, &pid)?;
                o.setattr(k_ctime, create_time)?;
                o
            }
        };
        if self.with_info {
            object.setattr(k_info, info)?;
        }
        self.seen.set_item(pid, &object)?;
        Ok(object.unbind())
    }

    /// The cache becomes the objects of this listing.
    fn done(self) -> PyResult<()> {
        self.cache.clear();
        self.cache.update(self.seen.as_mapping())
    }
}

/// A connection to the agent.
#[pyclass(module = "tracer._native", frozen)]
pub struct Agent {
    path: PathBuf,
    client: Mutex<Option<Client>>,
}

impl Agent {
    /// Sends `request` (reconnecting once if the connection was lost) without the GIL.
    fn request(&self, py: Python<'_>, request: &Request) -> PyResult<Vec<u8>> {
        py.allow_threads(|| {
            let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
            for attempt in 0..2 {
                if slot.is_none() {
                    *slot = Some(Client::connect(&self.path)?);
                }
                let client = slot.as_mut().expect("connected just above");
                match client.request(request) {
                    Ok(payload) => return Ok(payload),
                    Err(ClientError::Io(_) | ClientError::Protocol(_)) if attempt == 0 => {
                        *slot = None;
                    }
                    Err(e) => return Err(e),
                }
            }
            unreachable!("the second attempt returns")
        })
        .py(py)
    }
}

#[pymethods]
impl Agent {
    /// Connects to the agent at `path`: `AgentError` when none listens there.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Agent> {
        let client = py.allow_threads(|| Client::connect(&path)).py(py)?;
        Ok(Agent {
            path,
            client: Mutex::new(Some(client)),
        })
    }

    /// The socket's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Rows of the live table (or of the exited processes) as `(pid, create_time, info)`:
    /// `info` maps each of `attrs` to its value, `ad_value` where the agent could not read it.
    /// With `flat`, one list `[pid, create_time, info, pid, …]` (no tuple per row: fewer
    /// objects for the collector). With `process=(cls, cache, with_info)`, `process_iter`'s
    /// answer: one `cls` object per row (attributes `_pid`, `_create_time`, and `info` when
    /// `with_info`; the other
    /// attributes are the class's defaults), the one in `cache` (pid → object) reused when its
    /// `_create_time` is the row's; `cache` then holds exactly the objects returned.
    #[pyo3(signature = (attrs, pids=Vec::new(), ppids=Vec::new(), exited=false, ad_value=None, flat=false, process=None))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        py: Python<'_>,
        attrs: Vec<String>,
        pids: Vec<u32>,
        ppids: Vec<u32>,
        exited: bool,
        ad_value: Option<PyObject>,
        flat: bool,
        process: Option<(Bound<'_, PyType>, Bound<'_, PyDict>, bool)>,
    ) -> PyResult<Py<PyList>> {
        let keys: Vec<Attr> = attrs
            .iter()
            .map(|a| Attr::parse(a))
            .collect::<PyResult<_>>()?;
        let mut wire: Vec<String> = attrs.clone();
        for needed in ["pid", "create_time"] {
            if !wire.iter().any(|a| a == needed) {
                wire.push(needed.into());
            }
        }
        // No `sort`: the agent answers in its table's identity order, which is pid order,
        // without `--sort`'s generic value comparison; checked (and restored) below.
        let request = Request::Query(QueryRequest {
            attrs: wire,
            pids,
            ppids,
            exited,
            ..QueryRequest::default()
        });
        let payload = self.request(py, &request)?;
        // Boxed: a row is large (every attribute's slot), and the vector grows as it is read.
        let rows: Vec<Box<Row>> = py
            .allow_threads(|| {
                let mut rows: Vec<Box<Row>> = client::decode(&payload)?;
                if !rows.is_sorted_by_key(|r| r.pid) {
                    rows.sort_by_key(|r| r.pid);
                }
                Ok::<_, ClientError>(rows)
            })
            .py(py)?;
        let ad_value = ad_value.unwrap_or_else(|| py.None());
        let names: Vec<Bound<'_, PyString>> =
            attrs.iter().map(|a| PyString::intern(py, a)).collect();
        // Thousands of acyclic containers are made here: the cyclic collector would walk
        // them again and again as they are made (an eighth of the time), for nothing.
        let _paused = GcPaused::new(py);
        // Names and user names repeat across rows: one Python string for each distinct one.
        let mut strings: HashMap<&[u8], PyObject> = HashMap::new();
        // Each row's dict is a copy of one holding every key (a copy of its keys table, no
        // growing as keys are added one by one); the values are then replaced.
        let template = PyDict::new(py);
        for name in &names {
            template.set_item(name, py.None())?;
        }
        let out = PyList::empty(py);
        let objects = match &process {
            Some((cls, cache, with_info)) => Some(Objects::new(py, cls, cache, *with_info)?),
            None => None,
        };
        for row in &rows {
            let info = template.copy()?;
            for (key, name) in keys.iter().zip(&names) {
                let value = match key {
                    Attr::Name => shared(py, &mut strings, &row.name)?,
                    Attr::Username => shared(py, &mut strings, &row.username)?,
                    _ => row.get(py, *key)?,
                };
                if value.is_none(py) && *key != Attr::Terminal {
                    info.set_item(name, &ad_value)?;
                } else {
                    info.set_item(name, value)?;
                }
            }
            let (pid, create_time) = (row.pid.unwrap_or(0), row.create_time.unwrap_or(0.0));
            if let Some(objects) = &objects {
                out.append(objects.object(pid, create_time, info)?)?;
            } else if flat {
                out.append(pid)?;
                out.append(create_time)?;
                out.append(info)?;
            } else {
                out.append((pid, create_time, info))?;
            }
        }
        if let Some(objects) = objects {
            objects.done()?;
        }
        Ok(out.unbind())
    }

    /// Waits for `pids` (any process, not only children): `(gone, alive)`, gone as
    /// `(pid, name, returncode, usage)`, alive as `(pid, name)`.
    #[pyo3(signature = (pids, timeout=None))]
    fn wait(&self, py: Python<'_>, pids: Vec<u32>, timeout: Option<f64>) -> PyResult<PyObject> {
        let payload = self.request(py, &Request::Wait(WaitRequest { pids, timeout }))?;
        let answer: WaitAnswer = client::decode(&payload).py(py)?;
        let gone = PyList::empty(py);
        for g in &answer.gone {
            gone.append((
                g.pid,
                &g.name,
                g.returncode,
                crate::convert::usage(py, &g.usage)?,
            ))?;
        }
        let alive = PyList::empty(py);
        for a in &answer.alive {
            alive.append((a.pid, &a.name))?;
        }
        Ok((gone, alive).into_pyobject(py)?.into_any().unbind())
    }

    /// Sends `kill`, `terminate`, `suspend` or `resume` to `pid` on the caller's behalf.
    fn signal(&self, py: Python<'_>, pid: u32, op: &str) -> PyResult<()> {
        let signal = match op {
            "kill" => SignalOp::Kill,
            "terminate" => SignalOp::Terminate,
            "suspend" => SignalOp::Suspend,
            "resume" => SignalOp::Resume,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown signal op '{other}'"
                )))
            }
        };
        let request = Request::Signal(SignalRequest {
            pids: vec![pid],
            signal: Some(signal),
        });
        let payload = self.request(py, &request)?;
        let results: Vec<tracer::agent::protocol::SignalResult> =
            client::decode(&payload).py(py)?;
        match results.into_iter().next() {
            Some(r) if r.ok => Ok(()),
            Some(r) => {
                let message = r.error.unwrap_or_default();
                Err(if message.contains("access denied") {
                    Failure::AccessDenied { pid, name: None }
                } else if message.contains("no longer exists") {
                    Failure::NoSuchProcess { pid, name: None }
                } else {
                    Failure::Agent(message)
                }
                .into_py(py))
            }
            None => Err(Failure::Agent("empty answer to signal".into()).into_py(py)),
        }
    }

    /// A stream of lifecycle events matching the filters (a new connection of its own).
    #[pyo3(signature = (pids=Vec::new(), ppids=Vec::new(), uids=Vec::new(), names=Vec::new(), kinds=Vec::new(), replay_exited=false))]
    #[allow(clippy::too_many_arguments)]
    fn subscribe(
        &self,
        py: Python<'_>,
        pids: Vec<u32>,
        ppids: Vec<u32>,
        uids: Vec<u32>,
        names: Vec<String>,
        kinds: Vec<String>,
        replay_exited: bool,
    ) -> PyResult<EventStream> {
        let request = Request::Subscribe(SubscribeRequest {
            pids,
            ppids,
            uids,
            names,
            kinds,
            replay_exited,
            format: Default::default(),
            placement: Default::default(),
        });
        let path = self.path.clone();
        let reader = py
            .allow_threads(|| Client::connect(&path)?.subscribe(&request))
            .py(py)?;
        Ok(EventStream {
            reader: Mutex::new(Some(Box::new(reader))),
        })
    }
}

/// An iterator over the agent's event stream; each item a `tracer.Event`.
#[pyclass(module = "tracer._native", frozen)]
pub struct EventStream {
    reader: Mutex<Option<Box<dyn BufRead + Send>>>,
}

#[pymethods]
impl EventStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyObject>> {
        let line = py.allow_threads(|| {
            let mut slot = self.reader.lock().unwrap_or_else(|e| e.into_inner());
            let Some(reader) = slot.as_mut() else {
                return Ok(None);
            };
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    *slot = None;
                    Ok(None)
                }
                Ok(_) => Ok(Some(line)),
                Err(e) => Err(ClientError::Io(e)),
            }
        });
        // A signal (Ctrl-C) stops the iteration between lines.
        py.check_signals()?;
        let Some(line) = line.py(py)? else {
            return Ok(None);
        };
        let event: EventLine = client::decode(&line).py(py)?;
        if event.event == "end" {
            return Ok(None);
        }
        event.to_py(py).map(Some)
    }

    /// Stops the stream (closes the connection).
    fn close(&self) {
        *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// One line of the event stream, as the agent writes it (README's `tracer events` contract).
#[derive(Deserialize)]
struct EventLine {
    event: String,
    #[serde(default)]
    time: f64,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    ppid: u32,
    #[serde(default)]
    create_time: f64,
    #[serde(default)]
    name: ByteString,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    gid: Option<u32>,
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    parent_pid: Option<u32>,
    #[serde(default)]
    exe: Option<ByteString>,
    #[serde(default)]
    cmdline: Option<Vec<ByteString>>,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    signal: Option<i32>,
    #[serde(default)]
    core_dumped: Option<bool>,
    #[serde(default)]
    duration: Option<f64>,
    /// `dropped` records: how many events this subscriber lost.
    #[serde(default)]
    count: Option<u64>,
    #[serde(flatten)]
    usage: UsageRecord,
}

impl EventLine {
    fn to_py(&self, py: Python<'_>) -> PyResult<PyObject> {
        let d = PyDict::new(py);
        d.set_item("event", &self.event)?;
        d.set_item("time", self.time)?;
        d.set_item("pid", self.pid)?;
        d.set_item("ppid", self.ppid)?;
        d.set_item("create_time", self.create_time)?;
        d.set_item("name", os_str(py, &self.name)?)?;
        d.set_item("uid", self.uid)?;
        d.set_item("gid", self.gid)?;
        d.set_item("backend", &self.backend)?;
        d.set_item("parent_pid", self.parent_pid)?;
        d.set_item(
            "exe",
            match &self.exe {
                Some(exe) => os_str(py, exe)?,
                None => py.None(),
            },
        )?;
        match &self.cmdline {
            Some(args) => {
                let list = PyList::empty(py);
                for arg in args {
                    list.append(os_str(py, arg)?)?;
                }
                d.set_item("cmdline", list)?;
            }
            None => d.set_item("cmdline", py.None())?,
        }
        d.set_item("exit_code", self.exit_code)?;
        d.set_item("signal", self.signal)?;
        d.set_item("core_dumped", self.core_dumped)?;
        d.set_item("duration", self.duration)?;
        d.set_item("count", self.count)?;
        d.set_item("usage", crate::convert::usage(py, &self.usage)?)?;
        Ok(crate::types::class(py, "Event")?
            .call((), Some(&d))?
            .unbind())
    }
}

/// The attributes a row can carry (psutil's names; `ps --json`'s keys).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    Pid,
    Ppid,
    Name,
    Exe,
    Cmdline,
    Username,
    Uids,
    Gids,
    CreateTime,
    Status,
    Nice,
    NumThreads,
    Terminal,
    CpuTimes,
    CpuPercent,
    CpuNum,
    CpuAffinity,
    MemoryInfo,
    MemoryFullInfo,
    MemoryPercent,
    NumCtxSwitches,
    NumPageFaults,
    NumFds,
    IoCounters,
    Ionice,
    Cwd,
    Environ,
    OpenFiles,
    Threads,
    ExitCode,
    Signal,
    Duration,
    ExitTime,
}

impl Attr {
    fn parse(name: &str) -> PyResult<Attr> {
        Ok(match name {
            "pid" => Attr::Pid,
            "ppid" => Attr::Ppid,
            "name" => Attr::Name,
            "exe" => Attr::Exe,
            "cmdline" => Attr::Cmdline,
            "username" => Attr::Username,
            "uids" => Attr::Uids,
            "gids" => Attr::Gids,
            "create_time" => Attr::CreateTime,
            "status" => Attr::Status,
            "nice" => Attr::Nice,
            "num_threads" => Attr::NumThreads,
            "terminal" => Attr::Terminal,
            "cpu_times" => Attr::CpuTimes,
            "cpu_percent" => Attr::CpuPercent,
            "cpu_num" => Attr::CpuNum,
            "cpu_affinity" => Attr::CpuAffinity,
            "memory_info" => Attr::MemoryInfo,
            "memory_full_info" => Attr::MemoryFullInfo,
            "memory_percent" => Attr::MemoryPercent,
            "num_ctx_switches" => Attr::NumCtxSwitches,
            "num_page_faults" => Attr::NumPageFaults,
            "num_fds" => Attr::NumFds,
            "io_counters" => Attr::IoCounters,
            "ionice" => Attr::Ionice,
            "cwd" => Attr::Cwd,
            "environ" => Attr::Environ,
            "open_files" => Attr::OpenFiles,
            "threads" => Attr::Threads,
            "exit_code" => Attr::ExitCode,
            "signal" => Attr::Signal,
            "duration" => Attr::Duration,
            "exit_time" => Attr::ExitTime,
            other => {
                return Err(PyValueError::new_err(format!(
                    "the agent does not answer '{other}'"
                )))
            }
        })
    }
}

/// One row of `ps --json` (the agent's `query` answer): each attribute typed as psutil
/// shapes it, null (`None`) where it could not be read or was not asked.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Row {
    pid: Option<u32>,
    ppid: Option<u32>,
    name: Option<ByteString>,
    exe: Option<ByteString>,
    cmdline: Option<Vec<ByteString>>,
    username: Option<ByteString>,
    uids: Option<Ids>,
    gids: Option<Ids>,
    create_time: Option<f64>,
    status: Option<String>,
    nice: Option<i64>,
    num_threads: Option<i64>,
    terminal: Option<ByteString>,
    cpu_times: Option<CpuTimes>,
    cpu_percent: Option<f64>,
    cpu_num: Option<i64>,
    cpu_affinity: Option<Vec<u32>>,
    memory_info: Option<Memory>,
    memory_full_info: Option<FullMemory>,
    memory_percent: Option<f64>,
    num_ctx_switches: Option<CtxSwitches>,
    num_page_faults: Option<PageFaults>,
    num_fds: Option<i64>,
    io_counters: Option<Io>,
    ionice: Option<Ionice>,
    cwd: Option<ByteString>,
    environ: Option<Environ>,
    open_files: Option<Vec<OpenFile>>,
    threads: Option<Vec<Thread>>,
    exit_code: Option<i64>,
    signal: Option<i64>,
    duration: Option<f64>,
    exit_time: Option<f64>,
}

/// A typed record that becomes one of psutil's named tuples.
trait Record {
    const CLASS: &'static str;
    fn fields(&self, d: &Bound<'_, PyDict>) -> PyResult<()>;
    fn to_py(&self, py: Python<'_>) -> PyResult<PyObject> {
        let d = PyDict::new(py);
        self.fields(&d)?;
        tuple(py, Self::CLASS, d)
    }
}

macro_rules! record {
    ($name:ident => $class:literal { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Deserialize)]
        struct $name { $($field: $ty),* }
        impl Record for $name {
            const CLASS: &'static str = $class;
            fn fields(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
                $(d.set_item(stringify!($field), &self.$field)?;)*
                Ok(())
            }
        }
    };
}

record!(Ids => "puids" { real: u32, effective: u32, saved: u32 });
record!(CpuTimes => "pcputimes" { user: f64, system: f64, children_user: f64, children_system: f64, iowait: f64 });
record!(FullMemory => "pfullmem" { rss: u64, vms: u64, shared: u64, text: u64, lib: u64, data: u64, dirty: u64, uss: u64, pss: u64, swap: u64 });
record!(CtxSwitches => "pctxsw" { voluntary: u64, involuntary: u64 });
record!(PageFaults => "ppagefaults" { minor: u64, major: u64 });
record!(Io => "pio" { read_count: Option<u64>, write_count: Option<u64>, read_bytes: Option<u64>, write_bytes: Option<u64>, read_chars: Option<u64>, write_chars: Option<u64> });
record!(Ionice => "pionice" { ioclass: i64, value: i64 });
record!(Thread => "pthread" { id: u32, user_time: f64, system_time: f64 });

/// `memory_info`: psutil's `pmem` for a live process; only the peak `rss` for an exited one.
#[derive(Deserialize)]
struct Memory {
    rss: u64,
    vms: Option<u64>,
    shared: Option<u64>,
    text: Option<u64>,
    lib: Option<u64>,
    data: Option<u64>,
    dirty: Option<u64>,
}

impl Record for Memory {
    const CLASS: &'static str = "pmem";
    fn fields(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
        d.set_item("rss", self.rss)?;
        for (key, value) in [
            ("vms", self.vms),
            ("shared", self.shared),
            ("text", self.text),
            ("lib", self.lib),
            ("data", self.data),
            ("dirty", self.dirty),
        ] {
            if let Some(value) = value {
                d.set_item(key, value)?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct OpenFile {
    path: ByteString,
    fd: i64,
    position: u64,
    mode: String,
    flags: u64,
}

impl Record for OpenFile {
    const CLASS: &'static str = "popenfile";
    fn fields(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
        d.set_item("path", os_str(d.py(), &self.path)?)?;
        d.set_item("fd", self.fd)?;
        d.set_item("position", self.position)?;
        d.set_item("mode", &self.mode)?;
        d.set_item("flags", self.flags)?;
        Ok(())
    }
}

/// `environ`: a JSON object whose order (`/proc/PID/environ`'s) is kept.
struct Environ(Vec<(ByteString, ByteString)>);

impl<'de> Deserialize<'de> for Environ {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Environ;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Environ, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, ByteString>()? {
                    pairs.push((ByteString::from(key.as_str()), value));
                }
                Ok(Environ(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

fn opt<T>(
    py: Python<'_>,
    value: &Option<T>,
    f: impl FnOnce(&T) -> PyResult<PyObject>,
) -> PyResult<PyObject> {
    match value {
        Some(v) => f(v),
        None => Ok(py.None()),
    }
}

fn num<T: for<'py> IntoPyObject<'py>>(py: Python<'_>, value: Option<T>) -> PyResult<PyObject> {
    value.into_py_any(py)
}

fn list<T>(
    py: Python<'_>,
    items: &Option<Vec<T>>,
    f: impl Fn(&T) -> PyResult<PyObject>,
) -> PyResult<PyObject> {
    opt(py, items, |items| {
        let out = PyList::empty(py);
        for item in items {
            out.append(f(item)?)?;
        }
        Ok(out.into_any().unbind())
    })
}

impl Row {
    /// The value of `attr`, `None` when null.
    fn get(&self, py: Python<'_>, attr: Attr) -> PyResult<PyObject> {
        let s = |v: &ByteString| os_str(py, v);
        match attr {
            Attr::Pid => num(py, self.pid),
            Attr::Ppid => num(py, self.ppid),
            Attr::Name => opt(py, &self.name, s),
            Attr::Exe => opt(py, &self.exe, s),
            Attr::Cmdline => list(py, &self.cmdline, s),
            Attr::Username => opt(py, &self.username, s),
            Attr::Uids => opt(py, &self.uids, |v| v.to_py(py)),
            Attr::Gids => opt(py, &self.gids, |v| {
                let d = PyDict::new(py);
                v.fields(&d)?;
                tuple(py, "pgids", d)
            }),
            Attr::CreateTime => num(py, self.create_time),
            Attr::Status => opt(py, &self.status, |v| {
                Ok(PyString::new(py, v).into_any().unbind())
            }),
            Attr::Nice => num(py, self.nice),
            Attr::NumThreads => num(py, self.num_threads),
            Attr::Terminal => opt(py, &self.terminal, s),
            Attr::CpuTimes => opt(py, &self.cpu_times, |v| v.to_py(py)),
            Attr::CpuPercent => num(py, self.cpu_percent),
            Attr::CpuNum => num(py, self.cpu_num),
            Attr::CpuAffinity => list(py, &self.cpu_affinity, |c| {
                Ok(c.into_pyobject(py)?.into_any().unbind())
            }),
            Attr::MemoryInfo => opt(py, &self.memory_info, |v| v.to_py(py)),
            Attr::MemoryFullInfo => opt(py, &self.memory_full_info, |v| v.to_py(py)),
            Attr::MemoryPercent => num(py, self.memory_percent),
            Attr::NumCtxSwitches => opt(py, &self.num_ctx_switches, |v| v.to_py(py)),
            Attr::NumPageFaults => opt(py, &self.num_page_faults, |v| v.to_py(py)),
            Attr::NumFds => num(py, self.num_fds),
            Attr::IoCounters => opt(py, &self.io_counters, |v| v.to_py(py)),
            Attr::Ionice => opt(py, &self.ionice, |v| v.to_py(py)),
            Attr::Cwd => opt(py, &self.cwd, s),
            Attr::Environ => opt(py, &self.environ, |env| {
                let d = PyDict::new(py);
                for (k, v) in &env.0 {
                    d.set_item(os_str(py, k)?, os_str(py, v)?)?;
                }
                Ok(d.into_any().unbind())
            }),
            Attr::OpenFiles => list(py, &self.open_files, |v| v.to_py(py)),
            Attr::Threads => list(py, &self.threads, |v| v.to_py(py)),
            Attr::ExitCode => num(py, self.exit_code),
            Attr::Signal => num(py, self.signal),
            Attr::Duration => num(py, self.duration),
            Attr::ExitTime => num(py, self.exit_time),
        }
    }
}
