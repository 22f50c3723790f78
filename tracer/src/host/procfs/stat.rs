//! `/proc/PID/stat` and `/proc/PID/task/TID/stat`: name, state, parentage, CPU times and start
//! time, parsed the way psutil's `_parse_stat_file` does.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::{parse_int, py_split, with_scratch, ProcError, Procfs, ReadMode};
use crate::host::*;

impl Stat {
    /// Parses the content of a stat file; `path` is only for the error.
    pub fn parse(data: &[u8], path: &Path) -> Result<Stat, ProcError> {
        // The name is between the first '(' and the last ')': it may hold both.
        let lpar = data.iter().position(|&b| b == b'(');
        let rpar = data.iter().rposition(|&b| b == b')');
        let (lpar, rpar) = match (lpar, rpar) {
            (Some(l), Some(r)) if l < r => (l, r),
            _ => return Err(ProcError::parse(path, "no (comm) field")),
        };
        let pid = parse_int::<u32>(&data[..lpar])
            .ok_or_else(|| ProcError::parse(path, "bad pid field"))?;
        let comm = OsString::from_vec(data[lpar + 1..rpar].to_vec());
        let rest = data.get(rpar + 2..).unwrap_or_default();

        // fields[0] is field 3 (state); fields[i] is field i + 3.
        let mut fields = [&b""[..]; 40];
        let mut count = 0;
        for (slot, token) in fields.iter_mut().zip(py_split(rest)) {
            *slot = token;
            count += 1;
        }
        if count < 39 {
            return Err(ProcError::parse(
                path,
                format!("{} fields after comm, expected at least 39", count),
            ));
        }
        fn num<T: std::str::FromStr>(
            fields: &[&[u8]; 40],
            i: usize,
            path: &Path,
        ) -> Result<T, ProcError> {
            parse_int(fields[i]).ok_or_else(|| {
                ProcError::parse(
                    path,
                    format!(
                        "field {} is not a number: {:?}",
                        i + 3,
                        String::from_utf8_lossy(fields[i])
                    ),
                )
            })
        }
        let state = match fields[0] {
            [c] => *c as char,
            _ => '?',
        };
        Ok(Stat {
            pid,
            comm,
            state,
            ppid: num(&fields, 1, path)?,
            pgrp: num(&fields, 2, path)?,
            session: num(&fields, 3, path)?,
            tty_nr: num(&fields, 4, path)?,
            minflt: num(&fields, 7, path)?,
            majflt: num(&fields, 9, path)?,
            utime: num(&fields, 11, path)?,
            stime: num(&fields, 12, path)?,
            cutime: num(&fields, 13, path)?,
            cstime: num(&fields, 14, path)?,
            priority: num(&fields, 15, path)?,
            nice: num(&fields, 16, path)?,
            num_threads: num(&fields, 17, path)?,
            starttime: num(&fields, 19, path)?,
            vsize: num(&fields, 20, path)?,
            rss_pages: num(&fields, 21, path)?,
            processor: num(&fields, 36, path)?,
            rt_priority: num(&fields, 37, path)?,
            policy: num(&fields, 38, path)?,
            delayacct_blkio_ticks: if count > 39 {
                num(&fields, 39, path)?
            } else {
                0
            },
        })
    }
}

impl Procfs {
    /// `/proc/PID/stat`.
    pub fn stat(&self, pid: u32) -> Result<Stat, ProcError> {
        let path = self.pid_path(pid, "stat");
        with_scratch(|buf| {
            self.read_pid_file(pid, &path, buf, ReadMode::ShortReadIsEof)?;
            Stat::parse(buf, &path)
        })
    }

    /// psutil's `threads()`: every thread of `/proc/PID/task`, ordered as psutil orders them
    /// (by the TID's decimal string, so `"100"` sorts before `"99"`), skipping threads that
    /// exit while being read. psutil parses the thread's stat after the *first* `)`, which
    /// misreads a thread name holding `)`; this reader uses the last one.
    pub fn threads(&self, pid: u32) -> Result<Vec<ThreadTimes>, ProcError> {
        let task = self.pid_path(pid, "task");
        let mut names: Vec<OsString> = Vec::new();
        let entries = std::fs::read_dir(&task).map_err(|e| self.map_err(pid, &task, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.map_err(pid, &task, e))?;
            names.push(entry.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut threads = Vec::with_capacity(names.len());
        let mut hit_enoent = false;
        with_scratch(|buf| {
            for name in &names {
                let Some(tid) = parse_int::<u32>(name.as_bytes()) else {
                    return Err(ProcError::parse(
                        &task,
                        format!("task entry {name:?} is not a TID"),
                    ));
                };
                let path = task.join(name).join("stat");
                match super::read_into(&path, buf, ReadMode::ShortReadIsEof) {
                    Ok(()) => {}
                    Err(e)
                        if matches!(super::errno(&e), Some(libc::ENOENT) | Some(libc::ESRCH)) =>
                    {
                        hit_enoent = true;
                        continue;
                    }
                    Err(e) => return Err(self.map_err(pid, &path, e)),
                }
                let stat = Stat::parse(buf, &path)?;
                threads.push(ThreadTimes {
                    id: tid,
                    user_time: ticks_to_secs(stat.utime),
                    system_time: ticks_to_secs(stat.stime),
                });
            }
            Ok(())
        })?;
        if hit_enoent {
            self.check_alive(pid)?;
        }
        Ok(threads)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{wait_until, Child, TempDir};
    use super::*;
    use std::path::PathBuf;

    const ZOMBIE: &[u8] = b"9678 (sleep) Z 9637 9634 9049 0 -1 4227084 77 0 1 0 0 0 0 0 20 0 1 0 252777 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 1 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    fn p() -> PathBuf {
        PathBuf::from("/fixture/stat")
    }

    #[test]
    fn comm_with_spaces_and_parentheses() {
        let data = b"1234 (a) (b c)) ) R 1 1234 1234 34816 1234 4194560 10 0 2 0 150 37 5 6 20 0 3 0 98765 12345678 456 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 7 0 0 0 0 0 0 0 0 0 0\n";
        let st = Stat::parse(data, &p()).unwrap();
        assert_eq!(st.pid, 1234);
        assert_eq!(st.comm, OsString::from("a) (b c)) "));
        assert_eq!(st.state, 'R');
        assert_eq!(st.status(), "running");
        assert_eq!(st.ppid, 1);
        assert_eq!(st.pgrp, 1234);
        assert_eq!(st.session, 1234);
        assert_eq!(st.tty_nr, 34816);
        assert_eq!(st.minflt, 10);
        assert_eq!(st.majflt, 2);
        assert_eq!((st.utime, st.stime, st.cutime, st.cstime), (150, 37, 5, 6));
        assert_eq!((st.priority, st.nice), (20, 0));
        assert_eq!(st.num_threads, 3);
        assert_eq!(st.starttime, 98765);
        assert_eq!(st.vsize, 12345678);
        assert_eq!(st.rss_pages, 456);
        assert_eq!(st.processor, 1);
        assert_eq!(st.delayacct_blkio_ticks, 7);
        let t = st.cpu_times();
        assert_eq!(t.user, 150.0 / 100.0);
        assert_eq!(t.system, 37.0 / 100.0);
        assert_eq!(t.children_user, 0.05);
        assert_eq!(t.children_system, 0.06);
        assert_eq!(t.iowait, 0.07);
        assert_eq!(st.create_time(1_700_000_000.0), 987.65 + 1_700_000_000.0);
    }

    #[test]
    fn non_utf8_comm_is_kept() {
        let data = b"7 (\xff\xfe x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 -5 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n";
        let st = Stat::parse(data, &p()).unwrap();
        assert_eq!(st.comm.as_bytes(), b"\xff\xfe x");
        assert_eq!(st.nice, -5);
        // No field 42: iowait is 0, as psutil.
        assert_eq!(st.delayacct_blkio_ticks, 0);
    }

    #[test]
    fn zombie_stat() {
        let st = Stat::parse(ZOMBIE, &p()).unwrap();
        assert_eq!(st.state, 'Z');
        assert_eq!(st.status(), "zombie");
        assert_eq!(st.comm, OsString::from("sleep"));
        assert_eq!(st.ppid, 9637);
        assert_eq!(st.tty_nr, 0);
        assert_eq!(st.vsize, 0);
        assert_eq!(st.starttime, 252777);
        assert_eq!(st.processor, 1);
    }

    #[test]
    fn kernel_thread_stat() {
        let data = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 2 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let st = Stat::parse(data, &p()).unwrap();
        assert_eq!((st.pid, st.ppid, st.stime), (2, 0, 3));
        let data = b"30 (kworker/u8:2-events_unbound) I 2 0 0 0 -1 69238880 0 0 0 0 0 1 0 0 20 0 1 0 12 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let st = Stat::parse(data, &p()).unwrap();
        assert_eq!(st.comm, OsString::from("kworker/u8:2-events_unbound"));
        assert_eq!(st.status(), "idle");
    }

    #[test]
    fn statuses() {
        let all = [
            ('R', "running"),
            ('S', "sleeping"),
            ('D', "disk-sleep"),
            ('T', "stopped"),
            ('t', "tracing-stop"),
            ('Z', "zombie"),
            ('X', "dead"),
            ('x', "dead"),
            ('K', "wake-kill"),
            ('W', "waking"),
            ('I', "idle"),
            ('P', "parked"),
            ('Q', "?"),
        ];
        for (c, s) in all {
            assert_eq!(status_name(c), s);
        }
    }

    #[test]
    fn bad_content_is_parse_error_with_path() {
        for data in [
            &b""[..],
            b"12 no parens S 1",
            b"12 (x) S 1 2 3",
            b"12 (x) S notanumber 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n",
        ] {
            match Stat::parse(data, &p()) {
                Err(ProcError::Parse { path, .. }) => assert_eq!(path, p()),
                other => panic!("expected Parse for {data:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn fixture_tree_stat() {
        let dir = TempDir::new("stat");
        dir.write("9678/stat", ZOMBIE);
        let procfs = Procfs::with_root(dir.path());
        assert_eq!(procfs.stat(9678).unwrap().state, 'Z');
        dir.write("5/stat", b"garbage");
        match procfs.stat(5) {
            Err(ProcError::Parse { path, .. }) => assert_eq!(path, dir.path().join("5/stat")),
            other => panic!("expected Parse, got {other:?}"),
        }
    }

    #[test]
    fn fixture_threads_sorted_as_strings() {
        let dir = TempDir::new("threads");
        let stat = |tid: u32, ut: u32| {
            format!("{tid} (w) S 1 1 1 0 -1 0 0 0 0 0 {ut} 50 0 0 20 0 3 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0\n")
        };
        dir.write("100/stat", stat(100, 1).as_bytes());
        for (tid, ut) in [(100, 1), (99, 250), (1000, 3)] {
            dir.write(&format!("100/task/{tid}/stat"), stat(tid, ut).as_bytes());
        }
        let threads = Procfs::with_root(dir.path()).threads(100).unwrap();
        let ids: Vec<u32> = threads.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![100, 1000, 99]);
        assert_eq!(threads[2].user_time, 2.5);
        assert_eq!(threads[2].system_time, 0.5);
    }

    #[test]
    fn live_self_stat() {
        let procfs = Procfs::new();
        let me = std::process::id();
        let st = procfs.stat(me).unwrap();
        assert_eq!(st.pid, me);
        assert_eq!(st.ppid, std::os::unix::process::parent_id());
        assert!(st.num_threads >= 1);
        // The process's state is its main thread's: the test harness's waits.
        assert!(matches!(st.state, 'R' | 'S'), "{}", st.state);
        let bt = procfs.boot_time().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let ct = st.create_time(bt);
        assert!(ct > bt && ct <= now + 1.0, "{ct} {bt} {now}");
        assert!(!procfs.threads(me).unwrap().is_empty());
        assert!(procfs.threads(me).unwrap().iter().any(|t| t.id == me));
    }

    #[test]
    fn live_child_stat_and_zombie() {
        let procfs = Procfs::new();
        let mut child = Child::spawn(std::process::Command::new("sleep").arg("5"));
        let pid = child.pid();
        let st = procfs.stat(pid).unwrap();
        assert_eq!(st.comm, OsString::from("sleep"));
        assert_eq!(st.ppid, std::process::id());
        assert!(wait_until(|| procfs.stat(pid).unwrap().state == 'S'));
        // Kill without reaping: a zombie until `Child` drops.
        child.0.kill().unwrap();
        assert!(wait_until(|| procfs.stat(pid).unwrap().state == 'Z'));
        assert_eq!(procfs.stat(pid).unwrap().status(), "zombie");
        assert!(matches!(
            procfs.exe(pid),
            Err(ProcError::ZombieProcess { .. })
        ));
        assert!(matches!(
            procfs.cmdline(pid),
            Err(ProcError::ZombieProcess { .. })
        ));
        assert!(matches!(
            procfs.cwd(pid),
            Err(ProcError::ZombieProcess { .. })
        ));
        assert!(matches!(
            procfs.environ(pid),
            Err(ProcError::ZombieProcess { .. })
        ));
        assert_eq!(procfs.memory_info(pid).unwrap().rss, 0);
        assert_eq!(procfs.num_fds(pid).unwrap(), 0);
        child.0.wait().unwrap();
        assert!(matches!(
            procfs.stat(pid),
            Err(ProcError::NoSuchProcess { .. })
        ));
    }
}
