//! The final context switch of a dead task (`sched_switch` with `prev_state` TASK_DEAD): by
//! then the scheduler has charged the task's last slice (the dequeue updated its runtime),
//! and the exit's teardown after `sched_process_exit` has run. For a group leader whose group
//! is dead this writes the process's total CPU time ([`FinalRecord`]), with which userspace
//! completes the exit record's CPU times. Every other switch returns at the first test, on
//! the tracepoint's own argument.

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use tracer_common::{counter, FinalRecord, RecordKind};

use crate::{
    as_bytes, emit,
    kernel::{field, field_ptr, leaves_scope, Errno},
    offset,
};

/// `TASK_DEAD`: the state of a task switched out for the last time.
const TASK_DEAD: u32 = 0x80;

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
/// unsigned int prev_state)`.
#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch_final(ctx: BtfTracePointContext) -> i32 {
    let prev_state: u64 = ctx.arg(3);
    if prev_state as u32 != TASK_DEAD {
        return 0;
    }
    // SAFETY: the tracepoint passes the task switched out; its fields are BTF-typed loads.
    let _ = unsafe { try_final(&ctx) };
    0
}

unsafe fn try_final(ctx: &BtfTracePointContext) -> Result<(), Errno> {
    let task: *const u8 = ctx.arg(1);
    let leader = field_ptr(task, offset!(task_group_leader))?;
    if leader != task {
        return Ok(());
    }
    let signal = field_ptr(task, offset!(task_signal))?;
    // The group is dead: the leader is the last of its threads (a leader that exited first
    // and waits for its threads has `live` above zero then, and is not reported).
    if field::<i32>(signal, offset!(signal_live)) != 0 || !leaves_scope(task, true) {
        return Ok(());
    }
    // Threads already released are summed in `signal`; the leader is added there when its
    // parent reaps it, which may already have happened (no threads left to release).
    let mut runtime: u64 = field(signal, offset!(signal_sum_sched_runtime));
    if field::<i32>(signal, offset!(signal_nr_threads)) > 0 {
        runtime = runtime.wrapping_add(field::<u64>(task, offset!(task_sum_exec_runtime)));
    }
    let record = FinalRecord {
        kind: RecordKind::Final as u8,
        _pad: [0; 3],
        pid: field(task, offset!(task_tgid)),
        start_boottime_ns: field(task, offset!(task_start_boottime)),
        runtime_ns: runtime,
    };
    emit(as_bytes(&record), counter::LOST_FINAL, false);
    Ok(())
}
