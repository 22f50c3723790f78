//! `ps --group-by`: one row per container, cgroup, pod, user or name, with the number of
//! processes and their summed `cpu_times`, `memory_info.rss`, `num_threads` and `io_counters`
//! — the sums of the very values the per-process rows show.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::query::attrs::{Attr, Value};
use crate::query::Rows;

/// What processes are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The container id (null: not in a container).
    Container,
    /// The cgroup v2 path.
    Cgroup,
    /// The Kubernetes pod uid.
    Pod,
    /// The user name.
    User,
    /// psutil's `name()`.
    Name,
}

impl GroupBy {
    /// The name on the command line and the key of each group's row.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Container => "container",
            GroupBy::Cgroup => "cgroup",
            GroupBy::Pod => "pod",
            GroupBy::User => "user",
            GroupBy::Name => "name",
        }
    }

    /// The attribute whose value is the group key.
    pub fn key(self) -> Attr {
        match self {
            GroupBy::Container => Attr::ContainerId,
            GroupBy::Cgroup => Attr::Cgroup,
            GroupBy::Pod => Attr::PodUid,
            GroupBy::User => Attr::Username,
            GroupBy::Name => Attr::Name,
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "container" => Ok(GroupBy::Container),
            "cgroup" => Ok(GroupBy::Cgroup),
            "pod" => Ok(GroupBy::Pod),
            "user" => Ok(GroupBy::User),
            "name" => Ok(GroupBy::Name),
            other => Err(format!(
                "unknown group '{other}' (container, cgroup, pod, user or name)"
            )),
        }
    }
}

/// The attributes a grouped query collects per process: the key, then what is summed.
pub fn attrs(by: GroupBy) -> Vec<Attr> {
    let mut attrs = vec![by.key()];
    if by == GroupBy::Container {
        attrs.push(Attr::ContainerRuntime);
    }
    attrs.extend([
        Attr::Pid,
        Attr::CpuTimes,
        Attr::MemoryInfo,
        Attr::NumThreads,
        Attr::IoCounters,
    ]);
    attrs
}

/// The CPU time fields summed, psutil's `pcputimes`.
const CPU_FIELDS: [&str; 5] = [
    "user",
    "system",
    "children_user",
    "children_system",
    "iowait",
];
/// The I/O counter fields summed, psutil's `pio`.
const IO_FIELDS: [&str; 6] = [
    "read_count",
    "write_count",
    "read_bytes",
    "write_bytes",
    "read_chars",
    "write_chars",
];

/// One group's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The key (null: the processes without one, e.g. not in a container).
    pub key: Value,
    /// The container runtime, when grouping by container.
    pub runtime: Option<Value>,
    /// How many processes.
    pub num_procs: u64,
    /// Their pids, ascending.
    pub pids: Vec<u32>,
    /// Summed CPU seconds by field; `None` when no member's were readable.
    pub cpu_times: Option<[f64; 5]>,
    /// Summed RSS bytes; `None` when no member's was readable.
    pub rss: Option<i64>,
    /// Summed threads.
    pub num_threads: Option<i64>,
    /// Summed I/O counters; `None` when no member's were readable (not the viewer's).
    pub io_counters: Option<[i64; 6]>,
    /// Summed `cpu_percent`, when the rows have it (`top`'s group view; `ps` has none).
    pub cpu_percent: Option<f64>,
}

/// The groups of a grouped query's rows (collected with [`attrs`]), by key (null first).
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    /// What they are grouped by.
    pub by: GroupBy,
    /// One per key.
    pub groups: Vec<Group>,
}

/// Sums the rows of a query collected with [`attrs`] by their key.
pub fn group(by: GroupBy, rows: &Rows) -> Groups {
    let index = |attr: Attr| rows.attrs.iter().position(|a| *a == attr);
    let (key, runtime) = (index(by.key()), index(Attr::ContainerRuntime));
    let (cpu, memory, threads, io) = (
        index(Attr::CpuTimes),
        index(Attr::MemoryInfo),
        index(Attr::NumThreads),
        index(Attr::IoCounters),
    );
    let cpu_percent = index(Attr::CpuPercent);
    let mut groups: BTreeMap<KeyOrder, Group> = BTreeMap::new();
    for row in &rows.rows {
        let get = |i: Option<usize>| i.and_then(|i| row.values.get(i)).unwrap_or(&Value::Null);
        let key_value = get(key).clone();
        let group = groups
            .entry(KeyOrder(key_value.clone()))
            .or_insert_with(|| Group {
                key: key_value,
                runtime: None,
                num_procs: 0,
                pids: Vec::new(),
                cpu_times: None,
                rss: None,
                num_threads: None,
                io_counters: None,
                cpu_percent: None,
            });
        if runtime.is_some() && group.runtime.as_ref().is_none_or(|r| *r == Value::Null) {
            group.runtime = Some(get(runtime).clone());
        }
        group.num_procs += 1;
        group.pids.push(row.pid);
        if let Value::Tuple(_) = get(cpu) {
            let sums = group.cpu_times.get_or_insert([0.0; 5]);
            for (sum, field) in sums.iter_mut().zip(CPU_FIELDS) {
                *sum += get(cpu).field(field).and_then(Value::as_f64).unwrap_or(0.0);
            }
        }
        if let Some(rss) = get(memory).field("rss").and_then(Value::as_i64) {
            *group.rss.get_or_insert(0) += rss;
        }
        if let Some(n) = get(threads).as_i64() {
            *group.num_threads.get_or_insert(0) += n;
        }
        if let Some(p) = get(cpu_percent).as_f64().filter(|p| p.is_finite()) {
            *group.cpu_percent.get_or_insert(0.0) += p;
        }
        if let Value::Tuple(_) = get(io) {
            let sums = group.io_counters.get_or_insert([0; 6]);
            for (sum, field) in sums.iter_mut().zip(IO_FIELDS) {
                *sum += get(io).field(field).and_then(Value::as_i64).unwrap_or(0);
            }
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    for group in &mut groups {
        group.pids.sort_unstable();
    }
    Groups { by, groups }
}

/// Group keys in [`Value::sort_cmp`]'s order (null first, strings by bytes).
#[derive(Debug, Clone, PartialEq)]
struct KeyOrder(Value);

impl Eq for KeyOrder {}

impl PartialOrd for KeyOrder {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyOrder {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.sort_cmp(&other.0)
    }
}

/// `[{"container": KEY, "container_runtime": …, "num_procs": N, "pids": […], "cpu_times":
/// {…}, "memory_info": {"rss": N}, "num_threads": N, "io_counters": {…}}, …]`.
impl Serialize for Groups {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct One<'a>(GroupBy, &'a Group);

        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let (by, g) = (self.0, self.1);
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry(by.name(), &g.key)?;
                if let Some(runtime) = &g.runtime {
                    map.serialize_entry("container_runtime", runtime)?;
                }
                map.serialize_entry("num_procs", &g.num_procs)?;
                map.serialize_entry("pids", &g.pids)?;
                map.serialize_entry(
                    "cpu_times",
                    &g.cpu_times.map(|t| {
                        Value::Tuple(CPU_FIELDS.into_iter().zip(t.map(Value::Float)).collect())
                    }),
                )?;
                map.serialize_entry(
                    "memory_info",
                    &g.rss
                        .map(|rss| Value::Tuple(vec![("rss", Value::Int(rss))])),
                )?;
                map.serialize_entry("num_threads", &g.num_threads)?;
                if let Some(percent) = g.cpu_percent {
                    map.serialize_entry("cpu_percent", &percent)?;
                }
                map.serialize_entry(
                    "io_counters",
                    &g.io_counters.map(|c| {
                        Value::Tuple(IO_FIELDS.into_iter().zip(c.map(Value::Int)).collect())
                    }),
                )?;
                map.end()
            }
        }

        serializer.collect_seq(self.groups.iter().map(|g| One(self.by, g)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Row;

    fn row(pid: u32, key: Value, user: f64, rss: i64, threads: i64, io: Option<i64>) -> Row {
        Row {
            pid,
            values: vec![
                key,
                Value::Int(pid.into()),
                Value::Tuple(
                    CPU_FIELDS
                        .into_iter()
                        .map(|f| (f, Value::Float(if f == "user" { user } else { 0.5 })))
                        .collect(),
                ),
                Value::Tuple(vec![("rss", Value::Int(rss)), ("vms", Value::Int(1))]),
                Value::Int(threads),
                io.map_or(Value::Null, |n| {
                    Value::Tuple(IO_FIELDS.into_iter().map(|f| (f, Value::Int(n))).collect())
                }),
            ],
        }
    }

    #[test]
    fn sums_per_key() {
        let by = GroupBy::Name;
        let rows = Rows {
            attrs: attrs(by),
            rows: vec![
                row(3, Value::Str("sh".into()), 1.0, 100, 1, Some(2)),
                row(1, Value::Str("sh".into()), 2.0, 50, 3, None),
                row(2, Value::Null, 4.0, 7, 1, None),
            ],
        };
        let groups = group(by, &rows);
        assert_eq!(groups.groups.len(), 2);
        let (none, sh) = (&groups.groups[0], &groups.groups[1]);
        assert_eq!(
            (none.key.clone(), none.num_procs, none.io_counters),
            (Value::Null, 1, None)
        );
        assert_eq!(sh.pids, [1, 3]);
        assert_eq!(sh.cpu_times, Some([3.0, 1.0, 1.0, 1.0, 1.0]));
        assert_eq!(
            (sh.rss, sh.num_threads, sh.io_counters),
            (Some(150), Some(4), Some([2; 6]))
        );
        let json = crate::render::json::to_string(&groups);
        assert!(
            json.starts_with(r#"[{"name":null,"num_procs":1,"pids":[2],"cpu_times":{"user":4.0,"#),
            "{json}"
        );
        assert!(
            json.contains(
                r#""memory_info":{"rss":150},"num_threads":4,"io_counters":{"read_count":2,"#
            ),
            "{json}"
        );
        assert_eq!("pod".parse::<GroupBy>(), Ok(GroupBy::Pod));
        assert!("pid".parse::<GroupBy>().is_err());
    }
}
