//! Process rows and trees (`crate::query`'s answers) as the bytes `tracer ps` and
//! `tracer tree` print and the agent sends: one JSON array, or aligned text columns.

use std::io::Write;

use crate::query::attrs::{Attr, Collector, Value};
use crate::query::{self, group, Format, Query, Rows, TreeItem, Viewer};
use crate::render::text::{bytes, display, duration, shell_word, signal_name, time_of_day};
use crate::table::ProcessTable;

/// Runs `query` over `table` for `viewer` and renders the answer in the query's format.
pub fn query(
    table: &ProcessTable,
    collector: &mut Collector,
    query: &Query,
    viewer: &Viewer,
) -> Vec<u8> {
    if let Some(by) = query.group_by {
        let per_process = Query {
            attrs: group::attrs(by),
            sort: None,
            limit: None,
            group_by: None,
            ..query.clone()
        };
        let groups = group::group(by, &query::run(table, collector, &per_process, viewer));
        return match query.format {
            Format::Json => {
                let mut out = Vec::new();
                crate::render::json::write(&mut out, &groups);
                out.push(b'\n');
                out
            }
            Format::Text => groups_text(&groups),
        };
    }
    let rows = query::run(table, collector, query, viewer);
    render(&rows, query.format)
}

/// The rows in `format`.
pub fn render(rows: &Rows, format: Format) -> Vec<u8> {
    match format {
        Format::Json => json(rows),
        Format::Text => text(rows),
    }
}

/// Groups as aligned columns: the key (a container id cut to 12 digits as docker prints
/// it), processes, CPU time (user + system), RSS, threads, bytes read and written.
pub fn groups_text(groups: &group::Groups) -> Vec<u8> {
    let by = groups.by;
    let mut header = vec![by.name().to_uppercase()];
    if by == group::GroupBy::Container {
        header.push("RUNTIME".into());
    }
    header.extend(["PROCS", "CPUTIME", "RSS", "THR", "READ", "WRITE"].map(String::from));
    let mut lines = vec![header];
    for g in &groups.groups {
        let key = match (&g.key, by) {
            (Value::Str(id), group::GroupBy::Container) => {
                id.to_string_lossy().chars().take(12).collect()
            }
            (Value::Null, _) => "-".into(),
            (key, _) => value_text(key),
        };
        let mut line = vec![key];
        if let Some(runtime) = &g.runtime {
            line.push(match runtime {
                Value::Null => "-".into(),
                other => value_text(other),
            });
        }
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        line.push(g.num_procs.to_string());
        line.push(or_dash(g.cpu_times.map(|t| duration(t[0] + t[1]))));
        line.push(or_dash(g.rss.map(bytes)));
        line.push(or_dash(g.num_threads.map(|n| n.to_string())));
        line.push(or_dash(g.io_counters.map(|c| bytes(c[2]))));
        line.push(or_dash(g.io_counters.map(|c| bytes(c[3]))));
        lines.push(line);
    }
    let columns = lines[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let key_columns = if by == group::GroupBy::Container {
        2
    } else {
        1
    };
    let mut out = Vec::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| {
                if i < key_columns {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        out.extend_from_slice(cells.join(" ").trim_end().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Renders the process tree under `root` (every parentless process when `None`).
pub fn tree(
    table: &ProcessTable,
    root: Option<u32>,
    format: Format,
    viewer: &Viewer,
) -> Result<Vec<u8>, String> {
    tree_of(query::tree_nodes(table), root, format, viewer)
}

/// [`tree`] of nodes copied out of the table (the agent copies under the lock and renders
/// after releasing it).
pub fn tree_of(
    nodes: query::TreeNodes,
    root: Option<u32>,
    format: Format,
    viewer: &Viewer,
) -> Result<Vec<u8>, String> {
    let items = query::process_tree(nodes, root, viewer)?;
    let mut out = Vec::with_capacity(items.len() * 64);
    match format {
        Format::Json => tree_json(&items, &mut out),
        Format::Text => tree_text(&items, &mut out),
    }
    Ok(out)
}

/// The tree as nested JSON objects (`{pid, ppid, name, children: […]}`), written from the
/// pre-order list without recursion: any depth costs no stack.
fn tree_json(items: &[TreeItem], out: &mut Vec<u8>) {
    #[derive(serde::Serialize)]
    struct Head<'a> {
        pid: u32,
        ppid: u32,
        name: &'a crate::bytes::ByteString,
        #[serde(flatten)]
        placement: &'a crate::render::events::PlacementFields,
    }
    out.push(b'[');
    let mut open = 0usize;
    let mut previous: Option<usize> = None;
    for item in items {
        while open > item.depth {
            out.extend_from_slice(b"]}");
            open -= 1;
        }
        if previous.is_some_and(|depth| depth >= item.depth) {
            out.push(b',');
        }
        let head = Head {
            pid: item.pid,
            ppid: item.ppid,
            name: &item.name,
            placement: &item.placement,
        };
        crate::render::json::write(out, &head);
        // `{…}` → `{…,"children":[`: the object stays open for its children.
        out.pop();
        out.extend_from_slice(b",\"children\":[");
        open += 1;
        previous = Some(item.depth);
    }
    for _ in 0..open {
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]\n");
}

/// The tree as `pstree` draws it.
fn tree_text(items: &[TreeItem], out: &mut Vec<u8>) {
    let mut continuations: Vec<&str> = Vec::new();
    for item in items {
        continuations.truncate(item.depth.saturating_sub(1));
        for c in &continuations {
            out.extend_from_slice(c.as_bytes());
        }
        if item.depth > 0 {
            out.extend_from_slice(if item.last { "└─" } else { "├─" }.as_bytes());
        }
        let _ = writeln!(out, "{}({})", display(&item.name), item.pid);
        if item.depth > 0 {
            continuations.push(if item.last { "  " } else { "│ " });
        }
    }
}

/// The rows as one JSON array of objects, and a newline: the bytes serde writes for
/// `Rows` (a property test holds them equal), written without it — a third of what the
/// agent spends on a `ps` of 10,000 processes went to serde's per-key escaping and float
/// formatting (see [`crate::render::event_line`]).
pub fn json(rows: &Rows) -> Vec<u8> {
    // About what a row of the usual attributes takes, so that the text is not copied as it
    // grows.
    let mut out = Vec::with_capacity(rows.rows.len() * (32 + 48 * rows.attrs.len()) + 3);
    out.push(b'[');
    for (index, row) in rows.rows.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (field, (attr, value)) in rows.attrs.iter().zip(&row.values).enumerate() {
            if field > 0 {
                out.push(b',');
            }
            crate::render::json::string(&mut out, attr.name().as_bytes());
            out.push(b':');
            value_json(&mut out, value);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]\n");
    out
}

/// One value as serde writes it ([`Value`]'s `Serialize`).
fn value_json(out: &mut Vec<u8>, value: &Value) {
    use crate::render::json::{float, int, string};
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int(v) => int(out, *v),
        Value::Float(v) => float(out, *v),
        Value::Str(s) => string(out, s.as_encoded_bytes()),
        Value::List(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                value_json(out, item);
            }
            out.push(b']');
        }
        Value::Tuple(fields) => {
            out.push(b'{');
            for (index, (key, item)) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                string(out, key.as_bytes());
                out.push(b':');
                value_json(out, item);
            }
            out.push(b'}');
        }
        Value::Dict(fields) => {
            out.push(b'{');
            for (index, (key, item)) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                // As serde writes a key that is not UTF-8: lossily.
                string(out, key.to_string_lossy().as_bytes());
                out.push(b':');
                value_json(out, item);
            }
            out.push(b'}');
        }
    }
}

/// The rows as aligned columns under a header line.
pub fn text(rows: &Rows) -> Vec<u8> {
    let attrs = &rows.attrs;
    let headers: Vec<String> = attrs.iter().map(|a| header(*a)).collect();
    let cells: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|row| {
            attrs
                .iter()
                .zip(&row.values)
                .map(|(attr, value)| cell(*attr, value))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let last = attrs.len().saturating_sub(1);
    let line = |cells: &[String]| -> String {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push(' ');
            }
            if i == last {
                line.push_str(cell);
            } else if right_aligned(attrs[i]) {
                line.push_str(&format!("{cell:>width$}"));
            } else {
                line.push_str(&format!("{cell:<width$}"));
            }
        }
        line.trim_end().to_string()
    };
    let mut out = Vec::with_capacity(rows.rows.len() * 160);
    for row in std::iter::once(&headers).chain(&cells) {
        out.extend_from_slice(line(row).as_bytes());
        out.push(b'\n');
    }
    out
}

/// The column header of an attribute.
fn header(attr: Attr) -> String {
    match attr {
        Attr::Pid => "PID".into(),
        Attr::Ppid => "PPID".into(),
        Attr::Username => "USER".into(),
        Attr::Status => "STATUS".into(),
        Attr::NumThreads => "THR".into(),
        Attr::MemoryInfo => "RSS".into(),
        Attr::CreateTime => "STARTED".into(),
        Attr::CpuTimes => "CPUTIME".into(),
        Attr::CpuPercent => "%CPU".into(),
        Attr::MemoryPercent => "%MEM".into(),
        Attr::ExitTime => "ENDED".into(),
        Attr::ExitCode => "CODE".into(),
        Attr::OncpuTime => "ONCPU".into(),
        Attr::RunqLatency => "RUNQ".into(),
        Attr::ContainerId => "CONTAINER".into(),
        Attr::ContainerRuntime => "RUNTIME".into(),
        Attr::PodUid => "POD".into(),
        other => other.name().to_uppercase(),
    }
}

/// Whether a column is numeric (right-aligned).
fn right_aligned(attr: Attr) -> bool {
    matches!(
        attr,
        Attr::Pid
            | Attr::Ppid
            | Attr::NumThreads
            | Attr::MemoryInfo
            | Attr::MemoryFullInfo
            | Attr::CpuTimes
            | Attr::CpuPercent
            | Attr::MemoryPercent
            | Attr::Nice
            | Attr::NumFds
            | Attr::CpuNum
            | Attr::ExitCode
            | Attr::Signal
            | Attr::Duration
            | Attr::OncpuTime
            | Attr::CgroupId
            | Attr::Pidns
            | Attr::Mntns
            | Attr::Netns
            | Attr::Userns
            | Attr::Utsns
            | Attr::Ipcns
            | Attr::Cgroupns
            | Attr::Vpid
            | Attr::Vppid
    )
}

/// A value in a table cell, shaped for the attribute.
fn cell(attr: Attr, value: &Value) -> String {
    match (attr, value) {
        (_, Value::Null) => "-".into(),
        // Cut to 12 digits, as docker prints ids (the JSON has all 64).
        (Attr::ContainerId, Value::Str(id)) => id.to_string_lossy().chars().take(12).collect(),
        (Attr::MemoryInfo | Attr::MemoryFullInfo, Value::Tuple(fields)) => match fields.first() {
            Some((_, Value::Int(rss))) => bytes(*rss),
            _ => value_text(value),
        },
        (Attr::CpuTimes, Value::Tuple(fields)) => {
            let total: f64 = fields
                .iter()
                .take(2)
                .filter_map(|(_, v)| v.sort_key())
                .sum();
            duration(total)
        }
        (Attr::Uids | Attr::Gids, Value::Tuple(fields)) => match fields.first() {
            Some((_, first)) => value_text(first),
            None => "-".into(),
        },
        (Attr::CreateTime | Attr::ExitTime, Value::Float(t)) => time_of_day(*t),
        (Attr::Duration | Attr::OncpuTime, Value::Float(d)) => duration(*d),
        // Waits, mean and longest: `120 waits, avg 35us, max 1.2ms`.
        (Attr::RunqLatency, Value::Tuple(fields)) => {
            let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
            match (get("count"), get("sum"), get("max")) {
                (Some(Value::Int(n)), Some(Value::Float(sum)), Some(Value::Float(max))) => {
                    let mean = if *n > 0 { sum / *n as f64 } else { 0.0 };
                    format!("{n} waits, avg {}, max {}", duration(mean), duration(*max))
                }
                _ => value_text(value),
            }
        }
        (Attr::Signal, Value::Int(s)) => signal_name(*s as i32),
        (Attr::CpuPercent | Attr::MemoryPercent, Value::Float(p)) => format!("{p:.1}"),
        (Attr::Cmdline, Value::List(args)) => args
            .iter()
            .map(|a| match a {
                Value::Str(s) => shell_word(s),
                other => value_text(other),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => value_text(value),
    }
}

/// Any value as plain text.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::Int(v) => v.to_string(),
        Value::Float(v) => format!("{v:.2}"),
        Value::Str(s) => display(s),
        Value::List(items) => items.iter().map(value_text).collect::<Vec<_>>().join(","),
        Value::Tuple(fields) => fields
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Dict(fields) => fields
            .iter()
            .map(|(k, v)| format!("{}={}", display(k), value_text(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(all(test, unix))]
mod json_props {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    use proptest::prelude::*;

    use super::*;
    use crate::query::attrs::ALL;
    use crate::query::Row;

    fn bytes() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            "[a-z0-9/._ -]{0,16}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..12),
        ]
        .boxed()
    }

    fn value() -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Int),
            prop_oneof![0.0..1e10f64, any::<f64>()].prop_map(Value::Float),
            bytes().prop_map(|b| Value::Str(OsString::from_vec(b))),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                proptest::collection::vec(
                    (
                        prop_oneof![Just("rss"), Just("user"), Just("a\"b")],
                        inner.clone()
                    ),
                    0..4
                )
                .prop_map(Value::Tuple),
                proptest::collection::vec((bytes().prop_map(OsString::from_vec), inner), 0..4)
                    .prop_map(Value::Dict),
            ]
        })
        .boxed()
    }

    fn rows() -> BoxedStrategy<Rows> {
        (1usize..5)
            .prop_flat_map(|width| {
                (
                    proptest::collection::vec(proptest::sample::select(&ALL[..]), width),
                    proptest::collection::vec(
                        proptest::collection::vec(value(), width)
                            .prop_map(|values| Row { pid: 1, values }),
                        0..6,
                    ),
                )
            })
            .prop_map(|(attrs, rows)| Rows { attrs, rows })
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The hand-written rows are serde's rendering of [`Rows`], byte for byte.
        #[test]
        fn rows_json_is_what_serde_writes(rows in rows()) {
            let mut serde = crate::render::json::to_vec(&rows);
            serde.push(b'\n');
            let fast = json(&rows);
            prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    use crate::event::{IoUsage, SchedUsage, Usage};
    use crate::query::attrs::{sched_value, usage_value};
    use crate::query::Row;

    #[cfg(unix)]
    fn os(bytes: &[u8]) -> OsString {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(bytes.to_vec())
    }

    /// Rows with every kind of value `ps` shows: live and exited, nulls, floats, bytes that
    /// are not UTF-8 in names, argv and the environment.
    #[cfg(unix)]
    fn sample_rows() -> (Vec<Attr>, Vec<Vec<Value>>) {
        let usage = Usage {
            user: 0.25,
            system: 1e-5,
            children_user: 1.0,
            children_system: 0.0,
            peak_rss: 1 << 20,
            voluntary_ctx_switches: 3,
            involuntary_ctx_switches: u64::MAX,
            minor_faults: 10,
            major_faults: 0,
            io: IoUsage {
                read_count: Some(5),
                read_chars: Some(7),
                ..IoUsage::default()
            },
            sched: None,
        };
        let sched = SchedUsage {
            oncpu: 0.5,
            runq_count: 2,
            runq_sum: 0.001,
            runq_max: 1e21,
        };
        let attrs = vec![
            Attr::Pid,
            Attr::Name,
            Attr::Cmdline,
            Attr::Exe,
            Attr::CpuPercent,
            Attr::MemoryInfo,
            Attr::CpuTimes,
            Attr::IoCounters,
            Attr::Environ,
            Attr::RunqLatency,
            Attr::CpuAffinity,
            Attr::ExitCode,
        ];
        let live = vec![
            Value::Int(1),
            Value::Str(os(b"caf\xc3\xa9\xff")),
            Value::List(vec![
                Value::Str(os(b"/bin/sh")),
                Value::Str(os(b"-c")),
                Value::Str(os(b"echo \"\x01\x7f\t\n\\ \xfe\xed\xb2\x80")),
                Value::Str(os(b"")),
            ]),
            Value::Null,
            Value::Float(f64::NAN),
            Value::Tuple(vec![
                ("rss", Value::Int(4096)),
                ("vms", Value::Int(8192)),
                ("shared", Value::Int(0)),
                ("text", Value::Int(1)),
                ("lib", Value::Int(0)),
                ("data", Value::Int(-1)),
                ("dirty", Value::Int(i64::MAX)),
            ]),
            Value::Tuple(vec![
                ("user", Value::Float(1.5)),
                ("system", Value::Float(0.1)),
                ("children_user", Value::Float(0.0)),
                ("children_system", Value::Float(123456789.125)),
                ("iowait", Value::Float(f64::INFINITY)),
            ]),
            Value::Null,
            Value::Dict(vec![
                (os(b"PATH"), Value::Str(os(b"/bin"))),
                (os(b"K\xff"), Value::Str(os(b"v\xff\"x"))),
                (os(b""), Value::Str(os(b""))),
            ]),
            sched_value(
                Some(&sched),
                Some(&[(0.5, 1), (f64::INFINITY, 1)]),
                Attr::RunqLatency,
            ),
            Value::List(vec![Value::Int(0), Value::Int(1)]),
            Value::Null,
        ];
        let exited = vec![
            Value::Int(4_000_000),
            Value::Str(os(b"x")),
            Value::Null,
            Value::Null,
            Value::Null,
            usage_value(Some(&usage), Attr::MemoryInfo),
            usage_value(Some(&usage), Attr::CpuTimes),
            usage_value(Some(&usage), Attr::IoCounters),
            Value::Dict(Vec::new()),
            sched_value(Some(&sched), None, Attr::RunqLatency),
            Value::List(Vec::new()),
            Value::Int(-2),
        ];
        (attrs, vec![live, exited])
    }

    const PINNED_JSON: &str = r#"[{"pid":1,"name":"café\udcff","cmdline":["/bin/sh","-c","echo \"\u0001\u007f\t\n\\ \udcfe\udced\udcb2\udc80",""],"exe":null,"cpu_percent":null,"memory_info":{"rss":4096,"vms":8192,"shared":0,"text":1,"lib":0,"data":-1,"dirty":9223372036854775807},"cpu_times":{"user":1.5,"system":0.1,"children_user":0.0,"children_system":123456789.125,"iowait":null},"io_counters":null,"environ":{"PATH":"/bin","K�":"v\udcff\"x","":""},"runq_latency":{"count":2,"sum":0.001,"max":1e21,"histogram":[{"le":0.5,"count":1},{"le":null,"count":1}]},"cpu_affinity":[0,1],"exit_code":null},{"pid":4000000,"name":"x","cmdline":null,"exe":null,"cpu_percent":null,"memory_info":{"rss":1048576},"cpu_times":{"user":0.25,"system":1e-5,"children_user":1.0,"children_system":0.0,"iowait":0.0},"io_counters":{"read_count":5,"read_chars":7},"environ":{},"runq_latency":{"count":2,"sum":0.001,"max":1e21,"histogram":null},"cpu_affinity":[],"exit_code":-2}]"#;

    fn fork(pid: u32, ppid: u32, name: &[u8]) -> crate::event::Event {
        crate::event::Event {
            time: 1.0,
            id: crate::event::ProcessId {
                pid,
                start_ticks: u64::from(pid),
            },
            create_time: 1.0,
            ppid,
            uid: 0,
            gid: 0,
            name: os(name),
            backend: crate::event::Backend::Procfs,
            placement: None,
            details: crate::event::Details::Fork { parent_pid: ppid },
        }
    }

    #[test]
    #[cfg(unix)]
    fn tree_is_pinned() {
        let mut table = ProcessTable::new(std::time::Duration::from_secs(60));
        // Pids above the kernel's PID_MAX_LIMIT (4,194,304): no live process's placement can
        // be read for them, so the tree is the fixture's alone (placement fields null).
        for (pid, ppid, name) in [
            (4194401, 0, &b"init"[..]),
            (4194420, 4194401, b"a\xff\"b"),
            (4194403, 4194401, b"sh"),
            (4194440, 4194403, b"kid"),
            (4194450, 4194403, b"kid2"),
        ] {
            table.apply(&fork(pid, ppid, name));
        }
        let json = tree(&table, None, Format::Json, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"[{"pid":4194401,"ppid":0,"name":"init","cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"children":[{"pid":4194403,"ppid":4194401,"name":"sh","cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"children":[{"pid":4194440,"ppid":4194403,"name":"kid","cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"children":[]},{"pid":4194450,"ppid":4194403,"name":"kid2","cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"children":[]}]},{"pid":4194420,"ppid":4194401,"name":"a\udcff\"b","cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"children":[]}]}]
"#
        );
        let text = tree(&table, Some(4194403), Format::Text, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "sh(4194403)\n├─kid(4194440)\n└─kid2(4194450)\n"
        );
        let text = tree(&table, None, Format::Text, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "init(4194401)\n├─sh(4194403)\n│ ├─kid(4194440)\n│ └─kid2(4194450)\n└─a\\xff\"b(4194420)\n"
        );
    }

    /// A chain 100,000 deep: built, walked and written without recursion (a recursive walk
    /// would overflow the test thread's stack).
    #[test]
    #[cfg(unix)]
    fn a_deep_chain_costs_no_stack() {
        let mut table = ProcessTable::new(std::time::Duration::from_secs(60));
        let depth = 100_000u32;
        for pid in 1..=depth {
            table.apply(&fork(pid, pid - 1, b"sh"));
        }
        let json = tree(&table, None, Format::Json, &Viewer::ROOT).unwrap();
        let opened = json.windows(12).filter(|w| w == b"\"children\":[").count();
        assert_eq!(opened, depth as usize);
        let closed = b"]}".repeat(depth as usize);
        assert!(json.ends_with(&[&closed[..], b"]\n"].concat()));
        // (Placement fields, read from this host's /proc for these pids, sit between the name
        // and the children.)
        assert!(json.starts_with(br#"[{"pid":1,"ppid":0,"name":"sh","#));
        let text = tree(&table, Some(depth - 2), Format::Text, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            format!("sh({})\n└─sh({})\n  └─sh({depth})\n", depth - 2, depth - 1)
        );
    }

    const PINNED_TEXT: &str = "  PID USER     STATUS   THR  RSS CPUTIME %CPU  SIGNAL DURATION UIDS ENVIRON   RUNQ                          CMDLINE\n    7 r\\xffoot sleeping   3 5.0M   1m02s 12.3 SIGKILL    500us 0    A=1 B\\n=- 4 waits, avg 500us, max 1.50s sh -c 'it'\\''s \\u{1}'\n12345 -        -          - 100B       -  NaN   SIG40    3m20s -              -\n";

    #[test]
    #[cfg(unix)]
    fn rows_text_is_pinned() {
        let attrs = vec![
            Attr::Pid,
            Attr::Username,
            Attr::Status,
            Attr::NumThreads,
            Attr::MemoryInfo,
            Attr::CpuTimes,
            Attr::CpuPercent,
            Attr::Signal,
            Attr::Duration,
            Attr::Uids,
            Attr::Environ,
            Attr::RunqLatency,
            Attr::Cmdline,
        ];
        let sched = SchedUsage {
            oncpu: 0.5,
            runq_count: 4,
            runq_sum: 0.002,
            runq_max: 1.5,
        };
        let rows = vec![
            Row {
                pid: 7,
                values: vec![
                    Value::Int(7),
                    Value::Str(os(b"r\xffoot")),
                    Value::Str(os(b"sleeping")),
                    Value::Int(3),
                    Value::Tuple(vec![("rss", Value::Int(5 << 20)), ("vms", Value::Int(1))]),
                    Value::Tuple(vec![
                        ("user", Value::Float(61.0)),
                        ("system", Value::Float(1.5)),
                        ("children_user", Value::Float(100.0)),
                    ]),
                    Value::Float(12.345),
                    Value::Int(9),
                    Value::Float(0.0005),
                    Value::Tuple(vec![("real", Value::Int(0)), ("effective", Value::Int(1))]),
                    Value::Dict(vec![
                        (os(b"A"), Value::Str(os(b"1"))),
                        (os(b"B\n"), Value::Null),
                    ]),
                    sched_value(Some(&sched), None, Attr::RunqLatency),
                    Value::List(vec![
                        Value::Str(os(b"sh")),
                        Value::Str(os(b"-c")),
                        Value::Str(os(b"it's \x01")),
                    ]),
                ],
            },
            Row {
                pid: 12345,
                values: vec![
                    Value::Int(12345),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Tuple(vec![("rss", Value::Int(100))]),
                    Value::Null,
                    Value::Float(f64::NAN),
                    Value::Int(40),
                    Value::Float(200.0),
                    Value::Null,
                    Value::Dict(Vec::new()),
                    Value::Null,
                    Value::List(Vec::new()),
                ],
            },
        ];
        let out = text(&Rows { attrs, rows });
        assert_eq!(String::from_utf8(out).unwrap(), PINNED_TEXT);
    }

    #[test]
    #[cfg(unix)]
    fn rows_json_is_pinned() {
        let (attrs, values) = sample_rows();
        let rows = Rows {
            attrs,
            rows: values
                .into_iter()
                .map(|values| Row { pid: 1, values })
                .collect(),
        };
        let out = String::from_utf8(json(&rows)).unwrap();
        assert_eq!(out, format!("{PINNED_JSON}\n"));
    }
}
