//! Programs attached only to measure floors (`tracer events --kernel-stats --kernel-floor`),
//! next to the lifecycle programs on the same tracepoints:
//! - `floor_process_*` do nothing: what the kernel's run-time statistics count for any
//!   program there (the entry into BPF and the time stamps around the run);
//! - `floor_record_*` do the least a program that reports the event must do: the record's
//!   header (the clock, the task's ids and name) and a ring reservation of the record's fixed
//!   size, which they discard (the consumer skips it);
//! - `floor_reads_*` add to that exactly the reads of the event's data the lifecycle program
//!   makes (the same functions): for an exec the path walk and the argv copy, for an exit the
//!   usage reads — the least a tracer reporting those fields must do; `floor_path_exec` and
//!   `floor_argv_exec` add only one of the exec's two, to tell their shares apart.
//!
//! They are attached before the lifecycle programs, `floor_reads_*` first on its tracepoint:
//! it finds the caches as the lifecycle program alone would and pays the misses of the data
//! both read (on this VM most of an exec's and an exit's cost); the others run after it on
//! warm caches, what each costs in instructions. The bench states each lifecycle program's
//! cost (measured alone) as a ratio to these, measured in the same run.

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP, macros::btf_tracepoint, programs::BtfTracePointContext,
};
use core::ptr::addr_of_mut;
use tracer_common::{
    ExitRecord, RecordHeader, RecordKind, EXEC_FIXED_LEN, EXE_CAPTURE, FORK_INHERITED_LEN,
    USAGE_CORE,
};

use crate::{
    exec::{copy_args, exe_components},
    exit::read_usage,
    kernel::{field_ptr, header},
    offset, EVENTS, EXEC_SCRATCH,
};

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

/// [`floor_record_exec`] and the exec's path walk, into the exec's scratch record (the
/// lifecycle program is done with it).
#[btf_tracepoint(function = "sched_process_exec")]
pub fn floor_path_exec(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: as `sched_process_exec`: the task and its binprm.
    unsafe { exec_reads(&ctx, true, false) };
    0
}

/// [`floor_record_exec`] and the exec's argv copy from the new image's memory.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn floor_argv_exec(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: as `sched_process_exec`.
    unsafe { exec_reads(&ctx, false, true) };
    0
}

/// [`floor_record_exec`] with both of the exec's reads: the path walk and the argv copy.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn floor_reads_exec(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: as `sched_process_exec`.
    unsafe { exec_reads(&ctx, true, true) };
    0
}

/// [`floor_record_exit`] with the exit's usage reads written into the discarded record.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn floor_reads_exit(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: argument 0 is the task; its fields are BTF-typed loads, other threads' are
    // probe reads (as in `sched_process_exit`).
    unsafe { exit_reads(ctx.arg(0)) };
    0
}

/// The header, then (as the lifecycle program does) the path walk and the argv copy into the
/// scratch record, then a discarded ring record of the exec's fixed size.
#[inline(always)]
unsafe fn exec_reads(ctx: &BtfTracePointContext, path: bool, argv: bool) {
    let task: *const u8 = ctx.arg(0);
    let bprm: *const u8 = ctx.arg(2);
    let Ok(header) = header(RecordKind::Exec, task) else {
        return;
    };
    let Some(record) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let record = &mut *record;
    let mut at = 0;
    if path && exe_components(bprm, record).is_ok() {
        at = (core::ptr::read_volatile(&record.exe_len) as usize).min(EXE_CAPTURE);
    }
    if argv {
        let _ = copy_args(task, record, at);
    }
    discarded::<EXEC_FIXED_LEN>(header);
}

/// The header and the usage (when this kernel has its fields) in a discarded exit record.
#[inline(always)]
unsafe fn exit_reads(task: *const u8) {
    let Ok(signal) = field_ptr(task, offset!(task_signal)) else {
        return;
    };
    let Ok(header) = header(RecordKind::Exit, task) else {
        return;
    };
    let Some(mut entry) = EVENTS.reserve::<ExitRecord>(0) else {
        return;
    };
    let out = entry.as_mut_ptr();
    addr_of_mut!((*out).header).write(header);
    let fields = offset!(usage_fields);
    if fields & USAGE_CORE != 0 {
        let reported = read_usage(task, signal, fields, addr_of_mut!((*out).usage));
        addr_of_mut!((*out).usage_fields).write(reported);
    }
    entry.discard(BPF_RB_NO_WAKEUP as u64);
}

/// Reserves `LEN` bytes, writes `task`'s header at their start and discards them.
#[inline(always)]
unsafe fn least_record<const LEN: usize>(kind: RecordKind, task: *const u8) {
    if let Ok(header) = header(kind, task) {
        discarded::<LEN>(header);
    }
}

/// Reserves `LEN` bytes, writes `header` at their start and discards them.
#[inline(always)]
unsafe fn discarded<const LEN: usize>(header: RecordHeader) {
    if let Some(mut entry) = EVENTS.reserve::<[u8; LEN]>(0) {
        entry
            .as_mut_ptr()
            .cast::<RecordHeader>()
            .write_unaligned(header);
        entry.discard(BPF_RB_NO_WAKEUP as u64);
    }
}
