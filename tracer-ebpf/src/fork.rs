//! `sched_process_fork`: a new process. Thread creation (CLONE_THREAD) is counted, not reported.

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use aya_log_ebpf::error;
use tracer_common::{
    counter, ForkRecord, PlacementIds, RecordKind, FLAG_INHERITED, FLAG_PLACED, FORK_INHERITED_LEN,
};

use crate::{
    as_bytes, count, emit,
    kernel::{
        enters_scope, field, inherits_placement, placement, placement_objects, untimed_header,
        Errno,
    },
    offset,
};

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)`.
#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: the tracepoint passes two task pointers; every dereference is a probe read.
    match unsafe { try_fork(&ctx) } {
        Ok(()) => 0,
        Err(errno) => {
            count(counter::READ_ERRORS);
            error!(&ctx, "fork: kernel read failed ({})", errno);
            0
        }
    }
}

unsafe fn try_fork(ctx: &BtfTracePointContext) -> Result<(), Errno> {
    let parent: *const u8 = ctx.arg(0);
    let child: *const u8 = ctx.arg(1);
    let tid: u32 = field(child, offset!(task_pid));
    let tgid: u32 = field(child, offset!(task_tgid));
    if tid != tgid {
        count(counter::THREADS_CREATED);
        return Ok(());
    }
    if !enters_scope(child) {
        return Ok(());
    }
    let mut record = ForkRecord {
        header: untimed_header(RecordKind::Fork, child)?,
        parent_pid: field(parent, offset!(task_tgid)),
        _pad: 0,
        objects: [0; 3],
        placement: PlacementIds::default(),
    };
    // The child has not run yet: the thread that forked is the parent task. The fork
    // happened when the child started.
    record.header.tid = field(parent, offset!(task_pid));
    record.header.time_ns = record.header.start_boottime_ns;
    if offset!(placement) != 0 {
        // A fork shares its parent's cgroup set and namespaces unless clone flags said
        // otherwise: then only a token of them goes out (userspace knows the rest from the
        // parent), and the record is as short as it was before placements.
        if let Ok(Some(objects)) = inherits_placement(parent, child) {
            record.objects = objects;
            record.header.flags |= FLAG_INHERITED;
            let bytes = as_bytes(&record);
            emit(&bytes[..FORK_INHERITED_LEN], counter::LOST_FORK, false);
            return Ok(());
        }
        match placement_objects(child).and_then(|objects| {
            record.objects = objects;
            placement(child, record.header.ppid)
        }) {
            Ok(ids) => {
                record.placement = ids;
                record.header.flags |= FLAG_PLACED;
            }
            Err(_) => count(counter::READ_ERRORS),
        }
    }
    emit(as_bytes(&record), counter::LOST_FORK, false);
    Ok(())
}
