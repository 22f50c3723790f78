//! The one event type every backend emits: a process was created (fork), replaced its image
//! (exec) or ended (exit). Backends differ in what they can know, never in the shape.

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;

pub use crate::host::container::Placement;

/// A process's identity: its pid and its start time in clock ticks since boot. A reused pid
/// has a different start time, so it is a different process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId {
    /// The process id (the kernel's tgid).
    pub pid: u32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start_ticks: u64,
}

/// Which source produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Kernel programs on the sched tracepoints: sees every process.
    Ebpf,
    /// `/proc` polled at an interval: events are synthesised from the difference between two
    /// scans; processes shorter than the interval are not seen, exit codes are unknown.
    Procfs,
    /// The `sysinfo` crate polled at an interval (the portable backend: macOS, Windows, the
    /// BSDs, and Linux on request): the same guarantees as `Procfs`.
    Sysinfo,
}

impl Backend {
    /// The name used in JSON output and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Ebpf => "ebpf",
            Backend::Procfs => "procfs",
            Backend::Sysinfo => "sysinfo",
        }
    }
}

impl Backend {
    /// Whether its events are inferred from snapshots rather than seen as they happen.
    pub fn synthesized(self) -> bool {
        matches!(self, Backend::Procfs | Backend::Sysinfo)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three lifecycle event kinds, for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A process was created.
    Fork,
    /// A process replaced its image.
    Exec,
    /// A process ended.
    Exit,
}

impl EventKind {
    /// The name used in JSON output and in `--event`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Fork => "fork",
            EventKind::Exec => "exec",
            EventKind::Exit => "exit",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fork" => Ok(EventKind::Fork),
            "exec" => Ok(EventKind::Exec),
            "exit" => Ok(EventKind::Exit),
            other => Err(format!(
                "unknown event kind '{other}' (expected fork, exec or exit)"
            )),
        }
    }
}

/// A process lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened, in seconds since the epoch.
    pub time: f64,
    /// The process it is about.
    pub id: ProcessId,
    /// psutil's `create_time()` of the process.
    pub create_time: f64,
    /// Parent process id at the time of the event.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// The kernel's name for the process (`comm`, at most 15 bytes).
    pub name: OsString,
    /// Which backend saw it.
    pub backend: Backend,
    /// Where the process runs (cgroup, container, pod, namespaces, ids in its PID
    /// namespace), shared with the table; `None` where the backend cannot tell (sysinfo).
    pub placement: Option<Arc<Placement>>,
    /// What happened.
    pub details: Details,
}

/// What each kind of event adds.
///
/// `Exit` stays inline although it is the largest variant: exits are as frequent as forks, and
/// boxing would cost an allocation per exit on the hot path (the rarer, larger exec is boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    /// A process was created.
    Fork {
        /// The process that forked (differs from `ppid` under CLONE_PARENT).
        parent_pid: u32,
    },
    /// A process replaced its image.
    Exec(Box<Exec>),
    /// A process ended.
    Exit(Exit),
}

/// What an exec event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    /// The executable (the interpreter for a script); `None` when the backend cannot read it.
    pub exe: Option<OsString>,
    /// The argument vector, byte for byte.
    pub cmdline: Vec<OsString>,
    /// Real, effective and saved user ids.
    pub uids: [u32; 3],
    /// Real, effective and saved group ids.
    pub gids: [u32; 3],
    /// `cmdline` was cut at the capture bound; the last argument may be partial.
    pub cmdline_truncated: bool,
    /// Full size of the argument vector in bytes, as the kernel holds it.
    pub cmdline_bytes: u32,
    /// `exe` was cut at the capture bound.
    pub exe_truncated: bool,
}

/// What an exit event carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exit {
    /// The exit status, or `None` when a signal ended the process.
    pub exit_code: Option<i32>,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    /// A core dump was written.
    pub core_dumped: bool,
    /// Seconds from the process's start to its end.
    pub duration: f64,
    /// The process's final resource usage, for its whole thread group, when the backend can
    /// read it (eBPF: in the kernel, as the last thread exits).
    pub usage: Option<Usage>,
}

/// What a process consumed in all, in psutil's names and units: read by the kernel programs
/// as the last thread exits, when `/proc` can no longer tell.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// User CPU seconds, as `getrusage(2)` and psutil's `cpu_times().user` report them.
    pub user: f64,
    /// System CPU seconds.
    pub system: f64,
    /// User CPU seconds of the children it reaped.
    pub children_user: f64,
    /// System CPU seconds of the children it reaped.
    pub children_system: f64,
    /// Peak resident set size in bytes (`ru_maxrss`), not the size at the end.
    pub peak_rss: u64,
    /// Voluntary context switches (all threads).
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches (all threads).
    pub involuntary_ctx_switches: u64,
    /// Minor page faults.
    pub minor_faults: u64,
    /// Major page faults.
    pub major_faults: u64,
    /// I/O counters, each `None` where the kernel does not keep it.
    pub io: IoUsage,
    /// With scheduler accounting (`tracer agent --sched`): the process's on-CPU time and
    /// run-queue latency in all.
    pub sched: Option<SchedUsage>,
}

/// On-CPU time and run-queue latency of a process, summed by the scheduler programs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SchedUsage {
    /// Seconds its threads ran on a CPU.
    pub oncpu: f64,
    /// Times one of its threads went from runnable to running.
    pub runq_count: u64,
    /// Seconds its threads waited to run, in all.
    pub runq_sum: f64,
    /// The longest wait, seconds.
    pub runq_max: f64,
}

/// I/O counters as `/proc/PID/io` keeps them, in psutil's `io_counters()` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoUsage {
    /// Read-like syscalls (`syscr`).
    pub read_count: Option<u64>,
    /// Write-like syscalls (`syscw`).
    pub write_count: Option<u64>,
    /// Bytes fetched from storage (`read_bytes`; reads served from the page cache are not in it).
    pub read_bytes: Option<u64>,
    /// Bytes sent towards storage (`write_bytes`).
    pub write_bytes: Option<u64>,
    /// Bytes passed to read-like syscalls, cached or not (`rchar`).
    pub read_chars: Option<u64>,
    /// Bytes passed to write-like syscalls (`wchar`).
    pub write_chars: Option<u64>,
}

impl Exit {
    /// An end that was inferred (a process found gone), not seen: status unknown.
    pub fn unknown(duration: f64) -> Self {
        Exit::from_wait_status(0, duration).without_status()
    }

    fn without_status(mut self) -> Self {
        self.exit_code = None;
        self.signal = None;
        self
    }

    /// Decodes a raw wait status as the kernel keeps it in `task_struct::exit_code`.
    pub fn from_wait_status(status: u32, duration: f64) -> Self {
        let signal = (status & 0x7f) as i32;
        Exit {
            exit_code: (signal == 0).then_some(((status >> 8) & 0xff) as i32),
            signal: (signal != 0).then_some(signal),
            core_dumped: status & 0x80 != 0,
            duration,
            usage: None,
        }
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self.details {
            Details::Fork { .. } => EventKind::Fork,
            Details::Exec(_) => EventKind::Exec,
            Details::Exit(_) => EventKind::Exit,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.id.pid
    }
}

/// Splits NUL-separated argv bytes as `/proc/PID/cmdline` holds them. A trailing NUL ends the
/// last argument; empty arguments are kept.
#[cfg(unix)]
pub fn split_cmdline(bytes: &[u8]) -> Vec<OsString> {
    use std::os::unix::ffi::OsStringExt;
    if bytes.is_empty() {
        return Vec::new();
    }
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    bytes
        .split(|&b| b == 0)
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_decoding() {
        let exited = Exit::from_wait_status(7 << 8, 0.5);
        assert_eq!((exited.exit_code, exited.signal), (Some(7), None));
        let killed = Exit::from_wait_status(9, 0.5);
        assert_eq!((killed.exit_code, killed.signal), (None, Some(9)));
        let dumped = Exit::from_wait_status(0x80 | 11, 0.5);
        assert_eq!((dumped.signal, dumped.core_dumped), (Some(11), true));
    }

    #[test]
    #[cfg(unix)]
    fn cmdline_keeps_empty_arguments() {
        assert_eq!(split_cmdline(b""), Vec::<OsString>::new());
        assert_eq!(split_cmdline(b"a\0\0b\0"), ["a", "", "b"]);
        assert_eq!(split_cmdline(b"a\0\0"), ["a", ""]);
        assert_eq!(split_cmdline(b"a\0par"), ["a", "par"]);
    }
}
