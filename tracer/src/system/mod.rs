//! psutil's system-wide API on Linux — CPU, memory, disks, network, sensors, boot time and
//! users — read from `/proc`, `/sys` and `/var/run/utmp` directly, with psutil 7.2.2's names,
//! fields, units and rounding.
//!
//! Two ways in:
//!
//! - free functions with psutil's names ([`cpu_times`], [`virtual_memory`], [`net_connections`],
//!   …) for one-off reads of the live system;
//! - [`System`], the same readers rooted at other directories (fixture trees in tests, a
//!   container's `/proc`), and [`Sampler`], psutil's module-level memory as an object: the
//!   previous CPU times that `cpu_percent(interval=None)` compares with, and the counters that
//!   `nowrap=True` keeps increasing.
//!
//! Where psutil's one function returns different shapes depending on an argument, Rust has
//! one function per shape: `cpu_times(percpu=True)` is [`cpu_times_percpu`],
//! `disk_io_counters(perdisk=True)` is [`disk_io_counters_perdisk`], and so on. psutil's dicts
//! are [`Named`] lists in psutil's (the kernel's) order. Every error carries the path (or the
//! syscall) it came from. Every record serializes (serde) shaped as psutil returns it: named
//! tuples as objects with psutil's field names, dicts as objects in order, enums (address
//! family, socket type, duplex) as their integer values, `None` as `null`; `json.loads` of
//! `crate::render::json`'s output equals psutil's value passed through `_asdict()`.
//!
//! [`report`] is `tracer sys`'s typed answer (the sections of figures) and [`collect`] builds
//! it, for the CLI, the agent and `top` alike.

pub mod collect;
mod connections;
mod cpu;
mod disk;
mod ffi;
mod memory;
mod net;
pub mod report;
mod sampler;
mod sensors;
mod users;

use std::io;
use std::path::{Path, PathBuf};

pub use connections::{Address, ConnKind, ConnStatus, Connection};
pub use cpu::{CpuFreq, CpuStats, CpuTimes};
pub use disk::{DiskIo, DiskPartition, DiskUsage};
pub use memory::{SwapMemory, VirtualMemory};
pub use net::{NetIo, NicAddr, NicDuplex, NicStats, AF_LINK};
pub use sampler::Sampler;
pub use sensors::{Battery, Fan, Temperature, POWER_TIME_UNKNOWN, POWER_TIME_UNLIMITED};
pub use users::User;

/// A psutil dict: `(key, value)` pairs in the order psutil's dict has them (the order the
/// kernel lists them).
pub type Named<T> = Vec<(String, T)>;

/// Why a system-wide read failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// Reading a file or directory failed.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file's content is not what the kernel writes.
    #[error("unexpected content in {}: {what}", path.display())]
    Parse {
        /// The file read.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// A syscall failed.
    #[error("{call}({}): {source}", what.display())]
    Syscall {
        /// The call (`statvfs`, `ioctl(SIOCGIFMTU)`, …).
        call: &'static str,
        /// What it was asked about: a path or an interface name.
        what: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The system does not provide this figure (psutil raises `NotImplementedError`).
    #[error("not available on this system: {what}")]
    Unsupported {
        /// What is missing.
        what: String,
    },
    /// An argument psutil would refuse with `ValueError`.
    #[error("invalid argument: {what}")]
    InvalidArgument {
        /// What was wrong.
        what: String,
    },
}

impl SystemError {
    pub(crate) fn io(path: &Path, source: io::Error) -> SystemError {
        SystemError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parse(path: &Path, what: impl Into<String>) -> SystemError {
        SystemError::Parse {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn syscall(call: &'static str, what: impl Into<PathBuf>, source: io::Error) -> Self {
        SystemError::Syscall {
            call,
            what: what.into(),
            source,
        }
    }
}

/// The result of a system-wide read.
pub type Result<T, E = SystemError> = std::result::Result<T, E>;

/// The readers of psutil's system-wide functions, rooted at a procfs and a sysfs (`/proc`
/// and `/sys` unless told otherwise) and reading users from a utmp file (`/var/run/utmp`).
///
/// The figures that come from syscalls rather than files — `cpu_count()` (sysconf),
/// `getloadavg` (sysinfo), `disk_usage` (statvfs), `net_if_addrs` (getifaddrs),
/// `net_if_stats` (interface ioctls) — ask the running kernel whatever the roots are, as
/// psutil does with `PROCFS_PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    proc: PathBuf,
    sys: PathBuf,
    utmp: PathBuf,
}

impl Default for System {
    fn default() -> Self {
        System::new()
    }
}

impl System {
    /// The live system: `/proc`, `/sys`, `/var/run/utmp`.
    pub fn new() -> System {
        System {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            utmp: PathBuf::from("/var/run/utmp"),
        }
    }

    /// Readers of a procfs at `proc` and a sysfs at `sys` (fixture trees, a container's
    /// mounts); users still come from `/var/run/utmp` unless [`System::with_utmp`] says
    /// otherwise.
    pub fn with_roots(proc: impl Into<PathBuf>, sys: impl Into<PathBuf>) -> System {
        System {
            proc: proc.into(),
            sys: sys.into(),
            utmp: PathBuf::from("/var/run/utmp"),
        }
    }

    /// The same readers, reading users from `utmp`.
    pub fn with_utmp(mut self, utmp: impl Into<PathBuf>) -> System {
        self.utmp = utmp.into();
        self
    }

    /// The procfs root.
    pub fn proc_root(&self) -> &Path {
        &self.proc
    }

    /// The sysfs root.
    pub fn sys_root(&self) -> &Path {
        &self.sys
    }

    /// `PROC/rel`.
    pub(crate) fn proc_path(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }

    /// `SYS/rel`.
    pub(crate) fn sys_path(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }

    /// Whether this reads the live `/proc` (psutil looks at `/etc/mtab` only then).
    pub(crate) fn is_live_proc(&self) -> bool {
        self.proc == Path::new("/proc")
    }
}

/// Reads a whole file, the error carrying its path.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| SystemError::io(path, e))
}

/// psutil's `cat(path, fallback=…)`/`bcat`: the content, or `None` on any I/O error.
pub(crate) fn read_opt(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Python's `bytes.split()`: runs of ASCII whitespace separate tokens.
pub(crate) fn split_ws(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| b.is_ascii_whitespace() || *b == b'\x0b')
        .filter(|t| !t.is_empty())
}

/// Python's `bytes.strip()`.
pub(crate) fn strip(data: &[u8]) -> &[u8] {
    let is_space = |b: &u8| b.is_ascii_whitespace() || *b == b'\x0b';
    let start = data.iter().position(|b| !is_space(b)).unwrap_or(data.len());
    let end = data
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &data[start..end]
}

/// Python's `int(token)` for the kernel's decimal numbers.
pub(crate) fn int<T: std::str::FromStr>(token: &[u8]) -> Option<T> {
    std::str::from_utf8(strip(token)).ok()?.parse().ok()
}

/// Python's `float(token)`.
pub(crate) fn float(token: &[u8]) -> Option<f64> {
    std::str::from_utf8(strip(token)).ok()?.parse().ok()
}

/// Python's `round(x, 1)`: the nearest one-decimal value, ties to even on the exact binary
/// value (Rust's `{:.1}` formats the same digits).
pub(crate) fn round1(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.1}").parse().unwrap_or(x)
}

/// psutil's `usage_percent(used, total, round_=1)`.
pub(crate) fn usage_percent(used: f64, total: f64) -> f64 {
    if total == 0.0 {
        return 0.0;
    }
    round1(used / total * 100.0)
}

/// The lines of a text file (split on `\n`, without a trailing empty line).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|&b| b == b'\n')
        .filter(move |_| !data.is_empty())
}

// ---------------------------------------------------------------------------------------------
// psutil's names, on the live system.

/// psutil's `cpu_times()`: system-wide CPU times in seconds.
pub fn cpu_times() -> Result<CpuTimes> {
    System::new().cpu_times()
}

/// psutil's `cpu_times(percpu=True)`: one entry per CPU, in CPU order.
pub fn cpu_times_percpu() -> Result<Vec<CpuTimes>> {
    System::new().cpu_times_percpu()
}

/// psutil's `cpu_count(logical)`: logical CPUs online (`logical`), or physical cores;
/// `None` when undetermined.
pub fn cpu_count(logical: bool) -> Result<Option<u32>> {
    System::new().cpu_count(logical)
}

/// psutil's `cpu_stats()`.
pub fn cpu_stats() -> Result<CpuStats> {
    System::new().cpu_stats()
}

/// psutil's `cpu_freq()`: the average over CPUs, in MHz; `None` when no frequency is known.
pub fn cpu_freq() -> Result<Option<CpuFreq>> {
    System::new().cpu_freq()
}

/// psutil's `cpu_freq(percpu=True)`.
pub fn cpu_freq_percpu() -> Result<Vec<CpuFreq>> {
    System::new().cpu_freq_percpu()
}

/// psutil's `getloadavg()`: the 1, 5 and 15 minute load averages.
pub fn getloadavg() -> Result<[f64; 3]> {
    System::new().getloadavg()
}

/// psutil's `virtual_memory()`, in bytes.
pub fn virtual_memory() -> Result<VirtualMemory> {
    System::new().virtual_memory()
}

/// psutil's `swap_memory()`, in bytes.
pub fn swap_memory() -> Result<SwapMemory> {
    System::new().swap_memory()
}

/// psutil's `disk_partitions(all)`.
pub fn disk_partitions(all: bool) -> Result<Vec<DiskPartition>> {
    System::new().disk_partitions(all)
}

/// psutil's `disk_usage(path)`, in bytes.
pub fn disk_usage(path: impl AsRef<Path>) -> Result<DiskUsage> {
    disk::disk_usage(path.as_ref())
}

/// psutil's `disk_io_counters(nowrap=False)`: the sum over whole disks; `None` when the
/// system has none. [`Sampler::disk_io_counters`] keeps `nowrap`'s memory.
pub fn disk_io_counters() -> Result<Option<DiskIo>> {
    Ok(disk::total(&System::new().disk_io_raw(false)?))
}

/// psutil's `disk_io_counters(perdisk=True, nowrap=False)`: disks and partitions.
pub fn disk_io_counters_perdisk() -> Result<Named<DiskIo>> {
    System::new().disk_io_raw(true)
}

/// psutil's `net_io_counters(nowrap=False)`: the sum over interfaces; `None` when there are
/// none. [`Sampler::net_io_counters`] keeps `nowrap`'s memory.
pub fn net_io_counters() -> Result<Option<NetIo>> {
    Ok(net::total(&System::new().net_io_raw()?))
}

/// psutil's `net_io_counters(pernic=True, nowrap=False)`.
pub fn net_io_counters_pernic() -> Result<Named<NetIo>> {
    System::new().net_io_raw()
}

/// psutil's `net_connections(kind)`: system-wide sockets with the owning process.
pub fn net_connections(kind: ConnKind) -> Result<Vec<Connection>> {
    System::new().net_connections(kind)
}

/// psutil's `Process(pid).net_connections(kind)`: the sockets process `pid` has open (`pid`
/// is set on each).
pub fn process_net_connections(
    pid: u32,
    kind: ConnKind,
) -> Result<Vec<Connection>, crate::host::procfs::ProcError> {
    System::new().process_net_connections(pid, kind)
}

/// psutil's `net_if_addrs()`.
pub fn net_if_addrs() -> Result<Named<Vec<NicAddr>>> {
    net::net_if_addrs()
}

/// psutil's `net_if_stats()`.
pub fn net_if_stats() -> Result<Named<NicStats>> {
    System::new().net_if_stats()
}

/// psutil's `sensors_temperatures()`, in degrees Celsius.
pub fn sensors_temperatures() -> Result<Named<Vec<Temperature>>> {
    System::new().sensors_temperatures()
}

/// psutil's `sensors_fans()`, in RPM.
pub fn sensors_fans() -> Result<Named<Vec<Fan>>> {
    System::new().sensors_fans()
}

/// psutil's `sensors_battery()`; `None` without a battery.
pub fn sensors_battery() -> Result<Option<Battery>> {
    System::new().sensors_battery()
}

/// psutil's `boot_time()`: seconds since the epoch (the `btime` line of `/proc/stat`).
pub fn boot_time() -> Result<f64> {
    System::new().boot_time()
}

/// psutil's `users()`: the logged-in sessions of utmp.
pub fn users() -> Result<Vec<User>> {
    System::new().users()
}

impl System {
    /// psutil's `boot_time()`.
    pub fn boot_time(&self) -> Result<f64> {
        let path = self.proc_path("stat");
        let data = read(&path)?;
        crate::platform::parse_btime(&data).map_err(|e| SystemError::parse(&path, e.message()))
    }
}

/// Serde for an `OsString` field: byte-exact (surrogateescape), as [`crate::bytes`] does.
pub(crate) mod os_string {
    use std::ffi::OsString;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::bytes::{ByteStr, ByteString};

    pub(crate) fn serialize<S: Serializer>(
        value: &OsString,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ByteStr::os(value).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OsString, D::Error> {
        ByteString::deserialize(deserializer).map(ByteString::into_os_string)
    }
}

/// Serde for a [`Named`] field (and `Option<Named>`, in [`named::opt`]): a psutil dict, as a
/// JSON object whose keys keep the list's order both ways ([`named::FromMap`] reads one).
pub(crate) mod named {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Named;

    /// A borrowed psutil dict, serialized as an object.
    pub(crate) struct AsMap<'a, T>(pub &'a [(String, T)]);

    impl<T: Serialize> Serialize for AsMap<'_, T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for (key, value) in self.0 {
                map.serialize_entry(key, value)?;
            }
            map.end()
        }
    }

    /// An owned psutil dict read from an object, in the object's order.
    pub(crate) struct FromMap<T>(pub Named<T>);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for FromMap<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct InOrder<T>(PhantomData<T>);

            impl<'de, T: Deserialize<'de>> Visitor<'de> for InOrder<T> {
                type Value = FromMap<T>;

                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FromMap<T>, A::Error> {
                    let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                    while let Some(entry) = map.next_entry()? {
                        out.push(entry);
                    }
                    Ok(FromMap(out))
                }
            }

            deserializer.deserialize_map(InOrder(PhantomData))
        }
    }

    pub(crate) fn serialize<S: Serializer, T: Serialize>(
        value: &Named<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        AsMap(value).serialize(serializer)
    }

    /// The same for `Option<Named<T>>` (`null` for `None`).
    pub(crate) mod opt {
        use serde::{Serialize, Serializer};

        use super::AsMap;
        use crate::system::Named;

        pub(crate) fn serialize<S: Serializer, T: Serialize>(
            value: &Option<Named<T>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            value.as_deref().map(AsMap).serialize(serializer)
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Fixture trees for the system tests: procfs's temporary directory, which can also
    //! read itself as a `/proc` + `/sys` root.

    pub use crate::host::procfs::testutil::TempDir;

    /// A reader of a fixture tree's `ROOT/proc` and `ROOT/sys`.
    pub trait SystemRoot {
        /// A reader of `ROOT/proc` and `ROOT/sys`.
        fn system(&self) -> super::System;
    }

    impl SystemRoot for TempDir {
        fn system(&self) -> super::System {
            super::System::with_roots(self.0.join("proc"), self.0.join("sys"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{SystemRoot, TempDir};
    use super::*;

    #[test]
    fn python_rounding() {
        assert_eq!(round1(0.25), 0.2);
        assert_eq!(round1(0.35), 0.3);
        assert_eq!(round1(99.95), 100.0);
        assert_eq!(round1(3.65), 3.6);
        assert_eq!(usage_percent(1.0, 0.0), 0.0);
        assert_eq!(usage_percent(1.0, 3.0), 33.3);
    }

    #[test]
    fn python_tokens() {
        assert_eq!(
            split_ws(b" a\tb  c\n").collect::<Vec<_>>(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert_eq!(strip(b"\t x \n"), b"x");
        assert_eq!(strip(b"   "), b"");
        assert_eq!(int::<u64>(b" 42\n"), Some(42));
        assert_eq!(float(b"45000\n"), Some(45000.0));
        assert_eq!(float(b""), None);
        assert_eq!(lines(b"a\nb\n").count(), 2);
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn boot_time_from_fixture_and_live() {
        let dir = TempDir::new("btime");
        dir.write("proc/stat", b"cpu  1 2 3 4\nbtime 1700000000\n");
        assert_eq!(dir.system().boot_time().unwrap(), 1_700_000_000.0);
        dir.write("proc/stat", b"cpu  1 2 3 4\n");
        match dir.system().boot_time() {
            Err(SystemError::Parse { path, .. }) => assert!(path.ends_with("proc/stat")),
            other => panic!("expected Parse, got {other:?}"),
        }
        let live = boot_time().unwrap();
        assert_eq!(
            live,
            crate::host::procfs::Procfs::new().boot_time().unwrap()
        );
    }

    #[test]
    fn errors_name_their_path() {
        let dir = TempDir::new("missing");
        let err = dir.system().virtual_memory().unwrap_err();
        assert!(err.to_string().contains("meminfo"), "{err}");
    }
}
