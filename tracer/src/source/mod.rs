//! Event sources: every backend emits the same [`Event`]s, and reports besides them how much it
//! saw and what it lost or cut. [`Source::open`] picks the best backend that works and says
//! why the better ones could not run.

pub mod polling;

#[cfg(native_linux)]
pub mod ebpf;

#[cfg(native_linux)]
pub mod place;

use std::time::Duration;

use crate::event::{Backend, Event};
#[cfg(native_linux)]
use crate::source::ebpf::EbpfSource;
use crate::source::polling::{PollingSource, Scanner};

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The best that runs: eBPF, else procfs polling (Linux); sysinfo polling elsewhere.
    Auto,
    /// eBPF or fail (Linux only).
    Ebpf,
    /// `/proc` polling (Linux only).
    Procfs,
    /// `sysinfo` polling (every platform).
    Sysinfo,
}

impl Choice {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::Ebpf => "ebpf",
            Choice::Procfs => "procfs",
            Choice::Sysinfo => "sysinfo",
        }
    }
}

/// How to open a source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Which backend.
    pub choice: Choice,
    /// Interval of the polling backends.
    pub interval: Duration,
    /// eBPF tuning.
    pub ebpf: EbpfConfig,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            choice: Choice::Auto,
            interval: Duration::from_secs(1),
            ebpf: EbpfConfig::default(),
        }
    }
}

/// Tuning of the eBPF backend (Linux; elsewhere choosing it fails with a reason, but the
/// settings exist on every platform, so a configuration is the same everywhere).
#[derive(Debug, Clone)]
pub struct EbpfConfig {
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// The kernel wakes the consumer once this many bytes are pending, even while it batches.
    pub wakeup_bytes: u32,
    /// While records keep coming the consumer drains this often (it is woken by the first
    /// record after the ring was empty, and sleeps without a timer while it stays empty).
    pub drain_interval: Duration,
    /// Have the kernel account each program's run time and count (BPF_ENABLE_STATS), for
    /// `EbpfSource::program_costs`. Costs a few nanoseconds per event while on.
    pub kernel_stats: bool,
    /// With `kernel_stats`: also attach an empty program to each lifecycle tracepoint and
    /// report its cost (`floor_process_fork`, …), the floor each program's cost is compared
    /// with. A measurement aid: each empty program still costs its run on every event.
    pub kernel_floor: bool,
    /// Attach the final-time program on `sched_switch` (when the kernel has what it reads):
    /// exit CPU times then include the process's last slice and its exit's teardown. It runs
    /// on every context switch (returning at once for all but a dead task's last one).
    pub final_cpu: bool,
    /// Also load the scheduler accounting program (on `sched_switch`): per-process on-CPU
    /// time and run-queue latency, read through `source::ebpf::sched::active`. It runs on every context
    /// switch, so it is opt-in.
    pub sched: bool,
    /// Scoped tracing: when not empty, the kernel programs write records only for processes
    /// in these cgroup v2 subtrees (paths relative to the v2 root; see `source::ebpf::scope`).
    pub scope: Vec<std::path::PathBuf>,
}

impl Default for EbpfConfig {
    fn default() -> Self {
        Self {
            ring_bytes: 4 << 20,
            wakeup_bytes: 64 << 10,
            drain_interval: Duration::from_millis(10),
            kernel_stats: false,
            kernel_floor: false,
            final_cpu: true,
            sched: false,
            scope: Vec::new(),
        }
    }
}

/// A running backend.
pub enum Source {
    /// Kernel programs (which fill their events' placements).
    #[cfg(native_linux)]
    Ebpf(Box<EbpfSource>),
    /// A process list polled every interval (`/proc` or `sysinfo`).
    Polling(PollingSource),
}

impl Source {
    /// Opens the chosen backend (inside a tokio runtime). With [`Choice::Auto`], when a better
    /// backend cannot run, the next one is used and the returned notice says why, in one line.
    pub fn open(config: &SourceConfig) -> Result<(Source, Option<String>), String> {
        let (source, notice) = Self::open_backend(config)?;
        // On a host without a cgroup v2 hierarchy, one line says why the cgroup fields are null.
        #[cfg(native_linux)]
        if source.backend() != Backend::Sysinfo {
            if let Some(cgroups) = crate::host::container::Hierarchy::discover().notice() {
                let notice = match notice {
                    Some(notice) => format!("{notice}; {cgroups}"),
                    None => cgroups.to_string(),
                };
                return Ok((source, Some(notice)));
            }
        }
        Ok((source, notice))
    }

    fn open_backend(config: &SourceConfig) -> Result<(Source, Option<String>), String> {
        let interval = config.interval;
        match config.choice {
            #[cfg(native_linux)]
            Choice::Ebpf => EbpfSource::open(&config.ebpf)
                .map(|s| (Source::Ebpf(Box::new(s)), None))
                .map_err(|e| format!("cannot trace with eBPF: {e}")),
            #[cfg(not(native_linux))]
            Choice::Ebpf | Choice::Procfs => Err(format!(
                "the {} backend needs Linux; use --backend sysinfo (or auto)",
                config.choice.as_str()
            )),
            #[cfg(native_linux)]
            Choice::Procfs => procfs(interval).map(|s| (s, None)),
            Choice::Sysinfo => sysinfo(interval).map(|s| (s, None)),
            #[cfg(native_linux)]
            Choice::Auto => match EbpfSource::open(&config.ebpf) {
                Ok(source) => Ok((Source::Ebpf(Box::new(source)), None)),
                Err(error) => {
                    let notice = format!(
                        "eBPF unavailable ({error}): using procfs polling every {} — {}",
                        seconds(interval),
                        polling_caveat(interval)
                    );
                    procfs(interval).map(|s| (s, Some(notice)))
                }
            },
            #[cfg(not(native_linux))]
            Choice::Auto => {
                let notice = format!(
                    "eBPF and /proc are Linux-only: using sysinfo polling every {} — {}",
                    seconds(interval),
                    polling_caveat(interval)
                );
                sysinfo(interval).map(|s| (s, Some(notice)))
            }
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(native_linux)]
            Source::Ebpf(..) => Backend::Ebpf,
            Source::Polling(source) => source.backend(),
        }
    }

    /// Waits for events and appends up to `max` of them (possibly none after a quiet tick).
    pub async fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> std::io::Result<()> {
        match self {
            #[cfg(native_linux)]
            Source::Ebpf(source) => source.next_batch(out, max).await,
            Source::Polling(source) => {
                let _ = max; // a scan's events come together
                source.next_batch(out).await
            }
        }
    }

    /// Everything still pending, for shutdown.
    pub fn drain_all(&mut self, out: &mut Vec<Event>) {
        #[cfg(native_linux)]
        if let Source::Ebpf(source) = self {
            source.drain_all(out);
        }
        let _ = out;
    }

    /// Boot-relative nanoseconds up to which the source has delivered what happened: the last
    /// drain of the ring, or the last scan.
    pub fn delivered_until_ns(&self) -> u64 {
        match self {
            #[cfg(native_linux)]
            Source::Ebpf(source) => source.drained_at_ns(),
            Source::Polling(source) => source.scanned_at_ns(),
        }
    }

    /// What each kernel program cost (eBPF with `kernel_stats`; empty otherwise).
    pub fn program_costs(&self) -> Vec<ProgramCost> {
        match self {
            #[cfg(native_linux)]
            Source::Ebpf(source) => source.program_costs(),
            Source::Polling(_) => Vec::new(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> SourceStats {
        match self {
            #[cfg(native_linux)]
            Source::Ebpf(source) => source.stats(),
            Source::Polling(source) => source.stats(),
        }
    }
}

#[cfg(native_linux)]
fn procfs(interval: Duration) -> Result<Source, String> {
    let scanner = crate::source::polling::ProcfsScanner::new()
        .map_err(|e| format!("cannot poll /proc: {e}"))?;
    polling(Box::new(scanner), interval).map_err(|e| format!("cannot poll /proc: {e}"))
}

fn sysinfo(interval: Duration) -> Result<Source, String> {
    let scanner = crate::source::polling::SysinfoScanner::new()
        .map_err(|e| format!("cannot list processes with sysinfo: {e}"))?;
    polling(Box::new(scanner), interval)
        .map_err(|e| format!("cannot list processes with sysinfo: {e}"))
}

fn polling(scanner: Box<dyn Scanner>, interval: Duration) -> std::io::Result<Source> {
    PollingSource::open(scanner, interval).map(Source::Polling)
}

/// What a polling backend cannot see, said wherever it is chosen.
pub fn polling_caveat(interval: Duration) -> String {
    format!(
        "processes shorter than {} are not seen, exit codes are unknown",
        seconds(interval)
    )
}

/// `1s`, `0.5s`.
fn seconds(interval: Duration) -> String {
    format!("{}s", interval.as_secs_f64())
}

/// What one kernel program has cost since it was loaded (with `kernel_stats` on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramCost {
    /// The program (named after its tracepoint).
    pub name: &'static str,
    /// Times it ran.
    pub run_count: u64,
    /// Total time it ran, in nanoseconds.
    pub run_time_ns: u64,
}

/// Counters of a source since it started. Loss is never silent: every way a record can go
/// missing or be cut has a counter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceStats {
    /// The backend.
    pub backend: Backend,
    /// Events delivered.
    pub events: u64,
    /// Fork records the kernel could not write (ring full).
    pub lost_fork: u64,
    /// Exec records the kernel could not write (ring full).
    pub lost_exec: u64,
    /// Exit records the kernel could not write (ring full).
    pub lost_exit: u64,
    /// Threads created (never reported as processes).
    pub threads_created: u64,
    /// Threads that exited while their process lived on.
    pub threads_exited: u64,
    /// Execs whose argv was cut at the capture bound.
    pub args_truncated: u64,
    /// Kernel reads that failed.
    pub read_errors: u64,
    /// Records userspace could not decode.
    pub decode_errors: u64,
    /// Exit events that went out with the CPU time read at the exit, without the final one
    /// (its record came too late or was lost, or someone was waiting for the exit).
    pub exit_cpu_partial: u64,
}

impl SourceStats {
    /// Every event lost, of any kind.
    pub fn lost(&self) -> u64 {
        self.lost_fork + self.lost_exec + self.lost_exit + self.decode_errors
    }
}

/// A source's counters as `tracer events` (its `stats` record) and the agent (`stats`, the
/// `source` object) report them: the [`SourceStats`] with `lost` summed, in the contract's
/// order. A counter an older agent does not send reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SourceCounters {
    /// Events delivered.
    pub events: u64,
    /// Every event lost, of any kind ([`SourceStats::lost`]).
    pub lost: u64,
    /// Fork records the kernel could not write.
    pub lost_fork: u64,
    /// Exec records the kernel could not write.
    pub lost_exec: u64,
    /// Exit records the kernel could not write.
    pub lost_exit: u64,
    /// Records userspace could not decode.
    pub decode_errors: u64,
    /// Threads created (never reported as processes).
    pub threads_created: u64,
    /// Threads that exited while their process lived on.
    pub threads_exited: u64,
    /// Execs whose argv was cut at the capture bound.
    pub args_truncated: u64,
    /// Kernel reads that failed.
    pub read_errors: u64,
    /// Exit events without their final CPU time ([`SourceStats::exit_cpu_partial`]).
    pub exit_cpu_partial: u64,
}

impl From<&SourceStats> for SourceCounters {
    fn from(s: &SourceStats) -> Self {
        SourceCounters {
            events: s.events,
            lost: s.lost(),
            lost_fork: s.lost_fork,
            lost_exec: s.lost_exec,
            lost_exit: s.lost_exit,
            decode_errors: s.decode_errors,
            threads_created: s.threads_created,
            threads_exited: s.threads_exited,
            args_truncated: s.args_truncated,
            read_errors: s.read_errors,
            exit_cpu_partial: s.exit_cpu_partial,
        }
    }
}
