//! The records a process reader returns, whatever the platform: psutil's Linux shapes
//! (`pcputimes`, `pmem`, `puids`, …). The Linux reader ([`crate::host::procfs`]) fills every field;
//! other readers fill what their platform tells and say which fields they cannot know.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// Why a procfs read failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The process is gone (`ENOENT`/`ESRCH` on its files and `/proc/PID/stat` is gone too).
    #[error("process no longer exists (pid={pid})")]
    NoSuchProcess {
        /// The process asked about.
        pid: u32,
    },
    /// The kernel refused the read (`EACCES`/`EPERM`).
    #[error("access denied (pid={pid}): {}", path.display())]
    AccessDenied {
        /// The process asked about.
        pid: u32,
        /// The file refused, or the process's directory when a syscall was refused.
        path: PathBuf,
    },
    /// The process exists but is a zombie, and the field is not readable for zombies (where
    /// psutil raises `ZombieProcess`: exe, cwd, cmdline, environ, …).
    #[error("process still exists but it's a zombie (pid={pid})")]
    ZombieProcess {
        /// The process asked about.
        pid: u32,
    },
    /// Any other I/O error, with the path that produced it.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file read.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A syscall about a process failed in a way that is not one of the above.
    #[error("{call}({pid}): {source}")]
    Syscall {
        /// The process asked about.
        pid: u32,
        /// The syscall.
        call: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The platform's reader cannot tell this attribute (the sysinfo reader outside Linux):
    /// callers show it as unknown, never as a made-up value.
    #[error("{what} is not available on this platform")]
    Unsupported {
        /// The attribute (psutil's name).
        what: &'static str,
    },
    /// The file's content is not what the kernel writes.
    #[error("unexpected content in {}: {what}", path.display())]
    Parse {
        /// The file read.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
}

impl ProcError {
    #[cfg_attr(not(native_linux), allow(dead_code))]
    pub(crate) fn parse(path: &Path, what: impl Into<String>) -> ProcError {
        ProcError::Parse {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// The fields of `/proc/PID/stat` that psutil and `ps` use. Times are in clock ticks
/// ([`clock_ticks`](super::clock_ticks)), sizes as the kernel writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// Field 1, the process ID.
    pub pid: u32,
    /// Field 2 without the parentheses: the kernel's `comm`, up to 15 bytes for user
    /// processes (longer for some kernel threads), byte-exact, may hold spaces and `)`.
    pub comm: OsString,
    /// Field 3, the state letter (`R`, `S`, `D`, `Z`, …); `?` if the field is not one byte.
    pub state: char,
    /// Field 4.
    pub ppid: u32,
    /// Field 5, process group.
    pub pgrp: u32,
    /// Field 6, session.
    pub session: u32,
    /// Field 7, the controlling terminal's device number (0 = none).
    pub tty_nr: i32,
    /// Field 10, minor faults.
    pub minflt: u64,
    /// Field 12, major faults.
    pub majflt: u64,
    /// Field 14, user time in ticks.
    pub utime: u64,
    /// Field 15, system time in ticks.
    pub stime: u64,
    /// Field 16, waited-for children's user time in ticks.
    pub cutime: u64,
    /// Field 17, waited-for children's system time in ticks.
    pub cstime: u64,
    /// Field 18.
    pub priority: i64,
    /// Field 19, the nice value (-20..19).
    pub nice: i64,
    /// Field 20.
    pub num_threads: u32,
    /// Field 22, start time in ticks since boot.
    pub starttime: u64,
    /// Field 23, virtual memory size in bytes.
    pub vsize: u64,
    /// Field 24, resident set size in pages.
    pub rss_pages: u64,
    /// Field 39, the CPU the process last ran on (psutil's `cpu_num`).
    pub processor: u32,
    /// Field 40.
    pub rt_priority: u32,
    /// Field 41, scheduling policy.
    pub policy: u32,
    /// Field 42, block I/O delay in ticks; 0 when the kernel does not write it (as psutil).
    pub delayacct_blkio_ticks: u64,
}

/// psutil's `pcputimes` on Linux, in seconds (ticks / `CLK_TCK` as a float).
#[derive(Debug, Clone, PartialEq)]
pub struct CpuTimes {
    /// User time.
    pub user: f64,
    /// System time.
    pub system: f64,
    /// Waited-for children's user time.
    pub children_user: f64,
    /// Waited-for children's system time.
    pub children_system: f64,
    /// Time waiting for block I/O (`delayacct_blkio_ticks`).
    pub iowait: f64,
}

/// psutil's `pthread`: one thread's CPU times in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTimes {
    /// Thread ID.
    pub id: u32,
    /// User time.
    pub user_time: f64,
    /// System time.
    pub system_time: f64,
}

pub(crate) fn ticks_to_secs(ticks: u64) -> f64 {
    ticks as f64 / super::clock_ticks() as f64
}

impl Stat {
    /// psutil's status string for the state letter (`"running"`, `"sleeping"`, …, `"?"` for a
    /// letter psutil does not know).
    pub fn status(&self) -> &'static str {
        status_name(self.state)
    }

    /// psutil's `cpu_times()`: ticks / `CLK_TCK`.
    pub fn cpu_times(&self) -> CpuTimes {
        CpuTimes {
            user: ticks_to_secs(self.utime),
            system: ticks_to_secs(self.stime),
            children_user: ticks_to_secs(self.cutime),
            children_system: ticks_to_secs(self.cstime),
            iowait: ticks_to_secs(self.delayacct_blkio_ticks),
        }
    }

    /// psutil's `create_time()`: starttime / `CLK_TCK` + `boot_time` (from
    /// the host's boot time), in seconds since the epoch.
    pub fn create_time(&self, boot_time: f64) -> f64 {
        ticks_to_secs(self.starttime) + boot_time
    }

    /// psutil's `create_time(monotonic=True)`: seconds since boot.
    pub fn create_time_since_boot(&self) -> f64 {
        ticks_to_secs(self.starttime)
    }
}

/// psutil's `PROC_STATUSES` mapping, `"?"` for anything else.
pub fn status_name(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk-sleep",
        'T' => "stopped",
        't' => "tracing-stop",
        'Z' => "zombie",
        'X' | 'x' => "dead",
        'K' => "wake-kill",
        'W' => "waking",
        'I' => "idle",
        'P' => "parked",
        _ => "?",
    }
}

/// psutil's `puids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uids {
    /// Real user ID.
    pub real: u32,
    /// Effective user ID.
    pub effective: u32,
    /// Saved set-user-ID.
    pub saved: u32,
}

/// psutil's `pgids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gids {
    /// Real group ID.
    pub real: u32,
    /// Effective group ID.
    pub effective: u32,
    /// Saved set-group-ID.
    pub saved: u32,
}

/// psutil's `pctxsw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtxSwitches {
    /// `voluntary_ctxt_switches`.
    pub voluntary: u64,
    /// `nonvoluntary_ctxt_switches`.
    pub involuntary: u64,
}

/// The fields of `/proc/PID/status` psutil uses, plus identity fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// `State:` letter.
    pub state: char,
    /// `Umask:`, absent before Linux 4.7.
    pub umask: Option<u32>,
    /// `Tgid:`, the process ID (differs from `pid` for a thread; psutil's `pid_exists` test).
    pub tgid: u32,
    /// `Pid:`.
    pub pid: u32,
    /// `PPid:`.
    pub ppid: u32,
    /// `TracerPid:` (0 = not traced).
    pub tracer_pid: u32,
    /// `Uid:` real, effective, saved (psutil's `uids()`).
    pub uids: Uids,
    /// `Gid:` real, effective, saved (psutil's `gids()`).
    pub gids: Gids,
    /// `Threads:` (psutil's `num_threads()`).
    pub num_threads: u32,
    /// The two `ctxt_switches` lines (psutil's `num_ctx_switches()`); `None` where the kernel
    /// does not write them (before 2.6.23), where psutil raises `NotImplementedError`.
    pub num_ctx_switches: Option<CtxSwitches>,
    /// `Cpus_allowed_list:` expanded (`0-2,4` → `[0, 1, 2, 4]`); `None` if absent.
    pub cpus_allowed_list: Option<Vec<u32>>,
}

/// psutil's `pmem` on Linux, in bytes (`statm` pages × page size).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryInfo {
    /// Resident set size (statm field 2).
    pub rss: u64,
    /// Virtual memory size (statm field 1).
    pub vms: u64,
    /// Resident file-backed and shared pages (statm field 3).
    pub shared: u64,
    /// Text (statm field 4).
    pub text: u64,
    /// Library, always 0 since Linux 2.6 (statm field 5).
    pub lib: u64,
    /// Data + stack (statm field 6).
    pub data: u64,
    /// Dirty pages, always 0 since Linux 2.6 (statm field 7).
    pub dirty: u64,
}

/// psutil's `pfullmem` on Linux: [`MemoryInfo`]'s fields plus `uss`, `pss`, `swap` in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryFullInfo {
    /// As [`MemoryInfo::rss`].
    pub rss: u64,
    /// As [`MemoryInfo::vms`].
    pub vms: u64,
    /// As [`MemoryInfo::shared`].
    pub shared: u64,
    /// As [`MemoryInfo::text`].
    pub text: u64,
    /// As [`MemoryInfo::lib`].
    pub lib: u64,
    /// As [`MemoryInfo::data`].
    pub data: u64,
    /// As [`MemoryInfo::dirty`].
    pub dirty: u64,
    /// Unique set size: the sum of the `Private_*` lines.
    pub uss: u64,
    /// Proportional set size: the `Pss:` line (summed over mappings with `smaps`).
    pub pss: u64,
    /// Swapped out: the `Swap:` line (summed over mappings with `smaps`).
    pub swap: u64,
}

/// One mapping of `/proc/PID/smaps`: psutil's `pmmap_ext` on Linux (sizes in bytes).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryMap {
    /// The address range, as smaps writes it (`7f00-7f01`).
    pub addr: String,
    /// The permissions (`r-xp`).
    pub perms: String,
    /// The mapped file, byte-exact; `[anon]` for an anonymous mapping, `[heap]`, `[stack]` …
    /// as the kernel names them; ` (deleted)` dropped when no file has that name.
    pub path: OsString,
    /// `Rss:`.
    pub rss: u64,
    /// `Size:`.
    pub size: u64,
    /// `Pss:`.
    pub pss: u64,
    /// `Shared_Clean:`.
    pub shared_clean: u64,
    /// `Shared_Dirty:`.
    pub shared_dirty: u64,
    /// `Private_Clean:`.
    pub private_clean: u64,
    /// `Private_Dirty:`.
    pub private_dirty: u64,
    /// `Referenced:`.
    pub referenced: u64,
    /// `Anonymous:`.
    pub anonymous: u64,
    /// `Swap:`.
    pub swap: u64,
}

/// psutil's `popenfile` on Linux.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenFile {
    /// The file's absolute path, byte-exact.
    pub path: OsString,
    /// The descriptor.
    pub fd: u32,
    /// The file offset (`pos:` of fdinfo).
    pub position: u64,
    /// `"r"`, `"w"`, `"a"`, `"r+"` or `"a+"`, from the flags.
    pub mode: &'static str,
    /// The `open` flags (`flags:` of fdinfo, octal there).
    pub flags: u32,
}

/// psutil's `pio` on Linux (`/proc/PID/io`).
#[derive(Debug, Clone, PartialEq)]
pub struct IoCounters {
    /// `syscr`: read syscalls.
    pub read_count: u64,
    /// `syscw`: write syscalls.
    pub write_count: u64,
    /// `read_bytes`: bytes fetched from storage.
    pub read_bytes: u64,
    /// `write_bytes`: bytes sent to storage.
    pub write_bytes: u64,
    /// `rchar`: bytes read by any read syscall.
    pub read_chars: u64,
    /// `wchar`: bytes written by any write syscall.
    pub write_chars: u64,
}

/// A resource of `prlimit` (psutil's `RLIMIT_*` constants on Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Rlimit {
    /// `RLIMIT_CPU`: CPU time in seconds.
    Cpu = 0,
    /// `RLIMIT_FSIZE`: largest file created, in bytes.
    Fsize = 1,
    /// `RLIMIT_DATA`: data segment size.
    Data = 2,
    /// `RLIMIT_STACK`: stack size.
    Stack = 3,
    /// `RLIMIT_CORE`: core file size.
    Core = 4,
    /// `RLIMIT_RSS`: resident set size (unused by Linux).
    Rss = 5,
    /// `RLIMIT_NPROC`: processes of the real user.
    Nproc = 6,
    /// `RLIMIT_NOFILE`: open file descriptors.
    Nofile = 7,
    /// `RLIMIT_MEMLOCK`: locked memory.
    Memlock = 8,
    /// `RLIMIT_AS`: address space.
    As = 9,
    /// `RLIMIT_LOCKS`: file locks.
    Locks = 10,
    /// `RLIMIT_SIGPENDING`: queued signals.
    Sigpending = 11,
    /// `RLIMIT_MSGQUEUE`: bytes in POSIX message queues.
    Msgqueue = 12,
    /// `RLIMIT_NICE`: nice ceiling.
    Nice = 13,
    /// `RLIMIT_RTPRIO`: real-time priority ceiling.
    Rtprio = 14,
    /// `RLIMIT_RTTIME`: real-time CPU time in microseconds.
    Rttime = 15,
}

impl Rlimit {
    /// Every resource, in number order.
    pub const ALL: [Rlimit; 16] = [
        Rlimit::Cpu,
        Rlimit::Fsize,
        Rlimit::Data,
        Rlimit::Stack,
        Rlimit::Core,
        Rlimit::Rss,
        Rlimit::Nproc,
        Rlimit::Nofile,
        Rlimit::Memlock,
        Rlimit::As,
        Rlimit::Locks,
        Rlimit::Sigpending,
        Rlimit::Msgqueue,
        Rlimit::Nice,
        Rlimit::Rtprio,
        Rlimit::Rttime,
    ];

    /// psutil's constant name (`"RLIMIT_NOFILE"`).
    pub fn name(self) -> &'static str {
        match self {
            Rlimit::Cpu => "RLIMIT_CPU",
            Rlimit::Fsize => "RLIMIT_FSIZE",
            Rlimit::Data => "RLIMIT_DATA",
            Rlimit::Stack => "RLIMIT_STACK",
            Rlimit::Core => "RLIMIT_CORE",
            Rlimit::Rss => "RLIMIT_RSS",
            Rlimit::Nproc => "RLIMIT_NPROC",
            Rlimit::Nofile => "RLIMIT_NOFILE",
            Rlimit::Memlock => "RLIMIT_MEMLOCK",
            Rlimit::As => "RLIMIT_AS",
            Rlimit::Locks => "RLIMIT_LOCKS",
            Rlimit::Sigpending => "RLIMIT_SIGPENDING",
            Rlimit::Msgqueue => "RLIMIT_MSGQUEUE",
            Rlimit::Nice => "RLIMIT_NICE",
            Rlimit::Rtprio => "RLIMIT_RTPRIO",
            Rlimit::Rttime => "RLIMIT_RTTIME",
        }
    }
}

/// psutil's `IOPriority` classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum IoClass {
    /// `IOPRIO_CLASS_NONE`: no class set (follows the nice value).
    None = 0,
    /// `IOPRIO_CLASS_RT`: real time.
    Rt = 1,
    /// `IOPRIO_CLASS_BE`: best effort.
    Be = 2,
    /// `IOPRIO_CLASS_IDLE`: idle.
    Idle = 3,
}

impl From<IoClass> for i64 {
    /// The class number, psutil's `IOPriority` value.
    fn from(class: IoClass) -> i64 {
        class as u32 as i64
    }
}

impl IoClass {
    /// psutil's constant name (`"IOPRIO_CLASS_BE"`).
    pub fn name(self) -> &'static str {
        match self {
            IoClass::None => "IOPRIO_CLASS_NONE",
            IoClass::Rt => "IOPRIO_CLASS_RT",
            IoClass::Be => "IOPRIO_CLASS_BE",
            IoClass::Idle => "IOPRIO_CLASS_IDLE",
        }
    }
}

/// psutil's `pionice` on Linux.
#[derive(Debug, Clone, PartialEq)]
pub struct IoNice {
    /// The class (`ioprio >> 13`).
    pub ioclass: IoClass,
    /// The data bits (`ioprio & 0x1fff`): the level 0-7, plus any hint bits the kernel sets.
    pub value: u32,
}
