//! [`SysinfoHost`]: a process reader built on the `sysinfo` crate, the portable twin of
//! [`Procfs`](crate::host::procfs::Procfs) for the systems without `/proc` (macOS, Windows, the
//! BSDs).
//!
//! It has Procfs's methods with Procfs's signatures and record types, and fills each record
//! with what `sysinfo` knows; what `sysinfo` does not know is either a documented neutral
//! value (a field of a record it otherwise fills) or, for a whole reader it cannot provide,
//! [`ProcError::Unsupported`], which callers show as unknown — never a made-up value.
//!
//! Everything goes through one `sysinfo::System` shared by the clones of a reader. A
//! per-process method refreshes only that process and only what it returns; [`SysinfoHost::pids`]
//! and [`SysinfoHost::snapshot`] refresh every process once (a snapshot is what a polling event
//! source diffs).
//!
//! Identity: `sysinfo` gives a process's start time in whole seconds since the epoch. This
//! reader turns it into ticks since boot at [`TICKS`] per second (see [`SysinfoHost::stat`]),
//! so `(pid, starttime)` keys a process as on Linux, at one-second resolution: a pid reused
//! within the second its predecessor started is not told apart.
//!
//! What `sysinfo` 0.37 does on its way (read on Linux, where tracer's tests run it): the `name`
//! is the kernel's `comm` there (15 bytes), the executable's file name on macOS and Windows;
//! the arguments and environment it returns drop empty entries and strip ASCII whitespace from
//! both ends of each; an executable, directory, argument list or environment it could not read
//! (refused, kernel thread) is simply absent, with no reason given. On Linux it keeps each
//! listed process's `stat` file open between refreshes (up to half the `RLIMIT_NOFILE` hard
//! limit, whose soft limit it raises to the hard one on first use).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sysinfo::{
    Pid, Process, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, ThreadKind,
    UpdateKind,
};

use crate::event::ProcessId;
use crate::host::{
    Gids, IoCounters, IoNice, MemoryFullInfo, MemoryInfo, OpenFile, ProcError, Rlimit, Stat,
    Status, ThreadTimes, Uids,
};

/// The tick rate of the start times this reader writes ([`Stat::starttime`],
/// [`HostProcess::start_ticks`]): 100 per second.
///
/// `sysinfo` gives start times in whole seconds, so any rate would do; 100 is Linux's
/// `CLK_TCK` on every architecture tracer runs on, which is what [`Stat::create_time`]
/// divides by ([`Procfs::clock_ticks`](crate::host::procfs::Procfs::clock_ticks)), so
/// `stat.create_time(host.boot_time()?)` gives back `sysinfo`'s start time exactly. The CPU
/// times of [`SysinfoHost::stat`] are in the same unit.
pub const TICKS: u64 = 100;

/// The unit of [`Stat::rss_pages`] as this reader writes it: 4096 bytes, whatever the
/// system's page size (`sysinfo` gives the RSS in bytes; a 16 KiB-page Mac's RSS is still
/// written in 4 KiB units, so `rss_pages * PAGE_SIZE` is the RSS in bytes).
pub const PAGE_SIZE: u64 = 4096;

/// A process reader on the `sysinfo` crate, with the methods and records of
/// [`Procfs`](crate::host::procfs::Procfs). Clones share one `sysinfo::System` (and its cached
/// process list) behind a mutex: calls from several threads take turns.
///
/// The cache keeps each process this reader has read until a refresh finds it ended: a
/// per-process read of that pid, or a full refresh ([`SysinfoHost::pids`],
/// [`SysinfoHost::snapshot`]), which also drops every ended one. On Linux each cached process
/// holds its `stat` file open (`sysinfo` rereads it without reopening).
#[derive(Clone)]
pub struct SysinfoHost {
    shared: Arc<Shared>,
}

struct Shared {
    system: Mutex<System>,
    /// The boot time (seconds since the epoch) read when the reader was made: every start
    /// time is converted to ticks against this one value, so a process keeps one identity
    /// even if the system's idea of its boot time moves (a stepped clock; Windows computes it
    /// as now minus uptime).
    boot_time: u64,
}

/// One process as [`SysinfoHost::snapshot`] saw it: what a fork and an exec event carry.
#[derive(Debug, Clone, PartialEq)]
pub struct HostProcess {
    /// The process ID.
    pub pid: u32,
    /// The parent's process ID, 0 when it has none.
    pub ppid: u32,
    /// The start time in [`TICKS`] since boot: whole seconds × 100 (see [`SysinfoHost::stat`]).
    /// With `pid`, the process's identity ([`HostProcess::id`]).
    pub start_ticks: u64,
    /// The start time in seconds since the epoch, as `sysinfo` gives it: whole seconds
    /// (psutil's `create_time`, rounded down to the second).
    pub create_time: f64,
    /// The state letter, as [`Stat::state`] from [`SysinfoHost::stat`].
    pub state: char,
    /// `sysinfo`'s process name (Linux: the kernel's `comm`, up to 15 bytes; macOS and
    /// Windows: the executable's file name).
    pub name: OsString,
    /// The executable's path; `None` when it could not be read (kernel threads, zombies,
    /// another user's process without privileges).
    pub exe: Option<OsString>,
    /// The arguments; empty for kernel threads and when they could not be read. Empty
    /// arguments are dropped and each is stripped of ASCII whitespace at both ends (`sysinfo`
    /// does so).
    pub cmdline: Vec<OsString>,
    /// Real, effective and saved user IDs (saved = effective: `sysinfo` does not read the
    /// saved ones); `None` when unknown (not readable, or Windows, whose users are SIDs).
    pub uids: Option<Uids>,
    /// Real, effective and saved group IDs (saved = effective); `None` when unknown.
    pub gids: Option<Gids>,
}

impl HostProcess {
    /// The identity `(pid, start_ticks)`, as the process table keys processes.
    pub fn id(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start_ticks: self.start_ticks,
        }
    }

    /// The real user ID, if known.
    pub fn uid(&self) -> Option<u32> {
        self.uids.map(|u| u.real)
    }

    /// The real group ID, if known.
    pub fn gid(&self) -> Option<u32> {
        self.gids.map(|g| g.real)
    }
}

impl Default for SysinfoHost {
    fn default() -> Self {
        SysinfoHost::new()
    }
}

impl fmt::Debug for SysinfoHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SysinfoHost");
        d.field("boot_time", &self.shared.boot_time);
        match self.shared.system.try_lock() {
            Ok(system) => d.field("cached_processes", &system.processes().len()),
            Err(_) => d.field("cached_processes", &"<in use>"),
        };
        d.finish()
    }
}

/// The refresh of a per-process read: nothing but what the caller names (the process's
/// parent, name, state and start time come with every refresh).
fn only() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing().without_tasks()
}

/// The state letter of Linux's `stat` for `sysinfo`'s status.
fn state_letter(status: ProcessStatus) -> char {
    match status {
        ProcessStatus::Run => 'R',
        ProcessStatus::Sleep => 'S',
        ProcessStatus::UninterruptibleDiskSleep => 'D',
        ProcessStatus::Zombie => 'Z',
        ProcessStatus::Stop => 'T',
        ProcessStatus::Tracing => 't',
        ProcessStatus::Dead => 'X',
        ProcessStatus::Wakekill => 'K',
        ProcessStatus::Waking => 'W',
        ProcessStatus::Parked => 'P',
        // Linux: an idle kernel thread; macOS and FreeBSD: being created by fork (psutil
        // calls both "idle").
        ProcessStatus::Idle => 'I',
        // FreeBSD: blocked on a lock (psutil's "locked"; BSD `ps` writes `L`).
        ProcessStatus::LockBlocked => 'L',
        // A platform's own code, not a letter.
        ProcessStatus::Unknown(_) => '?',
    }
}

/// A user ID as a number: POSIX systems have one; Windows has SIDs, which are not.
#[cfg(not(windows))]
fn uid_number(uid: &sysinfo::Uid) -> Option<u32> {
    Some(**uid)
}

/// A user ID as a number: POSIX systems have one; Windows has SIDs, which are not.
#[cfg(windows)]
fn uid_number(_uid: &sysinfo::Uid) -> Option<u32> {
    None
}

/// Real, effective and saved user and group IDs, when `sysinfo` knows all four it reads;
/// saved = effective.
fn ids(process: &Process) -> Option<(Uids, Gids)> {
    let uid = uid_number(process.user_id()?)?;
    let euid = uid_number(process.effective_user_id()?)?;
    let gid = *process.group_id()?;
    let egid = *process.effective_group_id()?;
    Some((
        Uids {
            real: uid,
            effective: euid,
            saved: euid,
        },
        Gids {
            real: gid,
            effective: egid,
            saved: egid,
        },
    ))
}

/// `KEY=VALUE` split at its first `=`; `None` without one or with an empty key (psutil's
/// `parse_environ_block` skips those).
fn split_env(entry: &OsStr) -> Option<(OsString, OsString)> {
    let bytes = entry.as_encoded_bytes();
    let eq = bytes.iter().position(|&b| b == b'=')?;
    if eq == 0 {
        return None;
    }
    // SAFETY: both halves come from `as_encoded_bytes` of one OsStr, split right before and
    // right after the valid UTF-8 substring "=", which std documents as a valid split.
    let (key, value) = unsafe {
        (
            OsStr::from_encoded_bytes_unchecked(&bytes[..eq]),
            OsStr::from_encoded_bytes_unchecked(&bytes[eq + 1..]),
        )
    };
    Some((key.to_os_string(), value.to_os_string()))
}

impl SysinfoHost {
    /// A reader with an empty cache (the first full refresh lists the processes).
    pub fn new() -> Self {
        let system = System::new();
        SysinfoHost {
            shared: Arc::new(Shared {
                system: Mutex::new(system),
                boot_time: System::boot_time(),
            }),
        }
    }

    /// Ticks per second of the times in [`Stat`] from this reader: [`TICKS`] (the twin of
    /// [`Procfs::clock_ticks`](crate::host::procfs::Procfs::clock_ticks)).
    pub fn clock_ticks() -> u64 {
        TICKS
    }

    /// The unit of [`Stat::rss_pages`] from this reader: [`PAGE_SIZE`] (the twin of
    /// [`Procfs::page_size`](crate::host::procfs::Procfs::page_size)).
    pub fn page_size() -> u64 {
        PAGE_SIZE
    }

    fn system(&self) -> MutexGuard<'_, System> {
        self.shared
            .system
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Start time in ticks since boot ([`TICKS`] per second).
    fn start_ticks(&self, process: &Process) -> u64 {
        process
            .start_time()
            .saturating_sub(self.shared.boot_time)
            .saturating_mul(TICKS)
    }

    /// Refreshes `pid` with `kind` and runs `f` on it; [`ProcError::NoSuchProcess`] when
    /// `sysinfo` finds no such process (or finds a thread of another process: on Linux thread
    /// IDs are readable as processes, but they are not listed).
    fn with_process<R>(
        &self,
        pid: u32,
        kind: ProcessRefreshKind,
        f: impl FnOnce(&Process) -> Result<R, ProcError>,
    ) -> Result<R, ProcError> {
        let spid = Pid::from_u32(pid);
        let mut system = self.system();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[spid]), true, kind);
        match system.process(spid) {
            Some(process) if process.thread_kind() != Some(ThreadKind::Userland) => f(process),
            _ => Err(ProcError::NoSuchProcess { pid }),
        }
    }

    /// [`SysinfoHost::with_process`] for the fields psutil refuses for zombies:
    /// [`ProcError::ZombieProcess`] when the process is one.
    fn with_live_process<R>(
        &self,
        pid: u32,
        kind: ProcessRefreshKind,
        f: impl FnOnce(&Process) -> R,
    ) -> Result<R, ProcError> {
        self.with_process(pid, kind, |process| match process.status() {
            ProcessStatus::Zombie => Err(ProcError::ZombieProcess { pid }),
            _ => Ok(f(process)),
        })
    }

    /// Refreshes every process with `kind`, dropping the ended ones from the cache.
    fn refresh_all(&self, system: &mut System, kind: ProcessRefreshKind) -> io::Result<()> {
        if !sysinfo::IS_SUPPORTED_SYSTEM {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "sysinfo cannot list processes on this system",
            ));
        }
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        Ok(())
    }

    /// Every process ID, sorted (psutil's `pids()`). Refreshes the process list: one read of
    /// each process's state and nothing else; the threads of a process are not listed. An
    /// error when `sysinfo` cannot list processes on this system.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let mut system = self.system();
        self.refresh_all(&mut system, only())?;
        let mut pids: Vec<u32> = system
            .processes()
            .iter()
            .filter(|(_, p)| p.thread_kind() != Some(ThreadKind::Userland))
            .map(|(pid, _)| pid.as_u32())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// The boot time in seconds since the epoch, whole seconds: `sysinfo`'s, read once when
    /// this reader was made (the start times of its records are relative to it).
    pub fn boot_time(&self) -> Result<f64, ProcError> {
        Ok(self.shared.boot_time as f64)
    }

    /// The fields of [`Stat`] that `sysinfo` knows; the others are 0.
    ///
    /// Filled:
    /// - `pid`, `ppid` (0 when it has none);
    /// - `comm`: `sysinfo`'s name as it is (see [`HostProcess::name`]), not cut to 15 bytes;
    /// - `state`: the letter of Linux's `stat` for `sysinfo`'s status (`R`, `S`, `D`, `Z`,
    ///   `T`, `t`, `X`, `I`, `K`, `W`, `P`; FreeBSD's lock wait `L`; `?` for a status
    ///   `sysinfo` does not name);
    /// - `session` (0 when unknown, and always on Windows);
    /// - `starttime`: (start time − [`SysinfoHost::boot_time`]) × [`TICKS`], `sysinfo`'s
    ///   start time being whole seconds, so [`Stat::create_time`] gives back that time and
    ///   not psutil's (up to 1 s later);
    /// - `utime`: all the CPU time, user and system, in ticks (`sysinfo` gives only their
    ///   sum, in milliseconds, rounded down to a tick here); `stime` is 0;
    /// - `num_threads`: from `sysinfo`'s tasks (Linux only); 1 elsewhere, unknown;
    /// - `vsize` in bytes; `rss_pages` in [`PAGE_SIZE`] units (RSS bytes / 4096).
    ///
    /// Unknown, written 0: `pgrp`, `tty_nr` (which reads as "no terminal"), `minflt`,
    /// `majflt`, `cutime`, `cstime`, `priority`, `nice` (which reads as the default nice),
    /// `processor`, `rt_priority`, `policy` and `delayacct_blkio_ticks`. Callers that show
    /// these must not take them from this reader.
    pub fn stat(&self, pid: u32) -> Result<Stat, ProcError> {
        let kind = only().with_cpu().with_memory().with_tasks();
        self.with_process(pid, kind, |p| {
            Ok(Stat {
                pid,
                comm: p.name().to_os_string(),
                state: state_letter(p.status()),
                ppid: p.parent().map_or(0, Pid::as_u32),
                pgrp: 0,
                session: p.session_id().map_or(0, Pid::as_u32),
                tty_nr: 0,
                minflt: 0,
                majflt: 0,
                utime: p.accumulated_cpu_time() * TICKS / 1000,
                stime: 0,
                cutime: 0,
                cstime: 0,
                priority: 0,
                nice: 0,
                // Linux lists the other threads as tasks (not the main one).
                num_threads: p.tasks().map_or(1, |tasks| tasks.len() as u32 + 1),
                starttime: self.start_ticks(p),
                vsize: p.virtual_memory(),
                rss_pages: p.memory() / PAGE_SIZE,
                processor: 0,
                rt_priority: 0,
                policy: 0,
                delayacct_blkio_ticks: 0,
            })
        })
    }

    /// The fields of [`Status`] that `sysinfo` knows: `state` (as [`SysinfoHost::stat`]),
    /// `pid`, `tgid` (= `pid`: threads are not processes here), `ppid`, `num_threads` (as
    /// [`SysinfoHost::stat`]), and the real and effective user and group IDs, the saved ones
    /// being set to the effective ones (`sysinfo` does not read them). Unknown: `umask`,
    /// `num_ctx_switches` and `cpus_allowed_list` are `None`; `tracer_pid` is 0.
    ///
    /// [`ProcError::Unsupported`] when `sysinfo` has no numeric IDs for the process (not
    /// readable; always on Windows, whose users are SIDs).
    pub fn status(&self, pid: u32) -> Result<Status, ProcError> {
        let kind = only().with_user(UpdateKind::Always).with_tasks();
        self.with_process(pid, kind, |p| {
            let (uids, gids) = ids(p).ok_or(ProcError::Unsupported {
                what: "uids and gids",
            })?;
            Ok(Status {
                state: state_letter(p.status()),
                umask: None,
                tgid: pid,
                pid,
                ppid: p.parent().map_or(0, Pid::as_u32),
                tracer_pid: 0,
                uids,
                gids,
                num_threads: p.tasks().map_or(1, |tasks| tasks.len() as u32 + 1),
                num_ctx_switches: None,
                cpus_allowed_list: None,
            })
        })
    }

    /// The executable's path, as [`Procfs::exe`](crate::host::procfs::Procfs::exe): `""` when it
    /// cannot be read — for a kernel thread, but also (unlike Procfs, which says
    /// [`ProcError::AccessDenied`]) when reading it was refused: `sysinfo` does not say why;
    /// [`ProcError::ZombieProcess`] for a zombie.
    pub fn exe(&self, pid: u32) -> Result<OsString, ProcError> {
        self.with_live_process(pid, only().with_exe(UpdateKind::Always), |p| {
            p.exe()
                .map_or_else(OsString::new, |path| path.as_os_str().to_os_string())
        })
    }

    /// The arguments, as [`Procfs::cmdline`](crate::host::procfs::Procfs::cmdline) but with empty
    /// arguments dropped and each stripped of ASCII whitespace at both ends (`sysinfo` does
    /// so); empty for kernel threads and when they could not be read;
    /// [`ProcError::ZombieProcess`] for a zombie.
    pub fn cmdline(&self, pid: u32) -> Result<Vec<OsString>, ProcError> {
        self.with_live_process(pid, only().with_cmd(UpdateKind::Always), |p| {
            p.cmd().to_vec()
        })
    }

    /// The working directory, as [`SysinfoHost::exe`] (`""` when it cannot be read).
    pub fn cwd(&self, pid: u32) -> Result<OsString, ProcError> {
        self.with_live_process(pid, only().with_cwd(UpdateKind::Always), |p| {
            p.cwd()
                .map_or_else(OsString::new, |path| path.as_os_str().to_os_string())
        })
    }

    /// The environment, as [`Procfs::environ`](crate::host::procfs::Procfs::environ): `KEY=VALUE`
    /// entries in order, a key seen twice keeping its first position and its last value,
    /// entries without `=` or starting with `=` skipped. Unlike Procfs: empty when it could
    /// not be read (refused, kernel thread: `sysinfo` does not say), and, as `sysinfo` reads
    /// it, without empty entries and with each entry stripped of ASCII whitespace at both ends
    /// (so a value's trailing spaces are lost). [`ProcError::ZombieProcess`] for a zombie.
    pub fn environ(&self, pid: u32) -> Result<Vec<(OsString, OsString)>, ProcError> {
        self.with_live_process(pid, only().with_environ(UpdateKind::Always), |p| {
            let mut vars: Vec<(OsString, OsString)> = Vec::with_capacity(p.environ().len());
            let mut index: HashMap<OsString, usize> = HashMap::new();
            for (key, value) in p.environ().iter().filter_map(|e| split_env(e)) {
                match index.get(&key) {
                    Some(&i) => vars[i].1 = value,
                    None => {
                        index.insert(key.clone(), vars.len());
                        vars.push((key, value));
                    }
                }
            }
            vars
        })
    }

    /// [`SysinfoHost::status`], and with `memory` also [`SysinfoHost::memory_info`] (the
    /// twin of the Linux reader's one-read pair).
    pub fn status_and_memory(
        &self,
        pid: u32,
        memory: bool,
    ) -> Result<(Status, Option<MemoryInfo>), ProcError> {
        let status = self.status(pid)?;
        let memory = if memory {
            Some(self.memory_info(pid)?)
        } else {
            None
        };
        Ok((status, memory))
    }

    /// psutil's `memory_info()` with what `sysinfo` knows: `rss` and `vms` in bytes. The
    /// others (`shared`, `text`, `lib`, `data`, `dirty`) are unknown and written 0.
    pub fn memory_info(&self, pid: u32) -> Result<MemoryInfo, ProcError> {
        self.with_process(pid, only().with_memory(), |p| {
            Ok(MemoryInfo {
                rss: p.memory(),
                vms: p.virtual_memory(),
                shared: 0,
                text: 0,
                lib: 0,
                data: 0,
                dirty: 0,
            })
        })
    }

    /// Always [`ProcError::Unsupported`]: `sysinfo` has no USS, PSS or swap.
    pub fn memory_full_info(&self, _pid: u32) -> Result<MemoryFullInfo, ProcError> {
        Err(ProcError::Unsupported {
            what: "memory_full_info",
        })
    }

    /// Always [`ProcError::Unsupported`]: `sysinfo` counts bytes read and written but not
    /// the syscalls nor the characters (and on Windows its bytes are all I/O, not storage).
    pub fn io_counters(&self, _pid: u32) -> Result<IoCounters, ProcError> {
        Err(ProcError::Unsupported {
            what: "io_counters",
        })
    }

    /// Always [`ProcError::Unsupported`]: `sysinfo`'s count of open files means descriptors
    /// on Linux but all handles on Windows, and does not say why it failed.
    pub fn num_fds(&self, _pid: u32) -> Result<u32, ProcError> {
        Err(ProcError::Unsupported { what: "num_fds" })
    }

    /// Always [`ProcError::Unsupported`].
    pub fn open_files(&self, _pid: u32) -> Result<Vec<OpenFile>, ProcError> {
        Err(ProcError::Unsupported { what: "open_files" })
    }

    /// Always [`ProcError::Unsupported`]: `sysinfo` has no per-thread CPU times.
    pub fn threads(&self, _pid: u32) -> Result<Vec<ThreadTimes>, ProcError> {
        Err(ProcError::Unsupported { what: "threads" })
    }

    /// Always [`ProcError::Unsupported`].
    pub fn terminal(&self, _pid: u32) -> Result<Option<OsString>, ProcError> {
        Err(ProcError::Unsupported { what: "terminal" })
    }

    /// Always [`ProcError::Unsupported`].
    pub fn cpu_affinity(&self, _pid: u32) -> Result<Vec<u32>, ProcError> {
        Err(ProcError::Unsupported {
            what: "cpu_affinity",
        })
    }

    /// Always [`ProcError::Unsupported`].
    pub fn ionice(&self, _pid: u32) -> Result<IoNice, ProcError> {
        Err(ProcError::Unsupported { what: "ionice" })
    }

    /// Always [`ProcError::Unsupported`]: `sysinfo` reads at most the soft limit of open
    /// files.
    pub fn rlimit(&self, _pid: u32, _resource: Rlimit) -> Result<(i64, i64), ProcError> {
        Err(ProcError::Unsupported { what: "rlimit" })
    }

    /// Every process, sorted by pid, with what a fork and an exec event carry: one refresh of
    /// all processes, so two snapshots an interval apart give the processes that started and
    /// ended between them (those that lived less than the interval are never seen).
    ///
    /// The executable, arguments and IDs of a process are read the first time this reader
    /// sees it (and again while they cannot be read); the per-process methods ([`exe`],
    /// [`cmdline`], [`status`]) re-read them. So a process that exec'd or changed user after
    /// it was first seen shows its earlier values here until one of those is called for it —
    /// as the procfs poller, which reads a pid's files only when it is new. An error when
    /// `sysinfo` cannot list processes on this system.
    ///
    /// [`exe`]: SysinfoHost::exe
    /// [`cmdline`]: SysinfoHost::cmdline
    /// [`status`]: SysinfoHost::status
    pub fn snapshot(&self) -> io::Result<Vec<HostProcess>> {
        let kind = only()
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet);
        let mut system = self.system();
        self.refresh_all(&mut system, kind)?;
        let mut out: Vec<HostProcess> = system
            .processes()
            .values()
            .filter(|p| p.thread_kind() != Some(ThreadKind::Userland))
            .map(|p| {
                let ids = ids(p);
                HostProcess {
                    pid: p.pid().as_u32(),
                    ppid: p.parent().map_or(0, Pid::as_u32),
                    start_ticks: self.start_ticks(p),
                    create_time: p.start_time() as f64,
                    state: state_letter(p.status()),
                    name: p.name().to_os_string(),
                    exe: p.exe().map(|path| path.as_os_str().to_os_string()),
                    cmdline: p.cmd().to_vec(),
                    uids: ids.map(|(u, _)| u),
                    gids: ids.map(|(_, g)| g),
                }
            })
            .collect();
        out.sort_unstable_by_key(|p| p.pid);
        Ok(out)
    }
}

#[cfg(all(test, native_linux))]
mod tests {
    //! Differential tests: real processes read by both this reader and the Linux procfs one.

    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;
    use crate::host::procfs::testutil::{wait_until, Child, TempDir};
    use crate::host::procfs::Procfs;

    /// `sleep` under a symlink with a name longer than `comm` holds, with an odd argv[0], a
    /// working directory with spaces and non-ASCII, and a small environment.
    fn odd_sleep(dir: &TempDir) -> Child {
        let link = dir.path().join("sleep-under-a-long-name");
        std::os::unix::fs::symlink("/usr/bin/sleep", &link).expect("symlink is creatable");
        let cwd = dir.path().join("a dir é");
        std::fs::create_dir(&cwd).expect("cwd is creatable");
        let mut cmd = Command::new(&link);
        cmd.arg0("odd argv0\twith é")
            .args(["30", "0.5"])
            .current_dir(&cwd)
            .env_clear()
            .envs([
                ("A", "1"),
                ("WITH SPACE", "x y"),
                ("EMPTY", ""),
                ("EQ", "a=b"),
            ]);
        sleeping(&mut cmd)
    }

    /// Spawns `cmd` and waits until it sleeps: until then it may still be inside `execve`
    /// (its exe already new, its arguments not yet set up: cmdline reads empty), and its state
    /// and CPU time move between two readers' reads.
    fn sleeping(cmd: &mut Command) -> Child {
        let child = Child::spawn(cmd);
        let procfs = Procfs::new();
        assert!(wait_until(|| procfs
            .stat(child.pid())
            .is_ok_and(|s| s.state == 'S')));
        child
    }

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn constants_match_linux() {
        assert_eq!(Procfs::clock_ticks(), TICKS);
        assert_eq!(SysinfoHost::clock_ticks(), TICKS);
        assert_eq!(Procfs::page_size(), PAGE_SIZE);
        assert_eq!(SysinfoHost::page_size(), PAGE_SIZE);
    }

    #[test]
    fn boot_time_is_procfs_btime() {
        let host = SysinfoHost::new();
        assert_eq!(
            host.boot_time().unwrap(),
            Procfs::new().boot_time().unwrap()
        );
    }

    #[test]
    fn reads_a_child_as_procfs_does() {
        let dir = TempDir::new("sysinfo host");
        let child = odd_sleep(&dir);
        let pid = child.pid();
        let host = SysinfoHost::new();
        let procfs = Procfs::new();
        let boot = host.boot_time().unwrap();

        let stat = host.stat(pid).unwrap();
        let pstat = procfs.stat(pid).unwrap();
        assert_eq!(stat.pid, pid);
        assert_eq!(stat.ppid, std::process::id());
        assert_eq!(stat.ppid, pstat.ppid);
        assert_eq!(stat.comm, pstat.comm);
        assert_eq!(
            stat.comm,
            os("sleep-under-a-l"),
            "the kernel's 15-byte comm"
        );
        assert_eq!(stat.state, pstat.state);
        assert_eq!(stat.session, pstat.session);
        assert_eq!(stat.num_threads, 1);
        assert_eq!(stat.vsize, pstat.vsize);
        assert!(
            stat.rss_pages.abs_diff(pstat.rss_pages) <= 64,
            "{stat:?} {pstat:?}"
        );
        assert_eq!(stat.utime, pstat.utime + pstat.stime);
        assert_eq!(stat.stime, 0);
        // sysinfo's start time is psutil's rounded down to the second.
        let created = stat.create_time(boot);
        let pcreated = pstat.create_time(procfs.boot_time().unwrap());
        assert!(
            created <= pcreated && pcreated - created < 1.0,
            "{created} {pcreated}"
        );
        assert_eq!(stat.starttime % TICKS, 0);
        assert_eq!(stat.starttime, pstat.starttime / TICKS * TICKS);

        let status = host.status(pid).unwrap();
        let pstatus = procfs.status(pid).unwrap();
        assert_eq!(status.uids, pstatus.uids);
        assert_eq!(status.gids, pstatus.gids);
        assert_eq!(
            (status.pid, status.tgid, status.ppid),
            (pid, pid, pstatus.ppid)
        );
        assert_eq!(status.state, pstatus.state);
        assert_eq!(status.num_threads, pstatus.num_threads);

        assert_eq!(host.exe(pid).unwrap(), procfs.exe(pid).unwrap());
        assert_eq!(host.exe(pid).unwrap(), os("/usr/bin/sleep"));
        assert_eq!(host.cmdline(pid).unwrap(), procfs.cmdline(pid).unwrap());
        assert_eq!(
            host.cmdline(pid).unwrap(),
            [os("odd argv0\twith é"), os("30"), os("0.5")]
        );
        assert_eq!(host.cwd(pid).unwrap(), procfs.cwd(pid).unwrap());
        assert!(PathBuf::from(host.cwd(pid).unwrap()).ends_with("a dir é"));
        assert_eq!(host.environ(pid).unwrap(), procfs.environ(pid).unwrap());

        let mem = host.memory_info(pid).unwrap();
        let pmem = procfs.memory_info(pid).unwrap();
        assert_eq!(mem.vms, pmem.vms);
        assert!(mem.rss.abs_diff(pmem.rss) <= 256 * 1024, "{mem:?} {pmem:?}");
        assert_eq!((mem.shared, mem.text, mem.data), (0, 0, 0));

        let pids = host.pids().unwrap();
        assert!(pids.contains(&pid));
        assert!(pids.contains(&std::process::id()));
        assert!(pids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn unsupported_readers_say_so() {
        let child = sleeping(Command::new("sleep").arg("30"));
        let pid = child.pid();
        let host = SysinfoHost::new();
        let what = |r: Result<(), ProcError>| match r {
            Err(ProcError::Unsupported { what }) => what,
            other => panic!("expected Unsupported, got {other:?}"),
        };
        assert_eq!(
            what(host.memory_full_info(pid).map(drop)),
            "memory_full_info"
        );
        assert_eq!(what(host.io_counters(pid).map(drop)), "io_counters");
        assert_eq!(what(host.num_fds(pid).map(drop)), "num_fds");
        assert_eq!(what(host.open_files(pid).map(drop)), "open_files");
        assert_eq!(what(host.threads(pid).map(drop)), "threads");
        assert_eq!(what(host.terminal(pid).map(drop)), "terminal");
        assert_eq!(what(host.cpu_affinity(pid).map(drop)), "cpu_affinity");
        assert_eq!(what(host.ionice(pid).map(drop)), "ionice");
        assert_eq!(what(host.rlimit(pid, Rlimit::Nofile).map(drop)), "rlimit");
        assert_eq!(
            ProcError::Unsupported { what: "ionice" }.to_string(),
            "ionice is not available on this platform"
        );
    }

    #[test]
    fn ended_pid_is_no_such_process() {
        let host = SysinfoHost::new();
        let mut child = sleeping(Command::new("sleep").arg("30"));
        let pid = child.pid();
        assert_eq!(host.stat(pid).unwrap().pid, pid); // now in the cache
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let gone = |r: Result<(), ProcError>| {
            assert!(
                matches!(r, Err(ProcError::NoSuchProcess { pid: p }) if p == pid),
                "{r:?}"
            )
        };
        gone(host.stat(pid).map(drop));
        gone(host.status(pid).map(drop));
        gone(host.exe(pid).map(drop));
        gone(host.cmdline(pid).map(drop));
        gone(host.cwd(pid).map(drop));
        gone(host.environ(pid).map(drop));
        gone(host.memory_info(pid).map(drop));
        assert!(!host.pids().unwrap().contains(&pid));
        assert!(matches!(
            host.stat(u32::MAX - 1),
            Err(ProcError::NoSuchProcess { .. })
        ));
    }

    #[test]
    fn zombie_is_read_as_procfs_reads_it() {
        let host = SysinfoHost::new();
        let procfs = Procfs::new();
        let mut child = sleeping(Command::new("sleep").arg("30"));
        let pid = child.pid();
        child.0.kill().unwrap();
        assert!(wait_until(|| procfs
            .stat(pid)
            .is_ok_and(|s| s.state == 'Z')));
        assert_eq!(host.stat(pid).unwrap().state, 'Z');
        assert_eq!(
            host.status(pid).unwrap().uids,
            procfs.status(pid).unwrap().uids
        );
        for (ours, theirs) in [
            (host.exe(pid).map(drop), procfs.exe(pid).map(drop)),
            (host.cmdline(pid).map(drop), procfs.cmdline(pid).map(drop)),
            (host.cwd(pid).map(drop), procfs.cwd(pid).map(drop)),
            (host.environ(pid).map(drop), procfs.environ(pid).map(drop)),
        ] {
            assert!(
                matches!(ours, Err(ProcError::ZombieProcess { .. })),
                "{ours:?}"
            );
            assert!(
                matches!(theirs, Err(ProcError::ZombieProcess { .. })),
                "{theirs:?}"
            );
        }
        child.0.wait().unwrap();
    }

    #[test]
    fn num_threads_of_a_threaded_process() {
        // This test binary: its threads come and go with the other tests, so compare with
        // procfs until one read falls between two equal procfs reads.
        let host = SysinfoHost::new();
        let procfs = Procfs::new();
        let me = std::process::id();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let extra = std::thread::spawn(move || stopped.recv());
        assert!(wait_until(|| {
            let before = procfs.stat(me).unwrap().num_threads;
            let ours = host.stat(me).unwrap().num_threads;
            let after = procfs.stat(me).unwrap().num_threads;
            before == after && ours == before && ours >= 2
        }));
        // A thread's ID reads as a process in /proc but is not one here.
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            tx.send(crate::platform::gettid()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        });
        let tid = rx.recv().unwrap();
        assert!(procfs.stat(tid).is_ok());
        assert!(matches!(
            host.stat(tid),
            Err(ProcError::NoSuchProcess { .. })
        ));
        assert!(!host.pids().unwrap().contains(&tid));
        thread.join().unwrap();
        stop.send(()).unwrap();
        extra.join().unwrap().unwrap();
    }

    #[test]
    fn sysinfo_drops_empty_arguments_and_strips_whitespace() {
        // A documented difference from procfs: sysinfo splits argv its own way.
        let host = SysinfoHost::new();
        let procfs = Procfs::new();
        for (arg0, ours) in [
            ("", vec![os("30")]),
            (" padded\t", vec![os("padded"), os("30")]),
        ] {
            let child = sleeping(Command::new("sleep").arg0(arg0).arg("30"));
            let pid = child.pid();
            assert_eq!(procfs.cmdline(pid).unwrap(), [os(arg0), os("30")]);
            assert_eq!(host.cmdline(pid).unwrap(), ours);
        }
    }

    #[test]
    fn environ_keeps_first_position_and_last_value() {
        let entries = [
            os("A=1"),
            os("B=2"),
            os("A=3"),
            os("=x"),
            os("noeq"),
            os("C=="),
        ];
        let mut vars: Vec<(OsString, OsString)> = Vec::new();
        for (k, v) in entries.iter().filter_map(|e| split_env(e)) {
            match vars.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => vars.push((k, v)),
            }
        }
        assert_eq!(
            vars,
            [(os("A"), os("3")), (os("B"), os("2")), (os("C"), os("="))]
        );
        let bytes = OsStr::from_bytes(b"K\xff=\xfe");
        let (k, v) = split_env(bytes).unwrap();
        assert_eq!((k.as_bytes(), v.as_bytes()), (&b"K\xff"[..], &b"\xfe"[..]));
    }

    #[test]
    fn snapshot_sees_a_child_and_its_end() {
        let dir = TempDir::new("sysinfo snapshot");
        let host = SysinfoHost::new();
        let procfs = Procfs::new();
        let mut child = odd_sleep(&dir);
        let pid = child.pid();
        let snapshot = host.snapshot().unwrap();
        assert!(snapshot.windows(2).all(|w| w[0].pid < w[1].pid));
        assert!(snapshot.iter().any(|p| p.pid == std::process::id()));
        let seen = snapshot
            .iter()
            .find(|p| p.pid == pid)
            .expect("child listed");
        let stat = procfs.stat(pid).unwrap();
        let status = procfs.status(pid).unwrap();
        assert_eq!(seen.ppid, std::process::id());
        assert_eq!(seen.name, stat.comm);
        assert_eq!(seen.state, stat.state);
        assert_eq!(seen.exe, Some(procfs.exe(pid).unwrap()));
        assert_eq!(seen.cmdline, procfs.cmdline(pid).unwrap());
        assert_eq!(seen.uids, Some(status.uids));
        assert_eq!(seen.gids, Some(status.gids));
        assert_eq!(seen.uid(), Some(status.uids.real));
        assert_eq!(seen.gid(), Some(status.gids.real));
        let pcreated = stat.create_time(procfs.boot_time().unwrap());
        assert!(seen.create_time <= pcreated && pcreated - seen.create_time < 1.0);
        // The identity agrees with the per-process reader's.
        assert_eq!(seen.start_ticks, host.stat(pid).unwrap().starttime);
        assert_eq!(
            seen.id(),
            ProcessId {
                pid,
                start_ticks: seen.start_ticks
            }
        );
        assert_eq!(
            Stat {
                starttime: seen.start_ticks,
                ..stat.clone()
            }
            .create_time(host.boot_time().unwrap()),
            seen.create_time
        );

        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let after = host.snapshot().unwrap();
        assert!(after.iter().all(|p| p.pid != pid));
        assert!(after.iter().any(|p| p.pid == std::process::id()));
    }

    #[test]
    fn clones_share_the_cache() {
        let host = SysinfoHost::new();
        let clone = host.clone();
        host.pids().unwrap();
        let debug = format!("{clone:?}");
        assert!(debug.starts_with("SysinfoHost"), "{debug}");
        assert!(!debug.contains("cached_processes: 0"), "{debug}");
    }
}
/// The trait's contract over the inherent readers above, which keep their names so that the
/// Linux and portable builds call the same methods.
impl crate::host::ProcessReader for SysinfoHost {
    fn pids(&self) -> io::Result<Vec<u32>> {
        SysinfoHost::pids(self)
    }
    fn boot_time(&self) -> Result<f64, ProcError> {
        SysinfoHost::boot_time(self)
    }
    fn stat(&self, pid: u32) -> Result<Stat, ProcError> {
        SysinfoHost::stat(self, pid)
    }
    fn status(&self, pid: u32) -> Result<Status, ProcError> {
        SysinfoHost::status(self, pid)
    }
    fn status_and_memory(
        &self,
        pid: u32,
        memory: bool,
    ) -> Result<(Status, Option<MemoryInfo>), ProcError> {
        SysinfoHost::status_and_memory(self, pid, memory)
    }
    fn exe(&self, pid: u32) -> Result<OsString, ProcError> {
        SysinfoHost::exe(self, pid)
    }
    fn cmdline(&self, pid: u32) -> Result<Vec<OsString>, ProcError> {
        SysinfoHost::cmdline(self, pid)
    }
    fn cwd(&self, pid: u32) -> Result<OsString, ProcError> {
        SysinfoHost::cwd(self, pid)
    }
    fn environ(&self, pid: u32) -> Result<Vec<(OsString, OsString)>, ProcError> {
        SysinfoHost::environ(self, pid)
    }
    fn memory_info(&self, pid: u32) -> Result<MemoryInfo, ProcError> {
        SysinfoHost::memory_info(self, pid)
    }
    fn memory_full_info(&self, pid: u32) -> Result<MemoryFullInfo, ProcError> {
        SysinfoHost::memory_full_info(self, pid)
    }
    fn io_counters(&self, pid: u32) -> Result<IoCounters, ProcError> {
        SysinfoHost::io_counters(self, pid)
    }
    fn num_fds(&self, pid: u32) -> Result<u32, ProcError> {
        SysinfoHost::num_fds(self, pid)
    }
    fn open_files(&self, pid: u32) -> Result<Vec<OpenFile>, ProcError> {
        SysinfoHost::open_files(self, pid)
    }
    fn threads(&self, pid: u32) -> Result<Vec<ThreadTimes>, ProcError> {
        SysinfoHost::threads(self, pid)
    }
    fn terminal(&self, pid: u32) -> Result<Option<OsString>, ProcError> {
        SysinfoHost::terminal(self, pid)
    }
    fn cpu_affinity(&self, pid: u32) -> Result<Vec<u32>, ProcError> {
        SysinfoHost::cpu_affinity(self, pid)
    }
    fn ionice(&self, pid: u32) -> Result<IoNice, ProcError> {
        SysinfoHost::ionice(self, pid)
    }
    fn rlimit(&self, pid: u32, resource: Rlimit) -> Result<(i64, i64), ProcError> {
        SysinfoHost::rlimit(self, pid, resource)
    }
}
