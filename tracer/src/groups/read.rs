//! One member's figures read from `/proc` for a scrape: what process-exporter reads of a
//! process (`proc/read.go`), from fewer files — stat, status, io, the fd directory, the
//! open-files limit (a `prlimit` call rather than the limits file), smaps_rollup, and the
//! threads' status only for a process with several threads (its context switches are per
//! thread).

use crate::event::ProcessId;
use crate::host::procfs::{read_into, with_scratch, ReadMode};
use crate::host::{Host, ProcError, Rlimit, Status};

use super::Counts;

/// What a scrape read of one member.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reading {
    pub counts: Counts,
    pub resident: u64,
    pub virtual_: u64,
    pub swapped: u64,
    pub proportional_resident: u64,
    pub proportional_swapped: u64,
    /// Open descriptors, `None` when the fd directory could not be read.
    pub open_fds: Option<u64>,
    /// The soft limit on open descriptors (0 when unknown).
    pub fd_limit: u64,
    pub threads: u64,
    /// `/proc/PID/stat`'s state letter.
    pub state: char,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
    /// Some optional file could not be read (process-exporter's "partial" error).
    pub partial: bool,
}

/// Why a member could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It is gone (or the pid is another process now): not an error.
    Gone,
    /// Its stat or status could not be read for another reason.
    Failed,
}

/// Reads one member, checking it is still the process `id`.
pub(crate) fn read(
    host: &Host,
    id: ProcessId,
    ticks_per_second: f64,
) -> Result<Reading, ReadError> {
    let gone_or_failed = |e: ProcError| match e {
        ProcError::NoSuchProcess { .. } | ProcError::ZombieProcess { .. } => ReadError::Gone,
        _ => ReadError::Failed,
    };
    let stat = host.stat(id.pid).map_err(gone_or_failed)?;
    if stat.starttime != id.start_ticks {
        return Err(ReadError::Gone);
    }
    let status_path = host.pid_path(id.pid, "status");
    let (status, swapped) = with_scratch(|buf| {
        host.read_pid_file(id.pid, &status_path, buf, ReadMode::ShortReadIsEof)?;
        let status = Status::parse(buf, &status_path)?;
        Ok::<_, ProcError>((status, kb_line(buf, b"VmSwap:").unwrap_or(0)))
    })
    .map_err(gone_or_failed)?;
    let mut partial = false;
    let (mut voluntary, mut involuntary) = status
        .num_ctx_switches
        .map_or((0, 0), |c| (c.voluntary, c.involuntary));
    if stat.num_threads > 1 {
        match thread_ctx_switches(host, id.pid) {
            Some(sums) => (voluntary, involuntary) = sums,
            None => partial = true,
        }
    }
    let (read_bytes, write_bytes) = match host.io_counters(id.pid) {
        Ok(io) => (io.read_bytes, io.write_bytes),
        Err(_) => {
            partial = true;
            (0, 0)
        }
    };
    let open_fds = match host.num_fds(id.pid) {
        Ok(n) => Some(u64::from(n)),
        Err(_) => {
            partial = true;
            None
        }
    };
    let fd_limit = match host.rlimit(id.pid, Rlimit::Nofile) {
        Ok((soft, _)) if soft >= 0 => soft as u64,
        Ok(_) => u64::MAX,
        Err(_) => {
            partial = true;
            0
        }
    };
    // Kernel threads have no memory map: nothing to read.
    let (proportional_resident, proportional_swapped) = if stat.vsize == 0 {
        (0, 0)
    } else {
        match smaps_rollup(host, id.pid) {
            Some(pss) => pss,
            None => {
                partial = true;
                (0, 0)
            }
        }
    };
    let page = crate::host::procfs::Procfs::page_size();
    Ok(Reading {
        counts: Counts {
            cpu_user: stat.utime as f64 / ticks_per_second,
            cpu_system: stat.stime as f64 / ticks_per_second,
            read_bytes,
            write_bytes,
            major_faults: stat.majflt,
            minor_faults: stat.minflt,
            ctx_voluntary: voluntary,
            ctx_involuntary: involuntary,
        },
        resident: stat.rss_pages * page,
        virtual_: stat.vsize,
        swapped,
        proportional_resident,
        proportional_swapped,
        open_fds,
        fd_limit,
        threads: u64::from(stat.num_threads),
        state: stat.state,
        start_ticks: stat.starttime,
        partial,
    })
}

/// The sums of the threads' context switches (`/proc/PID/task/*/status`).
fn thread_ctx_switches(host: &Host, pid: u32) -> Option<(u64, u64)> {
    let task = host.pid_path(pid, "task");
    let entries = std::fs::read_dir(&task).ok()?;
    let (mut voluntary, mut involuntary) = (0, 0);
    with_scratch(|buf| {
        for entry in entries.flatten() {
            let path = entry.path().join("status");
            // A thread that ended meanwhile is skipped.
            if read_into(&path, buf, ReadMode::ShortReadIsEof).is_ok() {
                voluntary += number_line(buf, b"voluntary_ctxt_switches:").unwrap_or(0);
                involuntary += number_line(buf, b"nonvoluntary_ctxt_switches:").unwrap_or(0);
            }
        }
    });
    Some((voluntary, involuntary))
}

/// `Pss` and `SwapPss` in bytes from `/proc/PID/smaps_rollup`.
fn smaps_rollup(host: &Host, pid: u32) -> Option<(u64, u64)> {
    let path = host.pid_path(pid, "smaps_rollup");
    with_scratch(|buf| {
        read_into(&path, buf, ReadMode::ShortReadIsEof).ok()?;
        Some((
            kb_line(buf, b"Pss:").unwrap_or(0),
            kb_line(buf, b"SwapPss:").unwrap_or(0),
        ))
    })
}

/// The number after `key` on the line starting with it.
fn number_line(data: &[u8], key: &[u8]) -> Option<u64> {
    let line = data
        .split(|&b| b == b'\n')
        .find(|line| line.starts_with(key))?;
    let value = std::str::from_utf8(&line[key.len()..]).ok()?;
    value.split_whitespace().next()?.parse().ok()
}

/// A `KEY:   N kB` line in bytes.
fn kb_line(data: &[u8], key: &[u8]) -> Option<u64> {
    number_line(data, key).map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let status = b"Name:\tx\nVmSwap:\t      12 kB\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(kb_line(status, b"VmSwap:"), Some(12 * 1024));
        assert_eq!(number_line(status, b"voluntary_ctxt_switches:"), Some(5));
        assert_eq!(number_line(status, b"nonvoluntary_ctxt_switches:"), Some(7));
        assert_eq!(
            kb_line(b"Rss: 4 kB\nPss:  3 kB\nSwapPss: 0 kB\n", b"Pss:"),
            Some(3072)
        );
        assert_eq!(kb_line(status, b"Pss:"), None);
    }

    #[test]
    fn reads_itself() {
        let host = Host::new();
        let pid = std::process::id();
        let stat = host.stat(pid).unwrap();
        let id = ProcessId {
            pid,
            start_ticks: stat.starttime,
        };
        let reading = read(&host, id, crate::host::clock_ticks() as f64).unwrap();
        assert!(reading.resident > 0 && reading.virtual_ >= reading.resident);
        assert!(reading.open_fds.unwrap() >= 3);
        assert!(reading.fd_limit > 0);
        assert!(reading.threads >= 1);
        assert!(reading.counts.ctx_voluntary + reading.counts.ctx_involuntary > 0);
        let other = ProcessId {
            pid,
            start_ticks: stat.starttime + 1,
        };
        assert!(matches!(read(&host, other, 100.0), Err(ReadError::Gone)));
    }
}
