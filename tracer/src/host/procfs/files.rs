//! File descriptors and I/O: `/proc/PID/fd`, `/proc/PID/fdinfo`, `/proc/PID/io` (psutil's
//! `num_fds`, `open_files`, `io_counters`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::links::readlink;
use super::{errno, parse_int, py_split, py_strip, with_scratch, ProcError, Procfs, ReadMode};
use crate::host::*;

/// psutil's `file_flags_to_mode`: `None` for access mode 3, where psutil raises `KeyError`.
pub fn file_flags_to_mode(flags: u32) -> Option<&'static str> {
    let append = flags & libc::O_APPEND as u32 != 0;
    match (flags & libc::O_ACCMODE as u32, append) {
        (0, _) => Some("r"),
        (1, false) => Some("w"),
        (1, true) => Some("a"),
        (2, false) => Some("r+"),
        (2, true) => Some("a+"),
        _ => None,
    }
}

/// Parses `/proc/PID/io` as psutil does: `name: value` lines (others skipped), then the six
/// fields it needs.
pub fn parse_io(data: &[u8], path: &Path) -> Result<IoCounters, ProcError> {
    let mut fields: HashMap<&[u8], u64> = HashMap::new();
    for line in data.split(|&b| b == b'\n') {
        let line = py_strip(line);
        if line.is_empty() {
            continue;
        }
        let mut parts = line.windows(2).enumerate().filter(|(_, w)| w == b": ");
        let Some((at, _)) = parts.next() else {
            continue;
        };
        if parts.next().is_some() {
            continue;
        }
        let (name, value) = (&line[..at], &line[at + 2..]);
        let value = parse_int(value).ok_or_else(|| {
            ProcError::parse(
                path,
                format!("not a number: {:?}", String::from_utf8_lossy(line)),
            )
        })?;
        fields.insert(name, value);
    }
    if fields.is_empty() {
        return Err(ProcError::parse(path, "file was empty"));
    }
    let get = |name: &str| {
        fields
            .get(name.as_bytes())
            .copied()
            .ok_or_else(|| ProcError::parse(path, format!("{name:?} field was not found")))
    };
    Ok(IoCounters {
        read_count: get("syscr")?,
        write_count: get("syscw")?,
        read_bytes: get("read_bytes")?,
        write_bytes: get("write_bytes")?,
        read_chars: get("rchar")?,
        write_chars: get("wchar")?,
    })
}

impl Procfs {
    /// psutil's `io_counters()`: `/proc/PID/io` (readable only with ptrace access).
    pub fn io_counters(&self, pid: u32) -> Result<IoCounters, ProcError> {
        let path = self.pid_path(pid, "io");
        with_scratch(|buf| {
            self.read_pid_file(pid, &path, buf, ReadMode::ShortReadIsEof)?;
            parse_io(buf, &path)
        })
    }

    /// psutil's `num_fds()`: the entries of `/proc/PID/fd`.
    pub fn num_fds(&self, pid: u32) -> Result<u32, ProcError> {
        let dir = self.pid_path(pid, "fd");
        let mut n = 0u32;
        let entries = std::fs::read_dir(&dir).map_err(|e| self.map_err(pid, &dir, e))?;
        for entry in entries {
            entry.map_err(|e| self.map_err(pid, &dir, e))?;
            n += 1;
        }
        Ok(n)
    }

    /// psutil's `open_files()`: the descriptors, in directory order, whose link is an absolute
    /// path to a regular file (checked with `stat` in the caller's mount namespace), with the
    /// position and flags of their fdinfo. Descriptors that close meanwhile are skipped; if
    /// any did, the process must still be alive.
    pub fn open_files(&self, pid: u32) -> Result<Vec<OpenFile>, ProcError> {
        let dir = self.pid_path(pid, "fd");
        let fdinfo_dir = self.pid_path(pid, "fdinfo");
        let entries = std::fs::read_dir(&dir).map_err(|e| self.map_err(pid, &dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            names.push(entry.map_err(|e| self.map_err(pid, &dir, e))?.file_name());
        }
        let mut files = Vec::new();
        let mut hit_enoent = false;
        for name in names {
            let link = dir.join(&name);
            let target = match readlink(&link) {
                Ok(target) => target,
                Err(e) => match errno(&e) {
                    Some(libc::ENOENT) | Some(libc::ESRCH) => {
                        hit_enoent = true;
                        continue;
                    }
                    Some(libc::EINVAL) | Some(libc::ENAMETOOLONG) => continue,
                    _ => return Err(self.map_err(pid, &link, e)),
                },
            };
            if !target.as_bytes().starts_with(b"/") || !is_regular_file(pid, &target)? {
                continue;
            }
            let info = fdinfo_dir.join(&name);
            let read =
                with_scratch(
                    |buf| match super::read_into(&info, buf, ReadMode::ShortReadIsEof) {
                        Ok(()) => Ok(Some(parse_fdinfo(buf, &info)?)),
                        Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::ESRCH)) => {
                            Ok(None)
                        }
                        Err(e) => Err(self.map_err(pid, &info, e)),
                    },
                )?;
            let Some((position, flags)) = read else {
                hit_enoent = true;
                continue;
            };
            let fd = parse_int(name.as_bytes()).ok_or_else(|| {
                ProcError::parse(&dir, format!("entry {name:?} is not a descriptor"))
            })?;
            let mode = file_flags_to_mode(flags).ok_or_else(|| {
                ProcError::parse(&info, format!("flags {flags:o} have access mode 3"))
            })?;
            files.push(OpenFile {
                path: target,
                fd,
                position,
                mode,
                flags,
            });
        }
        if hit_enoent {
            self.check_alive(pid)?;
        }
        Ok(files)
    }
}

/// psutil's `isfile_strict`: a regular file (following symlinks); `AccessDenied` on
/// `EACCES`/`EPERM`, `false` on any other error.
fn is_regular_file(pid: u32, path: &OsStr) -> Result<bool, ProcError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.file_type().is_file()),
        Err(e) if matches!(errno(&e), Some(libc::EACCES) | Some(libc::EPERM)) => {
            Err(ProcError::AccessDenied {
                pid,
                path: path.into(),
            })
        }
        Err(_) => Ok(false),
    }
}

/// `(pos, flags)` from the first two lines of an fdinfo file (`pos:\tN`, `flags:\t0OCTAL`).
pub(crate) fn parse_fdinfo(data: &[u8], path: &Path) -> Result<(u64, u32), ProcError> {
    let mut lines = data.split(|&b| b == b'\n');
    let bad = || ProcError::parse(path, "expected pos: and flags: lines");
    let pos = lines
        .next()
        .and_then(|l| py_split(l).nth(1))
        .and_then(parse_int::<u64>)
        .ok_or_else(bad)?;
    let flags = lines
        .next()
        .and_then(|l| py_split(l).nth(1))
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| u32::from_str_radix(t, 8).ok())
        .ok_or_else(bad)?;
    Ok((pos, flags))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Child, TempDir};
    use super::*;
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::io::AsRawFd;
    use std::path::PathBuf;

    #[test]
    fn modes() {
        assert_eq!(file_flags_to_mode(0o100000), Some("r"));
        assert_eq!(file_flags_to_mode(0o2000), Some("r"));
        assert_eq!(file_flags_to_mode(0o100001), Some("w"));
        assert_eq!(file_flags_to_mode(0o102001), Some("a"));
        assert_eq!(file_flags_to_mode(0o100002), Some("r+"));
        assert_eq!(file_flags_to_mode(0o102002), Some("a+"));
        assert_eq!(file_flags_to_mode(3), None);
    }

    #[test]
    fn io_file() {
        let data = b"rchar: 6976\nwchar: 5\nsyscr: 10\nsyscw: 1\nread_bytes: 69632\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n";
        assert_eq!(
            parse_io(data, &PathBuf::from("/f")).unwrap(),
            IoCounters {
                read_count: 10,
                write_count: 1,
                read_bytes: 69632,
                write_bytes: 4096,
                read_chars: 6976,
                write_chars: 5,
            }
        );
        // Lines without exactly one ": " are skipped (psutil #1004).
        let data = b"garbage\nrchar: 1: 2\nrchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\n";
        assert_eq!(parse_io(data, &PathBuf::from("/f")).unwrap().read_chars, 1);
        assert!(matches!(
            parse_io(b"", &PathBuf::from("/f")),
            Err(ProcError::Parse { .. })
        ));
        assert!(matches!(
            parse_io(b"rchar: 1\n", &PathBuf::from("/f")),
            Err(ProcError::Parse { .. })
        ));
    }

    #[test]
    fn fdinfo() {
        assert_eq!(
            parse_fdinfo(
                b"pos:\t12\nflags:\t0102002\nmnt_id:\t20\nino:\t5\n",
                &PathBuf::from("/f")
            )
            .unwrap(),
            (12, 0o102002)
        );
        assert!(parse_fdinfo(b"pos:\t1\n", &PathBuf::from("/f")).is_err());
    }

    #[test]
    fn live_open_files_sees_a_file_we_opened() {
        let dir = TempDir::new("openfiles");
        let path = dir.path().join("data.txt");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .unwrap();
        file.write_all(b"hello").unwrap();
        file.seek(SeekFrom::Start(2)).unwrap();
        let procfs = Procfs::new();
        let me = std::process::id();
        let files = procfs.open_files(me).unwrap();
        let ours = files
            .iter()
            .find(|f| f.fd == file.as_raw_fd() as u32)
            .unwrap_or_else(|| panic!("fd not in {files:?}"));
        assert_eq!(Path::new(&ours.path), path);
        assert_eq!(ours.position, 2);
        assert_eq!(ours.mode, "a+");
        assert_ne!(ours.flags & libc::O_APPEND as u32, 0);
        assert!(files.iter().all(|f| f.path.as_bytes().starts_with(b"/")));
        assert!(procfs.num_fds(me).unwrap() >= 4);
        let io = procfs.io_counters(me).unwrap();
        assert!(io.write_chars >= 5 && io.write_count >= 1);
    }

    #[test]
    fn live_child_fds() {
        let child = Child::spawn(
            std::process::Command::new("sleep")
                .arg("5")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        let procfs = Procfs::new();
        // The child also inherits whatever non-CLOEXEC descriptors the test runner got.
        let listed = std::fs::read_dir(format!("/proc/{}/fd", child.pid()))
            .unwrap()
            .count();
        assert!(listed >= 3);
        assert_eq!(procfs.num_fds(child.pid()).unwrap() as usize, listed);
        // /dev/null is a character device, not a regular file.
        let files = procfs.open_files(child.pid()).unwrap();
        assert!(files.iter().all(|f| f.fd > 2), "{files:?}");
    }
}
