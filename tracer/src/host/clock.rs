//! Time bases: the kernel stamps records with CLOCK_BOOTTIME nanoseconds; users want seconds
//! since the epoch, and process identity uses psutil's `create_time` (boot time from
//! `/proc/stat` plus the start time in clock ticks).

use std::io;

/// Converts the kernel's boot-relative times into the forms users and psutil see.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// `btime` from /proc/stat: whole seconds since the epoch at boot (psutil's `boot_time()`).
    boot_time: f64,
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, USER_HZ).
    ticks_per_second: u64,
    /// CLOCK_REALTIME − CLOCK_BOOTTIME in nanoseconds, sampled once.
    realtime_offset_ns: i128,
}

impl Clock {
    /// Samples the system's clocks.
    #[cfg(native_linux)]
    pub fn new() -> io::Result<Self> {
        let stat = std::fs::read("/proc/stat")?;
        let boot_time = crate::platform::parse_btime(&stat).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/stat: {}", e.message()),
            )
        })?;
        let realtime = crate::platform::realtime_ns();
        let boottime = crate::platform::boottime_ns();
        Ok(Self {
            boot_time,
            ticks_per_second: crate::host::clock_ticks(),
            realtime_offset_ns: realtime - boottime,
        })
    }

    /// Samples the system's clocks: the boot time the `sysinfo` crate reports, in whole
    /// seconds; "boot-relative" times are then epoch times minus that boot time.
    #[cfg(not(native_linux))]
    pub fn new() -> io::Result<Self> {
        let boot_time = sysinfo::System::boot_time();
        if boot_time == 0 {
            return Err(io::Error::other("the system's boot time is unknown"));
        }
        Ok(Self {
            boot_time: boot_time as f64,
            ticks_per_second: crate::host::clock_ticks(),
            realtime_offset_ns: i128::from(boot_time) * 1_000_000_000,
        })
    }

    /// [`Clock::new`], or when the system's clocks cannot be read (no `/proc/stat`, say) a
    /// clock based at the epoch: times stay ordered and durations right, create times are then
    /// seconds since boot. For callers that must not fail ([`crate::Tracer::global`]).
    pub fn new_or_derived() -> Self {
        Self::new().unwrap_or(Self {
            boot_time: 0.0,
            ticks_per_second: crate::host::clock_ticks(),
            realtime_offset_ns: 0,
        })
    }

    /// Clock ticks since boot for a `start_boottime` in nanoseconds, rounded down exactly as
    /// the kernel does for field 22 of `/proc/PID/stat`.
    pub fn ticks_from_boot_ns(&self, ns: u64) -> u64 {
        ns / (1_000_000_000 / self.ticks_per_second)
    }

    /// psutil's `create_time()` for a start time in clock ticks since boot.
    pub fn create_time(&self, start_ticks: u64) -> f64 {
        start_ticks as f64 / self.ticks_per_second as f64 + self.boot_time
    }

    /// Seconds since the epoch for a CLOCK_BOOTTIME timestamp.
    pub fn epoch_seconds(&self, boot_ns: u64) -> f64 {
        (boot_ns as i128 + self.realtime_offset_ns) as f64 / 1e9
    }

    /// Current CLOCK_BOOTTIME in nanoseconds.
    #[cfg(native_linux)]
    pub fn now_boot_ns() -> u64 {
        crate::platform::boottime_ns() as u64
    }

    /// Nanoseconds since boot: the wall clock minus the boot time.
    #[cfg(not(native_linux))]
    pub fn now_boot_ns() -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let boot = u128::from(sysinfo::System::boot_time()) * 1_000_000_000;
        now.saturating_sub(boot) as u64
    }
}

#[cfg(all(test, native_linux))]
mod tests {
    use super::*;

    #[test]
    fn create_time_matches_proc_stat_of_this_process() {
        let clock = Clock::new().unwrap();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let ticks: u64 = after_comm.split(' ').nth(19).unwrap().parse().unwrap();
        let created = clock.create_time(ticks);
        let now = clock.epoch_seconds(Clock::now_boot_ns());
        assert!(
            created <= now + 1.0 && created > now - 600.0,
            "{created} vs {now}"
        );
    }
}
