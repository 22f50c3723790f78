//! The controlling terminal: `tty_nr` of `/proc/PID/stat` looked up among the device numbers
//! of `/dev/tty*` and `/dev/pts/*`, as psutil's `get_terminal_map` does.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{errno, ProcError, Procfs};

/// Device number → terminal path, built from `/dev/tty*` then `/dev/pts/*` in directory order;
/// a later name with the same device number replaces an earlier one, as in psutil's dict.
/// psutil builds it afresh for every `terminal()` call; callers that look up many processes
/// at once may build one and reuse it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TerminalMap {
    by_rdev: HashMap<u64, OsString>,
}

impl TerminalMap {
    /// Scans `/dev`.
    pub fn new() -> Result<TerminalMap, ProcError> {
        TerminalMap::scan(Path::new("/dev"))
    }

    /// Scans `DEV/tty*` and `DEV/pts/*` (names not starting with `.`), following symlinks;
    /// entries that vanish are skipped, other `stat` errors fail the scan (as in psutil).
    pub fn scan(dev: &Path) -> Result<TerminalMap, ProcError> {
        let mut map = TerminalMap::default();
        map.add_matching(dev, |name| name.starts_with(b"tty"))?;
        map.add_matching(&dev.join("pts"), |name| !name.starts_with(b"."))?;
        Ok(map)
    }

    fn add_matching(&mut self, dir: &Path, keep: impl Fn(&[u8]) -> bool) -> Result<(), ProcError> {
        // glob ignores directories it cannot list.
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !keep(name.as_bytes()) {
                continue;
            }
            let path: PathBuf = dir.join(&name);
            match std::fs::metadata(&path) {
                Ok(meta) => {
                    self.by_rdev.insert(meta.rdev(), path.into_os_string());
                }
                Err(e) if errno(&e) == Some(libc::ENOENT) => {}
                Err(source) => return Err(ProcError::Io { path, source }),
            }
        }
        Ok(())
    }

    /// The terminal path for a `tty_nr` of stat, if any.
    pub fn get(&self, tty_nr: i32) -> Option<&OsStr> {
        let rdev = u64::try_from(tty_nr).ok()?;
        self.by_rdev.get(&rdev).map(OsString::as_os_str)
    }
}

impl Procfs {
    /// psutil's `terminal()`: the path of the process's controlling terminal, `None` if it has
    /// none (or its device is not under `/dev/tty*` or `/dev/pts/*`). Scans `/dev` on every
    /// call, as psutil does; see [`TerminalMap`] to scan once for many processes.
    pub fn terminal(&self, pid: u32) -> Result<Option<OsString>, ProcError> {
        let tty_nr = self.stat(pid)?.tty_nr;
        let map = TerminalMap::new().map_err(|e| match e {
            ProcError::Io { path, source }
                if matches!(errno(&source), Some(libc::EACCES) | Some(libc::EPERM)) =>
            {
                ProcError::AccessDenied { pid, path }
            }
            other => other,
        })?;
        Ok(map.get(tty_nr).map(OsStr::to_os_string))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;

    #[test]
    fn scan_fixture_dev() {
        let dir = TempDir::new("dev");
        // Regular files have st_rdev 0; symlinks are followed.
        dir.write("ttyX", b"");
        dir.write(".tty_hidden", b"");
        dir.write("pts/.hidden", b"");
        std::fs::create_dir_all(dir.path().join("pts")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("tty_null")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("tty_dangling")).unwrap();
        let map = TerminalMap::scan(dir.path()).unwrap();
        assert_eq!(map.get(0), Some(dir.path().join("ttyX").as_os_str()));
        // /dev/null is 1:3.
        assert_eq!(
            map.get(0x103),
            Some(dir.path().join("tty_null").as_os_str())
        );
        assert_eq!(map.get(-1), None);
        assert_eq!(map.by_rdev.len(), 2);
    }

    #[test]
    fn live_dev() {
        let map = TerminalMap::new().unwrap();
        // /dev/tty is 5:0 wherever /dev is populated.
        if Path::new("/dev/tty").exists() {
            assert_eq!(map.get(0x500), Some(OsStr::new("/dev/tty")));
        }
        let me = std::process::id();
        let expected = Procfs::new()
            .stat(me)
            .map(|s| map.get(s.tty_nr).map(OsStr::to_os_string))
            .unwrap();
        assert_eq!(Procfs::new().terminal(me).unwrap(), expected);
    }
}
