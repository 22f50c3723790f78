//! A live process table: an event source (eBPF, or a polling backend) feeding a
//! [`ProcessTable`] on a background thread.
//!
//! Start-up is race-free: the kernel programs are attached first, then `/proc` is scanned,
//! then the events that arrived meanwhile are applied — a process that starts or ends during
//! the scan is neither lost nor duplicated, because entries are keyed by identity. Waiters are
//! woken by exit events, not by polling. When the kernel reports lost events the table
//! resynchronises from `/proc` and counts it.
//!
//! Fed by a polling backend (procfs, sysinfo), the table learns of starts and ends once per
//! interval and exit codes are unknown. Without a feed the table is a snapshot refreshed from
//! the host on each query, and exit codes are known only for the caller's own children.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::event::{Backend, Event, ProcessId};
use crate::host::clock::Clock;
use crate::host::Host;
use crate::source::{Choice, Source, SourceConfig, SourceStats};
use crate::table::{Entry, ProcessTable, SeedFields};

/// How long exited processes stay queryable unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(60);

static GLOBAL: OnceLock<Tracer> = OnceLock::new();
static GLOBAL_CONFIG: Mutex<Option<TracerConfig>> = Mutex::new(None);

/// Settings of a [`Tracer`].
#[derive(Debug, Clone)]
pub struct TracerConfig {
    /// How long exited processes stay in the table.
    pub retention: Duration,
    /// Most exited processes kept, whatever their age (the oldest go first).
    pub max_exited: usize,
    /// Where events come from; `None` for snapshots only (every query rescans the host).
    pub source: Option<SourceConfig>,
    /// When the source cannot open: use snapshots (`true`, saying why in [`Feed::Snapshot`])
    /// or fail to start (`false`).
    pub snapshot_fallback: bool,
}

impl TracerConfig {
    /// Snapshots only: no event source.
    pub fn snapshot() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            max_exited: crate::table::MAX_EXITED,
            source: None,
            snapshot_fallback: true,
        }
    }
}

impl Default for TracerConfig {
    /// eBPF when it can run, else snapshots (Linux); snapshots elsewhere, where polling would
    /// tell a query nothing a rescan does not.
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            max_exited: crate::table::MAX_EXITED,
            source: cfg!(native_linux).then(|| SourceConfig {
                choice: Choice::Ebpf,
                ..SourceConfig::default()
            }),
            snapshot_fallback: true,
        }
    }
}

/// Where the live table's updates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// Lifecycle events from the kernel programs.
    Ebpf,
    /// Events synthesised by a polling backend every interval.
    Polling(Backend, Duration),
    /// The host re-read on each query; the reason no event source is used.
    Snapshot(String),
}

impl Feed {
    /// The name `tracer stats` and the metrics show.
    pub fn name(&self) -> &'static str {
        match self {
            Feed::Ebpf => "ebpf",
            Feed::Polling(backend, _) => backend.as_str(),
            Feed::Snapshot(_) => "snapshot",
        }
    }
}

struct Shared {
    table: Mutex<ProcessTable>,
    /// Notified after every drain of the feed.
    exits: Condvar,
    /// CLOCK_BOOTTIME up to which the feed has applied the kernel's events.
    applied_until_ns: std::sync::atomic::AtomicU64,
    host: Host,
    clock: Clock,
    feed: Feed,
    /// Set when the feeding thread stopped (its error, if any).
    stopped: Mutex<Option<String>>,
    /// Every event, after the table applied it, for subscribers, in the batches the feed
    /// applied them in (at most [`BATCH_EVENTS`] each): one allocation, one send and at most
    /// one wake-up per batch rather than per event. Bounded: a subscriber that falls behind
    /// loses the oldest batches (and counts the events in them), the feed never waits.
    batches: tokio::sync::broadcast::Sender<Arc<Batch>>,
    /// Events sent in batches so far (the next batch's first sequence number).
    batched: std::sync::atomic::AtomicU64,
    /// Loss reports, each with what the resynchronisation then found, for subscribers.
    lost: tokio::sync::broadcast::Sender<Arc<Lost>>,
    /// The source's counters, refreshed every second by the feed.
    source_stats: Mutex<Option<SourceStats>>,
    /// Immediate exit wake-ups while someone waits (eBPF feed only).
    #[cfg(native_linux)]
    exit_wakeup: Option<Arc<crate::source::ebpf::ExitWakeup>>,
    /// Why a better backend than the one in use could not run (auto selection).
    notice: Option<String>,
}

/// The kernel lost records: how many, and what the table's resynchronisation from `/proc`
/// found, as the events that were missed (exits of processes gone, execs of new ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Lost {
    /// Records lost since the previous report.
    pub count: u64,
    /// Records lost in all.
    pub total: u64,
    /// An exit (status unknown) for each process found gone.
    pub vanished: Vec<Event>,
    /// An exec for each process found new.
    pub appeared: Vec<Event>,
}

impl Lost {
    fn new(count: u64, total: u64, found: crate::table::Resynced, backend: Backend) -> Lost {
        let event = |entry: &Entry, time: f64, details| Event {
            time,
            id: entry.id,
            create_time: entry.create_time,
            ppid: entry.ppid,
            uid: entry.uids.map_or(0, |[real, ..]| real),
            gid: entry.gids.map_or(0, |[real, ..]| real),
            name: entry.comm.clone(),
            backend,
            placement: entry.placement.clone(),
            details,
        };
        Lost {
            count,
            total,
            vanished: found
                .vanished
                .iter()
                .map(|entry| {
                    let time = entry
                        .exit
                        .as_deref()
                        .copied()
                        .map_or(entry.updated, |exit| exit.time);
                    let duration = (time - entry.create_time).max(0.0);
                    event(
                        entry,
                        time,
                        crate::event::Details::Exit(crate::event::Exit::unknown(duration)),
                    )
                })
                .collect(),
            appeared: found
                .appeared
                .iter()
                .map(|entry| {
                    let cmdline = entry.cmdline.clone().unwrap_or_default();
                    let bytes: usize = cmdline.iter().map(|a| a.len() + 1).sum();
                    let exec = crate::event::Exec {
                        exe: entry.exe.clone(),
                        cmdline_bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
                        cmdline,
                        uids: entry.uids.unwrap_or_default(),
                        gids: entry.gids.unwrap_or_default(),
                        cmdline_truncated: false,
                        exe_truncated: false,
                    };
                    event(
                        entry,
                        entry.updated,
                        crate::event::Details::Exec(Box::new(exec)),
                    )
                })
                .collect(),
        }
    }
}

/// Events buffered per subscriber before the oldest are dropped for it.
pub const SUBSCRIBER_QUEUE: usize = 16 * 1024;

/// Most events in one [`Batch`]: a drain's events go out in batches of at most this many, and
/// [`SUBSCRIBER_QUEUE`] / this many batches are buffered per batch subscriber (the same bound
/// on events as the per-event stream's).
pub const BATCH_EVENTS: usize = 16;

/// Events the feed applied together, for [`Tracer::subscribe_batches`].
#[derive(Debug)]
pub struct Batch {
    /// The sequence number of the first event (events are numbered from 0 as they are sent):
    /// a gap since the previous batch a subscriber received is what it lost by lagging. The
    /// event at index `i` is number `first + i`, which names it for as long as the feed runs.
    pub first: u64,
    /// The events, in the order they were applied.
    pub events: Vec<Event>,
}

/// A subscriber's end of the event stream that takes events one at a time without waiting
/// (exporters and group accounting look every so often: the feed's sends then wake nobody).
#[derive(Debug)]
pub struct Subscription {
    batches: tokio::sync::broadcast::Receiver<Arc<Batch>>,
    /// The sequence number expected next.
    next: u64,
    current: Option<Arc<Batch>>,
    /// The next event's index in `current`.
    index: usize,
}

/// What [`Subscription::poll`] found.
#[derive(Debug)]
pub enum Polled<'a> {
    /// The next event.
    Event(&'a Event),
    /// This many events were dropped for this subscriber (it fell behind); the next poll goes
    /// on after them.
    Lost(u64),
    /// Nothing queued now.
    Empty,
    /// The feed ended.
    Closed,
}

impl Subscription {
    /// The next event, or why there is none now.
    pub fn poll(&mut self) -> Polled<'_> {
        use tokio::sync::broadcast::error::TryRecvError;
        let taken = self
            .current
            .as_ref()
            .is_none_or(|batch| self.index >= batch.events.len());
        if taken {
            let batch = loop {
                match self.batches.try_recv() {
                    Ok(batch) => break batch,
                    // Counted from the gap before the next batch (this count is of batches).
                    Err(TryRecvError::Lagged(_)) => continue,
                    Err(TryRecvError::Empty) => return Polled::Empty,
                    Err(TryRecvError::Closed) => return Polled::Closed,
                }
            };
            let lost = batch.first.saturating_sub(self.next);
            self.next = self.next.max(batch.first + batch.events.len() as u64);
            self.current = Some(batch);
            self.index = 0;
            if lost > 0 {
                return Polled::Lost(lost);
            }
        }
        let Some(batch) = &self.current else {
            return Polled::Empty;
        };
        self.index += 1;
        Polled::Event(&batch.events[self.index - 1])
    }

    /// The event the last [`poll`](Self::poll) returned, if it returned one.
    pub fn current(&self) -> Option<&Event> {
        let batch = self.current.as_ref()?;
        batch.events.get(self.index.checked_sub(1)?)
    }
}

/// A live process table with its feed.
#[derive(Clone)]
pub struct Tracer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("feed", &self.shared.feed)
            .finish()
    }
}

impl Tracer {
    /// Starts a table: the event source first (if one is configured and can run), then the
    /// host scan.
    pub fn start(config: TracerConfig) -> std::io::Result<Tracer> {
        let clock = Clock::new()?;
        let host = Host::new();
        let table = ProcessTable::with_limits(config.retention, config.max_exited);
        let Some(source_config) = config.source else {
            return Ok(Self::snapshot(table, host, clock, "disabled".into()));
        };
        // On Linux the table's identities are exact start ticks from /proc, which the sysinfo
        // backend (whole seconds) cannot match: it feeds a table only where it is the host.
        #[cfg(native_linux)]
        if source_config.choice == Choice::Sysinfo {
            return Err(std::io::Error::other(
                "the sysinfo backend cannot feed a process table on Linux (its start times are \
                 whole seconds; /proc's are exact): use procfs, ebpf or auto",
            ));
        }
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Arc<Shared>, String>>();
        let spawned = std::thread::Builder::new()
            .name("tracer-feed".into())
            .spawn(move || feed_thread(source_config, table, ready_tx));
        let failure = match spawned {
            Err(e) => format!("cannot start the feed thread: {e}"),
            Ok(_) => match ready_rx.recv() {
                Ok(Ok(shared)) => return Ok(Tracer { shared }),
                Ok(Err(reason)) => reason,
                Err(_) => "the feed thread died".into(),
            },
        };
        if !config.snapshot_fallback {
            return Err(std::io::Error::other(failure));
        }
        Ok(Self::snapshot(
            ProcessTable::with_limits(config.retention, config.max_exited),
            host,
            clock,
            failure,
        ))
    }

    fn snapshot(table: ProcessTable, host: Host, clock: Clock, reason: String) -> Tracer {
        let tracer = Tracer {
            shared: Arc::new(Shared {
                table: Mutex::new(table),
                exits: Condvar::new(),
                applied_until_ns: std::sync::atomic::AtomicU64::new(0),
                host,
                clock,
                feed: Feed::Snapshot(reason),
                stopped: Mutex::new(None),
                batches: tokio::sync::broadcast::channel(1).0,
                batched: std::sync::atomic::AtomicU64::new(0),
                lost: tokio::sync::broadcast::channel(1).0,
                source_stats: Mutex::new(None),
                #[cfg(native_linux)]
                exit_wakeup: None,
                notice: None,
            }),
        };
        // No scan yet: every query rescans (`refresh`), so the first query does it.
        tracer
    }

    /// The process-wide table the free functions (`tracer::pids()`, `Process::new`, …) use,
    /// started on first use with the configuration given to [`Tracer::configure_global`]. If
    /// none was given it takes snapshots of `/proc`: the library loads kernel programs only when
    /// asked to (`configure_global(TracerConfig::default())` or [`Tracer::start_global`]).
    ///
    /// It does not panic: when the configured source cannot start, the table takes snapshots
    /// and [`Tracer::feed`] says why.
    pub fn global() -> &'static Tracer {
        GLOBAL.get_or_init(|| {
            let config = GLOBAL_CONFIG
                .lock()
                .ok()
                .and_then(|mut config| config.take())
                .unwrap_or_else(TracerConfig::snapshot);
            let (retention, max_exited) = (config.retention, config.max_exited);
            Tracer::start(config).unwrap_or_else(|e| {
                Self::snapshot(
                    ProcessTable::with_limits(retention, max_exited),
                    Host::new(),
                    Clock::new_or_derived(),
                    format!("the configured source could not start: {e}"),
                )
            })
        })
    }

    /// Starts the process-wide table with `config` (an error if its source cannot run and
    /// `config` does not fall back), or returns it if it has started already.
    pub fn start_global(config: TracerConfig) -> std::io::Result<&'static Tracer> {
        if let Some(tracer) = GLOBAL.get() {
            return Ok(tracer);
        }
        let tracer = Tracer::start(config)?;
        Ok(GLOBAL.get_or_init(|| tracer))
    }

    /// Sets how [`Tracer::global`] will start. Returns `false` (and changes nothing) when it
    /// has already started.
    pub fn configure_global(config: TracerConfig) -> bool {
        if GLOBAL.get().is_some() {
            return false;
        }
        if let Ok(mut slot) = GLOBAL_CONFIG.lock() {
            *slot = Some(config);
        }
        true
    }

    /// Where updates come from.
    pub fn feed(&self) -> &Feed {
        &self.shared.feed
    }

    /// Why a better backend could not run, when auto selection fell back (one line).
    pub fn notice(&self) -> Option<&str> {
        self.shared.notice.as_deref()
    }

    /// The host reader.
    pub fn host(&self) -> &Host {
        &self.shared.host
    }

    /// Seconds since the epoch, now.
    pub fn now(&self) -> f64 {
        self.shared.clock.epoch_seconds(Clock::now_boot_ns())
    }

    /// Brings the table up to date for a query: without eBPF a rescan of the host, always the
    /// re-parented processes' ppid. Returns the locked table.
    pub fn refresh(&self) -> MutexGuard<'_, ProcessTable> {
        // What is to be read is taken under the lock, read without it, applied under it.
        let (pending, unsettled) = {
            let table = self.lock();
            (table.pending(), table.unsettled())
        };
        let host = &self.shared.host;
        let missing: Vec<_> = pending
            .into_iter()
            .map(|id| (id, crate::table::read_missing(host, id)))
            .collect();
        let reads: Vec<_> = unsettled
            .into_iter()
            .map(|id| (id, host.stat(id.pid)))
            .collect();
        let mut table = self.lock();
        for (id, missing) in missing {
            table.fill(id, missing);
        }
        // Only the kernel's feed is current to the millisecond: a polled or snapshot table is
        // rescanned for the query.
        if !matches!(self.shared.feed, Feed::Ebpf) {
            let now = self.now();
            if let Err(e) = table.resync(host, now) {
                tracing::warn!("rescanning /proc failed: {e}");
            }
        }
        let now = self.now();
        table.settle(reads, now);
        table
    }

    /// Loss reports from now on, each with the resynchronisation's findings (a snapshot
    /// table has none).
    pub fn subscribe_lost(&self) -> tokio::sync::broadcast::Receiver<Arc<Lost>> {
        self.shared.lost.subscribe()
    }

    /// Every event from now on, after the table applied it, in the feed's batches, with the
    /// sequence number the next batch will start from (a later batch starting further on
    /// means events were dropped for this subscriber: [`Batch::first`]). A snapshot table has
    /// no events. [`Subscription`] reads the same stream an event at a time, without waiting.
    pub fn subscribe_batches(&self) -> (tokio::sync::broadcast::Receiver<Arc<Batch>>, u64) {
        let receiver = self.shared.batches.subscribe();
        // Read after subscribing: a batch sent in between starts before it, and counts as no loss.
        let next = self
            .shared
            .batched
            .load(std::sync::atomic::Ordering::Acquire);
        (receiver, next)
    }

    /// Every event from now on, read an event at a time by polling ([`Subscription::poll`]).
    pub fn subscribe(&self) -> Subscription {
        let (batches, next) = self.subscribe_batches();
        Subscription {
            batches,
            next,
            current: None,
            index: 0,
        }
    }

    /// The event source's counters as of the last second (`None` for a snapshot table).
    pub fn source_stats(&self) -> Option<SourceStats> {
        self.shared.source_stats.lock().ok().and_then(|s| *s)
    }

    /// Whether the feed has stopped, and why.
    pub fn stopped(&self) -> Option<String> {
        self.shared.stopped.lock().ok().and_then(|s| s.clone())
    }

    /// The table, locked, as it is.
    pub fn lock(&self) -> MutexGuard<'_, ProcessTable> {
        self.shared
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the process `id` has exited or `timeout` passed, woken by exit events.
    /// Returns its table entry once exited (with the exit status when it was seen), `None` on
    /// timeout. Without eBPF (snapshots, polling) it waits on the process itself instead (a
    /// pidfd on Linux) and the exit status is unknown.
    pub fn wait_exit(&self, id: ProcessId, timeout: Option<Duration>) -> WaitOutcome {
        self.wait_exit_cancellable(id, timeout, &|| false)
    }

    /// [`Tracer::wait_exit`] that ends as a timeout once `cancelled()` says so (asked at least
    /// every second): a client that hung up, an agent that stops.
    pub fn wait_exit_cancellable(
        &self,
        id: ProcessId,
        timeout: Option<Duration>,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> WaitOutcome {
        let deadline = timeout.map(|t| Instant::now() + t);
        if !matches!(self.shared.feed, Feed::Ebpf) {
            return wait_gone(&self.shared.host, id, deadline, cancelled);
        }
        // While we wait, the kernel wakes the feed on every exit instead of batching.
        #[cfg(native_linux)]
        let _awaiting = self.shared.exit_wakeup.as_deref().map(Awaiting::new);
        let mut table = self.lock();
        let mut gone_at = None;
        loop {
            if let Some(entry) = table.find(id) {
                if entry.exit.is_some() {
                    return WaitOutcome::Exited(Some(Box::new(entry.clone())));
                }
            } else if !still_running(&self.shared.host, id) {
                // Gone, and the table does not know it: either its events are still in the
                // ring (it lived less than a drain interval), or it ended before the table
                // started. Wait until the feed has applied everything up to now to tell.
                let gone = *gone_at.get_or_insert_with(Clock::now_boot_ns);
                let applied = self
                    .shared
                    .applied_until_ns
                    .load(std::sync::atomic::Ordering::Acquire);
                if applied > gone {
                    return WaitOutcome::Exited(None);
                }
            }
            if let Some(reason) = self.shared.stopped.lock().ok().and_then(|s| s.clone()) {
                return WaitOutcome::FeedStopped(reason);
            }
            if cancelled() {
                return WaitOutcome::TimedOut;
            }
            let remaining = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(remaining) => remaining,
                    None => return WaitOutcome::TimedOut,
                },
                // Wake now and then to notice a process that ended unseen (lost events).
                None => Duration::from_secs(1),
            };
            table = self
                .shared
                .exits
                .wait_timeout(table, remaining.min(Duration::from_secs(1)))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

/// Holds immediate exit wake-ups on for as long as it lives.
#[cfg(native_linux)]
struct Awaiting<'a>(&'a crate::source::ebpf::ExitWakeup);

#[cfg(native_linux)]
impl<'a> Awaiting<'a> {
    fn new(wakeup: &'a crate::source::ebpf::ExitWakeup) -> Self {
        wakeup.enter();
        Awaiting(wakeup)
    }
}

#[cfg(native_linux)]
impl Drop for Awaiting<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitOutcome {
    /// The process is gone; its entry when the table saw it end.
    Exited(Option<Box<Entry>>),
    /// The timeout passed first.
    TimedOut,
    /// The event feed stopped (its error).
    FeedStopped(String),
}

/// Whether the process with this identity still exists (`/proc/PID/stat` with its start time).
pub fn still_running(host: &Host, id: ProcessId) -> bool {
    host.stat(id.pid)
        .is_ok_and(|stat| stat.starttime == id.start_ticks && stat.state != 'Z')
}

/// Waits for the process itself to end, on a pidfd.
#[cfg(native_linux)]
fn wait_gone(
    host: &Host,
    id: ProcessId,
    deadline: Option<Instant>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> WaitOutcome {
    let fd = loop {
        match crate::platform::Pidfd::open(id.pid) {
            Ok(fd) => break fd,
            // Only ESRCH says the process is gone; out of descriptors (EMFILE, ENFILE) or
            // anything else, it is looked for again in a moment, never declared gone.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return WaitOutcome::Exited(None),
            Err(e) => {
                tracing::warn!("pidfd_open({}) failed, retrying: {e}", id.pid);
                if cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
                    return WaitOutcome::TimedOut;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    // The pid may have been reused between the caller's check and pidfd_open.
    if !still_running(host, id) {
        return WaitOutcome::Exited(None);
    }
    loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let slice = remaining.map_or(Duration::from_secs(1), |r| r.min(Duration::from_secs(1)));
        match fd.wait_exit(Some(slice)) {
            Ok(true) => return WaitOutcome::Exited(None),
            Ok(false) | Err(_) => {
                if cancelled() || remaining.is_some_and(|r| r <= slice) {
                    return WaitOutcome::TimedOut;
                }
            }
        }
    }
}

/// Waits for the process itself to end, looking every 10 ms (no pidfds here).
#[cfg(not(native_linux))]
fn wait_gone(
    host: &Host,
    id: ProcessId,
    deadline: Option<Instant>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> WaitOutcome {
    while still_running(host, id) {
        if cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
            return WaitOutcome::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    WaitOutcome::Exited(None)
}

/// The feed: open the source, seed, then apply events until the process ends.
fn feed_thread(
    config: SourceConfig,
    table: ProcessTable,
    ready: std::sync::mpsc::Sender<Result<Arc<Shared>, String>>,
) {
    // An exit wakes this thread first: it must not wait for the exiting task's teardown.
    crate::platform::latency::prompt_wakeups();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start the async runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        let (mut source, notice) = match Source::open(&config) {
            Ok(opened) => opened,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let clock = match Clock::new() {
            Ok(clock) => clock,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let host = Host::new();
        let mut table = table;
        // Attached first, scanned second: nothing that happens during the scan is missed.
        // The scan reads identity, parent and name now; the rest follows on another thread
        // (and any query completes what is still missing first).
        let identity_only = SeedFields {
            exe: false,
            cmdline: false,
            ids: false,
        };
        let now = clock.epoch_seconds(Clock::now_boot_ns());
        if let Err(e) = table.seed_with(&host, now, identity_only) {
            let _ = ready.send(Err(format!("cannot scan /proc: {e}")));
            return;
        }
        // Scoped tracing: only the processes in the subtrees (no event will retire others).
        #[cfg(native_linux)]
        if !config.ebpf.scope.is_empty() {
            if let Some(mount) = crate::host::container::Hierarchy::discover().v2_mount() {
                if let Ok(scopes) = crate::source::ebpf::scope::resolve(&config.ebpf.scope, mount) {
                    table.retain_live(|pid| crate::source::ebpf::scope::process_in(&scopes, pid));
                }
            }
        }
        let shared = Arc::new(Shared {
            table: Mutex::new(table),
            exits: Condvar::new(),
            applied_until_ns: std::sync::atomic::AtomicU64::new(0),
            host: Host::new(),
            clock,
            feed: match source.backend() {
                Backend::Ebpf => Feed::Ebpf,
                polling => Feed::Polling(polling, config.interval),
            },
            stopped: Mutex::new(None),
            batches: tokio::sync::broadcast::channel(SUBSCRIBER_QUEUE / BATCH_EVENTS).0,
            batched: std::sync::atomic::AtomicU64::new(0),
            lost: tokio::sync::broadcast::channel(64).0,
            source_stats: Mutex::new(Some(source.stats())),
            #[cfg(native_linux)]
            exit_wakeup: match &source {
                Source::Ebpf(ebpf) => Some(ebpf.exit_wakeup()),
                _ => None,
            },
            notice,
        });
        let _ = ready.send(Ok(Arc::clone(&shared)));
        let completer = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("tracer-seed".into())
            .spawn(move || complete_pending(&completer));
        let error = run_feed(&mut source, &shared).await;
        if let Ok(mut stopped) = shared.stopped.lock() {
            *stopped = Some(error);
        }
        shared.exits.notify_all();
    });
}

/// Reads the fields the start-up scan left for later, a chunk at a time, outside the lock.
fn complete_pending(shared: &Shared) {
    let pending = shared
        .table
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pending();
    for chunk in pending.chunks(256) {
        let read: Vec<_> = chunk
            .iter()
            .map(|id| (*id, crate::table::read_missing(&shared.host, *id)))
            .collect();
        let mut table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
        for (id, missing) in read {
            table.fill(id, missing);
        }
    }
    // The scan's buffers are freed: give them back.
    #[cfg(unix)]
    crate::platform::malloc_trim();
}

/// How often the feed refreshes the source's counters, resynchronises after losses, settles
/// re-parented entries and expires old exits while events come.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// The same with no events since the last round: the source's thread counters and the
/// expiry of exited entries still move, slowly; nothing else does.
const IDLE_HOUSEKEEPING: Duration = Duration::from_secs(10);

async fn run_feed(source: &mut Source, shared: &Shared) -> String {
    let mut batch = Vec::with_capacity(4096);
    let mut seen_lost = 0;
    let mut last_check = Instant::now();
    // Events arrived since the last housekeeping round.
    let mut active = true;
    loop {
        // The eBPF source sleeps without a timer while the ring stays empty; housekeeping
        // wakes the feed on its own, rarely when nothing happens.
        let due = last_check
            + if active {
                HOUSEKEEPING
            } else {
                IDLE_HOUSEKEEPING
            };
        tokio::select! {
            result = source.next_batch(&mut batch, 4096) => {
                if let Err(e) = result {
                    return format!("reading the {} source failed: {e}", source.backend());
                }
            }
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        if !batch.is_empty() {
            active = true;
            let mut table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
            for event in &batch {
                table.apply(event);
            }
            drop(table);
            if shared.batches.receiver_count() > 0 {
                // Cut before sending: a subscriber woken by the first batch finds the others
                // queued already. The events move into their batch: no allocation per event.
                let mut events = batch.drain(..);
                let mut chunks = Vec::new();
                loop {
                    let chunk: Vec<Event> = events.by_ref().take(BATCH_EVENTS).collect();
                    if chunk.is_empty() {
                        break;
                    }
                    chunks.push(chunk);
                }
                drop(events);
                for chunk in chunks {
                    let first = shared
                        .batched
                        .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::AcqRel);
                    let _ = shared.batches.send(Arc::new(Batch {
                        first,
                        events: chunk,
                    }));
                }
            }
            batch.clear();
        }
        shared.applied_until_ns.store(
            source.delivered_until_ns(),
            std::sync::atomic::Ordering::Release,
        );
        if Instant::now() >= due {
            last_check = Instant::now();
            active = false;
            let now = shared.clock.epoch_seconds(Clock::now_boot_ns());
            let stats = source.stats();
            let lost = stats.lost();
            if let Ok(mut slot) = shared.source_stats.lock() {
                *slot = Some(stats);
            }
            let unsettled = shared
                .table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unsettled();
            let reads: Vec<_> = unsettled
                .into_iter()
                .map(|id| (id, shared.host.stat(id.pid)))
                .collect();
            let mut table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
            if lost > seen_lost {
                tracing::warn!(
                    "{} events lost: resynchronising the table from /proc",
                    lost - seen_lost
                );
                match table.resync(&shared.host, now) {
                    Ok(found) => {
                        let report = Lost::new(lost - seen_lost, lost, found, source.backend());
                        seen_lost = lost;
                        if shared.lost.receiver_count() > 0 {
                            let _ = shared.lost.send(Arc::new(report));
                        }
                    }
                    // Tried again at the next check (out of descriptors, most likely).
                    Err(e) => tracing::warn!("resynchronising from /proc failed: {e}"),
                }
            }
            table.settle(reads, now);
            table.expire(now);
        }
        // Waiters re-check after every drain: for exits, and for processes that came and went
        // within one drain interval.
        shared.exits.notify_all();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A polling subscriber takes every event in order, and counts exactly what it lost by
    /// falling behind (the gap in sequence numbers, not the number of batches).
    #[test]
    fn a_subscription_counts_the_events_it_fell_behind_by() {
        let event = |pid: u32| Event {
            time: 1.0,
            id: ProcessId {
                pid,
                start_ticks: 1,
            },
            create_time: 1.0,
            ppid: 1,
            uid: 0,
            gid: 0,
            name: "true".into(),
            backend: Backend::Ebpf,
            placement: None,
            details: crate::event::Details::Fork { parent_pid: 1 },
        };
        let (sender, batches) = tokio::sync::broadcast::channel(2);
        let mut subscription = Subscription {
            batches,
            next: 0,
            current: None,
            index: 0,
        };
        assert!(matches!(subscription.poll(), Polled::Empty));
        let mut first = 0;
        let mut send = |pids: &[u32]| {
            let events: Vec<Event> = pids.iter().map(|pid| event(*pid)).collect();
            let len = events.len() as u64;
            sender.send(Arc::new(Batch { first, events })).unwrap();
            first += len;
        };
        send(&[1, 2]);
        let pids = |subscription: &mut Subscription| {
            let mut seen = Vec::new();
            loop {
                match subscription.poll() {
                    Polled::Event(event) => {
                        let pid = event.id.pid;
                        assert_eq!(subscription.current().map(|e| e.id.pid), Some(pid));
                        seen.push(pid);
                    }
                    Polled::Lost(n) => seen.push(1_000 + n as u32),
                    Polled::Empty => return seen,
                    Polled::Closed => panic!("closed"),
                }
            }
        };
        assert_eq!(pids(&mut subscription), [1, 2]);
        // Four batches into a queue of two: the first two (3 events) are lost.
        send(&[3]);
        send(&[4, 5]);
        send(&[6]);
        send(&[7, 8, 9]);
        assert_eq!(pids(&mut subscription), [1_003, 6, 7, 8, 9]);
        drop(sender);
        assert!(matches!(subscription.poll(), Polled::Closed));
    }

    /// What a resynchronisation found reaches subscribers as synthesized exits and execs.
    #[test]
    fn loss_reports_carry_synthesized_events() {
        let entry = |pid: u32, exit: Option<f64>| Entry {
            id: ProcessId {
                pid,
                start_ticks: 7,
            },
            create_time: 100.0,
            ppid: 1,
            comm: "sh".into(),
            exe: Some("/bin/sh".into()),
            cmdline: Some(vec!["sh".into(), "-c".into()]),
            uids: Some([1000; 3]),
            gids: Some([100; 3]),
            origin: crate::table::Origin::Seeded,
            updated: 110.0,
            ppid_stale: false,
            zombie: false,
            pending: false,
            exit: exit.map(|time| Box::new(crate::table::ExitInfo { time, status: None })),
            placement: None,
        };
        let found = crate::table::Resynced {
            vanished: vec![entry(5, Some(112.0))],
            appeared: vec![entry(6, None)],
        };
        let lost = Lost::new(3, 10, found, Backend::Ebpf);
        assert_eq!((lost.count, lost.total), (3, 10));
        let mut out = Vec::new();
        let shown = crate::render::events::Shown {
            private: true,
            synthesized: true,
        };
        for event in lost.vanished.iter().chain(&lost.appeared) {
            crate::render::events::write_json_line_shown(&mut out, event, shown);
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(r#"{"event":"exit","time":112.0,"pid":5,"#),
            "{text}"
        );
        assert!(lines[0].contains(r#""synthesized":true,"#), "{text}");
        assert!(
            lines[0]
                .contains(r#""exit_code":null,"signal":null,"core_dumped":false,"duration":12.0"#),
            "{text}"
        );
        assert!(
            lines[1].starts_with(r#"{"event":"exec","time":110.0,"pid":6,"#),
            "{text}"
        );
        assert!(
            lines[1].contains(r#""synthesized":true,"#)
                && lines[1].contains(r#""exe":"/bin/sh","cmdline":["sh","-c"]"#),
            "{text}"
        );
        let hidden = crate::render::events::Shown {
            private: false,
            synthesized: false,
        };
        let mut out = Vec::new();
        crate::render::events::write_json_line_shown(&mut out, &lost.appeared[0], hidden);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.contains(r#""synthesized":false,"#) && line.contains(r#""exe":null"#),
            "{line}"
        );
    }
}
