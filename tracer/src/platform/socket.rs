//! The agent's socket: who is at the other end (SO_PEERCRED), and creating the socket file
//! with its final permissions from the start (a umask around `bind`, ownership changed
//! without following symlinks).

use std::io;
use std::os::fd::AsFd;
#[cfg(native_linux)]
use std::path::Path;

/// The credentials of the process at the other end of a Unix socket, as the kernel recorded
/// them at `connect`/`listen`: `(pid, uid, gid)`.
pub(crate) fn peer_credentials(socket: &impl AsFd) -> io::Result<(u32, u32, u32)> {
    let cred = rustix::net::sockopt::socket_peercred(socket)?;
    Ok((
        cred.pid.as_raw_nonzero().get() as u32,
        cred.uid.as_raw(),
        cred.gid.as_raw(),
    ))
}

/// Runs `f` with the process's umask set to `mask`, then restores it. Files `f` creates get
/// no more than `0o777 & !mask` from their first moment.
#[cfg(native_linux)]
pub(crate) fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    let previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    let result = f();
    rustix::process::umask(previous);
    result
}

/// `fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW)`: a symlink is changed itself,
/// never what it points to.
#[cfg(native_linux)]
pub(crate) fn chown_nofollow(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    rustix::fs::chownat(
        rustix::fs::CWD,
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}
