//! What every backend reports besides events: how much it saw, and what it lost or cut.

use crate::event::Backend;

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
