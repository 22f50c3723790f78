//! tracer's kernel programs: one BTF-enabled tracepoint (tp_btf) per process lifecycle hook,
//! each writing a compact record into the `EVENTS` ring buffer.
//!
//! No kernel structure offset is compiled in: userspace resolves them from the running kernel's
//! BTF and sets the read-only global `OFFSETS` before loading (see `tracer::ebpf::btf`).
//! Anything that is not written — ring full, unreadable field — is counted in `COUNTERS`.
#![no_std]
#![no_main]
// BPF's atomic add, for counters several CPUs update (`sched`).
#![feature(asm_experimental_arch)]

mod exec;
mod exit;
mod final_time;
mod floor;
mod fork;
mod kernel;
mod sched;

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    macros::map,
    maps::{Array, PerCpuArray, RingBuf},
};
use tracer_common::{control, counter, ExecRecord, KernelOffsets};

/// Kernel field offsets and settings, set by userspace at load time.
#[no_mangle]
static OFFSETS: KernelOffsets = KernelOffsets::zeroed();

/// Lifecycle records for userspace. Its size is set by userspace at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// Per-CPU loss and truncation counters, indexed by `tracer_common::counter`.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Settings userspace changes while the programs run, indexed by `tracer_common::control`:
/// whether someone waits for an exit, whether the consumer sleeps without a timer.
#[map]
static CONTROL: Array<u32> = Array::with_max_entries(control::COUNT, 0);

/// Whether exit records should wake the consumer at once.
#[inline(always)]
pub(crate) fn exit_is_awaited() -> bool {
    CONTROL
        .get(control::EXIT_AWAITED)
        .is_some_and(|waiters| *waiters != 0)
}

/// Whether the consumer sleeps without a timer, waiting for the first record of a batch.
/// Clears the flag: the record about to be written wakes it (several CPUs may each see it
/// set, and each wakes it: harmless).
#[inline(always)]
fn take_consumer_asleep() -> bool {
    let Some(flag) = CONTROL.get_ptr_mut(control::CONSUMER_ASLEEP) else {
        return false;
    };
    // SAFETY: a slot of an array map; userspace and other CPUs only ever store whole words.
    unsafe {
        if core::ptr::read_volatile(flag) == 0 {
            return false;
        }
        core::ptr::write_volatile(flag, 0);
    }
    true
}

/// Per-CPU scratch space for building an exec record (too large for the 512-byte stack).
#[map]
static EXEC_SCRATCH: PerCpuArray<ExecRecord> = PerCpuArray::with_max_entries(1, 0);

/// Reads one field of `OFFSETS`. The volatile read keeps the compiler from folding in the
/// compile-time zeros; the verifier still sees the frozen value and prunes dead branches.
macro_rules! offset {
    ($field:ident) => {
        // SAFETY: reading a field of a static; volatile only to defeat constant folding.
        unsafe { core::ptr::read_volatile(&$crate::OFFSETS.$field) }
    };
}
pub(crate) use offset;

/// Adds one to a per-CPU counter.
#[inline(always)]
pub(crate) fn count(index: u32) {
    if let Some(value) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, programs on one CPU do not preempt each other mid-update.
        unsafe { *value += 1 };
    }
}

/// Writes `bytes` into the ring, waking the consumer as [`wakeup_flags`] decides. On a full
/// ring the loss is counted in `lost_counter`.
#[inline(always)]
pub(crate) fn emit(bytes: &[u8], lost_counter: u32, urgent: bool) {
    if EVENTS
        .output::<[u8]>(bytes, wakeup_flags(bytes.len(), urgent))
        .is_err()
    {
        count(lost_counter);
    }
}

/// The flags for committing `len` more bytes to the ring. The consumer is woken by the first
/// record of a batch (it sleeps without a timer when its last drain found the ring empty),
/// by an `urgent` record, or once `wakeup_bytes` are waiting; otherwise it is batching on its
/// own timer and the record waits for it. So an idle host costs no wake-ups and a storm one
/// per batch, not one per record.
#[inline(always)]
pub(crate) fn wakeup_flags(len: usize, urgent: bool) -> u64 {
    // The consumer only sleeps once it found the ring empty, and the first record written
    // after that finds it empty too: only such a record looks at (and clears) the flag, so a
    // batch's other records do not touch its cache line. Checked before `urgent`, so a record
    // that wakes the consumer anyway also ends its sleep.
    let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    if (pending == 0 && take_consumer_asleep())
        || urgent
        || pending + len as u64 >= offset!(wakeup_bytes) as u64
    {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

/// Views a plain `#[repr(C)]` record as bytes.
#[inline(always)]
pub(crate) fn as_bytes<T>(record: &T) -> &[u8] {
    // SAFETY: records are plain data with explicit padding, fully initialised.
    unsafe { core::slice::from_raw_parts((record as *const T).cast::<u8>(), size_of::<T>()) }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 4] = *b"GPL\0";
