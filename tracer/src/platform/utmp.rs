//! The login records (utmp), read as psutil reads them: through the C library's
//! `setutxent`/`getutxent`/`endutxent`, so the record layout is the platform's own
//! (`libc::utmpx`), never fixed offsets. No crate wraps these calls; they keep a per-process
//! cursor, so one lock serializes every reader.

use std::io;
use std::path::Path;

/// One utmpx record, its text fields cut at their first NUL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UtmpRecord {
    /// `ut_type` (`USER_PROCESS` is 7).
    pub kind: i16,
    pub pid: i32,
    /// `ut_line`: the terminal.
    pub line: Vec<u8>,
    pub user: Vec<u8>,
    pub host: Vec<u8>,
    /// `ut_tv.tv_sec`.
    pub seconds: i64,
}

/// `USER_PROCESS`: a logged-in session.
pub(crate) const USER_PROCESS: i16 = libc::USER_PROCESS;

#[cfg(target_env = "gnu")]
static CURSOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A NUL-padded field up to its first NUL.
#[cfg(target_env = "gnu")]
fn c_field(field: &[libc::c_char]) -> Vec<u8> {
    field
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect()
}

#[cfg(target_env = "gnu")]
fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Every record of the utmp file `path`, in its order (none when it does not exist or cannot
/// be read, as `getutxent` then finds none).
#[cfg(target_env = "gnu")]
pub(crate) fn utmp_records(path: &Path) -> io::Result<Vec<UtmpRecord>> {
    let path = c_path(path)?;
    let _cursor = CURSOR.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::new();
    // SAFETY: `path` is NUL-terminated and glibc copies it; setutxent then rewinds (or
    // opens) that file. The lock keeps every other user of the process-wide utmp cursor out
    // until endutxent below.
    let named = unsafe {
        let named = libc::utmpxname(path.as_ptr());
        libc::setutxent();
        named
    };
    if named != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getutxent returns null or a record in glibc's static buffer, valid until the
    // next call into utmpx, which the lock and this loop's order exclude while it is read.
    while let Some(entry) = unsafe { libc::getutxent().as_ref() } {
        out.push(UtmpRecord {
            kind: entry.ut_type,
            pid: entry.ut_pid,
            line: c_field(&entry.ut_line),
            user: c_field(&entry.ut_user),
            host: c_field(&entry.ut_host),
            seconds: i64::from(entry.ut_tv.tv_sec),
        });
    }
    // SAFETY: closes the file setutxent opened; the lock is still held.
    unsafe { libc::endutxent() };
    Ok(out)
}

/// No utmpx reader on this C library: no records.
#[cfg(not(target_env = "gnu"))]
pub(crate) fn utmp_records(path: &Path) -> io::Result<Vec<UtmpRecord>> {
    let _ = path;
    Ok(Vec::new())
}

/// Appends (or, as `pututxline` does, replaces by `ut_id`) records in the utmp file `path`,
/// through the C library's own writer: the test fixtures' layout is the platform's.
#[cfg(all(test, target_env = "gnu"))]
pub(crate) fn write_utmp_records(path: &Path, records: &[UtmpRecord]) -> io::Result<()> {
    fn fill(field: &mut [libc::c_char], value: &[u8]) {
        for (slot, &byte) in field.iter_mut().zip(value) {
            *slot = byte as libc::c_char;
        }
    }
    let c = c_path(path)?;
    if !path.exists() {
        std::fs::write(path, b"")?;
    }
    let _cursor = CURSOR.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: as in utmp_records.
    unsafe { libc::utmpxname(c.as_ptr()) };
    for (n, record) in records.iter().enumerate() {
        // SAFETY: utmpx is plain data (integers and char arrays), valid when all-zero.
        let mut entry: libc::utmpx = unsafe { std::mem::zeroed() };
        entry.ut_type = record.kind;
        entry.ut_pid = record.pid;
        fill(&mut entry.ut_line, &record.line);
        fill(&mut entry.ut_id, format!("t{n}").as_bytes());
        fill(&mut entry.ut_user, &record.user);
        fill(&mut entry.ut_host, &record.host);
        entry.ut_tv.tv_sec = record.seconds as _;
        // SAFETY: a valid utmpx; glibc copies it into the file named above under the lock.
        if unsafe { libc::pututxline(&entry) }.is_null() {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: closes the file pututxline opened; the lock is still held.
    unsafe { libc::endutxent() };
    Ok(())
}
