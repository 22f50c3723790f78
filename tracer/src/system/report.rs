//! `tracer sys`'s answer as a typed value: the sections of psutil's system-wide figures that
//! were asked for, each figure `None` where its read failed. It serializes to the JSON contract
//! of `tracer sys --json` (one object keyed by psutil's function names, sections not asked for
//! left out, failed figures `null`) and deserializes from it, which is how a client of the
//! agent (`tracer top`, `tracer sys`) reads the agent's answer.
//!
//! `crate::system::collect` builds one; `crate::render::sys` turns one into text.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::named::{self, FromMap};
use super::{
    Battery, Connection, CpuFreq, CpuStats, CpuTimes, DiskIo, DiskPartition, DiskUsage, Fan, Named,
    NetIo, NicAddr, NicStats, SwapMemory, Temperature, User, VirtualMemory,
};

/// CPU figures (psutil's names); `None` where the read failed or psutil says `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CpuReport {
    /// `cpu_count()`.
    pub cpu_count: Option<u32>,
    /// `cpu_count(logical=False)`.
    pub cpu_count_cores: Option<u32>,
    /// `cpu_percent()` over [`CpuReport::window`].
    pub cpu_percent: Option<f64>,
    /// `cpu_percent(percpu=True)`.
    pub cpu_percent_percpu: Option<Vec<f64>>,
    /// `cpu_times_percent()`.
    pub cpu_times_percent: Option<CpuTimes>,
    /// `cpu_times()`.
    pub cpu_times: Option<CpuTimes>,
    /// `cpu_times(percpu=True)`.
    pub cpu_times_percpu: Option<Vec<CpuTimes>>,
    /// `cpu_stats()`.
    pub cpu_stats: Option<CpuStats>,
    /// `cpu_freq()`.
    pub cpu_freq: Option<CpuFreq>,
    /// `cpu_freq(percpu=True)`.
    pub cpu_freq_percpu: Option<Vec<CpuFreq>>,
    /// `getloadavg()`.
    pub getloadavg: Option<[f64; 3]>,
    /// How long `cpu_percent` measured (text only: not part of the JSON contract, so zero in
    /// a report read back from JSON).
    #[serde(skip)]
    pub window: Duration,
}

/// Memory figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MemoryReport {
    /// `virtual_memory()`.
    pub virtual_memory: Option<VirtualMemory>,
    /// `swap_memory()`.
    pub swap_memory: Option<SwapMemory>,
}

/// Disk figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DiskReport {
    /// `disk_partitions()`.
    pub disk_partitions: Option<Vec<DiskPartition>>,
    /// `disk_usage(mountpoint)` per partition's mountpoint, in `disk_partitions`' order
    /// (duplicates once; `/` alone when the partitions could not be read). JSON object keys
    /// are strings: a mountpoint that is not UTF-8 is keyed lossily.
    #[serde(serialize_with = "named::serialize")]
    pub disk_usage: Named<Option<DiskUsage>>,
    /// `disk_io_counters()`; `None` also when the system has no disks.
    pub disk_io_counters: Option<DiskIo>,
    /// `disk_io_counters(perdisk=True)`.
    #[serde(serialize_with = "named::opt::serialize")]
    pub disk_io_counters_perdisk: Option<Named<DiskIo>>,
}

/// Network figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NetReport {
    /// `net_io_counters()`; `None` also when there are no interfaces.
    pub net_io_counters: Option<NetIo>,
    /// `net_io_counters(pernic=True)`.
    #[serde(serialize_with = "named::opt::serialize")]
    pub net_io_counters_pernic: Option<Named<NetIo>>,
    /// `net_if_addrs()`.
    #[serde(serialize_with = "named::opt::serialize")]
    pub net_if_addrs: Option<Named<Vec<NicAddr>>>,
    /// `net_if_stats()`.
    #[serde(serialize_with = "named::opt::serialize")]
    pub net_if_stats: Option<Named<NicStats>>,
    /// `net_connections(kind="inet")`.
    pub net_connections: Option<Vec<Connection>>,
}

/// Sensor figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SensorsReport {
    /// `sensors_temperatures()`.
    #[serde(serialize_with = "named::opt::serialize")]
    pub sensors_temperatures: Option<Named<Vec<Temperature>>>,
    /// `sensors_fans()`.
    #[serde(serialize_with = "named::opt::serialize")]
    pub sensors_fans: Option<Named<Vec<Fan>>>,
    /// `sensors_battery()`: `None` when it could not be read, `Some(None)` without a battery
    /// (both `null` in JSON, read back as `Some(None)`).
    pub sensors_battery: Option<Option<Battery>>,
}

/// Disk and network throughput between two readings, in bytes per second (text only: psutil
/// has no rates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IoRates {
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

/// Everything `tracer sys` shows; sections not asked for are `None`. Serializes as the JSON
/// contract (in psutil's key order: cpu, memory, disk, net, sensors, boot_time, users).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "Wire")]
pub struct Report {
    /// The cpu section.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuReport>,
    /// The memory section.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
    /// The disk section.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskReport>,
    /// The net section.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetReport>,
    /// The sensors section.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub sensors: Option<SensorsReport>,
    /// `boot_time()` (with `all` only); inner `None` when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<Option<f64>>,
    /// `users()` (with `all` only); inner `None` when utmp could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Option<Vec<User>>>,
    /// Throughput over the agent's last sampling period (text only).
    #[serde(skip)]
    pub rates: Option<IoRates>,
}

/// The JSON object read flat, each key's presence kept (outer `Option`) apart from its
/// `null` (inner `Option`), then grouped into sections by [`From<Wire>`]. Serde's `flatten`
/// would buffer values and so refuse the lone surrogates of a device name that is not UTF-8;
/// reading flat keeps serde_json's byte-exact strings.
#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "present")]
    cpu_count: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    cpu_count_cores: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    cpu_percent: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    cpu_percent_percpu: Option<Option<Vec<f64>>>,
    #[serde(default, deserialize_with = "present")]
    cpu_times_percent: Option<Option<CpuTimes>>,
    #[serde(default, deserialize_with = "present")]
    cpu_times: Option<Option<CpuTimes>>,
    #[serde(default, deserialize_with = "present")]
    cpu_times_percpu: Option<Option<Vec<CpuTimes>>>,
    #[serde(default, deserialize_with = "present")]
    cpu_stats: Option<Option<CpuStats>>,
    #[serde(default, deserialize_with = "present")]
    cpu_freq: Option<Option<CpuFreq>>,
    #[serde(default, deserialize_with = "present")]
    cpu_freq_percpu: Option<Option<Vec<CpuFreq>>>,
    #[serde(default, deserialize_with = "present")]
    getloadavg: Option<Option<[f64; 3]>>,
    #[serde(default, deserialize_with = "present")]
    virtual_memory: Option<Option<VirtualMemory>>,
    #[serde(default, deserialize_with = "present")]
    swap_memory: Option<Option<SwapMemory>>,
    #[serde(default, deserialize_with = "present")]
    disk_partitions: Option<Option<Vec<DiskPartition>>>,
    #[serde(default, deserialize_with = "present")]
    disk_usage: Option<Option<FromMap<Option<DiskUsage>>>>,
    #[serde(default, deserialize_with = "present")]
    disk_io_counters: Option<Option<DiskIo>>,
    #[serde(default, deserialize_with = "present")]
    disk_io_counters_perdisk: Option<Option<FromMap<DiskIo>>>,
    #[serde(default, deserialize_with = "present")]
    net_io_counters: Option<Option<NetIo>>,
    #[serde(default, deserialize_with = "present")]
    net_io_counters_pernic: Option<Option<FromMap<NetIo>>>,
    #[serde(default, deserialize_with = "present")]
    net_if_addrs: Option<Option<FromMap<Vec<NicAddr>>>>,
    #[serde(default, deserialize_with = "present")]
    net_if_stats: Option<Option<FromMap<NicStats>>>,
    #[serde(default, deserialize_with = "present")]
    net_connections: Option<Option<Vec<Connection>>>,
    #[serde(default, deserialize_with = "present")]
    sensors_temperatures: Option<Option<FromMap<Vec<Temperature>>>>,
    #[serde(default, deserialize_with = "present")]
    sensors_fans: Option<Option<FromMap<Vec<Fan>>>>,
    #[serde(default, deserialize_with = "present")]
    sensors_battery: Option<Option<Battery>>,
    #[serde(default, deserialize_with = "present")]
    boot_time: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    users: Option<Option<Vec<User>>>,
}

/// A key that is there: `Some(value)`, `Some(None)` for `null` (a missing key is `None`
/// through `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A psutil dict read from a present, non-null key.
fn map<T>(value: Option<Option<FromMap<T>>>) -> Option<Named<T>> {
    value.flatten().map(|m| m.0)
}

/// Whether any of a section's keys was there.
macro_rules! any_present {
    ($($field:expr),+) => { false $(|| $field.is_some())+ };
}

impl From<Wire> for Report {
    fn from(w: Wire) -> Report {
        let cpu = any_present!(
            w.cpu_count,
            w.cpu_count_cores,
            w.cpu_percent,
            w.cpu_percent_percpu,
            w.cpu_times_percent,
            w.cpu_times,
            w.cpu_times_percpu,
            w.cpu_stats,
            w.cpu_freq,
            w.cpu_freq_percpu,
            w.getloadavg
        )
        .then(|| CpuReport {
            cpu_count: w.cpu_count.flatten(),
            cpu_count_cores: w.cpu_count_cores.flatten(),
            cpu_percent: w.cpu_percent.flatten(),
            cpu_percent_percpu: w.cpu_percent_percpu.flatten(),
            cpu_times_percent: w.cpu_times_percent.flatten(),
            cpu_times: w.cpu_times.flatten(),
            cpu_times_percpu: w.cpu_times_percpu.flatten(),
            cpu_stats: w.cpu_stats.flatten(),
            cpu_freq: w.cpu_freq.flatten(),
            cpu_freq_percpu: w.cpu_freq_percpu.flatten(),
            getloadavg: w.getloadavg.flatten(),
            window: Duration::ZERO,
        });
        let memory = any_present!(w.virtual_memory, w.swap_memory).then(|| MemoryReport {
            virtual_memory: w.virtual_memory.flatten(),
            swap_memory: w.swap_memory.flatten(),
        });
        let disk = any_present!(
            w.disk_partitions,
            w.disk_usage,
            w.disk_io_counters,
            w.disk_io_counters_perdisk
        )
        .then(|| DiskReport {
            disk_partitions: w.disk_partitions.flatten(),
            disk_usage: map(w.disk_usage).unwrap_or_default(),
            disk_io_counters: w.disk_io_counters.flatten(),
            disk_io_counters_perdisk: map(w.disk_io_counters_perdisk),
        });
        let net = any_present!(
            w.net_io_counters,
            w.net_io_counters_pernic,
            w.net_if_addrs,
            w.net_if_stats,
            w.net_connections
        )
        .then(|| NetReport {
            net_io_counters: w.net_io_counters.flatten(),
            net_io_counters_pernic: map(w.net_io_counters_pernic),
            net_if_addrs: map(w.net_if_addrs),
            net_if_stats: map(w.net_if_stats),
            net_connections: w.net_connections.flatten(),
        });
        let sensors =
            any_present!(w.sensors_temperatures, w.sensors_fans, w.sensors_battery).then(|| {
                SensorsReport {
                    sensors_temperatures: map(w.sensors_temperatures),
                    sensors_fans: map(w.sensors_fans),
                    sensors_battery: Some(w.sensors_battery.flatten()),
                }
            });
        Report {
            cpu,
            memory,
            disk,
            net,
            sensors,
            boot_time: w.boot_time,
            users: w.users,
            rates: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::super::{Address, NicDuplex, AF_LINK};
    use super::*;

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
                cpu_count: Some(2),
                cpu_count_cores: None,
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
                cpu_freq: None,
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
                    ("/".into(), Some(usage)),
                    (
                        String::from_utf8_lossy(b"/mnt/\xe9t\xe9 \"q\"").into_owned(),
                        None,
                    ),
                ],
                disk_io_counters: Some(io),
                disk_io_counters_perdisk: Some(vec![("sda".into(), io), ("sda1".into(), io)]),
            }),
            net: Some(NetReport {
                net_io_counters: None,
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
                        duplex: NicDuplex::Full,
                        speed: 1000,
                        mtu: 1500,
                        flags: "up,broadcast,running,multicast".into(),
                    },
                )]),
                net_connections: Some(vec![
                    Connection {
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
                    Connection {
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
                    secsleft: super::super::POWER_TIME_UNLIMITED,
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
        let json = crate::render::json::to_string(&sample_report());
        assert_eq!(json, SAMPLE_JSON);
        // `tracer sys --json` adds a newline.
        assert_eq!(
            crate::render::sys::json(&sample_report()),
            format!("{SAMPLE_JSON}\n")
        );
    }

    #[test]
    fn reads_back_what_it_writes() {
        let mut expected = sample_report();
        // Not in the JSON contract: read back as zero and absent.
        expected.cpu.as_mut().expect("cpu").window = Duration::ZERO;
        let cpu = expected.cpu.as_mut().expect("cpu");
        // NaN is written as null, which a float field cannot read back.
        let steal_free = |t: &mut CpuTimes| t.steal = 0.0;
        steal_free(cpu.cpu_times.as_mut().expect("times"));
        steal_free(&mut cpu.cpu_times_percpu.as_mut().expect("percpu")[0]);
        // A UNIX path that is not UTF-8 does not read back (see `AddressVisitor`); inet
        // sockets, all `tracer sys` lists, do.
        let conns = expected.net.as_mut().expect("net");
        conns.net_connections.as_mut().expect("conns")[1].raddr = Address::Path("@a".into());
        let json = crate::render::json::to_string(&expected);
        let back: Report = serde_json::from_str(&json).expect("the contract reads back");
        assert_eq!(back, expected);
        assert_eq!(crate::render::json::to_string(&back), json);

        // Sections not asked for stay absent; a section whose figures all failed is there.
        let partial = Report {
            memory: Some(MemoryReport::default()),
            ..Report::default()
        };
        let json = crate::render::json::to_string(&partial);
        assert_eq!(json, r#"{"virtual_memory":null,"swap_memory":null}"#);
        let back: Report = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, partial);
        assert_eq!(crate::render::json::to_string(&Report::default()), "{}");
    }
}
