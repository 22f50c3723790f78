//! Prompt wake-ups for the threads on `wait`'s path.
//!
//! A process's exit is reported by the kernel program from the exiting task itself, before the
//! kernel tears down its memory (`exit_mm`), which takes about a millisecond for a Python
//! process on this machine kind. The thread woken by the report (the feed, then the waiter,
//! then the agent's writer and the `tracer wait` client) is often placed on the exiting task's
//! CPU, and with the default fair-class slice it does not preempt the exiting task: it runs
//! only once the teardown is over, after the exit is already visible to the process's parent.
//! A short slice makes the kernel's EEVDF scheduler (Linux 6.12+) preempt the current task
//! for such a wake-up at its next preemption point. It changes when a thread runs, not its
//! share of the CPU, and it needs no privilege; older kernels ignore it.

/// The fair-class slice asked for: the kernel's minimum (100 µs).
#[cfg(target_os = "linux")]
const SLICE_NS: u64 = 100_000;

/// Gives the calling thread a short fair-class slice, so that it runs soon after it is woken.
/// Threads it creates afterwards inherit it. A thread with a real-time or idle policy, or a
/// kernel that refuses, is left as it is.
#[cfg(target_os = "linux")]
pub fn prompt_wakeups() {
    const SCHED_OTHER: u32 = libc::SCHED_OTHER as u32;
    const SCHED_BATCH: u32 = libc::SCHED_BATCH as u32;
    let size = std::mem::size_of::<libc::sched_attr>() as u32;
    // SAFETY: sched_attr is plain data.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, writable sched_attr of `size` bytes; pid 0 is the calling thread.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut libc::sched_attr,
            size,
            0,
        )
    };
    if got != 0 || !matches!(attr.sched_policy, SCHED_OTHER | SCHED_BATCH) {
        return;
    }
    // Everything else (policy, nice, reset-on-fork) as it was.
    attr.size = size;
    attr.sched_runtime = SLICE_NS;
    // SAFETY: a valid sched_attr; pid 0 is the calling thread.
    let set = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const libc::sched_attr,
            0,
        )
    };
    if set != 0 {
        tracing::debug!(
            "cannot shorten this thread's slice: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_policy_and_nice_value() {
        std::thread::spawn(|| {
            // SAFETY: plain calls on the calling thread.
            let before = unsafe {
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            };
            super::prompt_wakeups();
            let after = unsafe {
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            };
            assert_eq!(before, after);
        })
        .join()
        .unwrap();
    }
}

/// Elsewhere the scheduler has no per-thread slice to ask for: nothing to do.
#[cfg(not(target_os = "linux"))]
pub fn prompt_wakeups() {}
