//! Where `top`'s figures come from, fetched on a thread of their own: the agent's answers
//! deserialized into typed rows, or, without an agent, a process table of our own queried
//! directly (the same query code, its typed rows taken as they are).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::state::{Exit, Exits, Proc, Snapshot, Summary, Update};
use super::{EXIT_ATTRS, EXIT_QUERIES, FIRST_WINDOW, PROC_ATTRS};
use crate::agent::client::decode;
use crate::agent::protocol::{QueryRequest, Request, Stats, SysRequest};
use crate::agent::{Client, ClientError};
use crate::bytes::ByteString;
use crate::query::attrs::{Attr, Collector, Value};
use crate::query::{self, Format, Query, Viewer};
use crate::render::text;
use crate::system::report::Report;
use crate::system::{self, Sampler};
use crate::table::live::{Feed, Tracer, TracerConfig};

/// Where figures come from.
enum Source {
    Agent {
        client: Client,
        /// The agent's backend has exit codes.
        ebpf: bool,
    },
    Direct(Box<Direct>),
}

struct Direct {
    tracer: Tracer,
    collector: Collector,
    sampler: Sampler,
    refreshes: u32,
    /// Running as root (eBPF was tried).
    root: bool,
}

/// One row of a `query` answer with the attributes `top` asks for ([`PROC_ATTRS`] or
/// [`EXIT_ATTRS`]), as the agent sends it and as a direct query gives it; `None` where the
/// answer has null (or lacks the attribute).
#[derive(Debug, Default, Deserialize)]
struct TopRow {
    pid: u32,
    ppid: u32,
    username: Option<ByteString>,
    status: Option<ByteString>,
    num_threads: Option<i64>,
    cpu_percent: Option<f64>,
    memory_percent: Option<f64>,
    memory_info: Option<Rss>,
    cpu_times: Option<CpuTimes>,
    name: Option<ByteString>,
    cmdline: Option<Vec<ByteString>>,
    exit_code: Option<i64>,
    signal: Option<i64>,
    duration: Option<f64>,
    exit_time: Option<f64>,
    container_id: Option<ByteString>,
    container_runtime: Option<ByteString>,
    cgroup: Option<ByteString>,
    pod_uid: Option<ByteString>,
    io_counters: Option<Io>,
}

/// The part of `io_counters` shown: bytes read and written from storage.
#[derive(Debug, Deserialize)]
struct Io {
    read_bytes: i64,
    write_bytes: i64,
}

/// The part of `memory_info` shown: the resident size (an exited process has only it, the
/// peak).
#[derive(Debug, Deserialize)]
struct Rss {
    rss: u64,
}

/// The part of `cpu_times` shown: the process's own user and system seconds.
#[derive(Debug, Deserialize)]
struct CpuTimes {
    user: f64,
    system: f64,
}

impl TopRow {
    /// A row of a direct query's answer, from its typed values.
    fn from_values(attrs: &[Attr], values: Vec<Value>) -> TopRow {
        let mut row = TopRow::default();
        let string = |value: Value| match value {
            Value::Str(s) => Some(ByteString(s)),
            _ => None,
        };
        for (attr, value) in attrs.iter().zip(values) {
            match attr {
                Attr::Pid => row.pid = id(&value),
                Attr::Ppid => row.ppid = id(&value),
                Attr::Username => row.username = string(value),
                Attr::Status => row.status = string(value),
                Attr::Name => row.name = string(value),
                Attr::NumThreads => row.num_threads = value.as_i64(),
                Attr::CpuPercent => row.cpu_percent = value.as_f64(),
                Attr::MemoryPercent => row.memory_percent = value.as_f64(),
                Attr::Duration => row.duration = value.as_f64(),
                Attr::ExitTime => row.exit_time = value.as_f64(),
                Attr::ExitCode => row.exit_code = value.as_i64(),
                Attr::Signal => row.signal = value.as_i64(),
                Attr::ContainerId => row.container_id = string(value),
                Attr::ContainerRuntime => row.container_runtime = string(value),
                Attr::Cgroup => row.cgroup = string(value),
                Attr::PodUid => row.pod_uid = string(value),
                Attr::IoCounters => {
                    let bytes = |name| value.field(name).and_then(Value::as_i64);
                    row.io_counters = bytes("read_bytes").zip(bytes("write_bytes")).map(
                        |(read_bytes, write_bytes)| Io {
                            read_bytes,
                            write_bytes,
                        },
                    );
                }
                Attr::MemoryInfo => {
                    row.memory_info = value
                        .field("rss")
                        .and_then(Value::as_i64)
                        .and_then(|rss| u64::try_from(rss).ok())
                        .map(|rss| Rss { rss });
                }
                Attr::CpuTimes => {
                    let seconds = |name| value.field(name).and_then(Value::as_f64);
                    row.cpu_times = seconds("user")
                        .zip(seconds("system"))
                        .map(|(user, system)| CpuTimes { user, system });
                }
                Attr::Cmdline => {
                    row.cmdline = match value {
                        Value::List(args) => Some(args.into_iter().filter_map(string).collect()),
                        _ => None,
                    };
                }
                _ => {}
            }
        }
        row
    }

    /// What the process list shows of it.
    fn into_proc(self) -> Proc {
        Proc {
            pid: self.pid,
            ppid: self.ppid,
            user: shown(self.username.as_ref()),
            status: shown(self.status.as_ref()),
            threads: self.num_threads.unwrap_or(0),
            cpu: self.cpu_percent.unwrap_or(0.0),
            mem: self.memory_percent.unwrap_or(0.0),
            rss: self.memory_info.map_or(0, |m| m.rss),
            cpu_time: self.cpu_times.map_or(0.0, |t| t.user + t.system),
            name: shown(self.name.as_ref()),
            command: command(self.cmdline.as_deref()),
            container_id: shown(self.container_id.as_ref()),
            runtime: shown(self.container_runtime.as_ref()),
            cgroup: shown(self.cgroup.as_ref()),
            pod_uid: shown(self.pod_uid.as_ref()),
            io: self.io_counters.map(|io| (io.read_bytes, io.write_bytes)),
        }
    }

    /// What the exits pane shows of it.
    fn into_exit(self) -> Exit {
        Exit {
            pid: self.pid,
            ppid: self.ppid,
            name: shown(self.name.as_ref()),
            exit_code: self.exit_code,
            signal: self.signal,
            duration: self.duration,
            exit_time: self.exit_time.unwrap_or(0.0),
            command: command(self.cmdline.as_deref()),
        }
    }
}

/// A pid or ppid value (always an integer the table filled in).
fn id(value: &Value) -> u32 {
    value
        .as_i64()
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or_default()
}

/// A string for the screen (bytes that are not UTF-8 as `\xXX`); empty when null.
fn shown(value: Option<&ByteString>) -> String {
    value.map(|s| text::display(s)).unwrap_or_default()
}

/// An argument vector as a shell command line; empty when null.
fn command(args: Option<&[ByteString]>) -> String {
    args.map(|args| {
        args.iter()
            .map(|a| text::shell_word(a))
            .collect::<Vec<_>>()
            .join(" ")
    })
    .unwrap_or_default()
}

/// The rows of an agent's `query` answer (a JSON array of objects).
fn agent_rows(answer: &[u8]) -> Result<Vec<TopRow>, ClientError> {
    decode(answer)
        .map_err(|e| ClientError::Protocol(format!("a query answer that is not rows: {e}")))
}

/// The attribute names of a request.
fn names(attrs: &[Attr]) -> Vec<String> {
    attrs.iter().map(|a| a.name().to_string()).collect()
}

/// The process list's attributes: `io_counters` (one more `/proc` file per process) only while
/// the group view, which sums it, is shown.
fn proc_attrs(io: bool) -> Vec<Attr> {
    PROC_ATTRS
        .into_iter()
        .filter(|attr| io || *attr != Attr::IoCounters)
        .collect()
}

impl Source {
    fn agent(mut client: Client) -> Source {
        let ebpf = client
            .request(&Request::Stats {})
            .ok()
            .and_then(|out| decode::<Stats>(&out).ok())
            .is_some_and(|stats| stats.backend == "ebpf");
        Source::Agent { client, ebpf }
    }

    /// A table of our own: the live eBPF one when we may load programs, else snapshots.
    fn direct() -> anyhow::Result<Source> {
        // SAFETY: geteuid has no preconditions.
        let root = crate::platform::is_root();
        let config = if root {
            TracerConfig::default()
        } else {
            TracerConfig::snapshot()
        };
        let tracer = Tracer::start(config).context("cannot read the process table")?;
        let collector = Collector::new(tracer.host().clone());
        let mut direct = Direct {
            tracer,
            collector,
            sampler: Sampler::new(),
            refreshes: 0,
            root,
        };
        // Sample every process's CPU time once, so the first screen has a window to show.
        direct.query(None, false);
        std::thread::sleep(FIRST_WINDOW);
        Ok(Source::Direct(Box::new(direct)))
    }

    fn fetch(&mut self, socket: &Path, io: bool) -> Result<Snapshot, ClientError> {
        match self {
            Source::Agent { client, ebpf } => {
                let procs = client.request(&Request::Query(QueryRequest {
                    attrs: names(&proc_attrs(io)),
                    ..QueryRequest::default()
                }))?;
                let procs = agent_rows(&procs)?;
                let exits = if *ebpf {
                    let mut lists = Vec::new();
                    for (sort, limit) in EXIT_QUERIES {
                        let answer = client.request(&Request::Query(QueryRequest {
                            attrs: names(&EXIT_ATTRS),
                            exited: true,
                            sort: Some(sort.to_string()),
                            limit: Some(limit as u32),
                            ..QueryRequest::default()
                        }))?;
                        lists.push(agent_rows(&answer)?);
                    }
                    Exits::Known(merge_exits(lists))
                } else {
                    Exits::Unavailable(
                        "the agent runs without eBPF (see its log): no exits or exit codes".into(),
                    )
                };
                Ok(Snapshot {
                    summary: agent_summary(client)?,
                    procs: procs.into_iter().map(TopRow::into_proc).collect(),
                    exits,
                    mode: format!("agent at {}", socket.display()),
                })
            }
            Source::Direct(direct) => Ok(direct.snapshot(io)),
        }
    }
}

impl Direct {
    /// Runs a query as the agent would: processes, or with `exits` the exits sorted and
    /// limited so.
    fn query(&mut self, exits: Option<(&str, usize)>, io: bool) -> Vec<TopRow> {
        let attrs: Vec<String> = match exits {
            Some(_) => names(&EXIT_ATTRS),
            None => names(&proc_attrs(io)),
        };
        let sort = exits.map(|(sort, _)| sort);
        let mut query = Query::new(&attrs, sort, exits.is_some()).expect("known attributes");
        query.limit = exits.map(|(_, limit)| limit);
        let table = self.tracer.refresh();
        let answer = query::run(&table, &mut self.collector, &query, &Viewer::ROOT);
        drop(table);
        answer
            .rows
            .into_iter()
            .map(|row| TopRow::from_values(&answer.attrs, row.values))
            .collect()
    }

    fn snapshot(&mut self, io: bool) -> Snapshot {
        let procs = self.query(None, io);
        let (exits, mode) = match self.tracer.feed() {
            Feed::Ebpf => {
                let lists: Vec<Vec<TopRow>> = EXIT_QUERIES
                    .iter()
                    .map(|&query| self.query(Some(query), false))
                    .collect();
                (
                    Exits::Known(merge_exits(lists)),
                    "direct: live eBPF table (no agent)".to_string(),
                )
            }
            Feed::Snapshot(_) if !self.root => (
                Exits::Unavailable(
                    "exits need the agent (start `tracer agent`), or root to trace them here \
                     with eBPF: /proc cannot tell how a process ended"
                        .into(),
                ),
                "direct: /proc snapshots (no agent)".to_string(),
            ),
            Feed::Polling(backend, _) => (
                Exits::Unavailable(format!(
                    "exits need the agent (start `tracer agent`) or eBPF: {backend} polling \
                     cannot tell how a process ended"
                )),
                format!("direct: {backend} polling (no agent)"),
            ),
            Feed::Snapshot(reason) => (
                Exits::Unavailable(format!(
                    "exits need the agent (start `tracer agent`) or eBPF, which is unavailable \
                     here: {reason}"
                )),
                "direct: /proc snapshots (no agent)".to_string(),
            ),
        };
        let summary = direct_summary(&mut self.sampler);
        // Once a minute, forget the CPU samples of processes that ended.
        self.refreshes = self.refreshes.wrapping_add(1);
        if self.refreshes.is_multiple_of(60) {
            self.collector.cpu_samples().prune(self.tracer.host());
        }
        Snapshot {
            summary,
            procs: procs.into_iter().map(TopRow::into_proc).collect(),
            exits,
            mode,
        }
    }
}

/// The refresh thread: a snapshot every `interval` (or when woken), until the screen is gone.
pub(super) fn fetch_loop(
    client: Option<Client>,
    socket: PathBuf,
    interval: Duration,
    updates: SyncSender<Update>,
    wakes: Receiver<()>,
    io: Arc<AtomicBool>,
) {
    let boot_time = system::boot_time().ok();
    let mut source = client.map(Source::agent);
    loop {
        if source.is_none() {
            let _ = updates.send(Update::Starting("reading the process table…".into()));
            source = match Source::direct() {
                Ok(direct) => Some(direct),
                Err(e) => {
                    let _ = updates.send(Update::Failed(format!("{e:#}")));
                    None
                }
            };
        }
        let update = match source
            .as_mut()
            .map(|s| s.fetch(&socket, io.load(Ordering::Relaxed)))
        {
            Some(Ok(mut snapshot)) => {
                snapshot.summary.boot_time = boot_time;
                Update::Snapshot(Box::new(snapshot))
            }
            Some(Err(error)) => {
                // The agent went away: reconnect, or go direct.
                source = match Client::connect(&socket) {
                    Ok(client) => Some(Source::agent(client)),
                    Err(_) => None,
                };
                Update::Failed(format!("the agent stopped answering ({error})"))
            }
            None => Update::Failed("no figures".into()),
        };
        if updates.send(update).is_err() {
            return;
        }
        match wakes.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The exits of several answers, once each, newest first.
fn merge_exits(answers: Vec<Vec<TopRow>>) -> Vec<Exit> {
    let mut seen = HashSet::new();
    let mut exits: Vec<Exit> = answers
        .into_iter()
        .flatten()
        .map(TopRow::into_exit)
        .filter(|e| seen.insert((e.pid, e.exit_time.to_bits())))
        .collect();
    exits.sort_by(|a, b| b.exit_time.total_cmp(&a.exit_time).then(a.pid.cmp(&b.pid)));
    exits
}

/// The summary from the agent's `sys` answer (its typed [`Report`]).
fn agent_summary(client: &mut Client) -> Result<Summary, ClientError> {
    let answer = client.request(&Request::Sys(SysRequest {
        sections: vec!["cpu".into(), "memory".into()],
        format: Format::Json,
    }))?;
    let report: Report = decode(&answer)?;
    let cpu = report.cpu.unwrap_or_default();
    let memory = report.memory.unwrap_or_default();
    Ok(Summary {
        cpu_percent: cpu.cpu_percent,
        percpu: cpu.cpu_percent_percpu.unwrap_or_default(),
        load: cpu.getloadavg,
        memory: memory
            .virtual_memory
            .map(|m| (m.total, m.used, m.available, m.percent)),
        swap: memory.swap_memory.map(|m| (m.total, m.used, m.percent)),
        boot_time: None,
    })
}

/// The summary measured here, without an agent.
fn direct_summary(s: &mut Sampler) -> Summary {
    Summary {
        cpu_percent: s.cpu_percent(None).ok(),
        percpu: s.cpu_percent_percpu(None).unwrap_or_default(),
        load: system::getloadavg().ok(),
        memory: system::virtual_memory()
            .ok()
            .map(|m| (m.total, m.used, m.available, m.percent)),
        swap: system::swap_memory()
            .ok()
            .map(|m| (m.total, m.used, m.percent)),
        boot_time: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_rows_keep_bytes_that_are_not_utf8() {
        let rows = agent_rows(
            br#"[{"pid":3,"ppid":1,"name":"a\udcffb","cmdline":["x\\udc00","it's"],"status":null,
                 "memory_info":{"rss":4096,"vms":1},"cpu_times":{"user":1.5,"system":0.25,"iowait":0.0},
                 "cpu_percent":null}]"#,
        )
        .unwrap();
        let proc = rows.into_iter().next().unwrap().into_proc();
        assert_eq!(proc.name, "a\\xffb");
        assert_eq!(proc.command, r"'x\udc00' 'it'\''s'");
        assert_eq!((proc.rss, proc.cpu_time, proc.cpu), (4096, 1.75, 0.0));
        assert_eq!(proc.status, "");
    }

    #[test]
    #[cfg(unix)]
    fn direct_rows_read_the_same_fields() {
        use std::os::unix::ffi::OsStringExt;
        let values = vec![
            Value::Int(3),
            Value::Int(1),
            Value::Str(std::ffi::OsString::from_vec(b"a\xffb".to_vec())),
            Value::Null,
            Value::Float(f64::NAN),
            Value::Tuple(vec![("rss", Value::Int(4096)), ("vms", Value::Int(1))]),
            Value::Tuple(vec![
                ("user", Value::Float(1.5)),
                ("system", Value::Float(0.25)),
            ]),
            Value::List(vec![
                Value::Str("x\\udc00".into()),
                Value::Str("it's".into()),
            ]),
        ];
        let attrs = [
            Attr::Pid,
            Attr::Ppid,
            Attr::Name,
            Attr::Status,
            Attr::CpuPercent,
            Attr::MemoryInfo,
            Attr::CpuTimes,
            Attr::Cmdline,
        ];
        let proc = TopRow::from_values(&attrs, values).into_proc();
        assert_eq!((proc.pid, proc.ppid), (3, 1));
        assert_eq!(proc.name, "a\\xffb");
        assert_eq!(proc.command, r"'x\udc00' 'it'\''s'");
        assert_eq!((proc.rss, proc.cpu_time, proc.cpu), (4096, 1.75, 0.0));
        assert_eq!(proc.status, "");
    }
}
