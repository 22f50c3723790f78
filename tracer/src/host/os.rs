//! What the operating system answers beside the process reader: users, signals, children's
//! exit statuses, local time. On Linux and the other Unixes the calls are
//! `crate::platform`'s; Windows has no uids and no signals but termination, and says so
//! ([`Unsupported`]) rather than pretend.

use std::io;

/// A call this platform cannot make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not available on this platform")]
pub struct Unsupported(pub &'static str);

/// The signal numbers the commands send (Linux's numbers where the platform has none).
#[cfg(unix)]
pub mod signals {
    /// Kill.
    pub const SIGKILL: i32 = libc::SIGKILL;
    /// Terminate.
    pub const SIGTERM: i32 = libc::SIGTERM;
    /// Stop.
    pub const SIGSTOP: i32 = libc::SIGSTOP;
    /// Continue.
    pub const SIGCONT: i32 = libc::SIGCONT;
}

/// The signal numbers the commands send (Linux's numbers where the platform has none).
#[cfg(not(unix))]
pub mod signals {
    /// Kill.
    pub const SIGKILL: i32 = 9;
    /// Terminate.
    pub const SIGTERM: i32 = 15;
    /// Stop.
    pub const SIGSTOP: i32 = 19;
    /// Continue.
    pub const SIGCONT: i32 = 18;
}

/// This process's real uid; `None` where there are no uids (Windows).
pub fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(crate::platform::uid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// This process's effective uid; `None` where there are no uids (Windows).
pub fn effective_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(crate::platform::euid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The uid of a user name (the passwd database); `None` when unknown or on Windows.
pub fn uid_of_user(user: &str) -> Option<u32> {
    #[cfg(unix)]
    {
        crate::platform::uid_of_user(user)
    }
    #[cfg(not(unix))]
    {
        let _ = user;
        None
    }
}

/// The passwd name of a uid; `None` when unknown or on Windows.
pub fn user_name(uid: u32) -> Option<String> {
    #[cfg(unix)]
    {
        crate::platform::user_name(uid)
    }
    #[cfg(not(unix))]
    {
        let _ = uid;
        None
    }
}

/// Whether a process with this pid exists (`kill(pid, 0)` on Unix).
pub fn pid_exists(pid: u32) -> bool {
    #[cfg(unix)]
    {
        crate::platform::pid_exists(pid)
    }
    #[cfg(not(unix))]
    {
        use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
        let mut system = System::new();
        let pid = sysinfo::Pid::from_u32(pid);
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing(),
        );
        system.process(pid).is_some()
    }
}

/// Why a signal was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The process is gone, or its pid now names another process.
    #[error("no such process")]
    Gone,
    /// Not allowed.
    #[error("permission denied")]
    Denied,
    /// The platform cannot send this signal.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// Anything else.
    #[error(transparent)]
    Other(io::Error),
}

impl SignalError {
    #[cfg(unix)]
    fn from_errno(error: io::Error) -> SignalError {
        match error.raw_os_error() {
            Some(libc::ESRCH) => SignalError::Gone,
            Some(libc::EPERM) | Some(libc::EACCES) => SignalError::Denied,
            _ => SignalError::Other(error),
        }
    }
}

/// Sends `signal` to `pid` if `same()` still says it is the process meant. On Linux the
/// signal goes through a pidfd opened before the check, so a pid reused meanwhile is refused
/// without a race; elsewhere the check and the signal are two steps (a pid reused between
/// them, within microseconds, would be signalled).
pub fn send_signal(pid: u32, signal: i32, same: impl FnOnce() -> bool) -> Result<(), SignalError> {
    #[cfg(target_os = "linux")]
    {
        let fd = crate::platform::Pidfd::open(pid).map_err(SignalError::from_errno)?;
        if !same() {
            return Err(SignalError::Gone);
        }
        fd.send_signal(signal).map_err(SignalError::from_errno)
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        if !same() {
            return Err(SignalError::Gone);
        }
        crate::platform::kill(pid, signal).map_err(SignalError::from_errno)
    }
    #[cfg(not(unix))]
    {
        use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, Signal, System};
        let kind = match signal {
            signals::SIGKILL => Signal::Kill,
            signals::SIGTERM => Signal::Term,
            _ => return Err(Unsupported("this signal").into()),
        };
        if !same() {
            return Err(SignalError::Gone);
        }
        let mut system = System::new();
        let spid = sysinfo::Pid::from_u32(pid);
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[spid]),
            true,
            ProcessRefreshKind::nothing(),
        );
        let process = system.process(spid).ok_or(SignalError::Gone)?;
        match process.kill_with(kind) {
            Some(true) => Ok(()),
            Some(false) => Err(SignalError::Denied),
            None => Err(Unsupported("this signal").into()),
        }
    }
}

/// For a child of this process that has ended, its exit status from `waitpid` (negative
/// signal number when a signal ended it); `None` otherwise, and always on Windows.
pub fn reap_child(pid: u32) -> Option<i32> {
    #[cfg(unix)]
    {
        crate::platform::reap_child(pid)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        None
    }
}

/// Local wall-clock hour, minute and second of an epoch time (UTC on Windows, where the
/// time zone is not read).
pub fn time_of_day(epoch_seconds: i64) -> Option<(u32, u32, u32)> {
    #[cfg(unix)]
    {
        crate::platform::local_time_of_day(epoch_seconds)
    }
    #[cfg(not(unix))]
    {
        let day = epoch_seconds.rem_euclid(86_400) as u32;
        Some((day / 3600, day / 60 % 60, day % 60))
    }
}
