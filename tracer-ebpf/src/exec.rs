//! `sched_process_exec`: a process replaced its image. Reads the executable's path from the
//! `linux_binprm` and the full argv from the new image's stack, both bounded and flagged when cut.

use aya_ebpf::{
    helpers::{bpf_probe_read_kernel_str_bytes, generated::bpf_probe_read_user},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use aya_log_ebpf::error;
use tracer_common::{
    counter, RecordKind, ARGS_CAPTURE, EXEC_FIXED_LEN, EXE_CAPTURE, FLAG_ARGS_TRUNCATED,
    FLAG_ARGS_UNREADABLE, FLAG_EXE_TRUNCATED,
};

use crate::{
    as_bytes, count, emit,
    kernel::{header, read, read_ptr, Errno},
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
    let record = &mut *EXEC_SCRATCH.get_ptr_mut(0).ok_or(-12)?;

    record.header = header(RecordKind::Exec, task)?;
    record.header.tid = old_pid;
    let cred = read_ptr(task, offset!(task_real_cred))?;
    record.uids = [
        read(cred, offset!(cred_uid))?,
        read(cred, offset!(cred_euid))?,
        read(cred, offset!(cred_suid))?,
    ];
    record.gids = [
        read(cred, offset!(cred_gid))?,
        read(cred, offset!(cred_egid))?,
        read(cred, offset!(cred_sgid))?,
    ];
    record._pad = 0;

    // The executable: `interp` is the filename, or the interpreter a script named.
    let interp = read_ptr(bprm, offset!(bprm_interp))?;
    let exe_len = match bpf_probe_read_kernel_str_bytes(interp, &mut record.exe) {
        Ok(path) => path.len(),
        Err(_) => 0,
    };
    record.exe_len = exe_len as u32;
    if exe_len == EXE_CAPTURE - 1 && read::<u8>(interp, (EXE_CAPTURE - 1) as u32)? != 0 {
        record.header.flags |= FLAG_EXE_TRUNCATED;
    }

    // argv lives between mm->arg_start and mm->arg_end of the new image.
    let mm = read_ptr(task, offset!(task_mm))?;
    let arg_start: u64 = read(mm, offset!(mm_arg_start))?;
    let arg_end: u64 = read(mm, offset!(mm_arg_end))?;
    let total = arg_end.saturating_sub(arg_start);
    let mut len = if total > ARGS_CAPTURE as u64 {
        record.header.flags |= FLAG_ARGS_TRUNCATED;
        count(counter::ARGS_TRUNCATED);
        ARGS_CAPTURE as u32
    } else {
        total as u32
    };
    record.args_total = total.min(u32::MAX as u64) as u32;
    if len > 0
        && bpf_probe_read_user(
            record.args.as_mut_ptr().cast(),
            len,
            arg_start as *const core::ffi::c_void,
        ) != 0
    {
        record.header.flags |= FLAG_ARGS_UNREADABLE;
        count(counter::READ_ERRORS);
        len = 0;
    }
    record.args_len = len;

    let size = EXEC_FIXED_LEN + (len as usize & (2 * ARGS_CAPTURE - 1)).min(ARGS_CAPTURE);
    let bytes = as_bytes(record);
    emit(&bytes[..size.min(bytes.len())], counter::LOST_EXEC);
    Ok(())
}
