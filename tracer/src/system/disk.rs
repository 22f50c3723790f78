//! Disks: mounts (`/etc/mtab` or `/proc/self/mounts`, read as glibc's `getmntent` does),
//! `statvfs`, `/proc/diskstats` (or `/sys/block/*/stat`) — psutil's `disk_partitions`,
//! `disk_usage` and `disk_io_counters`.
//!
//! `/proc/diskstats` lines in today's layout (14, 18 or 20 fields) are parsed by
//! `procfs-core`'s `DiskStat`, psutil's figures computed from its fields here (sectors × 512).
//! The older layouts psutil still reads (Linux 2.4's 15 fields, 2.6's 7-field partition lines)
//! stay ours, as procfs-core refuses them. The mount table stays ours: procfs-core keeps the
//! options as a map (psutil's `opts` is the string in its order) and paths as UTF-8 `String`s.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use super::{
    ffi, int, lines, read, split_ws, strip, usage_percent, Named, Result, System, SystemError,
};

/// psutil's `sdiskpart`: one mounted file system.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiskPartition {
    /// The mounted device (`""` for `none`; `/dev/root` resolved to the real device).
    #[serde(with = "super::os_string")]
    pub device: OsString,
    /// Where it is mounted.
    #[serde(with = "super::os_string")]
    pub mountpoint: OsString,
    /// The file system type (`ext4`, `tmpfs`, …).
    pub fstype: String,
    /// The mount options, comma-separated, as the kernel lists them.
    pub opts: String,
}

/// psutil's `sdiskusage`, in bytes. `total` and `used` are the file system's; `free` and
/// `percent` are what an unprivileged user can still use (without the blocks reserved for
/// root), so `used + free` may be less than `total`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiskUsage {
    /// `f_blocks × f_frsize`.
    pub total: u64,
    /// `(f_blocks − f_bfree) × f_frsize`.
    pub used: u64,
    /// `f_bavail × f_frsize`: free for unprivileged users.
    pub free: u64,
    /// `used / (used + free) × 100`, rounded to one decimal.
    pub percent: f64,
}

/// psutil's `sdiskio` on Linux: counters since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DiskIo {
    /// Reads completed.
    pub read_count: u64,
    /// Writes completed.
    pub write_count: u64,
    /// Bytes read (sectors × 512).
    pub read_bytes: u64,
    /// Bytes written (sectors × 512).
    pub write_bytes: u64,
    /// Milliseconds spent reading.
    pub read_time: u64,
    /// Milliseconds spent writing.
    pub write_time: u64,
    /// Reads merged with adjacent ones.
    pub read_merged_count: u64,
    /// Writes merged with adjacent ones.
    pub write_merged_count: u64,
    /// Milliseconds spent doing I/O.
    pub busy_time: u64,
}

impl DiskIo {
    /// The values in psutil's field order.
    pub fn values(&self) -> [u64; 9] {
        [
            self.read_count,
            self.write_count,
            self.read_bytes,
            self.write_bytes,
            self.read_time,
            self.write_time,
            self.read_merged_count,
            self.write_merged_count,
            self.busy_time,
        ]
    }

    /// Built from values in psutil's field order.
    pub fn from_values(v: [u64; 9]) -> DiskIo {
        DiskIo {
            read_count: v[0],
            write_count: v[1],
            read_bytes: v[2],
            write_bytes: v[3],
            read_time: v[4],
            write_time: v[5],
            read_merged_count: v[6],
            write_merged_count: v[7],
            busy_time: v[8],
        }
    }
}

/// psutil's sum over disks (`None` when there are none).
pub(crate) fn total(disks: &Named<DiskIo>) -> Option<DiskIo> {
    if disks.is_empty() {
        return None;
    }
    let mut sum = [0u64; 9];
    for (_, io) in disks {
        for (s, v) in sum.iter_mut().zip(io.values()) {
            *s = s.wrapping_add(v);
        }
    }
    Some(DiskIo::from_values(sum))
}

/// psutil's `disk_usage(path)` (`statvfs`).
pub(crate) fn disk_usage(path: &Path) -> Result<DiskUsage> {
    let st = ffi::statvfs(path).map_err(|e| SystemError::syscall("statvfs", path, e))?;
    let total = st.blocks * st.frsize;
    let avail_to_root = st.bfree * st.frsize;
    let avail_to_user = st.bavail * st.frsize;
    let used = total - avail_to_root;
    let total_user = used + avail_to_user;
    Ok(DiskUsage {
        total,
        used,
        free: avail_to_user,
        percent: usage_percent(used as f64, total_user as f64),
    })
}

/// glibc's `decode_name`: the octal escapes the kernel writes in mount tables.
fn decode_mount_field(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let rest = &field[i..];
        let (byte, len) = if rest.starts_with(b"\\040") {
            (b' ', 4)
        } else if rest.starts_with(b"\\011") {
            (b'\t', 4)
        } else if rest.starts_with(b"\\012") {
            (b'\n', 4)
        } else if rest.starts_with(b"\\\\") {
            (b'\\', 2)
        } else if rest.starts_with(b"\\134") {
            (b'\\', 4)
        } else {
            (rest[0], 1)
        };
        out.push(byte);
        i += len;
    }
    out
}

/// The `(device, mountpoint, fstype, opts)` of a mount table, read as glibc's `getmntent`:
/// blank and `#` lines skipped, fields separated by runs of spaces and tabs, octal escapes
/// decoded, missing fields empty.
pub(crate) fn parse_mounts(data: &[u8]) -> Vec<[Vec<u8>; 4]> {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let mut out = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let end = line.iter().rposition(|b| !is_blank(b)).map_or(0, |i| i + 1);
        let line = &line[..end];
        let start = line.iter().position(|b| !is_blank(b)).unwrap_or(line.len());
        let line = &line[start..];
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let mut fields = line.split(|b| is_blank(b)).filter(|f| !f.is_empty());
        let mut next = || fields.next().map(decode_mount_field).unwrap_or_default();
        out.push([next(), next(), next(), next()]);
    }
    out
}

impl System {
    /// psutil's `disk_partitions(all)`: the mount table (`/etc/mtab` when it is a file and
    /// this reads the live `/proc`, else `PROC/self/mounts`). Without `all`, only mounts of a
    /// device whose file system type is not `nodev` in `/proc/filesystems` (zfs excepted).
    pub fn disk_partitions(&self, all: bool) -> Result<Vec<DiskPartition>> {
        let mut fstypes = HashSet::new();
        if !all {
            let path = self.proc_path("filesystems");
            for line in lines(&read(&path)?) {
                let line = strip(line);
                if !line.starts_with(b"nodev") {
                    fstypes.insert(line.to_vec());
                } else if line.split(|&b| b == b'\t').nth(1) == Some(b"zfs") {
                    fstypes.insert(b"zfs".to_vec());
                }
            }
        }
        let mtab = Path::new("/etc/mtab");
        let mounts_path = if self.is_live_proc() && mtab.is_file() {
            mtab.to_path_buf()
        } else {
            self.proc_path("self/mounts")
        };
        let data = read(&mounts_path)?;
        let mut out = Vec::new();
        for [device, mountpoint, fstype, opts] in parse_mounts(&data) {
            let mut device = device;
            if device == b"none" {
                device.clear();
            }
            if device == b"/dev/root" || device == b"rootfs" {
                if let Some(real) = self.find_root_device() {
                    device = real.into_vec();
                }
            }
            if !all && (device.is_empty() || !fstypes.contains(&fstype)) {
                continue;
            }
            out.push(DiskPartition {
                device: OsString::from_vec(device),
                mountpoint: OsString::from_vec(mountpoint),
                fstype: String::from_utf8_lossy(&fstype).into_owned(),
                opts: String::from_utf8_lossy(&opts).into_owned(),
            });
        }
        Ok(out)
    }

    /// psutil's `RootFsDeviceFinder`: the `/dev/NAME` of the device `/` is on, by
    /// `/proc/partitions`, then `/sys/dev/block/M:m/uevent`, then `/sys/class/block/*/dev`;
    /// `None` unless that path exists.
    fn find_root_device(&self) -> Option<OsString> {
        let (major, minor) = ffi::device_of(Path::new("/")).ok()?;
        let by_partitions = || -> Option<Vec<u8>> {
            let data = std::fs::read(self.proc_path("partitions")).ok()?;
            let found = lines(&data).skip(2).find_map(|line| {
                let fields: Vec<&[u8]> = split_ws(line).collect();
                if fields.len() < 4 {
                    return None;
                }
                let same =
                    int::<u32>(fields[0]) == Some(major) && int::<u32>(fields[1]) == Some(minor);
                (same && !fields[3].is_empty()).then(|| fields[3].to_vec())
            });
            found
        };
        let by_uevent = || -> Option<Vec<u8>> {
            let path = self.sys_path(&format!("dev/block/{major}:{minor}/uevent"));
            let data = std::fs::read(path).ok()?;
            let found = lines(&data).find_map(|line| {
                let name = strip(line.strip_prefix(b"DEVNAME=")?);
                (!name.is_empty()).then(|| name.to_vec())
            });
            found
        };
        let by_class = || -> Option<Vec<u8>> {
            let needle = format!("{major}:{minor}");
            std::fs::read_dir(self.sys_path("class/block"))
                .ok()?
                .filter_map(|e| e.ok())
                .find_map(|e| {
                    let dev = std::fs::read(e.path().join("dev")).ok()?;
                    (strip(&dev) == needle.as_bytes()).then(|| e.file_name().into_vec())
                })
        };
        let name = by_partitions().or_else(by_uevent).or_else(by_class)?;
        let mut path = b"/dev/".to_vec();
        path.extend_from_slice(&name);
        let path = OsString::from_vec(path);
        Path::new(&path).exists().then_some(path)
    }

    /// Whether `name` is a whole disk rather than a partition (psutil's `is_storage_device`:
    /// `/sys/block/NAME` exists, with `/` in the name as `!`).
    fn is_storage_device(&self, name: &str) -> bool {
        self.sys_path("block").join(name.replace('/', "!")).exists()
    }

    /// psutil's raw `disk_io_counters(perdisk)`: every line of `/proc/diskstats` (or the
    /// `stat` files under `/sys/block`), partitions left out unless `perdisk`.
    pub(crate) fn disk_io_raw(&self, perdisk: bool) -> Result<Named<DiskIo>> {
        let diskstats = self.proc_path("diskstats");
        let entries = if diskstats.exists() {
            parse_diskstats(&read(&diskstats)?, &diskstats)?
        } else if self.sys_path("block").exists() {
            self.read_sys_block()?
        } else {
            return Err(SystemError::Unsupported {
                what: format!(
                    "{} nor {} are available",
                    diskstats.display(),
                    self.sys_path("block").display()
                ),
            });
        };
        let mut out: Named<DiskIo> = Vec::with_capacity(entries.len());
        for (name, io) in entries {
            if !perdisk && !self.is_storage_device(&name) {
                continue;
            }
            // A dict: a later line with the same name replaces the earlier one in place.
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = io,
                None => out.push((name, io)),
            }
        }
        Ok(out)
    }

    /// psutil's `read_sysfs`: `/sys/block/*/stat` and the partitions' below them.
    fn read_sys_block(&self) -> Result<Vec<(String, DiskIo)>> {
        let block = self.sys_path("block");
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&block).map_err(|e| SystemError::io(&block, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| SystemError::io(&block, e))?;
            let mut stack = vec![entry.path()];
            while let Some(dir) = stack.pop() {
                let stat = dir.join("stat");
                if stat.is_file() {
                    let data = read(&stat)?;
                    let f: Vec<u64> = split_ws(&data).map_while(int).collect();
                    if f.len() < 10 {
                        return Err(SystemError::parse(&stat, "fewer than 10 fields"));
                    }
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    out.push((name, disk_io(&f[..10])));
                }
                if let Ok(children) = std::fs::read_dir(&dir) {
                    for child in children.filter_map(|c| c.ok()) {
                        if child.file_type().is_ok_and(|t| t.is_dir()) {
                            stack.push(child.path());
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The ten fields of a whole disk's line, from `reads` on: reads, reads merged, sectors read,
/// ms reading, writes, writes merged, sectors written, ms writing, in flight, ms doing I/O.
fn disk_io(f: &[u64]) -> DiskIo {
    DiskIo {
        read_count: f[0],
        read_merged_count: f[1],
        read_bytes: f[2] * 512,
        read_time: f[3],
        write_count: f[4],
        write_merged_count: f[5],
        write_bytes: f[6] * 512,
        write_time: f[7],
        busy_time: f[9],
    }
}

/// `/proc/diskstats`, in its three layouts (psutil's `read_procfs`).
fn parse_diskstats(data: &[u8], path: &Path) -> Result<Vec<(String, DiskIo)>> {
    let mut out = Vec::new();
    for line in lines(data) {
        let fields: Vec<&[u8]> = split_ws(line).collect();
        if fields.is_empty() {
            continue;
        }
        let nums = |range: std::ops::Range<usize>| -> Result<Vec<u64>> {
            fields[range]
                .iter()
                .map(|t| int::<u64>(t))
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| {
                    SystemError::parse(
                        path,
                        format!("not a number in {:?}", String::from_utf8_lossy(line)),
                    )
                })
        };
        let name = |i: usize| String::from_utf8_lossy(fields[i]).into_owned();
        let flen = fields.len();
        let (name, io) = if flen == 15 {
            // Linux 2.4: reads come before the name.
            let reads = nums(2..3)?[0];
            let f = nums(4..14)?;
            let mut all = vec![reads];
            all.extend_from_slice(&f);
            (name(3), disk_io(&all))
        } else if flen == 14 || flen >= 18 {
            let text = String::from_utf8_lossy(line);
            let stat = procfs_core::DiskStat::from_line(&text)
                .map_err(|e| SystemError::parse(path, e.to_string()))?;
            let io = DiskIo {
                read_count: stat.reads,
                read_merged_count: stat.merged,
                read_bytes: stat.sectors_read * 512,
                read_time: stat.time_reading,
                write_count: stat.writes,
                write_merged_count: stat.writes_merged,
                write_bytes: stat.sectors_written * 512,
                write_time: stat.time_writing,
                busy_time: stat.time_in_progress,
            };
            (stat.name, io)
        } else if flen == 7 {
            // Linux 2.6 partition lines: reads, sectors read, writes, sectors written.
            let f = nums(3..7)?;
            let io = DiskIo {
                read_count: f[0],
                read_bytes: f[1] * 512,
                write_count: f[2],
                write_bytes: f[3] * 512,
                ..DiskIo::default()
            };
            (name(2), io)
        } else {
            return Err(SystemError::parse(
                path,
                format!(
                    "not sure how to interpret line {:?}",
                    String::from_utf8_lossy(line)
                ),
            ));
        };
        out.push((name, io));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{SystemRoot, TempDir};
    use super::*;

    #[test]
    fn mount_lines_as_getmntent_reads_them() {
        let data = b"# comment\n\n/dev/vda / ext4 rw,relatime 0 0\n\
  none   /mnt/with\\040space\\011tab tmpfs   rw \t\n\
a\\\\b /x\\134y proc\n";
        let mounts = parse_mounts(data);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0][0], b"/dev/vda");
        assert_eq!(mounts[0][3], b"rw,relatime");
        assert_eq!(mounts[1][0], b"none");
        assert_eq!(mounts[1][1], b"/mnt/with space\ttab");
        assert_eq!(mounts[1][3], b"rw");
        assert_eq!(mounts[2][0], b"a\\b");
        assert_eq!(mounts[2][1], b"/x\\y");
        assert_eq!(mounts[2][3], b"");
    }

    #[test]
    fn partitions_keep_physical_file_systems() {
        let dir = TempDir::new("parts");
        dir.write(
            "proc/filesystems",
            b"nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tzfs\n\tvfat\n",
        );
        dir.write(
            "proc/self/mounts",
            b"sysfs /sys sysfs rw 0 0\n/dev/vda / ext4 rw,relatime 0 0\n\
none /none ext4 rw 0 0\ntank /tank zfs rw 0 0\n/dev/sdb1 /boot\\040efi vfat ro 0 0\n",
        );
        let sys = dir.system();
        let parts = sys.disk_partitions(false).unwrap();
        let mounts: Vec<_> = parts.iter().map(|p| p.mountpoint.clone()).collect();
        assert_eq!(mounts, vec!["/", "/tank", "/boot efi"]);
        assert_eq!(parts[0].fstype, "ext4");
        assert_eq!(parts[0].opts, "rw,relatime");
        let all = sys.disk_partitions(true).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[2].device, "");
    }

    #[test]
    fn diskstats_layouts_and_whole_disks() {
        let dir = TempDir::new("diskstats");
        dir.write(
            "proc/diskstats",
            b" 253 0 vda 324627 15700 25601482 426876 17419 39050 12234488 24395 0 20956 451272 0 0 0 0 0 0\n\
 253 1 vda1 100 10 800 5 20 2 160 7 0 9 12 0 0 0 0 0 0\n\
   3 1 hda1 8 16 4 32\n",
        );
        dir.write("sys/block/vda/stat", b"");
        let sys = dir.system();
        let all = sys.disk_io_raw(true).unwrap();
        assert_eq!(all.len(), 3);
        let vda = all[0].1;
        assert_eq!(vda.read_count, 324627);
        assert_eq!(vda.read_bytes, 25601482 * 512);
        assert_eq!(vda.write_bytes, 12234488 * 512);
        assert_eq!(vda.busy_time, 20956);
        assert_eq!(vda.read_merged_count, 15700);
        assert_eq!(all[2].1.write_bytes, 32 * 512);
        let disks = sys.disk_io_raw(false).unwrap();
        assert_eq!(disks.len(), 1);
        assert_eq!(total(&disks), Some(vda));
        assert_eq!(total(&Vec::new()), None);
    }

    #[test]
    fn sys_block_fallback() {
        let dir = TempDir::new("sysblock");
        dir.write("sys/block/sda/stat", b"  10 1 80 4 20 2 160 8 0 12 0\n");
        dir.write("sys/block/sda/sda1/stat", b"  5 0 40 2 10 0 80 4 0 6 0\n");
        let sys = dir.system();
        let mut all = sys.disk_io_raw(true).unwrap();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "sda");
        assert_eq!(all[0].1.read_bytes, 80 * 512);
        assert_eq!(sys.disk_io_raw(false).unwrap().len(), 1);
    }

    #[test]
    fn live_root_usage() {
        let usage = disk_usage(Path::new("/")).unwrap();
        assert!(usage.total > 0 && usage.used <= usage.total);
        assert!(usage.percent >= 0.0 && usage.percent <= 100.0);
        let err = disk_usage(Path::new("/no/such/dir")).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
    }
}
