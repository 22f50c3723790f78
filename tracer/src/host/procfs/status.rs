//! `/proc/PID/status`: the fields psutil reads from it (uids, gids, thread count, context
//! switches, allowed CPUs) and the identity fields next to them.

use std::path::Path;

use super::{parse_int, py_split, with_scratch, ProcError, Procfs, ReadMode};
use crate::host::*;

/// Most CPUs a list may name: the kernel's own limit (`CONFIG_NR_CPUS`) is 8,192; a list
/// naming more is not the kernel's, and is refused rather than allocated.
const MAX_CPUS: usize = 65_536;

/// Parses a CPU list such as `0-3,8,10-11` into its CPUs, ascending as written; `None` for a
/// malformed list or one naming more than 65,536 CPUs.
pub fn parse_cpu_list(list: &[u8]) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in super::py_strip(list).split(|&b| b == b',') {
        if part.is_empty() {
            continue;
        }
        match part.iter().position(|&b| b == b'-') {
            Some(dash) => {
                let lo: u32 = parse_int(&part[..dash])?;
                let hi: u32 = parse_int(&part[dash + 1..])?;
                if hi < lo || (hi - lo) as usize >= MAX_CPUS - cpus.len() {
                    return None;
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(parse_int(part)?),
        }
        if cpus.len() > MAX_CPUS {
            return None;
        }
    }
    Some(cpus)
}

impl Status {
    /// Parses the content of a status file; `path` is only for the error.
    pub fn parse(data: &[u8], path: &Path) -> Result<Status, ProcError> {
        let mut state = None;
        let mut umask = None;
        let mut tgid = None;
        let mut pid = None;
        let mut ppid = None;
        let mut tracer_pid = None;
        let mut uids = None;
        let mut gids = None;
        let mut num_threads = None;
        let mut voluntary = None;
        let mut involuntary = None;
        let mut cpus_allowed_list = None;
        let bad = |what: &str| ProcError::parse(path, format!("malformed {what} line"));
        for line in data.split(|&b| b == b'\n') {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (key, value) = (&line[..colon], &line[colon + 1..]);
            match key {
                b"State" => {
                    state = py_split(value)
                        .next()
                        .and_then(|t| t.first())
                        .map(|&c| c as char)
                }
                b"Umask" => {
                    umask = Some(
                        std::str::from_utf8(super::py_strip(value))
                            .ok()
                            .and_then(|s| u32::from_str_radix(s, 8).ok())
                            .ok_or_else(|| bad("Umask"))?,
                    )
                }
                b"Tgid" => tgid = Some(parse_int(value).ok_or_else(|| bad("Tgid"))?),
                b"Pid" => pid = Some(parse_int(value).ok_or_else(|| bad("Pid"))?),
                b"PPid" => ppid = Some(parse_int(value).ok_or_else(|| bad("PPid"))?),
                b"TracerPid" => {
                    tracer_pid = Some(parse_int(value).ok_or_else(|| bad("TracerPid"))?)
                }
                // psutil: r'Uid:\t(\d+)\t(\d+)\t(\d+)', first match.
                b"Uid" if uids.is_none() => {
                    let [real, effective, saved] = three_ids(value).ok_or_else(|| bad("Uid"))?;
                    uids = Some(Uids {
                        real,
                        effective,
                        saved,
                    });
                }
                b"Gid" if gids.is_none() => {
                    let [real, effective, saved] = three_ids(value).ok_or_else(|| bad("Gid"))?;
                    gids = Some(Gids {
                        real,
                        effective,
                        saved,
                    });
                }
                b"Threads" => num_threads = Some(parse_int(value).ok_or_else(|| bad("Threads"))?),
                b"voluntary_ctxt_switches" => {
                    voluntary =
                        Some(parse_int(value).ok_or_else(|| bad("voluntary_ctxt_switches"))?)
                }
                b"nonvoluntary_ctxt_switches" => {
                    involuntary =
                        Some(parse_int(value).ok_or_else(|| bad("nonvoluntary_ctxt_switches"))?)
                }
                b"Cpus_allowed_list" => {
                    cpus_allowed_list =
                        Some(parse_cpu_list(value).ok_or_else(|| bad("Cpus_allowed_list"))?)
                }
                _ => {}
            }
        }
        let missing = |what: &str| ProcError::parse(path, format!("no {what} line"));
        Ok(Status {
            state: state.ok_or_else(|| missing("State"))?,
            umask,
            tgid: tgid.ok_or_else(|| missing("Tgid"))?,
            pid: pid.ok_or_else(|| missing("Pid"))?,
            ppid: ppid.ok_or_else(|| missing("PPid"))?,
            tracer_pid: tracer_pid.unwrap_or(0),
            uids: uids.ok_or_else(|| missing("Uid"))?,
            gids: gids.ok_or_else(|| missing("Gid"))?,
            num_threads: num_threads.ok_or_else(|| missing("Threads"))?,
            num_ctx_switches: match (voluntary, involuntary) {
                (Some(voluntary), Some(involuntary)) => Some(CtxSwitches {
                    voluntary,
                    involuntary,
                }),
                _ => None,
            },
            cpus_allowed_list,
        })
    }
}

/// The first three tab-separated IDs of a `Uid:`/`Gid:` value (`\t0\t0\t0\t0`).
fn three_ids(value: &[u8]) -> Option<[u32; 3]> {
    let mut it = value.split(|&b| b == b'\t').skip(1);
    let mut next = || -> Option<u32> {
        let t = it.next()?;
        if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        parse_int(t)
    };
    Some([next()?, next()?, next()?])
}

impl Procfs {
    /// `/proc/PID/status`.
    pub fn status(&self, pid: u32) -> Result<Status, ProcError> {
        let path = self.pid_path(pid, "status");
        with_scratch(|buf| {
            self.read_pid_file(pid, &path, buf, ReadMode::ShortReadIsEof)?;
            Status::parse(buf, &path)
        })
    }

    /// [`Procfs::status`], and with `memory` also [`MemoryInfo`] from the same read (see
    /// [`super::memory_info_from_status`]; `None` when status cannot tell statm's values).
    pub fn status_and_memory(
        &self,
        pid: u32,
        memory: bool,
    ) -> Result<(Status, Option<super::MemoryInfo>), ProcError> {
        let path = self.pid_path(pid, "status");
        with_scratch(|buf| {
            self.read_pid_file(pid, &path, buf, ReadMode::ShortReadIsEof)?;
            let status = Status::parse(buf, &path)?;
            let memory = if memory {
                super::memory_info_from_status(buf)
            } else {
                None
            };
            Ok((status, memory))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const SAMPLE: &[u8] = b"Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t9385\nNgid:\t0\nPid:\t9385\nPPid:\t9381\nTracerPid:\t0\nUid:\t1000\t1001\t1002\t1003\nGid:\t10\t11\t12\t13\nFDSize:\t256\nGroups:\t \nNStgid:\t9385\nNSpid:\t9385\nKthread:\t0\nVmPeak:\t    3060 kB\nThreads:\t4\nSigQ:\t0/96365\nCpus_allowed:\t3\nCpus_allowed_list:\t0-2,5,7-8\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t1\n";

    #[test]
    fn parses_sample() {
        let st = Status::parse(SAMPLE, &PathBuf::from("/f/status")).unwrap();
        assert_eq!(st.state, 'R');
        assert_eq!(st.umask, Some(0o022));
        assert_eq!(
            (st.tgid, st.pid, st.ppid, st.tracer_pid),
            (9385, 9385, 9381, 0)
        );
        assert_eq!(
            st.uids,
            Uids {
                real: 1000,
                effective: 1001,
                saved: 1002
            }
        );
        assert_eq!(
            st.gids,
            Gids {
                real: 10,
                effective: 11,
                saved: 12
            }
        );
        assert_eq!(st.num_threads, 4);
        assert_eq!(
            st.num_ctx_switches,
            Some(CtxSwitches {
                voluntary: 17,
                involuntary: 1
            })
        );
        assert_eq!(st.cpus_allowed_list, Some(vec![0, 1, 2, 5, 7, 8]));
    }

    #[test]
    fn zombie_status_and_missing_optional_lines() {
        let data = b"Name:\tsleep\nState:\tZ (zombie)\nTgid:\t9678\nPid:\t9678\nPPid:\t9637\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t0\nThreads:\t1\n";
        let st = Status::parse(data, &PathBuf::from("/f/status")).unwrap();
        assert_eq!(st.state, 'Z');
        assert_eq!(st.umask, None);
        assert_eq!(st.num_ctx_switches, None);
        assert_eq!(st.cpus_allowed_list, None);
    }

    #[test]
    fn missing_uid_is_parse_error() {
        let data =
            b"State:\tS (sleeping)\nTgid:\t1\nPid:\t1\nPPid:\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n";
        match Status::parse(data, &PathBuf::from("/f/status")) {
            Err(ProcError::Parse { path, what }) => {
                assert_eq!(path, PathBuf::from("/f/status"));
                assert!(what.contains("Uid"), "{what}");
            }
            other => panic!("expected Parse, got {other:?}"),
        }
    }

    #[test]
    fn cpu_lists_past_the_kernels_limit_are_refused_not_allocated() {
        assert_eq!(parse_cpu_list(b"0-4294967295"), None);
        assert_eq!(parse_cpu_list(b"0-65535").map(|c| c.len()), Some(65_536));
        assert_eq!(parse_cpu_list(b"0-65535,7"), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list(b"0"), Some(vec![0]));
        assert_eq!(parse_cpu_list(b"\t0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list(b"1,3-4,6"), Some(vec![1, 3, 4, 6]));
        assert_eq!(parse_cpu_list(b""), Some(vec![]));
        assert_eq!(parse_cpu_list(b"3-1"), None);
        assert_eq!(parse_cpu_list(b"x"), None);
    }

    #[test]
    fn live_self_status_matches_libc() {
        let st = Procfs::new().status(std::process::id()).unwrap();
        use rustix::process::{getegid, geteuid, getgid, getuid};
        let (uid, euid, gid, egid) = (
            getuid().as_raw(),
            geteuid().as_raw(),
            getgid().as_raw(),
            getegid().as_raw(),
        );
        assert_eq!((st.uids.real, st.uids.effective), (uid, euid));
        assert_eq!((st.gids.real, st.gids.effective), (gid, egid));
        assert_eq!(st.pid, std::process::id());
        assert_eq!(st.tgid, std::process::id());
        assert!(st.num_threads >= 1);
        assert!(st.num_ctx_switches.is_some());
        let cpus = st.cpus_allowed_list.unwrap();
        assert_eq!(
            cpus,
            Procfs::new().cpu_affinity(std::process::id()).unwrap()
        );
    }

    #[test]
    fn live_child_status() {
        let child =
            super::super::testutil::Child::spawn(std::process::Command::new("sleep").arg("5"));
        let st = Procfs::new().status(child.pid()).unwrap();
        assert_eq!(st.ppid, std::process::id());
        assert_eq!(st.num_threads, 1);
        assert_eq!(st.uids.real, crate::platform::uid());
    }
}
