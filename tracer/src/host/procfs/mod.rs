//! A reader of `/proc` that returns, per process and per field, exactly what psutil 7.2.2
//! returns on Linux: same units, same rounding, same errors in the same situations.
//!
//! [`Procfs`] takes its root (`/proc` by default) so tests run against fixture trees; every
//! error carries the path it came from, and a process that vanished is a distinct error
//! ([`ProcError::NoSuchProcess`]). The error mapping follows psutil's `wrap_exceptions`:
//! `EACCES`/`EPERM` is [`ProcError::AccessDenied`]; `ESRCH` is [`ProcError::ZombieProcess`]
//! when the process is a zombie, else [`ProcError::NoSuchProcess`]; `ENOENT` is the same,
//! except that it stays an [`ProcError::Io`] error when `/proc/PID/stat` still exists (the
//! file itself is missing, not the process).
//!
//! The hot readers (`stat`, `status`, `cmdline`, `exe`, `memory_info`) read their file into a
//! per-thread scratch buffer with as few syscalls as the file allows, and parse it in place.

mod args;
mod files;
mod links;
mod memory;
mod stat;
mod status;
mod sys;
mod terminal;

use std::cell::Cell;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub use crate::host::{
    status_name, CpuTimes, CtxSwitches, Gids, IoClass, IoCounters, IoNice, MemoryFullInfo,
    MemoryInfo, MemoryMap, OpenFile, ProcError, Rlimit, Stat, Status, ThreadTimes, Uids,
};
pub use args::{parse_environ, split_cmdline};
#[cfg(feature = "fuzzing")]
pub(crate) use files::parse_fdinfo;
pub use files::{file_flags_to_mode, parse_io};
pub use memory::{memory_info_from_status, parse_memory_maps, parse_smaps, parse_smaps_rollup};
pub use status::parse_cpu_list;
pub use terminal::TerminalMap;

/// A procfs reader rooted at a directory (`/proc` unless told otherwise).
///
/// Readers that go through syscalls (`rlimit`, `ionice`, `cpu_affinity`) ask the running kernel
/// whatever the root is; readers that resolve paths outside `/proc` (`terminal` looks in `/dev`,
/// `open_files` and `exe` stat the paths they find) do so in the caller's mount namespace, as
/// psutil does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procfs {
    root: PathBuf,
}

impl Default for Procfs {
    fn default() -> Self {
        Procfs::new()
    }
}

/// How a file is read: procfs files backed by one `seq_file` record (stat, status, statm, io,
/// fdinfo, smaps_rollup) and cmdline return everything asked for unless they reach the end, so
/// a short read means end of file and saves the second `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Stop at the first short read (single-record procfs files, regular files).
    ShortReadIsEof,
    /// Read until `read` returns 0 (environ, multi-record files such as smaps).
    UntilEof,
}

const SCRATCH_KEEP: usize = 256 * 1024;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer (empty on entry), then keeps the buffer for the
/// next call unless it grew unreasonably large.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.take();
        buf.clear();
        let out = f(&mut buf);
        if buf.capacity() <= SCRATCH_KEEP {
            cell.set(buf);
        }
        out
    })
}

/// Reads `path` into `buf` (cleared first).
pub(crate) fn read_into(path: &Path, buf: &mut Vec<u8>, mode: ReadMode) -> io::Result<()> {
    let mut file = File::open(path)?;
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let len = buf.len();
        if len == buf.capacity() {
            buf.reserve(len);
        }
        let cap = buf.capacity();
        buf.resize(cap, 0);
        match file.read(&mut buf[len..]) {
            Ok(n) => {
                buf.truncate(len + n);
                if n == 0 || (mode == ReadMode::ShortReadIsEof && len + n < cap) {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
}

/// Python's `bytes.split()` separators (ASCII whitespace including vertical tab).
pub(crate) fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Splits on runs of Python whitespace, like `bytes.split()`.
pub(crate) fn py_split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| is_py_space(b)).filter(|t| !t.is_empty())
}

/// Strips Python whitespace at both ends, like `bytes.strip()`.
pub(crate) fn py_strip(mut data: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = data {
        if !is_py_space(*first) {
            break;
        }
        data = rest;
    }
    while let [rest @ .., last] = data {
        if !is_py_space(*last) {
            break;
        }
        data = rest;
    }
    data
}

/// Parses a decimal integer token the way Python's `int()` does for the kernel's output
/// (surrounding whitespace allowed, optional sign).
pub(crate) fn parse_int<T: std::str::FromStr>(token: &[u8]) -> Option<T> {
    std::str::from_utf8(py_strip(token)).ok()?.parse().ok()
}

/// Which errno an I/O error carries.
pub(crate) fn errno(err: &io::Error) -> Option<i32> {
    err.raw_os_error()
}

impl Procfs {
    /// A reader of `/proc`.
    pub fn new() -> Procfs {
        Procfs::with_root("/proc")
    }

    /// A reader of a procfs mounted (or laid out as fixtures) at `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> Procfs {
        Procfs { root: root.into() }
    }

    /// The root this reader reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every PID in the root, sorted (psutil's `pids()`): the names made only of ASCII digits.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let mut pids = Vec::with_capacity(1024);
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.as_bytes();
            if !name.is_empty() && name.iter().all(u8::is_ascii_digit) {
                if let Some(pid) = parse_int::<u32>(name) {
                    pids.push(pid);
                }
            }
        }
        pids.sort_unstable();
        Ok(pids)
    }

    /// The boot time in seconds since the epoch: the `btime` line of `/proc/stat`, as a float.
    /// psutil reads it afresh on every call; callers may cache it.
    pub fn boot_time(&self) -> Result<f64, ProcError> {
        let path = self.root.join("stat");
        with_scratch(|buf| {
            read_into(&path, buf, ReadMode::ShortReadIsEof).map_err(|source| ProcError::Io {
                path: path.clone(),
                source,
            })?;
            crate::platform::parse_btime(buf).map_err(|e| ProcError::parse(&path, e.message()))
        })
    }

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of the times in `stat`.
    pub fn clock_ticks() -> u64 {
        crate::host::clock_ticks()
    }

    /// The page size in bytes, the unit of `statm`.
    pub fn page_size() -> u64 {
        crate::platform::page_size()
    }

    /// `ROOT/PID`.
    pub(crate) fn pid_dir(&self, pid: u32) -> PathBuf {
        let mut s = OsString::with_capacity(self.root.as_os_str().len() + 12);
        s.push(self.root.as_os_str());
        s.push("/");
        s.push(pid.to_string());
        PathBuf::from(s)
    }

    /// `ROOT/PID/NAME`, built with one allocation.
    pub(crate) fn pid_path(&self, pid: u32, name: &str) -> PathBuf {
        let root = self.root.as_os_str().as_bytes();
        let mut s = Vec::with_capacity(root.len() + 12 + name.len());
        s.extend_from_slice(root);
        s.push(b'/');
        push_decimal(&mut s, pid);
        s.push(b'/');
        s.extend_from_slice(name.as_bytes());
        PathBuf::from(OsString::from_vec(s))
    }

    /// Reads `ROOT/PID/NAME` into `buf`, mapping errors as psutil does.
    pub(crate) fn read_pid_file(
        &self,
        pid: u32,
        path: &Path,
        buf: &mut Vec<u8>,
        mode: ReadMode,
    ) -> Result<(), ProcError> {
        read_into(path, buf, mode).map_err(|e| self.map_err(pid, path, e))
    }

    /// Whether `/proc/PID/stat` says `Z` (psutil's `_is_zombie`: any read error means no).
    pub(crate) fn is_zombie(&self, pid: u32) -> bool {
        let path = self.pid_path(pid, "stat");
        let mut buf = Vec::with_capacity(1024);
        if read_into(&path, &mut buf, ReadMode::ShortReadIsEof).is_err() {
            return false;
        }
        match buf.iter().rposition(|&b| b == b')') {
            Some(rpar) => buf.get(rpar + 2) == Some(&b'Z'),
            None => false,
        }
    }

    /// psutil's `wrap_exceptions` for an error on `path`, a file of process `pid`.
    pub(crate) fn map_err(&self, pid: u32, path: &Path, err: io::Error) -> ProcError {
        match errno(&err) {
            Some(libc::EACCES) | Some(libc::EPERM) => ProcError::AccessDenied {
                pid,
                path: path.to_path_buf(),
            },
            Some(libc::ESRCH) => self.gone(pid),
            Some(libc::ENOENT) => {
                if self.is_zombie(pid) {
                    ProcError::ZombieProcess { pid }
                } else if !self.pid_path(pid, "stat").exists() {
                    ProcError::NoSuchProcess { pid }
                } else {
                    ProcError::Io {
                        path: path.to_path_buf(),
                        source: err,
                    }
                }
            }
            _ => ProcError::Io {
                path: path.to_path_buf(),
                source: err,
            },
        }
    }

    /// `ZombieProcess` if the process is a zombie, else `NoSuchProcess` (psutil's handling of
    /// `ProcessLookupError`).
    pub(crate) fn gone(&self, pid: u32) -> ProcError {
        if self.is_zombie(pid) {
            ProcError::ZombieProcess { pid }
        } else {
            ProcError::NoSuchProcess { pid }
        }
    }

    /// psutil's `_raise_if_not_alive`: `NoSuchProcess` (or the mapped error) when the process
    /// directory is gone.
    pub(crate) fn check_alive(&self, pid: u32) -> Result<(), ProcError> {
        let dir = self.pid_dir(pid);
        match std::fs::metadata(&dir) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.map_err(pid, &dir, e)),
        }
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Fixture trees and child processes for the procfs tests.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A temporary directory removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "tracer-procfs-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("temp dir is creatable");
            TempDir(dir)
        }

        /// Writes `ROOT/rel` (creating parents).
        pub fn write(&self, rel: &str, content: &[u8]) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().expect("fixture path has a parent"))
                .expect("fixture dir is creatable");
            std::fs::write(&path, content).expect("fixture file is writable");
            path
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A child process killed and reaped on drop.
    pub struct Child(pub std::process::Child);

    impl Child {
        /// Spawns `cmd` and waits until the child runs its own image (until it has exec'd,
        /// /proc shows the test binary's).
        pub fn spawn(cmd: &mut std::process::Command) -> Child {
            let child = Child(cmd.spawn().expect("test child spawns"));
            let me = std::fs::read_link("/proc/self/exe").ok();
            let path = format!("/proc/{}/exe", child.pid());
            wait_until(|| std::fs::read_link(&path).ok() != me);
            child
        }

        pub fn pid(&self) -> u32 {
            self.0.id()
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Waits until `f` holds (checking every 10 ms, up to 5 s).
    pub fn wait_until(mut f: impl FnMut() -> bool) -> bool {
        for _ in 0..500 {
            if f() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::TempDir;
    use super::*;

    #[test]
    fn pids_are_sorted_digit_names() {
        let dir = TempDir::new("pids");
        for name in ["10", "9", "100", "self", "1a", "acpi"] {
            dir.write(&format!("{name}/stat"), b"");
        }
        dir.write("stat", b"");
        let procfs = Procfs::with_root(dir.path());
        assert_eq!(procfs.pids().unwrap(), vec![9, 10, 100]);
    }

    #[test]
    fn live_pids_contain_self_and_init() {
        let pids = Procfs::new().pids().unwrap();
        assert!(pids.contains(&std::process::id()));
        assert!(pids.contains(&1));
        assert!(pids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn boot_time_from_btime_line() {
        let dir = TempDir::new("btime");
        dir.write(
            "stat",
            b"cpu  1 2 3 4\nintr 1 2 3\nctxt 99\nbtime 1700000000\nprocesses 5\n",
        );
        assert_eq!(
            Procfs::with_root(dir.path()).boot_time().unwrap(),
            1_700_000_000.0
        );
        dir.write("stat", b"cpu 1 2 3\n");
        match Procfs::with_root(dir.path()).boot_time() {
            Err(ProcError::Parse { path, .. }) => assert_eq!(path, dir.path().join("stat")),
            other => panic!("expected Parse, got {other:?}"),
        }
    }

    #[test]
    fn live_boot_time_is_plausible() {
        let bt = Procfs::new().boot_time().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(bt > 1e9 && bt <= now, "{bt}");
        assert_eq!(bt.fract(), 0.0);
    }

    #[test]
    fn constants() {
        assert_eq!(Procfs::clock_ticks(), 100);
        assert!(Procfs::page_size() >= 4096);
        assert!(Procfs::page_size().is_power_of_two());
    }

    #[test]
    fn pid_path_is_root_pid_name() {
        let p = Procfs::with_root("/x/proc");
        assert_eq!(p.pid_path(4321, "stat"), PathBuf::from("/x/proc/4321/stat"));
        assert_eq!(p.pid_path(0, "fd"), PathBuf::from("/x/proc/0/fd"));
        assert_eq!(p.pid_dir(7), PathBuf::from("/x/proc/7"));
    }

    #[test]
    fn read_into_reads_large_files_whole() {
        let dir = TempDir::new("big");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let path = dir.write("big", &content);
        for mode in [ReadMode::ShortReadIsEof, ReadMode::UntilEof] {
            let mut buf = Vec::new();
            read_into(&path, &mut buf, mode).unwrap();
            assert_eq!(buf, content);
        }
    }

    #[test]
    fn vanished_pid_is_no_such_process() {
        let dir = TempDir::new("gone");
        let procfs = Procfs::with_root(dir.path());
        assert!(matches!(
            procfs.stat(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        assert!(matches!(
            procfs.status(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        assert!(matches!(
            procfs.cmdline(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        assert!(matches!(
            procfs.exe(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        assert!(matches!(
            procfs.memory_info(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        assert!(matches!(
            procfs.threads(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        assert!(matches!(
            procfs.open_files(12345),
            Err(ProcError::NoSuchProcess { pid: 12345 })
        ));
        // A live kernel's PID that cannot exist.
        let live = Procfs::new();
        assert!(matches!(
            live.stat(u32::MAX - 1),
            Err(ProcError::NoSuchProcess { .. })
        ));
        assert!(matches!(
            live.rlimit(u32::MAX - 1, Rlimit::Nofile),
            Err(ProcError::NoSuchProcess { .. })
        ));
    }

    #[test]
    fn missing_file_of_live_process_is_io_error() {
        let dir = TempDir::new("missing");
        dir.write("42/stat", b"42 (x) S 1 42 42 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 100 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0\n");
        let procfs = Procfs::with_root(dir.path());
        match procfs.io_counters(42) {
            Err(ProcError::Io { path, .. }) => assert_eq!(path, dir.path().join("42/io")),
            other => panic!("expected Io, got {other:?}"),
        }
    }
}

/// The trait's contract over the inherent readers, which live next to their parsers (one
/// file per `/proc` file).
impl crate::host::ProcessReader for Procfs {
    fn pids(&self) -> io::Result<Vec<u32>> {
        Procfs::pids(self)
    }
    fn boot_time(&self) -> Result<f64, ProcError> {
        Procfs::boot_time(self)
    }
    fn stat(&self, pid: u32) -> Result<Stat, ProcError> {
        Procfs::stat(self, pid)
    }
    fn status(&self, pid: u32) -> Result<Status, ProcError> {
        Procfs::status(self, pid)
    }
    fn status_and_memory(
        &self,
        pid: u32,
        memory: bool,
    ) -> Result<(Status, Option<MemoryInfo>), ProcError> {
        Procfs::status_and_memory(self, pid, memory)
    }
    fn exe(&self, pid: u32) -> Result<OsString, ProcError> {
        Procfs::exe(self, pid)
    }
    fn cmdline(&self, pid: u32) -> Result<Vec<OsString>, ProcError> {
        Procfs::cmdline(self, pid)
    }
    fn cwd(&self, pid: u32) -> Result<OsString, ProcError> {
        Procfs::cwd(self, pid)
    }
    fn environ(&self, pid: u32) -> Result<Vec<(OsString, OsString)>, ProcError> {
        Procfs::environ(self, pid)
    }
    fn memory_info(&self, pid: u32) -> Result<MemoryInfo, ProcError> {
        Procfs::memory_info(self, pid)
    }
    fn memory_full_info(&self, pid: u32) -> Result<MemoryFullInfo, ProcError> {
        Procfs::memory_full_info(self, pid)
    }
    fn memory_maps(&self, pid: u32) -> Result<Vec<MemoryMap>, ProcError> {
        Procfs::memory_maps(self, pid)
    }
    fn io_counters(&self, pid: u32) -> Result<IoCounters, ProcError> {
        Procfs::io_counters(self, pid)
    }
    fn num_fds(&self, pid: u32) -> Result<u32, ProcError> {
        Procfs::num_fds(self, pid)
    }
    fn open_files(&self, pid: u32) -> Result<Vec<OpenFile>, ProcError> {
        Procfs::open_files(self, pid)
    }
    fn threads(&self, pid: u32) -> Result<Vec<ThreadTimes>, ProcError> {
        Procfs::threads(self, pid)
    }
    fn terminal(&self, pid: u32) -> Result<Option<OsString>, ProcError> {
        Procfs::terminal(self, pid)
    }
    fn cpu_affinity(&self, pid: u32) -> Result<Vec<u32>, ProcError> {
        Procfs::cpu_affinity(self, pid)
    }
    fn ionice(&self, pid: u32) -> Result<IoNice, ProcError> {
        Procfs::ionice(self, pid)
    }
    fn rlimit(&self, pid: u32, resource: Rlimit) -> Result<(i64, i64), ProcError> {
        Procfs::rlimit(self, pid, resource)
    }
}
