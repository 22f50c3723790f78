//! One query over the process table — attributes, filters, sort, who asks — answered as typed
//! rows ([`Rows`]) and trees ([`TreeItem`]); `crate::render::rows` turns them into JSON or
//! text. Direct mode and the agent run the same code, so their answers are the same by
//! construction.

pub mod cpu_samples;

pub mod filter;

pub mod attrs;

pub mod group;

pub mod access;

pub mod kthreads;

pub use access::Viewer;

use std::ffi::OsString;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::bytes::ByteString;
use crate::host::container::PlacementReader;
use crate::query::attrs::{Attr, Collector, Value};
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects keyed by psutil's attribute names.
    #[default]
    Json,
    /// Aligned columns with a header line.
    Text,
}

impl Format {
    /// JSON when `json`, else text: the commands' `--json` flag.
    pub fn json_if(json: bool) -> Format {
        if json {
            Format::Json
        } else {
            Format::Text
        }
    }
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
    /// Only processes running there (read fresh for live processes).
    pub placement: filter::PlacementFilter,
    /// One row per group instead of per process.
    pub group_by: Option<group::GroupBy>,
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
            // Each attribute once, in the order first asked: a request repeating one costs
            // what asking it once does.
            let mut unique = Vec::new();
            for name in attrs {
                let attr = name.trim().parse::<Attr>()?;
                if !unique.contains(&attr) {
                    unique.push(attr);
                }
            }
            unique
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
            placement: filter::PlacementFilter::default(),
            group_by: None,
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

/// A query's answer: one row per process, each the values of `attrs` in that order (psutil's
/// `as_dict(attrs)` per process). Serializes as a JSON array of objects keyed by the attribute
/// names.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// The attributes of every row, in output order.
    pub attrs: Vec<Attr>,
    /// The rows, sorted and limited as the query asked.
    pub rows: Vec<Row>,
}

/// One process of a [`Rows`] answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The process's pid (not serialized: `pid` is there when asked for).
    pub pid: u32,
    /// The values, one per attribute of the answer.
    pub values: Vec<Value>,
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// One row as an object keyed by the attribute names.
        struct Object<'a>(&'a [Attr], &'a [Value]);

        impl Serialize for Object<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (attr, value) in self.0.iter().zip(self.1) {
                    map.serialize_entry(attr.name(), value)?;
                }
                map.end()
            }
        }

        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&Object(&self.attrs, &row.values))?;
        }
        seq.end()
    }
}

/// One process of `tracer tree`, in pre-order: its children follow it, one level deeper.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeItem {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// psutil's `name()`.
    pub name: ByteString,
    /// Where it runs, read when the tree is built.
    pub placement: crate::render::events::PlacementFields,
    /// 0 for a root, its parent's depth + 1 otherwise.
    pub depth: usize,
    /// The last of its parent's children (or of the roots).
    pub last: bool,
}

/// Runs `query` over `table` for `viewer`.
pub fn run(
    table: &ProcessTable,
    collector: &mut Collector,
    query: &Query,
    viewer: &Viewer,
) -> Rows {
    run_on(select_in(table, query), collector, query, viewer)
}

/// Whether `query` for `viewer` reads nothing from `/proc` but a kernel thread's name: every
/// attribute comes from the table and no credential needs reading. Such a query may run under
/// the table's lock without copying it (the agent's common `ps`).
#[cfg(native_linux)]
pub fn table_only(query: &Query, viewer: &Viewer) -> bool {
    query.attrs.iter().all(|a| a.from_table())
        && (viewer.sees_all()
            || (viewer.hidepid == access::HidePid::Off
                && !query.attrs.iter().any(|a| a.owner_only())))
}

/// The entries `query` selects (by pid, parent, name, uid), copied out of the table: what
/// the table knows, taken under its lock so that `/proc` is read after it is released.
#[cfg(native_linux)]
pub fn select(table: &ProcessTable, query: &Query) -> Vec<Entry> {
    select_in(table, query).into_iter().cloned().collect()
}

/// The entries `query` selects, in place.
pub fn select_in<'a>(table: &'a ProcessTable, query: &Query) -> Vec<&'a Entry> {
    let source: Box<dyn Iterator<Item = &Entry>> = if query.exited {
        Box::new(table.exited())
    } else if !query.pids.is_empty() && query.pids.len() < 64 {
        Box::new(query.pids.iter().filter_map(|&pid| table.get(pid)))
    } else {
        Box::new(table.live())
    };
    // Room for every entry of the source at once: a filter's collect would grow by doubling,
    // copying the list a dozen times at 10,000 processes.
    let mut selected = Vec::with_capacity(source.size_hint().1.unwrap_or(0));
    selected.extend(source.filter(|e| query.selects(e)));
    selected
}

/// Runs `query` over entries [`select`] copied, for `viewer`: what hidepid hides from it is
/// left out, what `/proc` keeps from it is null (its processes' credentials are read now).
pub fn run_on<E: std::borrow::Borrow<Entry>>(
    entries: Vec<E>,
    collector: &mut Collector,
    query: &Query,
    viewer: &Viewer,
) -> Rows {
    let private = query.attrs.iter().any(|a| a.owner_only());
    let mut selected: Vec<(E, bool)> = Vec::with_capacity(entries.len());
    selected.extend(
        entries
            .into_iter()
            .filter_map(|entry| {
                let access = viewer.access(entry.borrow(), private);
                access.visible.then_some((entry, access.read))
            })
            .filter(|(entry, _)| {
                query.placement.is_empty()
                    || query
                        .placement
                        .matches(collector.placement(entry.borrow()).as_ref())
            }),
    );
    if query.sort.is_none() {
        // In identity order before any value is collected: the keys are sorted next to each
        // other, not through a pointer per comparison, and the rows need no sort after.
        selected.sort_by_cached_key(|(entry, _)| entry.borrow().id);
    }
    let mut rows: Vec<(&Entry, Vec<Value>)> = preselect(&selected, collector, query)
        .into_iter()
        .map(|(entry, read)| {
            let values = collector.collect_for(entry, &query.attrs, read);
            (entry, values)
        })
        .collect();
    sort_rows(&mut rows, query);
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    Rows {
        attrs: query.attrs.clone(),
        rows: rows
            .into_iter()
            .map(|(entry, values)| Row {
                pid: entry.id.pid,
                values,
            })
            .collect(),
    }
}

/// With a `limit` and a sort on an attribute the table answers (exit_time, pid, name, …),
/// only the rows that make the cut are collected in full: on a busy host the exited list holds
/// hundreds of thousands of processes, and a client asking for the newest 500 should not pay
/// for the rest.
fn preselect<'a, E: std::borrow::Borrow<Entry>>(
    selected: &'a [(E, bool)],
    collector: &mut Collector,
    query: &Query,
) -> Vec<(&'a Entry, bool)> {
    let entries = selected.iter().map(|(entry, read)| (entry.borrow(), *read));
    let (Some(limit), Some((attr, descending))) = (query.limit, query.sort) else {
        return entries.collect();
    };
    if selected.len() <= limit || !attr.from_table() {
        return entries.collect();
    }
    if limit == 0 {
        return Vec::new();
    }
    let mut keyed: Vec<((&Entry, bool), Value)> = entries
        .map(|(entry, read)| {
            let key = collector.collect_for(entry, &[attr], read);
            ((entry, read), key.into_iter().next().unwrap_or(Value::Null))
        })
        .collect();
    keyed.select_nth_unstable_by(limit - 1, |((a_entry, _), a), ((b_entry, _), b)| {
        compare(a_entry, a, b_entry, b, descending)
    });
    keyed.truncate(limit);
    keyed.into_iter().map(|(entry, _)| entry).collect()
}

/// The order of two rows by one attribute's values ([`Value::sort_cmp`]), ties by identity.
fn compare(
    a_entry: &Entry,
    a: &Value,
    b_entry: &Entry,
    b: &Value,
    descending: bool,
) -> std::cmp::Ordering {
    let order = a.sort_cmp(b);
    let order = if descending { order.reverse() } else { order };
    order.then(a_entry.id.cmp(&b_entry.id))
}

/// Sorts rows by the query's sort attribute; without one, they are in identity order already
/// ([`run_on`] sorts what it selected).
fn sort_rows(rows: &mut [(&Entry, Vec<Value>)], query: &Query) {
    let Some((attr, descending)) = query.sort else {
        debug_assert!(rows.is_sorted_by_key(|(entry, _)| entry.id));
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

/// What `tracer tree` needs of the live processes (identity, parent, name), copied out of the
/// table so that it is walked, and credentials read, after the lock is released.
#[derive(Debug, Clone, Default)]
pub struct TreeNodes(Vec<(crate::event::ProcessId, u32, OsString)>);

/// Copies what the tree needs out of `table`.
pub fn tree_nodes(table: &ProcessTable) -> TreeNodes {
    TreeNodes(table.live().map(|e| (e.id, e.ppid, e.name())).collect())
}

/// The process tree under `root` (every parentless process the viewer sees when `None`), in
/// pre-order. What the table knows is copied under its lock; who the viewer sees is decided
/// after (reading credentials); then one parent→children index is walked without recursion,
/// so a chain thousands deep costs what a flat list does.
pub fn process_tree(
    nodes: TreeNodes,
    root: Option<u32>,
    viewer: &Viewer,
) -> Result<Vec<TreeItem>, String> {
    let mut nodes = nodes.0;
    if !viewer.sees_all() && viewer.hidepid != access::HidePid::Off {
        nodes.retain(|(id, _, _)| viewer.sees(access::Creds::read_id(*id).as_ref()));
    }
    nodes.sort_by_key(|(id, _, _)| *id);
    let index: std::collections::HashMap<u32, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (id, _, _))| (id.pid, i))
        .collect();
    // Children by parent, each list in identity order (the nodes are sorted).
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for (i, (id, ppid, _)) in nodes.iter().enumerate() {
        match index.get(ppid) {
            Some(&parent) if *ppid != id.pid && *ppid != 0 => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let roots = match root {
        Some(pid) => vec![*index
            .get(&pid)
            .ok_or_else(|| format!("no process with pid {pid}"))?],
        None => roots,
    };
    let mut placements = PlacementReader::new();
    let mut items = Vec::with_capacity(nodes.len());
    let mut visited = vec![false; nodes.len()];
    let mut stack: Vec<(usize, usize, bool)> = roots
        .iter()
        .enumerate()
        .rev()
        .map(|(n, &i)| (i, 0, n + 1 == roots.len()))
        .collect();
    while let Some((i, depth, last)) = stack.pop() {
        // A parent cycle (a table that lags the kernel) is cut, never walked forever.
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        let (id, ppid, name) = &nodes[i];
        items.push(TreeItem {
            pid: id.pid,
            ppid: *ppid,
            name: name.as_os_str().into(),
            placement: placements.read(id.pid).as_ref().into(),
            depth,
            last,
        });
        let kids = &children[i];
        stack.extend(
            kids.iter()
                .enumerate()
                .rev()
                .map(|(n, &child)| (child, depth + 1, n + 1 == kids.len())),
        );
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn os(bytes: &[u8]) -> OsString {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(bytes.to_vec())
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
            placement: None,
        }
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
}
