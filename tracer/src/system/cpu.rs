//! CPU figures: `/proc/stat` (times, context switches, interrupts), sysfs topology and cpufreq,
//! `/proc/cpuinfo`, `/proc/loadavg` — psutil's `cpu_times`, `cpu_count`, `cpu_stats`,
//! `cpu_freq` and `getloadavg`.
//!
//! `/proc/stat` stays ours: procfs-core's `KernelStats` needs the `ctxt`, `btime` and
//! `processes` lines where psutil's `cpu_times` reads only the `cpu` lines, does not give
//! `intr` and `softirq` (`cpu_stats`), and keeps its per-line parser private. Its
//! `LoadAverage` holds `f32`s, which would not print as psutil's floats.

use std::path::{Path, PathBuf};

use super::{ffi, float, int, lines, read, read_opt, split_ws, strip, Result, System, SystemError};

/// psutil's `scputimes` on Linux: seconds spent in each mode since boot (ticks of
/// `/proc/stat` divided by `CLK_TCK`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: f64,
    /// Niced processes in user mode.
    pub nice: f64,
    /// Kernel mode.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Waiting for I/O to complete (not counted in `idle`).
    pub iowait: f64,
    /// Servicing hardware interrupts.
    pub irq: f64,
    /// Servicing software interrupts.
    pub softirq: f64,
    /// Stolen by the hypervisor for other guests (Linux 2.6.11+).
    pub steal: f64,
    /// Running guests' virtual CPUs (Linux 2.6.24+; already counted in `user`).
    pub guest: f64,
    /// Running niced guests (Linux 3.2+; already counted in `nice`).
    pub guest_nice: f64,
}

impl CpuTimes {
    /// psutil's field names, in order.
    pub const FIELDS: [&'static str; 10] = [
        "user",
        "nice",
        "system",
        "idle",
        "iowait",
        "irq",
        "softirq",
        "steal",
        "guest",
        "guest_nice",
    ];

    /// The fields' values, in [`CpuTimes::FIELDS`] order.
    pub fn values(&self) -> [f64; 10] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
            self.guest,
            self.guest_nice,
        ]
    }

    /// Built from values in [`CpuTimes::FIELDS`] order.
    pub fn from_values(v: [f64; 10]) -> CpuTimes {
        CpuTimes {
            user: v[0],
            nice: v[1],
            system: v[2],
            idle: v[3],
            iowait: v[4],
            irq: v[5],
            softirq: v[6],
            steal: v[7],
            guest: v[8],
            guest_nice: v[9],
        }
    }

    /// Parses the numbers after `cpu`/`cpuN` on a line of `/proc/stat`; fields the kernel does
    /// not write (older kernels) stay 0.
    fn parse(line: &[u8], path: &Path) -> Result<CpuTimes> {
        let ticks = ffi::clock_ticks() as f64;
        let mut values = [0.0; 10];
        for (slot, token) in values.iter_mut().zip(split_ws(line).skip(1)) {
            let n: u64 = int(token).ok_or_else(|| {
                SystemError::parse(
                    path,
                    format!("not a number in {:?}", String::from_utf8_lossy(line)),
                )
            })?;
            *slot = n as f64 / ticks;
        }
        Ok(CpuTimes::from_values(values))
    }
}

/// psutil's `scpustats`: counters since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuStats {
    /// Context switches (`ctxt`).
    pub ctx_switches: u64,
    /// Interrupts (first number of `intr`).
    pub interrupts: u64,
    /// Software interrupts (first number of `softirq`).
    pub soft_interrupts: u64,
    /// System calls: always 0 on Linux.
    pub syscalls: u64,
}

/// psutil's `scpufreq`, in MHz. `min` and `max` are 0.0 when only `/proc/cpuinfo` knows
/// the frequency.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuFreq {
    /// Current frequency.
    pub current: f64,
    /// Lowest frequency the governor may set.
    pub min: f64,
    /// Highest frequency the governor may set.
    pub max: f64,
}

impl System {
    /// psutil's `cpu_times()`.
    pub fn cpu_times(&self) -> Result<CpuTimes> {
        let path = self.proc_path("stat");
        let data = read(&path)?;
        let first = lines(&data).next().unwrap_or_default();
        CpuTimes::parse(first, &path)
    }

    /// psutil's `cpu_times(percpu=True)`: the `cpuN` lines of `/proc/stat`, in order.
    pub fn cpu_times_percpu(&self) -> Result<Vec<CpuTimes>> {
        let path = self.proc_path("stat");
        let data = read(&path)?;
        lines(&data)
            .skip(1)
            .filter(|line| line.starts_with(b"cpu"))
            .map(|line| CpuTimes::parse(line, &path))
            .collect()
    }

    /// psutil's `cpu_count(logical)`: with `logical`, CPUs online (`sysconf`); otherwise
    /// distinct cores by sysfs topology (`core_cpus_list`, else `thread_siblings_list`), else
    /// by `/proc/cpuinfo` (`cpu cores` per `physical id`). `None` when undetermined.
    pub fn cpu_count(&self, logical: bool) -> Result<Option<u32>> {
        let count = if logical {
            ffi::online_cpus().map(|n| n as i64)
        } else {
            self.cpu_count_cores()?
        };
        Ok(count.filter(|&n| n >= 1).map(|n| n as u32))
    }

    fn cpu_count_cores(&self) -> Result<Option<i64>> {
        let cpu_dir = self.sys_path("devices/system/cpu");
        for file in ["core_cpus_list", "thread_siblings_list"] {
            let paths: Vec<PathBuf> = cpu_dirs(&cpu_dir, "cpu")
                .into_iter()
                .map(|dir| dir.join("topology").join(file))
                .filter(|p| p.exists())
                .collect();
            if paths.is_empty() {
                continue;
            }
            let mut lists = std::collections::HashSet::new();
            for path in paths {
                lists.insert(strip(&read(&path)?).to_vec());
            }
            if !lists.is_empty() {
                return Ok(Some(lists.len() as i64));
            }
        }
        // psutil's method 2: /proc/cpuinfo sections.
        let path = self.proc_path("cpuinfo");
        let data = read(&path)?;
        let mut mapping: std::collections::HashMap<i64, i64> = Default::default();
        let (mut physical_id, mut cores) = (None, None);
        for line in lines(&data) {
            let line = strip(line).to_ascii_lowercase();
            if line.is_empty() {
                if let (Some(id), Some(n)) = (physical_id, cores) {
                    mapping.insert(id, n);
                }
                (physical_id, cores) = (None, None);
            } else if line.starts_with(b"physical id") || line.starts_with(b"cpu cores") {
                let at = line
                    .windows(2)
                    .position(|w| w == b"\t:")
                    .ok_or_else(|| SystemError::parse(&path, "no '\\t:' separator"))?;
                let value: i64 = int(&line[at + 2..])
                    .ok_or_else(|| SystemError::parse(&path, "not a number"))?;
                if line.starts_with(b"physical id") {
                    physical_id = Some(value);
                } else {
                    cores = Some(value);
                }
            }
        }
        let sum: i64 = mapping.values().sum();
        Ok((sum != 0).then_some(sum))
    }

    /// psutil's `cpu_stats()`.
    pub fn cpu_stats(&self) -> Result<CpuStats> {
        let path = self.proc_path("stat");
        let data = read(&path)?;
        let (mut ctxt, mut intr, mut soft) = (None, None, None);
        for line in lines(&data) {
            let first = || split_ws(line).nth(1).and_then(int::<u64>);
            if line.starts_with(b"ctxt") {
                ctxt = first();
            } else if line.starts_with(b"intr") {
                intr = first();
            } else if line.starts_with(b"softirq") {
                soft = first();
            }
            if ctxt.is_some() && intr.is_some() && soft.is_some() {
                break;
            }
        }
        let missing = |what: &str| SystemError::parse(&path, format!("no '{what}' line"));
        Ok(CpuStats {
            ctx_switches: ctxt.ok_or_else(|| missing("ctxt"))?,
            interrupts: intr.ok_or_else(|| missing("intr"))?,
            soft_interrupts: soft.ok_or_else(|| missing("softirq"))?,
            syscalls: 0,
        })
    }

    /// The `cpu MHz` values of `/proc/cpuinfo`.
    fn cpuinfo_freqs(&self) -> Result<Vec<f64>> {
        let path = self.proc_path("cpuinfo");
        let data = read(&path)?;
        let mut freqs = Vec::new();
        for line in lines(&data) {
            if line.to_ascii_lowercase().starts_with(b"cpu mhz") {
                let value = line
                    .iter()
                    .position(|&b| b == b':')
                    .and_then(|at| float(&line[at + 1..]))
                    .ok_or_else(|| SystemError::parse(&path, "malformed 'cpu MHz' line"))?;
                freqs.push(value);
            }
        }
        Ok(freqs)
    }

    /// psutil's `cpu_freq(percpu=True)`: per cpufreq policy (or per CPU's `cpufreq`), in
    /// MHz; the current value from `/proc/cpuinfo` when it lists as many CPUs, else
    /// `scaling_cur_freq` (or `cpuinfo_cur_freq`); all zero for an offline CPU. Without
    /// cpufreq in sysfs, `/proc/cpuinfo`'s values with `min` and `max` 0.0.
    pub fn cpu_freq_percpu(&self) -> Result<Vec<CpuFreq>> {
        let cpu_dir = self.sys_path("devices/system/cpu");
        let has_cpufreq =
            cpu_dir.join("cpufreq/policy0").exists() || cpu_dir.join("cpu0/cpufreq").exists();
        let cpuinfo = self.cpuinfo_freqs()?;
        if !has_cpufreq {
            return Ok(cpuinfo
                .into_iter()
                .map(|current| CpuFreq {
                    current,
                    min: 0.0,
                    max: 0.0,
                })
                .collect());
        }
        let mut paths = cpu_dirs(&cpu_dir.join("cpufreq"), "policy");
        if paths.is_empty() {
            paths = cpu_dirs(&cpu_dir, "cpu")
                .into_iter()
                .map(|dir| dir.join("cpufreq"))
                .filter(|p| p.exists())
                .collect();
        }
        // cpu_dirs sorts by number already.
        let khz = |path: &Path| -> Option<i64> { read_opt(path).and_then(|d| int::<i64>(&d)) };
        let mut out = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let current_khz = if paths.len() == cpuinfo.len() {
                Some((cpuinfo[i] * 1000.0) as i64)
            } else {
                khz(&path.join("scaling_cur_freq"))
            };
            let current_khz = match current_khz.or_else(|| khz(&path.join("cpuinfo_cur_freq"))) {
                Some(v) => v,
                None => {
                    let online = read_opt(&cpu_dir.join(format!("cpu{i}/online")));
                    if online.as_deref() == Some(b"0\n") {
                        out.push(CpuFreq {
                            current: 0.0,
                            min: 0.0,
                            max: 0.0,
                        });
                        continue;
                    }
                    return Err(SystemError::Unsupported {
                        what: format!("current frequency file in {}", path.display()),
                    });
                }
            };
            let required = |name: &str| -> Result<f64> {
                let file = path.join(name);
                let data = read(&file)?;
                int::<i64>(&data)
                    .map(|v| v as f64 / 1000.0)
                    .ok_or_else(|| SystemError::parse(&file, "not a number"))
            };
            let max = required("scaling_max_freq")?;
            let min = required("scaling_min_freq")?;
            out.push(CpuFreq {
                current: current_khz as f64 / 1000.0,
                min,
                max,
            });
        }
        Ok(out)
    }

    /// psutil's `cpu_freq()`: the one CPU's, or the average over CPUs; `None` when none is
    /// known.
    pub fn cpu_freq(&self) -> Result<Option<CpuFreq>> {
        let each = self.cpu_freq_percpu()?;
        Ok(match each.len() {
            0 => None,
            1 => Some(each[0]),
            n => {
                let n = n as f64;
                let (mut current, mut min, mut max) = (0.0, 0.0, 0.0);
                for cpu in &each {
                    current += cpu.current;
                    min += cpu.min;
                    max += cpu.max;
                }
                Some(CpuFreq {
                    current: current / n,
                    min: min / n,
                    max: max / n,
                })
            }
        })
    }

    /// psutil's `getloadavg()`, which is Python's `os.getloadavg()`: glibc asks `sysinfo(2)`
    /// and divides the kernel's fixed-point loads by 2^16, so the values are exact binary
    /// fractions (`3.220703125`), not `/proc/loadavg`'s two decimals. A syscall: the roots do
    /// not apply.
    pub fn getloadavg(&self) -> Result<[f64; 3]> {
        ffi::sysinfo_loads().map_err(|e| SystemError::syscall("sysinfo", "", e))
    }
}

/// The subdirectories of `dir` named `PREFIX` + a digit + anything (glob `PREFIXN[0-9]*`),
/// sorted by their number (psutil sorts by the first number in the path).
fn cpu_dirs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let rest = name.to_str()?.strip_prefix(prefix)?;
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            Some((digits.parse().ok()?, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{SystemRoot, TempDir};
    use super::*;

    const STAT: &[u8] = b"cpu  80860 0 31520 612237 1263 0 192 15 0 0\n\
cpu0 40000 0 15000 300000 600 0 100 5 0 0\n\
cpu1 40860 0 16520 312237 663 0 92 10 0 0\n\
intr 123456 1 2 3\nctxt 987654\nbtime 1700000000\nprocesses 5\nprocs_running 1\n\
softirq 5555 1 2\n";

    #[test]
    fn times_and_stats_from_fixture() {
        let dir = TempDir::new("cpu");
        dir.write("proc/stat", STAT);
        let sys = dir.system();
        let t = sys.cpu_times().unwrap();
        assert_eq!(t.user, 808.6);
        assert_eq!(t.idle, 6122.37);
        assert_eq!(t.steal, 0.15);
        let each = sys.cpu_times_percpu().unwrap();
        assert_eq!(each.len(), 2);
        assert_eq!(each[1].iowait, 6.63);
        let stats = sys.cpu_stats().unwrap();
        assert_eq!(
            stats,
            CpuStats {
                ctx_switches: 987654,
                interrupts: 123456,
                soft_interrupts: 5555,
                syscalls: 0
            }
        );
    }

    #[test]
    fn old_kernel_fields_are_zero() {
        let dir = TempDir::new("cpu-old");
        dir.write("proc/stat", b"cpu  100 0 100 100 0 0 0\n");
        let t = dir.system().cpu_times().unwrap();
        assert_eq!((t.user, t.steal, t.guest_nice), (1.0, 0.0, 0.0));
    }

    #[test]
    fn cores_from_topology_then_cpuinfo() {
        let dir = TempDir::new("cores");
        for (cpu, list) in [(0, "0-1"), (1, "0-1"), (2, "2-3"), (3, "2-3")] {
            dir.write(
                &format!("sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list"),
                format!("{list}\n").as_bytes(),
            );
        }
        dir.write("sys/devices/system/cpu/cpufreq/x", b"");
        assert_eq!(dir.system().cpu_count(false).unwrap(), Some(2));

        let dir = TempDir::new("cores-cpuinfo");
        let mut cpuinfo = String::new();
        for (n, id) in [(0, 0), (1, 0), (2, 1), (3, 1)] {
            cpuinfo.push_str(&format!(
                "processor\t: {n}\nphysical id\t: {id}\ncpu cores\t: 2\ncpu MHz\t\t: 2596.120\n\n"
            ));
        }
        dir.write("proc/cpuinfo", cpuinfo.as_bytes());
        let sys = dir.system();
        assert_eq!(sys.cpu_count(false).unwrap(), Some(4));
        // No cpufreq in sysfs: cpuinfo's values with min and max zero.
        let freqs = sys.cpu_freq_percpu().unwrap();
        assert_eq!(freqs.len(), 4);
        assert_eq!(
            sys.cpu_freq().unwrap(),
            Some(CpuFreq {
                current: 2596.12,
                min: 0.0,
                max: 0.0
            })
        );
    }

    #[test]
    fn freq_from_cpufreq_policies() {
        let dir = TempDir::new("freq");
        for (n, cur) in [(0, 1200000), (1, 3000000), (10, 2000000)] {
            let base = format!("sys/devices/system/cpu/cpufreq/policy{n}");
            dir.write(
                &format!("{base}/scaling_cur_freq"),
                format!("{cur}\n").as_bytes(),
            );
            dir.write(&format!("{base}/scaling_min_freq"), b"800000\n");
            dir.write(&format!("{base}/scaling_max_freq"), b"3500000\n");
        }
        // cpuinfo lists one CPU: not the same count, so sysfs's current values are used.
        dir.write("proc/cpuinfo", b"processor\t: 0\ncpu MHz\t\t: 1.0\n\n");
        let sys = dir.system();
        let each = sys.cpu_freq_percpu().unwrap();
        assert_eq!(
            each.iter().map(|f| f.current).collect::<Vec<_>>(),
            vec![1200.0, 3000.0, 2000.0]
        );
        let avg = sys.cpu_freq().unwrap().unwrap();
        assert_eq!(
            (avg.current, avg.min, avg.max),
            ((1200.0 + 3000.0 + 2000.0) / 3.0, 800.0, 3500.0)
        );
    }

    #[test]
    fn loadavg_is_sysinfo_not_proc_text() {
        let loads = System::new().getloadavg().unwrap();
        let text = std::fs::read_to_string("/proc/loadavg").unwrap();
        for (load, shown) in loads.iter().zip(text.split_whitespace()) {
            let shown: f64 = shown.parse().unwrap();
            // /proc/loadavg rounds to two decimals (and may have moved on meanwhile).
            assert!((load - shown).abs() < 0.5, "{load} vs {shown}");
            assert_eq!(
                (load * 65536.0).fract(),
                0.0,
                "{load} is a 16-bit fixed-point value"
            );
        }
    }

    #[test]
    fn live_values_are_sane() {
        let sys = System::new();
        let logical = sys.cpu_count(true).unwrap().unwrap();
        assert_eq!(sys.cpu_times_percpu().unwrap().len(), logical as usize);
        assert!(sys.cpu_count(false).unwrap().unwrap() <= logical);
        assert!(sys.cpu_times().unwrap().idle > 0.0);
        assert!(sys.cpu_stats().unwrap().ctx_switches > 0);
        assert!(sys.getloadavg().unwrap().iter().all(|v| *v >= 0.0));
    }
}
