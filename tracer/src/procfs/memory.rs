//! Memory: `/proc/PID/statm` (psutil's `memory_info`) and `/proc/PID/smaps_rollup`, falling
//! back to `/proc/PID/smaps` (psutil's `memory_full_info`).

use std::path::Path;

use super::{errno, parse_int, py_split, with_scratch, ProcError, Procfs, ReadMode};
use crate::host::*;

impl MemoryInfo {
    /// Parses the content of a statm file; `path` is only for the error.
    pub fn parse(data: &[u8], path: &Path, page_size: u64) -> Result<MemoryInfo, ProcError> {
        let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
        let mut v = [0u64; 7];
        let mut fields = py_split(line);
        for slot in &mut v {
            let token = fields
                .next()
                .ok_or_else(|| ProcError::parse(path, "fewer than 7 fields"))?;
            let pages: u64 = parse_int(token).ok_or_else(|| {
                ProcError::parse(
                    path,
                    format!("not a number: {:?}", String::from_utf8_lossy(token)),
                )
            })?;
            *slot = pages * page_size;
        }
        let [vms, rss, shared, text, lib, data, dirty] = v;
        Ok(MemoryInfo {
            rss,
            vms,
            shared,
            text,
            lib,
            data,
            dirty,
        })
    }
}

/// `(uss, pss, swap)` from smaps_rollup, psutil's `_parse_smaps_rollup`: `Private_*` lines
/// add to uss, the `Pss:` and `Swap:` lines set pss and swap; values are kB.
pub fn parse_smaps_rollup(data: &[u8], path: &Path) -> Result<(u64, u64, u64), ProcError> {
    let (mut uss, mut pss, mut swap) = (0, 0, 0);
    for line in data.split(|&b| b == b'\n') {
        let kb = || -> Result<u64, ProcError> {
            py_split(line)
                .nth(1)
                .and_then(parse_int::<u64>)
                .map(|kb| kb * 1024)
                .ok_or_else(|| {
                    ProcError::parse(
                        path,
                        format!("malformed line {:?}", String::from_utf8_lossy(line)),
                    )
                })
        };
        if line.starts_with(b"Private_") {
            uss += kb()?;
        } else if line.starts_with(b"Pss:") {
            pss = kb()?;
        } else if line.starts_with(b"Swap:") {
            swap = kb()?;
        }
    }
    Ok((uss, pss, swap))
}

/// `(uss, pss, swap)` from smaps, psutil's `_parse_smaps`: the sums over every mapping of the
/// `Private*:`, `Pss:` and `Swap:` lines (its regexes `\nPrivate.*:\s+(\d+)`,
/// `\nPss\:\s+(\d+)`, `\nSwap\:\s+(\d+)`); lines that do not match are ignored.
pub fn parse_smaps(data: &[u8]) -> (u64, u64, u64) {
    let (mut uss, mut pss, mut swap) = (0, 0, 0);
    // psutil strips the content and its regexes need a preceding newline: the first line
    // never counts.
    let data = super::py_strip(data);
    for line in data.split(|&b| b == b'\n').skip(1) {
        if line.starts_with(b"Private") {
            // Greedy `.*:` : the last colon followed by whitespace and digits.
            let mut found = None;
            for (i, _) in line.iter().enumerate().filter(|(_, &b)| b == b':') {
                if let Some(n) = spaces_then_digits(&line[i + 1..]) {
                    found = Some(n);
                }
            }
            if let Some(n) = found {
                uss += n * 1024;
            }
        } else if let Some(rest) = line.strip_prefix(b"Pss:") {
            pss += spaces_then_digits(rest).unwrap_or(0) * 1024;
        } else if let Some(rest) = line.strip_prefix(b"Swap:") {
            swap += spaces_then_digits(rest).unwrap_or(0) * 1024;
        }
    }
    (uss, pss, swap)
}

/// `\s+(\d+)` at the start of `s`, within one line.
fn spaces_then_digits(s: &[u8]) -> Option<u64> {
    let ws = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    if ws == 0 {
        return None;
    }
    let digits = s[ws..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    parse_int(&s[ws..ws + digits])
}

impl Procfs {
    /// psutil's `memory_info()`: `/proc/PID/statm` × page size.
    pub fn memory_info(&self, pid: u32) -> Result<MemoryInfo, ProcError> {
        let path = self.pid_path(pid, "statm");
        with_scratch(|buf| {
            self.read_pid_file(pid, &path, buf, ReadMode::ShortReadIsEof)?;
            MemoryInfo::parse(buf, &path, Procfs::page_size())
        })
    }

    /// psutil's `memory_full_info()`: uss, pss and swap from `/proc/PID/smaps_rollup`, or from
    /// `/proc/PID/smaps` when smaps_rollup answers `ENOENT`/`ESRCH` (it does for zombies and
    /// kernel threads, whose smaps is empty: all three are 0), then [`Procfs::memory_info`].
    pub fn memory_full_info(&self, pid: u32) -> Result<MemoryFullInfo, ProcError> {
        let rollup = self.pid_path(pid, "smaps_rollup");
        let (uss, pss, swap) =
            with_scratch(
                |buf| match super::read_into(&rollup, buf, ReadMode::ShortReadIsEof) {
                    Ok(()) => parse_smaps_rollup(buf, &rollup),
                    Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::ESRCH)) => {
                        let smaps = self.pid_path(pid, "smaps");
                        self.read_pid_file(pid, &smaps, buf, ReadMode::UntilEof)?;
                        Ok(parse_smaps(buf))
                    }
                    Err(e) => Err(self.map_err(pid, &rollup, e)),
                },
            )?;
        let m = self.memory_info(pid)?;
        Ok(MemoryFullInfo {
            rss: m.rss,
            vms: m.vms,
            shared: m.shared,
            text: m.text,
            lib: m.lib,
            data: m.data,
            dirty: m.dirty,
            uss,
            pss,
            swap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Child, TempDir};
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn statm_order_and_units() {
        let m = MemoryInfo::parse(b"765 404 374 5 0 90 0\n", &PathBuf::from("/f"), 4096).unwrap();
        assert_eq!(
            m,
            MemoryInfo {
                rss: 404 * 4096,
                vms: 765 * 4096,
                shared: 374 * 4096,
                text: 5 * 4096,
                lib: 0,
                data: 90 * 4096,
                dirty: 0,
            }
        );
        assert!(matches!(
            MemoryInfo::parse(b"1 2 3\n", &PathBuf::from("/f"), 4096),
            Err(ProcError::Parse { .. })
        ));
    }

    const ROLLUP: &[u8] = b"5581e000-7ffd3000 ---p 00000000 00:00 0                          [rollup]\nRss:                1604 kB\nPss:                 300 kB\nPss_Dirty:           100 kB\nPss_Anon:            100 kB\nShared_Clean:       1400 kB\nPrivate_Clean:        20 kB\nPrivate_Dirty:       100 kB\nPrivate_Hugetlb:       0 kB\nSwap:                  8 kB\nSwapPss:               8 kB\n";

    #[test]
    fn smaps_rollup() {
        assert_eq!(
            parse_smaps_rollup(ROLLUP, &PathBuf::from("/f")).unwrap(),
            (120 * 1024, 300 * 1024, 8 * 1024)
        );
    }

    #[test]
    fn smaps_sums() {
        let smaps = b"00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\nSize:                328 kB\nPss:                  10 kB\nPrivate_Clean:         4 kB\nPrivate_Dirty:         1 kB\nSwap:                  2 kB\nVmFlags: rd ex mr mw me dw\n7f00-7f01 rw-p 00000000 00:00 0 \nPss:                   5 kB\nPrivate_Hugetlb:       3 kB\nSwap:                  1 kB\nSwapPss:               1 kB\n";
        assert_eq!(parse_smaps(smaps), (8 * 1024, 15 * 1024, 3 * 1024));
        assert_eq!(parse_smaps(b""), (0, 0, 0));
    }

    #[test]
    fn fixture_falls_back_to_smaps() {
        let dir = TempDir::new("mem");
        dir.write("7/statm", b"10 5 2 1 0 3 0\n");
        dir.write(
            "7/smaps",
            b"0-1 r-xp 0 0:0 0 /x\nPss:  4 kB\nPrivate_Dirty:  2 kB\n",
        );
        let procfs = Procfs::with_root(dir.path());
        let m = procfs.memory_full_info(7).unwrap();
        assert_eq!((m.uss, m.pss, m.swap), (2048, 4096, 0));
        assert_eq!(m.rss, 5 * Procfs::page_size());
        dir.write("7/smaps_rollup", ROLLUP);
        let m = procfs.memory_full_info(7).unwrap();
        assert_eq!((m.uss, m.pss, m.swap), (120 * 1024, 300 * 1024, 8 * 1024));
    }

    #[test]
    fn live_self_and_child() {
        let procfs = Procfs::new();
        let me = procfs.memory_info(std::process::id()).unwrap();
        assert!(me.rss > 0 && me.vms >= me.rss);
        let full = procfs.memory_full_info(std::process::id()).unwrap();
        assert!(full.uss > 0 && full.pss >= full.uss / 2);
        let child = Child::spawn(std::process::Command::new("sleep").arg("5"));
        let m = procfs.memory_info(child.pid()).unwrap();
        assert!(m.rss > 0);
        assert_eq!(m.lib, 0);
        assert_eq!(m.dirty, 0);
    }
}
