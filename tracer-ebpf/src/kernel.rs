//! Reading kernel structures at offsets resolved from BTF, and the header every record shares.

use aya_ebpf::helpers::{bpf_ktime_get_boot_ns, bpf_probe_read_kernel};
use tracer_common::{RecordHeader, RecordKind, COMM_LEN};

use crate::offset;

/// A kernel error code from a failed helper call.
pub type Errno = i32;

/// Loads a `T` at `base + offset` directly. Only for BTF-typed pointers (the tracepoint's
/// arguments and pointers loaded from them): the verifier checks the access against the
/// kernel's BTF and turns it into a fault-tolerant load, far cheaper than a helper call.
#[inline(always)]
pub unsafe fn field<T>(base: *const u8, offset: u32) -> T {
    core::ptr::read_volatile(base.wrapping_add(offset as usize).cast::<T>())
}

/// Loads a pointer field directly (as [`field`]), failing on NULL.
#[inline(always)]
pub unsafe fn field_ptr(base: *const u8, offset: u32) -> Result<*const u8, Errno> {
    let ptr: *const u8 = field(base, offset);
    if ptr.is_null() {
        Err(-14) // EFAULT
    } else {
        Ok(ptr)
    }
}

/// Reads a `T` at `base + offset` from kernel memory with a helper call: for addresses that
/// are not BTF-typed (computed, or read from untyped memory).
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
    let leader = field_ptr(task, offset!(task_group_leader))?;
    let parent = field_ptr(task, offset!(task_real_parent))?;
    let cred = field_ptr(task, offset!(task_real_cred))?;
    Ok(RecordHeader {
        kind: kind as u8,
        flags: 0,
        _pad: [0; 2],
        pid: field(task, offset!(task_tgid)),
        ppid: field(parent, offset!(task_tgid)),
        tid: field(task, offset!(task_pid)),
        uid: field(cred, offset!(cred_uid)),
        gid: field(cred, offset!(cred_gid)),
        time_ns: bpf_ktime_get_boot_ns(),
        start_boottime_ns: field(leader, offset!(task_start_boottime)),
        comm: comm(leader),
    })
}

/// `task_struct::comm`, loaded as two 8-byte words instead of sixteen single bytes.
#[inline(always)]
unsafe fn comm(task: *const u8) -> [u8; COMM_LEN] {
    let words: [u64; COMM_LEN / 8] = [
        field(task, offset!(task_comm)),
        field(task, offset!(task_comm) + 8),
    ];
    // SAFETY: two u64 are sixteen bytes; any bytes are a valid [u8; 16].
    core::mem::transmute::<[u64; COMM_LEN / 8], [u8; COMM_LEN]>(words)
}
