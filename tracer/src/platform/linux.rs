//! Linux system parameters, limits, scheduling and memory calls: `sysconf` through `nix`,
//! `statvfs`, `sysinfo` and the file-descriptor limit through `rustix`, and — with no
//! safe wrapper in either crate — `prlimit64` as a pure getter for another process,
//! `ioprio_{get,set}`, psutil's growing `sched_getaffinity` mask, `sched_{get,set}attr`,
//! and `mallopt`.

use std::io;
use std::path::Path;
use std::sync::OnceLock;

use nix::unistd::SysconfVar;

/// `sysconf(var)`, `None` when unsupported or not positive.
fn sysconf(var: SysconfVar) -> Option<u64> {
    nix::unistd::sysconf(var)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, USER_HZ), the unit of `/proc`'s times.
pub(crate) fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| sysconf(SysconfVar::CLK_TCK).unwrap_or(100))
}

/// The page size in bytes (`sysconf(_SC_PAGESIZE)`), the unit of `statm` and `maxrss`.
pub(crate) fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| sysconf(SysconfVar::PAGE_SIZE).unwrap_or(4096))
}

/// The CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`, Python's `os.cpu_count()`).
pub(crate) fn online_cpus() -> Option<u64> {
    sysconf(SysconfVar::_NPROCESSORS_ONLN)
}

/// The fields of `statvfs` that `disk_usage` needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatVfs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub frsize: u64,
}

/// `statvfs(path)`.
pub(crate) fn statvfs(path: &Path) -> io::Result<StatVfs> {
    let st = rustix::fs::statvfs(path)?;
    Ok(StatVfs {
        blocks: st.f_blocks,
        bfree: st.f_bfree,
        bavail: st.f_bavail,
        frsize: st.f_frsize,
    })
}

/// `sysinfo(2)`'s total and free swap, in bytes.
pub(crate) fn sysinfo_swap() -> io::Result<(u64, u64)> {
    let info = rustix::system::sysinfo();
    let unit = u64::from(info.mem_unit.max(1));
    Ok((info.totalswap as u64 * unit, info.freeswap as u64 * unit))
}

/// `sysinfo(2)`'s 1, 5 and 15 minute load averages, as glibc's `getloadavg` (2.34+) returns
/// them: the kernel's fixed-point values divided by 2^16, exactly.
pub(crate) fn sysinfo_loads() -> io::Result<[f64; 3]> {
    Ok(rustix::system::sysinfo().loads.map(|l| l as f64 / 65536.0))
}

/// The major and minor number of the device `path` is on (`os.stat(path).st_dev`).
pub(crate) fn device_of(path: &Path) -> io::Result<(u32, u32)> {
    let dev = rustix::fs::stat(path)?.st_dev;
    Ok((rustix::fs::major(dev), rustix::fs::minor(dev)))
}

/// Raises this process's soft limit of open files to its hard limit.
pub(crate) fn raise_nofile_limit() -> io::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let below = match (limit.current, limit.maximum) {
        (Some(current), Some(maximum)) => current < maximum,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(())
}

/// `-1` with errno → `Err`.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `prlimit64(pid, resource, NULL, &old)`: another process's `(soft, hard)` limit, with
/// `RLIM_INFINITY` as `u64::MAX`. (rustix's `prlimit` always sets a new limit too.)
pub(crate) fn prlimit(pid: libc::pid_t, resource: u32) -> io::Result<(u64, u64)> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: with a null new limit prlimit64 only writes `old`, a valid, writable rlimit64.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            pid as libc::c_long,
            resource as libc::c_long,
            std::ptr::null::<libc::rlimit64>(),
            &mut old as *mut libc::rlimit64,
        )
    };
    check(ret)?;
    Ok((old.rlim_cur, old.rlim_max))
}

/// `ioprio_get(IOPRIO_WHO_PROCESS, pid)`: the raw priority (class << 13 | data).
pub(crate) fn ioprio_get(pid: libc::pid_t) -> io::Result<u32> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_get takes two integers and touches no memory of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_get,
            IOPRIO_WHO_PROCESS,
            pid as libc::c_long,
        )
    };
    Ok(check(ret)? as u32)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, pid, ioprio)`: sets the raw priority (class << 13 | data).
pub(crate) fn ioprio_set(pid: libc::pid_t, ioprio: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            pid as libc::c_long,
            ioprio as libc::c_long,
        )
    };
    check(ret).map(drop)
}

/// `sched_getaffinity(pid)`: the CPUs, ascending. The mask grows from 64 CPUs until the kernel
/// accepts its size, as psutil's does (rustix's and nix's `CpuSet` stop at 1,024 CPUs).
pub(crate) fn sched_getaffinity(pid: libc::pid_t) -> io::Result<Vec<u32>> {
    let mut words = 1usize;
    loop {
        let mut mask = vec![0u64; words];
        let bytes = words * std::mem::size_of::<u64>();
        // SAFETY: the kernel writes at most `bytes` bytes into `mask`, which holds that many.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_sched_getaffinity,
                pid as libc::c_long,
                bytes as libc::c_long,
                mask.as_mut_ptr(),
            )
        };
        match check(ret) {
            Ok(written) => {
                let written_words = (written as usize).div_ceil(8).min(words);
                let mut cpus = Vec::new();
                for (w, &bits) in mask[..written_words].iter().enumerate() {
                    for b in 0..64 {
                        if bits & (1 << b) != 0 {
                            cpus.push((w * 64 + b) as u32);
                        }
                    }
                }
                return Ok(cpus);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && words < (1 << 14) => words *= 2,
            Err(e) => return Err(e),
        }
    }
}

/// Caps glibc's malloc arenas (`mallopt(M_ARENA_MAX, n)`; nothing elsewhere).
pub(crate) fn limit_malloc_arenas(arenas: i32) {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt has no preconditions.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = arenas;
}

/// Serves every allocation of at least `bytes` from its own mapping, returned to the system
/// when freed (`mallopt(M_MMAP_THRESHOLD, bytes)`), and leaves the heap's free top in place up
/// to `keep` bytes (`M_TRIM_THRESHOLD`; the caller trims after big work); nothing elsewhere.
/// Fixing the first stops glibc from raising it after the first big block is freed, which
/// otherwise keeps every later big block (a query's answer, a scan's vector) in the heap once
/// freed; the second keeps a query's many small rows from growing and shrinking the heap
/// (`brk`) over and over, as glibc's adjusted threshold did.
pub(crate) fn map_large_allocations(bytes: i32, keep: i32) {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt has no preconditions.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
        libc::mallopt(libc::M_TRIM_THRESHOLD, keep);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = (bytes, keep);
}

/// Blocks every signal for the calling thread until dropped (then restores its mask).
pub(crate) struct SignalsBlocked {
    previous: Option<nix::sys::signal::SigSet>,
}

impl SignalsBlocked {
    /// `pthread_sigmask(SIG_BLOCK, all)`, keeping the mask it replaces.
    pub(crate) fn new() -> SignalsBlocked {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
        let mut previous = SigSet::empty();
        let blocked = pthread_sigmask(
            SigmaskHow::SIG_BLOCK,
            Some(&SigSet::all()),
            Some(&mut previous),
        );
        SignalsBlocked {
            previous: blocked.is_ok().then_some(previous),
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        use nix::sys::signal::{pthread_sigmask, SigmaskHow};
        if let Some(previous) = &self.previous {
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(previous), None);
        }
    }
}

/// `struct sched_attr` of `<linux/sched/types.h>` (`SCHED_ATTR_SIZE_VER1`, 56 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// The calling thread's `sched_attr` (`sched_getattr(0, …)`).
fn sched_getattr() -> io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid, writable sched_attr of `size` bytes; pid 0 is this thread.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            size,
            0,
        )
    };
    check(ret)?;
    Ok(attr)
}

/// The calling thread's scheduling policy and nice value.
#[cfg(test)]
pub(crate) fn sched_policy_and_nice() -> io::Result<(u32, i32)> {
    sched_getattr().map(|attr| (attr.sched_policy, attr.sched_nice))
}

/// Sets the calling thread's fair-class slice (`sched_attr.sched_runtime`) to `slice_ns`,
/// everything else (policy, nice, reset-on-fork) as it was. `Ok(false)`, untouched, when the
/// thread has a real-time or idle policy.
pub(crate) fn set_fair_slice(slice_ns: u64) -> io::Result<bool> {
    const SCHED_OTHER: u32 = libc::SCHED_OTHER as u32;
    const SCHED_BATCH: u32 = libc::SCHED_BATCH as u32;
    let mut attr = sched_getattr()?;
    if !matches!(attr.sched_policy, SCHED_OTHER | SCHED_BATCH) {
        return Ok(false);
    }
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    attr.sched_runtime = slice_ns;
    // SAFETY: `attr` is a valid sched_attr; pid 0 is this thread.
    check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) })?;
    Ok(true)
}

/// The calling thread's id.
#[cfg(test)]
pub(crate) fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters() {
        assert_eq!(clock_ticks(), 100);
        assert!(page_size() >= 4096 && page_size().is_power_of_two());
        assert!(online_cpus().unwrap() >= 1);
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn limits_of_this_process() {
        let me = std::process::id() as libc::pid_t;
        let (soft, hard) = prlimit(me, libc::RLIMIT_NOFILE).unwrap();
        assert!(soft <= hard);
        let err = prlimit(i32::MAX, libc::RLIMIT_NOFILE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
        raise_nofile_limit().unwrap();
        let (soft, hard) = prlimit(me, libc::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
        assert_eq!(
            ioprio_get(i32::MAX).unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
        let cpus = sched_getaffinity(me).unwrap();
        assert_eq!(
            cpus.len(),
            std::thread::available_parallelism().unwrap().get()
        );
        assert!(gettid() > 0);
    }

    #[test]
    fn statvfs_and_device_of_root() {
        let st = statvfs(Path::new("/")).unwrap();
        assert!(st.blocks >= st.bfree && st.frsize > 0);
        assert_eq!(
            statvfs(Path::new("/no/such/dir"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
        device_of(Path::new("/")).unwrap();
        let dir = std::env::temp_dir().join(format!("tracer-chown-{}", std::process::id()));
        std::fs::write(&dir, b"").unwrap();
        super::super::chown_nofollow(
            &dir,
            super::super::uid(),
            rustix::process::getgid().as_raw(),
        )
        .unwrap();
        std::fs::remove_file(&dir).unwrap();
        let (total, free) = sysinfo_swap().unwrap();
        assert!(free <= total);
        assert!(sysinfo_loads().unwrap().iter().all(|l| *l >= 0.0));
        limit_malloc_arenas(8);
        map_large_allocations(128 * 1024, 32 << 20);
        super::super::malloc_trim();
    }

    #[test]
    fn signals_blocked_then_restored() {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        std::thread::spawn(|| {
            let mask = || {
                let mut now = SigSet::empty();
                pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut now)).unwrap();
                now
            };
            assert!(!mask().contains(Signal::SIGCHLD));
            {
                let _blocked = SignalsBlocked::new();
                assert!(mask().contains(Signal::SIGCHLD));
            }
            assert!(!mask().contains(Signal::SIGCHLD));
        })
        .join()
        .unwrap();
    }
}
