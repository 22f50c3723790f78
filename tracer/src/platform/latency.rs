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
#[cfg(native_linux)]
const SLICE_NS: u64 = 100_000;

/// Gives the calling thread a short fair-class slice, so that it runs soon after it is woken.
/// Threads it creates afterwards inherit it. A thread with a real-time or idle policy, or a
/// kernel that refuses, is left as it is.
#[cfg(native_linux)]
pub fn prompt_wakeups() {
    if let Err(e) = crate::platform::set_fair_slice(SLICE_NS) {
        tracing::debug!("cannot shorten this thread's slice: {e}");
    }
}

#[cfg(all(test, native_linux))]
mod tests {
    #[test]
    fn keeps_the_policy_and_nice_value() {
        std::thread::spawn(|| {
            let read = || {
                (
                    crate::platform::sched_policy_and_nice().unwrap(),
                    rustix::process::getpriority_process(None).unwrap(),
                )
            };
            let before = read();
            super::prompt_wakeups();
            assert_eq!(before, read());
        })
        .join()
        .unwrap();
    }
}

/// Elsewhere (and in the portable build) the scheduler has no per-thread slice to ask for:
/// nothing to do.
#[cfg(not(native_linux))]
pub fn prompt_wakeups() {}
