//! Every syscall and libc call of the system readers, and so every `unsafe`: `sysconf`,
//! `statvfs`, `sysinfo`, `getifaddrs` + `getnameinfo`, `inet_ntop`, and the interface ioctls
//! psutil makes (`SIOCGIFMTU`, `SIOCGIFFLAGS`, `SIOCETHTOOL`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;

/// `sysconf(name)`, `None` when unsupported or not positive.
pub(crate) fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// Clock ticks per second, the unit of `/proc/stat`'s times.
pub(crate) fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| sysconf(libc::_SC_CLK_TCK).unwrap_or(100))
}

/// The page size in bytes.
pub(crate) fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| sysconf(libc::_SC_PAGESIZE).unwrap_or(4096))
}

/// The fields of `statvfs` that `disk_usage` needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatVfs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub frsize: u64,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `statvfs(path)`.
pub(crate) fn statvfs(path: &Path) -> io::Result<StatVfs> {
    let c = c_path(path)?;
    // SAFETY: an all-zero statvfs is valid; statvfs fills it from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(StatVfs {
        blocks: st.f_blocks as u64,
        bfree: st.f_bfree as u64,
        bavail: st.f_bavail as u64,
        frsize: st.f_frsize as u64,
    })
}

/// `sysinfo(2)`'s total and free swap, in bytes.
pub(crate) fn sysinfo_swap() -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero sysinfo is valid; sysinfo fills it.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let unit = u64::from(info.mem_unit.max(1));
    Ok((info.totalswap as u64 * unit, info.freeswap as u64 * unit))
}

/// `sysinfo(2)`'s 1, 5 and 15 minute load averages, as glibc's `getloadavg` (2.34+) returns
/// them: the kernel's fixed-point values divided by 2^16, exactly.
pub(crate) fn sysinfo_loads() -> io::Result<[f64; 3]> {
    // SAFETY: an all-zero sysinfo is valid; sysinfo fills it.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.loads.map(|l| l as f64 / 65536.0))
}

/// The major and minor number of the device `path` is on (`os.stat(path).st_dev`).
pub(crate) fn device_of(path: &Path) -> io::Result<(u32, u32)> {
    let dev = std::fs::metadata(path)?.dev();
    Ok((libc::major(dev), libc::minor(dev)))
}

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

/// psutil's `psutil_convert_ipaddr`: numeric host for `AF_INET`/`AF_INET6` (through
/// `getnameinfo`, so link-local addresses get `%IFACE`), `aa:bb:…` for `AF_PACKET`, `None` for
/// anything else or a null pointer.
///
/// # Safety
/// `addr` is null or points to a sockaddr of `family` as `getifaddrs` returns it.
unsafe fn convert_ipaddr(addr: *const libc::sockaddr, family: i32) -> Option<String> {
    if addr.is_null() {
        return None;
    }
    if family == libc::AF_INET || family == libc::AF_INET6 {
        let len = if family == libc::AF_INET {
            std::mem::size_of::<libc::sockaddr_in>()
        } else {
            std::mem::size_of::<libc::sockaddr_in6>()
        };
        let mut host = [0 as libc::c_char; 1025];
        // SAFETY: addr is valid for `len` bytes (getifaddrs allocates full sockaddrs); host
        // is NI_MAXHOST bytes.
        let err = unsafe {
            libc::getnameinfo(
                addr,
                len as libc::socklen_t,
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NUMERICHOST,
            )
        };
        if err != 0 {
            return None;
        }
        // SAFETY: getnameinfo wrote a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(host.as_ptr()) };
        return Some(text.to_string_lossy().into_owned());
    }
    if family == libc::AF_PACKET {
        // SAFETY: an AF_PACKET address from getifaddrs is a sockaddr_ll.
        let ll = unsafe { &*(addr as *const libc::sockaddr_ll) };
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
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below by freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        // SAFETY: the pointers come from getifaddrs and match the entry's family.
        let Some(address) = (unsafe { convert_ipaddr(ifa.ifa_addr, family) }) else {
            continue;
        };
        let netmask = unsafe { convert_ipaddr(ifa.ifa_netmask, family) };
        let flags = ifa.ifa_flags as i32;
        let (broadcast, ptp) = if flags & libc::IFF_BROADCAST != 0 {
            (unsafe { convert_ipaddr(ifa.ifa_ifu, family) }, None)
        } else if flags & libc::IFF_POINTOPOINT != 0 {
            (None, unsafe { convert_ipaddr(ifa.ifa_ifu, family) })
        } else {
            (None, None)
        };
        // SAFETY: ifa_name is a NUL-terminated interface name.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        out.push(IfAddr {
            name,
            family,
            address,
            netmask,
            broadcast,
            ptp,
        });
    }
    // SAFETY: head came from getifaddrs and is freed once; no reference into it survives.
    unsafe { libc::freeifaddrs(head) };
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

/// `struct ifreq`: the name, then a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: IfReqData,
}

#[repr(C)]
union IfReqData {
    mtu: libc::c_int,
    flags: libc::c_short,
    ptr: *mut libc::c_void,
    _size: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> IfReq {
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: IfReqData { _size: [0; 24] },
        };
        for (slot, byte) in req
            .name
            .iter_mut()
            .zip(name.bytes().take(libc::IFNAMSIZ - 1))
        {
            *slot = byte as libc::c_char;
        }
        req
    }
}

/// An `AF_INET` datagram socket, the handle of the interface ioctls.
pub(crate) struct Socket(OwnedFd);

impl Socket {
    /// `socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)`.
    pub(crate) fn inet_dgram() -> io::Result<Socket> {
        // SAFETY: socket has no memory-safety preconditions.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor owned by nobody else.
        Ok(Socket(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ioctl(&self, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
        // SAFETY: req is a valid ifreq for these requests; the kernel writes within it (and,
        // for SIOCETHTOOL, within the ethtool_cmd its pointer names, owned by the caller).
        if unsafe { libc::ioctl(self.0.as_raw_fd(), request as _, req as *mut IfReq) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `SIOCGIFMTU`.
    pub(crate) fn if_mtu(&self, name: &str) -> io::Result<i32> {
        let mut req = IfReq::new(name);
        self.ioctl(libc::SIOCGIFMTU as libc::c_ulong, &mut req)?;
        // SAFETY: SIOCGIFMTU filled the union's int.
        Ok(unsafe { req.data.mtu })
    }

    /// `SIOCGIFFLAGS`: the interface flags' low 16 bits (psutil reads only those).
    pub(crate) fn if_flags(&self, name: &str) -> io::Result<u16> {
        let mut req = IfReq::new(name);
        self.ioctl(libc::SIOCGIFFLAGS as libc::c_ulong, &mut req)?;
        // SAFETY: SIOCGIFFLAGS filled the union's short.
        Ok(unsafe { req.data.flags } as u16)
    }

    /// `SIOCETHTOOL` with `ETHTOOL_GSET`: duplex (`DUPLEX_*`) and speed in Mbit/s (0 when
    /// unknown).
    pub(crate) fn if_duplex_speed(&self, name: &str) -> io::Result<(u8, u32)> {
        let mut cmd = EthtoolCmd {
            cmd: ETHTOOL_GSET,
            ..EthtoolCmd::default()
        };
        let mut req = IfReq::new(name);
        req.data.ptr = (&mut cmd as *mut EthtoolCmd).cast();
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
