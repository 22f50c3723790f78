//! `/proc/PID/exe` and `/proc/PID/cwd`: psutil's `readlink` semantics.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::{errno, ProcError, Procfs};

const DELETED: &[u8] = b" (deleted)";

/// Whether `path` exists, following symlinks; `Err` only for `EACCES`/`EPERM` (psutil's
/// `path_exists_strict`).
pub(crate) fn path_exists_strict(path: &Path) -> io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if matches!(errno(&e), Some(libc::EACCES) | Some(libc::EPERM)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// psutil's `readlink`: the target up to its first NUL, without a `" (deleted)"` suffix when
/// no file exists at the target path. `Err` carries the errno of `readlink` or of the
/// existence check (`EACCES`/`EPERM` only).
pub(crate) fn readlink(path: &Path) -> io::Result<OsString> {
    let target = std::fs::read_link(path)?.into_os_string().into_vec();
    let end = target.iter().position(|&b| b == 0).unwrap_or(target.len());
    let mut target = target;
    target.truncate(end);
    if target.ends_with(DELETED) && !path_exists_strict(Path::new(OsStr::from_bytes(&target)))? {
        target.truncate(target.len() - DELETED.len());
    }
    Ok(OsString::from_vec(target))
}

impl Procfs {
    /// psutil's `_readlink(..., fallback="")` for a link of process `pid`.
    fn pid_link(&self, pid: u32, name: &str) -> Result<OsString, ProcError> {
        let path = self.pid_path(pid, name);
        match readlink(&path) {
            Ok(target) => Ok(target),
            Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::ESRCH)) => {
                if std::fs::symlink_metadata(self.pid_dir(pid)).is_ok() {
                    if self.is_zombie(pid) {
                        return Err(ProcError::ZombieProcess { pid });
                    }
                    return Ok(OsString::new());
                }
                Err(self.map_err(pid, &path, e))
            }
            Err(e) => Err(self.map_err(pid, &path, e)),
        }
    }

    /// psutil's `Process._proc.exe()` on Linux: the `/proc/PID/exe` link up to its first NUL,
    /// without a `" (deleted)"` suffix when no file exists at that path; `""` when the link
    /// cannot be resolved but the process lives (kernel threads); [`ProcError::ZombieProcess`]
    /// for a zombie. psutil's public `exe()` then guesses from `cmdline[0]` when this is empty
    /// or denied; that is the caller's part.
    pub fn exe(&self, pid: u32) -> Result<OsString, ProcError> {
        self.pid_link(pid, "exe")
    }

    /// psutil's `cwd()`: the `/proc/PID/cwd` link, same rules as [`Procfs::exe`].
    pub fn cwd(&self, pid: u32) -> Result<OsString, ProcError> {
        self.pid_link(pid, "cwd")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Child, TempDir};
    use super::*;

    #[test]
    fn deleted_suffix_stripped_only_when_target_is_gone() {
        let dir = TempDir::new("links");
        let real = dir.write("bin/prog", b"");
        let kept = dir.write("bin/kept (deleted)", b"");
        std::fs::create_dir_all(dir.path().join("1")).unwrap();
        std::os::unix::fs::symlink(
            format!("{} (deleted)", real.display()),
            dir.path().join("1/exe"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&kept, dir.path().join("1/cwd")).unwrap();
        let procfs = Procfs::with_root(dir.path());
        assert_eq!(procfs.exe(1).unwrap(), real.as_os_str());
        assert_eq!(procfs.cwd(1).unwrap(), kept.as_os_str());
    }

    #[test]
    fn missing_link_of_live_process_is_empty() {
        let dir = TempDir::new("nolink");
        dir.write("2/stat", b"2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0\n");
        let procfs = Procfs::with_root(dir.path());
        assert_eq!(procfs.exe(2).unwrap(), OsString::new());
        assert!(matches!(
            procfs.exe(3),
            Err(ProcError::NoSuchProcess { pid: 3 })
        ));
    }

    #[test]
    fn live_self_and_child() {
        let procfs = Procfs::new();
        let me = std::process::id();
        assert_eq!(
            procfs.exe(me).unwrap(),
            std::env::current_exe().unwrap().into_os_string()
        );
        assert_eq!(
            procfs.cwd(me).unwrap(),
            std::env::current_dir().unwrap().into_os_string()
        );
        let child = Child::spawn(
            std::process::Command::new("sleep")
                .arg("5")
                .current_dir("/"),
        );
        let exe = procfs.exe(child.pid()).unwrap();
        assert!(Path::new(&exe).ends_with("sleep"), "{exe:?}");
        assert_eq!(procfs.cwd(child.pid()).unwrap(), OsString::from("/"));
        if procfs
            .stat(2)
            .map(|s| s.comm == "kthreadd")
            .unwrap_or(false)
        {
            assert_eq!(procfs.exe(2).unwrap(), OsString::new());
        }
    }
}
