//! `/proc/meminfo`, `/proc/vmstat` (and `/proc/zoneinfo` on old kernels): psutil's
//! `virtual_memory` and `swap_memory`, in bytes.
//!
//! `/proc/vmstat` is parsed by `procfs-core` (`VmStat`). `/proc/meminfo` stays ours:
//! procfs-core's `Meminfo` requires fields psutil never reads (Dirty, Mapped, Committed_AS,
//! Vmalloc*, …) and fails where psutil falls back (no Buffers or Active: 0; no Inactive:
//! Inact_dirty + Inact_clean + Inact_laundry; no Shmem: MemShared), so it would turn a
//! figure psutil gives into an error. psutil's computations (`available`, `used`, `cached`
//! with SReclaimable, the MemAvailable estimate) are ours either way.

use std::collections::HashMap;
use std::path::Path;

use procfs_core::FromBufRead;

use super::{ffi, int, lines, read, split_ws, strip, usage_percent, Result, System, SystemError};

/// psutil's `svmem` on Linux, in bytes (what `free` shows).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VirtualMemory {
    /// `MemTotal`: physical memory.
    pub total: u64,
    /// `MemAvailable` (or the kernel's estimate of it on kernels before 3.14): what can be
    /// given to processes without swapping.
    pub available: u64,
    /// `(total - available) / total * 100`, rounded to one decimal.
    pub percent: f64,
    /// `total - available`.
    pub used: u64,
    /// `MemFree`: not used at all.
    pub free: u64,
    /// `Active`: recently used, in RAM.
    pub active: u64,
    /// `Inactive`: not recently used.
    pub inactive: u64,
    /// `Buffers`: block device cache.
    pub buffers: u64,
    /// `Cached + SReclaimable`: page cache and reclaimable slab (as `free` counts it).
    pub cached: u64,
    /// `Shmem`: tmpfs and shared memory.
    pub shared: u64,
    /// `Slab`: kernel data structures.
    pub slab: u64,
}

/// psutil's `sswap`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SwapMemory {
    /// `SwapTotal`.
    pub total: u64,
    /// `total - free`.
    pub used: u64,
    /// `SwapFree`.
    pub free: u64,
    /// `used / total * 100`, rounded to one decimal (0.0 without swap).
    pub percent: f64,
    /// Bytes swapped in since boot (`pswpin` × 4096).
    pub sin: u64,
    /// Bytes swapped out since boot (`pswpout` × 4096).
    pub sout: u64,
}

/// `/proc/meminfo` as psutil reads it: every `Name: value` line's value × 1024, keyed by the
/// name with its colon.
fn meminfo(path: &Path) -> Result<HashMap<Vec<u8>, i64>> {
    let data = read(path)?;
    let mut mems = HashMap::new();
    for line in lines(&data) {
        let mut fields = split_ws(line);
        let (Some(name), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let value: i64 = int(value).ok_or_else(|| {
            SystemError::parse(
                path,
                format!("not a number: {:?}", String::from_utf8_lossy(line)),
            )
        })?;
        mems.insert(name.to_vec(), value * 1024);
    }
    Ok(mems)
}

impl System {
    /// psutil's `virtual_memory()` (it mimics procps's `free`).
    pub fn virtual_memory(&self) -> Result<VirtualMemory> {
        let path = self.proc_path("meminfo");
        let mems = meminfo(&path)?;
        let get = |name: &str| mems.get(name.as_bytes()).copied();
        let total = get("MemTotal:").ok_or_else(|| SystemError::parse(&path, "no MemTotal"))?;
        let free = get("MemFree:").ok_or_else(|| SystemError::parse(&path, "no MemFree"))?;
        let buffers = get("Buffers:").unwrap_or(0);
        let cached = get("Cached:").map_or(0, |c| c + get("SReclaimable:").unwrap_or(0));
        let shared = get("Shmem:").or_else(|| get("MemShared:")).unwrap_or(0);
        let active = get("Active:").unwrap_or(0);
        let inactive = get("Inactive:")
            .or_else(|| Some(get("Inact_dirty:")? + get("Inact_clean:")? + get("Inact_laundry:")?))
            .unwrap_or(0);
        let slab = get("Slab:").unwrap_or(0);
        let mut avail = match get("MemAvailable:") {
            Some(avail) if avail != 0 => avail,
            _ => self.calculate_avail_vmem(&mems),
        };
        if avail < 0 {
            avail = 0;
        } else if avail > total {
            // Inside an LXC container the figures are the host's, distorted.
            avail = free;
        }
        let used = total - avail;
        Ok(VirtualMemory {
            total: total as u64,
            available: avail as u64,
            percent: usage_percent((total - avail) as f64, total as f64),
            used: used as u64,
            free: free as u64,
            active: active as u64,
            inactive: inactive as u64,
            buffers: buffers as u64,
            cached: cached as u64,
            shared: shared as u64,
            slab: slab as u64,
        })
    }

    /// psutil's `calculate_avail_vmem`: the kernel's `MemAvailable` formula, for kernels
    /// without it (or that report 0), from the zones' low watermarks.
    fn calculate_avail_vmem(&self, mems: &HashMap<Vec<u8>, i64>) -> i64 {
        let get = |name: &str| mems.get(name.as_bytes()).copied();
        let free = get("MemFree:").unwrap_or(0);
        let fallback = free + get("Cached:").unwrap_or(0);
        let (Some(active_file), Some(inactive_file), Some(slab_reclaimable)) = (
            get("Active(file):"),
            get("Inactive(file):"),
            get("SReclaimable:"),
        ) else {
            return fallback;
        };
        let Ok(zoneinfo) = std::fs::read(self.proc_path("zoneinfo")) else {
            return fallback;
        };
        let mut watermark_low: i64 = 0;
        for line in lines(&zoneinfo) {
            let line = strip(line);
            if line.starts_with(b"low") {
                watermark_low += split_ws(line).nth(1).and_then(int::<i64>).unwrap_or(0);
            }
        }
        watermark_low *= ffi::page_size() as i64;
        let low = watermark_low as f64;
        let mut avail = (free - watermark_low) as f64;
        let pagecache = (active_file + inactive_file) as f64;
        avail += pagecache - (pagecache / 2.0).min(low);
        let slab = slab_reclaimable as f64;
        avail += slab - (slab / 2.0).min(low);
        avail as i64
    }

    /// psutil's `swap_memory()`: totals from `/proc/meminfo` (or `sysinfo(2)` when it lacks
    /// them), swap-in/out from `/proc/vmstat` (0 when unreadable, as psutil after its
    /// warning).
    pub fn swap_memory(&self) -> Result<SwapMemory> {
        let path = self.proc_path("meminfo");
        let mems = meminfo(&path)?;
        let (total, free) = match (mems.get(&b"SwapTotal:"[..]), mems.get(&b"SwapFree:"[..])) {
            (Some(&total), Some(&free)) => (total, free),
            _ => {
                let (total, free) =
                    ffi::sysinfo_swap().map_err(|e| SystemError::syscall("sysinfo", "", e))?;
                (total as i64, free as i64)
            }
        };
        let used = total - free;
        // psutil: int(line.split(b' ')[1]) * 4 * 1024 for pswpin and pswpout; both 0 when
        // vmstat or either line is missing.
        let vmstat = std::fs::read(self.proc_path("vmstat"))
            .ok()
            .and_then(|data| procfs_core::VmStat::from_buf_read(&data[..]).ok());
        let pages = |name: &str| {
            let v = vmstat.as_ref()?.0.get(name).copied()?;
            u64::try_from(v).ok()
        };
        let (sin, sout) = match (pages("pswpin"), pages("pswpout")) {
            (Some(sin), Some(sout)) => (sin * 4 * 1024, sout * 4 * 1024),
            _ => (0, 0),
        };
        Ok(SwapMemory {
            total: total as u64,
            used: used as u64,
            free: free as u64,
            percent: usage_percent(used as f64, total as f64),
            sin,
            sout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{SystemRoot, TempDir};
    use super::*;

    const MEMINFO: &[u8] = b"MemTotal:       24684092 kB\n\
MemFree:        22530736 kB\n\
MemAvailable:   23783956 kB\n\
Buffers:            6844 kB\n\
Cached:          1312000 kB\n\
SwapCached:            0 kB\n\
Active:           862640 kB\n\
Inactive:         803368 kB\n\
Active(file):     500000 kB\n\
Inactive(file):   700000 kB\n\
SwapTotal:       1048572 kB\n\
SwapFree:         524286 kB\n\
Shmem:              8856 kB\n\
Slab:             231160 kB\n\
SReclaimable:     231748 kB\n\
HugePages_Total:       0\n";

    #[test]
    fn virtual_memory_from_fixture() {
        let dir = TempDir::new("mem");
        dir.write("proc/meminfo", MEMINFO);
        let vm = dir.system().virtual_memory().unwrap();
        assert_eq!(vm.total, 24684092 * 1024);
        assert_eq!(vm.available, 23783956 * 1024);
        assert_eq!(vm.used, (24684092 - 23783956) * 1024);
        assert_eq!(vm.cached, (1312000 + 231748) * 1024);
        assert_eq!(vm.shared, 8856 * 1024);
        assert_eq!(vm.percent, 3.6);
    }

    #[test]
    fn available_estimated_when_zero() {
        let dir = TempDir::new("mem-avail");
        let meminfo = String::from_utf8(MEMINFO.to_vec())
            .unwrap()
            .replace("MemAvailable:   23783956", "MemAvailable:          0");
        dir.write("proc/meminfo", meminfo.as_bytes());
        dir.write(
            "proc/zoneinfo",
            b"Node 0, zone   Normal\n  pages free     5000\n        min      10\n        low      100\n        high     200\n",
        );
        let vm = dir.system().virtual_memory().unwrap();
        let page = ffi::page_size() as f64;
        let low = 100.0 * page;
        let free = 22530736.0 * 1024.0;
        let pagecache: f64 = 1_200_000.0 * 1024.0;
        let slab: f64 = 231748.0 * 1024.0;
        let expected = (free - low)
            + (pagecache - (pagecache / 2.0).min(low))
            + (slab - (slab / 2.0).min(low));
        assert_eq!(vm.available, expected as u64);
    }

    #[test]
    fn swap_from_fixture() {
        let dir = TempDir::new("swap");
        dir.write("proc/meminfo", MEMINFO);
        dir.write("proc/vmstat", b"nr_free_pages 5\npswpin 3\npswpout 7\n");
        let swap = dir.system().swap_memory().unwrap();
        assert_eq!(
            swap,
            SwapMemory {
                total: 1048572 * 1024,
                used: 524286 * 1024,
                free: 524286 * 1024,
                percent: 50.0,
                sin: 3 * 4096,
                sout: 7 * 4096,
            }
        );
        // Without vmstat, sin and sout are 0.
        std::fs::remove_file(dir.path().join("proc/vmstat")).unwrap();
        assert_eq!(dir.system().swap_memory().unwrap().sin, 0);
    }

    #[test]
    fn live_memory_is_consistent() {
        let vm = System::new().virtual_memory().unwrap();
        assert!(vm.total > 0 && vm.available <= vm.total);
        assert_eq!(vm.used, vm.total - vm.available);
        let swap = System::new().swap_memory().unwrap();
        assert_eq!(swap.used, swap.total - swap.free);
    }
}
