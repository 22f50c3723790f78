//! `sched_process_exit`: reported once per process, when its last thread exits.

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use aya_log_ebpf::error;
use tracer_common::{counter, ExitRecord, RecordKind};

use crate::{
    as_bytes, count, emit,
    kernel::{field, field_ptr, header, Errno},
    offset,
};

/// `sched_process_exit(struct task_struct *p)`, and on Linux 6.16+ `(…, bool group_dead)`.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint passes the exiting task; every dereference is a probe read.
    match unsafe { try_exit(&ctx) } {
        Ok(()) => 0,
        Err(errno) => {
            count(counter::READ_ERRORS);
            error!(&ctx, "exit: kernel read failed ({})", errno);
            0
        }
    }
}

unsafe fn try_exit(ctx: &BtfTracePointContext) -> Result<(), Errno> {
    let task: *const u8 = ctx.arg(0);
    let group_dead = if offset!(exit_has_group_dead) != 0 {
        ctx.arg::<u64>(1) & 0xff != 0
    } else {
        // Older kernels: the last thread has already dropped `signal->live` to zero.
        let signal = field_ptr(task, offset!(task_signal))?;
        field::<i32>(signal, offset!(signal_live)) == 0
    };
    if !group_dead {
        count(counter::THREADS_EXITED);
        return Ok(());
    }
    let record = ExitRecord {
        header: header(RecordKind::Exit, task)?,
        exit_code: field(task, offset!(task_exit_code)),
        _pad: 0,
    };
    emit(
        as_bytes(&record),
        counter::LOST_EXIT,
        crate::exit_is_awaited(),
    );
    Ok(())
}
