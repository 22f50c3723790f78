//! Network interfaces: `/proc/net/dev` counters, addresses (`getifaddrs`, as psutil) and link
//! state (the `SIOCGIFMTU`, `SIOCGIFFLAGS` and `SIOCETHTOOL` ioctls, as psutil) — psutil's
//! `net_io_counters`, `net_if_addrs` and `net_if_stats`.
//!
//! `/proc/net/dev` stays ours: procfs-core's `InterfaceDeviceStatus` is a `HashMap`, and
//! psutil's `net_io_counters(pernic=True)` keeps the kernel's order of interfaces.

use super::{ffi, int, lines, read, split_ws, strip, Named, Result, System, SystemError};

/// psutil's `AF_LINK` on Linux: `AF_PACKET` (17), the family of MAC addresses.
pub const AF_LINK: i32 = libc::AF_PACKET;

/// psutil's `snetio`: counters since the interface appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NetIo {
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_recv: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_recv: u64,
    /// Receive errors.
    pub errin: u64,
    /// Transmit errors.
    pub errout: u64,
    /// Incoming packets dropped.
    pub dropin: u64,
    /// Outgoing packets dropped.
    pub dropout: u64,
}

impl NetIo {
    /// The values in psutil's field order.
    pub fn values(&self) -> [u64; 8] {
        [
            self.bytes_sent,
            self.bytes_recv,
            self.packets_sent,
            self.packets_recv,
            self.errin,
            self.errout,
            self.dropin,
            self.dropout,
        ]
    }

    /// Built from values in psutil's field order.
    pub fn from_values(v: [u64; 8]) -> NetIo {
        NetIo {
            bytes_sent: v[0],
            bytes_recv: v[1],
            packets_sent: v[2],
            packets_recv: v[3],
            errin: v[4],
            errout: v[5],
            dropin: v[6],
            dropout: v[7],
        }
    }
}

/// psutil's sum over interfaces (`None` when there are none).
pub(crate) fn total(nics: &Named<NetIo>) -> Option<NetIo> {
    if nics.is_empty() {
        return None;
    }
    let mut sum = [0u64; 8];
    for (_, io) in nics {
        for (s, v) in sum.iter_mut().zip(io.values()) {
            *s = s.wrapping_add(v);
        }
    }
    Some(NetIo::from_values(sum))
}

/// psutil's `snicaddr`: one address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NicAddr {
    /// `AF_INET` (2), `AF_INET6` (10) or [`AF_LINK`] (17, a MAC address).
    pub family: i32,
    /// The address (IPv6 link-local ones with `%IFACE`; MACs as `aa:bb:…`, padded to six
    /// bytes with `:00`).
    pub address: String,
    /// The netmask, if any.
    pub netmask: Option<String>,
    /// The broadcast address (interfaces with `IFF_BROADCAST`).
    pub broadcast: Option<String>,
    /// The other end of a point-to-point link (interfaces with `IFF_POINTOPOINT`).
    pub ptp: Option<String>,
}

/// psutil's `NicDuplex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum NicDuplex {
    /// `NIC_DUPLEX_UNKNOWN` (0).
    Unknown = 0,
    /// `NIC_DUPLEX_HALF` (1).
    Half = 1,
    /// `NIC_DUPLEX_FULL` (2).
    Full = 2,
}

/// psutil's `NicDuplex` is an `IntEnum`: JSON has its value.
impl serde::Serialize for NicDuplex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(*self as i32)
    }
}

impl<'de> serde::Deserialize<'de> for NicDuplex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match <i32 as serde::Deserialize>::deserialize(deserializer)? {
            0 => Ok(NicDuplex::Unknown),
            1 => Ok(NicDuplex::Half),
            2 => Ok(NicDuplex::Full),
            other => Err(serde::de::Error::custom(format!("no NicDuplex {other}"))),
        }
    }
}

impl NicDuplex {
    /// psutil's constant name.
    pub fn name(self) -> &'static str {
        match self {
            NicDuplex::Unknown => "NIC_DUPLEX_UNKNOWN",
            NicDuplex::Half => "NIC_DUPLEX_HALF",
            NicDuplex::Full => "NIC_DUPLEX_FULL",
        }
    }
}

/// psutil's `snicstats`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NicStats {
    /// Whether the interface is up and running (`running` among the flags).
    pub isup: bool,
    /// Duplex as ethtool reports it.
    pub duplex: NicDuplex,
    /// Link speed in Mbit/s; 0 when unknown (virtual interfaces).
    pub speed: u32,
    /// Maximum transmission unit in bytes.
    pub mtu: u32,
    /// The interface flags, comma-separated (`up,broadcast,running,multicast`).
    pub flags: String,
}

/// The interface flags psutil names, in its order.
const FLAG_NAMES: [(i32, &str); 16] = [
    (libc::IFF_UP, "up"),
    (libc::IFF_BROADCAST, "broadcast"),
    (libc::IFF_DEBUG, "debug"),
    (libc::IFF_LOOPBACK, "loopback"),
    (libc::IFF_POINTOPOINT, "pointopoint"),
    (libc::IFF_NOTRAILERS, "notrailers"),
    (libc::IFF_RUNNING, "running"),
    (libc::IFF_NOARP, "noarp"),
    (libc::IFF_PROMISC, "promisc"),
    (libc::IFF_ALLMULTI, "allmulti"),
    (libc::IFF_MASTER, "master"),
    (libc::IFF_SLAVE, "slave"),
    (libc::IFF_MULTICAST, "multicast"),
    (libc::IFF_PORTSEL, "portsel"),
    (libc::IFF_AUTOMEDIA, "automedia"),
    (libc::IFF_DYNAMIC, "dynamic"),
];

/// psutil's flag names for `SIOCGIFFLAGS`'s 16 bits, comma-separated.
pub(crate) fn flag_names(flags: u16) -> String {
    FLAG_NAMES
        .iter()
        .filter(|(bit, _)| i32::from(flags) & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// `/proc/net/dev`: per interface, in the kernel's order.
fn parse_net_dev(data: &[u8], path: &std::path::Path) -> Result<Named<NetIo>> {
    let mut out = Vec::new();
    for line in lines(data).skip(2) {
        let colon = line
            .iter()
            .rposition(|&b| b == b':')
            .filter(|&at| at > 0)
            .ok_or_else(|| SystemError::parse(path, "no ':' after the interface name"))?;
        let name = String::from_utf8_lossy(strip(&line[..colon])).into_owned();
        let f: Vec<u64> = split_ws(&line[colon + 1..])
            .map(int::<u64>)
            .collect::<Option<_>>()
            .ok_or_else(|| SystemError::parse(path, format!("not a number in {name}'s line")))?;
        if f.len() != 16 {
            return Err(SystemError::parse(
                path,
                format!("{} fields for {name}, expected 16", f.len()),
            ));
        }
        let io = NetIo {
            bytes_recv: f[0],
            packets_recv: f[1],
            errin: f[2],
            dropin: f[3],
            bytes_sent: f[8],
            packets_sent: f[9],
            errout: f[10],
            dropout: f[11],
        };
        match out
            .iter_mut()
            .find(|(n, _): &&mut (String, NetIo)| *n == name)
        {
            Some(slot) => slot.1 = io,
            None => out.push((name, io)),
        }
    }
    Ok(out)
}

impl System {
    /// psutil's raw `net_io_counters(pernic=True)`.
    pub(crate) fn net_io_raw(&self) -> Result<Named<NetIo>> {
        let path = self.proc_path("net/dev");
        parse_net_dev(&read(&path)?, &path)
    }

    /// psutil's `net_if_stats()`: for each interface of `/proc/net/dev`, its MTU, flags,
    /// duplex and speed; interfaces gone meanwhile (`ENODEV`) are left out.
    pub fn net_if_stats(&self) -> Result<Named<NicStats>> {
        let names: Vec<String> = self.net_io_raw()?.into_iter().map(|(n, _)| n).collect();
        let socket =
            ffi::Socket::inet_dgram().map_err(|e| SystemError::syscall("socket", "", e))?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let stats = (|| -> std::result::Result<NicStats, (&'static str, std::io::Error)> {
                let mtu = socket.if_mtu(&name).map_err(|e| ("ioctl(SIOCGIFMTU)", e))?;
                let flags = socket
                    .if_flags(&name)
                    .map_err(|e| ("ioctl(SIOCGIFFLAGS)", e))?;
                let (duplex, speed) = match socket.if_duplex_speed(&name) {
                    Ok((duplex, speed)) => (duplex, speed),
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) => {
                        (ffi::DUPLEX_UNKNOWN, 0)
                    }
                    Err(e) => return Err(("ioctl(SIOCETHTOOL)", e)),
                };
                let flags_text = flag_names(flags);
                Ok(NicStats {
                    isup: flags_text.split(',').any(|f| f == "running"),
                    duplex: match duplex {
                        ffi::DUPLEX_FULL => NicDuplex::Full,
                        ffi::DUPLEX_HALF => NicDuplex::Half,
                        _ => NicDuplex::Unknown,
                    },
                    speed,
                    mtu: mtu.max(0) as u32,
                    flags: flags_text,
                })
            })();
            match stats {
                Ok(stats) => out.push((name, stats)),
                Err((_, e)) if e.raw_os_error() == Some(libc::ENODEV) => {}
                Err((call, e)) => return Err(SystemError::syscall(call, name, e)),
            }
        }
        Ok(out)
    }
}

/// psutil's `net_if_addrs()`: `getifaddrs` entries with an address psutil can show, sorted
/// by family (stably), grouped by interface.
pub(crate) fn net_if_addrs() -> Result<Named<Vec<NicAddr>>> {
    let mut raw = ffi::getifaddrs().map_err(|e| SystemError::syscall("getifaddrs", "", e))?;
    raw.sort_by_key(|entry| entry.family);
    let mut out: Named<Vec<NicAddr>> = Vec::new();
    for entry in raw {
        let mut address = entry.address;
        if entry.family == AF_LINK {
            while address.matches(':').count() < 5 {
                address.push_str(":00");
            }
        }
        let addr = NicAddr {
            family: entry.family,
            address,
            netmask: entry.netmask,
            broadcast: entry.broadcast,
            ptp: entry.ptp,
        };
        match out.iter_mut().find(|(n, _)| *n == entry.name) {
            Some((_, list)) => list.push(addr),
            None => out.push((entry.name, vec![addr])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{SystemRoot, TempDir};
    use super::*;

    const NET_DEV: &[u8] = b"Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n  \
eth0: 228170283    8531    1    2    0     0          0         0   518336    5630    3    4    0     0       0          0\n";

    #[test]
    fn net_dev_fields_in_psutil_order() {
        let dir = TempDir::new("netdev");
        dir.write("proc/net/dev", NET_DEV);
        let nics = dir.system().net_io_raw().unwrap();
        assert_eq!(nics.len(), 2);
        assert_eq!(nics[0].0, "lo");
        assert_eq!(
            nics[1].1,
            NetIo {
                bytes_sent: 518336,
                bytes_recv: 228170283,
                packets_sent: 5630,
                packets_recv: 8531,
                errin: 1,
                errout: 3,
                dropin: 2,
                dropout: 4,
            }
        );
        let sum = total(&nics).unwrap();
        assert_eq!(sum.bytes_sent, 518336 + 3193);
    }

    #[test]
    fn flags_in_psutil_order() {
        let flags = (libc::IFF_UP | libc::IFF_RUNNING | libc::IFF_LOOPBACK) as u16;
        assert_eq!(flag_names(flags), "up,loopback,running");
        assert_eq!(flag_names(0), "");
    }

    #[test]
    fn live_loopback() {
        let addrs = net_if_addrs().unwrap();
        let lo = &addrs.iter().find(|(n, _)| n == "lo").expect("lo exists").1;
        assert!(lo
            .iter()
            .any(|a| a.family == libc::AF_INET && a.address == "127.0.0.1"));
        assert!(lo.windows(2).all(|w| w[0].family <= w[1].family));
        let stats = System::new().net_if_stats().unwrap();
        let lo = &stats.iter().find(|(n, _)| n == "lo").expect("lo stats").1;
        assert!(lo.flags.contains("loopback"));
        assert!(lo.mtu > 0);
    }
}
