//! The system readers' syscalls, under the names they use: all of them live in
//! [`crate::platform`] (on `rustix` and `nix`); this is only the readers' view of it.

pub(crate) use crate::platform::{
    clock_ticks, device_of, getifaddrs, inet6_ntop, online_cpus, page_size, statvfs, sysinfo_loads,
    sysinfo_swap, Socket, DUPLEX_FULL, DUPLEX_HALF, DUPLEX_UNKNOWN,
};
