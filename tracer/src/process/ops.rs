//! What `wait` and the signal commands do, independent of where they run: the CLI calls these
//! in direct mode and the agent calls them for its clients, so both answer alike.

use std::time::Duration;

use crate::agent::protocol::{Alive, Gone, SignalResult, WaitAnswer};
use crate::process::{self, Error, Process};
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
/// all (null where their exit was not seen with usage), and the alive (all are gone when it
/// is empty). A pid the viewer may not see, or that does not exist, is an error naming it.
pub fn wait(pids: &[u32], timeout: Option<Duration>, viewer: &Viewer) -> Result<WaitAnswer, Error> {
    let mut procs = Vec::with_capacity(pids.len());
    let mut names = Vec::with_capacity(pids.len());
    for &pid in pids {
        let process = Process::new(pid)?;
        if !visible(&process, viewer) {
            return Err(Error::NoSuchProcess { pid, name: None });
        }
        names.push(process.name().unwrap_or_default());
        procs.push(process);
    }
    let name_of = |p: &Process| -> &str {
        procs
            .iter()
            .position(|q| q == p)
            .map_or("", |i| names[i].as_str())
    };
    // Where each runs, read now: once gone, /proc cannot tell.
    let placements: Vec<PlacementFields> = procs.iter().map(|p| placement_now(p.pid())).collect();
    let placement_of = |p: &Process| -> PlacementFields {
        procs
            .iter()
            .position(|q| q == p)
            .map(|i| placements[i].clone())
            .unwrap_or_default()
    };
    let (gone, alive) = process::wait_procs(&procs, timeout, |_| {});
    // What each gone process consumed, when its exit was seen with usage.
    let usage_of = |p: &Process| {
        crate::table::live::Tracer::global()
            .lock()
            .find(p.id())
            .and_then(|entry| entry.exit)
            .and_then(|exit| exit.status)
            .and_then(|status| status.usage)
    };
    Ok(WaitAnswer {
        gone: gone
            .iter()
            .map(|p| Gone {
                pid: p.pid(),
                name: name_of(p).to_string(),
                returncode: p.returncode.flatten(),
                usage: UsageRecord::new(usage_of(p).as_ref()),
                placement: placement_of(p),
            })
            .collect(),
        alive: alive
            .iter()
            .map(|p| Alive {
                pid: p.pid(),
                name: name_of(p).to_string(),
            })
            .collect(),
    })
}

/// Sends `signal` to each of `pids` on behalf of `viewer`, refusing what kill(2) would refuse
/// the viewer (a process of another user, unless the viewer is root) and reused pids: one
/// result per pid.
pub fn signal(pids: &[u32], signal: i32, viewer: &Viewer) -> Vec<SignalResult> {
    let mut results = Vec::with_capacity(pids.len());
    for &pid in pids {
        let result = Process::new(pid).and_then(|process| {
            if !visible(&process, viewer) {
                return Err(Error::NoSuchProcess { pid, name: None });
            }
            if !may_signal(&process, viewer) {
                return Err(Error::AccessDenied {
                    pid,
                    name: process.name().ok(),
                });
            }
            process.send_signal(signal)
        });
        results.push(SignalResult {
            pid,
            ok: result.is_ok(),
            error: result.err().map(|e| e.to_string()),
        });
    }
    results
}

fn visible(process: &Process, viewer: &Viewer) -> bool {
    viewer.uid == 0
        || !viewer.hidepid
        || process
            .uids()
            .is_ok_and(|[real, effective, _]| real == viewer.uid || effective == viewer.uid)
}

/// kill(2)'s rule: the sender's uid equals the target's real or saved uid, or the sender is
/// root.
fn may_signal(process: &Process, viewer: &Viewer) -> bool {
    viewer.uid == 0
        || process
            .uids()
            .is_ok_and(|[real, _, saved]| real == viewer.uid || saved == viewer.uid)
}

/// Waits `timeout` given in seconds by a user.
pub fn timeout_from_secs(seconds: Option<f64>) -> Result<Option<Duration>, String> {
    match seconds {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            Err(format!("timeout must be a number of seconds ≥ 0, not {t}"))
        }
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
        None => Ok(None),
    }
}
