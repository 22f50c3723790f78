//! Network interfaces: `getifaddrs` through `nix`, converted as psutil's
//! `psutil_net_if_addrs` does (its `getnameinfo` spelling reproduced, since Python spells the
//! addresses with glibc); the interface ioctls psutil makes (`SIOCGIFMTU`, `SIOCGIFFLAGS`,
//! `SIOCETHTOOL`), which neither crate wraps, on an `AF_INET` socket from `rustix`.

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{SockaddrLike, SockaddrStorage};

/// `inet_ntop(AF_INET6, bytes)` as glibc spells it (which psutil gets through Python's
/// `socket.inet_ntop`): the longest run of two or more zero words as `::` (the first of equal
/// runs), hex words without leading zeros, and the last 32 bits dotted for IPv4-mapped
/// (`::ffff:1.2.3.4`) and IPv4-compatible (`::1.2.3.4`) addresses.
pub(crate) fn inet6_ntop(bytes: [u8; 16]) -> String {
    let words: [u16; 8] =
        std::array::from_fn(|i| u16::from_be_bytes([bytes[2 * i], bytes[2 * i + 1]]));
    // The longest run of zero words (glibc's `best`), kept only when at least two long.
    // A run of zero words: (first index, length).
    type Run = Option<(usize, usize)>;
    let (mut best, mut cur): (Run, Run) = (None, None);
    for (i, &word) in words.iter().enumerate() {
        if word == 0 {
            cur = Some(match cur {
                Some((base, len)) => (base, len + 1),
                None => (i, 1),
            });
        } else if let Some(run) = cur.take() {
            if best.is_none_or(|b| run.1 > b.1) {
                best = Some(run);
            }
        }
    }
    if let Some(run) = cur {
        if best.is_none_or(|b| run.1 > b.1) {
            best = Some(run);
        }
    }
    let best = best.filter(|&(_, len)| len >= 2);
    let mut out = String::with_capacity(46);
    let mut i = 0;
    while i < 8 {
        if let Some((base, len)) = best {
            if i >= base && i < base + len {
                if i == base {
                    out.push(':');
                }
                i += 1;
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6 {
            if let Some((0, len)) = best {
                if len == 6 || (len == 5 && words[5] == 0xffff) {
                    let v4 = std::net::Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
                    out.push_str(&v4.to_string());
                    return out;
                }
            }
        }
        out.push_str(&format!("{:x}", words[i]));
        i += 1;
    }
    if let Some((base, len)) = best {
        if base + len == 8 {
            out.push(':');
        }
    }
    out
}

/// One `getifaddrs` entry, converted as psutil's `psutil_net_if_addrs` does.
#[derive(Debug, Clone)]
pub(crate) struct IfAddr {
    pub name: String,
    pub family: i32,
    pub address: String,
    pub netmask: Option<String>,
    pub broadcast: Option<String>,
    pub ptp: Option<String>,
}

/// An IPv6 address as glibc's `getnameinfo(NI_NUMERICHOST)` spells it: `inet_ntop`, then
/// `%SCOPE` when the scope id is not 0 — the interface's name for link-local (and
/// multicast link-local) addresses when it has one, else the number.
fn ipv6_numeric_host(ip: Ipv6Addr, scope_id: u32) -> String {
    let mut text = inet6_ntop(ip.octets());
    if scope_id != 0 {
        let segments = ip.segments();
        let link_local = segments[0] & 0xffc0 == 0xfe80;
        let mc_link_local = segments[0] & 0xff0f == 0xff02;
        let name = (link_local || mc_link_local)
            .then(|| nix::net::if_::if_indextoname(scope_id).ok())
            .flatten()
            .map(|name| name.to_string_lossy().into_owned());
        text.push('%');
        match name {
            Some(name) => text.push_str(&name),
            None => text.push_str(&scope_id.to_string()),
        }
    }
    text
}

/// psutil's `psutil_convert_ipaddr`: numeric host for `AF_INET`/`AF_INET6`, `aa:bb:…` for
/// `AF_PACKET` (the `sll_halen` bytes), `None` for anything else or no address. `family` is
/// the entry's address family (psutil converts the netmask and broadcast with it too).
fn convert_ipaddr(addr: Option<&SockaddrStorage>, family: i32) -> Option<String> {
    let addr = addr?;
    if addr.family().map(|f| f as i32) != Some(family) {
        return None;
    }
    if family == libc::AF_INET {
        return Some(addr.as_sockaddr_in()?.ip().to_string());
    }
    if family == libc::AF_INET6 {
        let sin6 = addr.as_sockaddr_in6()?;
        return Some(ipv6_numeric_host(sin6.ip(), sin6.scope_id()));
    }
    if family == libc::AF_PACKET {
        let ll: &libc::sockaddr_ll = addr.as_link_addr()?.as_ref();
        let len = usize::from(ll.sll_halen).min(ll.sll_addr.len());
        if len == 0 {
            return None;
        }
        let hex: Vec<String> = ll.sll_addr[..len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        return Some(hex.join(":"));
    }
    None
}

/// `getifaddrs`, in its order, entries without a showable address left out (as psutil).
pub(crate) fn getifaddrs() -> io::Result<Vec<IfAddr>> {
    use nix::net::if_::InterfaceFlags;
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        let Some(family) = ifa.address.as_ref().and_then(|a| a.family()) else {
            continue;
        };
        let family = family as i32;
        let Some(address) = convert_ipaddr(ifa.address.as_ref(), family) else {
            continue;
        };
        let netmask = convert_ipaddr(ifa.netmask.as_ref(), family);
        let (broadcast, ptp) = if ifa.flags.contains(InterfaceFlags::IFF_BROADCAST) {
            (convert_ipaddr(ifa.broadcast.as_ref(), family), None)
        } else if ifa.flags.contains(InterfaceFlags::IFF_POINTOPOINT) {
            (None, convert_ipaddr(ifa.destination.as_ref(), family))
        } else {
            (None, None)
        };
        out.push(IfAddr {
            name: ifa.interface_name,
            family,
            address,
            netmask,
            broadcast,
            ptp,
        });
    }
    Ok(out)
}

/// `DUPLEX_HALF` of `<linux/ethtool.h>`.
pub(crate) const DUPLEX_HALF: u8 = 0;
/// `DUPLEX_FULL`.
pub(crate) const DUPLEX_FULL: u8 = 1;
/// `DUPLEX_UNKNOWN`.
pub(crate) const DUPLEX_UNKNOWN: u8 = 0xff;

const ETHTOOL_GSET: u32 = 1;

/// `struct ethtool_cmd` of `<linux/ethtool.h>` (the legacy `ETHTOOL_GSET` psutil uses).
#[repr(C)]
#[derive(Default)]
struct EthtoolCmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

/// `struct ifreq`: the name, then a 24-byte union, kept as bytes (an `int` for the MTU, a
/// `short` for the flags, a pointer for `SIOCETHTOOL`), so reading it is plain byte decoding.
#[repr(C, align(8))]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> IfReq {
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        for (slot, byte) in req
            .name
            .iter_mut()
            .zip(name.bytes().take(libc::IFNAMSIZ - 1))
        {
            *slot = byte;
        }
        req
    }
}

/// An `AF_INET` datagram socket, the handle of the interface ioctls.
pub(crate) struct Socket(OwnedFd);

impl Socket {
    /// `socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)`.
    pub(crate) fn inet_dgram() -> io::Result<Socket> {
        use rustix::net::{socket_with, AddressFamily, SocketFlags, SocketType};
        let fd = socket_with(
            AddressFamily::INET,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Socket(fd))
    }

    fn ioctl(&self, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
        // SAFETY: `req` is a valid, writable ifreq for these requests and the kernel writes
        // within it (for SIOCETHTOOL also within the ethtool_cmd its pointer names, which the
        // caller keeps alive and unborrowed for the call).
        if unsafe { libc::ioctl(self.0.as_raw_fd(), request as _, req as *mut IfReq) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `SIOCGIFMTU`.
    pub(crate) fn if_mtu(&self, name: &str) -> io::Result<i32> {
        let mut req = IfReq::new(name);
        self.ioctl(libc::SIOCGIFMTU as libc::c_ulong, &mut req)?;
        Ok(i32::from_ne_bytes([
            req.data[0],
            req.data[1],
            req.data[2],
            req.data[3],
        ]))
    }

    /// `SIOCGIFFLAGS`: the interface flags' low 16 bits (psutil reads only those).
    pub(crate) fn if_flags(&self, name: &str) -> io::Result<u16> {
        let mut req = IfReq::new(name);
        self.ioctl(libc::SIOCGIFFLAGS as libc::c_ulong, &mut req)?;
        Ok(u16::from_ne_bytes([req.data[0], req.data[1]]))
    }

    /// `SIOCETHTOOL` with `ETHTOOL_GSET`: duplex (`DUPLEX_*`) and speed in Mbit/s (0 when
    /// unknown).
    pub(crate) fn if_duplex_speed(&self, name: &str) -> io::Result<(u8, u32)> {
        let mut cmd = EthtoolCmd {
            cmd: ETHTOOL_GSET,
            ..EthtoolCmd::default()
        };
        let mut req = IfReq::new(name);
        let ptr = std::ptr::from_mut(&mut cmd).expose_provenance();
        req.data[..size_of::<usize>()].copy_from_slice(&ptr.to_ne_bytes());
        self.ioctl(libc::SIOCETHTOOL as libc::c_ulong, &mut req)?;
        let speed = (u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed);
        let speed = if speed == u32::MAX || speed > i32::MAX as u32 {
            0
        } else {
            speed
        };
        Ok((cmd.duplex, speed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<EthtoolCmd>(), 44);
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
    }

    #[test]
    fn inet6_spelling_is_glibc() {
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(inet6_ntop(mapped), "::ffff:127.0.0.1");
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(inet6_ntop(one), "::1");
        assert_eq!(inet6_ntop([0; 16]), "::");
        let mut compat = [0u8; 16];
        compat[12..].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(inet6_ntop(compat), "::10.0.0.1");
        let link: [u8; 16] = [
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xfc, 0, 0xff, 0xfe, 0, 0, 1,
        ];
        assert_eq!(inet6_ntop(link), "fe80::fc:ff:fe00:1");
        let mid: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(inet6_ntop(mid), "2001:db8:0:1::1");
        let tail: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(inet6_ntop(tail), "2001:db8:1::");
    }

    #[test]
    fn loopback_ioctls() {
        let socket = Socket::inet_dgram().unwrap();
        assert!(socket.if_mtu("lo").unwrap() > 0);
        assert_ne!(
            i32::from(socket.if_flags("lo").unwrap()) & libc::IFF_LOOPBACK,
            0
        );
        let err = socket.if_mtu("no-such-nic0").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
    }
}
