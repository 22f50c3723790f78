//! Kernel threads' names, read fresh at every query through files the agent keeps open.
//!
//! A kernel thread's name changes without an event (a kworker shows the workqueue it serves;
//! a new kernel thread is forked as `kthreadd` and renamed after), so a query reads it from
//! `/proc`. Opening `/proc/PID/stat` of each of a host's kernel threads at every query is a path
//! walk, three calls and a parse each (about a third of a millisecond per query for sixty
//! threads); re-reading an open `/proc/PID/comm` is a seek and a read. An open `/proc/PID`
//! file answers for the process it was opened on only: once that thread is gone its reads fail
//! (ESRCH) even when the pid is reused, so a kept file never shows another process's name.
//!
//! Bounded: at most [`MAX_FILES`] files are kept; a file whose read fails is closed, and all
//! kept files are checked that way at every [`SWEEP_EVERY`]th new one (a gone thread's entry
//! leaves the table, so no query reads its file again). Written here rather than with a
//! crate: nothing published keeps `/proc` files open across reads.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::event::ProcessId;
use crate::host::Host;

/// Most files kept open (a host with thousands of CPUs has more kernel threads than this: the
/// rest are read the ordinary way).
pub const MAX_FILES: usize = 4096;

/// New files opened between two checks of the kept ones.
pub const SWEEP_EVERY: usize = 4;

/// The kept `comm` files of kernel threads, shared by every request of the agent.
#[derive(Debug, Clone)]
pub struct KernelThreadNames {
    proc_root: PathBuf,
    kept: Arc<Mutex<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    files: HashMap<ProcessId, File>,
    /// Files opened since the kept ones were last checked.
    opened: usize,
}

impl KernelThreadNames {
    /// Files of the procfs mounted at `proc_root`, none kept yet.
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        KernelThreadNames {
            proc_root: proc_root.into(),
            kept: Arc::default(),
        }
    }

    /// How many files are kept.
    pub fn len(&self) -> usize {
        self.lock().files.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The name of the kernel thread `id` now: from its kept file, else from a file opened now
    /// (and kept) once `/proc/PID/stat` confirms the pid is still `id`'s. `None` when it cannot
    /// be told that way (the thread is gone, its pid reused, descriptors exhausted): the
    /// caller reads it as it reads any process.
    pub fn name(&self, id: ProcessId, host: &Host) -> Option<OsString> {
        self.name_or_open(id, host, true)
    }

    fn name_or_open(&self, id: ProcessId, host: &Host, sweep: bool) -> Option<OsString> {
        let mut kept = self.lock();
        let Kept { files, opened } = &mut *kept;
        if let Some(file) = files.get_mut(&id) {
            return match read_name(file) {
                Some(name) => Some(name),
                None => {
                    files.remove(&id);
                    None
                }
            };
        }
        // A new kernel thread. Now and then, first close the files of those that are gone.
        if sweep && *opened >= SWEEP_EVERY {
            files.retain(|_, file| read_name(file).is_some());
            *opened = 0;
        }
        if files.len() >= MAX_FILES {
            return None;
        }
        let mut file = File::open(self.proc_root.join(id.pid.to_string()).join("comm")).ok()?;
        // Opened before this check: a pid is not reused while its process lives, so when the
        // process holding the pid now started when `id` did, the file is `id`'s.
        let stat = host.stat(id.pid).ok()?;
        if stat.starttime != id.start_ticks {
            return None;
        }
        let name = read_name(&mut file)?;
        files.insert(id, file);
        *opened += 1;
        Some(name)
    }

    /// Opens the files of the kernel threads among `ids` (the agent does at start, so that
    /// its descriptors do not grow at its first query); nothing kept is checked meanwhile.
    pub fn open_all(&self, ids: impl IntoIterator<Item = ProcessId>, host: &Host) {
        for id in ids {
            let _ = self.name_or_open(id, host, false);
        }
        self.lock().opened = 0;
    }
}

/// The name in a `comm` file read again from its start; `None` when it cannot be read (the
/// thread is gone) or is not UTF-8 (read the ordinary way, byte for byte).
fn read_name(file: &mut File) -> Option<OsString> {
    file.seek(SeekFrom::Start(0)).ok()?;
    // The kernel shows at most 64 bytes and a newline.
    let mut buf = [0u8; 80];
    let len = file.read(&mut buf).ok()?;
    let text = buf[..len].strip_suffix(b"\n")?;
    std::str::from_utf8(text).ok().map(OsString::from)
}

#[cfg(all(test, native_linux))]
mod tests {
    use super::*;

    fn id_of(pid: u32, host: &Host) -> ProcessId {
        ProcessId {
            pid,
            start_ticks: host.stat(pid).unwrap().starttime,
        }
    }

    #[test]
    fn names_what_stat_names_and_forgets_the_gone() {
        let host = Host::new();
        let names = KernelThreadNames::new("/proc");
        // kthreadd, and this test's own process (a kept file reads any process alike).
        for pid in [2, std::process::id()] {
            let id = id_of(pid, &host);
            let stat = host.stat(pid).unwrap();
            assert_eq!(names.name(id, &host), Some(stat.comm.clone()));
            assert_eq!(names.name(id, &host), Some(stat.comm));
        }
        assert_eq!(names.len(), 2);
        // Another start time under a live pid: another process, never named from its files.
        let mut reused = id_of(2, &host);
        reused.start_ticks += 1;
        assert_eq!(names.name(reused, &host), None);
        assert_eq!(names.len(), 2);
        // A process that is gone: its kept file fails, and is closed.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let id = id_of(child.id(), &host);
        assert_eq!(names.name(id, &host).as_deref(), Some("sleep".as_ref()));
        assert_eq!(names.len(), 3);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(names.name(id, &host), None);
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn the_files_of_the_gone_are_closed_as_new_ones_open() {
        let host = Host::new();
        let names = KernelThreadNames::new("/proc");
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap()
        };
        let mut gone: Vec<_> = (0..3).map(|_| spawn()).collect();
        names.open_all(gone.iter().map(|c| id_of(c.id(), &host)), &host);
        assert_eq!(names.len(), 3);
        for child in &mut gone {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        // Nobody reads the gone again; new ones come: by the SWEEP_EVERY-th, those are closed.
        let mut live: Vec<_> = (0..=SWEEP_EVERY).map(|_| spawn()).collect();
        for child in &live {
            assert!(names.name(id_of(child.id(), &host), &host).is_some());
        }
        assert_eq!(names.len(), live.len());
        for child in &mut live {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
