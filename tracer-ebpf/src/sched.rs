//! Scheduler accounting (`tracer agent --sched`): per process, the time its threads run on a
//! CPU and the time they wait on a run queue before running, kept in maps — nothing goes
//! through the ring per switch. Loaded only on demand: the loader attaches this program only
//! with `--sched`.
//!
//! One program, on `sched_switch`, and no per-thread state of its own: the kernel already
//! notes when each task was queued (`sched_info.last_queued`, on wakeup or preemption — what
//! `/proc/PID/schedstat` sums) and the run queue's clock is current at the switch, so the
//! next task's wait is `rq->clock - last_queued`, read before the kernel folds it into its
//! own sum. The previous task's slice is `rq->clock_task` minus what it was at switch-in
//! (`CPU_SLICE`), the clock `sum_exec_runtime` advances by. The idle task is not accounted.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::{btf_tracepoint, map},
    maps::{HashMap, PerCpuArray},
    programs::BtfTracePointContext,
};
use tracer_common::{counter, CpuSlice, HostSched, ProcSched, SCHED_BUCKETS};

use crate::{
    count,
    kernel::{field, field_ptr, Errno},
    offset,
};

/// Per-process accounting by pid (tgid). Entries are made as processes first run and removed
/// by the exit program (which moves their summary into the exit record).
#[map]
pub(crate) static PROC_SCHED: HashMap<u32, ProcSched> =
    HashMap::with_max_entries(65536, BPF_F_NO_PREALLOC);

/// Each CPU's current slice.
#[map]
static CPU_SLICE: PerCpuArray<CpuSlice> = PerCpuArray::with_max_entries(1, 0);

/// Host-wide histograms, per CPU.
#[map]
static HOST_SCHED: PerCpuArray<HostSched> = PerCpuArray::with_max_entries(1, 0);

/// A zeroed [`ProcSched`] to insert new entries from (never written: copying it avoids
/// zeroing 300 bytes of stack byte by byte).
#[map]
static ZERO_SCHED: PerCpuArray<ProcSched> = PerCpuArray::with_max_entries(1, 0);

/// `PF_EXITING`: the task is exiting; it gets no new accounting entry.
const PF_EXITING: u32 = 0x4;

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, …)`.
#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint passes the two tasks; their fields are BTF-typed direct loads.
    let _ = unsafe { try_switch(&ctx) };
    0
}

unsafe fn try_switch(ctx: &BtfTracePointContext) -> Result<(), Errno> {
    let prev: *const u8 = ctx.arg(1);
    let next: *const u8 = ctx.arg(2);
    // This CPU's run queue, through the one `prev` runs on; `__schedule` has just updated
    // its clocks.
    let cfs_rq = field_ptr(prev, offset!(task_se_cfs_rq))?;
    let rq = field_ptr(cfs_rq, offset!(cfs_rq_rq))?;
    let clock: u64 = field(rq, offset!(rq_clock));
    let clock_task: u64 = field(rq, offset!(rq_clock_task));
    let slice = &mut *CPU_SLICE.get_ptr_mut(0).ok_or(-12)?;
    let host = &mut *HOST_SCHED.get_ptr_mut(0).ok_or(-12)?;

    // The slice that ends: the previous task's on-CPU time.
    let prev_tid: u32 = field(prev, offset!(task_pid));
    if prev_tid != 0 && slice.tid == prev_tid {
        let ran = clock_task.saturating_sub(slice.start_ns);
        host.slice_hist[bucket(ran)] += 1;
        host.slice_count += 1;
        host.slice_sum_ns += ran;
        if let Some(stats) = PROC_SCHED.get_ptr_mut(slice.tgid) {
            atomic_add(&mut (*stats).summary.oncpu_ns, ran);
        }
    }

    // The slice that starts: the next task's wait ends.
    let next_tid: u32 = field(next, offset!(task_pid));
    slice.start_ns = clock_task;
    slice.tid = next_tid;
    slice.tgid = 0;
    if next_tid == 0 {
        return Ok(());
    }
    let tgid: u32 = field(next, offset!(task_tgid));
    slice.tgid = tgid;
    let queued: u64 = field(next, offset!(task_last_queued));
    let waited = if queued != 0 && clock >= queued {
        let waited = clock - queued;
        host.runq_hist[bucket(waited)] += 1;
        host.runq_count += 1;
        host.runq_sum_ns += waited;
        Some(waited)
    } else {
        None
    };
    let Some(stats) = process_entry(next, tgid) else {
        return Ok(());
    };
    if let Some(waited) = waited {
        let stats = &mut *stats;
        atomic_add(&mut stats.summary.runq_count, 1);
        atomic_add(&mut stats.summary.runq_sum_ns, waited);
        atomic_add(&mut stats.runq_hist[bucket(waited)], 1);
        // Racy between CPUs, as a maximum may be: a lost race loses a near-equal value.
        if waited > stats.summary.runq_max_ns {
            stats.summary.runq_max_ns = waited;
        }
    }
    Ok(())
}

/// The process's entry, made (or remade, when its pid was reused) on its first run. None for
/// an exiting process (the exit program removed its entry already) or a full map.
#[inline(always)]
unsafe fn process_entry(task: *const u8, tgid: u32) -> Option<*mut ProcSched> {
    let leader = field_ptr(task, offset!(task_group_leader)).ok()?;
    let start: u64 = field(leader, offset!(task_start_boottime));
    if let Some(stats) = PROC_SCHED.get_ptr_mut(tgid) {
        if (*stats).start_boottime_ns == start {
            return Some(stats);
        }
        // Otherwise an earlier process with this pid, whose exit was not seen: start over.
    }
    if field::<u32>(task, offset!(task_flags)) & PF_EXITING != 0 {
        return None;
    }
    let zero = &*ZERO_SCHED.get_ptr(0)?;
    // Two threads of a new process may both get here: the later one starts it over, losing
    // at most the other's first sample.
    if PROC_SCHED.insert(tgid, zero, 0).is_err() {
        count(counter::SCHED_MAP_FULL);
        return None;
    }
    let stats = PROC_SCHED.get_ptr_mut(tgid)?;
    (*stats).start_boottime_ns = start;
    Some(stats)
}

/// Adds to a counter other CPUs may add to at the same time: BPF's atomic add (the target
/// has no compare-and-swap, so `AtomicU64::fetch_add` is not offered).
#[inline(always)]
unsafe fn atomic_add(counter: *mut u64, value: u64) {
    core::arch::asm!(
        "lock *(u64 *)({counter} + 0) += {value}",
        counter = in(reg) counter,
        value = in(reg) value,
        options(nostack),
    );
}

/// The log2 bucket of `ns`: `floor(log2(ns))`, 0 for 0 and 1, at most `SCHED_BUCKETS - 1`.
#[inline(always)]
fn bucket(ns: u64) -> usize {
    let mut v = ns;
    let mut b = 0usize;
    if v >= 1 << 32 {
        return SCHED_BUCKETS - 1;
    }
    if v >= 1 << 16 {
        v >>= 16;
        b += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        b += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        b += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        b += 2;
    }
    if v >= 1 << 1 {
        b += 1;
    }
    b & (SCHED_BUCKETS - 1)
}
