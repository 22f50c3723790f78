//! The polling backends: list the processes every interval and synthesise fork, exec and exit
//! events from the difference between two lists, keyed by identity `(pid, start time)`. The
//! list comes from a [`Scanner`]: `/proc` on Linux ([`ProcfsScanner`]), the `sysinfo` crate
//! anywhere ([`SysinfoScanner`]).
//!
//! What it cannot know, it does not make up: a process that lives less than one interval is
//! never seen; an exit's code is unknown (null); an exec is reported only for a process first
//! seen running an image different from its parent's, with the argv it has when scanned. Only
//! new pids have their details read; a known pid costs a list entry per scan (so a pid
//! reused within one interval goes unnoticed).

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use crate::host::container::Placement;

use crate::event::{Backend, Details, Event, Exec, Exit, ProcessId};
use crate::host::clock::Clock;
use crate::source::SourceStats;

/// What fork and exec events carry, read for a pid a scan found new.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Identity.
    pub id: ProcessId,
    /// psutil's `create_time()`.
    pub create_time: f64,
    /// Parent pid.
    pub ppid: u32,
    /// Real, effective, saved user ids; `None` when unreadable.
    pub uids: Option<[u32; 3]>,
    /// Real, effective, saved group ids; `None` when unreadable.
    pub gids: Option<[u32; 3]>,
    /// The process's name.
    pub comm: OsString,
    /// Executable path, when readable.
    pub exe: Option<OsString>,
    /// Argument vector, when readable.
    pub cmdline: Option<Vec<OsString>>,
    /// Where it runs, when the scanner can tell (procfs: all of it; sysinfo: nothing).
    pub placement: Option<Arc<Placement>>,
}

/// A way to list the host's processes, for a polling backend.
pub trait Scanner: Send {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Lists the pids of every process now (one full listing per interval).
    fn pids(&mut self) -> std::io::Result<Vec<u32>>;
    /// Reads a pid the last listing found new; `None` when it is gone already.
    fn read(&mut self, pid: u32) -> Option<Seen>;
}

/// Lists processes from `/proc`: a directory read per scan, four small files per new pid.
#[cfg(native_linux)]
pub struct ProcfsScanner {
    procfs: crate::host::procfs::Procfs,
    boot_time: f64,
    placement: crate::host::container::PlacementReader,
}

#[cfg(native_linux)]
impl ProcfsScanner {
    /// A scanner of `/proc`.
    pub fn new() -> std::io::Result<Self> {
        let procfs = crate::host::procfs::Procfs::new();
        let boot_time = procfs.boot_time().map_err(std::io::Error::other)?;
        Ok(Self {
            procfs,
            boot_time,
            placement: crate::host::container::PlacementReader::new(),
        })
    }
}

#[cfg(native_linux)]
impl Scanner for ProcfsScanner {
    fn backend(&self) -> Backend {
        Backend::Procfs
    }

    fn pids(&mut self) -> std::io::Result<Vec<u32>> {
        self.procfs.pids()
    }

    fn read(&mut self, pid: u32) -> Option<Seen> {
        let stat = self.procfs.stat(pid).ok()?;
        let status = self.procfs.status(pid).ok();
        Some(Seen {
            id: ProcessId {
                pid,
                start_ticks: stat.starttime,
            },
            create_time: stat.create_time(self.boot_time),
            ppid: stat.ppid,
            uids: status
                .as_ref()
                .map(|s| [s.uids.real, s.uids.effective, s.uids.saved]),
            gids: status
                .as_ref()
                .map(|s| [s.gids.real, s.gids.effective, s.gids.saved]),
            comm: stat.comm,
            exe: self.procfs.exe(pid).ok(),
            cmdline: self.procfs.cmdline(pid).ok(),
            placement: self.placement.read(pid).map(Arc::new),
        })
    }
}

/// What a scan remembers of a process.
#[derive(Debug, Clone)]
struct Known {
    id: ProcessId,
    create_time: f64,
    ppid: u32,
    uid: u32,
    gid: u32,
    comm: OsString,
    exe: Option<OsString>,
    argv0: Option<OsString>,
    placement: Option<Arc<Placement>>,
}

/// Lifecycle events synthesised from `/proc` scans.
pub struct PollingSource {
    scanner: Box<dyn Scanner>,
    clock: Clock,
    tick: tokio::time::Interval,
    known: HashMap<u32, Known>,
    events: u64,
    read_errors: u64,
    scans: u64,
    /// Boot-relative nanoseconds when the last scan started.
    scanned_at_ns: u64,
}

impl PollingSource {
    /// Starts polling every `interval`; the first scan sets the baseline (no events for the
    /// processes already running).
    pub fn open(scanner: Box<dyn Scanner>, interval: Duration) -> std::io::Result<Self> {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut source = Self {
            scanner,
            clock: Clock::new()?,
            tick,
            known: HashMap::new(),
            events: 0,
            read_errors: 0,
            scans: 0,
            scanned_at_ns: 0,
        };
        let mut baseline = Vec::new();
        source.scan(&mut baseline)?;
        Ok(source)
    }

    /// Waits for the next scan and appends the events it synthesised.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>) -> std::io::Result<()> {
        self.tick.tick().await;
        self.scan(out)
    }

    /// The backend the scanner is.
    pub fn backend(&self) -> Backend {
        self.scanner.backend()
    }

    /// Boot-relative nanoseconds when the last scan started: whatever ended before it has
    /// been reported (if it was seen at all).
    pub fn scanned_at_ns(&self) -> u64 {
        self.scanned_at_ns
    }

    /// Counters (nothing is lost in the ring sense; what polling misses cannot be counted).
    pub fn stats(&self) -> SourceStats {
        SourceStats {
            backend: self.scanner.backend(),
            events: self.events,
            lost_fork: 0,
            lost_exec: 0,
            lost_exit: 0,
            threads_created: 0,
            threads_exited: 0,
            args_truncated: 0,
            read_errors: self.read_errors,
            decode_errors: 0,
            exit_cpu_partial: 0,
        }
    }

    fn now(&self) -> f64 {
        self.clock.epoch_seconds(Clock::now_boot_ns())
    }

    fn scan(&mut self, out: &mut Vec<Event>) -> std::io::Result<()> {
        self.scans += 1;
        self.scanned_at_ns = Clock::now_boot_ns();
        let now = self.now();
        let pids = self.scanner.pids()?;
        let backend = self.scanner.backend();
        let before = out.len();
        let mut present = HashMap::with_capacity(pids.len());
        for pid in pids {
            if let Some(known) = self.known.remove(&pid) {
                present.insert(pid, known);
                continue;
            }
            // A new pid: read what a fork and an exec event carry.
            let Some(seen) = self.scanner.read(pid) else {
                continue; // gone already: shorter than we can see
            };
            if seen.uids.is_none() {
                self.read_errors += 1;
            }
            let uids = seen.uids.unwrap_or([0; 3]);
            let gids = seen.gids.unwrap_or([0; 3]);
            let cmdline = seen.cmdline;
            let known = Known {
                id: seen.id,
                create_time: seen.create_time,
                ppid: seen.ppid,
                uid: uids[0],
                gid: gids[0],
                comm: seen.comm,
                exe: seen.exe,
                argv0: cmdline.as_ref().and_then(|c| c.first().cloned()),
                placement: seen.placement,
            };
            let event = |details| Event {
                time: known.create_time.max(0.0),
                id: known.id,
                create_time: known.create_time,
                ppid: known.ppid,
                uid: known.uid,
                gid: known.gid,
                name: known.comm.clone(),
                backend,
                placement: known.placement.clone(),
                details,
            };
            out.push(event(Details::Fork {
                parent_pid: known.ppid,
            }));
            // It exec'd if it runs another file than its parent (or, when its exe cannot be
            // read, another argv[0]).
            let parent = present
                .get(&known.ppid)
                .or_else(|| self.known.get(&known.ppid));
            let exec_seen = match (&known.exe, parent) {
                (Some(exe), Some(parent)) => parent.exe.as_ref() != Some(exe),
                (None, Some(parent)) => parent.argv0 != known.argv0,
                (_, None) => true,
            };
            if exec_seen && cmdline.is_some() {
                let cmdline = cmdline.unwrap_or_default();
                let mut exec = event(Details::Exec(Box::new(Exec {
                    exe: known.exe.clone(),
                    cmdline_bytes: cmdline.iter().map(|a| a.len() as u32 + 1).sum(),
                    cmdline,
                    uids,
                    gids,
                    cmdline_truncated: false,
                    exe_truncated: false,
                })));
                exec.time = now;
                out.push(exec);
            }
            present.insert(pid, known);
        }
        // Whatever was known and is no longer present has exited (code unknown).
        for (_, gone) in self.known.drain() {
            out.push(Event {
                time: now,
                id: gone.id,
                create_time: gone.create_time,
                ppid: gone.ppid,
                uid: gone.uid,
                gid: gone.gid,
                name: gone.comm,
                backend,
                placement: gone.placement,
                details: Details::Exit(Exit::unknown((now - gone.create_time).max(0.0))),
            });
        }
        self.known = present;
        if self.scans > 1 {
            // The first scan is the baseline: what runs already is not an event.
            self.events += (out.len() - before) as u64;
        }
        Ok(())
    }
}

/// Lists processes with the `sysinfo` crate: one full refresh per scan
/// ([`SysinfoHost::snapshot`](crate::host::sysinfo::SysinfoHost::snapshot)), kept for the new
/// pids to be read from. Its start times are whole seconds, so identities are
/// `(pid, start second)`.
pub struct SysinfoScanner {
    host: crate::host::sysinfo::SysinfoHost,
    listed: HashMap<u32, crate::host::sysinfo::HostProcess>,
}

impl SysinfoScanner {
    /// A scanner (nothing is read until the first scan).
    pub fn new() -> std::io::Result<Self> {
        let host = crate::host::sysinfo::SysinfoHost::new();
        host.boot_time().map_err(std::io::Error::other)?;
        Ok(Self {
            host,
            listed: HashMap::new(),
        })
    }
}

impl Scanner for SysinfoScanner {
    fn backend(&self) -> Backend {
        Backend::Sysinfo
    }

    fn pids(&mut self) -> std::io::Result<Vec<u32>> {
        self.listed = self
            .host
            .snapshot()?
            .into_iter()
            .map(|process| (process.pid, process))
            .collect();
        let mut pids: Vec<u32> = self.listed.keys().copied().collect();
        pids.sort_unstable();
        Ok(pids)
    }

    fn read(&mut self, pid: u32) -> Option<Seen> {
        let process = self.listed.remove(&pid)?;
        Some(Seen {
            id: process.id(),
            create_time: process.create_time,
            ppid: process.ppid,
            uids: process.uids.map(|u| [u.real, u.effective, u.saved]),
            gids: process.gids.map(|g| [g.real, g.effective, g.saved]),
            comm: process.name,
            exe: process.exe,
            cmdline: Some(process.cmdline),
            // The sysinfo crate tells neither cgroups nor namespaces.
            placement: None,
        })
    }
}
