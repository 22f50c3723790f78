//! The syscalls about a process that psutil makes instead of reading `/proc`: `prlimit64`,
//! `ioprio_get`, `sched_getaffinity` (made in [`crate::platform`]), with psutil's errors.

use std::io;

use super::{ProcError, Procfs};
use crate::host::{IoClass, IoNice, Rlimit};

const IOPRIO_CLASS_SHIFT: u32 = 13;

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
        match crate::platform::prlimit(kpid, resource as u32) {
            Ok((soft, hard)) => Ok((soft as i64, hard as i64)),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && self.is_zombie(pid) => {
                Err(ProcError::ZombieProcess { pid })
            }
            Err(e) => Err(self.syscall_error(pid, "prlimit64", e)),
        }
    }

    /// psutil's `ionice()`: `ioprio_get(IOPRIO_WHO_PROCESS, pid)` split into class and data.
    pub fn ionice(&self, pid: u32) -> Result<IoNice, ProcError> {
        let kpid = Self::kernel_pid(pid)?;
        let prio = crate::platform::ioprio_get(kpid)
            .map_err(|e| self.syscall_error(pid, "ioprio_get", e))?;
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
        crate::platform::sched_getaffinity(kpid)
            .map_err(|e| self.syscall_error(pid, "sched_getaffinity", e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Child;
    use super::*;

    /// rustix's name of a resource (an independent table, to check the numbers against).
    fn rustix_resource(res: Rlimit) -> rustix::process::Resource {
        use rustix::process::Resource;
        [
            Resource::Cpu,
            Resource::Fsize,
            Resource::Data,
            Resource::Stack,
            Resource::Core,
            Resource::Rss,
            Resource::Nproc,
            Resource::Nofile,
            Resource::Memlock,
            Resource::As,
            Resource::Locks,
            Resource::Sigpending,
            Resource::Msgqueue,
            Resource::Nice,
            Resource::Rtprio,
            Resource::Rttime,
        ]
        .into_iter()
        .find(|r| *r as u32 == res as u32)
        .expect("every Rlimit is a Linux resource")
    }

    #[test]
    fn rlimit_matches_getrlimit() {
        let procfs = Procfs::new();
        let me = std::process::id();
        for res in Rlimit::ALL {
            let resource = rustix_resource(res);
            let lim = rustix::process::getrlimit(resource);
            let conv = |v: Option<u64>| v.map_or(-1, |v| v as i64);
            assert_eq!(
                procfs.rlimit(me, res).unwrap(),
                (conv(lim.current), conv(lim.maximum)),
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
