//! process-exporter's groups, counted from the event feed: `tracer agent --groups FILE` reads
//! process-exporter's config ([`config`], [`template`]), puts every process in a group when it
//! execs (or when the agent starts), and serves process-exporter's metric families for the
//! groups (`metrics.rs`).
//!
//! Counters are process-exporter's rule — each member's usage since it was last counted is
//! added to its group, so a group's counters never go backwards when members leave — with one
//! difference: a member that exits adds its final usage from the exit event, so a process that
//! lived 1 ms between two scrapes counts in full (process-exporter cannot see it at all).
//! Processes that started before the agent count from the agent's first look at them, as
//! process-exporter counts from its first scrape.
//!
//! Membership is decided at exec (the new image is matched; one that matches no rule keeps
//! the group it had) and at the start-up scan, never re-matched at a scrape. A forked child
//! runs its parent's image: it is named as its parent would be (its own pid and start time in
//! the template). A process that matches no rule joins its parent's group when the parent is
//! a member, as process-exporter's default `-children` does.
//!
//! A scrape reads `/proc` for the live members outside every lock (the table's and this
//! module's), then adds what it read under this module's lock: the event feed never waits on
//! a scrape.

pub mod config;
pub(crate) mod metrics;
mod read;
pub mod template;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::event::{Details, Event, ProcessId, Usage};
use crate::host::container::{Cgroup, Placement};
use crate::host::Host;
use crate::table::live::Tracer;

pub use config::{ConfigError, GroupsConfig, ProcAttrs, ProcIdentity};

/// Most groups kept. Past it, the group that has been empty longest is forgotten to make room
/// (counted in `tracer_groups_evicted_total`); with none empty, a process that would start a
/// new group is not tracked (counted in `tracer_groups_untracked_total`).
pub const MAX_GROUPS: usize = 10_000;
/// How often the accounting looks for new events (the broadcast holds 16,384, far more than
/// the heaviest storm here brings in this time).
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
/// Group names longer than this are cut (a `{{.ExeFull}}` of a huge argv must not grow the
/// agent without bound).
pub const MAX_NAME_BYTES: usize = 1024;

/// A group's counters, in process-exporter's units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// User CPU seconds.
    pub cpu_user: f64,
    /// System CPU seconds.
    pub cpu_system: f64,
    /// Bytes read from storage (`/proc/PID/io` read_bytes).
    pub read_bytes: u64,
    /// Bytes written towards storage.
    pub write_bytes: u64,
    /// Major page faults.
    pub major_faults: u64,
    /// Minor page faults.
    pub minor_faults: u64,
    /// Voluntary context switches.
    pub ctx_voluntary: u64,
    /// Involuntary context switches.
    pub ctx_involuntary: u64,
}

impl Counts {
    /// Adds to `self` what `now` has beyond `seen` (field by field, never a negative amount)
    /// and raises `seen` to `now`.
    fn credit(&mut self, seen: &mut Counts, now: &Counts) {
        fn f(total: &mut f64, seen: &mut f64, now: f64) {
            if now > *seen {
                *total += now - *seen;
                *seen = now;
            }
        }
        fn u(total: &mut u64, seen: &mut u64, now: u64) {
            if now > *seen {
                *total += now - *seen;
                *seen = now;
            }
        }
        f(&mut self.cpu_user, &mut seen.cpu_user, now.cpu_user);
        f(&mut self.cpu_system, &mut seen.cpu_system, now.cpu_system);
        u(&mut self.read_bytes, &mut seen.read_bytes, now.read_bytes);
        u(
            &mut self.write_bytes,
            &mut seen.write_bytes,
            now.write_bytes,
        );
        u(
            &mut self.major_faults,
            &mut seen.major_faults,
            now.major_faults,
        );
        u(
            &mut self.minor_faults,
            &mut seen.minor_faults,
            now.minor_faults,
        );
        u(
            &mut self.ctx_voluntary,
            &mut seen.ctx_voluntary,
            now.ctx_voluntary,
        );
        u(
            &mut self.ctx_involuntary,
            &mut seen.ctx_involuntary,
            now.ctx_involuntary,
        );
    }

    /// A process's final usage; a counter the kernel did not give keeps `seen`'s value.
    fn from_usage(usage: &Usage, seen: &Counts) -> Counts {
        Counts {
            cpu_user: usage.user,
            cpu_system: usage.system,
            read_bytes: usage.io.read_bytes.unwrap_or(seen.read_bytes),
            write_bytes: usage.io.write_bytes.unwrap_or(seen.write_bytes),
            major_faults: usage.major_faults,
            minor_faults: usage.minor_faults,
            ctx_voluntary: usage.voluntary_ctx_switches,
            ctx_involuntary: usage.involuntary_ctx_switches,
        }
    }
}

/// One group at a scrape: process-exporter's `Group`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSample {
    /// The group's name (the `groupname` label).
    pub name: Arc<str>,
    /// Counters since the agent started.
    pub counts: Counts,
    /// Live members read by this scrape.
    pub procs: u64,
    /// Resident bytes of the members.
    pub resident: u64,
    /// Virtual bytes.
    pub virtual_: u64,
    /// Swapped bytes (`VmSwap`).
    pub swapped: u64,
    /// Proportional resident bytes (`Pss`).
    pub proportional_resident: u64,
    /// Proportional swapped bytes (`SwapPss`).
    pub proportional_swapped: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The highest open/limit ratio of descriptors among the members.
    pub worst_fd_ratio: f64,
    /// Start time of the oldest member, whole seconds since the epoch (0 with no member).
    pub oldest_start_time: f64,
    /// Threads of the members.
    pub threads: u64,
    /// Members by `/proc/PID/stat` state: Running, Sleeping, Waiting (D), Zombie, Other.
    pub states: [u64; 5],
}

/// The accounting's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupsCounters {
    /// Events the accounting missed because it fell behind the feed (it then resynchronises
    /// its members from the table; the usage of exits among them is lost).
    pub lost_events: u64,
    /// Exits of processes the accounting had not seen start (counted from the table's entry).
    pub unknown_exits: u64,
    /// Empty groups forgotten to make room under [`MAX_GROUPS`].
    pub evicted_groups: u64,
    /// Processes left out because [`MAX_GROUPS`] groups were in use.
    pub untracked: u64,
    /// Members whose stat or status could not be read at a scrape (not counting those gone).
    pub procread_errors: u64,
    /// Members some optional file of which (io, fd, limits, smaps) could not be read.
    pub partial_errors: u64,
    /// Seconds the last scrape's `/proc` pass took.
    pub scrape_seconds: f64,
    /// Processes tracked (members and not).
    pub tracked: u64,
    /// Whether the accounting still follows the feed.
    pub up: bool,
}

/// A scrape: every group, and the accounting's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every group known, members or not, by name.
    pub groups: Vec<GroupSample>,
    /// The accounting's counters.
    pub counters: GroupsCounters,
}

/// The groups' accounting, fed by a tracer's events. Cloning shares it.
#[derive(Clone)]
pub struct Groups {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups")
            .field("rules", &self.inner.config.len())
            .finish()
    }
}

struct Inner {
    config: GroupsConfig,
    tracer: Tracer,
    host: Host,
    /// `btime`, whole seconds (process-exporter's start times use it).
    boot_time: i64,
    ticks_per_second: u64,
    /// Clock ticks since boot when the accounting started: processes started later count
    /// from zero, earlier ones from the first look at them.
    started_ticks: u64,
    state: Mutex<State>,
    /// One `/proc` pass at a time.
    scraping: Mutex<()>,
    up: AtomicBool,
    lost_events: AtomicU64,
}

#[derive(Default)]
struct State {
    groups: Vec<GroupAcc>,
    by_name: HashMap<Arc<str>, usize>,
    procs: HashMap<u32, Tracked>,
    unknown_exits: u64,
    evicted_groups: u64,
    untracked: u64,
    procread_errors: u64,
    partial_errors: u64,
    scrape_seconds: f64,
}

struct GroupAcc {
    name: Arc<str>,
    totals: Counts,
    members: u64,
    /// When it last lost its last member (for eviction), or gained one.
    touched: Instant,
}

struct Tracked {
    start_ticks: u64,
    member: Option<Member>,
}

struct Member {
    group: usize,
    /// The rule that named it; `None` when it joined its parent's group.
    rule: Option<usize>,
    attrs: Arc<ProcAttrs>,
    /// Its usage as last counted; `None` until first read when it started before the agent.
    seen: Option<Counts>,
}

impl Groups {
    /// Starts following `tracer`'s events: subscribes first, then puts the table's live
    /// processes in their groups, then reads their usage so far (in the background) as the
    /// point they count from.
    pub fn start(tracer: &Tracer, config: GroupsConfig) -> std::io::Result<Groups> {
        let clock = crate::host::clock::Clock::new()?;
        let ticks_per_second = crate::host::clock_ticks();
        let boot_time = tracer
            .host()
            .boot_time()
            .map_err(std::io::Error::other)?
            .floor() as i64;
        let started_ticks = clock.ticks_from_boot_ns(crate::host::clock::Clock::now_boot_ns());
        let events = tracer.subscribe();
        let inner = Arc::new(Inner {
            config,
            tracer: tracer.clone(),
            host: tracer.host().clone(),
            boot_time,
            ticks_per_second,
            started_ticks,
            state: Mutex::new(State::default()),
            scraping: Mutex::new(()),
            up: AtomicBool::new(true),
            lost_events: AtomicU64::new(0),
        });
        inner.resync();
        let follower = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("tracer-groups".into())
            .spawn(move || follower.follow(events))?;
        let first = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("tracer-groups-seed".into())
            .spawn(move || {
                first.scrape();
            })?;
        Ok(Groups { inner })
    }

    /// Reads the live members' `/proc` figures and returns every group.
    pub fn scrape(&self) -> Snapshot {
        self.inner.scrape()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn identity(&self, id: ProcessId) -> ProcIdentity {
        let tps = self.ticks_per_second.max(1);
        let ns_per_tick = 1_000_000_000 / tps;
        ProcIdentity {
            pid: id.pid,
            start_time_ns: self.boot_time * 1_000_000_000
                + (id.start_ticks / tps) as i64 * 1_000_000_000
                + (id.start_ticks % tps * ns_per_tick) as i64,
        }
    }

    /// The point a new process's usage counts from.
    fn first_seen(&self, start_ticks: u64) -> Option<Counts> {
        (start_ticks >= self.started_ticks).then(Counts::default)
    }

    /// Follows the feed until it ends. It looks for events every [`POLL_INTERVAL`] rather
    /// than waiting to be woken for each: the feed's sends then wake nobody (a wake per
    /// event cost the feed and this thread more than applying the event), and one look
    /// applies all the interval's events under one lock.
    fn follow(&self, mut events: crate::table::live::Subscription) {
        use crate::table::live::Polled;
        'feed: loop {
            let mut state = self.lock();
            // Bounded per lock hold: a scrape waiting for the lock gets it between chunks.
            for _ in 0..4096 {
                match events.poll() {
                    Polled::Event(event) => self.apply(&mut state, event),
                    Polled::Lost(n) => {
                        drop(state);
                        self.lagged(n);
                        continue 'feed;
                    }
                    Polled::Empty => {
                        drop(state);
                        std::thread::sleep(POLL_INTERVAL);
                        continue 'feed;
                    }
                    Polled::Closed => break 'feed,
                }
            }
        }
        self.up.store(false, Ordering::Relaxed);
        tracing::warn!("group accounting stopped: the event feed ended");
    }

    fn lagged(&self, n: u64) {
        self.lost_events.fetch_add(n, Ordering::Relaxed);
        tracing::warn!(
            "group accounting fell {n} events behind the feed: resynchronising its members from the table"
        );
        self.resync();
    }

    /// Puts the table's live processes that are not tracked yet in their groups, and forgets
    /// tracked ones the table no longer has live (their exits were missed).
    fn resync(&self) {
        struct Seen {
            id: ProcessId,
            ppid: u32,
            comm: String,
            cmdline: Option<Vec<String>>,
            euid: Option<u32>,
            cgroup: Option<Arc<Cgroup>>,
        }
        let known: HashMap<u32, u64> = self
            .lock()
            .procs
            .iter()
            .map(|(pid, t)| (*pid, t.start_ticks))
            .collect();
        let (mut seen, live): (Vec<Seen>, std::collections::HashSet<ProcessId>) = {
            let table = self.tracer.lock();
            let live = table.live().map(|e| e.id).collect();
            let seen = table
                .live()
                .filter(|e| known.get(&e.id.pid) != Some(&e.id.start_ticks))
                .map(|e| Seen {
                    id: e.id,
                    ppid: e.ppid,
                    comm: e.comm.to_string_lossy().into_owned(),
                    cmdline: e.cmdline.as_ref().map(|c| lossy_args(c)),
                    euid: e.uids.map(|[_, effective, _]| effective),
                    cgroup: cgroup_of(e.placement.as_ref()),
                })
                .collect();
            (seen, live)
        };
        // What the start-up scan had not read yet is read here, outside the table's lock.
        let mut placement = None;
        for s in &mut seen {
            if s.cmdline.is_none() {
                s.cmdline = Some(
                    self.host
                        .cmdline(s.id.pid)
                        .map(|c| lossy_args(&c))
                        .unwrap_or_default(),
                );
            }
            if s.euid.is_none() {
                s.euid = self.host.status(s.id.pid).ok().map(|st| st.uids.effective);
            }
            if s.cgroup.is_none() && self.config.uses_placement() {
                s.cgroup = placement
                    .get_or_insert_with(crate::host::container::PlacementReader::new)
                    .read(s.id.pid)
                    .and_then(|p| p.cgroup);
            }
        }
        let mut state = self.lock();
        let gone: Vec<u32> = state
            .procs
            .iter()
            .filter(|(pid, t)| {
                !live.contains(&ProcessId {
                    pid: **pid,
                    start_ticks: t.start_ticks,
                })
            })
            .map(|(pid, _)| *pid)
            .collect();
        for pid in gone {
            self.forget(&mut state, pid);
        }
        // Matched first, then the unmatched join a member ancestor's group.
        let mut unmatched = Vec::new();
        let ppids: HashMap<u32, u32> = seen.iter().map(|s| (s.id.pid, s.ppid)).collect();
        for s in seen {
            let attrs = Arc::new(ProcAttrs {
                comm: s.comm,
                cmdline: s.cmdline.unwrap_or_default(),
                euid: s.euid.unwrap_or(0),
                cgroup: s.cgroup,
            });
            if let Some(old) = state.procs.get(&s.id.pid) {
                if old.start_ticks != s.id.start_ticks {
                    self.forget(&mut state, s.id.pid);
                }
            }
            let member = self
                .config
                .match_and_name(&attrs, self.identity(s.id))
                .and_then(|(rule, name)| {
                    let group = group_index(&mut state, name)?;
                    Some(Member {
                        group,
                        rule: Some(rule),
                        attrs: Arc::clone(&attrs),
                        seen: self.first_seen(s.id.start_ticks),
                    })
                });
            if member.is_none() {
                unmatched.push((s.id, attrs));
            }
            insert(&mut state, s.id, member);
        }
        for (id, attrs) in unmatched {
            // Up the parents (within the scan and the members already known) to a member.
            let mut parent = ppids.get(&id.pid).copied();
            let mut group = None;
            for _ in 0..64 {
                let Some(p) = parent.filter(|&p| p > 1 && p != id.pid) else {
                    break;
                };
                if let Some(m) = state.procs.get(&p).and_then(|t| t.member.as_ref()) {
                    group = Some(m.group);
                    break;
                }
                parent = ppids.get(&p).copied();
            }
            if let Some(group) = group {
                let member = Member {
                    group,
                    rule: None,
                    attrs,
                    seen: self.first_seen(id.start_ticks),
                };
                insert(&mut state, id, Some(member));
            }
        }
    }

    /// Drops a tracked process without counting anything more for it.
    fn forget(&self, state: &mut State, pid: u32) {
        if let Some(tracked) = state.procs.remove(&pid) {
            if let Some(member) = tracked.member {
                leave(state, member.group);
            }
        }
    }

    fn apply(&self, state: &mut State, event: &Event) {
        match &event.details {
            Details::Fork { parent_pid } => {
                let member = state
                    .procs
                    .get(parent_pid)
                    .and_then(|t| t.member.as_ref())
                    .map(|m| (m.group, m.rule, Arc::clone(&m.attrs)));
                let member = member.and_then(|(group, rule, attrs)| {
                    let (group, rule) = match rule {
                        Some(rule) if self.config.names_by_identity(rule) => {
                            match self.config.match_and_name(&attrs, self.identity(event.id)) {
                                Some((rule, name)) => (group_index(state, name)?, Some(rule)),
                                None => (group, None),
                            }
                        }
                        _ => (group, rule),
                    };
                    Some(Member {
                        group,
                        rule,
                        attrs,
                        seen: self.first_seen(event.id.start_ticks),
                    })
                });
                if state.procs.contains_key(&event.id.pid) {
                    self.forget(state, event.id.pid);
                }
                insert(state, event.id, member);
            }
            Details::Exec(exec) => {
                let attrs = Arc::new(ProcAttrs {
                    comm: event.name.to_string_lossy().into_owned(),
                    cmdline: lossy_args(&exec.cmdline),
                    euid: exec.uids[1],
                    cgroup: cgroup_of(event.placement.as_ref()),
                });
                let current = match state.procs.get_mut(&event.id.pid) {
                    Some(t) if t.start_ticks == event.id.start_ticks => t.member.take(),
                    Some(_) => {
                        self.forget(state, event.id.pid);
                        None
                    }
                    None => None,
                };
                let seen = match &current {
                    Some(m) => m.seen,
                    None => self.first_seen(event.id.start_ticks),
                };
                let matched = self
                    .config
                    .match_and_name(&attrs, self.identity(event.id))
                    .and_then(|(rule, name)| Some((group_index(state, name)?, Some(rule))));
                let (group, rule) = match (matched, &current) {
                    (Some(found), _) => found,
                    (None, Some(m)) => (m.group, None),
                    (None, None) => {
                        match state.procs.get(&event.ppid).and_then(|t| t.member.as_ref()) {
                            Some(parent) => (parent.group, None),
                            None => {
                                insert(state, event.id, None);
                                return;
                            }
                        }
                    }
                };
                if let Some(old) = current {
                    leave(state, old.group);
                }
                let member = Member {
                    group,
                    rule,
                    attrs,
                    seen,
                };
                state.procs.remove(&event.id.pid);
                insert(state, event.id, Some(member));
            }
            Details::Exit(exit) => {
                let tracked = match state.procs.get(&event.id.pid) {
                    Some(t) if t.start_ticks == event.id.start_ticks => {
                        state.procs.remove(&event.id.pid)
                    }
                    _ => None,
                };
                let member = match tracked {
                    Some(t) => t.member,
                    None => {
                        state.unknown_exits += 1;
                        self.member_of_unknown(state, event)
                    }
                };
                let Some(mut member) = member else { return };
                if let (Some(usage), Some(seen)) = (&exit.usage, member.seen.as_mut()) {
                    let now = Counts::from_usage(usage, seen);
                    state.groups[member.group].totals.credit(seen, &now);
                }
                leave(state, member.group);
            }
        }
    }

    /// The group of a process whose start the accounting missed, from the table's entry
    /// (joined at once: its exit follows).
    fn member_of_unknown(&self, state: &mut State, event: &Event) -> Option<Member> {
        let (attrs, ppid) = {
            let table = self.tracer.lock();
            let entry = table.find(event.id)?;
            (
                ProcAttrs {
                    comm: entry.comm.to_string_lossy().into_owned(),
                    cmdline: entry.cmdline.as_deref().map(lossy_args).unwrap_or_default(),
                    euid: entry.uids.map_or(0, |[_, effective, _]| effective),
                    cgroup: cgroup_of(entry.placement.as_ref()),
                },
                entry.ppid,
            )
        };
        let (group, rule) = match self.config.match_and_name(&attrs, self.identity(event.id)) {
            Some((rule, name)) => (group_index(state, name)?, Some(rule)),
            None => (
                state
                    .procs
                    .get(&ppid)
                    .and_then(|t| t.member.as_ref())?
                    .group,
                None,
            ),
        };
        state.groups[group].members += 1;
        Some(Member {
            group,
            rule,
            attrs: Arc::new(attrs),
            seen: self.first_seen(event.id.start_ticks),
        })
    }

    fn scrape(&self) -> Snapshot {
        let _one = self.scraping.lock().unwrap_or_else(|p| p.into_inner());
        let began = Instant::now();
        let targets: Vec<ProcessId> = self
            .lock()
            .procs
            .iter()
            .filter(|(_, t)| t.member.is_some())
            .map(|(&pid, t)| ProcessId {
                pid,
                start_ticks: t.start_ticks,
            })
            .collect();
        let tps = self.ticks_per_second as f64;
        let readings = crate::host::parallel::map_chunks(&targets, |chunk| {
            chunk
                .iter()
                .map(|&id| read::read(&self.host, id, tps))
                .collect()
        });
        let took = began.elapsed();
        let mut state = self.lock();
        state.scrape_seconds = took.as_secs_f64();
        let mut samples: Vec<GroupSample> = state
            .groups
            .iter()
            .map(|g| GroupSample {
                name: Arc::clone(&g.name),
                ..GroupSample::default()
            })
            .collect();
        let mut oldest: Vec<Option<u64>> = vec![None; samples.len()];
        for (id, reading) in targets.iter().zip(readings) {
            let reading = match reading {
                Ok(r) => r,
                Err(read::ReadError::Gone) => continue,
                Err(read::ReadError::Failed) => {
                    state.procread_errors += 1;
                    continue;
                }
            };
            if reading.partial {
                state.partial_errors += 1;
            }
            let State { procs, groups, .. } = &mut *state;
            let Some(member) = procs
                .get_mut(&id.pid)
                .filter(|t| t.start_ticks == id.start_ticks)
                .and_then(|t| t.member.as_mut())
            else {
                continue; // it exited (and was counted) meanwhile
            };
            match member.seen.as_mut() {
                Some(seen) => groups[member.group].totals.credit(seen, &reading.counts),
                None => member.seen = Some(reading.counts),
            }
            let s = &mut samples[member.group];
            s.procs += 1;
            s.resident += reading.resident;
            s.virtual_ += reading.virtual_;
            s.swapped += reading.swapped;
            s.proportional_resident += reading.proportional_resident;
            s.proportional_swapped += reading.proportional_swapped;
            if let Some(open) = reading.open_fds {
                s.open_fds += open;
                if reading.fd_limit > 0 {
                    s.worst_fd_ratio = s.worst_fd_ratio.max(open as f64 / reading.fd_limit as f64);
                }
            }
            s.threads += reading.threads;
            s.states[match reading.state {
                'R' => 0,
                'S' => 1,
                'D' => 2,
                'Z' => 3,
                _ => 4,
            }] += 1;
            let o = &mut oldest[member.group];
            *o = Some(o.map_or(reading.start_ticks, |t| t.min(reading.start_ticks)));
        }
        for ((sample, group), oldest) in samples.iter_mut().zip(&state.groups).zip(oldest) {
            sample.counts = group.totals;
            if let Some(ticks) = oldest {
                sample.oldest_start_time =
                    (self.boot_time + (ticks / self.ticks_per_second.max(1)) as i64) as f64;
            }
        }
        let counters = GroupsCounters {
            lost_events: self.lost_events.load(Ordering::Relaxed),
            unknown_exits: state.unknown_exits,
            evicted_groups: state.evicted_groups,
            untracked: state.untracked,
            procread_errors: state.procread_errors,
            partial_errors: state.partial_errors,
            scrape_seconds: state.scrape_seconds,
            tracked: state.procs.len() as u64,
            up: self.up.load(Ordering::Relaxed),
        };
        drop(state);
        samples.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            groups: samples,
            counters,
        }
    }
}

/// Adds a tracked process (its group gains a member).
fn insert(state: &mut State, id: ProcessId, member: Option<Member>) {
    if let Some(m) = &member {
        let group = &mut state.groups[m.group];
        group.members += 1;
        group.touched = Instant::now();
    }
    state.procs.insert(
        id.pid,
        Tracked {
            start_ticks: id.start_ticks,
            member,
        },
    );
}

/// A member left `group`.
fn leave(state: &mut State, group: usize) {
    let group = &mut state.groups[group];
    group.members = group.members.saturating_sub(1);
    if group.members == 0 {
        group.touched = Instant::now();
    }
}

/// The index of the group named `name`, created if needed; `None` when [`MAX_GROUPS`] are in
/// use and none is empty.
fn group_index(state: &mut State, mut name: String) -> Option<usize> {
    if name.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    if let Some(&index) = state.by_name.get(name.as_str()) {
        return Some(index);
    }
    let name: Arc<str> = Arc::from(name);
    let fresh = GroupAcc {
        name: Arc::clone(&name),
        totals: Counts::default(),
        members: 0,
        touched: Instant::now(),
    };
    if state.groups.len() < MAX_GROUPS {
        state.groups.push(fresh);
        state.by_name.insert(name, state.groups.len() - 1);
        return Some(state.groups.len() - 1);
    }
    let Some(index) = state
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.members == 0)
        .min_by_key(|(_, g)| g.touched)
        .map(|(i, _)| i)
    else {
        state.untracked += 1;
        return None;
    };
    state.evicted_groups += 1;
    let old = std::mem::replace(&mut state.groups[index], fresh);
    state.by_name.remove(&old.name);
    state.by_name.insert(name, index);
    Some(index)
}

/// The cgroup of a placement (shared, not copied).
fn cgroup_of(placement: Option<&Arc<Placement>>) -> Option<Arc<Cgroup>> {
    placement.and_then(|p| p.cgroup.clone())
}

fn lossy_args(args: &[std::ffi::OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests;
