//! Building a [`Report`]: reads the sections asked for from the live system, keeping each
//! figure or the reason it could not be read. The figures that compare two moments take their
//! memory from the caller: a [`CpuWindow`] (the `cpu_percent` baseline) and an [`IoMemory`]
//! (psutil's `nowrap` caches), so the same code serves a one-off `tracer sys` (baseline at
//! its start, raw counters) and the agent (baseline from its sampler, counters kept since it
//! started).

use std::ffi::OsString;
use std::time::Instant;

use super::report::{CpuReport, DiskReport, MemoryReport, NetReport, Report, SensorsReport};
use super::{self as system, ConnKind, DiskUsage, Sampler, SystemError};

pub use super::report::IoRates;

/// Which sections to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sections {
    /// cpu_count, cpu_count_cores, cpu_percent(_percpu), cpu_times_percent,
    /// cpu_times(_percpu), cpu_stats, cpu_freq(_percpu), getloadavg.
    pub cpu: bool,
    /// virtual_memory, swap_memory.
    pub memory: bool,
    /// disk_partitions, disk_usage (per mountpoint), disk_io_counters(_perdisk).
    pub disk: bool,
    /// net_io_counters(_pernic), net_if_addrs, net_if_stats, net_connections (kind inet).
    pub net: bool,
    /// sensors_temperatures, sensors_fans, sensors_battery.
    pub sensors: bool,
    /// boot_time and users (`tracer sys all` only).
    pub system: bool,
}

impl Sections {
    /// Every section, with boot_time and users (`tracer sys all`).
    pub const ALL: Sections = Sections {
        cpu: true,
        memory: true,
        disk: true,
        net: true,
        sensors: true,
        system: true,
    };
}

/// What `cpu_percent` and `cpu_times_percent` compare with: a sampler whose baseline was taken
/// at `since`, read at `until` (waiting for it) or at once.
#[derive(Debug, Clone)]
pub struct CpuWindow {
    /// Holds the baseline; its cpu_percent(None) compares with it.
    pub sampler: Sampler,
    /// When the baseline was taken.
    pub since: Instant,
    /// When to read the second sample; `None`: now.
    pub until: Option<Instant>,
}

impl CpuWindow {
    /// A baseline taken now, compared with at once (psutil's first non-blocking call).
    pub fn now() -> CpuWindow {
        CpuWindow {
            sampler: Sampler::new(),
            since: Instant::now(),
            until: None,
        }
    }
}

/// The I/O counters' `nowrap` memory (psutil's `_wrap_numbers` caches): one sampler for the
/// totals and one for the per-device figures, as their keys differ.
#[derive(Debug, Clone, Default)]
pub struct IoMemory {
    /// For disk_io_counters and net_io_counters.
    pub total: Sampler,
    /// For disk_io_counters_perdisk and net_io_counters_pernic.
    pub each: Sampler,
}

/// A report with the warnings about the figures that could not be read (`name: error`).
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// The figures.
    pub report: Report,
    /// One line per figure that could not be read.
    pub warnings: Vec<String>,
}

/// Collects results, keeping the value or warning about the error.
#[derive(Default)]
struct Warnings(Vec<String>);

impl Warnings {
    fn keep<T>(&mut self, name: &str, result: Result<T, SystemError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(format!("{name}: {error}"));
                None
            }
        }
    }
}

/// Reads `sections` of the live system. `cpu` is the cpu_percent baseline (a fresh one,
/// compared at once, when `None`); `io` the `nowrap` memory of the I/O counters (without it
/// they are read raw, as psutil's `nowrap=False`); `rates` the throughput to carry for text.
/// The CPU figures are read last, after waiting for `cpu.until`, so the other reads count
/// towards the window.
pub fn collect(
    sections: Sections,
    cpu: Option<CpuWindow>,
    mut io: Option<&mut IoMemory>,
    rates: Option<IoRates>,
) -> Collected {
    let mut warnings = Warnings::default();
    let w = &mut warnings;

    let memory = sections.memory.then(|| MemoryReport {
        virtual_memory: w.keep("virtual_memory", system::virtual_memory()),
        swap_memory: w.keep("swap_memory", system::swap_memory()),
    });
    let disk = sections.disk.then(|| read_disk(w, io.as_deref_mut()));
    let net = sections.net.then(|| {
        let (total, pernic) = match io {
            Some(io) => (
                io.total.net_io_counters(true),
                io.each.net_io_counters_pernic(true),
            ),
            None => (system::net_io_counters(), system::net_io_counters_pernic()),
        };
        NetReport {
            net_io_counters: w.keep("net_io_counters", total).flatten(),
            net_io_counters_pernic: w.keep("net_io_counters_pernic", pernic),
            net_if_addrs: w.keep("net_if_addrs", system::net_if_addrs()),
            net_if_stats: w.keep("net_if_stats", system::net_if_stats()),
            net_connections: w.keep("net_connections", system::net_connections(ConnKind::Inet)),
        }
    });
    let sensors = sections.sensors.then(|| SensorsReport {
        sensors_temperatures: w.keep("sensors_temperatures", system::sensors_temperatures()),
        sensors_fans: w.keep("sensors_fans", system::sensors_fans()),
        sensors_battery: w.keep("sensors_battery", system::sensors_battery()),
    });
    let boot_time = sections
        .system
        .then(|| w.keep("boot_time", system::boot_time()));
    let users = sections.system.then(|| w.keep("users", system::users()));
    let cpu = sections.cpu.then(|| {
        let mut window = cpu.unwrap_or_else(CpuWindow::now);
        if let Some(until) = window.until {
            // The other sections' reads count towards the window.
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        let sampler = &mut window.sampler;
        CpuReport {
            cpu_count: w.keep("cpu_count", system::cpu_count(true)).flatten(),
            cpu_count_cores: w
                .keep("cpu_count_cores", system::cpu_count(false))
                .flatten(),
            cpu_percent: w.keep("cpu_percent", sampler.cpu_percent(None)),
            cpu_percent_percpu: w.keep("cpu_percent_percpu", sampler.cpu_percent_percpu(None)),
            cpu_times_percent: w.keep("cpu_times_percent", sampler.cpu_times_percent(None)),
            window: window.since.elapsed(),
            cpu_times: w.keep("cpu_times", system::cpu_times()),
            cpu_times_percpu: w.keep("cpu_times_percpu", system::cpu_times_percpu()),
            cpu_stats: w.keep("cpu_stats", system::cpu_stats()),
            cpu_freq: w.keep("cpu_freq", system::cpu_freq()).flatten(),
            cpu_freq_percpu: w.keep("cpu_freq_percpu", system::cpu_freq_percpu()),
            getloadavg: w.keep("getloadavg", system::getloadavg()),
        }
    });
    Collected {
        report: Report {
            cpu,
            memory,
            disk,
            net,
            sensors,
            boot_time,
            users,
            rates,
        },
        warnings: warnings.0,
    }
}

fn read_disk(w: &mut Warnings, io: Option<&mut IoMemory>) -> DiskReport {
    let disk_partitions = w.keep("disk_partitions", system::disk_partitions(false));
    let mountpoints: Vec<OsString> = match &disk_partitions {
        Some(parts) => parts.iter().map(|p| p.mountpoint.clone()).collect(),
        None => vec![OsString::from("/")],
    };
    let mut seen: Vec<&OsString> = Vec::new();
    let mut disk_usage: Vec<(String, Option<DiskUsage>)> = Vec::new();
    for mountpoint in &mountpoints {
        if seen.contains(&mountpoint) {
            continue;
        }
        seen.push(mountpoint);
        let usage = w.keep("disk_usage", system::disk_usage(mountpoint));
        // Object keys are strings: a mountpoint that is not UTF-8 is keyed lossily.
        disk_usage.push((mountpoint.to_string_lossy().into_owned(), usage));
    }
    let (total, perdisk) = match io {
        Some(io) => (
            io.total.disk_io_counters(true),
            io.each.disk_io_counters_perdisk(true),
        ),
        None => (
            system::disk_io_counters(),
            system::disk_io_counters_perdisk(),
        ),
    };
    DiskReport {
        disk_partitions,
        disk_usage,
        disk_io_counters: w.keep("disk_io_counters", total).flatten(),
        disk_io_counters_perdisk: w.keep("disk_io_counters_perdisk", perdisk),
    }
}
