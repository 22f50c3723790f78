//! `sched_process_exec`: a process replaced its image. Reads the executable's path from the
//! `linux_binprm` and the full argv from the new image's stack, both bounded and flagged when cut,
//! packed one after the other so the record is only as long as what it carries.

use aya_ebpf::{
    helpers::{
        bpf_probe_read_kernel_str_bytes,
        generated::{bpf_probe_read_kernel_str, bpf_probe_read_user},
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use aya_log_ebpf::error;
use tracer_common::{
    counter, ExecRecord, RecordKind, ARGS_CAPTURE, EXEC_FIXED_LEN, EXEC_TAIL_CAPTURE, EXE_CAPTURE,
    EXE_COMPONENT_MAX, EXE_MAX_DEPTH, FLAG_ARGS_TRUNCATED, FLAG_ARGS_UNREADABLE,
    FLAG_EXE_AS_PASSED, FLAG_EXE_TRUNCATED, FLAG_INHERITED, FLAG_PLACED,
};

use crate::{
    as_bytes, count, emit,
    kernel::{
        enters_scope, field, field_ptr, header, inherits_placement, placement, placement_objects,
        read, read_ptr, Errno,
    },
    offset, EXEC_SCRATCH,
};

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint passes the task and its binprm; every dereference is a probe read.
    match unsafe { try_exec(&ctx) } {
        Ok(()) => 0,
        Err(errno) => {
            count(counter::READ_ERRORS);
            error!(&ctx, "exec: kernel read failed ({})", errno);
            0
        }
    }
}

unsafe fn try_exec(ctx: &BtfTracePointContext) -> Result<(), Errno> {
    let task: *const u8 = ctx.arg(0);
    let old_pid: u32 = ctx.arg(1);
    let bprm: *const u8 = ctx.arg(2);
    if !enters_scope(task) {
        return Ok(());
    }
    let record = &mut *EXEC_SCRATCH.get_ptr_mut(0).ok_or(-12)?;

    record.header = header(RecordKind::Exec, task)?;
    record.header.tid = old_pid;
    let cred = field_ptr(task, offset!(task_real_cred))?;
    record.uids = [
        field(cred, offset!(cred_uid)),
        field(cred, offset!(cred_euid)),
        field(cred, offset!(cred_suid)),
    ];
    record.gids = [
        field(cred, offset!(cred_gid)),
        field(cred, offset!(cred_egid)),
        field(cred, offset!(cred_sgid)),
    ];
    record._pad = 0;
    record.placement = Default::default();
    record.objects = [0; 3];
    if offset!(placement) != 0 {
        // An exec where its parent runs (the usual case: nothing moved or unshared between
        // the fork and the exec) sends only a token of it, as a fork does: userspace knows
        // the process's placement from its fork, or its parent's.
        let parent = field_ptr(task, offset!(task_real_parent))?;
        if let Ok(Some(objects)) = inherits_placement(parent, task) {
            record.objects = objects;
            record.header.flags |= FLAG_INHERITED;
        }
    }
    if offset!(placement) != 0 && record.header.flags & FLAG_INHERITED == 0 {
        match placement_objects(task).and_then(|objects| {
            record.objects = objects;
            placement(task, record.header.ppid)
        }) {
            Ok(ids) => {
                record.placement = ids;
                record.header.flags |= FLAG_PLACED;
            }
            Err(_) => count(counter::READ_ERRORS),
        }
    }

    // The executable file (for a script, its interpreter) as /proc/PID/exe shows it; if the
    // walk fails, the path as passed to execve.
    match exe_components(bprm, record) {
        Ok(truncated) => {
            if truncated {
                record.header.flags |= FLAG_EXE_TRUNCATED;
            }
        }
        Err(_) => {
            count(counter::READ_ERRORS);
            record.header.flags |= FLAG_EXE_AS_PASSED;
            let interp = read_ptr(bprm, offset!(bprm_interp))?;
            let len = match bpf_probe_read_kernel_str_bytes(interp, &mut record.tail[..EXE_CAPTURE])
            {
                Ok(path) => path.len(),
                Err(_) => 0,
            };
            record.exe_len = len as u32;
            if len == EXE_CAPTURE - 1 {
                record.header.flags |= FLAG_EXE_TRUNCATED;
            }
        }
    }

    // argv goes right after the path.
    let exe_len = (core::ptr::read_volatile(&record.exe_len) as usize).min(EXE_CAPTURE);
    let flags = copy_args(task, record, exe_len)?;
    if flags & FLAG_ARGS_TRUNCATED != 0 {
        count(counter::ARGS_TRUNCATED);
    }
    if flags & FLAG_ARGS_UNREADABLE != 0 {
        count(counter::READ_ERRORS);
    }
    record.header.flags |= flags;
    let len = record.args_len;

    let size = EXEC_FIXED_LEN + exe_len + (len as usize & (2 * ARGS_CAPTURE - 1)).min(ARGS_CAPTURE);
    const _: () = assert!(EXEC_TAIL_CAPTURE == EXE_CAPTURE + ARGS_CAPTURE);
    let bytes = as_bytes(record);
    emit(&bytes[..size.min(bytes.len())], counter::LOST_EXEC, false);
    Ok(())
}

/// Copies argv, which lives between `mm->arg_start` and `mm->arg_end` of the new image, into
/// `record.tail` at `at` (right after the path), at most [`ARGS_CAPTURE`] bytes; sets
/// `args_len` and `args_total`. Returns the `FLAG_ARGS_*` bits to set (the caller counts them).
#[inline(always)]
pub(crate) unsafe fn copy_args(
    task: *const u8,
    record: &mut ExecRecord,
    at: usize,
) -> Result<u8, Errno> {
    let mut flags = 0;
    let mm = field_ptr(task, offset!(task_mm))?;
    let arg_start: u64 = field(mm, offset!(mm_arg_start));
    let arg_end: u64 = field(mm, offset!(mm_arg_end));
    let total = arg_end.saturating_sub(arg_start);
    let mut len = if total > ARGS_CAPTURE as u64 {
        flags |= FLAG_ARGS_TRUNCATED;
        ARGS_CAPTURE as u32
    } else {
        total as u32
    };
    record.args_total = total.min(u32::MAX as u64) as u32;
    if len > 0
        && bpf_probe_read_user(
            record.tail.as_mut_ptr().wrapping_add(at).cast(),
            len,
            arg_start as *const core::ffi::c_void,
        ) != 0
    {
        flags |= FLAG_ARGS_UNREADABLE;
        len = 0;
    }
    record.args_len = len;
    Ok(flags)
}

/// State of the path walk between steps.
#[repr(C)]
struct PathWalk {
    dentry: *const u8,
    vfsmount: *const u8,
    mount: *const u8,
    /// `vfsmount->mnt_root`, read once per mount.
    root: *const u8,
    /// [`WALK_RUNNING`] until the callback ends the walk.
    state: u64,
}

const WALK_RUNNING: u64 = 0;
const WALK_DONE: u64 = 1;
const WALK_TRUNCATED: u64 = 2;
const WALK_FAILED: u64 = 3;

/// Writes the path of `bprm->file` at the start of `tail` as NUL-terminated components, leaf first, by
/// walking dentries up to each mount's root and crossing to the parent mount, as the kernel's
/// d_path does. Sets `exe_len` to the bytes written; returns whether the walk stopped before
/// the root.
#[inline(always)]
pub(crate) unsafe fn exe_components(
    bprm: *const u8,
    record: &mut ExecRecord,
) -> Result<bool, Errno> {
    record.exe_len = 0;
    let file = field_ptr(bprm, offset!(bprm_file))?;
    let vfsmount = field_ptr(file, offset!(file_vfsmount))?;
    let mut walk = PathWalk {
        dentry: field_ptr(file, offset!(file_dentry))?,
        vfsmount,
        mount: vfsmount.wrapping_sub(offset!(mount_vfsmount) as usize),
        root: field_ptr(vfsmount, offset!(vfsmount_root))?,
        state: WALK_RUNNING,
    };
    for index in 0..EXE_MAX_DEPTH {
        if walk_step(index as u64, (&mut walk as *mut PathWalk).cast()) != 0 {
            break;
        }
    }
    match walk.state {
        WALK_DONE => Ok(false),
        WALK_FAILED => Err(-14),
        _ => Ok(true), // out of space or of iterations
    }
}

/// One step of the path walk: a mount crossing or one component. Returns 1 to stop.
#[inline(always)]
unsafe fn walk_step(_index: u64, context: *mut core::ffi::c_void) -> i64 {
    let walk = &mut *context.cast::<PathWalk>();
    let end = |walk: &mut PathWalk, state: u64| {
        walk.state = state;
        1
    };
    if walk.dentry == walk.root {
        let Ok(parent) = read_ptr(walk.mount, offset!(mount_parent)) else {
            return end(walk, WALK_FAILED);
        };
        if parent == walk.mount {
            return end(walk, WALK_DONE); // the root of the mount tree
        }
        let Ok(mountpoint) = read_ptr(walk.mount, offset!(mount_mountpoint)) else {
            return end(walk, WALK_FAILED);
        };
        walk.dentry = mountpoint;
        walk.mount = parent;
        walk.vfsmount = parent.wrapping_add(offset!(mount_vfsmount) as usize);
        walk.root = match read_ptr(walk.vfsmount, offset!(vfsmount_root)) {
            Ok(root) => root,
            Err(_) => return end(walk, WALK_FAILED),
        };
        return 0;
    }
    let Ok((parent, name)) = parent_and_name(walk.dentry) else {
        return end(walk, WALK_FAILED);
    };
    if parent == walk.dentry {
        return end(walk, WALK_DONE); // a filesystem root that is not mounted here
    }
    let Some(record) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return end(walk, WALK_FAILED);
    };
    // The position lives in the record, not in a register: the verifier then treats it as
    // unknown at each step and prunes, instead of tracking every possible value.
    let pos = core::ptr::read_volatile(&(*record).exe_len) as usize;
    if pos > EXE_CAPTURE - EXE_COMPONENT_MAX {
        return end(walk, WALK_TRUNCATED);
    }
    let copied = bpf_probe_read_kernel_str(
        (*record)
            .tail
            .as_mut_ptr()
            .wrapping_add(pos & (EXE_CAPTURE - 1))
            .cast(),
        EXE_COMPONENT_MAX as u32,
        name.cast(),
    );
    if copied <= 0 {
        return end(walk, WALK_FAILED);
    }
    core::ptr::write_volatile(&mut (*record).exe_len, (pos + copied as usize) as u32);
    walk.dentry = parent;
    0
}

/// `dentry->d_parent` and `dentry->d_name.name` (the walk's dentries are not BTF-typed loads:
/// helper reads). Where the kernel lays them out close together (`d_parent`, then the qstr
/// `d_name` whose `name` follows its hash: 16 bytes apart on 6.x), one read of 32 bytes takes
/// both.
#[inline(always)]
unsafe fn parent_and_name(dentry: *const u8) -> Result<(*const u8, *const u8), Errno> {
    // `dentry_name` is the offset of `d_name.name`.
    let name_at = offset!(dentry_name);
    let parent_at = offset!(dentry_parent);
    if name_at > parent_at && name_at - parent_at <= 24 && (name_at - parent_at) % 8 == 0 {
        let words: [u64; 4] = read(dentry, parent_at)?;
        let parent = words[0] as *const u8;
        let name = words[((name_at - parent_at) / 8) as usize & 3] as *const u8;
        if parent.is_null() || name.is_null() {
            return Err(-14); // EFAULT
        }
        return Ok((parent, name));
    }
    Ok((read_ptr(dentry, parent_at)?, read_ptr(dentry, name_at)?))
}
