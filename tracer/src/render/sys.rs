//! `tracer sys` as aligned text for a glance: the sections of a [`Report`] under labels, tables
//! padded to their widest cell, figures in short units, `-` where a figure could not be read.
//! (The JSON form is the report itself through [`crate::render::json`]: see [`json`].)

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::host::procfs::Procfs;
use crate::render::text;
use crate::system::report::{
    CpuReport, DiskReport, MemoryReport, NetReport, Report, SensorsReport,
};
use crate::system::{self, Address, Connection as Socket, CpuTimes, User, AF_LINK};

/// `tracer sys --json`: the report as one JSON object and a newline.
pub fn json(report: &Report) -> String {
    let mut out = crate::render::json::to_string(report);
    out.push('\n');
    out
}

/// `tracer sys`'s text.
pub fn text(report: &Report) -> String {
    report_text(report)
}

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
        dash(cpu.cpu_count, |n| n.to_string()),
        dash(cpu.cpu_count_cores, |n| n.to_string()),
    );
    if let Some(freq) = cpu.cpu_freq {
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
            .find(|(m, _)| *m == part.mountpoint.to_string_lossy())
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
}
