//! Memory: `/proc/PID/statm` (psutil's `memory_info`) and `/proc/PID/smaps_rollup`, falling
//! back to `/proc/PID/smaps` (psutil's `memory_full_info`); every mapping of smaps
//! (psutil's `memory_maps`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
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
            *slot = pages.checked_mul(page_size).ok_or_else(|| {
                ProcError::parse(path, format!("{pages} pages overflow a byte count"))
            })?;
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

/// [`MemoryInfo`] from the content of `/proc/PID/status`, for a caller that read status anyway:
/// the kernel writes statm's values there too, in kB (`VmSize` = vms, `VmRSS` = rss,
/// `RssFile + RssShmem` = shared, `VmExe` = text, `VmData + VmStk` = data; lib and dirty are 0
/// in statm). One difference: `VmExe` is the text size capped at the process's executable
/// mappings (`VmLib` is what those hold beyond it), so it is statm's text only when `VmLib` is
/// not 0 — `None` otherwise, and the caller reads statm. A process without memory (a kernel
/// thread, a zombie) has no `Vm` lines, and statm says 0 for all.
pub fn memory_info_from_status(data: &[u8]) -> Option<MemoryInfo> {
    const KEYS: [&[u8]; 8] = [
        b"VmSize",
        b"VmRSS",
        b"RssFile",
        b"RssShmem",
        b"VmExe",
        b"VmLib",
        b"VmData",
        b"VmStk",
    ];
    let mut kb: [Option<u64>; 8] = [None; 8];
    let mut any_vm = false;
    for line in data.split(|&b| b == b'\n') {
        if !(line.starts_with(b"Vm") || line.starts_with(b"Rss")) {
            continue;
        }
        any_vm = true;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let Some(slot) = KEYS.iter().position(|key| *key == &line[..colon]) {
            let mut tokens = py_split(&line[colon + 1..]);
            kb[slot] = match (tokens.next(), tokens.next()) {
                (Some(value), Some(unit)) if unit == b"kB" => Some(parse_int(value)?),
                _ => return None,
            };
        }
    }
    if !any_vm {
        return Some(MemoryInfo {
            rss: 0,
            vms: 0,
            shared: 0,
            text: 0,
            lib: 0,
            data: 0,
            dirty: 0,
        });
    }
    let [Some(vms), Some(rss), Some(file), Some(shmem), Some(text), Some(lib), Some(data), Some(stack)] =
        kb
    else {
        return None;
    };
    if lib == 0 {
        return None;
    }
    // Values no kernel writes (overflowing a byte count) leave it to statm, which says so.
    let bytes = |kb: u64| kb.checked_mul(1024);
    Some(MemoryInfo {
        rss: bytes(rss)?,
        vms: bytes(vms)?,
        shared: bytes(file.checked_add(shmem)?)?,
        text: bytes(text)?,
        lib: 0,
        data: bytes(data.checked_add(stack)?)?,
        dirty: 0,
    })
}

/// `(uss, pss, swap)` from smaps_rollup, psutil's `_parse_smaps_rollup`: `Private_*` lines
/// add to uss, the `Pss:` and `Swap:` lines set pss and swap; values are kB.
pub fn parse_smaps_rollup(data: &[u8], path: &Path) -> Result<(u64, u64, u64), ProcError> {
    let (mut uss, mut pss, mut swap) = (0u64, 0, 0);
    for line in data.split(|&b| b == b'\n') {
        let kb = || -> Result<u64, ProcError> {
            py_split(line)
                .nth(1)
                .and_then(parse_int::<u64>)
                .and_then(|kb| kb.checked_mul(1024))
                .ok_or_else(|| {
                    ProcError::parse(
                        path,
                        format!("malformed line {:?}", String::from_utf8_lossy(line)),
                    )
                })
        };
        if line.starts_with(b"Private_") {
            uss = uss
                .checked_add(kb()?)
                .ok_or_else(|| ProcError::parse(path, "Private_* lines overflow a byte count"))?;
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
    let (mut uss, mut pss, mut swap) = (0u64, 0u64, 0u64);
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
            // Values no kernel writes saturate rather than wrap (this parser has no error).
            if let Some(n) = found {
                uss = uss.saturating_add(n.saturating_mul(1024));
            }
        } else if let Some(rest) = line.strip_prefix(b"Pss:") {
            pss = u64::saturating_add(
                pss,
                spaces_then_digits(rest).unwrap_or(0).saturating_mul(1024),
            );
        } else if let Some(rest) = line.strip_prefix(b"Swap:") {
            swap = u64::saturating_add(
                swap,
                spaces_then_digits(rest).unwrap_or(0).saturating_mul(1024),
            );
        }
    }
    (uss, pss, swap)
}

/// Every mapping of an smaps file, psutil's `_pslinux.Process.memory_maps`: `data` stripped
/// of surrounding whitespace; a line whose first word ends in `:` is a field of the current
/// mapping (kB, `VmFlags:` skipped, another non-number an error), any other line starts a
/// mapping (`addr perms offset dev inode [path]`). psutil keeps one dictionary of fields for
/// all mappings, so a field a mapping lacks keeps the previous mapping's value: so here.
/// `exists(path)` tells whether a path ending in ` (deleted)` names a file after all.
pub fn parse_memory_maps(
    data: &[u8],
    path: &Path,
    exists: impl Fn(&[u8]) -> Result<bool, ProcError>,
) -> Result<Vec<MemoryMap>, ProcError> {
    let data = super::py_strip(data);
    let mut out = Vec::new();
    if data.is_empty() {
        return Ok(out);
    }
    let mut lines = data.split(|&b| b == b'\n');
    let mut header = lines.next().unwrap_or_default();
    let mut fields = MemoryMap::default();
    let mut finish = |header: &[u8], fields: &MemoryMap| -> Result<(), ProcError> {
        // `header.split(None, 5)`: five words, then the rest of the line (the path).
        let mut rest = super::py_strip(header);
        let mut words = Vec::with_capacity(5);
        while words.len() < 5 && !rest.is_empty() {
            let end = rest
                .iter()
                .position(|&b| super::is_py_space(b))
                .unwrap_or(rest.len());
            words.push(&rest[..end]);
            rest = super::py_strip(&rest[end..]);
        }
        let mut name = super::py_strip(rest);
        if name.is_empty() {
            name = b"[anon]";
        } else if let Some(kept) = name.strip_suffix(b" (deleted)") {
            if !exists(name)? {
                name = kept;
            }
        }
        let word =
            |i: usize| String::from_utf8_lossy(words.get(i).copied().unwrap_or(b"")).into_owned();
        out.push(MemoryMap {
            addr: word(0),
            perms: word(1),
            path: OsString::from(std::ffi::OsStr::from_bytes(name)),
            ..fields.clone()
        });
        Ok(())
    };
    for line in lines {
        let mut words = py_split(line);
        let key = words.next().unwrap_or_default();
        if !key.ends_with(b":") {
            finish(header, &fields)?;
            header = line;
            continue;
        }
        let Some(kb) = words.next().and_then(parse_int::<u64>) else {
            if key.starts_with(b"VmFlags:") {
                continue;
            }
            return Err(ProcError::parse(
                path,
                format!(
                    "don't know how to interpret line {:?}",
                    String::from_utf8_lossy(line)
                ),
            ));
        };
        let bytes = kb * 1024;
        match key {
            b"Rss:" => fields.rss = bytes,
            b"Size:" => fields.size = bytes,
            b"Pss:" => fields.pss = bytes,
            b"Shared_Clean:" => fields.shared_clean = bytes,
            b"Shared_Dirty:" => fields.shared_dirty = bytes,
            b"Private_Clean:" => fields.private_clean = bytes,
            b"Private_Dirty:" => fields.private_dirty = bytes,
            b"Referenced:" => fields.referenced = bytes,
            b"Anonymous:" => fields.anonymous = bytes,
            b"Swap:" => fields.swap = bytes,
            _ => {}
        }
    }
    finish(header, &fields)?;
    Ok(out)
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
    /// psutil's `memory_maps()` before grouping: every mapping of `/proc/PID/smaps`
    /// ([`parse_memory_maps`]); none when smaps is empty (kernel threads), `ZombieProcess`
    /// when it is empty because the process is a zombie. A ` (deleted)` path that cannot be
    /// checked for permission's sake is `AccessDenied`, as psutil's `path_exists_strict`.
    pub fn memory_maps(&self, pid: u32) -> Result<Vec<MemoryMap>, ProcError> {
        let smaps = self.pid_path(pid, "smaps");
        let exists =
            |name: &[u8]| match std::fs::metadata(Path::new(std::ffi::OsStr::from_bytes(name))) {
                Ok(_) => Ok(true),
                Err(e) if matches!(errno(&e), Some(libc::EACCES) | Some(libc::EPERM)) => {
                    Err(ProcError::AccessDenied {
                        pid,
                        path: Path::new(std::ffi::OsStr::from_bytes(name)).to_path_buf(),
                    })
                }
                Err(_) => Ok(false),
            };
        let maps = with_scratch(|buf| {
            self.read_pid_file(pid, &smaps, buf, ReadMode::UntilEof)?;
            parse_memory_maps(buf, &smaps, exists)
        })?;
        if maps.is_empty() && self.is_zombie(pid) {
            return Err(ProcError::ZombieProcess { pid });
        }
        Ok(maps)
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
    fn values_overflowing_a_byte_count_are_errors_not_wrapped() {
        let p = Path::new("/proc/1/statm");
        let huge = format!("{} 1 1 1 0 1 0\n", u64::MAX / 2);
        assert!(MemoryInfo::parse(huge.as_bytes(), p, 4096).is_err());
        let rollup = format!("Private_Dirty: {} kB\n", u64::MAX / 512);
        assert!(parse_smaps_rollup(rollup.as_bytes(), p).is_err());
        let smaps = format!("x\nPss: {}\nPss: 1\n", u64::MAX / 2);
        assert_eq!(parse_smaps(smaps.as_bytes()).1, u64::MAX);
    }

    #[test]
    fn smaps_rollup() {
        assert_eq!(
            parse_smaps_rollup(ROLLUP, &PathBuf::from("/f")).unwrap(),
            (120 * 1024, 300 * 1024, 8 * 1024)
        );
    }

    #[test]
    fn memory_maps_as_psutil() {
        let smaps = b"00400000-00452000 r-xp 00000000 08:02 173521     /usr/bin/dbus-daemon\nSize:                328 kB\nRss:                 300 kB\nPss:                  10 kB\nPrivate_Clean:         4 kB\nVmFlags: rd ex mr mw me dw\n7f00-7f01 rw-p 00000000 00:00 0 \nRss:                   5 kB\nSwap:                  1 kB\n7f02-7f03 rw-s 00000000 00:05 9   /memfd:x (deleted)\nRss: 1 kB\n";
        let maps = parse_memory_maps(smaps, &PathBuf::from("/f"), |_| Ok(false)).unwrap();
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].addr, "00400000-00452000");
        assert_eq!(maps[0].perms, "r-xp");
        assert_eq!(maps[0].path, "/usr/bin/dbus-daemon");
        assert_eq!(
            (maps[0].size, maps[0].rss, maps[0].pss),
            (328 * 1024, 300 * 1024, 10 * 1024)
        );
        assert_eq!(maps[0].private_clean, 4 * 1024);
        assert_eq!(maps[1].path, "[anon]");
        // psutil's one dictionary: what the second mapping lacks is the first's.
        assert_eq!(
            (maps[1].rss, maps[1].size, maps[1].swap),
            (5 * 1024, 328 * 1024, 1024)
        );
        assert_eq!(maps[2].path, "/memfd:x");
        let kept = parse_memory_maps(smaps, &PathBuf::from("/f"), |_| Ok(true)).unwrap();
        assert_eq!(kept[2].path, "/memfd:x (deleted)");
        assert!(parse_memory_maps(b"", &PathBuf::from("/f"), |_| Ok(true))
            .unwrap()
            .is_empty());
        assert!(matches!(
            parse_memory_maps(
                b"1-2 r--p 0 0:0 0\nRss: x kB\n",
                &PathBuf::from("/f"),
                |_| Ok(true)
            ),
            Err(ProcError::Parse { .. })
        ));
    }

    #[test]
    fn memory_maps_of_this_process() {
        let maps = Procfs::new().memory_maps(std::process::id()).unwrap();
        assert!(maps.iter().any(|m| m.path == "[stack]"), "{maps:?}");
        assert!(maps
            .iter()
            .all(|m| !m.addr.is_empty() && m.perms.len() == 4));
        assert!(maps.iter().map(|m| m.rss).sum::<u64>() > 0);
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

    const STATUS_MEM: &[u8] = b"Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t    8200 kB\nVmSize:\t    8196 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t    1052 kB\nVmRSS:\t    1052 kB\nRssAnon:\t      88 kB\nRssFile:\t     964 kB\nRssShmem:\t       4 kB\nVmData:\t     360 kB\nVmStk:\t     132 kB\nVmExe:\t      16 kB\nVmLib:\t    1636 kB\nVmPTE:\t      52 kB\nVmSwap:\t       0 kB\nHugetlbPages:\t       0 kB\nThreads:\t1\n";

    #[test]
    fn memory_from_status() {
        assert_eq!(
            memory_info_from_status(STATUS_MEM),
            Some(MemoryInfo {
                rss: 1052 * 1024,
                vms: 8196 * 1024,
                shared: 968 * 1024,
                text: 16 * 1024,
                lib: 0,
                data: 492 * 1024,
                dirty: 0,
            })
        );
        // The text was capped at the executable mappings: statm's cannot be told.
        let capped = String::from_utf8_lossy(STATUS_MEM).replace("1636 kB", "0 kB");
        assert_eq!(memory_info_from_status(capped.as_bytes()), None);
        // No memory (kernel thread, zombie): statm's zeros.
        let none = memory_info_from_status(b"Name:\tkthreadd\nThreads:\t1\n").unwrap();
        assert_eq!((none.rss, none.vms, none.text, none.data), (0, 0, 0, 0));
        // A line cut short is not guessed.
        let cut = String::from_utf8_lossy(STATUS_MEM).replace("VmRSS:\t    1052 kB", "VmRSS:");
        assert_eq!(memory_info_from_status(cut.as_bytes()), None);
    }

    #[test]
    fn memory_from_status_matches_statm_live() {
        let procfs = Procfs::new();
        let child = Child::spawn(std::process::Command::new("sleep").arg("5"));
        // Once the child sleeps (its loader done), its memory stays as it is.
        let pid = child.pid();
        assert!(super::super::testutil::wait_until(|| {
            procfs.stat(pid).is_ok_and(|s| s.state == 'S')
                && procfs.memory_info(pid).ok() == procfs.memory_info(pid).ok()
        }));
        let (_, from_status) = procfs.status_and_memory(pid, true).unwrap();
        let statm = procfs.memory_info(pid).unwrap();
        assert_eq!(from_status, Some(statm));
        let (_, kthread) = procfs.status_and_memory(2, true).unwrap();
        assert_eq!(kthread, Some(procfs.memory_info(2).unwrap()));
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
