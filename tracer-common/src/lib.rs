//! Plain-data records shared by the kernel programs (`tracer-ebpf`) and the userspace agent
//! (`tracer`): what the kernel writes into the ring buffer, the kernel-structure offsets that
//! userspace resolves from BTF and hands to the programs at load time, and the loss counters.
//!
//! Every struct is `#[repr(C)]` with explicit padding, so both sides agree on the layout and
//! records are fully initialised before they are copied into the ring.
#![no_std]
#![deny(missing_docs)]

/// Length of `task_struct::comm` (TASK_COMM_LEN), including the terminating NUL.
pub const COMM_LEN: usize = 16;

/// Bytes of argv captured per exec. Longer argument lists are cut and flagged
/// [`FLAG_ARGS_TRUNCATED`]. A power of two so the programs can bound lengths with a mask.
pub const ARGS_CAPTURE: usize = 4096;

/// Bytes of the executable's path captured per exec: its components, leaf first, each
/// NUL-terminated (see [`ExecRecord::exe`]). Paths whose components do not fit are cut at the
/// root end and flagged [`FLAG_EXE_TRUNCATED`]. A power of two, as [`ARGS_CAPTURE`].
pub const EXE_CAPTURE: usize = 1024;

/// Longest path component the exec program copies (NAME_MAX + NUL). The program starts a
/// component only while at least this much of [`EXE_CAPTURE`] is left.
pub const EXE_COMPONENT_MAX: usize = 256;

/// Most path components (directories and mount crossings) the exec program walks.
pub const EXE_MAX_DEPTH: u32 = 40;

/// The kind of a ring-buffer record: the first byte of every record.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A new process (not a thread) was created: [`ForkRecord`].
    Fork = 1,
    /// A process replaced its image: [`ExecRecord`].
    Exec = 2,
    /// The last thread of a process exited: [`ExitRecord`].
    Exit = 3,
    /// A process's CPU time once its exit was fully charged: [`FinalRecord`].
    Final = 4,
}

impl RecordKind {
    /// Decodes the first byte of a record.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Fork),
            2 => Some(Self::Exec),
            3 => Some(Self::Exit),
            4 => Some(Self::Final),
            _ => None,
        }
    }
}

/// [`ExecRecord::flags`]: argv was longer than [`ARGS_CAPTURE`] bytes and was cut.
pub const FLAG_ARGS_TRUNCATED: u8 = 1 << 0;
/// [`ExecRecord::flags`]: the executable path was longer than [`EXE_CAPTURE`] bytes and was cut.
pub const FLAG_EXE_TRUNCATED: u8 = 1 << 1;
/// [`ExecRecord::flags`]: argv could not be read from the new image (reported as empty).
pub const FLAG_ARGS_UNREADABLE: u8 = 1 << 2;
/// [`ExecRecord::flags`]: the dentry walk failed, `exe` holds the path as passed to execve
/// (`linux_binprm::interp`) as one string instead of components.
pub const FLAG_EXE_AS_PASSED: u8 = 1 << 3;

/// [`RecordHeader::flags`] of fork and exec records: the record's [`PlacementIds`] were read
/// (clear when the kernel lacks a field they come from: userspace then reads `/proc`).
pub const FLAG_PLACED: u8 = 1 << 4;

/// [`RecordHeader::flags`] of fork and exec records. On forks: the child runs where the process that forked runs
/// (same cgroup set, namespaces and user namespace, in the initial PID namespace), so its
/// [`PlacementIds`] were not read and the record ends before them ([`FORK_INHERITED_LEN`]
/// bytes). [`ForkRecord::objects`] name that placement: userspace copies the forking process's
/// when the objects remembered with it are the same, and reads `/proc` otherwise. On exec
/// records: the process runs where its parent does; its [`PlacementIds`] were not read (the
/// record keeps its length) and [`ExecRecord::objects`] name the placement, which userspace
/// knows from the process's fork or its parent.
pub const FLAG_INHERITED: u8 = 1 << 5;

/// Where a process runs, read by the fork and exec programs: its cgroup v2 id, its
/// namespaces' inode numbers and its ids in its own PID namespace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlacementIds {
    /// `task->cgroups->dfl_cgrp->kn->id`: the cgroup v2 id (the inode of its directory).
    pub cgroup_id: u64,
    /// `ns.inum` of the pid, mnt, net, user, uts, ipc and cgroup namespaces, in that order.
    pub namespaces: [u32; 7],
    /// The process's pid in its own PID namespace.
    pub vpid: u32,
    /// Its parent's pid in that namespace; 0 when the parent is outside it.
    pub vppid: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
}

/// The kernel objects a process's placement (but for its ids in its PID namespace) follows
/// from: the addresses of `task->cgroups`, `task->nsproxy` and `task->real_cred->user_ns`.
/// Equal objects mean the same placement; userspace keeps only a digest of them, as a token
/// that tells whether a process still runs where its last record said (it may have moved or
/// unshared since). Never shown.
pub type PlacementObjects = [u64; 3];

/// Fields every record starts with: which process, when, and its identity.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RecordHeader {
    /// A [`RecordKind`] as `u8`.
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 2],
    /// Process id (the kernel's tgid).
    pub pid: u32,
    /// Parent's process id (`real_parent->tgid`) when the record was written.
    pub ppid: u32,
    /// Thread id that triggered the record (exec: the thread that called execve, before it
    /// took over the leader's id; exit: the last thread; fork: the forking thread).
    pub tid: u32,
    /// Real user id of the process.
    pub uid: u32,
    /// Real group id of the process.
    pub gid: u32,
    /// When the record was written, in nanoseconds of CLOCK_BOOTTIME.
    pub time_ns: u64,
    /// The process's `start_boottime` (ns since boot): with the pid, its identity.
    pub start_boottime_ns: u64,
    /// `task_struct::comm`, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// A new process was created by fork/vfork/clone without CLONE_THREAD.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ForkRecord {
    /// Identity of the child; `header.ppid` is its parent as the kernel sees it (which differs
    /// from `parent_pid` under CLONE_PARENT).
    pub header: RecordHeader,
    /// The process that forked.
    pub parent_pid: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
    /// The child's [`PlacementObjects`] (zero when placements are not read).
    pub objects: PlacementObjects,
    /// Where the child runs (valid with [`FLAG_PLACED`]; absent with [`FLAG_INHERITED`]).
    pub placement: PlacementIds,
}

/// Bytes of a [`ForkRecord`] flagged [`FLAG_INHERITED`]: everything before its placement.
pub const FORK_INHERITED_LEN: usize =
    core::mem::size_of::<ForkRecord>() - core::mem::size_of::<PlacementIds>();

/// The last thread of a process exited.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitRecord {
    /// Identity of the process that ended.
    pub header: RecordHeader,
    /// The raw wait status (`task_struct::exit_code`): `(status << 8) | core << 7 | signal`.
    pub exit_code: u32,
    /// `USAGE_*` bits: which parts of `usage` this kernel keeps (0: no usage was read).
    pub usage_fields: u32,
    /// The process's final resource usage, for the whole thread group.
    pub usage: Usage,
}

/// A process's total CPU time once the kernel charged all of it: written when its group
/// leader, the last of its threads, leaves the CPU for good (its final context switch). The
/// exit record is written earlier, at `sched_process_exit`, before the kernel charges the
/// leader's last slice and the exit's teardown (unmapping its memory, closing its files),
/// which for a process of a few milliseconds is a quarter of its CPU; userspace holds the
/// exit event a moment for this record and completes its CPU times with it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalRecord {
    /// [`RecordKind::Final`] as `u8`.
    pub kind: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 3],
    /// The process (tgid).
    pub pid: u32,
    /// Its `start_boottime`: with the pid, its identity.
    pub start_boottime_ns: u64,
    /// The group's `sum_exec_runtime`, all threads, nanoseconds.
    pub runtime_ns: u64,
}

/// Bytes of an [`ExitRecord`] before its `usage`: an exit record without usage (a kernel that
/// lacks the fields) is this long.
pub const EXIT_FIXED_LEN: usize =
    core::mem::size_of::<ExitRecord>() - core::mem::size_of::<Usage>();

/// [`ExitRecord::usage_fields`]: CPU times, faults, context switches and peak RSS were read.
pub const USAGE_CORE: u32 = 1 << 0;
/// [`ExitRecord::usage_fields`]: `rchar`, `wchar`, `syscr`, `syscw` are kept (CONFIG_TASK_XACCT).
pub const USAGE_IO_CHARS: u32 = 1 << 1;
/// [`ExitRecord::usage_fields`]: `read_bytes`, `write_bytes` are kept
/// (CONFIG_TASK_IO_ACCOUNTING).
pub const USAGE_IO_BYTES: u32 = 1 << 2;
/// [`ExitRecord::usage_fields`]: `signal_struct::prev_cputime` was read (the floor the kernel
/// keeps so reported CPU times never go backwards).
pub const USAGE_PREV_CPUTIME: u32 = 1 << 3;
/// [`ExitRecord::usage_fields`]: threads not yet folded into `signal_struct` were walked and
/// added (otherwise only the exiting thread was).
pub const USAGE_THREADS: u32 = 1 << 4;
/// [`ExitRecord::usage_fields`]: the thread walk stopped at [`USAGE_MAX_THREADS`] (or on a
/// failed read): threads beyond it are missing from the sums.
pub const USAGE_THREADS_PARTIAL: u32 = 1 << 5;

/// [`ExitRecord::usage_fields`] (kernel side only): `signal_struct::stats_lock` can be read.
/// Its sequence count is still zero when no thread was ever folded into `signal_struct`
/// (`__exit_signal` is the only writer of the summed counters, under that lock), and the
/// program then skips reading them: they are zero.
pub const USAGE_FOLD_SEQ: u32 = 1 << 6;

/// Most threads besides the exiting one the exit program adds up. Only threads that have not
/// finished exiting themselves (or a group leader that exited first and waits as a zombie)
/// are still on the list when the last thread exits, so this is rarely reached.
pub const USAGE_MAX_THREADS: u32 = 32;

/// Final resource usage of a process, summed in the kernel at the exit of its last thread:
/// what `signal_struct` accumulated from threads already gone plus each remaining thread's
/// own counters — the sums `getrusage(2)` and `/proc/PID/{stat,io}` make.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// User CPU time, nanoseconds, as sampled by the tick (`utime`), before the kernel scales
    /// it to the precise runtime (see `runtime_ns`).
    pub utime_ns: u64,
    /// System CPU time, nanoseconds, as sampled (`stime`).
    pub stime_ns: u64,
    /// Precise CPU time, nanoseconds (`sum_exec_runtime`): the kernel reports user and system
    /// time as this total split in the ratio of the samples (`cputime_adjust`).
    pub runtime_ns: u64,
    /// `signal_struct::prev_cputime.utime`: the floor for the reported user time.
    pub prev_utime_ns: u64,
    /// `signal_struct::prev_cputime.stime`: the floor for the reported system time.
    pub prev_stime_ns: u64,
    /// User CPU time of reaped children, nanoseconds (`cutime`, already scaled).
    pub cutime_ns: u64,
    /// System CPU time of reaped children, nanoseconds (`cstime`, already scaled).
    pub cstime_ns: u64,
    /// Voluntary context switches.
    pub nvcsw: u64,
    /// Involuntary context switches.
    pub nivcsw: u64,
    /// Minor page faults.
    pub min_flt: u64,
    /// Major page faults.
    pub maj_flt: u64,
    /// Peak resident set size, in pages (`signal_struct::maxrss`).
    pub maxrss_pages: u64,
    /// Bytes passed to read-like syscalls (`rchar`).
    pub rchar: u64,
    /// Bytes passed to write-like syscalls (`wchar`).
    pub wchar: u64,
    /// Read-like syscalls (`syscr`).
    pub syscr: u64,
    /// Write-like syscalls (`syscw`).
    pub syscw: u64,
    /// Bytes fetched from storage (`read_bytes`).
    pub read_bytes: u64,
    /// Bytes sent towards storage (`write_bytes`).
    pub write_bytes: u64,
}

/// An exit record followed by the process's final scheduler accounting: what the exit
/// program writes while scheduler accounting runs (the plain [`ExitRecord`] otherwise, so
/// exits cost no more without it).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitSchedRecord {
    /// The exit record, with [`USAGE_SCHED`] in its `usage_fields`.
    pub exit: ExitRecord,
    /// The process's final [`ProcSched`] summary (its histogram is not carried).
    pub sched: SchedSummary,
}

/// [`ExitRecord::usage_fields`]: the record is an [`ExitSchedRecord`] whose `sched` holds
/// the process's final on-CPU time and run-queue latency summary.
pub const USAGE_SCHED: u32 = 1 << 7;

/// On-CPU time and run-queue latency of a process, without the histogram.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedSummary {
    /// Nanoseconds its threads ran on a CPU.
    pub oncpu_ns: u64,
    /// Times one of its threads went from runnable (woken, or preempted) to running.
    pub runq_count: u64,
    /// Nanoseconds its threads waited on a run queue, in all.
    pub runq_sum_ns: u64,
    /// The longest such wait, nanoseconds.
    pub runq_max_ns: u64,
}

/// Buckets of the log2 latency histograms: bucket `i` counts waits of `[2^i, 2^(i+1))`
/// nanoseconds (bucket 0 also holds 0), the last one everything from `2^31` ns (2.1 s) on.
pub const SCHED_BUCKETS: usize = 32;

/// Per-process scheduler accounting (`tracer agent --sched`), kept by the sched programs in
/// the `PROC_SCHED` map keyed by pid (tgid).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcSched {
    /// The group leader's `start_boottime`: with the pid, which process this is (an entry
    /// found with another start time belongs to an earlier process with that pid).
    pub start_boottime_ns: u64,
    /// On-CPU time and run-queue latency sums.
    pub summary: SchedSummary,
    /// Run-queue latencies, log2 buckets of nanoseconds ([`SCHED_BUCKETS`]).
    pub runq_hist: [u64; SCHED_BUCKETS],
}

/// Host-wide scheduler histograms, one per CPU (`HOST_SCHED`), summed by userspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSched {
    /// Run-queue latencies of every task, log2 buckets of nanoseconds.
    pub runq_hist: [u64; SCHED_BUCKETS],
    /// Number of run-queue waits.
    pub runq_count: u64,
    /// Nanoseconds waited, in all.
    pub runq_sum_ns: u64,
    /// How long tasks ran each time they were on a CPU, log2 buckets of nanoseconds.
    pub slice_hist: [u64; SCHED_BUCKETS],
    /// Number of slices.
    pub slice_count: u64,
    /// Nanoseconds run, in all.
    pub slice_sum_ns: u64,
}

/// What each CPU last switched to, for the on-CPU time of its slice (`CPU_SLICE`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuSlice {
    /// `bpf_ktime_get_ns` when the task was switched in.
    pub start_ns: u64,
    /// The task (thread id) switched in; 0 for idle or unknown.
    pub tid: u32,
    /// Its process (tgid).
    pub tgid: u32,
}

/// A process replaced its image with execve/execveat.
///
/// Variable-sized: only the first `EXEC_FIXED_LEN + exe_len + args_len` bytes of the record
/// are written into the ring — the fixed part, then the path, then argv, packed in `tail`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecRecord {
    /// Identity of the process (after a non-leader thread execs, the pid is the tgid).
    pub header: RecordHeader,
    /// Real, effective and saved user ids.
    pub uids: [u32; 3],
    /// Real, effective and saved group ids.
    pub gids: [u32; 3],
    /// Bytes of argv in `tail`, after the path (NUL-separated, as in /proc/PID/cmdline).
    pub args_len: u32,
    /// Full length of argv in the new image, which exceeds `args_len` when truncated.
    pub args_total: u32,
    /// Bytes of the path at the start of `tail` (at most [`EXE_CAPTURE`]).
    pub exe_len: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
    /// The process's [`PlacementObjects`] (valid with [`FLAG_PLACED`]).
    pub objects: PlacementObjects,
    /// Where the process runs (valid with [`FLAG_PLACED`]).
    pub placement: PlacementIds,
    /// The executable file's path, then argv. The path (for scripts: the interpreter's) is
    /// resolved by walking its dentries and mounts up to the root, as `/proc/PID/exe` shows
    /// it: the components leaf first, each NUL-terminated (`true\0bin\0usr\0` is
    /// `/usr/bin/true`), `exe_len` bytes. argv follows at once, `args_len` bytes.
    pub tail: [u8; EXEC_TAIL_CAPTURE],
}

/// Bytes of [`ExecRecord::tail`]: room for the longest path and the longest argv.
pub const EXEC_TAIL_CAPTURE: usize = EXE_CAPTURE + ARGS_CAPTURE;

/// Bytes of an [`ExecRecord`] before its variable-sized `tail`.
pub const EXEC_FIXED_LEN: usize = core::mem::size_of::<ExecRecord>() - EXEC_TAIL_CAPTURE;

/// Indices of the per-CPU counters the programs keep in the `COUNTERS` map.
pub mod counter {
    /// Fork records dropped because the ring buffer was full.
    pub const LOST_FORK: u32 = 0;
    /// Exec records dropped because the ring buffer was full.
    pub const LOST_EXEC: u32 = 1;
    /// Exit records dropped because the ring buffer was full.
    pub const LOST_EXIT: u32 = 2;
    /// Threads created (clone with CLONE_THREAD): counted, never reported as processes.
    pub const THREADS_CREATED: u32 = 3;
    /// Threads that exited while their process lived on.
    pub const THREADS_EXITED: u32 = 4;
    /// Execs whose argv was cut at `ARGS_CAPTURE` bytes.
    pub const ARGS_TRUNCATED: u32 = 5;
    /// Kernel reads that failed (a field could not be read; the record still went out).
    pub const READ_ERRORS: u32 = 6;
    /// Scheduler accounting: processes that got no `PROC_SCHED` entry (the map was full).
    pub const SCHED_MAP_FULL: u32 = 7;
    /// Final CPU-time records dropped because the ring buffer was full (the exit event then
    /// goes out with the CPU time read at `sched_process_exit`).
    pub const LOST_FINAL: u32 = 8;
    /// Number of counters.
    pub const COUNT: u32 = 9;
}

/// Indices of the `CONTROL` array, which userspace writes while the programs run.
pub mod control {
    /// Non-zero while someone waits for an exit: exit records then wake the consumer at once.
    pub const EXIT_AWAITED: u32 = 0;
    /// Non-zero while the consumer sleeps without a timer (the ring was empty at its last
    /// drain): the next record wakes it and clears this. While it is zero the consumer drains
    /// on its own timer, and records wake it only past `wakeup_bytes` or for an awaited exit.
    pub const CONSUMER_ASLEEP: u32 = 1;
    /// Number of entries.
    pub const COUNT: u32 = 2;
}

/// Offsets of the kernel structure fields the programs read, resolved by userspace from the
/// running kernel's BTF and set as a read-only global before loading. Nothing is compiled in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelOffsets {
    /// `task_struct::pid`
    pub task_pid: u32,
    /// `task_struct::tgid`
    pub task_tgid: u32,
    /// `task_struct::real_parent`
    pub task_real_parent: u32,
    /// `task_struct::group_leader`
    pub task_group_leader: u32,
    /// `task_struct::comm`
    pub task_comm: u32,
    /// `task_struct::start_boottime`
    pub task_start_boottime: u32,
    /// `task_struct::exit_code`
    pub task_exit_code: u32,
    /// `task_struct::real_cred`
    pub task_real_cred: u32,
    /// `task_struct::mm`
    pub task_mm: u32,
    /// `task_struct::signal`
    pub task_signal: u32,
    /// `mm_struct::arg_start`
    pub mm_arg_start: u32,
    /// `mm_struct::arg_end`
    pub mm_arg_end: u32,
    /// `cred::uid`
    pub cred_uid: u32,
    /// `cred::gid`
    pub cred_gid: u32,
    /// `cred::suid`
    pub cred_suid: u32,
    /// `cred::sgid`
    pub cred_sgid: u32,
    /// `cred::euid`
    pub cred_euid: u32,
    /// `cred::egid`
    pub cred_egid: u32,
    /// `linux_binprm::interp`
    pub bprm_interp: u32,
    /// `linux_binprm::file`
    pub bprm_file: u32,
    /// `file::f_path` + `path::dentry`
    pub file_dentry: u32,
    /// `file::f_path` + `path::mnt`
    pub file_vfsmount: u32,
    /// `dentry::d_parent`
    pub dentry_parent: u32,
    /// `dentry::d_name` + `qstr::name`
    pub dentry_name: u32,
    /// `mount::mnt` (the embedded `vfsmount`)
    pub mount_vfsmount: u32,
    /// `mount::mnt_parent`
    pub mount_parent: u32,
    /// `mount::mnt_mountpoint`
    pub mount_mountpoint: u32,
    /// `vfsmount::mnt_root`
    pub vfsmount_root: u32,
    /// `signal_struct::live`
    pub signal_live: u32,
    /// `USAGE_*` bits: what the exit program reads and reports (0: no usage at all).
    pub usage_fields: u32,
    /// `task_struct::utime`
    pub task_utime: u32,
    /// `task_struct::stime`
    pub task_stime: u32,
    /// `task_struct::se` + `sched_entity::sum_exec_runtime`
    pub task_sum_exec_runtime: u32,
    /// `task_struct::nvcsw`
    pub task_nvcsw: u32,
    /// `task_struct::nivcsw`
    pub task_nivcsw: u32,
    /// `task_struct::min_flt`
    pub task_min_flt: u32,
    /// `task_struct::maj_flt`
    pub task_maj_flt: u32,
    /// `task_struct::ioac` + `task_io_accounting::rchar`
    pub task_rchar: u32,
    /// `task_struct::ioac` + `task_io_accounting::wchar`
    pub task_wchar: u32,
    /// `task_struct::ioac` + `task_io_accounting::syscr`
    pub task_syscr: u32,
    /// `task_struct::ioac` + `task_io_accounting::syscw`
    pub task_syscw: u32,
    /// `task_struct::ioac` + `task_io_accounting::read_bytes`
    pub task_read_bytes: u32,
    /// `task_struct::ioac` + `task_io_accounting::write_bytes`
    pub task_write_bytes: u32,
    /// `task_struct::thread_node` (its link in `signal_struct::thread_head`)
    pub task_thread_node: u32,
    /// `signal_struct::utime`
    pub signal_utime: u32,
    /// `signal_struct::stime`
    pub signal_stime: u32,
    /// `signal_struct::cutime`
    pub signal_cutime: u32,
    /// `signal_struct::cstime`
    pub signal_cstime: u32,
    /// `signal_struct::prev_cputime` + `prev_cputime::utime`
    pub signal_prev_utime: u32,
    /// `signal_struct::prev_cputime` + `prev_cputime::stime`
    pub signal_prev_stime: u32,
    /// `signal_struct::sum_sched_runtime`
    pub signal_sum_sched_runtime: u32,
    /// `signal_struct::nvcsw`
    pub signal_nvcsw: u32,
    /// `signal_struct::nivcsw`
    pub signal_nivcsw: u32,
    /// `signal_struct::min_flt`
    pub signal_min_flt: u32,
    /// `signal_struct::maj_flt`
    pub signal_maj_flt: u32,
    /// `signal_struct::maxrss`
    pub signal_maxrss: u32,
    /// `signal_struct::ioac` + `task_io_accounting::rchar`
    pub signal_rchar: u32,
    /// `signal_struct::ioac` + `task_io_accounting::wchar`
    pub signal_wchar: u32,
    /// `signal_struct::ioac` + `task_io_accounting::syscr`
    pub signal_syscr: u32,
    /// `signal_struct::ioac` + `task_io_accounting::syscw`
    pub signal_syscw: u32,
    /// `signal_struct::ioac` + `task_io_accounting::read_bytes`
    pub signal_read_bytes: u32,
    /// `signal_struct::ioac` + `task_io_accounting::write_bytes`
    pub signal_write_bytes: u32,
    /// `signal_struct::nr_threads`
    pub signal_nr_threads: u32,
    /// `signal_struct::thread_head`
    pub signal_thread_head: u32,
    /// `list_head::next`
    pub list_next: u32,
    /// `signal_struct::stats_lock` + `seqlock_t::seqcount` + … + `seqcount::sequence`
    pub signal_stats_seq: u32,
    /// 1 when scheduler accounting is loaded: the exit program then moves the process's
    /// `PROC_SCHED` entry into its exit record.
    pub sched: u32,
    /// `task_struct::flags`
    pub task_flags: u32,
    /// `task_struct::se` + `sched_entity::cfs_rq` (scheduler accounting only)
    pub task_se_cfs_rq: u32,
    /// `cfs_rq::rq`
    pub cfs_rq_rq: u32,
    /// `rq::clock`
    pub rq_clock: u32,
    /// `rq::clock_task`
    pub rq_clock_task: u32,
    /// `task_struct::sched_info` + `sched_info::last_queued`
    pub task_last_queued: u32,
    /// 1 when the `sched_process_exit` tracepoint passes `group_dead` (Linux 6.16+); otherwise
    /// the exit program decides from `signal_struct::live`.
    pub exit_has_group_dead: u32,
    /// Ring-buffer wake-up threshold in bytes: once this much is pending a record wakes the
    /// consumer even while it batches on its own timer (see [`control::CONSUMER_ASLEEP`]).
    pub wakeup_bytes: u32,
    /// 1 when every placement offset below was found: the fork and exec programs then read
    /// [`PlacementIds`] and set [`FLAG_PLACED`].
    pub placement: u32,
    /// `task_struct::cgroups`
    pub task_cgroups: u32,
    /// `css_set::dfl_cgrp`
    pub css_set_dfl_cgrp: u32,
    /// `cgroup::kn`
    pub cgroup_kn: u32,
    /// `kernfs_node::id`
    pub kernfs_node_id: u32,
    /// `task_struct::nsproxy`
    pub task_nsproxy: u32,
    /// `nsproxy::mnt_ns`
    pub nsproxy_mnt: u32,
    /// `nsproxy::net_ns`
    pub nsproxy_net: u32,
    /// `nsproxy::uts_ns`
    pub nsproxy_uts: u32,
    /// `nsproxy::ipc_ns`
    pub nsproxy_ipc: u32,
    /// `nsproxy::cgroup_ns`
    pub nsproxy_cgroup: u32,
    /// `cred::user_ns`
    pub cred_user_ns: u32,
    /// `pid_namespace::ns` + `ns_common::inum`
    pub pid_ns_inum: u32,
    /// `mnt_namespace::ns` + `ns_common::inum`
    pub mnt_ns_inum: u32,
    /// `net::ns` + `ns_common::inum`
    pub net_ns_inum: u32,
    /// `user_namespace::ns` + `ns_common::inum`
    pub user_ns_inum: u32,
    /// `uts_namespace::ns` + `ns_common::inum`
    pub uts_ns_inum: u32,
    /// `ipc_namespace::ns` + `ns_common::inum`
    pub ipc_ns_inum: u32,
    /// `cgroup_namespace::ns` + `ns_common::inum`
    pub cgroup_ns_inum: u32,
    /// `task_struct::thread_pid`
    pub task_thread_pid: u32,
    /// `pid::level`
    pub pid_level: u32,
    /// `pid::numbers` (the flexible array of `upid`, one per namespace level)
    pub pid_numbers: u32,
    /// `sizeof(struct upid)`
    pub upid_size: u32,
    /// `upid::nr`
    pub upid_nr: u32,
    /// `upid::ns`
    pub upid_ns: u32,
    /// `cgroup::level` (scoped tracing only)
    pub cgroup_level: u32,
    /// `cgroup::ancestors` (the flexible array of `struct cgroup *`, indexed by level)
    pub cgroup_ancestors: u32,
    /// Scoped tracing (`tracer agent --cgroup`): how many of `scope_ids` are set; 0 traces
    /// every process. Otherwise the programs write records only for processes whose cgroup v2
    /// lies in the subtree of one of them.
    pub scope_count: u32,
    /// The level (depth below the v2 root) of each scope cgroup.
    pub scope_levels: [u32; MAX_SCOPES],
    /// Explicit padding, always zero.
    pub _scope_pad: u32,
    /// The cgroup v2 id of each scope cgroup.
    pub scope_ids: [u64; MAX_SCOPES],
}

/// Most cgroup subtrees one scoped tracer follows ([`KernelOffsets::scope_ids`]).
pub const MAX_SCOPES: usize = 8;

impl KernelOffsets {
    /// All offsets zero: the placeholder the programs are compiled with, before userspace sets
    /// the real ones.
    pub const fn zeroed() -> Self {
        // SAFETY: all fields are integers, for which zero is a valid value.
        unsafe { core::mem::zeroed() }
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `#[repr(C)]` integers with no padding holes; any bit pattern is valid.
    unsafe impl aya::Pod for super::KernelOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ProcSched {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::HostSched {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<RecordHeader>(), 56);
        assert_eq!(size_of::<PlacementIds>(), 48);
        assert_eq!(size_of::<ForkRecord>(), 56 + 8 + 24 + 48);
        assert_eq!(FORK_INHERITED_LEN, 88);
        assert_eq!(size_of::<Usage>(), 18 * 8);
        assert_eq!(size_of::<ExitRecord>(), 56 + 8 + 18 * 8);
        assert_eq!(size_of::<ExitSchedRecord>(), size_of::<ExitRecord>() + 32);
        assert_eq!(size_of::<FinalRecord>(), 24);
        assert_eq!(size_of::<ProcSched>(), 8 + 32 + SCHED_BUCKETS * 8);
        assert_eq!(size_of::<CpuSlice>(), 16);
        assert_eq!(EXEC_FIXED_LEN, 56 + 24 + 16 + 24 + 48);
        assert_eq!(
            size_of::<KernelOffsets>(),
            (31 + 44 + 25 + 3 + MAX_SCOPES + 1) * 4 + MAX_SCOPES * 8
        );
    }
}
