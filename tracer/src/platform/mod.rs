//! The platform layer for syscalls: every call into the operating system that `/proc` and
//! `std` do not cover goes through here, on `rustix` (and `nix` where rustix has no wrapper:
//! passwd/group lookups, `getifaddrs`, `sysconf`, the signal mask). Errors keep their errno
//! (`io::Error::raw_os_error`), so callers tell EMFILE from ESRCH from ENOENT.
//!
//! Raw calls remain only where neither crate has a safe wrapper (`ioprio_{get,set}`,
//! `sched_{get,set}attr`, the growing `sched_getaffinity` mask psutil uses, the interface
//! ioctls, `localtime_r`, the utmpx calls, `malloc_trim`/`mallopt`/`mallinfo2`), each with a
//! `// SAFETY:`.

pub mod latency;

#[cfg(unix)]
mod id;
#[cfg(native_linux)]
mod linux;
#[cfg(native_linux)]
mod net;
#[cfg(unix)]
mod process;
#[cfg(target_os = "linux")]
mod socket;
#[cfg(unix)]
mod time;
#[cfg(native_linux)]
pub(crate) mod timer;
#[cfg(native_linux)]
mod utmp;

#[cfg(unix)]
pub(crate) use id::*;
#[cfg(native_linux)]
pub(crate) use linux::*;
#[cfg(native_linux)]
pub(crate) use net::*;
#[cfg(unix)]
pub(crate) use process::*;
#[cfg(target_os = "linux")]
pub(crate) use socket::*;
#[cfg(unix)]
pub(crate) use time::*;
#[cfg(native_linux)]
pub(crate) use utmp::*;

/// The `btime` line of `/proc/stat`: whole seconds since the epoch at boot, as psutil reads it
/// (`float(line.split()[1])`). The one parser of it (the procfs reader, the system readers and
/// the clock use it).
#[cfg(native_linux)]
pub(crate) fn parse_btime(stat: &[u8]) -> Result<f64, BtimeError> {
    let line = stat
        .split(|&b| b == b'\n')
        .find(|line| line.starts_with(b"btime"))
        .ok_or(BtimeError::Missing)?;
    line.split(|b| b.is_ascii_whitespace())
        .filter(|field| !field.is_empty())
        .nth(1)
        .and_then(|field| std::str::from_utf8(field).ok())
        .and_then(|field| field.parse::<f64>().ok())
        .ok_or(BtimeError::Malformed)
}

/// Why `/proc/stat` gave no boot time.
#[cfg(native_linux)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BtimeError {
    /// No `btime` line.
    Missing,
    /// A `btime` line without a number.
    Malformed,
}

#[cfg(native_linux)]
impl BtimeError {
    /// The message the readers have always given.
    pub(crate) fn message(self) -> &'static str {
        match self {
            BtimeError::Missing => "line 'btime' not found",
            BtimeError::Malformed => "malformed btime line",
        }
    }
}

#[cfg(all(test, native_linux))]
mod tests {
    use super::*;

    #[test]
    fn btime() {
        assert_eq!(
            parse_btime(b"cpu  1 2\nctxt 9\nbtime 1700000000\nprocesses 5\n"),
            Ok(1_700_000_000.0)
        );
        assert_eq!(parse_btime(b"cpu  1 2\n"), Err(BtimeError::Missing));
        assert_eq!(parse_btime(b"btime\n"), Err(BtimeError::Malformed));
        assert_eq!(parse_btime(b"btime x\n"), Err(BtimeError::Malformed));
    }
}
