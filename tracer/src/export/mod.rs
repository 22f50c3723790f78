//! The agent's exporters: every lifecycle event, after the table applied it, sent on to the
//! fleet's pipelines — OTLP log records to an OpenTelemetry collector ([`otlp`]) and JSON lines
//! in size-rotated files for log shippers ([`mod@file`]).
//!
//! Each exporter subscribes to the table's event broadcast ([`Tracer::subscribe`]) and runs on
//! threads of its own, so a slow disk or a dead collector never slows the feed: the
//! broadcast's queue and the exporter's own are bounded, and whatever does not fit is dropped
//! and counted ([`ExporterCounters`], shown by `tracer stats` and the metrics). Every exporter
//! is off unless asked for; a failing one is logged and counted, never fatal to the agent.

pub mod file;
pub mod otlp;
pub mod otlp_metrics;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::stats::ExporterStats;
use crate::table::live::{Polled, Subscription, Tracer};

/// Which exporters the agent runs (none by default).
#[derive(Debug, Clone, Default)]
pub struct ExportConfig {
    /// OTLP log records (HTTP or gRPC) to a collector.
    pub otlp: Option<otlp::OtlpConfig>,
    /// Rotated JSON-lines files.
    pub file: Option<file::FileConfig>,
}

impl ExportConfig {
    /// Whether any exporter is configured.
    pub fn any(&self) -> bool {
        self.otlp.is_some() || self.file.is_some()
    }
}

/// One exporter's counters, shared between its threads and the agent's `stats`.
#[derive(Debug)]
pub struct ExporterCounters {
    /// `otlp` or `file`.
    pub name: &'static str,
    /// Where it sends: the URL or the file path.
    pub target: String,
    /// Events delivered (accepted by the collector, written to the file).
    pub exported: AtomicU64,
    /// Events lost: the queue was full, or the exporter gave them up after its retries.
    pub dropped: AtomicU64,
    /// Requests or writes that failed (each is retried or its events counted as dropped).
    pub errors: AtomicU64,
    /// Retries of failed requests or writes.
    pub retries: AtomicU64,
    /// Events waiting in the exporter's own queue now.
    pub queued: AtomicU64,
    /// The last failure, for `tracer stats`.
    pub last_error: Mutex<Option<String>>,
}

impl ExporterCounters {
    fn new(name: &'static str, target: String) -> Arc<Self> {
        Arc::new(ExporterCounters {
            name,
            target,
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records a failure: counted, kept for `stats`.
    fn failed(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    /// A snapshot for [`crate::stats::Stats`].
    pub fn snapshot(&self) -> ExporterStats {
        ExporterStats {
            name: self.name.to_string(),
            target: self.target.clone(),
            exported: self.exported.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// The running exporters.
#[derive(Debug, Default)]
pub struct Exporters {
    counters: Vec<Arc<ExporterCounters>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Exporters {
    /// Starts the configured exporters on `tracer`'s events (and, with OTLP and `groups`,
    /// the groups' metrics). It does not fail: an exporter whose target cannot be reached or
    /// opened yet keeps trying, and says so in the log and its counters.
    pub fn start(
        tracer: &Tracer,
        config: &ExportConfig,
        groups: Option<&crate::groups::Groups>,
    ) -> Exporters {
        let exporters = Exporters::default();
        let mut counters = Vec::new();
        let mut threads = Vec::new();
        if let Some(otlp) = &config.otlp {
            tracing::info!(
                "exporting events as OTLP log records to {} ({})",
                otlp.logs_url,
                otlp.logs_protocol.name()
            );
            let c = ExporterCounters::new("otlp", otlp.logs_url.clone());
            match otlp::start(otlp.clone(), exporters.receiver(tracer, &c)) {
                Ok(handles) => threads.extend(handles),
                Err(e) => c.failed(format!("cannot start the OTLP exporter: {e}")),
            }
            counters.push(c);
            if let Some(groups) = groups {
                tracing::info!(
                    "exporting the groups as OTLP metrics to {} ({}) every {}s",
                    otlp.metrics_url,
                    otlp.metrics_protocol.name(),
                    otlp.metrics_interval.as_secs_f64()
                );
                let c = ExporterCounters::new("otlp-metrics", otlp.metrics_url.clone());
                let stop = Arc::clone(&exporters.stop);
                match otlp_metrics::start(otlp.clone(), groups.clone(), Arc::clone(&c), stop) {
                    Ok(handle) => threads.push(handle),
                    Err(e) => c.failed(format!("cannot start the OTLP metrics exporter: {e}")),
                }
                counters.push(c);
            }
        }
        if let Some(file) = &config.file {
            tracing::info!(
                "exporting events as JSON lines to {} (rotated at {} bytes, {} kept)",
                file.path.display(),
                file.max_bytes,
                file.keep
            );
            let c = ExporterCounters::new("file", file.path.display().to_string());
            match file::start(file.clone(), exporters.receiver(tracer, &c)) {
                Ok(handle) => threads.push(handle),
                Err(e) => c.failed(format!("cannot start the file exporter: {e}")),
            }
            counters.push(c);
        }
        for c in &counters {
            if let Some(error) = c.last_error.lock().ok().and_then(|e| e.clone()) {
                tracing::error!("{error}");
            }
        }
        Exporters {
            counters,
            threads: Mutex::new(threads),
            ..exporters
        }
    }

    fn receiver(&self, tracer: &Tracer, counters: &Arc<ExporterCounters>) -> Receiver {
        Receiver {
            events: tracer.subscribe(),
            counters: Arc::clone(counters),
            stop: Arc::clone(&self.stop),
            lag_warning: RateLimited::default(),
            took_events: false,
        }
    }

    /// Every exporter's counters now.
    pub fn stats(&self) -> Vec<ExporterStats> {
        self.counters.iter().map(|c| c.snapshot()).collect()
    }

    /// Asks the exporters to write or send what they hold and stop; waits up to `timeout`.
    pub fn stop(&self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + timeout;
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for thread in threads {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// What [`Receiver::next`] got.
pub(crate) enum Next<'a> {
    /// An event.
    Event(&'a Event),
    /// Nothing arrived within the wait.
    Idle,
    /// The agent is stopping (or the feed ended): write or send what is held, then return.
    Stop,
}

/// How often an exporter looks for new events when it has found none. It polls rather than
/// waits to be woken: the feed's sends then wake nobody, and one look takes every event of
/// the interval (the broadcast holds 16,384, about a second of the heaviest storm here).
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// An exporter's end of the event stream. Events the exporter fell too far behind to
/// receive are counted as dropped.
pub(crate) struct Receiver {
    events: Subscription,
    counters: Arc<ExporterCounters>,
    stop: Arc<AtomicBool>,
    lag_warning: RateLimited,
    /// Events were returned since the last `Idle`.
    took_events: bool,
}

impl Receiver {
    /// The next event; when none is queued, [`Next::Idle`] after at most `wait` (and at most
    /// [`POLL_INTERVAL`]).
    /// The first `Idle` after events comes at once, so that the caller writes or sends
    /// them without waiting.
    pub(crate) fn next(&mut self, wait: Duration) -> Next<'_> {
        let mut slept = false;
        loop {
            match self.events.poll() {
                // Returned after the loop through `current()`: the borrow checker cannot yet
                // return a borrow from one arm of a loop whose other arms use `self`.
                Polled::Event(_) => break,
                Polled::Lost(n) => self.lagged(n),
                Polled::Closed => return Next::Stop,
                Polled::Empty => {
                    // Everything queued is taken before a stop.
                    if self.stop.load(Ordering::Relaxed) {
                        return Next::Stop;
                    }
                    if slept || std::mem::take(&mut self.took_events) {
                        return Next::Idle;
                    }
                    std::thread::sleep(wait.min(POLL_INTERVAL));
                    slept = true;
                }
            }
        }
        self.took_events = true;
        match self.events.current() {
            Some(event) => Next::Event(event),
            None => Next::Idle,
        }
    }

    fn lagged(&mut self, n: u64) {
        ExporterCounters::add(&self.counters.dropped, n);
        if self.lag_warning.ready() {
            tracing::warn!(
                "{} exporter fell behind the event feed: {n} events dropped ({} in all)",
                self.counters.name,
                self.counters.dropped.load(Ordering::Relaxed)
            );
        }
    }

    /// The counters this exporter reports into.
    pub(crate) fn counters(&self) -> &Arc<ExporterCounters> {
        &self.counters
    }
}

/// Runs an exporter thread's body; a panic in it is logged and counted (the exporter stops,
/// the agent goes on).
pub(crate) fn guarded(counters: Arc<ExporterCounters>, body: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let error = format!("the {} exporter stopped: {what}", counters.name);
        tracing::error!("{error}");
        counters.failed(error);
    }
}

/// A log line at most every 30 s for a failure that repeats.
#[derive(Debug, Default)]
pub(crate) struct RateLimited {
    last: Option<Instant>,
}

impl RateLimited {
    /// Whether to log now.
    pub(crate) fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(30))
        {
            return false;
        }
        self.last = Some(now);
        true
    }

    /// The failure is over: the next one logs at once.
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }
}

/// Sleeps `duration` in short steps, returning early (`false`) when the agent stops.
pub(crate) fn sleep_unless_stopping(receiver_stop: &AtomicBool, duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if receiver_stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    !receiver_stop.load(Ordering::Relaxed)
}

impl Receiver {
    /// The stop flag, for a thread of the exporter that does not receive.
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}
