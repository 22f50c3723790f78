//! psutil's process API in Rust: [`pids`], [`pid_exists`], [`process_iter`], [`wait_procs`] and
//! [`Process`] with psutil's Linux method set and semantics. Identity is `(pid, create_time)`:
//! a `Process` whose pid was reused is gone, and signalling it is refused.
//!
//! These functions use the process-wide live table ([`Tracer::global`]): with eBPF available,
//! family relations and the attributes events give come from memory, `wait` is woken by exit
//! events and knows the exit code of any process; without it, `/proc` is read instead.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let me = tracer::Process::new(std::process::id())?;
//! println!("{} started at {}", me.name()?, me.create_time());
//! for child in me.children(true)? {
//!     println!("child {} {:?}", child.pid(), child.cmdline()?);
//! }
//! let mut sleeper = std::process::Command::new("sleep").arg("0.1").spawn()?;
//! let sleeping = tracer::Process::new(sleeper.id())?;
//! assert_eq!(sleeping.wait(Some(Duration::from_secs(5)))?, Some(0));
//! # sleeper.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ops;
pub mod results;

/// Longest `wait` timeout, in seconds (a day); longer waits are a loop of waits.
pub const MAX_TIMEOUT: f64 = 86_400.0;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use crate::event::ProcessId;
use crate::host::os::signals;
use crate::host::{
    CpuTimes, IoClass, IoCounters, IoNice, MemoryFullInfo, MemoryInfo, MemoryMap, OpenFile,
    ProcError, Rlimit, ThreadTimes,
};
use crate::query::attrs::{Attr, Collector, Value};
use crate::table::live::{still_running, Tracer, WaitOutcome};
use crate::table::Entry;

/// psutil's exceptions, as one error type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The process does not exist (any more), or its pid now belongs to another process.
    #[error("process no longer exists (pid={pid}{})", name_suffix(.name))]
    NoSuchProcess {
        /// The pid.
        pid: u32,
        /// Its name, when known.
        name: Option<String>,
    },
    /// The caller may not read or signal it.
    #[error("access denied (pid={pid}{})", name_suffix(.name))]
    AccessDenied {
        /// The pid.
        pid: u32,
        /// Its name, when known.
        name: Option<String>,
    },
    /// The process is a zombie: it exited and awaits its parent's wait.
    #[error("process still exists but it's a zombie (pid={pid}{})", name_suffix(.name))]
    ZombieProcess {
        /// The pid.
        pid: u32,
        /// Its name, when known.
        name: Option<String>,
    },
    /// `wait` gave up.
    #[error("timeout after {seconds} seconds (pid={pid}{})", name_suffix(.name))]
    TimeoutExpired {
        /// The timeout.
        seconds: f64,
        /// The pid.
        pid: u32,
        /// Its name, when known.
        name: Option<String>,
    },
    /// Something else failed (the message says what).
    #[error("{0}")]
    Other(String),
}

fn name_suffix(name: &Option<String>) -> String {
    name.as_ref()
        .map(|n| format!(", name='{n}'"))
        .unwrap_or_default()
}

/// A result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// All live pids, sorted.
pub fn pids() -> Vec<u32> {
    let tracer = Tracer::global();
    let table = tracer.refresh();
    let mut pids: Vec<u32> = table.live().map(|e| e.id.pid).collect();
    pids.sort_unstable();
    pids
}

/// psutil's `heap_info()` for the calling process: `(heap_used, mmap_used)`, the bytes glibc's
/// allocator has handed out from its heap and as mmap'd blocks (`mallinfo2`); `None` without
/// glibc (psutil then has no `heap_info` either).
#[cfg(unix)]
pub fn heap_info() -> Option<(u64, u64)> {
    crate::platform::mallinfo()
}

/// psutil's `heap_trim()`: asks glibc's allocator to give unused heap memory back
/// (`malloc_trim(0)`); whether it released some.
#[cfg(unix)]
pub fn heap_trim() -> bool {
    crate::platform::malloc_trim()
}

/// Whether a process with this pid exists.
pub fn pid_exists(pid: u32) -> bool {
    crate::host::os::pid_exists(pid)
}

/// Every live process with the requested attributes read at once (psutil's
/// `process_iter(attrs)`), sorted by pid. Unreadable attributes are [`Value::Null`].
pub fn process_iter(attrs: &[Attr]) -> Vec<(Process, Vec<Value>)> {
    let tracer = Tracer::global();
    let entries: Vec<Entry> = {
        let table = tracer.refresh();
        let mut entries: Vec<Entry> = table.live().cloned().collect();
        entries.sort_by_key(|e| e.id);
        entries
    };
    let mut collector = Collector::new(tracer.host().clone());
    entries
        .into_iter()
        .map(|entry| {
            let values = collector.collect(&entry, attrs);
            (Process::from_entry(tracer, &entry), values)
        })
        .collect()
}

/// Waits for several processes (psutil's `wait_procs`): returns `(gone, alive)` once all are
/// gone or the timeout passed; `callback` runs for each as it goes. Gone processes carry
/// their exit code in [`Process::returncode`].
pub fn wait_procs(
    procs: &[Process],
    timeout: Option<Duration>,
    mut callback: impl FnMut(&Process),
) -> (Vec<Process>, Vec<Process>) {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut gone = Vec::new();
    let mut alive = Vec::new();
    for process in procs {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match process.wait(remaining) {
            Ok(code) => {
                let mut done = process.clone();
                done.returncode = Some(code);
                callback(&done);
                gone.push(done);
            }
            Err(_) => alive.push(process.clone()),
        }
    }
    (gone, alive)
}

/// A process, identified by pid and start time (psutil's `Process`).
#[derive(Debug, Clone)]
pub struct Process {
    id: ProcessId,
    create_time: f64,
    tracer: &'static Tracer,
    /// After [`wait_procs`]: `Some(exit code)` for a gone process (`Some(None)` when the code
    /// is unknown, e.g. it ended before tracing started).
    pub returncode: Option<Option<i32>>,
}

impl PartialEq for Process {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Process {
    /// The process with this pid now.
    pub fn new(pid: u32) -> Result<Process> {
        let tracer = Tracer::global();
        if let Some(entry) = tracer.lock().get(pid) {
            if still_running(tracer.host(), entry.id) {
                return Ok(Self::from_entry(tracer, entry));
            }
        }
        let stat = tracer
            .host()
            .stat(pid)
            .map_err(|e| map_error(e, pid, None))?;
        let boot = tracer
            .host()
            .boot_time()
            .map_err(|e| map_error(e, pid, None))?;
        Ok(Process {
            id: ProcessId {
                pid,
                start_ticks: stat.starttime,
            },
            create_time: stat.create_time(boot),
            tracer,
            returncode: None,
        })
    }

    fn from_entry(tracer: &'static Tracer, entry: &Entry) -> Process {
        Process {
            id: entry.id,
            create_time: entry.create_time,
            tracer,
            returncode: None,
        }
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.id.pid
    }

    /// Identity: pid and start time in clock ticks since boot.
    pub fn id(&self) -> ProcessId {
        self.id
    }

    /// psutil's `create_time()`.
    pub fn create_time(&self) -> f64 {
        self.create_time
    }

    /// Whether it still runs: same pid and start time, not a zombie (psutil's `is_running`
    /// detects pid reuse the same way), and the table has not seen it exit (a process is still
    /// in /proc for a moment after its exit event, while the kernel finishes `do_exit`).
    pub fn is_running(&self) -> bool {
        let exited = self
            .tracer
            .lock()
            .find(self.id)
            .is_some_and(|entry| entry.exit.is_some());
        !exited && still_running(self.tracer.host(), self.id)
    }

    /// The table's entry, falling back to `/proc` when the table does not know this process.
    fn entry(&self) -> Result<Entry> {
        let known = self.tracer.lock().find(self.id).cloned();
        if let Some(entry) = known {
            // The table may lag the kernel by one drain interval: confirm it still runs.
            if entry.exit.is_none() && (self.is_running() || self.is_zombie()) {
                return Ok(entry);
            }
            return Err(self.gone());
        }
        let host = self.tracer.host();
        let boot = host.boot_time().map_err(|e| self.error(e))?;
        let entry = crate::table::read_entry(host, self.id.pid, boot, self.tracer.now())
            .map_err(|e| self.error(e))?;
        if entry.id != self.id {
            return Err(self.gone());
        }
        Ok(entry)
    }

    fn gone(&self) -> Error {
        Error::NoSuchProcess {
            pid: self.id.pid,
            name: self.known_name(),
        }
    }

    fn known_name(&self) -> Option<String> {
        self.tracer
            .lock()
            .find(self.id)
            .map(|e| e.name().to_string_lossy().into_owned())
    }

    fn error(&self, error: ProcError) -> Error {
        map_error(error, self.id.pid, self.known_name())
    }

    /// Runs a `/proc` read for this process, refusing a reused pid.
    fn read<T>(
        &self,
        read: impl FnOnce(&crate::host::Host, u32) -> std::result::Result<T, ProcError>,
    ) -> Result<T> {
        let value = read(self.tracer.host(), self.id.pid).map_err(|e| self.error(e))?;
        if !self.is_running() && !self.is_zombie() {
            return Err(self.gone());
        }
        Ok(value)
    }

    fn is_zombie(&self) -> bool {
        self.tracer
            .host()
            .stat(self.id.pid)
            .is_ok_and(|s| s.starttime == self.id.start_ticks && s.state == 'Z')
    }

    /// psutil's `name()`.
    pub fn name(&self) -> Result<String> {
        Ok(self.entry()?.name().to_string_lossy().into_owned())
    }

    /// psutil's `exe()` (empty for kernel threads).
    pub fn exe(&self) -> Result<OsString> {
        match self.entry()?.exe {
            Some(exe) => Ok(exe),
            None => self.read(|p, pid| p.exe(pid)),
        }
    }

    /// psutil's `cmdline()`, byte-exact.
    pub fn cmdline(&self) -> Result<Vec<OsString>> {
        match self.entry()?.cmdline {
            Some(cmdline) => Ok(cmdline),
            None => self.read(|p, pid| p.cmdline(pid)),
        }
    }

    /// psutil's `ppid()` (current: a re-parented process shows its new parent).
    pub fn ppid(&self) -> Result<u32> {
        let stat = self.read(|p, pid| p.stat(pid))?;
        Ok(stat.ppid)
    }

    /// psutil's `parent()`.
    pub fn parent(&self) -> Result<Option<Process>> {
        let ppid = self.ppid()?;
        if ppid == 0 {
            return Ok(None);
        }
        Ok(Process::new(ppid).ok())
    }

    /// psutil's `parents()`: parent, grandparent, … up to the root.
    pub fn parents(&self) -> Result<Vec<Process>> {
        let mut parents = Vec::new();
        let mut current = self.parent()?;
        while let Some(parent) = current {
            current = parent.parent().unwrap_or(None);
            parents.push(parent);
            if parents.len() > 4096 {
                break;
            }
        }
        Ok(parents)
    }

    /// psutil's `children(recursive)`, answered from the table.
    pub fn children(&self, recursive: bool) -> Result<Vec<Process>> {
        if !self.is_running() {
            return Err(self.gone());
        }
        let table = self.tracer.refresh();
        Ok(table
            .children(self.id.pid, recursive)
            .into_iter()
            .map(|entry| Process::from_entry(self.tracer, entry))
            .collect())
    }

    /// psutil's `status()`.
    pub fn status(&self) -> Result<&'static str> {
        Ok(self.read(|p, pid| p.stat(pid))?.status())
    }

    /// psutil's `username()`.
    pub fn username(&self) -> Result<String> {
        let [real, ..] = self.uids()?;
        let mut collector = Collector::new(self.tracer.host().clone());
        Ok(collector.username(real))
    }

    /// psutil's `uids()`: real, effective, saved.
    pub fn uids(&self) -> Result<[u32; 3]> {
        match self.entry()?.uids {
            Some(uids) => Ok(uids),
            None => {
                let uids = self.read(|p, pid| p.status(pid))?.uids;
                Ok([uids.real, uids.effective, uids.saved])
            }
        }
    }

    /// psutil's `gids()`: real, effective, saved.
    pub fn gids(&self) -> Result<[u32; 3]> {
        match self.entry()?.gids {
            Some(gids) => Ok(gids),
            None => {
                let gids = self.read(|p, pid| p.status(pid))?.gids;
                Ok([gids.real, gids.effective, gids.saved])
            }
        }
    }

    /// psutil's `memory_info()`.
    pub fn memory_info(&self) -> Result<MemoryInfo> {
        self.read(|p, pid| p.memory_info(pid))
    }

    /// psutil's `memory_full_info()`.
    pub fn memory_full_info(&self) -> Result<MemoryFullInfo> {
        self.read(|p, pid| p.memory_full_info(pid))
    }

    /// psutil's `memory_maps(grouped=False)`: every mapping of smaps, in order (grouping by
    /// path is the caller's: psutil sums the fields of the mappings of one path).
    pub fn memory_maps(&self) -> Result<Vec<MemoryMap>> {
        self.read(crate::host::ProcessReader::memory_maps)
    }

    /// psutil's `cpu_times()`.
    pub fn cpu_times(&self) -> Result<CpuTimes> {
        Ok(self.read(|p, pid| p.stat(pid))?.cpu_times())
    }

    /// psutil's `cpu_percent(interval)`: CPU use over `interval`, in percent of one CPU.
    pub fn cpu_percent(&self, interval: Duration) -> Result<f64> {
        let before = self.cpu_times()?;
        let start = Instant::now();
        std::thread::sleep(interval);
        let after = self.cpu_times()?;
        let wall = start.elapsed().as_secs_f64();
        let busy = (after.user + after.system) - (before.user + before.system);
        Ok(((busy / wall) * 1000.0).round() / 10.0)
    }

    /// psutil's `num_threads()`.
    pub fn num_threads(&self) -> Result<u32> {
        Ok(self.read(|p, pid| p.stat(pid))?.num_threads)
    }

    /// psutil's `num_fds()`.
    pub fn num_fds(&self) -> Result<u32> {
        self.read(|p, pid| p.num_fds(pid))
    }

    /// psutil's `num_ctx_switches()`: (voluntary, involuntary).
    pub fn num_ctx_switches(&self) -> Result<(u64, u64)> {
        let status = self.read(|p, pid| p.status(pid))?;
        let switches = status.num_ctx_switches.ok_or_else(|| {
            Error::Other(format!("no context switch counts for pid {}", self.id.pid))
        })?;
        Ok((switches.voluntary, switches.involuntary))
    }

    /// psutil's `io_counters()`.
    pub fn io_counters(&self) -> Result<IoCounters> {
        self.read(|p, pid| p.io_counters(pid))
    }

    /// psutil's `nice()`.
    pub fn nice(&self) -> Result<i64> {
        Ok(self.read(|p, pid| p.stat(pid))?.nice)
    }

    /// psutil's `ionice()`.
    pub fn ionice(&self) -> Result<IoNice> {
        self.read(|p, pid| p.ionice(pid))
    }

    /// psutil's `ionice(ioclass, value)`: sets the I/O priority (`ioprio_set`) after checking
    /// that the pid is still this process's (as psutil, a reuse between the check and the call
    /// is not caught). psutil's checks of `value` are the caller's; the kernel's `EINVAL` for
    /// a level it refuses is [`Error::Other`], `EPERM` is [`Error::AccessDenied`].
    pub fn set_ionice(&self, class: IoClass, value: u32) -> Result<()> {
        if !self.is_running() && !self.is_zombie() {
            return Err(self.gone());
        }
        #[cfg(native_linux)]
        {
            let ioprio = ((class as u32) << 13) | value;
            let pid = libc::pid_t::try_from(self.id.pid)
                .map_err(|_| Error::Other(format!("pid {} out of range", self.id.pid)))?;
            crate::platform::ioprio_set(pid, ioprio).map_err(|e| match e.raw_os_error() {
                Some(libc::ESRCH) if self.is_zombie() => Error::ZombieProcess {
                    pid: self.id.pid,
                    name: self.known_name(),
                },
                Some(libc::ESRCH) => self.gone(),
                Some(libc::EPERM) | Some(libc::EACCES) => Error::AccessDenied {
                    pid: self.id.pid,
                    name: self.known_name(),
                },
                _ => Error::Other(format!("ioprio_set({}): {e}", self.id.pid)),
            })
        }
        #[cfg(not(native_linux))]
        {
            let _ = (class, value);
            Err(Error::Other(
                "setting the I/O priority is not available on this platform".into(),
            ))
        }
    }

    /// psutil's `rlimit(resource)`: (soft, hard), -1 for unlimited.
    pub fn rlimit(&self, resource: Rlimit) -> Result<(i64, i64)> {
        self.read(|p, pid| p.rlimit(pid, resource))
    }

    /// psutil's `terminal()`.
    pub fn terminal(&self) -> Result<Option<OsString>> {
        self.read(|p, pid| p.terminal(pid))
    }

    /// psutil's `cwd()`.
    pub fn cwd(&self) -> Result<OsString> {
        self.read(|p, pid| p.cwd(pid))
    }

    /// psutil's `environ()`.
    pub fn environ(&self) -> Result<Vec<(OsString, OsString)>> {
        self.read(|p, pid| p.environ(pid))
    }

    /// psutil's `open_files()`.
    pub fn open_files(&self) -> Result<Vec<OpenFile>> {
        self.read(|p, pid| p.open_files(pid))
    }

    /// psutil's `threads()`.
    pub fn threads(&self) -> Result<Vec<ThreadTimes>> {
        self.read(|p, pid| p.threads(pid))
    }

    /// psutil's `cpu_num()`.
    pub fn cpu_num(&self) -> Result<u32> {
        Ok(self.read(|p, pid| p.stat(pid))?.processor)
    }

    /// psutil's `cpu_affinity()`.
    pub fn cpu_affinity(&self) -> Result<Vec<u32>> {
        self.read(|p, pid| p.cpu_affinity(pid))
    }

    /// psutil's `net_connections(kind)`: the sockets this process has open.
    #[cfg(native_linux)]
    pub fn net_connections(
        &self,
        kind: crate::system::ConnKind,
    ) -> Result<Vec<crate::system::Connection>> {
        self.read(|_, pid| crate::system::process_net_connections(pid, kind))
    }

    /// psutil's `as_dict(attrs)`.
    pub fn as_dict(&self, attrs: &[Attr]) -> Result<Vec<(Attr, Value)>> {
        let entry = self.entry()?;
        let mut collector = Collector::new(self.tracer.host().clone());
        Ok(attrs
            .iter()
            .copied()
            .zip(collector.collect(&entry, attrs))
            .collect())
    }

    /// Sends `signal`, refusing a process whose pid was reused (race-free: the signal goes
    /// through a pidfd opened and checked first).
    pub fn send_signal(&self, signal: i32) -> Result<()> {
        use crate::host::os::SignalError;
        let same = || self.is_running() || self.is_zombie();
        crate::host::os::send_signal(self.id.pid, signal, same).map_err(|error| match error {
            SignalError::Gone => self.gone(),
            SignalError::Denied => Error::AccessDenied {
                pid: self.id.pid,
                name: self.known_name(),
            },
            other => Error::Other(format!("signalling pid {} failed: {other}", self.id.pid)),
        })
    }

    /// SIGTERM.
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(signals::SIGTERM)
    }

    /// SIGKILL.
    pub fn kill(&self) -> Result<()> {
        self.send_signal(signals::SIGKILL)
    }

    /// SIGSTOP.
    pub fn suspend(&self) -> Result<()> {
        self.send_signal(signals::SIGSTOP)
    }

    /// SIGCONT.
    pub fn resume(&self) -> Result<()> {
        self.send_signal(signals::SIGCONT)
    }

    /// Waits for the process to end (psutil's `wait(timeout)`), for any process, not only
    /// children. Returns its exit code: negative signal number when a signal ended it (as
    /// psutil), `None` when the code is unknown (it ended before tracing started, or eBPF is
    /// unavailable and it is not our child).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>> {
        self.wait_cancellable(timeout, &|| false)
    }

    /// [`Process::wait`] that gives up (timed out) once `cancelled()` says so; it is asked at
    /// least every second.
    pub fn wait_cancellable(
        &self,
        timeout: Option<Duration>,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<i32>> {
        match self
            .tracer
            .wait_exit_cancellable(self.id, timeout, cancelled)
        {
            WaitOutcome::Exited(Some(entry)) => {
                Ok(entry.exit.as_deref().and_then(|e| e.status).and_then(|s| {
                    match (s.exit_code, s.signal) {
                        (Some(code), _) => Some(code),
                        (None, Some(signal)) => Some(-signal),
                        (None, None) => None, // the end was inferred, not seen
                    }
                }))
            }
            WaitOutcome::Exited(None) => Ok(self.reap_child()),
            WaitOutcome::TimedOut => Err(Error::TimeoutExpired {
                seconds: timeout.map_or(0.0, |t| t.as_secs_f64()),
                pid: self.id.pid,
                name: self.known_name(),
            }),
            WaitOutcome::FeedStopped(reason) => Err(Error::Other(format!(
                "the event feed stopped while waiting for pid {}: {reason}",
                self.id.pid
            ))),
        }
    }

    /// For a child of ours, its exit status from waitpid; `None` otherwise.
    fn reap_child(&self) -> Option<i32> {
        crate::host::os::reap_child(self.id.pid)
    }
}

fn map_error(error: ProcError, pid: u32, name: Option<String>) -> Error {
    match error {
        ProcError::NoSuchProcess { .. } => Error::NoSuchProcess { pid, name },
        ProcError::AccessDenied { .. } => Error::AccessDenied { pid, name },
        ProcError::ZombieProcess { .. } => Error::ZombieProcess { pid, name },
        other => Error::Other(other.to_string()),
    }
}
