//! One query over the process table — attributes, filters, sort, who asks — rendered as
//! psutil-shaped JSON or aligned text. Direct mode and the agent run the same code, so their
//! answers are the same by construction.

use std::ffi::OsString;
use std::io::Write;

use crate::attrs::{Attr, Collector, Value};
use crate::cli::text;
use crate::json::Json;
use crate::table::{Entry, ProcessTable};

/// Attributes shown when none are asked for.
pub const DEFAULT_ATTRS: [Attr; 9] = [
    Attr::Pid,
    Attr::Ppid,
    Attr::Username,
    Attr::Status,
    Attr::NumThreads,
    Attr::MemoryInfo,
    Attr::CreateTime,
    Attr::Name,
    Attr::Cmdline,
];

/// Attributes shown by default for exited processes (`cpu_times` and `memory_info` — the
/// peak RSS — from the usage the kernel read at their exit).
pub const EXITED_ATTRS: [Attr; 11] = [
    Attr::Pid,
    Attr::Ppid,
    Attr::Username,
    Attr::ExitTime,
    Attr::ExitCode,
    Attr::Signal,
    Attr::Duration,
    Attr::CpuTimes,
    Attr::MemoryInfo,
    Attr::Name,
    Attr::Cmdline,
];

/// Output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects keyed by psutil's attribute names.
    Json,
    /// Aligned columns with a header line.
    Text,
}

/// A validated process query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Attributes, in output order (the sort attribute included).
    pub attrs: Vec<Attr>,
    /// Sort attribute and whether descending; by identity when `None`.
    pub sort: Option<(Attr, bool)>,
    /// Only these pids (all when empty).
    pub pids: Vec<u32>,
    /// Only children of these pids.
    pub ppids: Vec<u32>,
    /// Only these names (psutil's `name()`).
    pub names: Vec<OsString>,
    /// Only these real uids.
    pub uids: Vec<u32>,
    /// Recently exited processes instead of live ones.
    pub exited: bool,
    /// At most this many rows, the first after sorting (all when `None`).
    pub limit: Option<usize>,
    /// Output shape.
    pub format: Format,
}

impl Query {
    /// Builds a query from attribute and sort names as users type them (`-memory_info` sorts
    /// descending). Unknown names are an error naming them.
    pub fn new(attrs: &[String], sort: Option<&str>, exited: bool) -> Result<Query, String> {
        let mut parsed: Vec<Attr> = if attrs.is_empty() {
            if exited {
                EXITED_ATTRS.to_vec()
            } else {
                DEFAULT_ATTRS.to_vec()
            }
        } else {
            attrs
                .iter()
                .map(|a| a.trim().parse::<Attr>())
                .collect::<Result<_, _>>()?
        };
        let sort = match sort {
            Some(key) => {
                let (name, descending) = match key.strip_prefix('-') {
                    Some(name) => (name, true),
                    None => (key, false),
                };
                let attr = name.parse::<Attr>()?;
                if !parsed.contains(&attr) {
                    parsed.push(attr);
                }
                Some((attr, descending))
            }
            None => None,
        };
        Ok(Query {
            attrs: parsed,
            sort,
            pids: Vec::new(),
            ppids: Vec::new(),
            names: Vec::new(),
            uids: Vec::new(),
            exited,
            limit: None,
            format: Format::Json,
        })
    }

    /// Whether any of `attrs` is asked for.
    pub fn needs(&self, attrs: &[Attr]) -> bool {
        self.attrs.iter().any(|a| attrs.contains(a))
    }

    fn selects(&self, entry: &Entry) -> bool {
        (self.pids.is_empty() || self.pids.contains(&entry.id.pid))
            && (self.ppids.is_empty() || self.ppids.contains(&entry.ppid))
            && (self.uids.is_empty()
                || entry
                    .uids
                    .is_some_and(|[real, ..]| self.uids.contains(&real)))
            && (self.names.is_empty() || self.names.contains(&entry.name()))
    }
}

/// Who is asking: what a client may see of processes that are not its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The client's uid (0 sees everything).
    pub uid: u32,
    /// `/proc` is mounted with `hidepid`: other users' processes are invisible to non-root.
    pub hidepid: bool,
}

impl Viewer {
    /// Sees everything.
    pub const ROOT: Viewer = Viewer {
        uid: 0,
        hidepid: false,
    };

    /// Whether this viewer may see the process at all.
    pub fn sees(&self, entry: &Entry) -> bool {
        self.uid == 0 || !self.hidepid || self.owns(entry)
    }

    /// Whether the process belongs to the viewer (its real or effective uid).
    pub fn owns(&self, entry: &Entry) -> bool {
        self.uid == 0
            || entry
                .uids
                .is_some_and(|[real, effective, _]| real == self.uid || effective == self.uid)
    }
}

/// Runs `query` over `table` for `viewer` and renders the answer.
pub fn render(
    table: &ProcessTable,
    collector: &mut Collector,
    query: &Query,
    viewer: &Viewer,
) -> Vec<u8> {
    let source: Vec<&Entry> = if query.exited {
        table.exited().collect()
    } else {
        table.live().collect()
    };
    let selected: Vec<&Entry> = source
        .into_iter()
        .filter(|e| viewer.sees(e) && query.selects(e))
        .collect();
    let mut rows: Vec<(&Entry, Vec<Value>)> = preselect(selected, collector, query, viewer)
        .into_iter()
        .map(|entry| {
            let values = collector.collect_for(entry, &query.attrs, viewer.owns(entry));
            (entry, values)
        })
        .collect();
    sort_rows(&mut rows, query);
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    match query.format {
        Format::Json => {
            let mut out = rows_json(&query.attrs, &rows).into_bytes();
            out.push(b'\n');
            out
        }
        Format::Text => {
            let mut out = Vec::with_capacity(rows.len() * 160);
            let _ = write_table(&mut out, &query.attrs, &rows);
            out
        }
    }
}

/// With a `limit` and a sort on an attribute the table answers (exit_time, pid, name, …),
/// only the rows that make the cut are collected in full: on a busy host the exited list holds
/// hundreds of thousands of processes, and a client asking for the newest 500 should not pay
/// for the rest.
fn preselect<'a>(
    entries: Vec<&'a Entry>,
    collector: &mut Collector,
    query: &Query,
    viewer: &Viewer,
) -> Vec<&'a Entry> {
    let (Some(limit), Some((attr, descending))) = (query.limit, query.sort) else {
        return entries;
    };
    if entries.len() <= limit || !attr.from_table() {
        return entries;
    }
    if limit == 0 {
        return Vec::new();
    }
    let mut keyed: Vec<(&Entry, Value)> = entries
        .into_iter()
        .map(|entry| {
            let key = collector.collect_for(entry, &[attr], viewer.owns(entry));
            (entry, key.into_iter().next().unwrap_or(Value::Null))
        })
        .collect();
    keyed.select_nth_unstable_by(limit - 1, |(a_entry, a), (b_entry, b)| {
        compare(a_entry, a, b_entry, b, descending)
    });
    keyed.truncate(limit);
    keyed.into_iter().map(|(entry, _)| entry).collect()
}

/// The order of two rows by one attribute's values, ties by identity.
fn compare(
    a_entry: &Entry,
    a: &Value,
    b_entry: &Entry,
    b: &Value,
    descending: bool,
) -> std::cmp::Ordering {
    let order = match (a.sort_key(), b.sort_key()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (None, None) => text::value(a).cmp(&text::value(b)),
    };
    let order = if descending { order.reverse() } else { order };
    order.then(a_entry.id.cmp(&b_entry.id))
}

fn sort_rows(rows: &mut [(&Entry, Vec<Value>)], query: &Query) {
    let Some((attr, descending)) = query.sort else {
        rows.sort_by_key(|(entry, _)| entry.id);
        return;
    };
    let index = query
        .attrs
        .iter()
        .position(|a| *a == attr)
        .expect("the sort attribute is always collected");
    rows.sort_by(|(a_entry, a), (b_entry, b)| {
        compare(a_entry, &a[index], b_entry, &b[index], descending)
    });
}

/// The rows as one JSON array of objects.
fn rows_json(attrs: &[Attr], rows: &[(&Entry, Vec<Value>)]) -> String {
    // About what a row of the usual attributes takes, so that the text is not copied as it
    // grows.
    let mut json = Json::with_capacity(rows.len() * (32 + 48 * attrs.len()));
    json.begin_array();
    for (_, values) in rows {
        json.begin_object();
        for (attr, value) in attrs.iter().zip(values) {
            json.key(attr.name());
            value.write_json(&mut json);
        }
        json.end_object();
    }
    json.end_array();
    json.finish()
}

fn write_table(
    out: &mut impl Write,
    attrs: &[Attr],
    rows: &[(&Entry, Vec<Value>)],
) -> std::io::Result<()> {
    let headers: Vec<String> = attrs.iter().map(|a| text::header(*a)).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, values)| {
            attrs
                .iter()
                .zip(values)
                .map(|(attr, value)| text::cell(*attr, value))
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
            } else if text::right_aligned(attrs[i]) {
                line.push_str(&format!("{cell:>width$}"));
            } else {
                line.push_str(&format!("{cell:<width$}"));
            }
        }
        line.trim_end().to_string()
    };
    writeln!(out, "{}", line(&headers))?;
    for row in &cells {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// Renders the process tree under `root` (every parentless process when `None`).
pub fn tree(
    table: &ProcessTable,
    root: Option<u32>,
    format: Format,
    viewer: &Viewer,
) -> Result<Vec<u8>, String> {
    let roots: Vec<&Entry> = match root {
        Some(pid) => vec![table
            .get(pid)
            .filter(|e| viewer.sees(e))
            .ok_or_else(|| format!("no process with pid {pid}"))?],
        None => {
            let mut roots: Vec<&Entry> = table
                .live()
                .filter(|e| viewer.sees(e))
                .filter(|e| e.ppid == 0 || table.get(e.ppid).is_none_or(|p| !viewer.sees(p)))
                .collect();
            roots.sort_by_key(|e| e.id);
            roots
        }
    };
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let mut json = Json::new();
            json.begin_array();
            for root in roots {
                tree_json(table, root, viewer, &mut json);
            }
            json.end_array();
            out.extend_from_slice(json.finish().as_bytes());
            out.push(b'\n');
        }
        Format::Text => {
            for root in roots {
                let _ = tree_text(table, root, viewer, "", "", &mut out);
            }
        }
    }
    Ok(out)
}

fn label(entry: &Entry) -> String {
    format!("{}({})", text::display(&entry.name()), entry.id.pid)
}

fn tree_text(
    table: &ProcessTable,
    entry: &Entry,
    viewer: &Viewer,
    first_prefix: &str,
    prefix: &str,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(out, "{first_prefix}{}", label(entry))?;
    let children: Vec<&Entry> = table
        .children(entry.id.pid, false)
        .into_iter()
        .filter(|c| viewer.sees(c))
        .collect();
    let count = children.len();
    for (i, child) in children.into_iter().enumerate() {
        let last = i + 1 == count;
        let (branch, continuation) = if last {
            ("└─", "  ")
        } else {
            ("├─", "│ ")
        };
        tree_text(
            table,
            child,
            viewer,
            &format!("{prefix}{branch}"),
            &format!("{prefix}{continuation}"),
            out,
        )?;
    }
    Ok(())
}

fn tree_json(table: &ProcessTable, entry: &Entry, viewer: &Viewer, json: &mut Json) {
    json.begin_object();
    json.key("pid").uint(entry.id.pid.into());
    json.key("ppid").uint(entry.ppid.into());
    json.key("name").os_str(&entry.name());
    json.key("children").begin_array();
    for child in table.children(entry.id.pid, false) {
        if viewer.sees(child) {
            tree_json(table, child, viewer, json);
        }
    }
    json.end_array();
    json.end_object();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::{sched_value, usage_value};
    use crate::event::{IoUsage, SchedUsage, Usage};

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
            details: crate::event::Details::Fork { parent_pid: ppid },
        }
    }

    #[test]
    #[cfg(unix)]
    fn tree_is_pinned() {
        let mut table = ProcessTable::new(std::time::Duration::from_secs(60));
        for (pid, ppid, name) in [
            (1, 0, &b"init"[..]),
            (20, 1, b"a\xff\"b"),
            (3, 1, b"sh"),
            (40, 3, b"kid"),
            (50, 3, b"kid2"),
        ] {
            table.apply(&fork(pid, ppid, name));
        }
        let json = tree(&table, None, Format::Json, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"[{"pid":1,"ppid":0,"name":"init","children":[{"pid":3,"ppid":1,"name":"sh","children":[{"pid":40,"ppid":3,"name":"kid","children":[]},{"pid":50,"ppid":3,"name":"kid2","children":[]}]},{"pid":20,"ppid":1,"name":"a\udcff\"b","children":[]}]}]
"#
        );
        let text = tree(&table, Some(3), Format::Text, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "sh(3)\n├─kid(40)\n└─kid2(50)\n"
        );
        let text = tree(&table, None, Format::Text, &Viewer::ROOT).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "init(1)\n├─sh(3)\n│ ├─kid(40)\n│ └─kid2(50)\n└─a\\xff\"b(20)\n"
        );
    }

    /// The order `--sort` gives: numbers by value (named tuples by their first field, lists
    /// by length) after values that are not numbers; nulls before strings; ties by identity.
    #[test]
    #[cfg(unix)]
    fn sorts_typed_values() {
        let entries: Vec<Entry> = (1..=6).map(entry).collect();
        let sorted = |attr: Attr, descending: bool, values: Vec<Value>| -> Vec<u32> {
            let mut query = Query::new(&[], None, false).unwrap();
            query.attrs = vec![attr];
            query.sort = Some((attr, descending));
            let mut rows: Vec<(&Entry, Vec<Value>)> = entries
                .iter()
                .zip(values)
                .map(|(e, v)| (e, vec![v]))
                .collect();
            sort_rows(&mut rows, &query);
            rows.iter().map(|(e, _)| e.id.pid).collect()
        };
        let rss = |n: i64| Value::Tuple(vec![("rss", Value::Int(n)), ("vms", Value::Int(0))]);
        let memory = vec![rss(5), Value::Null, rss(1), rss(9), rss(5), Value::Null];
        assert_eq!(
            sorted(Attr::MemoryInfo, false, memory.clone()),
            [2, 6, 3, 1, 5, 4]
        );
        assert_eq!(sorted(Attr::MemoryInfo, true, memory), [4, 1, 5, 3, 2, 6]);
        let s = |t: &[u8]| Value::Str(os(t));
        let names = vec![s(b"b"), Value::Null, s(b"B"), s(b"a\xff"), s(b"a"), s(b"b")];
        assert_eq!(sorted(Attr::Name, false, names.clone()), [2, 3, 5, 4, 1, 6]);
        assert_eq!(sorted(Attr::Name, true, names), [1, 6, 4, 5, 3, 2]);
        let mixed = vec![
            Value::Float(2.5),
            Value::Int(3),
            Value::Null,
            Value::List(vec![Value::Null; 2]),
            Value::Float(-1.0),
            Value::Float(f64::NAN),
        ];
        assert_eq!(sorted(Attr::CpuPercent, false, mixed), [3, 5, 4, 1, 2, 6]);
    }

    fn entry(pid: u32) -> Entry {
        Entry {
            id: crate::event::ProcessId {
                pid,
                start_ticks: u64::from(pid),
            },
            create_time: 0.0,
            ppid: 1,
            comm: "x".into(),
            exe: None,
            cmdline: None,
            uids: None,
            gids: None,
            origin: crate::table::Origin::Seeded,
            updated: 0.0,
            ppid_stale: false,
            zombie: false,
            pending: false,
            exit: None,
        }
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
        let (a, b) = (entry(7), entry(12345));
        let rows = vec![
            (
                &a,
                vec![
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
            ),
            (
                &b,
                vec![
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
            ),
        ];
        let mut out = Vec::new();
        write_table(&mut out, &attrs, &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), PINNED_TEXT);
    }

    #[test]
    #[cfg(unix)]
    fn rows_json_is_pinned() {
        let (attrs, rows) = sample_rows();
        let mut json = Json::new();
        json.begin_array();
        for values in &rows {
            json.begin_object();
            for (attr, value) in attrs.iter().zip(values) {
                json.key(attr.name());
                value.write_json(&mut json);
            }
            json.end_object();
        }
        json.end_array();
        assert_eq!(json.finish(), PINNED_JSON);
    }
}
