//! Clocks and local time: `clock_gettime` through `rustix`; `localtime_r` through libc, which
//! has no safe wrapper and is the one reader of the system's time-zone rules psutil's users
//! see (`time.localtime`).

use std::mem::MaybeUninit;

/// `CLOCK_REALTIME` in nanoseconds since the epoch.
#[cfg(native_linux)]
pub(crate) fn realtime_ns() -> i128 {
    timespec_ns(rustix::time::clock_gettime(rustix::time::ClockId::Realtime))
}

/// `CLOCK_BOOTTIME` in nanoseconds (time since boot, suspend included): the kernel's stamps.
#[cfg(native_linux)]
pub(crate) fn boottime_ns() -> i128 {
    timespec_ns(rustix::time::clock_gettime(rustix::time::ClockId::Boottime))
}

#[cfg(native_linux)]
fn timespec_ns(ts: rustix::time::Timespec) -> i128 {
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Local wall-clock hour, minute and second of an epoch time (`localtime_r`).
pub(crate) fn local_time_of_day(epoch_seconds: i64) -> Option<(u32, u32, u32)> {
    let secs = libc::time_t::try_from(epoch_seconds).ok()?;
    let mut tm = MaybeUninit::<libc::tm>::uninit();
    // SAFETY: `secs` is a valid time_t and `tm` a writable tm; localtime_r is thread-safe.
    if unsafe { libc::localtime_r(&secs, tm.as_mut_ptr()) }.is_null() {
        return None;
    }
    // SAFETY: localtime_r returned non-null, so it filled every field of `tm`.
    let tm = unsafe { tm.assume_init() };
    Some((tm.tm_hour as u32, tm.tm_min as u32, tm.tm_sec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_in_range() {
        let (h, m, s) = local_time_of_day(1_700_000_000).unwrap();
        assert!(h < 24 && m < 60 && s < 61);
        // Zones are offset by whole minutes or more: the seconds are the epoch's.
        assert_eq!(s, 20);
    }

    #[cfg(native_linux)]
    #[test]
    fn clocks_advance() {
        let (real, boot) = (realtime_ns(), boottime_ns());
        assert!(real > 1_600_000_000 * 1_000_000_000i128);
        assert!(boot > 0 && boot < real);
        assert!(boottime_ns() >= boot);
    }
}
