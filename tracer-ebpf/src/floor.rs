//! Programs attached only to measure floors (`tracer events --kernel-stats --kernel-floor`),
//! next to the lifecycle programs on the same tracepoints:
//! - `floor_process_*` do nothing: what the kernel's run-time statistics count for any
//!   program there (the entry into BPF and the time stamps around the run);
//! - `floor_record_*` do the least a program that reports the event must do: the record's
//!   header (the clock, the task's ids and name) and a ring reservation of the record's fixed
//!   size, which they discard (the consumer skips it).
//!
//! The bench states each lifecycle program's cost as a ratio to these, measured in the same
//! run.

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP, macros::btf_tracepoint, programs::BtfTracePointContext,
};
use tracer_common::{RecordHeader, RecordKind, EXEC_FIXED_LEN, FORK_INHERITED_LEN};

use crate::{kernel::header, EVENTS};

/// Nothing on `sched_process_fork`.
#[btf_tracepoint(function = "sched_process_fork")]
pub fn floor_process_fork(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// Nothing on `sched_process_exec`.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn floor_process_exec(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// Nothing on `sched_process_exit`.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn floor_process_exit(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// A fork's header in a discarded record of an inherited fork's size (the child: argument 1).
#[btf_tracepoint(function = "sched_process_fork")]
pub fn floor_record_fork(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: argument 1 is the child task; its fields are BTF-typed loads.
    unsafe { least_record::<FORK_INHERITED_LEN>(RecordKind::Fork, ctx.arg(1)) };
    0
}

/// An exec's header in a discarded record of an exec's fixed size.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn floor_record_exec(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: argument 0 is the task; its fields are BTF-typed loads.
    unsafe { least_record::<EXEC_FIXED_LEN>(RecordKind::Exec, ctx.arg(0)) };
    0
}

/// An exit's header in a discarded record of an exit's size with its usage.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn floor_record_exit(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: argument 0 is the task; its fields are BTF-typed loads.
    unsafe {
        least_record::<{ size_of::<tracer_common::ExitRecord>() }>(RecordKind::Exit, ctx.arg(0))
    };
    0
}

/// Reserves `LEN` bytes, writes `task`'s header at their start and discards them.
#[inline(always)]
unsafe fn least_record<const LEN: usize>(kind: RecordKind, task: *const u8) {
    let Ok(header) = header(kind, task) else {
        return;
    };
    if let Some(mut entry) = EVENTS.reserve::<[u8; LEN]>(0) {
        entry
            .as_mut_ptr()
            .cast::<RecordHeader>()
            .write_unaligned(header);
        entry.discard(BPF_RB_NO_WAKEUP as u64);
    }
}
