//! `tracer ps` and `tracer tree`: the process table as aligned text or psutil-shaped JSON,
//! from the agent when one runs, else from one `/proc` scan.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use super::Connection;
use crate::agent::protocol::{QueryRequest, Request, TreeRequest};
use crate::host::clock::Clock;
use crate::host::Host;
use crate::query::attrs::{Attr, Collector};
use crate::query::{Format, Query, Viewer};
use crate::render::rows;
use crate::table::live::{Tracer, TracerConfig};
use crate::table::{ProcessTable, SeedFields};

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

    /// Only processes running there (cgroup subtree, container, pod, PID namespace).
    #[command(flatten)]
    placement: super::events::PlacementArgs,

    /// One row per group with the number of processes and their summed cpu_times,
    /// memory_info.rss, num_threads and io_counters.
    #[arg(long, value_name = "KEY", value_parser = ["container", "cgroup", "pod", "user", "name"])]
    group_by: Option<String>,
}

/// Runs `tracer ps`.
pub fn run(args: PsArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    let mut query =
        Query::new(&args.attrs, args.sort.as_deref(), args.exited).map_err(anyhow::Error::msg)?;
    query.pids = args.pid.clone();
    query.ppids = args.ppid.clone();
    query.names = args.name.clone();
    query.uids = args
        .user
        .iter()
        .map(|user| super::events::resolve_user(user))
        .collect::<anyhow::Result<_>>()?;
    query.format = if args.json {
        Format::Json
    } else {
        Format::Text
    };
    query.placement = args.placement.filter()?;
    query.group_by = args
        .group_by
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;

    let output = match connection.client() {
        Some(mut client) => client
            .request(&Request::Query(QueryRequest {
                attrs: args.attrs,
                sort: args.sort,
                pids: query.pids,
                ppids: query.ppids,
                names: args
                    .name
                    .iter()
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect(),
                uids: query.uids,
                exited: args.exited,
                limit: None,
                format: query.format,
                placement: args.placement.request(),
                group_by: args.group_by,
            }))
            .context("the agent could not answer")?,
        None => direct(&query)?,
    };
    print(&output)
}

/// One `/proc` scan into a table, reading only what the attributes need.
fn direct(query: &Query) -> anyhow::Result<Vec<u8>> {
    if query.exited {
        eprintln!(
            "tracer: no agent is running, and a direct query has no history of exited processes"
        );
    }
    let procfs = Host::new();
    let fields = SeedFields {
        exe: query.needs(&[Attr::Exe]),
        cmdline: query.needs(&[Attr::Cmdline, Attr::Name]),
        ids: query.needs(&[Attr::Username, Attr::Uids, Attr::Gids]) || !query.uids.is_empty(),
    };
    let now = Clock::new()
        .map(|clock| clock.epoch_seconds(Clock::now_boot_ns()))
        .context("cannot read the clocks")?;
    let mut table = ProcessTable::new(crate::table::live::DEFAULT_RETENTION);
    // memory_info comes with status when status is read anyway (for the users).
    let memory = fields.ids && query.needs(&[Attr::MemoryInfo, Attr::MemoryPercent]);
    let reads = table
        .seed_keeping_reads(&procfs, now, fields, memory)
        .context("cannot scan /proc")?;
    let mut collector = Collector::new(procfs);
    collector.prime(reads);
    Ok(rows::query(&table, &mut collector, query, &Viewer::ROOT))
}

/// Writes an answer to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            bail!("writing the output failed: {e}")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
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
pub fn run_tree(args: TreeArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    let format = if args.json {
        Format::Json
    } else {
        Format::Text
    };
    let output = match connection.client() {
        Some(mut client) => client
            .request(&Request::Tree(TreeRequest {
                pid: args.pid,
                format,
            }))
            .context("the agent could not answer")?,
        None => {
            let tracer =
                Tracer::start(TracerConfig::snapshot()).context("cannot read the process table")?;
            let table = tracer.refresh();
            rows::tree(&table, args.pid, format, &Viewer::ROOT).map_err(anyhow::Error::msg)?
        }
    };
    print(&output)
}
