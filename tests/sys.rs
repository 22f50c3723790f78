//! `tracer sys --json` against real psutil on the same live system: psutil reads every
//! system-wide function (`tests/psutil_system.py`), then `tracer sys --json all`, then psutil
//! again. What cannot change while the test runs must be equal (CPU counts, boot time, memory
//! and swap totals, partitions, interface addresses and stats, users, listening sockets and
//! their processes); counters that only grow must lie between psutil's two reads; and every
//! value must be shaped as psutil's. Every mismatch is collected and reported in one assertion.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use common::tracer_bin;

/// The interpreter that has psutil; `None` (the test skips) when there is none outside CI.
fn python_with_psutil() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys, psutil; print(sys.executable)"])
        .output();
    match output {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8(out.stdout).unwrap().trim().into())
        }
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 with psutil is needed and CI is set: {why}"
            );
            eprintln!("skipped: python3 with psutil is not available: {why}");
            None
        }
    }
}

fn parse(what: &str, out: Output) -> Value {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn psutil(python: &PathBuf) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/psutil_system.py");
    let out = Command::new(python)
        .arg(script)
        .output()
        .expect("run psutil_system.py");
    parse("psutil_system.py", out)
}

fn tracer_sys(args: &[&str]) -> Output {
    Command::new(tracer_bin())
        .arg("sys")
        .args(args)
        .output()
        .expect("run tracer sys")
}

/// A value's shape: types and object keys, not contents. Numbers are one kind (psutil's int
/// and float both), arrays are the set of their elements' shapes.
fn shape(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let shapes: BTreeSet<String> = items.iter().map(shape).collect();
            format!("[{}]", shapes.into_iter().collect::<Vec<_>>().join("|"))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", shape(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// The shapes of an array's elements.
fn element_shapes(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|items| items.iter().map(shape).collect())
        .unwrap_or_default()
}

/// What the test found wrong, reported together at the end.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn push(&mut self, what: String) {
        self.0.push(what);
    }

    /// `ours` must equal psutil's value before or after.
    fn equal(&mut self, what: &str, ours: &Value, before: &Value, after: &Value) {
        if ours != before && ours != after {
            self.push(format!(
                "{what}: tracer {ours}\n    psutil before {before}\n    psutil after  {after}"
            ));
        }
    }

    /// `ours` must lie between psutil's values before and after (give or take `slack`).
    fn between(&mut self, what: &str, ours: &Value, before: &Value, after: &Value, slack: f64) {
        let (Some(o), Some(b), Some(a)) = (ours.as_f64(), before.as_f64(), after.as_f64()) else {
            self.push(format!(
                "{what}: not numbers: tracer {ours}, psutil {before} / {after}"
            ));
            return;
        };
        let (lo, hi) = (b.min(a) - slack, b.max(a) + slack);
        if !(lo..=hi).contains(&o) {
            self.push(format!(
                "{what}: tracer {o} outside psutil's [{b}, {a}] ± {slack}"
            ));
        }
    }
}

/// Listening TCP sockets as `(family, ip, port, pid)`.
fn listening(conns: &Value) -> BTreeSet<(i64, String, i64, Option<i64>)> {
    conns
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "LISTEN")
        .map(|c| {
            (
                c["family"].as_i64().unwrap_or(-1),
                c["laddr"]["ip"].as_str().unwrap_or_default().to_string(),
                c["laddr"]["port"].as_i64().unwrap_or(-1),
                c["pid"].as_i64(),
            )
        })
        .collect()
}

#[test]
fn sys_json_matches_psutil() {
    let Some(python) = python_with_psutil() else {
        return;
    };
    // A listening socket of ours: it must be listed with this process's pid.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a listening socket");
    let port = i64::from(listener.local_addr().unwrap().port());
    let me = i64::from(std::process::id());

    let before = psutil(&python);
    let ours = parse(
        "tracer sys --json all",
        tracer_sys(&["--json", "all", "--interval", "0"]),
    );
    let after = psutil(&python);
    let mut bad = Mismatches::default();

    // Every function psutil has, under the same key, shaped as psutil's.
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    if keys(&ours) != keys(&before) {
        bad.push(format!(
            "keys: tracer has {:?} that psutil has not; psutil has {:?} that tracer has not",
            keys(&ours).difference(&keys(&before)).collect::<Vec<_>>(),
            keys(&before).difference(&keys(&ours)).collect::<Vec<_>>()
        ));
    }
    for key in keys(&before).intersection(&keys(&ours)) {
        let (o, b, a) = (&ours[key], &before[key], &after[key]);
        if shape(o) == shape(b) || shape(o) == shape(a) {
            continue;
        }
        // Lists whose members come and go (sockets): every member shaped as one of psutil's.
        if o.is_array() && b.is_array() {
            let theirs: BTreeSet<String> = element_shapes(b)
                .union(&element_shapes(a))
                .cloned()
                .collect();
            let strange: Vec<String> = element_shapes(o).difference(&theirs).cloned().collect();
            if strange.is_empty() && (!theirs.is_empty() || element_shapes(o).is_empty()) {
                continue;
            }
        }
        bad.push(format!(
            "shape of {key}: tracer {}\n    psutil {}",
            shape(o),
            shape(b)
        ));
    }

    // Exact: what does not change while the test runs.
    for key in [
        "cpu_count",
        "cpu_count_cores",
        "boot_time",
        "users",
        "net_if_addrs",
        "net_if_stats",
    ] {
        bad.equal(key, &ours[key], &before[key], &after[key]);
    }
    bad.equal(
        "virtual_memory.total",
        &ours["virtual_memory"]["total"],
        &before["virtual_memory"]["total"],
        &after["virtual_memory"]["total"],
    );
    for field in ["total", "used", "free"] {
        if before["swap_memory"]["total"] == 0 || field == "total" {
            bad.equal(
                &format!("swap_memory.{field}"),
                &ours["swap_memory"][field],
                &before["swap_memory"][field],
                &after["swap_memory"][field],
            );
        }
    }
    bad.equal(
        "disk_partitions",
        &ours["disk_partitions"],
        &before["disk_partitions"],
        &after["disk_partitions"],
    );
    let sensor_units = |v: &Value| Value::from(keys(v).into_iter().collect::<Vec<_>>());
    for key in ["sensors_temperatures", "sensors_fans"] {
        bad.equal(
            &format!("{key} (units)"),
            &sensor_units(&ours[key]),
            &sensor_units(&before[key]),
            &sensor_units(&after[key]),
        );
    }

    // disk_usage of "/": the size exactly, the rest within what a busy disk changes meanwhile.
    let root = |v: &Value| v["disk_usage"]["/"].clone();
    let (o, b, a) = (root(&ours), root(&before), root(&after));
    if o.is_null() {
        bad.push("disk_usage: no entry for \"/\"".into());
    } else {
        bad.equal("disk_usage[/].total", &o["total"], &b["total"], &a["total"]);
        let mib64 = 64.0 * 1024.0 * 1024.0;
        bad.between(
            "disk_usage[/].used",
            &o["used"],
            &b["used"],
            &a["used"],
            mib64,
        );
        bad.between(
            "disk_usage[/].free",
            &o["free"],
            &b["free"],
            &a["free"],
            mib64,
        );
        bad.between(
            "disk_usage[/].percent",
            &o["percent"],
            &b["percent"],
            &a["percent"],
            0.2,
        );
    }
    bad.equal(
        "disk_usage (mountpoints)",
        &Value::from(keys(&ours["disk_usage"]).into_iter().collect::<Vec<_>>()),
        &Value::from(keys(&before["disk_usage"]).into_iter().collect::<Vec<_>>()),
        &Value::from(keys(&after["disk_usage"]).into_iter().collect::<Vec<_>>()),
    );

    // Counters only grow: tracer's read lies between psutil's two (ticks round to 0.01 s).
    for field in ["user", "system", "idle", "iowait", "softirq", "steal"] {
        bad.between(
            &format!("cpu_times.{field}"),
            &ours["cpu_times"][field],
            &before["cpu_times"][field],
            &after["cpu_times"][field],
            0.011,
        );
    }
    for field in ["ctx_switches", "interrupts", "soft_interrupts"] {
        bad.between(
            &format!("cpu_stats.{field}"),
            &ours["cpu_stats"][field],
            &before["cpu_stats"][field],
            &after["cpu_stats"][field],
            0.0,
        );
    }
    for (nic, counters) in ours["net_io_counters_pernic"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for field in ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv"] {
            bad.between(
                &format!("net_io_counters_pernic[{nic}].{field}"),
                &counters[field],
                &before["net_io_counters_pernic"][nic][field],
                &after["net_io_counters_pernic"][nic][field],
                0.0,
            );
        }
    }
    for (disk, counters) in ours["disk_io_counters_perdisk"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for field in [
            "read_count",
            "write_count",
            "read_bytes",
            "write_bytes",
            "busy_time",
        ] {
            bad.between(
                &format!("disk_io_counters_perdisk[{disk}].{field}"),
                &counters[field],
                &before["disk_io_counters_perdisk"][disk][field],
                &after["disk_io_counters_perdisk"][disk][field],
                0.0,
            );
        }
    }
    for i in 0..3 {
        bad.between(
            &format!("getloadavg[{i}]"),
            &ours["getloadavg"][i],
            &before["getloadavg"][i],
            &after["getloadavg"][i],
            0.0,
        );
    }

    // Sockets: the same listening TCP sockets with the same owners, ours among them.
    let (o, b, a) = (
        listening(&ours["net_connections"]),
        listening(&before["net_connections"]),
        listening(&after["net_connections"]),
    );
    if o != b && o != a {
        bad.push(format!(
            "listening sockets: tracer has {:?} that psutil has not; psutil has {:?} that tracer has not",
            o.difference(&b).collect::<Vec<_>>(),
            b.difference(&o).collect::<Vec<_>>()
        ));
    }
    let mine = (
        libc::AF_INET as i64,
        "127.0.0.1".to_string(),
        port,
        Some(me),
    );
    if !o.contains(&mine) {
        bad.push(format!(
            "our listening socket 127.0.0.1:{port} of pid {me} is not listed"
        ));
    }
    drop(listener);

    assert!(
        bad.0.is_empty(),
        "tracer sys --json differs from psutil in {} place(s):\n  {}",
        bad.0.len(),
        bad.0.join("\n  ")
    );
}

#[test]
fn sections_hold_their_functions_only() {
    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "cpu",
            &[
                "cpu_count",
                "cpu_count_cores",
                "cpu_freq",
                "cpu_freq_percpu",
                "cpu_percent",
                "cpu_percent_percpu",
                "cpu_stats",
                "cpu_times",
                "cpu_times_percent",
                "cpu_times_percpu",
                "getloadavg",
            ][..],
        ),
        ("memory", &["swap_memory", "virtual_memory"][..]),
        (
            "disk",
            &[
                "disk_io_counters",
                "disk_io_counters_perdisk",
                "disk_partitions",
                "disk_usage",
            ][..],
        ),
        (
            "net",
            &[
                "net_connections",
                "net_if_addrs",
                "net_if_stats",
                "net_io_counters",
                "net_io_counters_pernic",
            ][..],
        ),
        (
            "sensors",
            &["sensors_battery", "sensors_fans", "sensors_temperatures"][..],
        ),
    ]);
    let mut bad = Vec::new();
    for (section, keys) in &expected {
        let value = parse(
            &format!("tracer sys --json {section}"),
            tracer_sys(&["--json", section, "--interval", "0"]),
        );
        let got: Vec<&str> = {
            let mut k: Vec<&str> = value
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            k.sort_unstable();
            k
        };
        if got != *keys {
            bad.push(format!("{section}: {got:?}, expected {keys:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn cpu_percent_measures_the_interval() {
    let value = parse(
        "tracer sys --json cpu",
        tracer_sys(&["--json", "cpu", "--interval", "0.3"]),
    );
    let busy = value["cpu_percent"]
        .as_f64()
        .expect("cpu_percent is a number");
    assert!((0.0..=100.0).contains(&busy), "{busy}");
    let measured: f64 = value["cpu_times_percent"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_f64)
        .sum();
    assert!(measured > 50.0, "0.3 s of CPU time was measured: {value}");
    let each = value["cpu_percent_percpu"].as_array().unwrap();
    assert_eq!(each.len() as u64, value["cpu_count"].as_u64().unwrap());
}

#[test]
fn text_is_sectioned_and_errors_are_one_line() {
    let out = tracer_sys(&["--interval", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for label in [
        "SYSTEM", "CPU", "MEMORY", "DISK", "NETWORK", "SOCKETS", "SENSORS", "USERS",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(label)),
            "no {label} section in:\n{text}"
        );
    }
    assert!(
        text.contains("127.0.0.1/8"),
        "loopback's address with its prefix:\n{text}"
    );

    let out = tracer_sys(&["--interval=-1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let out = tracer_sys(&["bogus"]);
    assert!(!out.status.success());
}
