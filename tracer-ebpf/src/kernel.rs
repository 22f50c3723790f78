//! Reading kernel structures at offsets resolved from BTF, and the header every record shares.

use aya_ebpf::helpers::{bpf_ktime_get_boot_ns, bpf_probe_read_kernel};
use tracer_common::{RecordHeader, RecordKind, COMM_LEN};

use crate::offset;

/// A kernel error code from a failed helper call.
pub type Errno = i32;

/// Reads a `T` at `base + offset` from kernel memory.
#[inline(always)]
pub unsafe fn read<T>(base: *const u8, offset: u32) -> Result<T, Errno> {
    bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>())
}

/// Reads a pointer at `base + offset`, failing on NULL.
#[inline(always)]
pub unsafe fn read_ptr(base: *const u8, offset: u32) -> Result<*const u8, Errno> {
    let ptr: *const u8 = read(base, offset)?;
    if ptr.is_null() {
        Err(-14) // EFAULT
    } else {
        Ok(ptr)
    }
}

/// The header fields of the process that `task` belongs to: pid is its tgid, identity is its
/// group leader's start time, ppid its real parent's tgid, uid and gid its real credentials.
#[inline(always)]
pub unsafe fn header(kind: RecordKind, task: *const u8) -> Result<RecordHeader, Errno> {
    let leader = read_ptr(task, offset!(task_group_leader))?;
    let parent = read_ptr(task, offset!(task_real_parent))?;
    let cred = read_ptr(task, offset!(task_real_cred))?;
    Ok(RecordHeader {
        kind: kind as u8,
        flags: 0,
        _pad: [0; 2],
        pid: read(task, offset!(task_tgid))?,
        ppid: read(parent, offset!(task_tgid))?,
        tid: read(task, offset!(task_pid))?,
        uid: read(cred, offset!(cred_uid))?,
        gid: read(cred, offset!(cred_gid))?,
        time_ns: bpf_ktime_get_boot_ns(),
        start_boottime_ns: read(leader, offset!(task_start_boottime))?,
        comm: read::<[u8; COMM_LEN]>(leader, offset!(task_comm))?,
    })
}
