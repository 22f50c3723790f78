//! Processes and signals: existence, signalling (through a pidfd on Linux, so a reused pid is
//! never signalled), children's exit statuses, the keyboard's poll, the stop signals.

use std::io;
#[cfg(native_linux)]
use std::os::fd::AsFd;
#[cfg(native_linux)]
use std::os::fd::BorrowedFd;
#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;
#[cfg(native_linux)]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(native_linux)]
use std::sync::{Arc, OnceLock};
#[cfg(native_linux)]
use std::time::Duration;

use rustix::process::{Pid, Signal};

/// A pid as the kernel's `Pid`: 0 and pids past `i32::MAX` name no process (EINVAL, as the
/// kernel answers for them).
fn kernel_pid(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A signal number as rustix's `Signal`; `None` for 0 (the existence check). Numbers outside
/// 1..=SIGRTMAX are EINVAL, as `kill(2)` answers.
fn signal(number: i32) -> io::Result<Option<Signal>> {
    if number == 0 {
        return Ok(None);
    }
    if let Some(named) = Signal::from_named_raw(number) {
        return Ok(Some(named));
    }
    #[cfg(target_os = "linux")]
    if (1..=libc::SIGRTMAX()).contains(&number) {
        // SAFETY: the number is a valid signal (a real-time one, which rustix leaves unnamed
        // because libc may reserve some for itself); it is only handed to the kernel to send,
        // as kill(2) would, and never used to change this process's dispositions.
        return Ok(Some(unsafe { Signal::from_raw_unchecked(number) }));
    }
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// Whether a process with this pid exists: `kill(pid, 0)` succeeds or says EPERM.
pub(crate) fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = kernel_pid(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// `kill(pid, signal)`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kill(pid: u32, number: i32) -> io::Result<()> {
    let pid = kernel_pid(pid)?;
    match signal(number)? {
        Some(sig) => rustix::process::kill_process(pid, sig)?,
        None => rustix::process::test_kill_process(pid)?,
    }
    Ok(())
}

/// A pidfd: a handle on one process that a reused pid cannot redirect. Closed when dropped.
#[cfg(target_os = "linux")]
pub(crate) struct Pidfd {
    fd: OwnedFd,
    pid: Pid,
}

#[cfg(target_os = "linux")]
impl Pidfd {
    /// `pidfd_open(pid, 0)`.
    pub(crate) fn open(pid: u32) -> io::Result<Pidfd> {
        let pid = kernel_pid(pid)?;
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
        Ok(Pidfd { fd, pid })
    }

    /// `pidfd_send_signal(fd, signal, NULL, 0)`; signal 0 checks existence and permission.
    pub(crate) fn send_signal(&self, number: i32) -> io::Result<()> {
        match signal(number)? {
            Some(sig) => rustix::process::pidfd_send_signal(&self.fd, sig)?,
            None => rustix::process::test_kill_process(self.pid)?,
        }
        Ok(())
    }

    /// Whether the process is still running (not yet exited: its pidfd is not readable).
    #[cfg(native_linux)]
    pub(crate) fn is_alive(&self) -> io::Result<bool> {
        Ok(poll_in(self.fd.as_fd(), Some(Duration::ZERO))? == PollIn::TimedOut)
    }

    /// Waits up to `timeout` (for ever when `None`) for the process to end: whether it did.
    #[cfg(native_linux)]
    pub(crate) fn wait_exit(&self, timeout: Option<Duration>) -> io::Result<bool> {
        Ok(poll_in(self.fd.as_fd(), timeout)? != PollIn::TimedOut)
    }
}

/// For a child of this process that has ended, its exit status from
/// `waitpid(pid, WNOHANG)`: the exit code, or the negative number of the signal that ended it.
pub(crate) fn reap_child(pid: u32) -> Option<i32> {
    let pid = kernel_pid(pid).ok()?;
    let (_, status) =
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG).ok()??;
    if let Some(code) = status.exit_status() {
        Some(code)
    } else {
        status.terminating_signal().map(|signal| -signal)
    }
}

/// Gives memory freed by the allocator back to the system (glibc's `malloc_trim(0)`; nothing
/// elsewhere): whether some was released.
pub(crate) fn malloc_trim() -> bool {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(target_env = "gnu"))]
    false
}

/// glibc's `mallinfo2()`: `(uordblks, hblkhd)`, the bytes in use from the heap and from
/// mmap'd blocks (psutil's `heap_info`); `None` without glibc.
pub(crate) fn mallinfo() -> Option<(u64, u64)> {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallinfo2 has no preconditions and returns a struct by value.
        let info = unsafe { libc::mallinfo2() };
        Some((info.uordblks as u64, info.hblkhd as u64))
    }
    #[cfg(not(target_env = "gnu"))]
    None
}

/// What `poll(2)` saw on a descriptor waited on for input.
#[cfg(native_linux)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollIn {
    /// Nothing before the timeout.
    TimedOut,
    /// Data to read (POLLIN).
    Readable,
    /// POLLHUP, POLLERR or POLLNVAL without data.
    Closed,
}

/// `poll(2)` on one descriptor for POLLIN, up to `timeout` (for ever when `None`). EINTR is
/// an error of kind `Interrupted`.
#[cfg(native_linux)]
pub(crate) fn poll_in(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<PollIn> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let timeout = timeout.map(|t| Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    if rustix::event::poll(&mut fds, timeout.as_ref())? == 0 {
        return Ok(PollIn::TimedOut);
    }
    Ok(if fds[0].revents().contains(PollFlags::IN) {
        PollIn::Readable
    } else {
        PollIn::Closed
    })
}

/// `read(2)` into `buf` from a borrowed descriptor (no buffering in between, so what `poll_in`
/// saw is what is read).
#[cfg(native_linux)]
#[cfg_attr(
    not(feature = "cli"),
    allow(dead_code, reason = "for `tracer top`, part of the cli feature")
)]
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::io::read(fd, buf)?)
}

/// The flag SIGTERM, SIGHUP and SIGINT set once [`stop_on_signals`] ran.
#[cfg(native_linux)]
#[cfg_attr(
    not(feature = "cli"),
    allow(dead_code, reason = "for `tracer top`, part of the cli feature")
)]
fn stop_flag() -> &'static Arc<AtomicBool> {
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// From now on SIGTERM, SIGHUP and SIGINT only set the flag [`stop_requested`] reads (their
/// default action, ending the process, is replaced), as `tracer top` needs to restore the
/// terminal before it exits.
#[cfg(native_linux)]
#[cfg_attr(
    not(feature = "cli"),
    allow(dead_code, reason = "for `tracer top`, part of the cli feature")
)]
pub(crate) fn stop_on_signals() -> io::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(stop_flag()))?;
    }
    Ok(())
}

/// Whether one of the stop signals arrived since [`stop_on_signals`].
#[cfg(native_linux)]
#[cfg_attr(
    not(feature = "cli"),
    allow(dead_code, reason = "for `tracer top`, part of the cli feature")
)]
pub(crate) fn stop_requested() -> bool {
    stop_flag().load(Ordering::Relaxed)
}

#[cfg(all(test, native_linux))]
mod tests {
    use super::*;

    #[test]
    fn signals_and_exit_status_of_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(pid_exists(pid));
        assert_eq!(reap_child(pid), None);
        let fd = Pidfd::open(pid).unwrap();
        fd.send_signal(0).unwrap();
        assert!(!fd.wait_exit(Some(Duration::from_millis(10))).unwrap());
        fd.send_signal(libc::SIGTERM).unwrap();
        assert!(fd.wait_exit(Some(Duration::from_secs(10))).unwrap());
        let mut status = None;
        for _ in 0..100 {
            status = reap_child(pid);
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(status, Some(-libc::SIGTERM));
        assert!(!pid_exists(pid) || child.try_wait().is_err());
        assert_eq!(
            fd.send_signal(1000).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn errors_keep_their_errno() {
        assert_eq!(
            Pidfd::open(0).err().and_then(|e| e.raw_os_error()),
            Some(libc::EINVAL)
        );
        // A pid past pid_max names no process.
        assert_eq!(
            Pidfd::open(i32::MAX as u32)
                .err()
                .and_then(|e| e.raw_os_error()),
            Some(libc::ESRCH)
        );
        assert!(!pid_exists(0));
        assert!(pid_exists(std::process::id()));
    }

    #[test]
    fn poll_and_read_a_pipe() {
        let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(
            poll_in(reader.as_fd(), Some(Duration::from_millis(1))).unwrap(),
            PollIn::TimedOut
        );
        std::io::Write::write_all(&mut &writer, b"q").unwrap();
        assert_eq!(poll_in(reader.as_fd(), None).unwrap(), PollIn::Readable);
        let mut buf = [0u8; 4];
        assert_eq!(read(reader.as_fd(), &mut buf).unwrap(), 1);
        assert!(!stop_requested());
    }
}
