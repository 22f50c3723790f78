//! What `wait` and the signal commands do, independent of where they run: the CLI calls these
//! in direct mode and the agent calls them for its clients, so both answer alike.

use std::time::Duration;

use crate::json::Json;
use crate::process::{self, Error, Process};
use crate::query::Viewer;

/// Waits for `pids` (any process, not only children) and renders
/// `{"gone":[{pid,name,returncode,cpu_times,memory_info,…}],"alive":[{pid,name}]}`, the gone
/// with what they consumed in all (null where their exit was not seen with usage). Returns the JSON and whether all
/// are gone. A pid the viewer may not see, or that does not exist, is an error naming it.
pub fn wait(
    pids: &[u32],
    timeout: Option<Duration>,
    viewer: &Viewer,
) -> Result<(String, bool), Error> {
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
    let (gone, alive) = process::wait_procs(&procs, timeout, |_| {});
    // What each gone process consumed, when its exit was seen with usage.
    let usage_of = |p: &Process| {
        crate::live::Tracer::global()
            .lock()
            .find(p.id())
            .and_then(|entry| entry.exit)
            .and_then(|exit| exit.status)
            .and_then(|status| status.usage)
    };
    let mut json = Json::new();
    json.begin_object();
    json.key("gone").begin_array();
    for p in &gone {
        json.begin_object();
        json.key("pid").uint(p.pid().into());
        json.key("name").str(name_of(p));
        json.key("returncode")
            .opt_int(p.returncode.flatten().map(i64::from));
        let usage = usage_of(p);
        for attr in crate::attrs::USAGE_ATTRS {
            json.key(attr.name());
            crate::attrs::usage_value(usage.as_ref(), attr).write_json(&mut json);
        }
        json.end_object();
    }
    json.end_array();
    json.key("alive").begin_array();
    for p in &alive {
        json.begin_object();
        json.key("pid").uint(p.pid().into());
        json.key("name").str(name_of(p));
        json.end_object();
    }
    json.end_array();
    json.end_object();
    Ok((json.finish(), alive.is_empty()))
}

/// Sends `signal` to each of `pids` on behalf of `viewer`, refusing what kill(2) would refuse
/// the viewer (a process of another user, unless the viewer is root) and reused pids. Renders
/// `[{pid, ok, error}]`; returns it and whether all succeeded.
pub fn signal(pids: &[u32], signal: i32, viewer: &Viewer) -> (String, bool) {
    let mut all_ok = true;
    let mut json = Json::new();
    json.begin_array();
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
        json.begin_object();
        json.key("pid").uint(pid.into());
        json.key("ok").bool(result.is_ok());
        match &result {
            Ok(()) => json.key("error").null(),
            Err(e) => json.key("error").str(&e.to_string()),
        };
        json.end_object();
        all_ok &= result.is_ok();
    }
    json.end_array();
    (json.finish(), all_ok)
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
