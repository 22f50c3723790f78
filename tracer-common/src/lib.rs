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
}

impl RecordKind {
    /// Decodes the first byte of a record.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Fork),
            2 => Some(Self::Exec),
            3 => Some(Self::Exit),
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
}

/// The last thread of a process exited.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitRecord {
    /// Identity of the process that ended.
    pub header: RecordHeader,
    /// The raw wait status (`task_struct::exit_code`): `(status << 8) | core << 7 | signal`.
    pub exit_code: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
}

/// A process replaced its image with execve/execveat.
///
/// Only the first `EXEC_FIXED_LEN + args_len` bytes of the record are written into the ring:
/// `args` is variable-sized.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecRecord {
    /// Identity of the process (after a non-leader thread execs, the pid is the tgid).
    pub header: RecordHeader,
    /// Real, effective and saved user ids.
    pub uids: [u32; 3],
    /// Real, effective and saved group ids.
    pub gids: [u32; 3],
    /// Bytes of `args` that hold argv (NUL-separated, as in /proc/PID/cmdline).
    pub args_len: u32,
    /// Full length of argv in the new image, which exceeds `args_len` when truncated.
    pub args_total: u32,
    /// Bytes of `exe` that hold the path (without NUL).
    pub exe_len: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
    /// The executable file's path (for scripts: the interpreter's), resolved by walking its
    /// dentries and mounts up to the root, as `/proc/PID/exe` shows it: the components
    /// leaf first, each NUL-terminated (`true\0bin\0usr\0` is `/usr/bin/true`).
    pub exe: [u8; EXE_CAPTURE],
    /// argv as NUL-separated bytes, `args_len` of them valid.
    pub args: [u8; ARGS_CAPTURE],
}

/// Bytes of an [`ExecRecord`] before its variable-sized `args`.
pub const EXEC_FIXED_LEN: usize = core::mem::size_of::<ExecRecord>() - ARGS_CAPTURE;

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
    /// Number of counters.
    pub const COUNT: u32 = 7;
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
    /// 1 when the `sched_process_exit` tracepoint passes `group_dead` (Linux 6.16+); otherwise
    /// the exit program decides from `signal_struct::live`.
    pub exit_has_group_dead: u32,
    /// Ring-buffer wake-up threshold in bytes: below it records are written without waking the
    /// consumer, which drains on its own timer.
    pub wakeup_bytes: u32,
}

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<RecordHeader>(), 56);
        assert_eq!(size_of::<ForkRecord>(), 56 + 8);
        assert_eq!(size_of::<ExitRecord>(), 56 + 8);
        assert_eq!(EXEC_FIXED_LEN, 56 + 24 + 16 + EXE_CAPTURE);
        assert_eq!(size_of::<KernelOffsets>(), 31 * 4);
    }
}
