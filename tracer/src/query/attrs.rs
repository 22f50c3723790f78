//! psutil's process attributes by name (`Process.as_dict()`), as dynamic values: the table
//! answers the ones events give, `/proc` the rest, each file read at most once per process per
//! query (psutil's `oneshot`). An attribute that cannot be read is [`Value::Null`] (psutil's
//! `ad_value`).
//!
//! [`Value`] is dynamic because a query's attributes are chosen at run time and keep the order
//! asked; it serializes (serde) to exactly the JSON psutil's `as_dict()` gives.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

use crate::event::{SchedUsage, Usage};
use crate::host::container::{Placement, PlacementReader};
use crate::host::{Host, MemoryInfo, ProcError, Stat, Status};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::bytes::ByteStr;
use crate::table::{Entry, ScanReads};

/// A process attribute, named as psutil names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Attr {
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
    /// Minor and major page faults (not in psutil; `/proc/PID/stat`, or the exit usage).
    NumPageFaults,
    NumFds,
    IoCounters,
    Ionice,
    Cwd,
    Environ,
    OpenFiles,
    Threads,
    /// The cgroup v2 path (`/proc/PID/cgroup`'s `0::` line; not in psutil, nor the rest
    /// down to `vppid`).
    Cgroup,
    /// The cgroup's id (its directory's inode).
    CgroupId,
    /// The container's full id, from the cgroup path.
    ContainerId,
    /// The container runtime, from the cgroup path's shape.
    ContainerRuntime,
    /// The Kubernetes pod uid, from the cgroup path.
    PodUid,
    /// PID namespace inode.
    Pidns,
    /// Mount namespace inode.
    Mntns,
    /// Network namespace inode.
    Netns,
    /// User namespace inode.
    Userns,
    /// UTS namespace inode.
    Utsns,
    /// IPC namespace inode.
    Ipcns,
    /// Cgroup namespace inode.
    Cgroupns,
    /// The pid in the process's own PID namespace.
    Vpid,
    /// The parent's pid in the process's own PID namespace (0 when outside it).
    Vppid,
    /// Seconds the process's threads ran on a CPU (not in psutil; `tracer agent --sched`).
    OncpuTime,
    /// Time the process's threads waited to run: `{count, sum, max, histogram}` (not in
    /// psutil; `tracer agent --sched`).
    RunqLatency,
    /// Exited processes only: the exit status (null when a signal ended it).
    ExitCode,
    /// Exited processes only: the terminating signal.
    Signal,
    /// Exited processes only: seconds alive.
    Duration,
    /// Exited processes only: when it ended (seconds since the epoch).
    ExitTime,
}

/// Every attribute `tracer ps` knows, in psutil's order of `as_dict()` keys where it has one.
pub const ALL: [Attr; 49] = [
    Attr::Pid,
    Attr::Ppid,
    Attr::Name,
    Attr::Exe,
    Attr::Cmdline,
    Attr::Username,
    Attr::Uids,
    Attr::Gids,
    Attr::CreateTime,
    Attr::Status,
    Attr::Nice,
    Attr::NumThreads,
    Attr::Terminal,
    Attr::CpuTimes,
    Attr::CpuPercent,
    Attr::CpuNum,
    Attr::CpuAffinity,
    Attr::MemoryInfo,
    Attr::MemoryFullInfo,
    Attr::MemoryPercent,
    Attr::NumCtxSwitches,
    Attr::NumPageFaults,
    Attr::NumFds,
    Attr::IoCounters,
    Attr::Ionice,
    Attr::Cwd,
    Attr::Environ,
    Attr::OpenFiles,
    Attr::Threads,
    Attr::Cgroup,
    Attr::CgroupId,
    Attr::ContainerId,
    Attr::ContainerRuntime,
    Attr::PodUid,
    Attr::Pidns,
    Attr::Mntns,
    Attr::Netns,
    Attr::Userns,
    Attr::Utsns,
    Attr::Ipcns,
    Attr::Cgroupns,
    Attr::Vpid,
    Attr::Vppid,
    Attr::OncpuTime,
    Attr::RunqLatency,
    Attr::ExitCode,
    Attr::Signal,
    Attr::Duration,
    Attr::ExitTime,
];

impl Attr {
    /// psutil's name.
    pub fn name(self) -> &'static str {
        match self {
            Attr::Pid => "pid",
            Attr::Ppid => "ppid",
            Attr::Name => "name",
            Attr::Exe => "exe",
            Attr::Cmdline => "cmdline",
            Attr::Username => "username",
            Attr::Uids => "uids",
            Attr::Gids => "gids",
            Attr::CreateTime => "create_time",
            Attr::Status => "status",
            Attr::Nice => "nice",
            Attr::NumThreads => "num_threads",
            Attr::Terminal => "terminal",
            Attr::CpuTimes => "cpu_times",
            Attr::CpuPercent => "cpu_percent",
            Attr::CpuNum => "cpu_num",
            Attr::CpuAffinity => "cpu_affinity",
            Attr::MemoryInfo => "memory_info",
            Attr::MemoryFullInfo => "memory_full_info",
            Attr::MemoryPercent => "memory_percent",
            Attr::NumCtxSwitches => "num_ctx_switches",
            Attr::NumPageFaults => "num_page_faults",
            Attr::NumFds => "num_fds",
            Attr::IoCounters => "io_counters",
            Attr::Ionice => "ionice",
            Attr::Cwd => "cwd",
            Attr::Environ => "environ",
            Attr::OpenFiles => "open_files",
            Attr::Threads => "threads",
            Attr::Cgroup => "cgroup",
            Attr::CgroupId => "cgroup_id",
            Attr::ContainerId => "container_id",
            Attr::ContainerRuntime => "container_runtime",
            Attr::PodUid => "pod_uid",
            Attr::Pidns => "pidns",
            Attr::Mntns => "mntns",
            Attr::Netns => "netns",
            Attr::Userns => "userns",
            Attr::Utsns => "utsns",
            Attr::Ipcns => "ipcns",
            Attr::Cgroupns => "cgroupns",
            Attr::Vpid => "vpid",
            Attr::Vppid => "vppid",
            Attr::OncpuTime => "oncpu_time",
            Attr::RunqLatency => "runq_latency",
            Attr::ExitCode => "exit_code",
            Attr::Signal => "signal",
            Attr::Duration => "duration",
            Attr::ExitTime => "exit_time",
        }
    }

    /// Whether `/proc` shows it only to the process's owner (and root): files that need
    /// ptrace-read access.
    pub fn owner_only(self) -> bool {
        matches!(
            self,
            Attr::Exe
                | Attr::Cwd
                | Attr::Environ
                | Attr::OpenFiles
                | Attr::NumFds
                | Attr::IoCounters
                | Attr::MemoryFullInfo
        )
    }

    /// Whether the table answers it without reading `/proc`.
    pub fn from_table(self) -> bool {
        matches!(
            self,
            Attr::Pid
                | Attr::Ppid
                | Attr::Name
                | Attr::Exe
                | Attr::Cmdline
                | Attr::Username
                | Attr::Uids
                | Attr::Gids
                | Attr::CreateTime
                | Attr::ExitCode
                | Attr::Signal
                | Attr::Duration
                | Attr::ExitTime
        )
    }
}

impl Attr {
    /// Whether it tells where the process runs (cgroup, container, pod, namespaces, ids in
    /// its PID namespace): read fresh from `/proc` for a live process, from its last event for
    /// an exited one.
    pub fn placement(self) -> bool {
        matches!(
            self,
            Attr::Cgroup
                | Attr::CgroupId
                | Attr::ContainerId
                | Attr::ContainerRuntime
                | Attr::PodUid
                | Attr::Pidns
                | Attr::Mntns
                | Attr::Netns
                | Attr::Userns
                | Attr::Utsns
                | Attr::Ipcns
                | Attr::Cgroupns
                | Attr::Vpid
                | Attr::Vppid
        )
    }
}

/// What an exited process consumed in all, as the kernel read it at its exit.
fn final_usage(entry: &Entry) -> Option<Usage> {
    entry
        .exit
        .as_deref()
        .and_then(|e| e.status)
        .and_then(|s| s.usage)
}

/// One placement attribute's value (`Null` where unknown).
pub fn placement_value(placement: Option<&Placement>, attr: Attr) -> Value {
    let Some(p) = placement else {
        return Value::Null;
    };
    let int = |v: Option<u64>| v.map_or(Value::Null, |v| Value::Int(v.min(i64::MAX as u64) as i64));
    let text = |v: Option<&str>| v.map_or(Value::Null, |v| Value::Str(v.into()));
    let ns = &p.namespaces;
    match attr {
        Attr::Cgroup => p
            .cgroup_path()
            .map_or(Value::Null, |path| Value::Str(path.to_os_string())),
        Attr::CgroupId => int(p.cgroup_id()),
        Attr::ContainerId => text(p.container_id()),
        Attr::ContainerRuntime => text(p.container_runtime()),
        Attr::PodUid => text(p.pod_uid()),
        Attr::Pidns => int(ns.pid),
        Attr::Mntns => int(ns.mnt),
        Attr::Netns => int(ns.net),
        Attr::Userns => int(ns.user),
        Attr::Utsns => int(ns.uts),
        Attr::Ipcns => int(ns.ipc),
        Attr::Cgroupns => int(ns.cgroup),
        Attr::Vpid => int(p.vpid.map(u64::from)),
        Attr::Vppid => int(p.vppid.map(u64::from)),
        _ => Value::Null,
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Attr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.iter().copied().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|a| a.name()).collect();
            format!("unknown attribute '{s}' (known: {})", names.join(", "))
        })
    }
}

/// A dynamically typed attribute value, shaped as psutil returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Could not be read (psutil's `ad_value`), or does not apply.
    Null,
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (lossless bytes).
    Str(OsString),
    /// A list.
    List(Vec<Value>),
    /// A named tuple, as an object with fixed keys.
    Tuple(Vec<(&'static str, Value)>),
    /// A string-keyed dictionary (environ).
    Dict(Vec<(OsString, Value)>),
}

impl Value {
    /// A number for sorting: integers and floats as themselves, tuples by their first field.
    pub fn sort_key(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Tuple(fields) => fields.first().and_then(|(_, v)| v.sort_key()),
            Value::List(items) => Some(items.len() as f64),
            _ => None,
        }
    }

    /// The order `--sort` uses: numbers by value ([`Value::sort_key`]) after everything that
    /// is not a number; among the rest, null first, strings by their bytes, then named tuples
    /// and dictionaries field by field.
    pub fn sort_cmp(&self, other: &Value) -> Ordering {
        match (self.sort_key(), other.sort_key()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => match (self, other) {
                (Value::Str(a), Value::Str(b)) => a.as_encoded_bytes().cmp(b.as_encoded_bytes()),
                (Value::Tuple(a), Value::Tuple(b)) => lexicographic(
                    a.iter().map(|(k, v)| (k.as_bytes(), v)),
                    b.iter().map(|(k, v)| (k.as_bytes(), v)),
                ),
                (Value::Dict(a), Value::Dict(b)) => lexicographic(
                    a.iter().map(|(k, v)| (k.as_encoded_bytes(), v)),
                    b.iter().map(|(k, v)| (k.as_encoded_bytes(), v)),
                ),
                (a, b) => a.kind_rank().cmp(&b.kind_rank()),
            },
        }
    }

    /// Where each kind of value that is not a number sorts among the others.
    fn kind_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Str(_) => 1,
            Value::Tuple(_) => 2,
            Value::Dict(_) => 3,
            Value::Int(_) | Value::Float(_) | Value::List(_) => 4,
        }
    }

    /// The integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The number as a float (integers too), if it is a finite one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) if v.is_finite() => Some(*v),
            _ => None,
        }
    }

    /// A named tuple's field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Tuple(fields) => fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(s: impl Into<OsString>) -> Value {
        Value::Str(s.into())
    }
}

/// Key-value pairs in order, each by key then by value ([`Value::sort_cmp`]); a prefix first.
fn lexicographic<'a>(
    mut a: impl Iterator<Item = (&'a [u8], &'a Value)>,
    mut b: impl Iterator<Item = (&'a [u8], &'a Value)>,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((ka, va)), Some((kb, vb))) => {
                let order = ka.cmp(kb).then_with(|| va.sort_cmp(vb));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// psutil's JSON shape: named tuples and dictionaries as objects, strings byte-exact
/// ([`ByteStr`]), non-finite floats as `null`.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Int(v) => serializer.serialize_i64(*v),
            Value::Float(v) => serializer.serialize_f64(*v),
            Value::Str(s) => ByteStr::os(s).serialize(serializer),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Tuple(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Value::Dict(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    // A JSON object key must be a string: one that is not UTF-8 cannot be
                    // carried pre-escaped as the values are, and is written lossily (as the
                    // contract always has).
                    map.serialize_entry(&key.to_string_lossy(), value)?;
                }
                map.end()
            }
        }
    }
}

/// Reads attributes of many processes, caching what is shared between them (user names, the
/// total memory).
#[derive(Debug, Default)]
pub struct Collector {
    host: Host,
    users: HashMap<u32, Option<String>>,
    total_memory: Option<u64>,
    /// CPU time samples per process, for `cpu_percent` between two queries.
    cpu_samples: crate::query::cpu_samples::CpuSamples,
    /// What the scan this query runs on already read of each process, used instead of reading
    /// it again.
    primed: HashMap<u32, ScanReads>,
    /// Reads where live processes run (cgroups shared between queries).
    placements: PlacementReader,
    /// Kernel threads' `comm` files kept open between queries (the agent's), if any.
    kernel_threads: Option<crate::query::kthreads::KernelThreadNames>,
}

/// Per-process cache of `/proc` files for one query: each is read at most once.
#[derive(Default)]
struct OneShot {
    /// What the scan read has been taken over (at the first file an attribute needs).
    primed: bool,
    stat: Option<Result<Stat, ProcError>>,
    status: Option<Result<Status, ProcError>>,
    memory: Option<Result<MemoryInfo, ProcError>>,
    placement: Option<Option<Placement>>,
}

impl Collector {
    /// A collector reading `host`.
    pub fn new(host: Host) -> Self {
        Self {
            host,
            ..Self::default()
        }
    }

    /// The CPU time samples `cpu_percent` compares with (a handle: clones share them).
    #[cfg(native_linux)]
    pub fn cpu_samples(&self) -> &crate::query::cpu_samples::CpuSamples {
        &self.cpu_samples
    }

    /// A collector for one request of many running at once: the same host, CPU samples (a
    /// shared handle) and user names so far, so that no request holds another's collector
    /// while it reads `/proc`.
    pub fn for_request(&self) -> Collector {
        Collector {
            host: self.host.clone(),
            users: self.users.clone(),
            total_memory: self.total_memory,
            cpu_samples: self.cpu_samples.clone(),
            primed: HashMap::new(),
            placements: self.placements.fresh(),
            kernel_threads: self.kernel_threads.clone(),
        }
    }

    /// Reads kernel threads' names through `comm` files kept open from one query to the next
    /// (the agent's collector: its requests share them).
    pub fn keep_kernel_thread_files(&mut self, names: crate::query::kthreads::KernelThreadNames) {
        self.kernel_threads = Some(names);
    }

    /// Keeps the user names `other` looked up (after a request's collector is done).
    pub fn learn_users(&mut self, other: Collector) {
        if self.users.len() < 65_536 {
            self.users.extend(other.users);
        }
    }

    /// User name for a uid, as psutil's `username()`: the passwd name, else the number.
    pub fn username(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| lookup_user(uid))
            .clone()
            .unwrap_or_else(|| uid.to_string())
    }

    /// The requested attributes of `entry`, in the order asked.
    pub fn collect(&mut self, entry: &Entry, attrs: &[Attr]) -> Vec<Value> {
        self.collect_for(entry, attrs, true)
    }

    /// [`Collector::collect`] on behalf of a client: when the process is not the client's
    /// (`owned` false), what `/proc` only shows its owner (exe, cwd, environ, open files, fds,
    /// I/O counters, smaps) is null, as psutil gets AccessDenied there.
    pub fn collect_for(&mut self, entry: &Entry, attrs: &[Attr], owned: bool) -> Vec<Value> {
        let mut once = OneShot::default();
        attrs
            .iter()
            .map(|attr| {
                if !owned && attr.owner_only() {
                    Value::Null
                } else {
                    self.value(entry, *attr, &mut once)
                }
            })
            .collect()
    }

    /// Hands over what a scan just read of each process, for a query on that scan's table:
    /// each is used once instead of read again.
    pub fn prime(&mut self, reads: HashMap<u32, ScanReads>) {
        self.primed = reads;
    }

    /// Takes over what a scan already read of `entry`'s process into `once`, the first time an
    /// attribute needs a file.
    fn take_primed(&mut self, entry: &Entry, once: &mut OneShot) {
        if std::mem::replace(&mut once.primed, true) {
            return;
        }
        let Some(reads) = self.primed.remove(&entry.id.pid) else {
            return;
        };
        // A reused pid is another process: its files are not ours.
        if reads.stat.starttime != entry.id.start_ticks {
            once.stat = Some(Err(ProcError::NoSuchProcess { pid: entry.id.pid }));
            return;
        }
        once.stat = Some(Ok(reads.stat));
        once.status = reads.status.map(Ok);
        once.memory = reads.memory.map(Ok);
    }

    fn stat<'a>(&mut self, entry: &Entry, once: &'a mut OneShot) -> Option<&'a Stat> {
        self.take_primed(entry, once);
        let host = &self.host;
        let stat = once.stat.get_or_insert_with(|| {
            host.stat(entry.id.pid).and_then(|stat| {
                // A reused pid is another process: its files are not ours.
                if stat.starttime == entry.id.start_ticks {
                    Ok(stat)
                } else {
                    Err(ProcError::NoSuchProcess { pid: entry.id.pid })
                }
            })
        });
        stat.as_ref().ok()
    }

    fn memory<'a>(&mut self, entry: &Entry, once: &'a mut OneShot) -> Option<&'a MemoryInfo> {
        self.take_primed(entry, once);
        let host = &self.host;
        once.memory
            .get_or_insert_with(|| host.memory_info(entry.id.pid))
            .as_ref()
            .ok()
    }

    fn status<'a>(&mut self, entry: &Entry, once: &'a mut OneShot) -> Option<&'a Status> {
        self.take_primed(entry, once);
        let host = &self.host;
        once.status
            .get_or_insert_with(|| host.status(entry.id.pid))
            .as_ref()
            .ok()
    }

    /// Where the process runs: read now for a live process (it may have moved since its
    /// exec), its last event's for an exited one, and for one that is gone before its exit
    /// was applied (its files are no longer there to read).
    pub fn placement(&mut self, entry: &Entry) -> Option<Placement> {
        if entry.exit.is_some() {
            return entry.placement.as_deref().cloned();
        }
        self.placements
            .read(entry.id.pid)
            .or_else(|| entry.placement.as_deref().cloned())
    }

    fn value(&mut self, entry: &Entry, attr: Attr, once: &mut OneShot) -> Value {
        let exited = entry.exit.is_some();
        let pid = entry.id.pid;
        if attr.placement() {
            if exited {
                return placement_value(entry.placement.as_deref(), attr);
            }
            // Gone before its exit was applied (or its pid reused by another process): what
            // its last event said, never the files of whoever holds the pid now.
            if self.stat(entry, once).is_none() {
                return placement_value(entry.placement.as_deref(), attr);
            }
            if once.placement.is_none() {
                once.placement = Some(self.placements.read(pid));
            }
            let fresh = once.placement.as_ref().and_then(Option::as_ref);
            return placement_value(fresh.or(entry.placement.as_deref()), attr);
        }
        // What a process consumed in all is known at its exit (when the kernel read it).
        if exited && USAGE_ATTRS.contains(&attr) {
            return usage_value(final_usage(entry).as_ref(), attr);
        }
        // Scheduler accounting: from the kernel's maps while the process lives, from its
        // exit record after.
        if matches!(attr, Attr::OncpuTime | Attr::RunqLatency) {
            if exited {
                let sched = final_usage(entry).and_then(|u| u.sched);
                return sched_value(sched.as_ref(), None, attr);
            }
            #[cfg(native_linux)]
            if let Some(stats) =
                crate::source::ebpf::sched::active().and_then(|m| m.process(entry.id))
            {
                return sched_value(Some(&stats.usage), Some(&stats.histogram), attr);
            }
            return Value::Null;
        }
        #[cfg(not(native_linux))]
        if portable_unknown(attr) {
            return Value::Null;
        }
        // Attributes that need /proc are null for a process that is gone (or a reused pid).
        if !attr.from_table() && (exited || self.stat(entry, once).is_none()) {
            return Value::Null;
        }
        let host = &self.host;
        match attr {
            Attr::Pid => Value::Int(pid.into()),
            Attr::Ppid => Value::Int(entry.ppid.into()),
            // Kernel threads' names change without an event (a kworker's shows the workqueue
            // it serves): read them. There are few.
            Attr::Name if !exited && (entry.ppid == 2 || pid == 2) => {
                if let Some(name) = (self.kernel_threads.as_ref())
                    .and_then(|names| names.name(entry.id, &self.host))
                {
                    return Value::Str(name);
                }
                match self.stat(entry, once) {
                    Some(stat) => Value::Str(stat.comm.clone()),
                    None => Value::Str(entry.name()),
                }
            }
            Attr::Name => Value::Str(entry.name()),
            Attr::Exe => entry.exe.clone().map_or(Value::Null, Value::Str),
            Attr::Cmdline => entry.cmdline.as_ref().map_or(Value::Null, |args| {
                Value::List(args.iter().cloned().map(Value::Str).collect())
            }),
            Attr::Username => match entry.uids {
                Some([real, ..]) => Value::str(self.username(real)),
                None => Value::Null,
            },
            Attr::Uids => entry.uids.map_or(Value::Null, ids),
            Attr::Gids => entry.gids.map_or(Value::Null, ids),
            Attr::CreateTime => Value::Float(entry.create_time),
            Attr::ExitCode => exit_field(entry, |s| s.exit_code.map(i64::from)),
            Attr::Signal => exit_field(entry, |s| s.signal.map(i64::from)),
            Attr::Duration => match entry.exit.as_deref().copied().and_then(|e| e.status) {
                Some(status) => Value::Float(status.duration),
                None => Value::Null,
            },
            Attr::ExitTime => entry
                .exit
                .as_deref()
                .copied()
                .map_or(Value::Null, |e| Value::Float(e.time)),
            Attr::Status => self
                .stat(entry, once)
                .map_or(Value::Null, |s| Value::str(s.status())),
            Attr::Nice => self
                .stat(entry, once)
                .map_or(Value::Null, |s| Value::Int(s.nice)),
            Attr::NumThreads => self
                .stat(entry, once)
                .map_or(Value::Null, |s| Value::Int(s.num_threads.into())),
            Attr::CpuNum => self
                .stat(entry, once)
                .map_or(Value::Null, |s| Value::Int(s.processor.into())),
            Attr::CpuTimes => self.stat(entry, once).map_or(Value::Null, |s| {
                let t = s.cpu_times();
                Value::Tuple(vec![
                    ("user", Value::Float(t.user)),
                    ("system", Value::Float(t.system)),
                    ("children_user", Value::Float(t.children_user)),
                    ("children_system", Value::Float(t.children_system)),
                    ("iowait", Value::Float(t.iowait)),
                ])
            }),
            Attr::CpuPercent => {
                let Some(stat) = self.stat(entry, once) else {
                    return Value::Null;
                };
                let times = stat.cpu_times();
                let busy = times.user + times.system;
                let key = (pid, entry.id.start_ticks);
                // Compared with an earlier query's sample (see `crate::query::cpu_samples`).
                Value::Float(self.cpu_samples.percent(key, busy, entry.create_time))
            }
            Attr::Terminal => match host.terminal(pid) {
                Ok(Some(tty)) => Value::Str(tty),
                _ => Value::Null,
            },
            Attr::CpuAffinity => host.cpu_affinity(pid).map_or(Value::Null, |cpus| {
                Value::List(cpus.into_iter().map(|c| Value::Int(c.into())).collect())
            }),
            Attr::MemoryInfo => self.memory(entry, once).map_or(Value::Null, |m| {
                memory_tuple(
                    [m.rss, m.vms, m.shared, m.text, m.lib, m.data, m.dirty],
                    &[],
                )
            }),
            Attr::MemoryFullInfo => host.memory_full_info(pid).map_or(Value::Null, |m| {
                memory_tuple(
                    [m.rss, m.vms, m.shared, m.text, m.lib, m.data, m.dirty],
                    &[("uss", m.uss), ("pss", m.pss), ("swap", m.swap)],
                )
            }),
            Attr::MemoryPercent => {
                let total = *self.total_memory.get_or_insert_with(total_memory);
                match (self.memory(entry, once), total) {
                    (Some(m), total) if total > 0 => {
                        Value::Float(m.rss as f64 / total as f64 * 100.0)
                    }
                    _ => Value::Null,
                }
            }
            Attr::NumCtxSwitches => match self.status(entry, once).and_then(|s| s.num_ctx_switches)
            {
                Some(switches) => Value::Tuple(vec![
                    ("voluntary", Value::Int(switches.voluntary as i64)),
                    ("involuntary", Value::Int(switches.involuntary as i64)),
                ]),
                None => Value::Null,
            },
            Attr::NumPageFaults => self.stat(entry, once).map_or(Value::Null, |s| {
                Value::Tuple(vec![
                    ("minor", Value::Int(s.minflt as i64)),
                    ("major", Value::Int(s.majflt as i64)),
                ])
            }),
            Attr::NumFds => host
                .num_fds(pid)
                .map_or(Value::Null, |n| Value::Int(n.into())),
            Attr::IoCounters => host.io_counters(pid).map_or(Value::Null, |io| {
                Value::Tuple(vec![
                    ("read_count", Value::Int(io.read_count as i64)),
                    ("write_count", Value::Int(io.write_count as i64)),
                    ("read_bytes", Value::Int(io.read_bytes as i64)),
                    ("write_bytes", Value::Int(io.write_bytes as i64)),
                    ("read_chars", Value::Int(io.read_chars as i64)),
                    ("write_chars", Value::Int(io.write_chars as i64)),
                ])
            }),
            Attr::Ionice => host.ionice(pid).map_or(Value::Null, |io| {
                Value::Tuple(vec![
                    ("ioclass", Value::Int(io.ioclass as i64)),
                    ("value", Value::Int(io.value.into())),
                ])
            }),
            Attr::Cwd => host.cwd(pid).map_or(Value::Null, Value::Str),
            Attr::Environ => host.environ(pid).map_or(Value::Null, |vars| {
                Value::Dict(vars.into_iter().map(|(k, v)| (k, Value::Str(v))).collect())
            }),
            Attr::OpenFiles => host.open_files(pid).map_or(Value::Null, |files| {
                Value::List(
                    files
                        .into_iter()
                        .map(|f| {
                            Value::Tuple(vec![
                                ("path", Value::Str(f.path)),
                                ("fd", Value::Int(f.fd.into())),
                                ("position", Value::Int(f.position as i64)),
                                ("mode", Value::str(f.mode)),
                                ("flags", Value::Int(f.flags.into())),
                            ])
                        })
                        .collect(),
                )
            }),
            Attr::Threads => host.threads(pid).map_or(Value::Null, |threads| {
                Value::List(
                    threads
                        .into_iter()
                        .map(|t| {
                            Value::Tuple(vec![
                                ("id", Value::Int(t.id.into())),
                                ("user_time", Value::Float(t.user_time)),
                                ("system_time", Value::Float(t.system_time)),
                            ])
                        })
                        .collect(),
                )
            }),
            // Answered above, from the scheduler accounting and the placement.
            Attr::OncpuTime
            | Attr::RunqLatency
            | Attr::Cgroup
            | Attr::CgroupId
            | Attr::ContainerId
            | Attr::ContainerRuntime
            | Attr::PodUid
            | Attr::Pidns
            | Attr::Mntns
            | Attr::Netns
            | Attr::Userns
            | Attr::Utsns
            | Attr::Ipcns
            | Attr::Cgroupns
            | Attr::Vpid
            | Attr::Vppid => Value::Null,
        }
    }
}

/// The attributes an exited process has from its exit usage.
pub const USAGE_ATTRS: [Attr; 5] = [
    Attr::CpuTimes,
    Attr::MemoryInfo,
    Attr::NumCtxSwitches,
    Attr::IoCounters,
    Attr::NumPageFaults,
];

/// One of [`USAGE_ATTRS`] from a process's exit usage, shaped as for a live process except
/// `memory_info`, which is `{rss}` with the peak RSS (the rest is gone with the process), and
/// `io_counters`, which lacks the counters this kernel does not keep. `Null` without usage.
pub fn usage_value(usage: Option<&Usage>, attr: Attr) -> Value {
    let Some(u) = usage else {
        return Value::Null;
    };
    let int = |v: u64| Value::Int(v.min(i64::MAX as u64) as i64);
    match attr {
        Attr::CpuTimes => Value::Tuple(vec![
            ("user", Value::Float(u.user)),
            ("system", Value::Float(u.system)),
            ("children_user", Value::Float(u.children_user)),
            ("children_system", Value::Float(u.children_system)),
            ("iowait", Value::Float(0.0)),
        ]),
        Attr::MemoryInfo => Value::Tuple(vec![("rss", int(u.peak_rss))]),
        Attr::NumCtxSwitches => Value::Tuple(vec![
            ("voluntary", int(u.voluntary_ctx_switches)),
            ("involuntary", int(u.involuntary_ctx_switches)),
        ]),
        Attr::IoCounters => Value::Tuple(
            [
                ("read_count", u.io.read_count),
                ("write_count", u.io.write_count),
                ("read_bytes", u.io.read_bytes),
                ("write_bytes", u.io.write_bytes),
                ("read_chars", u.io.read_chars),
                ("write_chars", u.io.write_chars),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key, int(v))))
            .collect(),
        ),
        Attr::NumPageFaults => Value::Tuple(vec![
            ("minor", int(u.minor_faults)),
            ("major", int(u.major_faults)),
        ]),
        _ => Value::Null,
    }
}

/// `oncpu_time` or `runq_latency` from a process's scheduler accounting; `histogram` is
/// `(upper bound in seconds, count)` per non-empty log2 bucket (null for an exited process:
/// the exit record carries the sums only). `Null` without accounting.
pub fn sched_value(
    usage: Option<&SchedUsage>,
    histogram: Option<&[(f64, u64)]>,
    attr: Attr,
) -> Value {
    let Some(u) = usage else {
        return Value::Null;
    };
    let int = |v: u64| Value::Int(v.min(i64::MAX as u64) as i64);
    match attr {
        Attr::OncpuTime => Value::Float(u.oncpu),
        Attr::RunqLatency => Value::Tuple(vec![
            ("count", int(u.runq_count)),
            ("sum", Value::Float(u.runq_sum)),
            ("max", Value::Float(u.runq_max)),
            (
                "histogram",
                histogram.map_or(Value::Null, |buckets| {
                    Value::List(
                        buckets
                            .iter()
                            .map(|&(le, count)| {
                                Value::Tuple(vec![
                                    (
                                        "le",
                                        if le.is_finite() {
                                            Value::Float(le)
                                        } else {
                                            Value::Null
                                        },
                                    ),
                                    ("count", int(count)),
                                ])
                            })
                            .collect(),
                    )
                }),
            ),
        ]),
        _ => Value::Null,
    }
}

/// psutil's `pmem` (`rss, vms, shared, text, lib, data, dirty`), then `extra` fields
/// (`pfullmem` adds `uss, pss, swap`).
fn memory_tuple(base: [u64; 7], extra: &[(&'static str, u64)]) -> Value {
    const NAMES: [&str; 7] = ["rss", "vms", "shared", "text", "lib", "data", "dirty"];
    Value::Tuple(
        NAMES
            .into_iter()
            .zip(base)
            .chain(extra.iter().copied())
            .map(|(name, value)| (name, Value::Int(value as i64)))
            .collect(),
    )
}

fn ids([real, effective, saved]: [u32; 3]) -> Value {
    Value::Tuple(vec![
        ("real", Value::Int(real.into())),
        ("effective", Value::Int(effective.into())),
        ("saved", Value::Int(saved.into())),
    ])
}

fn exit_field(entry: &Entry, field: impl Fn(&crate::event::Exit) -> Option<i64>) -> Value {
    match entry.exit.as_deref().copied().and_then(|e| e.status) {
        Some(status) => field(&status).map_or(Value::Null, Value::Int),
        None => Value::Null,
    }
}

/// Total physical memory in bytes (`MemTotal` of /proc/meminfo), 0 if unreadable.
#[cfg(native_linux)]
fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Total physical memory in bytes, as the `sysinfo` crate reads it; 0 if unknown.
#[cfg(not(native_linux))]
fn total_memory() -> u64 {
    let mut system = sysinfo::System::new();
    system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
    system.total_memory()
}

/// Attributes the portable reader cannot tell although its records have room for them (it
/// fills those fields with zeros): shown as null there, never as the zeros. `cpu_times` is
/// among them because `sysinfo` gives only the total, not its user/system split
/// (`cpu_percent`, which needs only the total, is kept); `num_threads` because `sysinfo`
/// counts threads only on Linux.
#[cfg(not(native_linux))]
fn portable_unknown(attr: Attr) -> bool {
    matches!(
        attr,
        Attr::Nice | Attr::CpuNum | Attr::CpuTimes | Attr::NumPageFaults | Attr::Terminal
    ) || (cfg!(not(target_os = "linux")) && attr == Attr::NumThreads)
}

/// The passwd name of a uid.
pub fn lookup_user(uid: u32) -> Option<String> {
    crate::host::os::user_name(uid)
}
