//! What the agent samples by itself, so that figures comparing two moments are meaningful on
//! a client's first call (psutil's first `cpu_percent()` says `0.0`).
//!
//! Every [`PERIOD`] a thread of its own reads the system's CPU times (`/proc/stat`) and the
//! disk and network counters (`/proc/diskstats`, `/proc/net/dev`): six small reads a second —
//! but only while clients use them: sampling starts with a `sys` request and stops [`IDLE_AFTER`]
//! after the last one, so an idle agent does not wake each second for figures nobody reads.
//! A `sys` request then compares with the newest CPU sample at least half a second old (so
//! over a window of 0.5–1.5 s), reads the I/O counters through `nowrap` memory kept since the
//! agent started, and shows the throughput between the last two samples. The first request
//! after a pause samples on the spot, so it compares with the last sample before the pause:
//! `cpu_percent` and the throughput are the averages over the pause (psutil's
//! `cpu_percent(interval=None)`: since the last call), never figures from before it.
//!
//! Processes' `cpu_percent` is not sampled in the background — reading every process's CPU
//! times each second costs too much on a host with 10,000 of them. Each query samples the
//! processes it asks about and keeps the samples for the next (`crate::query::cpu_samples`); the
//! agent makes a process's first query compare with the process's start (its average since
//! then, as `ps`'s `%CPU`) instead of saying `0.0`, and drops ended processes' samples once a
//! minute.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::agent::protocol::Section;
use crate::host::procfs::Procfs;
use crate::query::access::{Creds, Viewer};
use crate::query::cpu_samples::{CpuSamples, MIN_WINDOW};
use crate::query::Format;
use crate::render;
use crate::system::collect::{self, Collected, CpuWindow, IoMemory, IoRates, Sections};
use crate::system::{DiskIo, NetIo, Sampler};

/// How often the agent samples the system's counters.
pub const PERIOD: Duration = Duration::from_secs(1);

/// How long sampling goes on after the last request that used it.
pub const IDLE_AFTER: Duration = Duration::from_secs(30);

/// How often ended processes' CPU samples are dropped (sampling or not: `ps` queries add
/// samples without using the system's).
const PRUNE_PERIOD: Duration = Duration::from_secs(60);

/// Totals of the I/O counters at one moment.
type IoTotals = (Option<DiskIo>, Option<NetIo>);

struct State {
    /// cpu_percent baselines, oldest first (at most two).
    baselines: VecDeque<(Instant, Sampler)>,
    /// psutil's `nowrap` memory, fed every period.
    io: IoMemory,
    /// The last totals, for the rates.
    last_io: Option<(Instant, IoTotals)>,
    /// Throughput between the last two samples.
    rates: Option<IoRates>,
}

/// When the counters are sampled.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between two samples while in use.
    pub period: Duration,
    /// How long after the last use sampling stops.
    pub idle_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            period: PERIOD,
            idle_after: IDLE_AFTER,
        }
    }
}

/// The system's counters, sampled every [`PERIOD`] while clients use them.
pub struct SystemSampling {
    state: Mutex<State>,
    timing: Timing,
    /// When a request last used the samples (`None`: never).
    used: Mutex<Option<Instant>>,
    /// Wakes the sampling thread when a request ends a pause.
    wake: Condvar,
    /// Samples taken since start (for tests and the agent's stats).
    samples: AtomicU64,
}

impl Default for SystemSampling {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemSampling {
    /// Takes the first sample now.
    pub fn new() -> Self {
        Self::with_timing(Timing::default())
    }

    /// Takes the first sample now; samples every `timing.period` while in use.
    pub fn with_timing(timing: Timing) -> Self {
        let sampling = SystemSampling {
            state: Mutex::new(State {
                baselines: VecDeque::with_capacity(3),
                io: IoMemory::default(),
                last_io: None,
                rates: None,
            }),
            timing,
            used: Mutex::new(None),
            wake: Condvar::new(),
            samples: AtomicU64::new(0),
        };
        sampling.sample();
        sampling
    }

    /// Samples taken since start.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Whether a request used the samples within `idle_after` of `now`.
    fn in_use(&self, used: Option<Instant>, now: Instant) -> bool {
        used.is_some_and(|at| now.saturating_duration_since(at) < self.timing.idle_after)
    }

    /// Whether sampling runs now (a request used it lately).
    pub fn active(&self) -> bool {
        let used = *self.used.lock().unwrap_or_else(|p| p.into_inner());
        self.in_use(used, Instant::now())
    }

    /// Records a use. After a pause (or at the first use) it samples now, so the answer
    /// compares with the last sample before the pause, and wakes the sampling thread.
    pub fn touch(&self) {
        let now = Instant::now();
        let was_idle = {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            let idle = !self.in_use(*used, now);
            *used = Some(now);
            idle
        };
        if was_idle {
            self.sample();
            self.wake.notify_all();
        }
    }

    /// Waits until sampling is in use, at most `limit`; says whether it is.
    fn wait_for_use(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            if self.in_use(*used, now) {
                return true;
            }
            if now >= deadline {
                return false;
            }
            used = match self.wake.wait_timeout(used, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The sampling thread's loop: a sample every period while in use, asleep otherwise;
    /// `every_prune_period` runs about once per [`PRUNE_PERIOD`] either way.
    fn run(&self, mut every_prune_period: impl FnMut()) -> ! {
        let mut pruned = Instant::now();
        loop {
            if self.wait_for_use(PRUNE_PERIOD) {
                std::thread::sleep(self.timing.period);
                if self.active() {
                    self.sample();
                }
            }
            if pruned.elapsed() >= PRUNE_PERIOD {
                every_prune_period();
                pruned = Instant::now();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the counters once more.
    pub fn sample(&self) {
        let baseline = Sampler::new();
        let now = Instant::now();
        let mut state = self.lock();
        let io = &mut state.io;
        let totals: IoTotals = (
            io.total.disk_io_counters(true).ok().flatten(),
            io.total.net_io_counters(true).ok().flatten(),
        );
        // Only to keep their `nowrap` memory current: a wrap is seen when it happens.
        let _ = io.each.disk_io_counters_perdisk(true);
        let _ = io.each.net_io_counters_pernic(true);
        if let Some((then, before)) = state.last_io.take() {
            state.rates = Some(IoRates::between(now - then, before, totals));
        }
        state.last_io = Some((now, totals));
        state.baselines.push_back((now, baseline));
        while state.baselines.len() > 2 {
            state.baselines.pop_front();
        }
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// The newest CPU baseline at least [`MIN_WINDOW`] old (else the oldest there is), a copy
    /// of the `nowrap` memory, and the rates.
    fn snapshot(&self) -> (CpuWindow, IoMemory, Option<IoRates>) {
        let state = self.lock();
        let now = Instant::now();
        let (since, sampler) = state
            .baselines
            .iter()
            .rev()
            .find(|(at, _)| now.duration_since(*at) >= MIN_WINDOW)
            .or_else(|| state.baselines.front())
            .cloned()
            .unwrap_or_else(|| (now, Sampler::new()));
        let window = CpuWindow {
            sampler,
            since,
            until: None,
        };
        (window, state.io.clone(), state.rates)
    }

    /// The figures of `sections`, comparing with this sampling's memory: `cpu_percent` with
    /// the newest baseline at least `MIN_WINDOW` old, the I/O counters through the `nowrap`
    /// memory kept since the agent started, the throughput of the last period in
    /// `report.rates`. The agent's typed answer to a `sys` request.
    pub fn collect(&self, sections: Sections) -> Collected {
        let (cpu, mut io, rates) = self.snapshot();
        collect::collect(sections, Some(cpu), Some(&mut io), rates)
    }

    /// Answers a `sys` request: `sections` rendered as `tracer sys` prints them. Figures that
    /// cannot be read are null (JSON) or `-` (text), and logged.
    /// A socket's owner is shown only to a viewer that may ptrace-read it (psutil run by that
    /// viewer could not read the owner's descriptors): null pid and fd -1 otherwise.
    pub fn answer(&self, sections: &[Section], format: Format, viewer: &Viewer) -> Vec<u8> {
        self.touch();
        let mut collected = self.collect(sections_of(sections));
        if !viewer.sees_all() {
            let connections = collected
                .report
                .net
                .as_mut()
                .and_then(|net| net.net_connections.as_mut());
            for connection in connections.into_iter().flatten() {
                let readable = connection.pid.is_some_and(|pid| {
                    Creds::read_pid(pid).is_some_and(|creds| viewer.may_read(&creds))
                });
                if !readable {
                    connection.pid = None;
                    connection.fd = -1;
                }
            }
        }
        for warning in &collected.warnings {
            tracing::debug!("sys: {warning}");
        }
        let out = match format {
            Format::Json => render::sys::json(&collected.report),
            Format::Text => render::sys::text(&collected.report),
        };
        out.into_bytes()
    }
}

/// The sections named on the command line or in a `sys` request (none: all).
pub fn sections_of(names: &[Section]) -> Sections {
    if names.is_empty() || names.contains(&Section::All) {
        return Sections::ALL;
    }
    let has = |section: Section| names.contains(&section);
    Sections {
        cpu: has(Section::Cpu),
        memory: has(Section::Memory),
        disk: has(Section::Disk),
        net: has(Section::Net),
        sensors: has(Section::Sensors),
        system: false,
    }
}

static SYSTEM: OnceLock<SystemSampling> = OnceLock::new();

/// The agent's system sampling (created, with its first sample, on first use).
pub fn system() -> &'static SystemSampling {
    SYSTEM.get_or_init(SystemSampling::new)
}

/// Starts sampling on a thread of its own: the system's counters every [`PERIOD`] while `sys`
/// requests use them, and once a minute dropping the CPU samples of processes that ended.
/// `processes` (the agent's collector's samples) also switches to comparing a process's first
/// query with its start.
pub fn start(processes: CpuSamples, procfs: Procfs) {
    processes.set_first_since_start(true);
    let system = system();
    let spawned = std::thread::Builder::new()
        .name("tracer-sampling".into())
        .spawn(move || system.run(|| processes.prune(&procfs)));
    if let Err(e) = spawned {
        tracing::warn!("cannot start sampling ({e}): cpu_percent compares with the last query");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_answer_has_a_real_window() {
        let sampling = SystemSampling::new();
        std::thread::sleep(Duration::from_millis(550));
        sampling.sample();
        let (window, _, rates) = sampling.snapshot();
        // The first sample (≥ 0.5 s old) is the baseline, not the one just taken.
        assert!(window.since.elapsed() >= MIN_WINDOW);
        let rates = rates.expect("two samples give rates");
        assert!(rates.window >= Duration::from_millis(500));
        let report = sampling.collect(sections_of(&[Section::Cpu])).report;
        assert!(report.memory.is_none() && report.boot_time.is_none());
        let cpu = report.cpu.expect("the cpu section was asked for");
        assert!(cpu.cpu_percent.is_some(), "{cpu:?}");
        assert!(cpu.window >= MIN_WINDOW, "{cpu:?}");
        let shares: f64 = cpu
            .cpu_times_percent
            .expect("cpu_times_percent is read")
            .values()
            .iter()
            .sum();
        assert!(shares > 0.0, "a window was measured: {cpu:?}");
    }

    #[test]
    fn samples_only_while_used_and_the_first_answer_after_a_pause_spans_it() {
        let timing = Timing {
            period: Duration::from_millis(50),
            idle_after: Duration::from_millis(400),
        };
        let sampling: &'static SystemSampling =
            Box::leak(Box::new(SystemSampling::with_timing(timing)));
        std::thread::spawn(move || sampling.run(|| {}));

        // Nobody asked: only the first sample, however long the thread runs.
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(sampling.samples(), 1);
        assert!(!sampling.active());

        // The first request samples on the spot and compares with the sample before the
        // pause: its window spans the pause, not a fresh half second.
        let viewer = Viewer::peer(0, 0, None, crate::query::access::ProcMount::read());
        let answer = sampling.answer(&[Section::Cpu], Format::Json, &viewer);
        assert!(!answer.is_empty());
        assert_eq!(sampling.samples(), 2, "sampled on demand");
        let cpu = sampling.collect(sections_of(&[Section::Cpu])).report.cpu;
        let cpu = cpu.expect("the cpu section was asked for");
        assert!(cpu.window >= Duration::from_millis(600), "{cpu:?}");
        assert!(sampling.active());

        // In use: a sample every period.
        std::thread::sleep(Duration::from_millis(300));
        let during = sampling.samples();
        assert!(during >= 4, "sampling while used: {during} samples");

        // Idle again: sampling stops.
        std::thread::sleep(Duration::from_millis(400));
        assert!(!sampling.active());
        let stopped = sampling.samples();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(sampling.samples(), stopped, "no samples once idle");

        // And starts again with the next request.
        sampling.touch();
        std::thread::sleep(Duration::from_millis(300));
        assert!(sampling.samples() >= stopped + 4);
    }
}
