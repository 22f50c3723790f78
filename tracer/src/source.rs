//! Event sources: every backend emits the same [`Event`]s, and reports besides them how much it
//! saw and what it lost or cut. [`Source::open`] picks the best backend that works and says
//! why the better ones could not run.

use std::time::Duration;

use crate::ebpf::{EbpfConfig, EbpfSource};
use crate::event::{Backend, Event};
use crate::polling::PollingSource;

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// eBPF when it can run, else procfs polling.
    Auto,
    /// eBPF or fail.
    Ebpf,
    /// procfs polling.
    Procfs,
}

/// A running backend.
pub enum Source {
    /// Kernel programs.
    Ebpf(Box<EbpfSource>),
    /// `/proc` polling.
    Procfs(PollingSource),
}

impl Source {
    /// Opens the chosen backend (inside a tokio runtime). With [`Choice::Auto`], a failure of
    /// eBPF falls back to polling and the returned notice says why, in one line.
    pub fn open(
        choice: Choice,
        ebpf: &EbpfConfig,
        interval: Duration,
    ) -> Result<(Source, Option<String>), String> {
        let polling = || {
            PollingSource::open(interval)
                .map(Source::Procfs)
                .map_err(|e| format!("cannot poll /proc: {e}"))
        };
        match choice {
            Choice::Ebpf => EbpfSource::open(ebpf)
                .map(|s| (Source::Ebpf(Box::new(s)), None))
                .map_err(|e| format!("cannot trace with eBPF: {e}")),
            Choice::Procfs => polling().map(|s| (s, None)),
            Choice::Auto => match EbpfSource::open(ebpf) {
                Ok(source) => Ok((Source::Ebpf(Box::new(source)), None)),
                Err(error) => {
                    let notice = format!(
                        "eBPF unavailable ({error}): using procfs polling every {} — processes shorter than {} are not seen, exit codes are unknown",
                        seconds(interval),
                        seconds(interval)
                    );
                    polling().map(|s| (s, Some(notice)))
                }
            },
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Source::Ebpf(_) => Backend::Ebpf,
            Source::Procfs(_) => Backend::Procfs,
        }
    }

    /// Waits for events and appends up to `max` of them (possibly none after a quiet tick).
    pub async fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> std::io::Result<()> {
        match self {
            Source::Ebpf(source) => source.next_batch(out, max).await,
            Source::Procfs(source) => source.next_batch(out).await,
        }
    }

    /// Everything still pending, for shutdown.
    pub fn drain_all(&mut self, out: &mut Vec<Event>) {
        if let Source::Ebpf(source) = self {
            source.drain_all(out);
        }
    }

    /// Counters.
    pub fn stats(&self) -> SourceStats {
        match self {
            Source::Ebpf(source) => source.stats(),
            Source::Procfs(source) => source.stats(),
        }
    }
}

/// `1s`, `0.5s`.
fn seconds(interval: Duration) -> String {
    format!("{}s", interval.as_secs_f64())
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
}

impl SourceStats {
    /// Every event lost, of any kind.
    pub fn lost(&self) -> u64 {
        self.lost_fork + self.lost_exec + self.lost_exit + self.decode_errors
    }
}
