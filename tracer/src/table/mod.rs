//! The live process table: every process keyed by its identity `(pid, start time)`, seeded
//! from a `/proc` scan and kept current by lifecycle events. It answers the attributes events
//! give (pid, ppid, name, exe, cmdline, uids, gids, create_time) from memory, keeps recently
//! exited processes with their exit status for a while, and is the one place where backends'
//! data is merged.

pub mod live;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use crate::host::container::Placement;

use crate::event::{Details, Event, Exit, ProcessId};
use crate::host::{Host, MemoryInfo, ProcError, Stat, Status};

/// Most exited processes kept by default, whatever the retention time: the oldest go first.
pub const MAX_EXITED: usize = 10_000;

/// Where an entry's data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from `/proc` at start-up or at a resynchronisation.
    Seeded,
    /// Built from lifecycle events.
    Event,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExitInfo {
    /// When it ended, in seconds since the epoch.
    pub time: f64,
    /// Exit status, signal, core dump and duration; `None` when the end was inferred (a
    /// resynchronisation found the process gone) rather than seen.
    pub status: Option<Exit>,
}

/// One process as the table knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Identity.
    pub id: ProcessId,
    /// psutil's `create_time()`.
    pub create_time: f64,
    /// Parent pid.
    pub ppid: u32,
    /// The kernel's name (`comm`).
    pub comm: OsString,
    /// Executable path, when known.
    pub exe: Option<OsString>,
    /// Argument vector, when known.
    pub cmdline: Option<Vec<OsString>>,
    /// Real, effective, saved user ids, when known.
    pub uids: Option<[u32; 3]>,
    /// Real, effective, saved group ids, when known.
    pub gids: Option<[u32; 3]>,
    /// Where the data came from.
    pub origin: Origin,
    /// When the data was last refreshed (event time or scan time), seconds since the epoch.
    pub updated: f64,
    /// The parent exited since `ppid` was read: the process was re-parented and `ppid` must be
    /// read again from `/proc` before it is shown.
    pub ppid_stale: bool,
    /// Seen as a zombie by a `/proc` scan: it exited before the table started, so no exit
    /// event will come; it leaves the table when its parent reaps it.
    pub zombie: bool,
    /// `exe`, `cmdline`, `uids` and `gids` have not been read from `/proc` yet (a start-up scan
    /// reads identity first and the rest afterwards; a fork from an unknown parent knows none).
    pub pending: bool,
    /// Set once the process has exited (boxed: an [`Exit`] with its usage is about 250 bytes,
    /// which every live entry would otherwise carry unused).
    pub exit: Option<Box<ExitInfo>>,
    /// Where it ran at its last event (fork, exec, exit); `None` for a process only seen by
    /// a scan (a live row reads it fresh from `/proc`).
    pub placement: Option<Arc<Placement>>,
}

impl Entry {
    /// psutil's `name()`: the kernel's comm, extended from `cmdline[0]` when the comm was cut
    /// at 15 bytes and the argument's base name starts with it.
    pub fn name(&self) -> OsString {
        let comm = self.comm.as_encoded_bytes();
        if comm.len() >= 15 {
            if let Some(first) = self.cmdline.as_ref().and_then(|c| c.first()) {
                let first = first.as_encoded_bytes();
                let base = first.rsplit(|&b| b == b'/').next().unwrap_or(first);
                if base.starts_with(comm) {
                    // SAFETY: a sub-slice of an OsString's encoded bytes split at ASCII '/'.
                    return unsafe { OsString::from_encoded_bytes_unchecked(base.to_vec()) };
                }
            }
        }
        self.comm.clone()
    }

    /// Drops the spare capacity of its strings and argument vector (a `/proc` read collects
    /// `cmdline` into a vector that grew by doubling): the table holds tens of thousands of
    /// entries for hours, so each one costs what it holds and no more.
    fn compact(&mut self) {
        self.comm.shrink_to_fit();
        if let Some(exe) = &mut self.exe {
            exe.shrink_to_fit();
        }
        if let Some(cmdline) = &mut self.cmdline {
            cmdline.shrink_to_fit();
            for arg in cmdline.iter_mut() {
                arg.shrink_to_fit();
            }
        }
    }
}

/// Counters of what the table has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Entries created from `/proc` scans.
    pub seeded: u64,
    /// Events applied, by kind.
    pub forks: u64,
    /// Exec events applied.
    pub execs: u64,
    /// Exit events applied.
    pub exits: u64,
    /// Resynchronisations from `/proc` (after the source reported lost events).
    pub resyncs: u64,
    /// Live entries a resynchronisation found gone (their exit was never seen).
    pub vanished: u64,
    /// A pid reappeared with a new start time before the old process's exit was seen.
    pub pid_reuse_unseen_exit: u64,
    /// Exited entries dropped after the retention time.
    pub expired: u64,
}

/// Most ancestors [`ProcessTable::cut_cycle`] looks at.
const CYCLE_SEARCH: usize = 64;

/// The process table.
#[derive(Debug)]
pub struct ProcessTable {
    /// Live processes by pid (one live process per pid at a time).
    live: HashMap<u32, Entry>,
    /// `(ppid, pid)` of every live entry whose `ppid` is not its own pid, kept in step with
    /// `live` by [`ProcessTable::insert_live`], [`ProcessTable::remove_live`] and
    /// [`ProcessTable::set_ppid`]: an exit finds the children it orphans, and `children`
    /// walks a tree, without scanning every live entry.
    by_parent: BTreeSet<(u32, u32)>,
    /// Exited processes, oldest exit first.
    exited: VecDeque<Entry>,
    retention: Duration,
    /// Most exited entries kept.
    max_exited: usize,
    stats: TableStats,
}

impl ProcessTable {
    /// An empty table keeping exited processes for `retention`, at most [`MAX_EXITED`].
    pub fn new(retention: Duration) -> Self {
        Self::with_limits(retention, MAX_EXITED)
    }

    /// An empty table keeping exited processes for `retention`, at most `max_exited` (the
    /// oldest go first).
    pub fn with_limits(retention: Duration, max_exited: usize) -> Self {
        Self {
            live: HashMap::new(),
            by_parent: BTreeSet::new(),
            exited: VecDeque::new(),
            retention,
            max_exited,
            stats: TableStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Number of live processes.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no live process is known.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The live process with this pid.
    pub fn get(&self, pid: u32) -> Option<&Entry> {
        self.live.get(&pid)
    }

    /// The process with this identity, live or recently exited.
    pub fn find(&self, id: ProcessId) -> Option<&Entry> {
        match self.live.get(&id.pid) {
            Some(entry) if entry.id == id => Some(entry),
            _ => self.exited.iter().rev().find(|entry| entry.id == id),
        }
    }

    /// The most recently exited process with this pid.
    pub fn find_exited(&self, pid: u32) -> Option<&Entry> {
        self.exited.iter().rev().find(|entry| entry.id.pid == pid)
    }

    /// Live processes, in no particular order.
    pub fn live(&self) -> impl Iterator<Item = &Entry> {
        self.live.values()
    }

    /// Recently exited processes, oldest exit first.
    pub fn exited(&self) -> impl Iterator<Item = &Entry> {
        self.exited.iter()
    }

    /// Live children of `pid`, and with `recursive` all its descendants, from memory (call
    /// [`ProcessTable::refresh_unsettled`] first for re-parented processes).
    pub fn children(&self, pid: u32, recursive: bool) -> Vec<&Entry> {
        let mut found = Vec::new();
        let mut visited = std::collections::HashSet::from([pid]);
        let mut queue = vec![pid];
        while let Some(parent) = queue.pop() {
            for child in self.child_pids(parent) {
                // A stale ppid may close a cycle (a reused pid): each process once.
                if !visited.insert(child) {
                    continue;
                }
                if let Some(entry) = self.live.get(&child) {
                    found.push(entry);
                }
                if recursive {
                    queue.push(child);
                }
            }
        }
        found.sort_by_key(|entry| entry.id);
        found
    }

    /// Pids of the live entries whose `ppid` is `parent`, from the index.
    fn child_pids(&self, parent: u32) -> impl Iterator<Item = u32> + '_ {
        self.by_parent
            .range((parent, 0)..=(parent, u32::MAX))
            .map(|&(_, child)| child)
    }

    /// Adds a live entry (its pid must be free) and indexes it under its parent.
    fn insert_live(&mut self, mut entry: Entry) {
        entry.compact();
        if entry.id.pid != entry.ppid {
            self.by_parent.insert((entry.ppid, entry.id.pid));
        }
        self.live.insert(entry.id.pid, entry);
    }

    /// Removes the live entry of `pid` and its place in the index.
    fn remove_live(&mut self, pid: u32) -> Option<Entry> {
        let entry = self.live.remove(&pid)?;
        self.by_parent.remove(&(entry.ppid, pid));
        Some(entry)
    }

    /// Moves live `pid` from parent `old` to parent `new` in the index (its entry's `ppid`
    /// was just changed from `old` to `new`).
    fn reindex(&mut self, pid: u32, old: u32, new: u32) {
        if old == new {
            return;
        }
        self.by_parent.remove(&(old, pid));
        if pid != new {
            self.by_parent.insert((new, pid));
        }
    }

    /// Whether the parent index says exactly what the live entries' `ppid` say (tests).
    #[cfg(test)]
    pub(crate) fn index_is_consistent(&self) -> bool {
        let expected: BTreeSet<(u32, u32)> = self
            .live
            .values()
            .filter(|e| e.id.pid != e.ppid)
            .map(|e| (e.ppid, e.id.pid))
            .collect();
        expected == self.by_parent
    }

    /// Fills the table from a `/proc` scan. Processes already present keep their entries
    /// (refreshed); new ones are added as [`Origin::Seeded`]. Returns how many were added.
    pub fn seed(&mut self, host: &Host, now: f64) -> std::io::Result<usize> {
        self.seed_with(host, now, SeedFields::ALL)
    }

    /// [`ProcessTable::seed_with`] (both read over the CPUs), also returning what
    /// it read of each process besides its entry (a one-shot query answers from it instead of
    /// reading the files again); with `memory`, also `memory_info` where status tells it.
    pub fn seed_keeping_reads(
        &mut self,
        host: &Host,
        now: f64,
        fields: SeedFields,
        memory: bool,
    ) -> std::io::Result<HashMap<u32, ScanReads>> {
        let read = read_all(host, |pid, boot_time| {
            read_entry_and_reads(host, pid, boot_time, now, fields, memory)
        })?;
        let mut reads = HashMap::with_capacity(read.len());
        self.live.reserve(read.len());
        for (entry, read) in read {
            let pid = entry.id.pid;
            if self.insert_seeded(entry) {
                self.stats.seeded += 1;
            }
            reads.insert(pid, read);
        }
        Ok(reads)
    }

    /// [`ProcessTable::seed`], reading only `fields` besides identity, parent and name (for a
    /// one-shot query that needs less).
    pub fn seed_with(
        &mut self,
        host: &Host,
        now: f64,
        fields: SeedFields,
    ) -> std::io::Result<usize> {
        let mut added = 0;
        let read = read_all(host, |pid, boot_time| {
            read_entry_with(host, pid, boot_time, now, fields)
        })?;
        self.live.reserve(read.len());
        for entry in read {
            if self.insert_seeded(entry) {
                added += 1;
            }
        }
        self.stats.seeded += added as u64;
        Ok(added)
    }

    /// Forgets the live entries whose pid `keep` rejects (scoped tracing: processes outside
    /// the scope, which no event will ever retire).
    pub fn retain_live(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let gone: Vec<u32> = self
            .live
            .keys()
            .copied()
            .filter(|&pid| !keep(pid))
            .collect();
        for pid in gone {
            self.remove_live(pid);
        }
    }

    /// Retires the live entry of `pid`, whose process is gone unseen: its end was inferred.
    /// Returns the retired entry.
    fn vanish(&mut self, pid: u32, now: f64) -> Option<Entry> {
        let entry = self.remove_live(pid)?;
        self.stats.vanished += 1;
        let exit = ExitInfo {
            time: now,
            status: None,
        };
        let mut retired = entry.clone();
        retired.exit = Some(Box::new(exit));
        self.retire(entry, exit);
        Some(retired)
    }

    /// Re-reads `/proc` after events were lost: live entries whose process is gone become
    /// exited with an unknown status, new processes are added, and changed identities replace
    /// the old entry. Returns what it found (for the subscribers' synthesized events). A
    /// listing of `/proc` that fails (out of descriptors) retires nothing.
    pub fn resync(&mut self, host: &Host, now: f64) -> std::io::Result<Resynced> {
        self.stats.resyncs += 1;
        let present: std::collections::HashSet<u32> = host.pids()?.into_iter().collect();
        let gone: Vec<u32> = self
            .live
            .keys()
            .copied()
            .filter(|pid| !present.contains(pid))
            .collect();
        let mut found = Resynced::default();
        for pid in gone {
            if let Some(entry) = self.vanish(pid, now) {
                found.vanished.push(entry);
            }
        }
        let read = read_all(host, |pid, boot_time| {
            read_entry_with(host, pid, boot_time, now, SeedFields::ALL)
        })?;
        for entry in read {
            let copy = entry.clone();
            if self.insert_seeded(entry) {
                self.stats.seeded += 1;
                found.appeared.push(copy);
            }
        }
        Ok(found)
    }

    fn insert_seeded(&mut self, entry: Entry) -> bool {
        match self.live.get_mut(&entry.id.pid) {
            Some(existing) if existing.id == entry.id => {
                if existing.updated <= entry.updated {
                    let origin = existing.origin;
                    let (pid, old, new) = (entry.id.pid, existing.ppid, entry.ppid);
                    *existing = Entry { origin, ..entry };
                    existing.compact();
                    self.reindex(pid, old, new);
                    self.cut_cycle(pid);
                }
                false
            }
            Some(_) => {
                let old = self
                    .remove_live(entry.id.pid)
                    .expect("present: just matched");
                self.stats.pid_reuse_unseen_exit += 1;
                self.retire(
                    old,
                    ExitInfo {
                        time: entry.updated,
                        status: None,
                    },
                );
                let pid = entry.id.pid;
                self.insert_live(entry);
                self.cut_cycle(pid);
                true
            }
            None => {
                let pid = entry.id.pid;
                self.insert_live(entry);
                self.cut_cycle(pid);
                true
            }
        }
    }

    /// Applies one event. Events older than an entry's data (a scan read the process after
    /// the event happened) only fill what the entry lacks; exits always apply.
    pub fn apply(&mut self, event: &Event) {
        match &event.details {
            Details::Fork { parent_pid } => {
                self.stats.forks += 1;
                let parent = self.live.get(parent_pid).cloned();
                let entry = self.entry_for(event);
                let old_ppid = entry.ppid;
                if entry.updated <= event.time {
                    entry.ppid = event.ppid;
                    entry.updated = event.time;
                }
                if event.placement.is_some() {
                    entry.placement = event.placement.clone();
                }
                // A forked child runs its parent's image until it execs.
                if let Some(parent) = parent {
                    if entry.pending && !parent.pending {
                        entry.exe = parent.exe;
                        entry.cmdline = parent.cmdline;
                        entry.uids = entry.uids.or(parent.uids);
                        entry.gids = entry.gids.or(parent.gids);
                        entry.pending = false;
                    }
                }
                let new_ppid = entry.ppid;
                self.reindex(event.id.pid, old_ppid, new_ppid);
                self.cut_cycle(event.id.pid);
            }
            Details::Exec(exec) => {
                self.stats.execs += 1;
                let entry = self.entry_for(event);
                let old_ppid = entry.ppid;
                if entry.updated <= event.time || entry.cmdline.is_none() {
                    entry.ppid = event.ppid;
                    entry.comm = event.name.clone();
                    entry.exe = exec.exe.clone();
                    entry.cmdline = Some(exec.cmdline.clone());
                    entry.uids = Some(exec.uids);
                    entry.gids = Some(exec.gids);
                    entry.pending = false;
                    entry.updated = entry.updated.max(event.time);
                    entry.compact();
                }
                if event.placement.is_some() {
                    entry.placement = event.placement.clone();
                }
                let new_ppid = entry.ppid;
                self.reindex(event.id.pid, old_ppid, new_ppid);
                self.cut_cycle(event.id.pid);
            }
            Details::Exit(exit) => {
                self.stats.exits += 1;
                let info = ExitInfo {
                    time: event.time,
                    status: Some(*exit),
                };
                let entry = match self.live.get(&event.id.pid) {
                    Some(entry) if entry.id == event.id => self
                        .remove_live(event.id.pid)
                        .expect("present: just matched"),
                    // Never seen alive (it ended before the scan reached it): keep what the
                    // exit event says.
                    _ => new_entry(event),
                };
                let mut entry = entry;
                entry.ppid = event.ppid;
                entry.comm = event.name.clone();
                if event.placement.is_some() {
                    entry.placement = event.placement.clone();
                }
                self.retire(entry, info);
            }
        }
    }

    /// Marks stale the parent link that closes a cycle through `pid`'s entry, if one does: a
    /// process is younger than its parent, so such a link (an ancestor's `ppid` naming `pid`)
    /// meant a process that had `pid` before, whose end the table missed (lost events). Looks
    /// at most [`CYCLE_SEARCH`] ancestors up, so that a chain thousands deep costs no more per
    /// fork than a shallow one; a longer cycle is left to the readers, which cut any cycle.
    fn cut_cycle(&mut self, pid: u32) {
        let mut at = match self.live.get(&pid) {
            Some(entry) => entry.ppid,
            None => return,
        };
        for _ in 0..CYCLE_SEARCH {
            if at == pid {
                return;
            }
            let Some(entry) = self.live.get_mut(&at) else {
                return;
            };
            if entry.ppid_stale || entry.ppid == at {
                return;
            }
            if entry.ppid == pid {
                entry.ppid_stale = true;
                return;
            }
            at = entry.ppid;
        }
    }

    /// The live entry for the event's process, created (or replacing a reused pid) if needed.
    fn entry_for(&mut self, event: &Event) -> &mut Entry {
        let replace = matches!(self.live.get(&event.id.pid), Some(e) if e.id != event.id);
        if replace {
            let old = self
                .remove_live(event.id.pid)
                .expect("present: just matched");
            self.stats.pid_reuse_unseen_exit += 1;
            self.retire(
                old,
                ExitInfo {
                    time: event.time,
                    status: None,
                },
            );
        }
        if !self.live.contains_key(&event.id.pid) {
            self.insert_live(new_entry(event));
        }
        self.live
            .get_mut(&event.id.pid)
            .expect("present: just inserted")
    }

    fn retire(&mut self, mut entry: Entry, exit: ExitInfo) {
        // Its children are re-parented now: their ppid must be read again. Whichever way the
        // end was learnt (its exit, a resync, its pid found reused), a child's link to it must
        // not be taken for a link to the pid's next process (a parent cycle).
        // The index names them, so this costs its children, not the table's size.
        let pid = entry.id.pid;
        let orphans: Vec<u32> = self.child_pids(pid).filter(|&child| child != pid).collect();
        for child in orphans {
            if let Some(child) = self.live.get_mut(&child) {
                child.ppid_stale = true;
            }
        }
        entry.exit = Some(Box::new(exit));
        self.exited.push_back(entry);
        // A storm must not grow the table without bound: past the cap, the oldest exits go
        // before their retention time (counted as expired).
        while self.exited.len() > self.max_exited {
            self.exited.pop_front();
            self.stats.expired += 1;
        }
    }

    /// Identities of live entries whose `/proc` fields are still to be read.
    pub fn pending(&self) -> Vec<ProcessId> {
        self.live
            .values()
            .filter(|e| e.pending)
            .map(|e| e.id)
            .collect()
    }

    /// Reads every pending entry's missing fields now.
    pub fn complete(&mut self, host: &Host) {
        for id in self.pending() {
            let missing = read_missing(host, id);
            self.fill(id, missing);
        }
    }

    /// Stores fields read for `id` (ignored if the entry changed meanwhile: an exec event
    /// brought newer data, or the pid now belongs to another process).
    pub fn fill(&mut self, id: ProcessId, missing: Missing) {
        let Some(entry) = self.live.get_mut(&id.pid) else {
            return;
        };
        if entry.id != id || !entry.pending {
            return;
        }
        entry.exe = entry.exe.take().or(missing.exe);
        entry.cmdline = entry.cmdline.take().or(missing.cmdline);
        entry.uids = entry.uids.or(missing.uids);
        entry.gids = entry.gids.or(missing.gids);
        entry.pending = false;
        entry.compact();
    }

    /// Drops exited entries older than the retention time.
    pub fn expire(&mut self, now: f64) {
        let horizon = now - self.retention.as_secs_f64();
        while let Some(oldest) = self.exited.front() {
            match oldest.exit.as_deref() {
                Some(exit) if exit.time < horizon => {
                    self.exited.pop_front();
                    self.stats.expired += 1;
                }
                _ => break,
            }
        }
    }

    /// Settles what events cannot tell: re-reads the parent of entries whose parent exited
    /// (they were re-parented), and retires zombies found by a scan once they are reaped.
    pub fn refresh_unsettled(&mut self, host: &Host, now: f64) {
        let reads = self
            .unsettled()
            .into_iter()
            .map(|id| (id, host.stat(id.pid)))
            .collect();
        self.settle(reads, now);
    }

    /// Identities of the entries [`ProcessTable::refresh_unsettled`] reads (to read them
    /// outside the table's lock and hand them to [`ProcessTable::settle`]).
    pub fn unsettled(&self) -> Vec<ProcessId> {
        self.live
            .values()
            .filter(|e| e.ppid_stale || e.zombie)
            .map(|e| e.id)
            .collect()
    }

    /// Applies `/proc/PID/stat` reads of unsettled entries. Only a process found gone
    /// (ENOENT/ESRCH) or its pid found reused is retired; any other error (EMFILE, ENFILE,
    /// EACCES, …) says nothing about the process: it stays, and is read again next time.
    pub fn settle(&mut self, reads: Vec<(ProcessId, Result<Stat, ProcError>)>, now: f64) {
        for (id, read) in reads {
            let Some(entry) = self.live.get_mut(&id.pid).filter(|e| e.id == id) else {
                continue;
            };
            match read {
                Ok(stat) if stat.starttime == id.start_ticks => {
                    let old = entry.ppid;
                    entry.ppid = stat.ppid;
                    entry.ppid_stale = false;
                    self.reindex(id.pid, old, stat.ppid);
                    self.cut_cycle(id.pid);
                }
                Ok(_) | Err(ProcError::NoSuchProcess { .. }) => {
                    self.vanish(id.pid, now);
                }
                Err(error) => {
                    tracing::warn!("cannot settle pid {}: {error}; retrying later", id.pid);
                }
            }
        }
    }
}

/// What a [`ProcessTable::resync`] found.
#[derive(Debug, Clone, Default)]
pub struct Resynced {
    /// Live entries whose process was gone, now retired (exit time: the resync).
    pub vanished: Vec<Entry>,
    /// Processes the table did not know, now added.
    pub appeared: Vec<Entry>,
}

fn new_entry(event: &Event) -> Entry {
    Entry {
        id: event.id,
        create_time: event.create_time,
        ppid: event.ppid,
        comm: event.name.clone(),
        exe: None,
        cmdline: None,
        uids: None,
        gids: None,
        origin: Origin::Event,
        updated: event.time,
        ppid_stale: false,
        zombie: false,
        pending: true,
        exit: None,
        placement: event.placement.clone(),
    }
}

/// The exit event of an exited entry whose end was seen (for replaying recent exits).
pub fn exit_event(entry: &Entry) -> Option<crate::event::Event> {
    let exit = entry.exit.as_deref()?;
    let status = exit.status?;
    Some(crate::event::Event {
        time: exit.time,
        id: entry.id,
        create_time: entry.create_time,
        ppid: entry.ppid,
        uid: entry.uids.map_or(0, |[real, ..]| real),
        gid: entry.gids.map_or(0, |[real, ..]| real),
        name: entry.comm.clone(),
        backend: crate::event::Backend::Ebpf,
        placement: entry.placement.clone(),
        details: Details::Exit(status),
    })
}

/// Fields read for a pending entry.
#[derive(Debug, Clone, Default)]
pub struct Missing {
    exe: Option<OsString>,
    cmdline: Option<Vec<OsString>>,
    uids: Option<[u32; 3]>,
    gids: Option<[u32; 3]>,
}

/// `read(pid, boot_time)` for every process the host lists, over the CPUs (see
/// [`crate::host::parallel`]), in pid order as a sequential scan would give them; processes that
/// cannot be read (most often: gone meanwhile) are skipped.
fn read_all<R: Send>(
    host: &Host,
    read: impl Fn(u32, f64) -> Result<R, ProcError> + Sync,
) -> std::io::Result<Vec<R>> {
    let boot_time = host.boot_time().map_err(std::io::Error::other)?;
    let pids = host.pids()?;
    Ok(crate::host::parallel::map_chunks(&pids, |chunk| {
        chunk
            .iter()
            .filter_map(|&pid| match read(pid, boot_time) {
                Ok(read) => Some(read),
                Err(error) => {
                    tracing::trace!("scan skipped pid {pid}: {error}");
                    None
                }
            })
            .collect()
    }))
}

/// Reads what a pending entry lacks (nothing if the pid is now another process).
pub fn read_missing(host: &Host, id: ProcessId) -> Missing {
    if host.stat(id.pid).ok().map(|s| s.starttime) != Some(id.start_ticks) {
        return Missing::default();
    }
    let status = host.status(id.pid).ok();
    Missing {
        exe: host.exe(id.pid).ok(),
        cmdline: host.cmdline(id.pid).ok(),
        uids: status
            .as_ref()
            .map(|s| [s.uids.real, s.uids.effective, s.uids.saved]),
        gids: status.map(|s| [s.gids.real, s.gids.effective, s.gids.saved]),
    }
}

/// Which of the table's attributes a `/proc` scan reads besides identity, parent and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedFields {
    /// `exe` (a readlink).
    pub exe: bool,
    /// `cmdline` (also needed for psutil's name of a process whose comm was cut).
    pub cmdline: bool,
    /// `uids` and `gids` (`/proc/PID/status`).
    pub ids: bool,
}

impl SeedFields {
    /// Everything the table holds.
    pub const ALL: SeedFields = SeedFields {
        exe: true,
        cmdline: true,
        ids: true,
    };
}

/// Reads one process's table attributes from `/proc`.
pub fn read_entry(host: &Host, pid: u32, boot_time: f64, now: f64) -> Result<Entry, ProcError> {
    read_entry_with(host, pid, boot_time, now, SeedFields::ALL)
}

/// Reads one process's identity, parent, name and the chosen `fields` from `/proc`.
pub fn read_entry_with(
    host: &Host,
    pid: u32,
    boot_time: f64,
    now: f64,
    fields: SeedFields,
) -> Result<Entry, ProcError> {
    read_entry_and_reads(host, pid, boot_time, now, fields, false).map(|(entry, _)| entry)
}

/// What a one-shot scan read of one process besides its table entry, for the query that runs
/// on the scan's table (see `crate::query::attrs::Collector::prime`).
#[derive(Debug)]
pub struct ScanReads {
    /// `/proc/PID/stat`.
    pub stat: Stat,
    /// `/proc/PID/status`, when the scan read it (for uids and gids).
    pub status: Option<Status>,
    /// `memory_info`, when asked for and the status read tells it.
    pub memory: Option<MemoryInfo>,
}

/// [`read_entry_with`], also returning what it read; with `memory`, `memory_info` from the
/// status it reads (when it reads status).
fn read_entry_and_reads(
    host: &Host,
    pid: u32,
    boot_time: f64,
    now: f64,
    fields: SeedFields,
    memory: bool,
) -> Result<(Entry, ScanReads), ProcError> {
    let stat = host.stat(pid)?;
    let (status, memory) = if fields.ids {
        let (status, memory) = host.status_and_memory(pid, memory)?;
        (Some(status), memory)
    } else {
        (None, None)
    };
    let (uids, gids) = match &status {
        Some(status) => (
            Some([status.uids.real, status.uids.effective, status.uids.saved]),
            Some([status.gids.real, status.gids.effective, status.gids.saved]),
        ),
        None => (None, None),
    };
    let cmdline = if fields.cmdline {
        host.cmdline(pid).ok()
    } else {
        None
    };
    let exe = if fields.exe { host.exe(pid).ok() } else { None };
    let entry = Entry {
        id: ProcessId {
            pid,
            start_ticks: stat.starttime,
        },
        create_time: stat.create_time(boot_time),
        ppid: stat.ppid,
        comm: stat.comm.clone(),
        exe,
        cmdline,
        uids,
        gids,
        origin: Origin::Seeded,
        updated: now,
        ppid_stale: false,
        zombie: stat.state == 'Z',
        pending: fields != SeedFields::ALL,
        exit: None,
        placement: None,
    };
    Ok((
        entry,
        ScanReads {
            stat,
            status,
            memory,
        },
    ))
}

#[cfg(all(test, native_linux))]
mod props;
#[cfg(test)]
mod tests;
