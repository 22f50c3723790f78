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
mod fork;
mod kernel;
mod sched;

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    macros::map,
    maps::{Array, PerCpuArray, RingBuf},
};
use tracer_common::{counter, ExecRecord, KernelOffsets};

/// Kernel field offsets and settings, set by userspace at load time.
#[no_mangle]
static OFFSETS: KernelOffsets = KernelOffsets::zeroed();

/// Lifecycle records for userspace. Its size is set by userspace at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// Per-CPU loss and truncation counters, indexed by `tracer_common::counter`.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Settings userspace changes while the programs run: index 0 is non-zero while someone waits
/// for an exit, and exit records then wake the consumer at once.
#[map]
static CONTROL: Array<u32> = Array::with_max_entries(1, 0);

/// Whether exit records should wake the consumer at once.
#[inline(always)]
pub(crate) fn exit_is_awaited() -> bool {
    CONTROL.get(0).is_some_and(|waiters| *waiters != 0)
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

/// Writes `bytes` into the ring. Wakes the consumer only once `wakeup_bytes` are waiting (or
/// when `urgent`), so a storm costs one wake-up per batch, not per record; userspace drains on
/// a timer as well, so the tail is never stranded. On a full ring the loss is counted in
/// `lost_counter`.
#[inline(always)]
pub(crate) fn emit(bytes: &[u8], lost_counter: u32, urgent: bool) {
    if EVENTS
        .output::<[u8]>(bytes, wakeup_flags(bytes.len(), urgent))
        .is_err()
    {
        count(lost_counter);
    }
}

/// The flags for committing `len` more bytes to the ring: wake the consumer only once
/// `wakeup_bytes` are waiting, or when `urgent`.
#[inline(always)]
pub(crate) fn wakeup_flags(len: usize, urgent: bool) -> u64 {
    let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    if urgent || pending + len as u64 >= offset!(wakeup_bytes) as u64 {
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
