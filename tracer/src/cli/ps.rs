//! `tracer ps` and `tracer tree`: the process table as aligned text or psutil-shaped JSON.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use super::text;
use crate::attrs::{Attr, Collector, Value};
use crate::clock::Clock;
use crate::json::Json;
use crate::live::{Tracer, TracerConfig};
use crate::procfs::Procfs;
use crate::table::{Entry, ProcessTable, SeedFields};

/// Attributes shown when `--attrs` is not given.
const DEFAULT_ATTRS: [Attr; 9] = [
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

/// Attributes shown by default with `--exited`.
const EXITED_ATTRS: [Attr; 9] = [
    Attr::Pid,
    Attr::Ppid,
    Attr::Username,
    Attr::ExitTime,
    Attr::ExitCode,
    Attr::Signal,
    Attr::Duration,
    Attr::Name,
    Attr::Cmdline,
];

/// Flags of `tracer ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// One JSON array of objects keyed by psutil's attribute names.
    #[arg(long)]
    json: bool,

    /// Attributes to show, by psutil's names (e.g. pid,name,memory_info,cpu_times).
    #[arg(long, value_delimiter = ',', value_name = "ATTR")]
    attrs: Vec<String>,

    /// Sort by this attribute (prefix with - for descending, e.g. -memory_info).
    #[arg(long, value_name = "ATTR", allow_hyphen_values = true)]
    sort: Option<String>,

    /// Only processes with these names.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    name: Vec<OsString>,

    /// Only processes of these users (names or uids).
    #[arg(long, value_delimiter = ',', value_name = "USER")]
    user: Vec<String>,

    /// Only these pids.
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    pid: Vec<u32>,

    /// Only children of these pids.
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    ppid: Vec<u32>,

    /// Show recently exited processes (with exit code, signal and duration) instead of live
    /// ones. Needs a running agent to have any history; a direct query has none.
    #[arg(long)]
    exited: bool,
}

/// Resolved `tracer ps` request.
struct Query {
    attrs: Vec<Attr>,
    sort: Option<(Attr, bool)>,
    uids: Vec<u32>,
}

impl PsArgs {
    fn query(&self) -> anyhow::Result<Query> {
        let mut attrs: Vec<Attr> = if self.attrs.is_empty() {
            if self.exited {
                EXITED_ATTRS.to_vec()
            } else {
                DEFAULT_ATTRS.to_vec()
            }
        } else {
            self.attrs
                .iter()
                .map(|a| a.trim().parse::<Attr>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?
        };
        let sort = match &self.sort {
            Some(key) => {
                let (name, descending) = match key.strip_prefix('-') {
                    Some(name) => (name, true),
                    None => (key.as_str(), false),
                };
                let attr = name.parse::<Attr>().map_err(anyhow::Error::msg)?;
                if !attrs.contains(&attr) {
                    attrs.push(attr);
                }
                Some((attr, descending))
            }
            None => None,
        };
        let uids = self
            .user
            .iter()
            .map(|user| super::events::resolve_user(user))
            .collect::<anyhow::Result<_>>()?;
        Ok(Query { attrs, sort, uids })
    }

    fn selects(&self, entry: &Entry, query: &Query) -> bool {
        (self.pid.is_empty() || self.pid.contains(&entry.id.pid))
            && (self.ppid.is_empty() || self.ppid.contains(&entry.ppid))
            && (query.uids.is_empty()
                || entry
                    .uids
                    .is_some_and(|[real, ..]| query.uids.contains(&real)))
            && (self.name.is_empty() || self.name.contains(&entry.name()))
    }
}

/// Runs `tracer ps`.
pub fn run(args: PsArgs) -> anyhow::Result<ExitCode> {
    let query = args.query()?;
    if args.exited {
        eprintln!(
            "tracer: no agent is running, and a direct query has no history of exited processes"
        );
    }
    // A direct query is one /proc scan into a table, reading only what the attributes need.
    let procfs = Procfs::new();
    let needs = |attrs: &[Attr]| query.attrs.iter().any(|a| attrs.contains(a));
    let fields = SeedFields {
        exe: needs(&[Attr::Exe]),
        cmdline: needs(&[Attr::Cmdline, Attr::Name]),
        ids: needs(&[Attr::Username, Attr::Uids, Attr::Gids]) || !args.user.is_empty(),
    };
    let now = Clock::new()
        .map(|clock| clock.epoch_seconds(Clock::now_boot_ns()))
        .context("cannot read the clocks")?;
    let mut table = ProcessTable::new(crate::live::DEFAULT_RETENTION);
    table
        .seed_with(&procfs, now, fields)
        .context("cannot scan /proc")?;
    let entries: Vec<Entry> = {
        let source: Vec<&Entry> = if args.exited {
            table.exited().collect()
        } else {
            table.live().collect()
        };
        source
            .into_iter()
            .filter(|e| args.selects(e, &query))
            .cloned()
            .collect()
    };
    let mut collector = Collector::new(procfs);
    let mut rows: Vec<(Entry, Vec<Value>)> = entries
        .into_iter()
        .map(|entry| {
            let values = collector.collect(&entry, &query.attrs);
            (entry, values)
        })
        .collect();
    sort_rows(&mut rows, &query);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = if args.json {
        writeln!(out, "{}", rows_json(&query.attrs, &rows))
    } else {
        write_table(&mut out, &query.attrs, &rows)
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            bail!("writing the table failed: {e}")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn sort_rows(rows: &mut [(Entry, Vec<Value>)], query: &Query) {
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
        let order = match (a[index].sort_key(), b[index].sort_key()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (None, None) => text::value(&a[index]).cmp(&text::value(&b[index])),
        };
        let order = if descending { order.reverse() } else { order };
        order.then(a_entry.id.cmp(&b_entry.id))
    });
}

/// The rows as one JSON array of objects.
pub fn rows_json(attrs: &[Attr], rows: &[(Entry, Vec<Value>)]) -> String {
    let mut json = Json::new();
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
    rows: &[(Entry, Vec<Value>)],
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

/// Flags of `tracer tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Root of the tree (default: every process without a parent).
    pid: Option<u32>,

    /// One JSON object per process with its children nested.
    #[arg(long)]
    json: bool,
}

/// Runs `tracer tree`.
pub fn run_tree(args: TreeArgs) -> anyhow::Result<ExitCode> {
    let tracer = Tracer::start(TracerConfig {
        ebpf: false,
        ..TracerConfig::default()
    })
    .context("cannot read the process table")?;
    let table = tracer.refresh();
    let roots: Vec<&Entry> = match args.pid {
        Some(pid) => vec![table
            .get(pid)
            .with_context(|| format!("no process with pid {pid}"))?],
        None => {
            let mut roots: Vec<&Entry> = table
                .live()
                .filter(|e| e.ppid == 0 || table.get(e.ppid).is_none())
                .collect();
            roots.sort_by_key(|e| e.id);
            roots
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = if args.json {
        let mut json = Json::new();
        json.begin_array();
        for root in roots {
            tree_json(&table, root, &mut json);
        }
        json.end_array();
        writeln!(out, "{}", json.finish())
    } else {
        roots
            .into_iter()
            .try_for_each(|root| tree_text(&table, root, "", "", &mut out))
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            bail!("writing the tree failed: {e}")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn label(entry: &Entry) -> String {
    format!("{}({})", text::display(&entry.name()), entry.id.pid)
}

fn tree_text(
    table: &crate::table::ProcessTable,
    entry: &Entry,
    first_prefix: &str,
    prefix: &str,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(out, "{first_prefix}{}", label(entry))?;
    let children = table.children(entry.id.pid, false);
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
            &format!("{prefix}{branch}"),
            &format!("{prefix}{continuation}"),
            out,
        )?;
    }
    Ok(())
}

fn tree_json(table: &crate::table::ProcessTable, entry: &Entry, json: &mut Json) {
    json.begin_object();
    json.key("pid").uint(entry.id.pid.into());
    json.key("ppid").uint(entry.ppid.into());
    json.key("name").os_str(&entry.name());
    json.key("children").begin_array();
    for child in table.children(entry.id.pid, false) {
        tree_json(table, child, json);
    }
    json.end_array();
    json.end_object();
}
