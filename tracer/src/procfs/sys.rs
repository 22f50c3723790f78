//! The syscalls about a process that psutil makes instead of reading `/proc`: `prlimit64`,
//! `ioprio_get`, `sched_getaffinity` (and `sysconf`). Every `unsafe` of the reader is here.

use std::io;

use super::{ProcError, Procfs};
use crate::host::{IoClass, IoNice, Rlimit};

const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_WHO_PROCESS: libc::c_long = 1;

/// `sysconf(name)`, `None` if unsupported.
pub(crate) fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// `-1` with errno → `Err`.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Procfs {
    /// The PID as the kernel's `pid_t`; PID 0 (which would mean "the caller") and PIDs out of
    /// range do not name a process, as in psutil.
    fn kernel_pid(pid: u32) -> Result<libc::pid_t, ProcError> {
        match libc::pid_t::try_from(pid) {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(ProcError::NoSuchProcess { pid }),
        }
    }

    /// psutil's `wrap_exceptions` for a failed syscall.
    fn syscall_error(&self, pid: u32, call: &'static str, source: io::Error) -> ProcError {
        match source.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => ProcError::AccessDenied {
                pid,
                path: self.pid_dir(pid),
            },
            Some(libc::ESRCH) => self.gone(pid),
            _ => ProcError::Syscall { pid, call, source },
        }
    }

    /// psutil's `rlimit(resource)`: `(soft, hard)` from `prlimit64`, with `RLIM_INFINITY` as
    /// `-1` (Python's `resource.RLIM_INFINITY`).
    pub fn rlimit(&self, pid: u32, resource: Rlimit) -> Result<(i64, i64), ProcError> {
        let kpid = Self::kernel_pid(pid)?;
        let mut old = libc::rlimit64 {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: prlimit64 with a null new limit only writes `old`, a valid rlimit64.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                kpid as libc::c_long,
                resource as u32 as libc::c_long,
                std::ptr::null::<libc::rlimit64>(),
                &mut old as *mut libc::rlimit64,
            )
        };
        match check(ret) {
            Ok(_) => Ok((old.rlim_cur as i64, old.rlim_max as i64)),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && self.is_zombie(pid) => {
                Err(ProcError::ZombieProcess { pid })
            }
            Err(e) => Err(self.syscall_error(pid, "prlimit64", e)),
        }
    }

    /// psutil's `ionice()`: `ioprio_get(IOPRIO_WHO_PROCESS, pid)` split into class and data.
    pub fn ionice(&self, pid: u32) -> Result<IoNice, ProcError> {
        let kpid = Self::kernel_pid(pid)?;
        // SAFETY: ioprio_get takes two integers and touches no memory of ours.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_ioprio_get,
                IOPRIO_WHO_PROCESS,
                kpid as libc::c_long,
            )
        };
        let prio = check(ret).map_err(|e| self.syscall_error(pid, "ioprio_get", e))? as u32;
        let ioclass = match prio >> IOPRIO_CLASS_SHIFT {
            0 => IoClass::None,
            1 => IoClass::Rt,
            2 => IoClass::Be,
            3 => IoClass::Idle,
            other => {
                return Err(ProcError::Syscall {
                    pid,
                    call: "ioprio_get",
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unknown I/O priority class {other}"),
                    ),
                })
            }
        };
        Ok(IoNice {
            ioclass,
            value: prio & ((1 << IOPRIO_CLASS_SHIFT) - 1),
        })
    }

    /// psutil's `cpu_affinity()`: the CPUs of `sched_getaffinity`, ascending. The mask grows
    /// from 64 CPUs until the kernel accepts its size, as psutil's does.
    pub fn cpu_affinity(&self, pid: u32) -> Result<Vec<u32>, ProcError> {
        let kpid = Self::kernel_pid(pid)?;
        let mut words = 1usize;
        loop {
            let mut mask = vec![0u64; words];
            let bytes = words * std::mem::size_of::<u64>();
            // SAFETY: the kernel writes at most `bytes` bytes into `mask`, which holds that many.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_sched_getaffinity,
                    kpid as libc::c_long,
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
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && words < (1 << 14) => {
                    words *= 2;
                }
                Err(e) => return Err(self.syscall_error(pid, "sched_getaffinity", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Child;
    use super::*;

    #[test]
    fn rlimit_matches_getrlimit() {
        let procfs = Procfs::new();
        let me = std::process::id();
        for res in Rlimit::ALL {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes one rlimit.
            assert_eq!(unsafe { libc::getrlimit(res as u32 as _, &mut lim) }, 0);
            let conv = |v: libc::rlim_t| {
                if v == libc::RLIM_INFINITY {
                    -1
                } else {
                    v as i64
                }
            };
            assert_eq!(
                procfs.rlimit(me, res).unwrap(),
                (conv(lim.rlim_cur), conv(lim.rlim_max)),
                "{}",
                res.name()
            );
        }
        assert!(matches!(
            procfs.rlimit(0, Rlimit::Nofile),
            Err(ProcError::NoSuchProcess { pid: 0 })
        ));
    }

    #[test]
    fn ionice_and_affinity_of_child() {
        let procfs = Procfs::new();
        let child = Child::spawn(std::process::Command::new("sleep").arg("5"));
        let io = procfs.ionice(child.pid()).unwrap();
        assert_eq!(io.ioclass, IoClass::None);
        assert_eq!(io.value, 0);
        let cpus = procfs.cpu_affinity(child.pid()).unwrap();
        let n = std::thread::available_parallelism().unwrap().get();
        assert_eq!(cpus.len(), n);
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(
            procfs.cpu_affinity(0),
            Err(ProcError::NoSuchProcess { pid: 0 })
        ));
    }
}
