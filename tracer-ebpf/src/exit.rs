//! `sched_process_exit`: reported once per process, when its last thread exits, with the
//! process's final resource usage summed over its thread group.

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use aya_log_ebpf::error;
use core::ptr::addr_of_mut;

use tracer_common::{
    counter, ExitRecord, ExitSchedRecord, RecordHeader, RecordKind, SchedSummary, Usage,
    USAGE_CORE, USAGE_FOLD_SEQ, USAGE_MAX_THREADS, USAGE_SCHED, USAGE_THREADS,
    USAGE_THREADS_PARTIAL,
};

use crate::{
    as_bytes, count, emit,
    kernel::{field, field_ptr, header, leaves_scope, read, read_ptr, Errno},
    offset,
    sched::PROC_SCHED,
    wakeup_flags, EVENTS,
};

/// `sched_process_exit(struct task_struct *p)`, and on Linux 6.16+ `(…, bool group_dead)`.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint passes the exiting task; BTF-typed fields are loaded directly
    // (checked by the verifier), other threads' fields with probe reads.
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
    let signal = field_ptr(task, offset!(task_signal))?;
    let group_dead = if offset!(exit_has_group_dead) != 0 {
        ctx.arg::<u64>(1) & 0xff != 0
    } else {
        // Older kernels: the last thread has already dropped `signal->live` to zero.
        field::<i32>(signal, offset!(signal_live)) == 0
    };
    if !group_dead {
        count(counter::THREADS_EXITED);
        return Ok(());
    }
    let header = header(RecordKind::Exit, task)?;
    let exit_code = field(task, offset!(task_exit_code));
    // Taken out of its map whatever becomes of the record: the entry goes with the process.
    let sched = final_sched(header.pid, header.start_boottime_ns);
    if !leaves_scope(task, false) {
        return Ok(());
    }
    let fields = offset!(usage_fields);
    if fields & USAGE_CORE == 0 {
        // This kernel lacks the usage fields: the record without its usage part.
        let record = ExitHead {
            header,
            exit_code,
            usage_fields: 0,
        };
        emit(
            as_bytes(&record),
            counter::LOST_EXIT,
            crate::exit_is_awaited(),
        );
        return Ok(());
    }
    // Written straight into the ring: no copy of the record on the stack, and no zeroing of
    // it first (every byte is written).
    if offset!(sched) != 0 {
        let flags = wakeup_flags(size_of::<ExitSchedRecord>(), crate::exit_is_awaited());
        let Some(mut entry) = EVENTS.reserve::<ExitSchedRecord>(0) else {
            count(counter::LOST_EXIT);
            return Ok(());
        };
        let out = entry.as_mut_ptr();
        let summary = sched.unwrap_or(SchedSummary {
            oncpu_ns: 0,
            runq_count: 0,
            runq_sum_ns: 0,
            runq_max_ns: 0,
        });
        addr_of_mut!((*out).sched).write(summary);
        let reported = write_exit(addr_of_mut!((*out).exit), header, exit_code, task, signal);
        let reported = if sched.is_some() {
            reported | USAGE_SCHED
        } else {
            reported
        };
        addr_of_mut!((*out).exit.usage_fields).write(reported);
        entry.submit(flags);
        return Ok(());
    }
    let flags = wakeup_flags(size_of::<ExitRecord>(), crate::exit_is_awaited());
    let Some(mut entry) = EVENTS.reserve::<ExitRecord>(0) else {
        count(counter::LOST_EXIT);
        return Ok(());
    };
    let out = entry.as_mut_ptr();
    let reported = write_exit(out, header, exit_code, task, signal);
    addr_of_mut!((*out).usage_fields).write(reported);
    entry.submit(flags);
    Ok(())
}

/// Writes the record's header, code and usage; returns the `USAGE_*` bits for its
/// `usage_fields` (left for the caller to write).
#[inline(always)]
unsafe fn write_exit(
    out: *mut ExitRecord,
    header: RecordHeader,
    exit_code: u32,
    task: *const u8,
    signal: *const u8,
) -> u32 {
    addr_of_mut!((*out).header).write(header);
    addr_of_mut!((*out).exit_code).write(exit_code);
    read_usage(
        task,
        signal,
        offset!(usage_fields),
        addr_of_mut!((*out).usage),
    )
}

/// With scheduler accounting on: the process's final on-CPU time and run-queue summary,
/// taken out of `PROC_SCHED` (the entry goes with the process).
#[inline(always)]
unsafe fn final_sched(tgid: u32, start_boottime_ns: u64) -> Option<SchedSummary> {
    if offset!(sched) == 0 {
        return None;
    }
    let stats = PROC_SCHED.get_ptr(tgid)?;
    let summary = ((*stats).start_boottime_ns == start_boottime_ns).then(|| (*stats).summary);
    let _ = PROC_SCHED.remove(tgid);
    summary
}

/// The part of an [`ExitRecord`] before its usage.
#[repr(C)]
struct ExitHead {
    header: RecordHeader,
    exit_code: u32,
    usage_fields: u32,
}

const _: () = assert!(size_of::<ExitHead>() == tracer_common::EXIT_FIXED_LEN);

/// Sums the group's usage: `signal_struct` holds what threads already released left there
/// (`__exit_signal` folds a thread in when it is reaped, which for this last thread happens
/// after this tracepoint), each thread still listed holds its own. The peak RSS is final
/// already: `do_exit` raised `signal->maxrss` to the mm's high-water mark before the
/// tracepoint. Returns the `USAGE_*` bits of what `out` holds.
#[inline(always)]
pub(crate) unsafe fn read_usage(
    task: *const u8,
    signal: *const u8,
    fields: u32,
    out: *mut Usage,
) -> u32 {
    out.write(Usage {
        utime_ns: field(task, offset!(task_utime)),
        stime_ns: field(task, offset!(task_stime)),
        runtime_ns: field(task, offset!(task_sum_exec_runtime)),
        prev_utime_ns: field(signal, offset!(signal_prev_utime)),
        prev_stime_ns: field(signal, offset!(signal_prev_stime)),
        cutime_ns: field(signal, offset!(signal_cutime)),
        cstime_ns: field(signal, offset!(signal_cstime)),
        nvcsw: field(task, offset!(task_nvcsw)),
        nivcsw: field(task, offset!(task_nivcsw)),
        min_flt: field(task, offset!(task_min_flt)),
        maj_flt: field(task, offset!(task_maj_flt)),
        maxrss_pages: field(signal, offset!(signal_maxrss)),
        rchar: field(task, offset!(task_rchar)),
        wchar: field(task, offset!(task_wchar)),
        syscr: field(task, offset!(task_syscr)),
        syscw: field(task, offset!(task_syscw)),
        read_bytes: field(task, offset!(task_read_bytes)),
        write_bytes: field(task, offset!(task_write_bytes)),
    });
    // SAFETY: written just above.
    let usage = &mut *out;
    // What threads already released left in `signal_struct`. Its stats seqcount moves each
    // time one is folded in: still zero, nothing was (the usual single-threaded process) and
    // those counters are zero — not worth their cache lines.
    let folded =
        fields & USAGE_FOLD_SEQ == 0 || field::<u32>(signal, offset!(signal_stats_seq)) != 0;
    if folded {
        let add = |total: &mut u64, offset: u32| {
            *total = total.wrapping_add(field::<u64>(signal, offset));
        };
        add(&mut usage.utime_ns, offset!(signal_utime));
        add(&mut usage.stime_ns, offset!(signal_stime));
        add(&mut usage.runtime_ns, offset!(signal_sum_sched_runtime));
        add(&mut usage.nvcsw, offset!(signal_nvcsw));
        add(&mut usage.nivcsw, offset!(signal_nivcsw));
        add(&mut usage.min_flt, offset!(signal_min_flt));
        add(&mut usage.maj_flt, offset!(signal_maj_flt));
        add(&mut usage.rchar, offset!(signal_rchar));
        add(&mut usage.wchar, offset!(signal_wchar));
        add(&mut usage.syscr, offset!(signal_syscr));
        add(&mut usage.syscw, offset!(signal_syscw));
        add(&mut usage.read_bytes, offset!(signal_read_bytes));
        add(&mut usage.write_bytes, offset!(signal_write_bytes));
    }
    let mut reported = fields;
    // Other threads not yet reaped: ones still on their way out, or a leader that exited
    // first and waits as a zombie for the group. Almost always none.
    if fields & USAGE_THREADS != 0
        && field::<i32>(signal, offset!(signal_nr_threads)) > 1
        && !add_other_threads(task, signal, usage)
    {
        reported |= USAGE_THREADS_PARTIAL;
    }
    reported
}

/// Adds the counters of every thread on `signal->thread_head` except `task`. Their
/// addresses come from list links (not BTF-typed), so these are probe reads. Returns `false`
/// when the walk stopped early (too many threads, or a failed read).
#[inline(always)]
unsafe fn add_other_threads(task: *const u8, signal: *const u8, usage: &mut Usage) -> bool {
    let head = signal.wrapping_add(offset!(signal_thread_head) as usize);
    let Ok(mut node) = read_ptr(head, offset!(list_next)) else {
        return false;
    };
    // The exiting thread is on the list too: one more step than the threads it adds.
    for _ in 0..=USAGE_MAX_THREADS {
        if node == head {
            return true;
        }
        let thread = node.wrapping_sub(offset!(task_thread_node) as usize);
        if thread != task && add_thread(thread, usage).is_err() {
            return false;
        }
        node = match read_ptr(node, offset!(list_next)) {
            Ok(next) => next,
            Err(_) => return false,
        };
    }
    node == head
}

/// Adds one thread's own counters.
#[inline(always)]
unsafe fn add_thread(thread: *const u8, usage: &mut Usage) -> Result<(), Errno> {
    let add = |total: &mut u64, offset: u32| -> Result<(), Errno> {
        *total = total.wrapping_add(read::<u64>(thread, offset)?);
        Ok(())
    };
    add(&mut usage.utime_ns, offset!(task_utime))?;
    add(&mut usage.stime_ns, offset!(task_stime))?;
    add(&mut usage.runtime_ns, offset!(task_sum_exec_runtime))?;
    add(&mut usage.nvcsw, offset!(task_nvcsw))?;
    add(&mut usage.nivcsw, offset!(task_nivcsw))?;
    add(&mut usage.min_flt, offset!(task_min_flt))?;
    add(&mut usage.maj_flt, offset!(task_maj_flt))?;
    add(&mut usage.rchar, offset!(task_rchar))?;
    add(&mut usage.wchar, offset!(task_wchar))?;
    add(&mut usage.syscr, offset!(task_syscr))?;
    add(&mut usage.syscw, offset!(task_syscw))?;
    add(&mut usage.read_bytes, offset!(task_read_bytes))?;
    add(&mut usage.write_bytes, offset!(task_write_bytes))?;
    Ok(())
}
