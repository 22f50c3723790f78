//! Scheduler accounting (`tracer agent --sched`): reading what the sched programs keep in
//! their maps — per process (`PROC_SCHED`), for the `oncpu_time` and `runq_latency`
//! attributes, and for the host (`HOST_SCHED`, per CPU), for the metrics' histograms.
//!
//! The maps belong to the one eBPF source that loaded the programs; while it runs it
//! registers them here, so queries anywhere in the process can read them.

use std::sync::{Arc, RwLock};

use aya::maps::{HashMap, MapData, PerCpuArray};
use tracer_common::{HostSched, ProcSched, SchedSummary, SCHED_BUCKETS};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::event::{ProcessId, SchedUsage};
use crate::host::clock::Clock;

/// The sched programs' maps, readable from any thread.
pub struct SchedMaps {
    procs: HashMap<MapData, u32, ProcSched>,
    host: PerCpuArray<MapData, HostSched>,
    clock: Clock,
}

static ACTIVE: RwLock<Option<Arc<SchedMaps>>> = RwLock::new(None);

/// The maps of the scheduler accounting that runs in this process, if any.
pub fn active() -> Option<Arc<SchedMaps>> {
    ACTIVE.read().ok().and_then(|maps| maps.clone())
}

/// Registers the maps of a source that loaded the sched programs (until [`unregister`]).
pub(super) fn register(maps: Arc<SchedMaps>) {
    if let Ok(mut active) = ACTIVE.write() {
        *active = Some(maps);
    }
}

/// Forgets `maps` when they are the registered ones (their source is closing).
pub(super) fn unregister(maps: &Arc<SchedMaps>) {
    if let Ok(mut active) = ACTIVE.write() {
        if active.as_ref().is_some_and(|a| Arc::ptr_eq(a, maps)) {
            *active = None;
        }
    }
}

/// One process's accounting, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSched {
    /// On-CPU time and run-queue latency sums.
    pub usage: SchedUsage,
    /// Run-queue waits per log2 bucket: `(upper bound in seconds, count)`, empty buckets
    /// left out.
    pub histogram: Vec<(f64, u64)>,
}

impl SchedMaps {
    pub(super) fn new(
        procs: HashMap<MapData, u32, ProcSched>,
        host: PerCpuArray<MapData, HostSched>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            procs,
            host,
            clock: Clock::new()?,
        })
    }

    /// The accounting of process `id` since it first ran with the programs attached; `None`
    /// when there is none (not run since, or the pid now belongs to another process).
    pub fn process(&self, id: ProcessId) -> Option<ProcessSched> {
        let stats = self.procs.get(&id.pid, 0).ok()?;
        if self.clock.ticks_from_boot_ns(stats.start_boottime_ns) != id.start_ticks {
            return None;
        }
        Some(ProcessSched {
            usage: summary(&stats.summary),
            histogram: stats
                .runq_hist
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(bucket, count)| (upper_bound(bucket), *count))
                .collect(),
        })
    }

    /// The host's histograms, summed over CPUs.
    pub fn host(&self) -> Option<HostSched> {
        let per_cpu = self.host.get(&0, 0).ok()?;
        let mut total = HostSched {
            runq_hist: [0; SCHED_BUCKETS],
            runq_count: 0,
            runq_sum_ns: 0,
            slice_hist: [0; SCHED_BUCKETS],
            slice_count: 0,
            slice_sum_ns: 0,
        };
        for cpu in per_cpu.iter() {
            for bucket in 0..SCHED_BUCKETS {
                total.runq_hist[bucket] += cpu.runq_hist[bucket];
                total.slice_hist[bucket] += cpu.slice_hist[bucket];
            }
            total.runq_count += cpu.runq_count;
            total.runq_sum_ns += cpu.runq_sum_ns;
            total.slice_count += cpu.slice_count;
            total.slice_sum_ns += cpu.slice_sum_ns;
        }
        Some(total)
    }
}

/// A summary in seconds.
pub fn summary(raw: &SchedSummary) -> SchedUsage {
    SchedUsage {
        oncpu: raw.oncpu_ns as f64 / 1e9,
        runq_count: raw.runq_count,
        runq_sum: raw.runq_sum_ns as f64 / 1e9,
        runq_max: raw.runq_max_ns as f64 / 1e9,
    }
}

/// Upper bound of log2 bucket `bucket` in seconds: `2^(bucket+1)` ns (the last bucket has
/// none: +Inf).
pub fn upper_bound(bucket: usize) -> f64 {
    if bucket + 1 >= SCHED_BUCKETS {
        f64::INFINITY
    } else {
        (1u64 << (bucket + 1)) as f64 / 1e9
    }
}

/// The host's run-queue latency and on-CPU slice histograms for the metrics endpoint (a
/// `prometheus-client` collector); nothing when no scheduler accounting runs.
#[derive(Debug)]
pub struct HostHistograms;

impl Collector for HostHistograms {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(host) = active().and_then(|maps| maps.host()) else {
            return Ok(());
        };
        histogram(
            &mut encoder,
            "tracer_runq_latency_seconds",
            "Time tasks waited on a run queue, from wakeup or preemption to running (tracer agent --sched).",
            &host.runq_hist,
            host.runq_count,
            host.runq_sum_ns,
        )?;
        histogram(
            &mut encoder,
            "tracer_oncpu_slice_seconds",
            "How long tasks ran each time they got a CPU (tracer agent --sched).",
            &host.slice_hist,
            host.slice_count,
            host.slice_sum_ns,
        )
    }
}

/// `(upper bound, count in this bucket)` per bucket, the last one `+Inf` (`f64::MAX` is how
/// the encoder names it) and never below `count`: per-CPU counters are read one CPU after
/// another, so the total may lag the buckets.
fn buckets(buckets: &[u64; SCHED_BUCKETS], count: u64) -> (Vec<(f64, u64)>, u64) {
    let mut out: Vec<(f64, u64)> = buckets
        .iter()
        .enumerate()
        .take(SCHED_BUCKETS - 1)
        .map(|(bucket, n)| (upper_bound(bucket), *n))
        .collect();
    let bounded: u64 = out.iter().map(|(_, n)| n).sum();
    let total = count.max(bounded + buckets[SCHED_BUCKETS - 1]);
    out.push((f64::MAX, total - bounded));
    (out, total)
}

fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    counts: &[u64; SCHED_BUCKETS],
    count: u64,
    sum_ns: u64,
) -> Result<(), std::fmt::Error> {
    let (buckets, total) = buckets(counts, count);
    encoder
        .encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(sum_ns as f64 / 1e9, total, &buckets, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_nanoseconds() {
        assert_eq!(upper_bound(0), 2e-9);
        assert_eq!(upper_bound(9), 1.024e-6);
        assert!(upper_bound(SCHED_BUCKETS - 1).is_infinite());
    }

    #[test]
    fn histograms_end_in_an_inf_bucket_that_holds_every_wait() {
        let mut counts = [0; SCHED_BUCKETS];
        counts[1] = 2;
        counts[3] = 1;
        counts[SCHED_BUCKETS - 1] = 1;
        // The total read before the last CPU's buckets: +Inf still holds them all.
        let (buckets, total) = buckets(&counts, 3);
        assert_eq!(total, 4);
        assert_eq!(buckets.len(), SCHED_BUCKETS);
        assert_eq!(buckets[1], (4e-9, 2));
        assert_eq!(buckets[SCHED_BUCKETS - 1], (f64::MAX, 1));
        let (buckets, total) = buckets_of_more();
        assert_eq!((buckets.last().copied(), total), (Some((f64::MAX, 2)), 5));
    }

    fn buckets_of_more() -> (Vec<(f64, u64)>, u64) {
        let mut counts = [0; SCHED_BUCKETS];
        counts[0] = 3;
        buckets(&counts, 5)
    }

    #[test]
    fn histograms_are_cumulative_openmetrics_text() {
        #[derive(Debug)]
        struct One;
        impl Collector for One {
            fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                let mut counts = [0; SCHED_BUCKETS];
                counts[1] = 2;
                counts[3] = 1;
                histogram(&mut encoder, "x", "help", &counts, 3, 1500)
            }
        }
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(One));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("# TYPE x histogram\n"), "{out}");
        assert!(out.contains("x_sum 0.0000015\nx_count 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2e-9\"} 0\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"4e-9\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"1.6e-8\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
    }
}
