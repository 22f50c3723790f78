//! The platform layer: the process reader the table, the attribute collector and the
//! psutil-style API read through, and the records it returns.
//!
//! On Linux the reader is [`crate::host::procfs::Procfs`], exact to psutil. Elsewhere (macOS,
//! Windows, the BSDs) it is [`crate::host::sysinfo::SysinfoHost`], built on the `sysinfo`
//! crate: it offers the same methods and records, fills what the platform tells, and answers
//! [`ProcError::Unsupported`] for the rest, which callers show as null. Both readers are
//! compiled on Linux, so the portable one is tested here against the exact one.

pub mod clock;
pub mod parallel;

pub mod sysinfo;

#[cfg(native_linux)]
pub mod procfs;

pub mod os;
mod records;

pub mod container;

pub use records::*;

/// The platform's process reader.
#[cfg(native_linux)]
pub type Host = crate::host::procfs::Procfs;
/// The platform's process reader.
#[cfg(not(native_linux))]
pub type Host = crate::host::sysinfo::SysinfoHost;

/// Clock ticks per second, the unit of [`Stat`]'s times: `sysconf(_SC_CLK_TCK)` on Linux;
/// elsewhere the readers convert what they know into 100 ticks a second.
pub fn clock_ticks() -> u64 {
    #[cfg(native_linux)]
    {
        crate::platform::clock_ticks()
    }
    #[cfg(not(native_linux))]
    {
        100
    }
}

/// What every platform's process reader answers: the table, the attribute collector and the
/// psutil-style API read processes only through it. [`Host`] is the platform's implementation
/// ([`crate::host::procfs::Procfs`] on Linux, [`crate::host::sysinfo::SysinfoHost`] elsewhere); both
/// are compiled and tested on Linux.
///
/// The contract of every per-process method:
/// - `Ok` is what the platform tells about the process now, in psutil's units (seconds,
///   bytes, clock ticks of [`clock_ticks`] for [`Stat`]).
/// - [`ProcError::NoSuchProcess`] only when the process does not exist (ENOENT/ESRCH): a
///   caller may then retire it. Every other failure — [`ProcError::AccessDenied`], a zombie,
///   exhausted descriptors, an unparsable file — is another variant and never means "gone".
/// - [`ProcError::Unsupported`] when this platform cannot tell the field at all; callers show
///   it as null, never as a made-up value.
pub trait ProcessReader: Clone + Send + Sync + 'static {
    /// Every pid on the host, ascending.
    fn pids(&self) -> std::io::Result<Vec<u32>>;
    /// psutil's `boot_time()`: seconds since the epoch at boot.
    fn boot_time(&self) -> Result<f64, ProcError>;
    /// `/proc/PID/stat`'s fields (state, ppid, times in clock ticks, start ticks, …).
    fn stat(&self, pid: u32) -> Result<Stat, ProcError>;
    /// `/proc/PID/status`'s fields (name, uids, gids, threads, context switches, …).
    fn status(&self, pid: u32) -> Result<Status, ProcError>;
    /// [`ProcessReader::status`], and with `memory` also [`MemoryInfo`] from the same read
    /// where the platform can (`None` when it cannot tell them from that read).
    fn status_and_memory(
        &self,
        pid: u32,
        memory: bool,
    ) -> Result<(Status, Option<MemoryInfo>), ProcError>;
    /// The executable's path, as `/proc/PID/exe` shows it.
    fn exe(&self, pid: u32) -> Result<std::ffi::OsString, ProcError>;
    /// The argument vector, byte for byte (psutil's `cmdline()`).
    fn cmdline(&self, pid: u32) -> Result<Vec<std::ffi::OsString>, ProcError>;
    /// The working directory.
    fn cwd(&self, pid: u32) -> Result<std::ffi::OsString, ProcError>;
    /// The environment, as pairs in the process's order.
    fn environ(&self, pid: u32)
        -> Result<Vec<(std::ffi::OsString, std::ffi::OsString)>, ProcError>;
    /// psutil's `memory_info()`.
    fn memory_info(&self, pid: u32) -> Result<MemoryInfo, ProcError>;
    /// psutil's `memory_full_info()` (uss, pss, swap from smaps).
    fn memory_full_info(&self, pid: u32) -> Result<MemoryFullInfo, ProcError>;
    /// psutil's `memory_maps()` before grouping: every mapping of smaps, in order.
    /// [`ProcError::Unsupported`] unless the platform's reader overrides it.
    fn memory_maps(&self, _pid: u32) -> Result<Vec<MemoryMap>, ProcError> {
        Err(ProcError::Unsupported {
            what: "memory_maps",
        })
    }
    /// psutil's `io_counters()`.
    fn io_counters(&self, pid: u32) -> Result<IoCounters, ProcError>;
    /// Open file descriptors.
    fn num_fds(&self, pid: u32) -> Result<u32, ProcError>;
    /// psutil's `open_files()`: regular files open.
    fn open_files(&self, pid: u32) -> Result<Vec<OpenFile>, ProcError>;
    /// psutil's `threads()`: each thread's user and system time.
    fn threads(&self, pid: u32) -> Result<Vec<ThreadTimes>, ProcError>;
    /// The controlling terminal's path, `None` without one.
    fn terminal(&self, pid: u32) -> Result<Option<std::ffi::OsString>, ProcError>;
    /// The CPUs the process may run on.
    fn cpu_affinity(&self, pid: u32) -> Result<Vec<u32>, ProcError>;
    /// psutil's `ionice()`.
    fn ionice(&self, pid: u32) -> Result<IoNice, ProcError>;
    /// psutil's `rlimit(resource)`: (soft, hard), -1 for unlimited.
    fn rlimit(&self, pid: u32, resource: Rlimit) -> Result<(i64, i64), ProcError>;
}
