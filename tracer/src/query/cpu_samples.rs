//! The CPU-time samples behind a process's `cpu_percent`: what a query compares a process's
//! CPU time with.
//!
//! psutil's `Process.cpu_percent()` compares with the previous call on the same `Process`
//! object and says `0.0` the first time. A [`Collector`](crate::query::attrs::Collector) keeps one
//! sample per process across queries in the same way, with two refinements:
//!
//! - **A window of at least [`MIN_WINDOW`].** Each process keeps its two latest samples, and a
//!   query compares with the newest one that is at least half a second old. Two clients
//!   querying a few milliseconds apart (two `tracer top`s, or a `ps` while `top` runs) both
//!   get a figure measured over 0.5–2 s, not the noise of a 3 ms window.
//! - **Since the start, on request.** The agent turns on
//!   [`CpuSamples::set_first_since_start`]: the first query about a process then compares
//!   with the process's start — its average since it started, what `ps` shows as `%CPU` —
//!   instead of psutil's meaningless `0.0`. Later queries compare with the previous query.
//!   Direct mode leaves it off and keeps psutil's semantics.
//!
//! Nothing is sampled in the background: sampling 10,000 processes' CPU times every second to
//! have a fresh baseline would cost more than the queries it serves. Samples of processes that
//! ended are dropped by [`CpuSamples::prune`], which the agent runs once a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::host::Host;

/// The shortest window a `cpu_percent` is measured over once a process has two samples.
pub const MIN_WINDOW: Duration = Duration::from_millis(500);

/// A process's identity in the samples: pid and start time in clock ticks since boot.
pub type SampleKey = (u32, u64);

/// One reading of a process's CPU time (user + system, seconds).
#[derive(Debug, Clone, Copy)]
struct Sample {
    busy: f64,
    at: Instant,
}

/// The two latest samples of one process.
#[derive(Debug, Clone, Copy)]
struct Track {
    older: Option<Sample>,
    newer: Sample,
}

#[derive(Debug, Default)]
struct Inner {
    tracks: HashMap<SampleKey, Track>,
    first_since_start: bool,
}

/// Per-process CPU-time samples, shared: clones are handles to the same samples, so a
/// background task can prune them without holding the collector.
#[derive(Debug, Default, Clone)]
pub struct CpuSamples {
    inner: Arc<Mutex<Inner>>,
}

#[cfg_attr(
    not(native_linux),
    allow(
        dead_code,
        reason = "the agent, which keeps samples between queries, is Linux's"
    )
)]
impl CpuSamples {
    /// No samples yet; a process's first query says `0.0`, as psutil.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the first query about a process compares with its start (`ps`'s `%CPU`)
    /// rather than saying `0.0` (psutil's first call).
    pub fn set_first_since_start(&self, on: bool) {
        self.lock().first_since_start = on;
    }

    /// Processes sampled.
    pub fn len(&self) -> usize {
        self.lock().tracks.len()
    }

    /// Whether no process is sampled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `cpu_percent` of the process `key`, whose CPU time (user + system) is `busy` seconds
    /// now and which started at `create_time` (seconds since the epoch), in percent of one
    /// CPU with one decimal, as psutil: 100.0 is one CPU fully busy.
    pub fn percent(&self, key: SampleKey, busy: f64, create_time: f64) -> f64 {
        let now = Instant::now();
        let mut inner = self.lock();
        let first_since_start = inner.first_since_start;
        let Some(track) = inner.tracks.get_mut(&key) else {
            // The process's start as a sample: no CPU time yet, `alive` seconds ago.
            let start = Some(epoch_now() - create_time)
                .filter(|alive| first_since_start && *alive > 0.0)
                .and_then(|alive| now.checked_sub(Duration::from_secs_f64(alive)))
                .map(|at| Sample { busy: 0.0, at });
            let newer = Sample { busy, at: now };
            inner.tracks.insert(
                key,
                Track {
                    older: start,
                    newer,
                },
            );
            return start.map_or(0.0, |start| usage(start, newer));
        };
        let newer_age = now.duration_since(track.newer.at);
        let base = match track.older {
            Some(older) if newer_age < MIN_WINDOW => older,
            _ => track.newer,
        };
        let current = Sample { busy, at: now };
        // Keep the newest sample at least MIN_WINDOW old, so that the next query has a window
        // worth measuring whenever it comes.
        if newer_age >= MIN_WINDOW {
            track.older = Some(track.newer);
            track.newer = current;
        }
        usage(base, current)
    }

    /// Keeps only the processes for which `keep(pid, start_ticks)` is true.
    pub fn retain(&self, mut keep: impl FnMut(u32, u64) -> bool) {
        self.lock()
            .tracks
            .retain(|&(pid, ticks), _| keep(pid, ticks));
    }

    /// Drops the samples of processes that ended (or whose pid now names another process):
    /// one read of `/proc/PID/stat` per sampled process, without holding the samples locked.
    pub fn prune(&self, host: &Host) {
        let keys: Vec<SampleKey> = self.lock().tracks.keys().copied().collect();
        let gone: Vec<SampleKey> = keys
            .into_iter()
            .filter(|&(pid, ticks)| host.stat(pid).map_or(true, |s| s.starttime != ticks))
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for key in gone {
            inner.tracks.remove(&key);
        }
    }
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// CPU time used between two samples over the wall time between them, in percent of one
/// CPU, one decimal (psutil's rounding).
fn usage(before: Sample, after: Sample) -> f64 {
    let wall = after.at.saturating_duration_since(before.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    let percent = (after.busy - before.busy).max(0.0) / wall * 100.0;
    (percent * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_query_is_zero_like_psutil_unless_since_start() {
        let samples = CpuSamples::new();
        assert_eq!(samples.percent((10, 1), 5.0, epoch_now() - 10.0), 0.0);
        let since_start = CpuSamples::new();
        since_start.set_first_since_start(true);
        // 5 s of CPU over 10 s alive: 50 %.
        let p = since_start.percent((10, 1), 5.0, epoch_now() - 10.0);
        assert!((49.0..=51.0).contains(&p), "{p}");
    }

    #[test]
    fn window_is_at_least_half_a_second() {
        let samples = CpuSamples::new();
        let key = (7, 3);
        samples.percent(key, 0.0, 0.0);
        std::thread::sleep(Duration::from_millis(600));
        // 0.3 s of CPU over ~0.6 s.
        let p = samples.percent(key, 0.3, 0.0);
        assert!((40.0..=51.0).contains(&p), "{p}");
        // Right after: compares with the older sample (≥ 0.5 s back), not with the last query.
        let p = samples.percent(key, 0.3, 0.0);
        assert!((40.0..=51.0).contains(&p), "{p}");
        // A pid reused by another process is another key.
        assert_eq!(samples.percent((7, 4), 9.0, 0.0), 0.0);
        assert_eq!(samples.len(), 2);
        samples.retain(|_, ticks| ticks == 3);
        assert_eq!(samples.len(), 1);
    }

    #[test]
    fn prune_drops_ended_processes() {
        let samples = CpuSamples::new();
        let host = Host::new();
        let me = host.stat(std::process::id()).unwrap();
        samples.percent((std::process::id(), me.starttime), 0.0, 0.0);
        samples.percent((std::process::id(), me.starttime + 1), 0.0, 0.0);
        samples.percent((u32::MAX - 1, 1), 0.0, 0.0);
        samples.prune(&host);
        assert_eq!(samples.len(), 1);
    }
}
