//! Reading kernel structures at offsets resolved from BTF, and the header every record shares.

use aya_ebpf::helpers::{bpf_ktime_get_boot_ns, bpf_probe_read_kernel};
use tracer_common::{
    PlacementIds, PlacementObjects, RecordHeader, RecordKind, COMM_LEN, MAX_SCOPES,
};

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
    let mut header = untimed_header(kind, task)?;
    header.time_ns = bpf_ktime_get_boot_ns();
    Ok(header)
}

/// [`header`] without its time (`time_ns` zero), for a record whose time the kernel already
/// took: a fork happened when its child started (`start_boottime`, on the same clock), which
/// saves a clock read.
#[inline(always)]
pub unsafe fn untimed_header(kind: RecordKind, task: *const u8) -> Result<RecordHeader, Errno> {
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
        time_ns: 0,
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

/// The [`PlacementObjects`] of `task`. (Only compared and copied: the verifier allows no
/// arithmetic on these pointers.)
#[inline(always)]
pub unsafe fn placement_objects(task: *const u8) -> Result<PlacementObjects, Errno> {
    let cred = field_ptr(task, offset!(task_real_cred))?;
    Ok([
        field(task, offset!(task_cgroups)),
        field(task, offset!(task_nsproxy)),
        field(cred, offset!(cred_user_ns)),
    ])
}

/// `task`'s placement objects when it runs where `parent` does — same cgroup set, nsproxy
/// and user namespace, in the initial PID namespace (where its ids are the global ones): then
/// its placement is its parent's, which userspace knows, and none of it is read here.
#[inline(always)]
pub unsafe fn inherits_placement(
    parent: *const u8,
    task: *const u8,
) -> Result<Option<PlacementObjects>, Errno> {
    let pid = field_ptr(task, offset!(task_thread_pid))?;
    if field::<u32>(pid, offset!(pid_level)) != 0 {
        return Ok(None);
    }
    let mine = placement_objects(task)?;
    let theirs = placement_objects(parent)?;
    Ok((mine[0] == theirs[0] && mine[1] == theirs[1] && mine[2] == theirs[2]).then_some(mine))
}

/// Deepest PID namespace level the kernel allows (MAX_PID_NS_LEVEL).
const MAX_PID_NS_LEVEL: u32 = 32;

/// `ns.inum` of the namespace `nsproxy` points at with the pointer at `ptr_offset`.
#[inline(always)]
unsafe fn ns_inum(owner: *const u8, ptr_offset: u32, inum_offset: u32) -> Result<u32, Errno> {
    Ok(field(field_ptr(owner, ptr_offset)?, inum_offset))
}

/// Where the process `task` (a thread-group leader) runs: its cgroup v2 id, its namespaces,
/// and its pid and its parent's in its own PID namespace — what `/proc/PID/cgroup`,
/// `/proc/PID/ns/*` and `/proc/PID/status` (`NSpid`) show. The host's processes (PID
/// namespace level 0) take direct loads only; deeper levels index the pid's `numbers` with
/// helper reads (a variable offset cannot be loaded directly).
#[inline(always)]
pub unsafe fn placement(task: *const u8, ppid: u32) -> Result<PlacementIds, Errno> {
    let cgroups = field_ptr(task, offset!(task_cgroups))?;
    let cgroup = field_ptr(cgroups, offset!(css_set_dfl_cgrp))?;
    let kn = field_ptr(cgroup, offset!(cgroup_kn))?;
    let nsproxy = field_ptr(task, offset!(task_nsproxy))?;
    let cred = field_ptr(task, offset!(task_real_cred))?;
    let mut ids = PlacementIds {
        cgroup_id: field(kn, offset!(kernfs_node_id)),
        namespaces: [
            0,
            ns_inum(nsproxy, offset!(nsproxy_mnt), offset!(mnt_ns_inum))?,
            ns_inum(nsproxy, offset!(nsproxy_net), offset!(net_ns_inum))?,
            ns_inum(cred, offset!(cred_user_ns), offset!(user_ns_inum))?,
            ns_inum(nsproxy, offset!(nsproxy_uts), offset!(uts_ns_inum))?,
            ns_inum(nsproxy, offset!(nsproxy_ipc), offset!(ipc_ns_inum))?,
            ns_inum(nsproxy, offset!(nsproxy_cgroup), offset!(cgroup_ns_inum))?,
        ],
        vpid: 0,
        vppid: 0,
        _pad: 0,
    };
    let pid = field_ptr(task, offset!(task_thread_pid))?;
    let level: u32 = field(pid, offset!(pid_level));
    if level == 0 {
        // The initial PID namespace: the ids are the global ones.
        ids.vpid = field(pid, offset!(pid_numbers) + offset!(upid_nr));
        let ns = field_ptr(pid, offset!(pid_numbers) + offset!(upid_ns))?;
        ids.namespaces[0] = field(ns, offset!(pid_ns_inum));
        ids.vppid = ppid;
        return Ok(ids);
    }
    if level > MAX_PID_NS_LEVEL {
        return Err(-22); // EINVAL
    }
    let numbers = offset!(pid_numbers) + level * offset!(upid_size);
    ids.vpid = read(pid, numbers + offset!(upid_nr))?;
    let ns = read_ptr(pid, numbers + offset!(upid_ns))?;
    ids.namespaces[0] = read(ns, offset!(pid_ns_inum))?;
    // The parent shows in the namespace when its pid reaches that level there (pid_nr_ns).
    let parent = field_ptr(task, offset!(task_real_parent))?;
    let leader = field_ptr(parent, offset!(task_group_leader))?;
    let parent_pid = field_ptr(leader, offset!(task_thread_pid))?;
    let parent_level: u32 = field(parent_pid, offset!(pid_level));
    if parent_level >= level {
        let parent_ns = read_ptr(parent_pid, numbers + offset!(upid_ns))?;
        if parent_ns == ns {
            ids.vppid = read(parent_pid, numbers + offset!(upid_nr))?;
        }
    }
    Ok(ids)
}

/// Processes followed under scoped tracing, by pid, with their start time (pids are reused):
/// a process seen in scope at its fork or exec is followed to its end even after it moves to
/// a cgroup outside the scope, so that its exit (and final CPU time) is not lost. Bounded: the
/// least recently used entry goes first; untouched when tracing is not scoped.
#[aya_ebpf::macros::map]
static FOLLOWED: aya_ebpf::maps::LruHashMap<u32, u64> =
    aya_ebpf::maps::LruHashMap::with_max_entries(65536, 0);

/// [`in_scope`] at a fork or an exec: a process in scope now is remembered as followed
/// ([`FOLLOWED`]); one that left the scope after being followed stays followed.
#[inline(always)]
pub unsafe fn enters_scope(task: *const u8) -> bool {
    let count = offset!(scope_count);
    if count == 0 {
        return true;
    }
    let (pid, start) = process_key(task);
    if scope_contains(task, count).unwrap_or(true) {
        let _ = FOLLOWED.insert(&pid, &start, 0);
        return true;
    }
    is_followed(pid, start)
}

/// Whether the exit (or the final CPU time, `forget`ting it then) of `task`'s process goes
/// out: in scope now, or followed since a fork or exec in scope.
#[inline(always)]
pub unsafe fn leaves_scope(task: *const u8, forget: bool) -> bool {
    let count = offset!(scope_count);
    if count == 0 {
        return true;
    }
    let (pid, start) = process_key(task);
    let followed = is_followed(pid, start);
    if forget && followed {
        let _ = FOLLOWED.remove(&pid);
    }
    followed || scope_contains(task, count).unwrap_or(true)
}

/// The process's pid and start time (its leader's), as records carry them.
#[inline(always)]
unsafe fn process_key(task: *const u8) -> (u32, u64) {
    let pid = field(task, offset!(task_tgid));
    let start = match field_ptr(task, offset!(task_group_leader)) {
        Ok(leader) => field(leader, offset!(task_start_boottime)),
        Err(_) => 0,
    };
    (pid, start)
}

#[inline(always)]
unsafe fn is_followed(pid: u32, start: u64) -> bool {
    FOLLOWED.get(&pid).is_some_and(|known| *known == start)
}

/// Whether `task`'s process is in scope (scoped tracing on, `scope_count` > 0): its cgroup v2
/// lies in one of the scope subtrees — the scope cgroup is its ancestor at the scope's level (`cgroup->ancestors[level]`, as `cgroup_is_descendant`
/// checks). A failed read counts as in scope (the record goes out; the read is counted).
#[inline(always)]
unsafe fn scope_contains(task: *const u8, count: u32) -> Result<bool, Errno> {
    let cgroups = field_ptr(task, offset!(task_cgroups))?;
    let cgroup = field_ptr(cgroups, offset!(css_set_dfl_cgrp))?;
    let level: u32 = field(cgroup, offset!(cgroup_level));
    for index in 0..MAX_SCOPES {
        if index as u32 >= count {
            break;
        }
        // Reads of the frozen global, volatile as in `offset!`.
        let scope_level = core::ptr::read_volatile(&crate::OFFSETS.scope_levels[index]);
        if scope_level > level {
            continue;
        }
        let scope_id = core::ptr::read_volatile(&crate::OFFSETS.scope_ids[index]);
        // A variable index: helper reads (the array's entries are not BTF-typed loads).
        let ancestor = read_ptr(cgroup, offset!(cgroup_ancestors) + (scope_level & 0xff) * 8)?;
        let kn = read_ptr(ancestor, offset!(cgroup_kn))?;
        if read::<u64>(kn, offset!(kernfs_node_id))? == scope_id {
            return Ok(true);
        }
    }
    Ok(false)
}
