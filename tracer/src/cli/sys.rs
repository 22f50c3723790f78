//! `tracer sys`: psutil's system-wide figures — CPU, memory, disks, network, sensors, boot time
//! and users — as aligned text for a glance, or as one JSON object keyed by psutil's function
//! names with values shaped as psutil returns them.
//!
//! Figures are read directly (`crate::system`), by this process or by the agent. The ones that
//! compare two moments differ between the two:
//!
//! - **Directly**, psutil's semantics: `cpu_percent` and `cpu_times_percent` measure the
//!   window from this command's start to its answer (`--interval`, 0.25 s by default), as
//!   psutil's first non-blocking call measures from its import.
//! - **Through the agent**, which samples the CPU and I/O counters every second
//!   (`crate::agent::sampling`), they compare with a sample 0.5–1.5 s old, so the first call is
//!   already meaningful; the I/O counters keep psutil's `nowrap` memory across the agent's
//!   life, and the text adds disk and network throughput over the last second. An explicit
//!   `--interval` measures that window here instead.
//!
//! A figure that cannot be read is `null` in JSON and `-` in text, with one warning line on
//! stderr (through the agent, in the agent's log); the rest is still shown.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::text;
use super::Connection;
use crate::agent::protocol::Section;
use crate::agent::ClientError;
use crate::agent_request;
use crate::json::Json;
use crate::procfs::Procfs;
use crate::query::Format;
use crate::system::json::{write_named, ToJson};
use crate::system::{
    self, Address, Battery, ConnKind, Connection as Socket, CpuFreq, CpuStats, CpuTimes, DiskIo,
    DiskPartition, DiskUsage, Fan, Named, NetIo, NicAddr, NicStats, Sampler, SwapMemory,
    SystemError, Temperature, User, VirtualMemory, AF_LINK,
};

/// Flags of `tracer sys`.
#[derive(Debug, Args)]
pub struct SysArgs {
    /// Which figures: cpu, memory, disk, net, sensors, or all of them plus boot_time and users.
    /// Several may be named (`tracer sys cpu memory`).
    #[arg(value_enum, num_args = 0.., default_values_t = [Section::All])]
    sections: Vec<Section>,

    /// One JSON object keyed by psutil function names (cpu_times, virtual_memory, …), values
    /// shaped as psutil returns them.
    #[arg(long)]
    json: bool,

    /// The window, in seconds, cpu_percent and cpu_times_percent measure (psutil's interval;
    /// it starts when tracer starts; default 0.25). 0 compares with the start at once, which,
    /// as psutil's first non-blocking call, means nothing. Through the agent the window is the
    /// agent's last sample (0.5–1.5 s old) unless this flag is given.
    #[arg(long, value_name = "SECONDS")]
    interval: Option<f64>,
}

/// CPU figures; `None` where the read failed (warned about).
struct CpuReport {
    cpu_count: Option<Option<u32>>,
    cpu_count_cores: Option<Option<u32>>,
    cpu_percent: Option<f64>,
    cpu_percent_percpu: Option<Vec<f64>>,
    cpu_times_percent: Option<CpuTimes>,
    cpu_times: Option<CpuTimes>,
    cpu_times_percpu: Option<Vec<CpuTimes>>,
    cpu_stats: Option<CpuStats>,
    cpu_freq: Option<Option<CpuFreq>>,
    cpu_freq_percpu: Option<Vec<CpuFreq>>,
    getloadavg: Option<[f64; 3]>,
    /// How long cpu_percent measured.
    window: Duration,
}

struct MemoryReport {
    virtual_memory: Option<VirtualMemory>,
    swap_memory: Option<SwapMemory>,
}

struct DiskReport {
    disk_partitions: Option<Vec<DiskPartition>>,
    /// Per partition's mountpoint, in disk_partitions' order (duplicates once).
    disk_usage: Vec<(OsString, Option<DiskUsage>)>,
    disk_io_counters: Option<Option<DiskIo>>,
    disk_io_counters_perdisk: Option<Named<DiskIo>>,
}

struct NetReport {
    net_io_counters: Option<Option<NetIo>>,
    net_io_counters_pernic: Option<Named<NetIo>>,
    net_if_addrs: Option<Named<Vec<NicAddr>>>,
    net_if_stats: Option<Named<NicStats>>,
    net_connections: Option<Vec<Socket>>,
}

struct SensorsReport {
    sensors_temperatures: Option<Named<Vec<Temperature>>>,
    sensors_fans: Option<Named<Vec<Fan>>>,
    sensors_battery: Option<Option<Battery>>,
}

/// Everything `tracer sys` shows; sections not asked for are `None`.
struct Report {
    cpu: Option<CpuReport>,
    memory: Option<MemoryReport>,
    disk: Option<DiskReport>,
    net: Option<NetReport>,
    sensors: Option<SensorsReport>,
    boot_time: Option<Option<f64>>,
    users: Option<Option<Vec<User>>>,
    /// Throughput over the agent's last sampling period (text only: psutil has no rates).
    rates: Option<IoRates>,
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

/// What `cpu_percent` and `cpu_times_percent` compare with: a sampler whose baseline was taken
/// at `since`, read at `until` (waiting for it) or at once.
pub(crate) struct CpuWindow {
    /// Holds the baseline; its cpu_percent(None) compares with it.
    pub sampler: Sampler,
    /// When the baseline was taken.
    pub since: Instant,
    /// When to read the second sample; `None`: now.
    pub until: Option<Instant>,
}

/// The I/O counters' `nowrap` memory (psutil's `_wrap_numbers` caches): one sampler for the
/// totals and one for the per-device figures, as their keys differ.
#[derive(Debug, Clone, Default)]
pub(crate) struct IoMemory {
    /// For disk_io_counters and net_io_counters.
    pub total: Sampler,
    /// For disk_io_counters_perdisk and net_io_counters_pernic.
    pub each: Sampler,
}

/// Disk and network throughput between two readings, in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct IoRates {
    /// The time between the readings.
    pub window: Duration,
    /// Read and written per second on whole disks.
    pub disk: Option<(f64, f64)>,
    /// Sent and received per second on all interfaces.
    pub net: Option<(f64, f64)>,
}

impl IoRates {
    /// The rates between two readings of the totals, `window` apart.
    pub fn between(
        window: Duration,
        before: (Option<DiskIo>, Option<NetIo>),
        after: (Option<DiskIo>, Option<NetIo>),
    ) -> IoRates {
        let secs = window.as_secs_f64().max(1e-3);
        let per_second = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
        IoRates {
            window,
            disk: before.0.zip(after.0).map(|(a, b)| {
                (
                    per_second(a.read_bytes, b.read_bytes),
                    per_second(a.write_bytes, b.write_bytes),
                )
            }),
            net: before.1.zip(after.1).map(|(a, b)| {
                (
                    per_second(a.bytes_sent, b.bytes_sent),
                    per_second(a.bytes_recv, b.bytes_recv),
                )
            }),
        }
    }
}

/// Runs `tracer sys`: through the agent when one runs (and no --interval is given), else here.
pub fn run(args: SysArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    if let Some(interval) = args.interval {
        if !(interval.is_finite() && interval >= 0.0) {
            anyhow::bail!("--interval must be a number of seconds, 0 or more");
        }
    }
    let format = if args.json {
        Format::Json
    } else {
        Format::Text
    };
    if args.interval.is_none() {
        if let Some(mut client) = connection.client() {
            let names: Vec<&str> = args.sections.iter().map(|s| s.name()).collect();
            match client.request(agent_request!(
                "sys",
                "sections" => names,
                "format" => if args.json { "json" } else { "text" },
            )) {
                Ok(out) => return super::ps::print(&out),
                // An agent from before the `sys` operation: answer here.
                Err(ClientError::Refused { kind, message })
                    if kind == "bad_request" && message.starts_with("unknown op") =>
                {
                    eprintln!("tracer: the agent does not serve sys figures: direct mode");
                }
                Err(error) => return Err(error).context("the agent could not answer"),
            }
        }
    }
    let interval = Duration::from_secs_f64(args.interval.unwrap_or(0.25));
    let started = Instant::now();
    // psutil's module load: the baseline of cpu_percent.
    let cpu = wants(&args.sections, Section::Cpu).then(|| CpuWindow {
        sampler: Sampler::new(),
        since: started,
        until: Some(started + interval),
    });
    let (out, warnings) = render(&args.sections, format, cpu, None, None);
    for warning in &warnings {
        eprintln!("tracer: warning: {warning}");
    }
    super::ps::print(out.as_bytes())
}

fn wants(sections: &[Section], section: Section) -> bool {
    sections.is_empty() || sections.iter().any(|s| *s == section || *s == Section::All)
}

/// Reads `sections` and renders them as `tracer sys` prints them, with the warnings about
/// figures that could not be read. `cpu` is the cpu_percent baseline (needed when the cpu
/// section is asked for); `io` the `nowrap` memory of the I/O counters (without it they are
/// read raw, as psutil's `nowrap=False`); `rates` the throughput to show in text.
pub(crate) fn render(
    sections: &[Section],
    format: Format,
    cpu: Option<CpuWindow>,
    mut io: Option<&mut IoMemory>,
    rates: Option<IoRates>,
) -> (String, Vec<String>) {
    let wants = |s: Section| wants(sections, s);
    let mut warnings = Warnings::default();
    let w = &mut warnings;

    let memory = wants(Section::Memory).then(|| MemoryReport {
        virtual_memory: w.keep("virtual_memory", system::virtual_memory()),
        swap_memory: w.keep("swap_memory", system::swap_memory()),
    });
    let disk = wants(Section::Disk).then(|| read_disk(w, io.as_deref_mut()));
    let net = wants(Section::Net).then(|| {
        let (total, pernic) = match io {
            Some(io) => (
                io.total.net_io_counters(true),
                io.each.net_io_counters_pernic(true),
            ),
            None => (system::net_io_counters(), system::net_io_counters_pernic()),
        };
        NetReport {
            net_io_counters: w.keep("net_io_counters", total),
            net_io_counters_pernic: w.keep("net_io_counters_pernic", pernic),
            net_if_addrs: w.keep("net_if_addrs", system::net_if_addrs()),
            net_if_stats: w.keep("net_if_stats", system::net_if_stats()),
            net_connections: w.keep("net_connections", system::net_connections(ConnKind::Inet)),
        }
    });
    let sensors = wants(Section::Sensors).then(|| SensorsReport {
        sensors_temperatures: w.keep("sensors_temperatures", system::sensors_temperatures()),
        sensors_fans: w.keep("sensors_fans", system::sensors_fans()),
        sensors_battery: w.keep("sensors_battery", system::sensors_battery()),
    });
    let everything = sections.is_empty() || sections.contains(&Section::All);
    let boot_time = everything.then(|| w.keep("boot_time", system::boot_time()));
    let users = everything.then(|| w.keep("users", system::users()));
    let cpu = wants(Section::Cpu).then(|| {
        let mut window = cpu.unwrap_or_else(|| CpuWindow {
            sampler: Sampler::new(),
            since: Instant::now(),
            until: None,
        });
        if let Some(until) = window.until {
            // The other sections' reads count towards the window.
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        let sampler = &mut window.sampler;
        CpuReport {
            cpu_count: w.keep("cpu_count", system::cpu_count(true)),
            cpu_count_cores: w.keep("cpu_count_cores", system::cpu_count(false)),
            cpu_percent: w.keep("cpu_percent", sampler.cpu_percent(None)),
            cpu_percent_percpu: w.keep("cpu_percent_percpu", sampler.cpu_percent_percpu(None)),
            cpu_times_percent: w.keep("cpu_times_percent", sampler.cpu_times_percent(None)),
            window: window.since.elapsed(),
            cpu_times: w.keep("cpu_times", system::cpu_times()),
            cpu_times_percpu: w.keep("cpu_times_percpu", system::cpu_times_percpu()),
            cpu_stats: w.keep("cpu_stats", system::cpu_stats()),
            cpu_freq: w.keep("cpu_freq", system::cpu_freq()),
            cpu_freq_percpu: w.keep("cpu_freq_percpu", system::cpu_freq_percpu()),
            getloadavg: w.keep("getloadavg", system::getloadavg()),
        }
    });
    let report = Report {
        cpu,
        memory,
        disk,
        net,
        sensors,
        boot_time,
        users,
        rates,
    };
    let out = match format {
        Format::Json => {
            let mut json = report_json(&report);
            json.push('\n');
            json
        }
        Format::Text => report_text(&report),
    };
    (out, warnings.0)
}

fn read_disk(w: &mut Warnings, io: Option<&mut IoMemory>) -> DiskReport {
    let disk_partitions = w.keep("disk_partitions", system::disk_partitions(false));
    let mut disk_usage: Vec<(OsString, Option<DiskUsage>)> = Vec::new();
    let mountpoints: Vec<OsString> = match &disk_partitions {
        Some(parts) => parts.iter().map(|p| p.mountpoint.clone()).collect(),
        None => vec![OsString::from("/")],
    };
    for mountpoint in mountpoints {
        if disk_usage.iter().any(|(m, _)| *m == mountpoint) {
            continue;
        }
        let usage = w.keep("disk_usage", system::disk_usage(&mountpoint));
        disk_usage.push((mountpoint, usage));
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
        disk_io_counters: w.keep("disk_io_counters", total),
        disk_io_counters_perdisk: w.keep("disk_io_counters_perdisk", perdisk),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

/// Writes `key: value` (null when the read failed).
fn field<T: ToJson>(json: &mut Json, key: &str, value: &Option<T>) {
    json.key(key);
    value.write_json(json);
}

/// Writes `key: {name: value, …}` (null when the read failed).
fn named_field<T: ToJson>(json: &mut Json, key: &str, value: &Option<Named<T>>) {
    json.key(key);
    match value {
        Some(named) => write_named(json, named),
        None => {
            json.null();
        }
    }
}

fn report_json(report: &Report) -> String {
    let mut json = Json::new();
    json.begin_object();
    if let Some(cpu) = &report.cpu {
        field(
            &mut json,
            "cpu_count",
            &cpu.cpu_count.map(|c| c.map(u64::from)),
        );
        field(
            &mut json,
            "cpu_count_cores",
            &cpu.cpu_count_cores.map(|c| c.map(u64::from)),
        );
        field(&mut json, "cpu_percent", &cpu.cpu_percent);
        field(&mut json, "cpu_percent_percpu", &cpu.cpu_percent_percpu);
        field(&mut json, "cpu_times_percent", &cpu.cpu_times_percent);
        field(&mut json, "cpu_times", &cpu.cpu_times);
        field(&mut json, "cpu_times_percpu", &cpu.cpu_times_percpu);
        field(&mut json, "cpu_stats", &cpu.cpu_stats);
        field(&mut json, "cpu_freq", &cpu.cpu_freq);
        field(&mut json, "cpu_freq_percpu", &cpu.cpu_freq_percpu);
        field(&mut json, "getloadavg", &cpu.getloadavg);
    }
    if let Some(memory) = &report.memory {
        field(&mut json, "virtual_memory", &memory.virtual_memory);
        field(&mut json, "swap_memory", &memory.swap_memory);
    }
    if let Some(disk) = &report.disk {
        field(&mut json, "disk_partitions", &disk.disk_partitions);
        json.key("disk_usage").begin_object();
        for (mountpoint, usage) in &disk.disk_usage {
            // Object keys are strings: a mountpoint that is not UTF-8 is shown lossily.
            json.key(&mountpoint.to_string_lossy());
            usage.write_json(&mut json);
        }
        json.end_object();
        field(&mut json, "disk_io_counters", &disk.disk_io_counters);
        named_field(
            &mut json,
            "disk_io_counters_perdisk",
            &disk.disk_io_counters_perdisk,
        );
    }
    if let Some(net) = &report.net {
        field(&mut json, "net_io_counters", &net.net_io_counters);
        named_field(
            &mut json,
            "net_io_counters_pernic",
            &net.net_io_counters_pernic,
        );
        named_field(&mut json, "net_if_addrs", &net.net_if_addrs);
        named_field(&mut json, "net_if_stats", &net.net_if_stats);
        field(&mut json, "net_connections", &net.net_connections);
    }
    if let Some(sensors) = &report.sensors {
        named_field(
            &mut json,
            "sensors_temperatures",
            &sensors.sensors_temperatures,
        );
        named_field(&mut json, "sensors_fans", &sensors.sensors_fans);
        field(&mut json, "sensors_battery", &sensors.sensors_battery);
    }
    if let Some(boot_time) = &report.boot_time {
        field(&mut json, "boot_time", boot_time);
    }
    if let Some(users) = &report.users {
        field(&mut json, "users", users);
    }
    json.end_object();
    json.finish()
}

// ---------------------------------------------------------------------------------------------
// Text

/// Width of the section label column.
const LABEL: usize = 9;

/// Lines under section labels: the label on the first line, blanks below.
struct Page {
    out: String,
}

impl Page {
    fn section(&mut self, label: &str, lines: Vec<String>) {
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            let line = format!("{label:<LABEL$}{line}");
            self.out.push_str(line.trim_end());
            self.out.push('\n');
        }
    }
}

/// Columns padded to their widest cell; `right` says which are right-aligned.
fn table(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let w = widths[i];
            if right.get(i).copied().unwrap_or(false) {
                out.push_str(&format!("{cell:>w$}"));
            } else if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}"));
            }
        }
        out.trim_end().to_string()
    };
    let mut lines = vec![line(header.to_vec())];
    for row in rows {
        lines.push(line(row.iter().map(String::as_str).collect()));
    }
    lines
}

/// Bytes per second, short.
fn rate(per_second: f64) -> String {
    bytes(per_second.round() as u64)
}

fn bytes(n: u64) -> String {
    text::bytes(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A count, short: `987`, `12.3K`, `4.5M`, `1.2G`.
fn count(n: u64) -> String {
    const UNITS: [(f64, &str); 3] = [(1e9, "G"), (1e6, "M"), (1e3, "K")];
    for (scale, unit) in UNITS {
        if n as f64 >= scale {
            return format!("{:.1}{unit}", n as f64 / scale);
        }
    }
    n.to_string()
}

/// A long span of seconds: `12.6s`, `5m07s`, `2h03m`, `3d04h`.
fn span(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let whole = s as u64;
    let (d, h, m) = (whole / 86400, whole / 3600 % 24, whole / 60 % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else {
        format!("{m}m{:02}s", whole % 60)
    }
}

fn percent(p: f64) -> String {
    format!("{p:.1}%")
}

fn dash<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "-".to_string(), show)
}

/// The prefix length of a netmask (`255.255.255.0` → 24), if it is one.
fn prefix_len(netmask: &str) -> Option<u32> {
    let bits = match netmask.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    };
    (bits.leading_ones() + bits.trailing_zeros() == 128 || bits == 0).then_some(bits.leading_ones())
}

fn report_text(report: &Report) -> String {
    let mut page = Page { out: String::new() };
    if let (Some(Some(boot)), Some(users)) = (&report.boot_time, &report.users) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let boot_clock = text::time_of_day(*boot);
        let boot_clock = boot_clock.split('.').next().unwrap_or_default();
        let mut line = format!("up {}, booted at {boot_clock}", span(now - boot));
        if let Some(users) = users {
            let n = users.len();
            line.push_str(&format!(" · {n} user{}", if n == 1 { "" } else { "s" }));
        }
        if let Some(Some(load)) = report.cpu.as_ref().map(|c| c.getloadavg) {
            line.push_str(&format!(
                " · load {:.2} {:.2} {:.2}",
                load[0], load[1], load[2]
            ));
        }
        page.section("SYSTEM", vec![line]);
    }
    if let Some(cpu) = &report.cpu {
        page.section("CPU", cpu_text(cpu, report.boot_time.is_none()));
    }
    if let Some(memory) = &report.memory {
        page.section("MEMORY", memory_text(memory));
    }
    if let Some(disk) = &report.disk {
        let mut lines = disk_text(disk);
        if let Some((read, written)) = report.rates.and_then(|r| r.disk) {
            lines.push(format!(
                "throughput: read {}/s, written {}/s (last {})",
                rate(read),
                rate(written),
                text::duration(report.rates.map_or(0.0, |r| r.window.as_secs_f64()))
            ));
        }
        page.section("DISK", lines);
    }
    if let Some(net) = &report.net {
        let mut lines = net_text(net);
        if let Some((sent, received)) = report.rates.and_then(|r| r.net) {
            lines.push(format!(
                "throughput: sent {}/s, received {}/s (last {})",
                rate(sent),
                rate(received),
                text::duration(report.rates.map_or(0.0, |r| r.window.as_secs_f64()))
            ));
        }
        page.section("NETWORK", lines);
        page.section("SOCKETS", sockets_text(net));
    }
    if let Some(sensors) = &report.sensors {
        page.section("SENSORS", sensors_text(sensors));
    }
    if let Some(users) = &report.users {
        page.section("USERS", users_text(users.as_deref()));
    }
    page.out
}

fn cpu_text(cpu: &CpuReport, with_load: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut head = format!(
        "{} logical, {} cores",
        dash(cpu.cpu_count.flatten(), |n| n.to_string()),
        dash(cpu.cpu_count_cores.flatten(), |n| n.to_string()),
    );
    if let Some(Some(freq)) = cpu.cpu_freq {
        head.push_str(&format!(" · {:.0} MHz", freq.current));
        if freq.max > 0.0 {
            head.push_str(&format!(" (max {:.0})", freq.max));
        }
    }
    if let Some(busy) = cpu.cpu_percent {
        head.push_str(&format!(
            " · {} busy over {}",
            percent(busy),
            text::duration(cpu.window.as_secs_f64())
        ));
    }
    if with_load {
        if let Some(load) = cpu.getloadavg {
            head.push_str(&format!(
                " · load {:.2} {:.2} {:.2}",
                load[0], load[1], load[2]
            ));
        }
    }
    lines.push(head);
    if let Some(p) = cpu.cpu_times_percent {
        // psutil scales by the total CPU time only when it is over one second, so over a
        // shorter window its shares sum to less than 100: shown here as shares of their sum.
        let sum: f64 = p.values()[..8].iter().sum();
        let scale = if sum > 0.0 { 100.0 / sum } else { 1.0 };
        let parts: Vec<String> = CpuTimes::FIELDS
            .iter()
            .zip(p.values().map(|v| v * scale))
            .filter(|(name, v)| *v > 0.0 || matches!(**name, "user" | "system" | "idle" | "iowait"))
            .map(|(name, v)| format!("{name} {v:.1}%"))
            .collect();
        lines.push(parts.join("  "));
    }
    if let Some(each) = &cpu.cpu_percent_percpu {
        let cells: Vec<String> = each
            .iter()
            .enumerate()
            .map(|(i, p)| format!("cpu{i} {:>5}", percent(*p)))
            .collect();
        for chunk in cells.chunks(8) {
            lines.push(chunk.join("   "));
        }
    }
    if let Some(t) = cpu.cpu_times {
        let mut line = format!(
            "since boot: user {}  system {}  idle {}  iowait {}",
            span(t.user),
            span(t.system),
            span(t.idle),
            span(t.iowait)
        );
        if t.steal > 0.0 {
            line.push_str(&format!("  steal {}", span(t.steal)));
        }
        if let Some(stats) = cpu.cpu_stats {
            line.push_str(&format!(
                " · {} context switches, {} interrupts",
                count(stats.ctx_switches),
                count(stats.interrupts)
            ));
        }
        lines.push(line);
    }
    lines
}

fn memory_text(memory: &MemoryReport) -> Vec<String> {
    let mut lines = Vec::new();
    match memory.virtual_memory {
        Some(vm) => {
            lines.push(format!(
                "total {}  used {} ({})  available {}  free {}",
                bytes(vm.total),
                bytes(vm.used),
                percent(vm.percent),
                bytes(vm.available),
                bytes(vm.free)
            ));
            lines.push(format!(
                "buffers {}  cached {}  shared {}  slab {}  active {}  inactive {}",
                bytes(vm.buffers),
                bytes(vm.cached),
                bytes(vm.shared),
                bytes(vm.slab),
                bytes(vm.active),
                bytes(vm.inactive)
            ));
        }
        None => lines.push("memory: -".into()),
    }
    lines.push(match memory.swap_memory {
        Some(swap) if swap.total == 0 => "swap: none".into(),
        Some(swap) => format!(
            "swap: total {}  used {} ({})  free {}  swapped in {}  out {}",
            bytes(swap.total),
            bytes(swap.used),
            percent(swap.percent),
            bytes(swap.free),
            bytes(swap.sin),
            bytes(swap.sout)
        ),
        None => "swap: -".into(),
    });
    lines
}

fn disk_text(disk: &DiskReport) -> Vec<String> {
    let mut rows = Vec::new();
    for part in disk.disk_partitions.iter().flatten() {
        let usage = disk
            .disk_usage
            .iter()
            .find(|(m, _)| *m == part.mountpoint)
            .and_then(|(_, u)| *u);
        rows.push(vec![
            text::display(&part.device),
            text::display(&part.mountpoint),
            part.fstype.clone(),
            dash(usage, |u| bytes(u.total)),
            dash(usage, |u| bytes(u.used)),
            dash(usage, |u| bytes(u.free)),
            dash(usage, |u| percent(u.percent)),
        ]);
    }
    let mut lines = if rows.is_empty() {
        vec!["no disk partitions".to_string()]
    } else {
        table(
            &[
                "DEVICE",
                "MOUNTPOINT",
                "FSTYPE",
                "SIZE",
                "USED",
                "AVAIL",
                "USE%",
            ],
            &rows,
            &[false, false, false, true, true, true, true],
        )
    };
    if let Some(perdisk) = &disk.disk_io_counters_perdisk {
        // Disks and partitions that did any I/O (idle loop and ram devices are left out).
        let rows: Vec<Vec<String>> = perdisk
            .iter()
            .filter(|(_, io)| io.read_count + io.write_count > 0)
            .map(|(name, io)| {
                vec![
                    name.clone(),
                    count(io.read_count),
                    bytes(io.read_bytes),
                    count(io.write_count),
                    bytes(io.write_bytes),
                    span(io.busy_time as f64 / 1000.0),
                ]
            })
            .collect();
        if !rows.is_empty() {
            lines.extend(table(
                &["DISK", "READS", "READ", "WRITES", "WRITTEN", "BUSY"],
                &rows,
                &[false, true, true, true, true, true],
            ));
        }
    }
    lines
}

fn net_text(net: &NetReport) -> Vec<String> {
    let names: Vec<&String> = match (&net.net_io_counters_pernic, &net.net_if_stats) {
        (Some(io), _) => io.iter().map(|(n, _)| n).collect(),
        (None, Some(stats)) => stats.iter().map(|(n, _)| n).collect(),
        (None, None) => Vec::new(),
    };
    let stats_of = |name: &str| {
        net.net_if_stats
            .as_ref()
            .and_then(|s| s.iter().find(|(n, _)| n == name).map(|(_, v)| v))
    };
    let io_of = |name: &str| {
        net.net_io_counters_pernic
            .as_ref()
            .and_then(|s| s.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
    };
    let addrs_of = |name: &str| -> String {
        let Some(list) = net
            .net_if_addrs
            .as_ref()
            .and_then(|a| a.iter().find(|(n, _)| n == name).map(|(_, v)| v))
        else {
            return String::new();
        };
        list.iter()
            .filter(|a| !(a.family == AF_LINK && a.address == "00:00:00:00:00:00"))
            .map(|a| match a.netmask.as_deref().and_then(prefix_len) {
                Some(len) if a.family != AF_LINK => format!("{}/{len}", a.address),
                _ => a.address.clone(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|name| {
            let stats = stats_of(name);
            let io = io_of(name);
            vec![
                (*name).clone(),
                dash(stats, |s| if s.isup { "up" } else { "down" }.to_string()),
                dash(stats, |s| s.mtu.to_string()),
                dash(stats.filter(|s| s.speed > 0), |s| {
                    if s.speed >= 1000 && s.speed % 1000 == 0 {
                        format!("{}G", s.speed / 1000)
                    } else {
                        format!("{}M", s.speed)
                    }
                }),
                dash(io, |io| bytes(io.bytes_sent)),
                dash(io, |io| bytes(io.bytes_recv)),
                dash(io, |io| {
                    format!("{}/{}", io.errin + io.errout, io.dropin + io.dropout)
                }),
                addrs_of(name),
            ]
        })
        .collect();
    if rows.is_empty() {
        return vec!["no interfaces".into()];
    }
    table(
        &[
            "NIC",
            "STATE",
            "MTU",
            "SPEED",
            "SENT",
            "RECV",
            "ERR/DROP",
            "ADDRESSES",
        ],
        &rows,
        &[false, false, true, true, true, true, true, false],
    )
}

fn address_text(addr: &Address) -> String {
    match addr {
        Address::None => "*".into(),
        Address::Inet { ip, port } if ip.contains(':') => format!("[{ip}]:{port}"),
        Address::Inet { ip, port } => format!("{ip}:{port}"),
        Address::Path(path) => text::display(path),
    }
}

fn sockets_text(net: &NetReport) -> Vec<String> {
    let Some(conns) = &net.net_connections else {
        return vec!["-".into()];
    };
    let procfs = Procfs::new();
    let proto = |c: &Socket| {
        let base = if c.r#type == libc::SOCK_STREAM {
            "tcp"
        } else {
            "udp"
        };
        if c.family == libc::AF_INET6 {
            format!("{base}6")
        } else {
            base.to_string()
        }
    };
    let port = |c: &Socket| match &c.laddr {
        Address::Inet { port, .. } => *port,
        _ => 0,
    };
    // Listening TCP sockets and bound UDP ones without a peer: the services of this host.
    let mut listening: Vec<&Socket> = conns
        .iter()
        .filter(|c| {
            c.status == "LISTEN"
                || (c.r#type == libc::SOCK_DGRAM && c.raddr == Address::None && port(c) != 0)
        })
        .collect();
    listening.sort_by_key(|c| (port(c), proto(c), c.pid));
    let rows: Vec<Vec<String>> = listening
        .iter()
        .map(|c| {
            let name = c
                .pid
                .and_then(|pid| procfs.stat(pid).ok())
                .map(|s| text::display(&s.comm))
                .unwrap_or_else(|| "-".into());
            vec![
                proto(c),
                address_text(&c.laddr),
                dash(c.pid, |p| p.to_string()),
                name,
            ]
        })
        .collect();
    let mut lines = if rows.is_empty() {
        vec!["nothing listening".into()]
    } else {
        table(
            &["PROTO", "LISTENING ON", "PID", "PROCESS"],
            &rows,
            &[false, false, true, false],
        )
    };
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for c in conns
        .iter()
        .filter(|c| c.r#type == libc::SOCK_STREAM && c.status != "LISTEN")
    {
        *states.entry(c.status).or_default() += 1;
    }
    if !states.is_empty() {
        let parts: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        lines.push(format!("tcp connections: {}", parts.join(", ")));
    }
    lines
}

fn sensors_text(sensors: &SensorsReport) -> Vec<String> {
    let mut lines = Vec::new();
    for (unit, temps) in sensors.sensors_temperatures.iter().flatten() {
        for t in temps {
            let label = if t.label.is_empty() {
                unit.as_str()
            } else {
                t.label.as_str()
            };
            let mut line = format!("{unit:<12} {label:<20} {:>6.1}°C", t.current);
            if let Some(high) = t.high {
                line.push_str(&format!("  high {high:.1}"));
            }
            if let Some(crit) = t.critical {
                line.push_str(&format!("  critical {crit:.1}"));
            }
            lines.push(line);
        }
    }
    for (unit, fans) in sensors.sensors_fans.iter().flatten() {
        for fan in fans {
            let label = if fan.label.is_empty() {
                "fan"
            } else {
                fan.label.as_str()
            };
            lines.push(format!("{unit:<12} {label:<20} {:>6} RPM", fan.current));
        }
    }
    if let Some(Some(battery)) = sensors.sensors_battery {
        let state = match battery.power_plugged {
            Some(true) => "on AC power".to_string(),
            Some(false) => "on battery".to_string(),
            None => "power source unknown".to_string(),
        };
        let left = match battery.secsleft {
            system::POWER_TIME_UNLIMITED | system::POWER_TIME_UNKNOWN => String::new(),
            secs => format!(", {} left", span(secs as f64)),
        };
        lines.push(format!(
            "battery {}, {state}{left}",
            percent(battery.percent)
        ));
    }
    if lines.is_empty() {
        let failed = sensors.sensors_temperatures.is_none()
            || sensors.sensors_fans.is_none()
            || sensors.sensors_battery.is_none();
        lines.push(if failed {
            "-".into()
        } else {
            "none found (no hwmon or thermal sensors, fans or battery)".into()
        });
    }
    lines
}

fn users_text(users: Option<&[User]>) -> Vec<String> {
    let Some(users) = users else {
        return vec!["-".into()];
    };
    if users.is_empty() {
        return vec!["nobody logged in".into()];
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let started = text::time_of_day(u.started);
            vec![
                u.name.clone(),
                u.terminal.clone().unwrap_or_else(|| "-".into()),
                u.host.clone(),
                started.split('.').next().unwrap_or_default().to_string(),
                u.pid.to_string(),
            ]
        })
        .collect();
    table(
        &["USER", "TERMINAL", "HOST", "SINCE", "PID"],
        &rows,
        &[false, false, false, false, true],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_at_a_glance() {
        assert_eq!(span(12.64), "12.6s");
        assert_eq!(span(307.0), "5m07s");
        assert_eq!(span(7380.0), "2h03m");
        assert_eq!(span(3.0 * 86400.0 + 4.0 * 3600.0), "3d04h");
        assert_eq!(count(987), "987");
        assert_eq!(count(1_234_567), "1.2M");
        assert_eq!(prefix_len("255.255.255.0"), Some(24));
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::"), Some(64));
        assert_eq!(prefix_len("255.0.255.0"), None);
        assert_eq!(prefix_len("0.0.0.0"), Some(0));
    }

    #[test]
    fn tables_align() {
        let lines = table(
            &["A", "NUM", "LAST"],
            &[
                vec!["x".into(), "1".into(), "tail".into()],
                vec!["long".into(), "100".into(), "t".into()],
            ],
            &[false, true, false],
        );
        assert_eq!(
            lines,
            vec!["A     NUM  LAST", "x       1  tail", "long  100  t"]
        );
    }

    /// A report with every section and representative values: failed reads, psutil's
    /// `None`s, floats, names and paths that are not UTF-8.
    fn sample_report() -> Report {
        use std::os::unix::ffi::OsStringExt;
        let times = CpuTimes {
            user: 12.5,
            nice: 0.0,
            system: 1e-5,
            idle: 1234567.89,
            iowait: 0.1,
            irq: 0.0,
            softirq: 3.0,
            steal: f64::NAN,
            guest: 0.0,
            guest_nice: 100.0,
        };
        let usage = DiskUsage {
            total: 1 << 40,
            used: 123,
            free: u64::MAX,
            percent: 33.3,
        };
        let io = DiskIo {
            read_count: 1,
            write_count: 2,
            read_bytes: 3,
            write_bytes: 4,
            read_time: 5,
            write_time: 6,
            read_merged_count: 7,
            write_merged_count: 8,
            busy_time: 9,
        };
        let nio = NetIo {
            bytes_sent: 10,
            bytes_recv: 20,
            packets_sent: 30,
            packets_recv: 40,
            errin: 0,
            errout: 1,
            dropin: 2,
            dropout: 3,
        };
        Report {
            cpu: Some(CpuReport {
                cpu_count: Some(Some(2)),
                cpu_count_cores: Some(None),
                cpu_percent: Some(12.5),
                cpu_percent_percpu: Some(vec![0.0, 100.0]),
                cpu_times_percent: None,
                cpu_times: Some(times),
                cpu_times_percpu: Some(vec![times, CpuTimes::default()]),
                cpu_stats: Some(CpuStats {
                    ctx_switches: 1,
                    interrupts: 2,
                    soft_interrupts: 3,
                    syscalls: 0,
                }),
                cpu_freq: Some(None),
                cpu_freq_percpu: Some(vec![CpuFreq {
                    current: 2400.5,
                    min: 0.0,
                    max: 3600.0,
                }]),
                getloadavg: Some([0.5, 1.0, 2.25]),
                window: Duration::from_millis(250),
            }),
            memory: Some(MemoryReport {
                virtual_memory: Some(VirtualMemory {
                    total: 8,
                    available: 7,
                    percent: 12.5,
                    used: 6,
                    free: 5,
                    active: 4,
                    inactive: 3,
                    buffers: 2,
                    cached: 1,
                    shared: 0,
                    slab: 9,
                }),
                swap_memory: None,
            }),
            disk: Some(DiskReport {
                disk_partitions: Some(vec![DiskPartition {
                    device: OsString::from_vec(b"/dev/sd\xffa".to_vec()),
                    mountpoint: OsString::from_vec(b"/mnt/\xe9t\xe9 \"q\"".to_vec()),
                    fstype: "ext4".into(),
                    opts: "rw,relatime".into(),
                }]),
                disk_usage: vec![
                    (OsString::from("/"), Some(usage)),
                    (OsString::from_vec(b"/mnt/\xe9t\xe9 \"q\"".to_vec()), None),
                ],
                disk_io_counters: Some(Some(io)),
                disk_io_counters_perdisk: Some(vec![("sda".into(), io), ("sda1".into(), io)]),
            }),
            net: Some(NetReport {
                net_io_counters: Some(None),
                net_io_counters_pernic: Some(vec![("lo".into(), nio)]),
                net_if_addrs: Some(vec![(
                    "lo".into(),
                    vec![
                        NicAddr {
                            family: 2,
                            address: "127.0.0.1".into(),
                            netmask: Some("255.0.0.0".into()),
                            broadcast: None,
                            ptp: None,
                        },
                        NicAddr {
                            family: AF_LINK,
                            address: "00:00:00:00:00:00".into(),
                            netmask: None,
                            broadcast: None,
                            ptp: Some("x".into()),
                        },
                    ],
                )]),
                net_if_stats: Some(vec![(
                    "eth0".into(),
                    NicStats {
                        isup: true,
                        duplex: system::NicDuplex::Full,
                        speed: 1000,
                        mtu: 1500,
                        flags: "up,broadcast,running,multicast".into(),
                    },
                )]),
                net_connections: Some(vec![
                    Socket {
                        fd: -1,
                        family: libc::AF_INET,
                        r#type: libc::SOCK_STREAM,
                        laddr: Address::Inet {
                            ip: "127.0.0.1".into(),
                            port: 80,
                        },
                        raddr: Address::None,
                        status: "LISTEN",
                        pid: None,
                    },
                    Socket {
                        fd: 7,
                        family: libc::AF_INET6,
                        r#type: libc::SOCK_DGRAM,
                        laddr: Address::Inet {
                            ip: "::1".into(),
                            port: 53,
                        },
                        raddr: Address::Path(OsString::from_vec(b"@a\xff".to_vec())),
                        status: "NONE",
                        pid: Some(42),
                    },
                ]),
            }),
            sensors: Some(SensorsReport {
                sensors_temperatures: Some(vec![(
                    "coretemp".into(),
                    vec![Temperature {
                        label: "Core 0".into(),
                        current: 45.0,
                        high: Some(80.0),
                        critical: None,
                    }],
                )]),
                sensors_fans: None,
                sensors_battery: Some(Some(Battery {
                    percent: 93.25,
                    secsleft: system::POWER_TIME_UNLIMITED,
                    power_plugged: None,
                })),
            }),
            boot_time: Some(Some(1700000000.0)),
            users: Some(Some(vec![User {
                name: "root".into(),
                terminal: None,
                host: "".into(),
                started: 1700000100.5,
                pid: 99,
            }])),
            rates: None,
        }
    }

    /// Today's `tracer sys --json`, byte for byte.
    const SAMPLE_JSON: &str = concat!(
        r#"{"cpu_count":2,"#,
        r#""cpu_count_cores":null,"#,
        r#""cpu_percent":12.5,"#,
        r#""cpu_percent_percpu":[0.0,100.0],"#,
        r#""cpu_times_percent":null,"#,
        r#""cpu_times":{"user":12.5,"nice":0.0,"system":1e-5,"idle":1234567.89,"iowait":0.1,"irq":0.0,"softirq":3.0,"steal":null,"guest":0.0,"guest_nice":100.0},"#,
        r#""cpu_times_percpu":[{"user":12.5,"nice":0.0,"system":1e-5,"idle":1234567.89,"iowait":0.1,"irq":0.0,"softirq":3.0,"steal":null,"guest":0.0,"guest_nice":100.0},{"user":0.0,"nice":0.0,"system":0.0,"idle":0.0,"iowait":0.0,"irq":0.0,"softirq":0.0,"steal":0.0,"guest":0.0,"guest_nice":0.0}],"#,
        r#""cpu_stats":{"ctx_switches":1,"interrupts":2,"soft_interrupts":3,"syscalls":0},"#,
        r#""cpu_freq":null,"#,
        r#""cpu_freq_percpu":[{"current":2400.5,"min":0.0,"max":3600.0}],"#,
        r#""getloadavg":[0.5,1.0,2.25],"#,
        r#""virtual_memory":{"total":8,"available":7,"percent":12.5,"used":6,"free":5,"active":4,"inactive":3,"buffers":2,"cached":1,"shared":0,"slab":9},"#,
        r#""swap_memory":null,"#,
        r#""disk_partitions":[{"device":"/dev/sd\udcffa","mountpoint":"/mnt/\udce9t\udce9 \"q\"","fstype":"ext4","opts":"rw,relatime"}],"#,
        "\"disk_usage\":{\"/\":{\"total\":1099511627776,\"used\":123,\"free\":18446744073709551615,\"percent\":33.3},\"/mnt/\u{fffd}t\u{fffd} \\\"q\\\"\":null},",
        r#""disk_io_counters":{"read_count":1,"write_count":2,"read_bytes":3,"write_bytes":4,"read_time":5,"write_time":6,"read_merged_count":7,"write_merged_count":8,"busy_time":9},"#,
        r#""disk_io_counters_perdisk":{"sda":{"read_count":1,"write_count":2,"read_bytes":3,"write_bytes":4,"read_time":5,"write_time":6,"read_merged_count":7,"write_merged_count":8,"busy_time":9},"sda1":{"read_count":1,"write_count":2,"read_bytes":3,"write_bytes":4,"read_time":5,"write_time":6,"read_merged_count":7,"write_merged_count":8,"busy_time":9}},"#,
        r#""net_io_counters":null,"#,
        r#""net_io_counters_pernic":{"lo":{"bytes_sent":10,"bytes_recv":20,"packets_sent":30,"packets_recv":40,"errin":0,"errout":1,"dropin":2,"dropout":3}},"#,
        r#""net_if_addrs":{"lo":[{"family":2,"address":"127.0.0.1","netmask":"255.0.0.0","broadcast":null,"ptp":null},{"family":17,"address":"00:00:00:00:00:00","netmask":null,"broadcast":null,"ptp":"x"}]},"#,
        r#""net_if_stats":{"eth0":{"isup":true,"duplex":2,"speed":1000,"mtu":1500,"flags":"up,broadcast,running,multicast"}},"#,
        r#""net_connections":[{"fd":-1,"family":2,"type":1,"laddr":{"ip":"127.0.0.1","port":80},"raddr":[],"status":"LISTEN","pid":null},{"fd":7,"family":10,"type":2,"laddr":{"ip":"::1","port":53},"raddr":"@a\udcff","status":"NONE","pid":42}],"#,
        r#""sensors_temperatures":{"coretemp":[{"label":"Core 0","current":45.0,"high":80.0,"critical":null}]},"#,
        r#""sensors_fans":null,"#,
        r#""sensors_battery":{"percent":93.25,"secsleft":-2,"power_plugged":null},"#,
        r#""boot_time":1700000000.0,"#,
        r#""users":[{"name":"root","terminal":null,"host":"","started":1700000100.5,"pid":99}]}"#,
    );

    #[test]
    fn json_is_the_contract() {
        let json = report_json(&sample_report());
        assert_eq!(json, SAMPLE_JSON);
    }
}
