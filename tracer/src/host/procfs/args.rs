//! `/proc/PID/cmdline` and `/proc/PID/environ`, split by psutil's rules, byte-exact.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use super::{with_scratch, ProcError, Procfs, ReadMode};

/// Splits the content of a cmdline file as psutil's `cmdline()` does (an empty file is handled
/// by the caller):
/// - arguments end with NUL if the content ends with NUL, else they are separated by spaces
///   (processes that rewrite their title, e.g. Chrome);
/// - one trailing separator is dropped, then the content is split on it, keeping empty
///   arguments;
/// - if NUL-terminated content yields one argument that holds a space, it is split on spaces.
pub fn split_cmdline(data: &[u8]) -> Vec<OsString> {
    let sep = if data.last() == Some(&0) { 0 } else { b' ' };
    let data = data.strip_suffix(&[sep]).unwrap_or(data);
    let to_args = |sep: u8| -> Vec<OsString> {
        data.split(|&b| b == sep)
            .map(|arg| OsString::from_vec(arg.to_vec()))
            .collect()
    };
    if sep == 0 && !data.contains(&0) && data.contains(&b' ') {
        return to_args(b' ');
    }
    to_args(sep)
}

/// Parses an environ block as psutil's `parse_environ_block` does: `KEY=VALUE` entries, each
/// ended by NUL; parsing stops at an empty entry or at bytes without a final NUL; entries
/// without `=` or starting with `=` are skipped. As with psutil's dict, a key seen twice keeps
/// its first position and its last value.
pub fn parse_environ(data: &[u8]) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = Vec::new();
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut pos = 0;
    while let Some(len) = data[pos..].iter().position(|&b| b == 0) {
        if len == 0 {
            break;
        }
        let entry = &data[pos..pos + len];
        if let Some(eq) = entry.iter().position(|&b| b == b'=') {
            if eq > 0 {
                let (key, value) = (&entry[..eq], &entry[eq + 1..]);
                let value = OsString::from_vec(value.to_vec());
                match index.get(key) {
                    Some(&i) => out[i].1 = value,
                    None => {
                        index.insert(key, out.len());
                        out.push((OsString::from_vec(key.to_vec()), value));
                    }
                }
            }
        }
        pos += len + 1;
    }
    out
}

impl Procfs {
    /// psutil's `cmdline()`: the arguments, byte-exact. Empty for kernel threads;
    /// [`ProcError::ZombieProcess`] for a zombie (its cmdline reads empty).
    ///
    /// psutil reads the file in text mode, so it turns `\r\n` and lone `\r` into `\n`; this
    /// reader keeps the bytes as they are.
    pub fn cmdline(&self, pid: u32) -> Result<Vec<OsString>, ProcError> {
        let path = self.pid_path(pid, "cmdline");
        let args = with_scratch(|buf| {
            // The kernel's cmdline read fills the buffer unless it reaches the end of the
            // arguments (or fails to read them, which a second read would repeat).
            self.read_pid_file(pid, &path, buf, ReadMode::ShortReadIsEof)?;
            Ok::<_, ProcError>(if buf.is_empty() {
                None
            } else {
                Some(split_cmdline(buf))
            })
        })?;
        match args {
            Some(args) => Ok(args),
            None if self.is_zombie(pid) => Err(ProcError::ZombieProcess { pid }),
            None => Ok(Vec::new()),
        }
    }

    /// psutil's `environ()`: the variables in file order (see [`parse_environ`]); zombies
    /// are [`ProcError::ZombieProcess`] as for psutil. A process without an address space (a
    /// kernel thread) has none: empty. Recent kernels answer `ESRCH` for its environ file
    /// while `/proc/PID` stays, which psutil turns into `NoSuchProcess` for a live process (its
    /// own test_process_all fails on it); older ones read it empty, as this reader answers.
    /// Same `\r` caveat as [`Procfs::cmdline`].
    pub fn environ(&self, pid: u32) -> Result<Vec<(OsString, OsString)>, ProcError> {
        let path = self.pid_path(pid, "environ");
        let read = with_scratch(|buf| {
            self.read_pid_file(pid, &path, buf, ReadMode::UntilEof)?;
            Ok(parse_environ(buf))
        });
        match read {
            Err(ProcError::NoSuchProcess { .. }) if self.pid_path(pid, "stat").exists() => {
                Ok(Vec::new())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Child, TempDir};
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn args(v: &[&[u8]]) -> Vec<OsString> {
        v.iter().map(|a| OsString::from_vec(a.to_vec())).collect()
    }

    #[test]
    fn kernel_threads_have_an_empty_environment() {
        // kthreadd (pid 2 outside a pid namespace) and its children are kernel threads.
        let procfs = Procfs::new();
        let kthreads: Vec<u32> = procfs
            .pids()
            .unwrap()
            .into_iter()
            .filter(|&pid| pid == 2 || procfs.stat(pid).is_ok_and(|s| s.ppid == 2))
            .filter(|&pid| procfs.cmdline(pid).is_ok_and(|c| c.is_empty()))
            .collect();
        for &pid in kthreads.iter().take(5) {
            match procfs.environ(pid) {
                Ok(vars) => assert!(vars.is_empty(), "{pid}: {vars:?}"),
                Err(ProcError::NoSuchProcess { .. }) => {
                    assert!(!procfs.pid_path(pid, "stat").exists())
                }
                Err(e) => panic!("{pid}: {e}"),
            }
        }
    }

    #[test]
    fn nul_separated() {
        assert_eq!(split_cmdline(b"sleep\x005\x00"), args(&[b"sleep", b"5"]));
    }

    #[test]
    fn empty_argument_and_non_utf8() {
        assert_eq!(
            split_cmdline(b"prog\x00\x00\xff\xfe arg\x00x\x00"),
            args(&[b"prog", b"", b"\xff\xfe arg", b"x"])
        );
        assert_eq!(split_cmdline(b"a\x00\x00"), args(&[b"a", b""]));
        assert_eq!(split_cmdline(b"\x00"), args(&[b""]));
    }

    #[test]
    fn space_separated_fallbacks() {
        // Rewritten title without NUL terminator.
        assert_eq!(
            split_cmdline(b"chrome --type=renderer  --x "),
            args(&[b"chrome", b"--type=renderer", b"", b"--x"])
        );
        assert_eq!(split_cmdline(b"single"), args(&[b"single"]));
        // NUL-terminated but a single argument holding spaces.
        assert_eq!(
            split_cmdline(b"nginx: worker process\x00"),
            args(&[b"nginx:", b"worker", b"process"])
        );
        // Two arguments, one with a space: kept as is.
        assert_eq!(
            split_cmdline(b"sh\x00-c\x00echo hi\x00"),
            args(&[b"sh", b"-c", b"echo hi"])
        );
        // NUL inside, no NUL at the end: split on spaces only.
        assert_eq!(split_cmdline(b"a\x00b c"), args(&[b"a\x00b", b"c"]));
    }

    #[test]
    fn environ_block() {
        let env = parse_environ(b"A=1\x00B==2\x00=skip\x00noeq\x00A=3\x00C=\x00\x00D=after\x00");
        let env: Vec<(&[u8], &[u8])> = env
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(
            env,
            vec![(&b"A"[..], &b"3"[..]), (b"B", b"=2"), (b"C", b"")]
        );
        // Trailing bytes without NUL are ignored.
        assert_eq!(parse_environ(b"X=1\x00Y=2").len(), 1);
        assert!(parse_environ(b"").is_empty());
    }

    #[test]
    fn fixture_kernel_thread_and_zombie() {
        let dir = TempDir::new("args");
        dir.write("2/stat", b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 2 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0\n");
        dir.write("2/cmdline", b"");
        dir.write("9/stat", b"9 (sleep) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0\n");
        dir.write("9/cmdline", b"");
        let procfs = Procfs::with_root(dir.path());
        assert_eq!(procfs.cmdline(2).unwrap(), Vec::<OsString>::new());
        assert!(matches!(
            procfs.cmdline(9),
            Err(ProcError::ZombieProcess { pid: 9 })
        ));
    }

    #[test]
    fn live_child_cmdline_and_environ() {
        let child = Child::spawn(
            std::process::Command::new("sleep")
                .arg("5")
                .env_clear()
                .env("TRACER_TEST", "a b=c")
                .env("EMPTY", ""),
        );
        let procfs = Procfs::new();
        // Until the child has exec'd, /proc shows the spawner's state: wait for the new image.
        let expected = vec![OsString::from("sleep"), OsString::from("5")];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut cmdline = procfs.cmdline(child.pid()).unwrap();
        while cmdline != expected && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            cmdline = procfs.cmdline(child.pid()).unwrap();
        }
        assert_eq!(cmdline, expected);
        let env = procfs.environ(child.pid()).unwrap();
        assert!(env.contains(&(OsString::from("TRACER_TEST"), OsString::from("a b=c"))));
        assert!(env.contains(&(OsString::from("EMPTY"), OsString::from(""))));
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn live_kernel_thread() {
        let procfs = Procfs::new();
        // kthreadd is PID 2 on Linux (unless PID namespaces hide it).
        if let Ok(st) = procfs.stat(2) {
            if st.comm == "kthreadd" {
                assert!(procfs.cmdline(2).unwrap().is_empty());
                // No address space, no environment (not NoSuchProcess: it lives).
                assert!(procfs.environ(2).unwrap().is_empty());
            }
        }
    }

    #[test]
    fn live_self_cmdline() {
        let mine: Vec<OsString> = std::env::args_os().collect();
        assert_eq!(Procfs::new().cmdline(std::process::id()).unwrap(), mine);
    }
}
