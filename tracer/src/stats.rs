//! The agent's counters as typed values: built by the agent, answered by its `stats`
//! operation, rendered by [`crate::render::stats`] and served as metrics.

use serde::{Deserialize, Serialize};

use crate::source::SourceCounters;

/// The agent's counters (`tracer stats`, the `stats` answer, the metrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// What feeds the table: `ebpf`, `procfs`, `sysinfo` or `snapshot`.
    pub backend: String,
    /// Seconds since the agent started.
    pub uptime: f64,
    /// The table's size and what was applied to it.
    pub table: TableCounters,
    /// The event source's counters (none without a feed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceCounters>,
    /// Clients connected now.
    pub clients: u64,
    /// Connections accepted since start.
    pub connections: u64,
    /// Subscribers connected now.
    pub subscribers: u64,
    /// Events dropped for subscribers that fell behind.
    pub subscriber_drops: u64,
    /// Requests refused (malformed, too large, unauthorised).
    pub refused: u64,
    /// Clients dropped for being too slow to send or to read.
    pub slow_clients: u64,
    /// Connections refused for being over a limit (per user or in total).
    #[serde(default)]
    pub over_limit: u64,
    /// Connections closed for sending no request within the idle timeout.
    #[serde(default)]
    pub idle_closed: u64,
    /// Failed `accept` calls (out of descriptors, most often), each followed by a back-off.
    #[serde(default)]
    pub accept_errors: u64,
    /// The agent's resident memory in bytes.
    pub rss_bytes: u64,
    /// The exporters' counters (`--otlp-endpoint`, `--export-file`), when any runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exporters: Vec<ExporterStats>,
}

/// One exporter's part of [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExporterStats {
    /// `otlp` or `file`.
    pub name: String,
    /// Where it sends: the URL or the file path.
    pub target: String,
    /// Events delivered (accepted by the collector, written to the file).
    pub exported: u64,
    /// Events lost: a queue was full, or they were given up after the retries.
    pub dropped: u64,
    /// Requests or writes that failed.
    pub errors: u64,
    /// Retries of failed requests or writes.
    pub retries: u64,
    /// Events waiting in the exporter's queue now.
    pub queued: u64,
    /// The last failure.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The table's part of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCounters {
    /// Live processes.
    pub live: u64,
    /// Exited processes kept.
    pub exited: u64,
    /// Entries created from `/proc` scans.
    pub seeded: u64,
    /// Fork events applied.
    pub forks: u64,
    /// Exec events applied.
    pub execs: u64,
    /// Exit events applied.
    pub exits: u64,
    /// Resynchronisations from `/proc`.
    pub resyncs: u64,
    /// Live entries a resynchronisation found gone.
    pub vanished: u64,
    /// Exited entries dropped after the retention time.
    pub expired: u64,
}
