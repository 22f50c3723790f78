//! A one-shot timer on a `timerfd`, awaited in tokio: it wakes its thread once, at its time.
//!
//! Hand-written around `rustix`'s timerfd because tokio's own timers cost a second wake-up
//! past 64 ms: its wheel files a 100 ms sleep in a level of 64 ms slots, wakes at the start of
//! that slot to move it down a level, and wakes again at its time. On this kind of VM a thread's
//! wake-up costs tens of µs of CPU, and the event source sleeps 100 ms per batch under load
//! (issue 17's bench: the feed thread woke twice per batch, once for nothing).

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A `CLOCK_MONOTONIC` timerfd registered with the current tokio runtime.
#[derive(Debug)]
pub(crate) struct OneShot {
    fd: AsyncFd<OwnedFd>,
}

impl OneShot {
    /// Creates the timer, disarmed. Must be called within a tokio runtime with I/O enabled.
    pub(crate) fn new() -> io::Result<OneShot> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: the OwnedFd is moved into the AsyncFd and never replaced: it stays open and
        // the same until the AsyncFd drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(OneShot { fd })
    }

    /// Sleeps for `duration` (at least a nanosecond: a zero time would disarm the timer).
    /// Cancel-safe: a sleep dropped before its time leaves the timer armed, and the next
    /// `sleep` re-arms it (which resets its count), so a stale expiry ends no later sleep.
    pub(crate) async fn sleep(&self, duration: Duration) -> io::Result<()> {
        let duration = duration.max(Duration::from_nanos(1));
        let value = Timespec {
            tv_sec: duration.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: duration.subsec_nanos().into(),
        };
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        timerfd_settime(
            self.fd.get_ref(),
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: zero,
                it_value: value,
            },
        )?;
        loop {
            let mut guard = self.fd.readable().await?;
            // The expiry count (8 bytes); a readiness left from an earlier, re-armed expiry
            // reads nothing and is cleared.
            match guard.try_io(|fd| {
                let mut count = [0u8; 8];
                rustix::io::read(fd.get_ref(), &mut count).map_err(io::Error::from)
            }) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn sleeps_about_as_long_as_asked_and_rearms() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let timer = OneShot::new().expect("timerfd");
            let begun = Instant::now();
            timer.sleep(Duration::from_millis(30)).await.expect("sleep");
            assert!(begun.elapsed() >= Duration::from_millis(30));
            // Cancelled before its time: the next sleep is not ended by the old expiry.
            let cancelled = tokio::time::timeout(
                Duration::from_millis(5),
                timer.sleep(Duration::from_millis(20)),
            )
            .await;
            assert!(cancelled.is_err(), "a 20 ms sleep cannot end within 5 ms");
            std::thread::sleep(Duration::from_millis(30)); // the old expiry fires meanwhile
            let begun = Instant::now();
            timer.sleep(Duration::from_millis(40)).await.expect("sleep");
            assert!(
                begun.elapsed() >= Duration::from_millis(40),
                "the stale expiry ended a later sleep early"
            );
            // Zero is a nanosecond, not a disarmed timer that never fires.
            tokio::time::timeout(Duration::from_secs(5), timer.sleep(Duration::ZERO))
                .await
                .expect("a zero sleep ends")
                .expect("sleep");
        });
    }
}
