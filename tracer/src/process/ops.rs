//! What `wait` and the signal commands do, independent of where they run: the CLI calls these
//! in direct mode and the agent calls them for its clients, so both answer alike.

use std::time::{Duration, Instant};

use crate::process::results::{Alive, Gone, SignalResult, WaitAnswer};
use crate::process::{Error, Process};
use crate::query::access::Creds;
use crate::query::Viewer;
use crate::render::events::{PlacementFields, UsageRecord};

/// Where `pid` runs now (null everywhere but Linux).
fn placement_now(pid: u32) -> PlacementFields {
    #[cfg(target_os = "linux")]
    {
        let placement = crate::host::container::PlacementReader::new().read(pid);
        PlacementFields::from(placement.as_ref())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        PlacementFields::default()
    }
}

/// Waits for `pids` (any process, not only children): the gone with what they consumed in
/// all (null where their exit was not seen with usage; `io_counters` null unless the viewer
/// may ptrace-read the process), and the alive (all are gone when it is empty). A pid the
/// viewer may not see, or that does not exist, is an error naming it.
pub fn wait(pids: &[u32], timeout: Option<Duration>, viewer: &Viewer) -> Result<WaitAnswer, Error> {
    wait_cancellable(pids, timeout, viewer, &|| false)
}

/// [`wait`] that gives up (answering what it has, the rest alive) as soon as `cancelled()`
/// says so: the agent's client hung up, or the agent stops. It is asked at least every second.
pub fn wait_cancellable(
    pids: &[u32],
    timeout: Option<Duration>,
    viewer: &Viewer,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<WaitAnswer, Error> {
    let mut procs = Vec::with_capacity(pids.len());
    for &pid in pids {
        let process = Process::new(pid)?;
        let creds = Creds::read_id(process.id());
        if !viewer.sees(creds.as_ref()) {
            return Err(Error::NoSuchProcess { pid, name: None });
        }
        let read = viewer.sees_all() || creds.is_some_and(|c| viewer.may_read(&c));
        let name = process.name().unwrap_or_default();
        procs.push((process, name, read));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut answer = WaitAnswer::default();
    // Where each runs, read now: once gone, /proc cannot tell.
    let placements: Vec<PlacementFields> = procs
        .iter()
        .map(|(p, _, _)| placement_now(p.pid()))
        .collect();
    for ((process, name, read), placement) in procs.into_iter().zip(placements) {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match process.wait_cancellable(remaining, cancelled) {
            Ok(code) => {
                let entry = crate::table::live::Tracer::global()
                    .lock()
                    .find(process.id())
                    .cloned();
                // Readable at the start and still by what the table knew at its end (an exec
                // of a setuid program meanwhile makes it another user's).
                let read = read
                    && (viewer.sees_all()
                        || entry
                            .as_ref()
                            .and_then(crate::query::access::Creds::known)
                            .is_none_or(|c| viewer.may_read(&c)));
                let usage = entry
                    .and_then(|entry| entry.exit.as_deref().copied())
                    .and_then(|exit| exit.status)
                    .and_then(|status| status.usage);
                let mut usage = UsageRecord::new(usage.as_ref());
                if !read {
                    usage.io_counters = None;
                }
                answer.gone.push(Gone {
                    pid: process.pid(),
                    name,
                    returncode: code,
                    usage,
                    placement,
                });
            }
            Err(_) => answer.alive.push(Alive {
                pid: process.pid(),
                name,
            }),
        }
    }
    Ok(answer)
}

/// Sends `signal` to each of `pids` on behalf of `viewer`, refusing what kill(2) would refuse
/// the viewer and reused pids: one result per pid. Without a gap: the pidfd is opened first,
/// then the credentials of that same process are read and judged, then the pidfd is
/// confirmed to be still running, then the signal goes through it.
pub fn signal(pids: &[u32], signal: i32, viewer: &Viewer) -> Vec<SignalResult> {
    let mut results = Vec::with_capacity(pids.len());
    for &pid in pids {
        let result = Process::new(pid).and_then(|process| signal_one(&process, signal, viewer));
        results.push(SignalResult {
            pid,
            ok: result.is_ok(),
            error: result.err().map(|e| e.to_string()),
        });
    }
    results
}

/// Whether `viewer` may signal the process with these credentials: an error saying why not.
fn judge(process: &Process, creds: Option<Creds>, viewer: &Viewer) -> Result<(), Error> {
    let pid = process.pid();
    let Some(creds) = creds else {
        return Err(Error::NoSuchProcess { pid, name: None });
    };
    if !viewer.sees(Some(&creds)) {
        return Err(Error::NoSuchProcess { pid, name: None });
    }
    if !viewer.may_signal(&creds) {
        return Err(Error::AccessDenied {
            pid,
            name: process.name().ok(),
        });
    }
    Ok(())
}

#[cfg(native_linux)]
fn signal_one(process: &Process, signal: i32, viewer: &Viewer) -> Result<(), Error> {
    let pid = process.pid();
    let gone = || Error::NoSuchProcess { pid, name: None };
    let failed = |call: &str, e: std::io::Error| match e.raw_os_error() {
        Some(libc::ESRCH) => gone(),
        Some(libc::EPERM) => Error::AccessDenied { pid, name: None },
        _ => Error::Other(format!("{call} for pid {pid} failed: {e}")),
    };
    // 1. The handle: whatever the pid names from now on, the signal goes to this process.
    let fd = crate::platform::Pidfd::open(pid).map_err(|e| failed("pidfd_open", e))?;
    // 2. Its credentials now, through the pid, checked against the identity asked for.
    judge(process, Creds::read_id(process.id()), viewer)?;
    // 3. The handle still names a running process: so the one just judged.
    if !fd.is_alive().map_err(|e| failed("poll(pidfd)", e))? {
        return Err(gone());
    }
    fd.send_signal(signal)
        .map_err(|e| failed("pidfd_send_signal", e))
}

#[cfg(not(native_linux))]
fn signal_one(process: &Process, signal: i32, viewer: &Viewer) -> Result<(), Error> {
    judge(process, Creds::read_id(process.id()), viewer)?;
    process.send_signal(signal)
}

/// Waits `timeout` given in seconds by a user.
pub fn timeout_from_secs(seconds: Option<f64>) -> Result<Option<Duration>, String> {
    match seconds {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            Err(format!("timeout must be a number of seconds ≥ 0, not {t}"))
        }
        Some(t) if t > crate::process::MAX_TIMEOUT => Err(format!(
            "timeout must be at most {} seconds (a day), not {t}",
            crate::process::MAX_TIMEOUT
        )),
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
        None => Ok(None),
    }
}
