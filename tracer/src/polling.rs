//! The procfs polling backend: scans `/proc` every interval and synthesises fork, exec and exit
//! events from the difference between two scans, keyed by identity `(pid, start time)`.
//!
//! What it cannot know, it does not make up: a process that lives less than one interval is
//! never seen; an exit's code is unknown (null); an exec is reported only for a process first
//! seen running an image different from its parent's, with the argv it has when scanned. Only
//! new pids have their files read; a known pid costs a directory entry per scan (so a pid
//! reused within one interval goes unnoticed).

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use crate::clock::Clock;
use crate::event::{Backend, Details, Event, Exec, Exit, ProcessId};
use crate::procfs::Procfs;
use crate::source::SourceStats;

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
}

/// Lifecycle events synthesised from `/proc` scans.
pub struct PollingSource {
    procfs: Procfs,
    clock: Clock,
    boot_time: f64,
    tick: tokio::time::Interval,
    known: HashMap<u32, Known>,
    events: u64,
    read_errors: u64,
    scans: u64,
}

impl PollingSource {
    /// Starts polling every `interval`; the first scan sets the baseline (no events for the
    /// processes already running).
    pub fn open(interval: Duration) -> std::io::Result<Self> {
        let procfs = Procfs::new();
        let boot_time = procfs.boot_time().map_err(std::io::Error::other)?;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut source = Self {
            procfs,
            clock: Clock::new()?,
            boot_time,
            tick,
            known: HashMap::new(),
            events: 0,
            read_errors: 0,
            scans: 0,
        };
        let mut baseline = Vec::new();
        source.scan(&mut baseline)?;
        Ok(source)
    }

    /// Waits for the next scan and appends the events it synthesised.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>) -> std::io::Result<()> {
        self.tick.tick().await;
        let before = out.len();
        let first = self.scans == 0;
        self.scan(out)?;
        if first {
            out.truncate(before);
        }
        Ok(())
    }

    /// Counters (nothing is lost in the ring sense; what polling misses cannot be counted).
    pub fn stats(&self) -> SourceStats {
        SourceStats {
            backend: Backend::Procfs,
            events: self.events,
            lost_fork: 0,
            lost_exec: 0,
            lost_exit: 0,
            threads_created: 0,
            threads_exited: 0,
            args_truncated: 0,
            read_errors: self.read_errors,
            decode_errors: 0,
        }
    }

    fn now(&self) -> f64 {
        self.clock.epoch_seconds(Clock::now_boot_ns())
    }

    fn scan(&mut self, out: &mut Vec<Event>) -> std::io::Result<()> {
        self.scans += 1;
        let now = self.now();
        let pids = self.procfs.pids()?;
        let before = out.len();
        let mut present = HashMap::with_capacity(pids.len());
        for pid in pids {
            if let Some(known) = self.known.remove(&pid) {
                present.insert(pid, known);
                continue;
            }
            // A new pid: read what a fork and an exec event carry.
            let Ok(stat) = self.procfs.stat(pid) else {
                continue; // gone already: shorter than we can see
            };
            let status = self.procfs.status(pid).ok();
            let (uids, gids) = match &status {
                Some(s) => (
                    [s.uids.real, s.uids.effective, s.uids.saved],
                    [s.gids.real, s.gids.effective, s.gids.saved],
                ),
                None => {
                    self.read_errors += 1;
                    ([0; 3], [0; 3])
                }
            };
            let known = Known {
                id: ProcessId {
                    pid,
                    start_ticks: stat.starttime,
                },
                create_time: stat.create_time(self.boot_time),
                ppid: stat.ppid,
                uid: uids[0],
                gid: gids[0],
                comm: stat.comm.clone(),
                exe: self.procfs.exe(pid).ok(),
                argv0: None,
            };
            let mut known = known;
            let cmdline = self.procfs.cmdline(pid).ok();
            known.argv0 = cmdline.as_ref().and_then(|c| c.first().cloned());
            let event = |details| Event {
                time: known.create_time.max(0.0),
                id: known.id,
                create_time: known.create_time,
                ppid: known.ppid,
                uid: known.uid,
                gid: known.gid,
                name: known.comm.clone(),
                backend: Backend::Procfs,
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
                backend: Backend::Procfs,
                details: Details::Exit(Exit::unknown((now - gone.create_time).max(0.0))),
            });
        }
        self.known = present;
        self.events += (out.len() - before) as u64;
        Ok(())
    }
}
