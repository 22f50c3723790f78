//! Lifecycle events into the lines `tracer events` prints and the agent streams: JSON lines (the
//! contract in README's "tracer events") through serde views of [`Event`], and aligned text in
//! the manner of execsnoop/exitsnoop. Also the other records of an event stream (`stats`,
//! `dropped`, `end`) and the psutil-shaped exit usage that `wait` answers with too.

use std::ffi::OsString;

use serde::{Deserialize, Serialize, Serializer};

use crate::bytes::{ByteStr, ByteString};
use crate::event::{Details, Event, Placement, SchedUsage, Usage};
use crate::render::text;
use crate::source::{ProgramCost, SourceCounters, SourceStats};

/// One event as its JSON line shows it: a borrowed view, fields in the contract's order.
#[derive(Serialize)]
pub struct EventRecord<'a> {
    event: &'static str,
    time: f64,
    pid: u32,
    ppid: u32,
    create_time: f64,
    name: ByteStr<'a>,
    uid: u32,
    gid: u32,
    backend: &'static str,
    /// Inferred from snapshots (the polling backends), not seen.
    synthesized: bool,
    #[serde(flatten)]
    placement: PlacementRecord<'a>,
    #[serde(flatten)]
    details: DetailsRecord<'a>,
}

/// Where a process runs, as events show it: every field present, null where unknown.
#[derive(Serialize, Default)]
pub struct PlacementRecord<'a> {
    cgroup: Option<ByteStr<'a>>,
    cgroup_id: Option<u64>,
    container_id: Option<&'a str>,
    container_runtime: Option<&'a str>,
    pod_uid: Option<&'a str>,
    pidns: Option<u64>,
    mntns: Option<u64>,
    netns: Option<u64>,
    userns: Option<u64>,
    utsns: Option<u64>,
    ipcns: Option<u64>,
    cgroupns: Option<u64>,
    vpid: Option<u32>,
    vppid: Option<u32>,
}

impl<'a> PlacementRecord<'a> {
    /// The view of a placement (all null without one).
    pub fn new(placement: Option<&'a Placement>) -> Self {
        let Some(p) = placement else {
            return PlacementRecord::default();
        };
        let ns = &p.namespaces;
        PlacementRecord {
            cgroup: p.cgroup_path().map(ByteStr::os),
            cgroup_id: p.cgroup_id(),
            container_id: p.container_id(),
            container_runtime: p.container_runtime(),
            pod_uid: p.pod_uid(),
            pidns: ns.pid,
            mntns: ns.mnt,
            netns: ns.net,
            userns: ns.user,
            utsns: ns.uts,
            ipcns: ns.ipc,
            cgroupns: ns.cgroup,
            vpid: p.vpid,
            vppid: p.vppid,
        }
    }
}

/// [`PlacementRecord`] owned, for the answers clients read back (`wait`'s gone list) and the
/// tree's nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementFields {
    /// The cgroup v2 path.
    pub cgroup: Option<ByteString>,
    /// The cgroup's id.
    pub cgroup_id: Option<u64>,
    /// The container's full id.
    pub container_id: Option<String>,
    /// The container runtime.
    pub container_runtime: Option<String>,
    /// The Kubernetes pod uid.
    pub pod_uid: Option<String>,
    /// PID namespace inode.
    pub pidns: Option<u64>,
    /// Mount namespace inode.
    pub mntns: Option<u64>,
    /// Network namespace inode.
    pub netns: Option<u64>,
    /// User namespace inode.
    pub userns: Option<u64>,
    /// UTS namespace inode.
    pub utsns: Option<u64>,
    /// IPC namespace inode.
    pub ipcns: Option<u64>,
    /// Cgroup namespace inode.
    pub cgroupns: Option<u64>,
    /// The pid in its own PID namespace.
    pub vpid: Option<u32>,
    /// The parent's pid in its own PID namespace (0: outside it).
    pub vppid: Option<u32>,
}

impl From<Option<&Placement>> for PlacementFields {
    fn from(placement: Option<&Placement>) -> Self {
        let Some(p) = placement else {
            return PlacementFields::default();
        };
        let ns = &p.namespaces;
        PlacementFields {
            cgroup: p.cgroup_path().map(ByteString::from),
            cgroup_id: p.cgroup_id(),
            container_id: p.container_id().map(str::to_string),
            container_runtime: p.container_runtime().map(str::to_string),
            pod_uid: p.pod_uid().map(str::to_string),
            pidns: ns.pid,
            mntns: ns.mnt,
            netns: ns.net,
            userns: ns.user,
            utsns: ns.uts,
            ipcns: ns.ipc,
            cgroupns: ns.cgroup,
            vpid: p.vpid,
            vppid: p.vppid,
        }
    }
}

/// What each kind adds, after the common fields. A short-lived view on the stack: the size
/// of the exit variant costs nothing, boxing it would cost an allocation per exit.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[serde(untagged)]
enum DetailsRecord<'a> {
    Fork {
        parent_pid: u32,
    },
    Exec {
        exe: Option<ByteStr<'a>>,
        #[serde(serialize_with = "byte_strs")]
        cmdline: &'a [OsString],
        cmdline_truncated: bool,
        cmdline_bytes: u32,
        exe_truncated: bool,
        uids: Ids,
        gids: Ids,
    },
    Exit {
        exit_code: Option<i32>,
        signal: Option<i32>,
        core_dumped: bool,
        duration: f64,
        #[serde(flatten)]
        usage: UsageRecord,
        /// With scheduler accounting (agent --sched) only.
        #[serde(skip_serializing_if = "Option::is_none")]
        oncpu_time: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        runq_latency: Option<RunqLatency>,
    },
}

fn byte_strs<S: Serializer>(items: &&[OsString], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(items.iter().map(|item| ByteStr::os(item)))
}

/// Real, effective and saved ids, as psutil's `puids`/`pgids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ids {
    /// Real id.
    pub real: u32,
    /// Effective id.
    pub effective: u32,
    /// Saved id.
    pub saved: u32,
}

impl From<[u32; 3]> for Ids {
    fn from([real, effective, saved]: [u32; 3]) -> Self {
        Ids {
            real,
            effective,
            saved,
        }
    }
}

/// What a process consumed in all, in psutil's names and shapes (`ps --exited`, exit events,
/// `wait`): each null when its exit was not seen with usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// psutil's `pcputimes`.
    pub cpu_times: Option<CpuTimes>,
    /// Only `rss`, the **peak** resident set size (the rest is gone with the process).
    pub memory_info: Option<PeakMemory>,
    /// psutil's `pctxsw`.
    pub num_ctx_switches: Option<CtxSwitches>,
    /// psutil's `pio`, less the counters this kernel does not keep.
    pub io_counters: Option<IoCounters>,
    /// Minor and major page faults.
    pub num_page_faults: Option<PageFaults>,
}

/// CPU seconds, as psutil's `cpu_times()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTimes {
    /// User seconds.
    pub user: f64,
    /// System seconds.
    pub system: f64,
    /// User seconds of the reaped children.
    pub children_user: f64,
    /// System seconds of the reaped children.
    pub children_system: f64,
    /// Always 0.0 for an exited process.
    pub iowait: f64,
}

/// The peak RSS of an exited process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeakMemory {
    /// Bytes.
    pub rss: u64,
}

/// Context switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtxSwitches {
    /// Voluntary.
    pub voluntary: u64,
    /// Involuntary.
    pub involuntary: u64,
}

/// I/O counters; a counter the kernel does not keep is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCounters {
    /// `syscr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_count: Option<u64>,
    /// `syscw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_count: Option<u64>,
    /// `read_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bytes: Option<u64>,
    /// `write_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_bytes: Option<u64>,
    /// `rchar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_chars: Option<u64>,
    /// `wchar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_chars: Option<u64>,
}

/// Page faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageFaults {
    /// Minor.
    pub minor: u64,
    /// Major.
    pub major: u64,
}

/// The contract's integers are signed 64-bit: a larger counter shows as `i64::MAX`.
pub(crate) fn capped(value: u64) -> u64 {
    value.min(i64::MAX as u64)
}

impl UsageRecord {
    /// The record of an exit's usage (all null without one).
    pub fn new(usage: Option<&Usage>) -> Self {
        let Some(u) = usage else {
            return UsageRecord::default();
        };
        UsageRecord {
            cpu_times: Some(CpuTimes {
                user: u.user,
                system: u.system,
                children_user: u.children_user,
                children_system: u.children_system,
                iowait: 0.0,
            }),
            memory_info: Some(PeakMemory {
                rss: capped(u.peak_rss),
            }),
            num_ctx_switches: Some(CtxSwitches {
                voluntary: capped(u.voluntary_ctx_switches),
                involuntary: capped(u.involuntary_ctx_switches),
            }),
            io_counters: Some(IoCounters {
                read_count: u.io.read_count.map(capped),
                write_count: u.io.write_count.map(capped),
                read_bytes: u.io.read_bytes.map(capped),
                write_bytes: u.io.write_bytes.map(capped),
                read_chars: u.io.read_chars.map(capped),
                write_chars: u.io.write_chars.map(capped),
            }),
            num_page_faults: Some(PageFaults {
                minor: capped(u.minor_faults),
                major: capped(u.major_faults),
            }),
        }
    }
}

/// `runq_latency` of an exited process: the sums only (the histogram stays in the kernel).
#[derive(Serialize)]
struct RunqLatency {
    count: u64,
    sum: f64,
    max: f64,
    /// Always null for an exit.
    histogram: (),
}

impl<'a> EventRecord<'a> {
    /// The view of `event`.
    pub fn new(event: &'a Event) -> Self {
        let details = match &event.details {
            Details::Fork { parent_pid } => DetailsRecord::Fork {
                parent_pid: *parent_pid,
            },
            Details::Exec(exec) => DetailsRecord::Exec {
                exe: exec.exe.as_deref().map(ByteStr::os),
                cmdline: &exec.cmdline,
                cmdline_truncated: exec.cmdline_truncated,
                cmdline_bytes: exec.cmdline_bytes,
                exe_truncated: exec.exe_truncated,
                uids: exec.uids.into(),
                gids: exec.gids.into(),
            },
            Details::Exit(exit) => {
                let sched: Option<&SchedUsage> = exit.usage.as_ref().and_then(|u| u.sched.as_ref());
                DetailsRecord::Exit {
                    exit_code: exit.exit_code,
                    signal: exit.signal,
                    core_dumped: exit.core_dumped,
                    duration: exit.duration,
                    usage: UsageRecord::new(exit.usage.as_ref()),
                    oncpu_time: sched.map(|s| s.oncpu),
                    runq_latency: sched.map(|s| RunqLatency {
                        count: capped(s.runq_count),
                        sum: s.runq_sum,
                        max: s.runq_max,
                        histogram: (),
                    }),
                }
            }
        };
        EventRecord {
            event: event.kind().as_str(),
            time: event.time,
            pid: event.id.pid,
            ppid: event.ppid,
            create_time: event.create_time,
            name: ByteStr::os(&event.name),
            uid: event.uid,
            gid: event.gid,
            backend: event.backend.as_str(),
            synthesized: event.backend.synthesized(),
            placement: PlacementRecord::new(event.placement.as_deref()),
            details,
        }
    }
}

/// How a stream shows an event to one client (the agent's subscribers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// What `/proc` keeps from non-owners (an exec's `exe`, an exit's `io_counters`) is
    /// shown; null when the client may not ptrace-read the process.
    pub private: bool,
    /// Found by a resynchronisation after lost records, not seen as it happened.
    pub synthesized: bool,
}

/// Appends `event` as one JSON line, as `shown` says (the hot path: see
/// [`super::event_line`]).
pub fn write_json_line_shown(out: &mut Vec<u8>, event: &Event, shown: Shown) {
    super::event_line::write(out, event, shown);
}

/// Appends `event` as one JSON line.
pub fn write_json_line(out: &mut Vec<u8>, event: &Event) {
    write_json_line_shown(
        out,
        event,
        Shown {
            private: true,
            synthesized: false,
        },
    );
}

/// Appends `event` as one JSON line through serde's rendering of [`EventRecord`], the
/// contract's definition: [`write_json_line_shown`] writes the same bytes faster, and the
/// tests hold the two equal.
#[cfg(test)]
pub(crate) fn write_json_line_record(out: &mut Vec<u8>, event: &Event, shown: Shown) {
    let mut record = EventRecord::new(event);
    record.synthesized |= shown.synthesized;
    if !shown.private {
        match &mut record.details {
            DetailsRecord::Exec { exe, .. } => *exe = None,
            DetailsRecord::Exit { usage, .. } => usage.io_counters = None,
            DetailsRecord::Fork { .. } => {}
        }
    }
    crate::render::json::write(out, &record);
    out.push(b'\n');
}

/// Appends `event` as one aligned text line.
pub fn write_text_line(out: &mut Vec<u8>, event: &Event) {
    out.extend_from_slice(text_line(event).as_bytes());
    out.push(b'\n');
}

/// The header of the text lines.
pub fn text_header() -> String {
    format!(
        "{:<12} {:<5} {:>7} {:>7} {:>6} {:<16} {:<12} {:<14} ARGS",
        "TIME", "EVENT", "PID", "PPID", "UID", "NAME", "CONTAINER", "RESULT"
    )
}

/// A container as text columns show it: its id cut to 12 hex digits as docker prints it, else
/// its runtime (a systemd-nspawn machine has no id), else `-`.
pub fn container_cell(placement: Option<&Placement>) -> String {
    match placement {
        Some(p) => match (p.container_id(), p.container_runtime()) {
            (Some(id), _) => id.chars().take(12).collect(),
            (None, Some(runtime)) => runtime.to_string(),
            (None, None) => "-".into(),
        },
        None => "-".into(),
    }
}

/// One event as an aligned text line (without its newline).
pub fn text_line(event: &Event) -> String {
    let (result, args) = match &event.details {
        Details::Fork { parent_pid } if *parent_pid != event.ppid => {
            (String::new(), format!("(forked by {parent_pid})"))
        }
        Details::Fork { .. } => (String::new(), String::new()),
        Details::Exec(exec) => {
            let mut args: Vec<String> = exec.cmdline.iter().map(|a| text::shell_word(a)).collect();
            if exec.cmdline_truncated {
                args.push(format!("[… argv cut, {} bytes in all]", exec.cmdline_bytes));
            }
            (String::new(), args.join(" "))
        }
        Details::Exit(exit) => {
            let result = match (exit.exit_code, exit.signal) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(signal)) => text::signal_name(signal),
                (None, None) => "unknown".into(),
            };
            let result = if exit.core_dumped {
                format!("{result} (core)")
            } else {
                result
            };
            (result, format!("after {}", text::duration(exit.duration)))
        }
    };
    format!(
        "{:<12} {:<5} {:>7} {:>7} {:>6} {:<16} {:<12} {:<14} {}",
        text::time_of_day(event.time),
        event.kind().as_str(),
        event.id.pid,
        event.ppid,
        event.uid,
        text::display(&event.name),
        container_cell(event.placement.as_deref()),
        result,
        args
    )
}

/// The counters line of `tracer events --json`: `{"event":"stats",…}`, at the end and
/// whenever the kernel reports loss.
#[derive(Serialize)]
pub struct StatsRecord<'a> {
    event: &'static str,
    time: f64,
    backend: &'static str,
    #[serde(flatten)]
    counters: SourceCounters,
    /// With `--kernel-stats`: each kernel program's cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    programs: Option<Programs<'a>>,
}

impl<'a> StatsRecord<'a> {
    /// The record of `stats` at `time` (seconds since the epoch), with `costs` when measured.
    pub fn new(stats: &SourceStats, time: f64, costs: Option<&'a [ProgramCost]>) -> Self {
        StatsRecord {
            event: "stats",
            time,
            backend: stats.backend.as_str(),
            counters: stats.into(),
            programs: costs.map(Programs),
        }
    }
}

/// Kernel programs by name: `{"name": {"run_count": N, "run_time_ns": N}, …}`.
struct Programs<'a>(&'a [ProgramCost]);

#[derive(Serialize)]
struct ProgramRecord {
    run_count: u64,
    run_time_ns: u64,
}

impl Serialize for Programs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|cost| {
            (
                cost.name,
                ProgramRecord {
                    run_count: cost.run_count,
                    run_time_ns: cost.run_time_ns,
                },
            )
        }))
    }
}

/// The agent's records in an event stream besides events.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum StreamRecord<'a> {
    /// `count` events were dropped for this subscriber, which fell behind.
    Dropped {
        /// How many.
        count: u64,
    },
    /// The kernel reported lost records: the table resynchronised from `/proc`, and what it
    /// found follows as synthesized exits and execs.
    Lost {
        /// Records the kernel lost since the last report.
        count: u64,
        /// Records lost in all since the agent started.
        total: u64,
        /// Processes the resynchronisation found gone (an exit follows for each).
        vanished: u64,
        /// Processes it found new (an exec follows for each).
        appeared: u64,
    },
    /// The stream ends.
    End {
        /// Why.
        reason: &'a str,
    },
}

impl StreamRecord<'_> {
    /// Appends the record as one JSON line.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        crate::render::json::write(out, self);
        out.push(b'\n');
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::event::{Backend, Exec, Exit, IoUsage, ProcessId};
    use std::os::unix::ffi::OsStringExt;

    fn base(details: Details, backend: Backend) -> Event {
        Event {
            time: 1764527713.123456,
            id: ProcessId {
                pid: 4242,
                start_ticks: 1000,
            },
            create_time: 1764527700.25,
            ppid: 1,
            uid: 1000,
            gid: 100,
            name: OsString::from_vec(b"we\xffird\"\n".to_vec()),
            backend,
            placement: None,
            details,
        }
    }

    /// Today's exact lines (pinned from the hand-written writer this replaced).
    const PINNED: &str = r#"{"event":"fork","time":1764527713.123456,"pid":4242,"ppid":1,"create_time":1764527700.25,"name":"we\udcffird\"\n","uid":1000,"gid":100,"backend":"ebpf","synthesized":false,"cgroup":"/kubepods.slice/kubepods-pod5f1a2b3c_4d5e_6f70_8192_a3b4c5d6e7f8.slice/cri-containerd-abababababababababababababababababababababababababababababababab.scope","cgroup_id":5123,"container_id":"abababababababababababababababababababababababababababababababab","container_runtime":"containerd","pod_uid":"5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8","pidns":4026532200,"mntns":4026532199,"netns":4026532202,"userns":4026531837,"utsns":4026532197,"ipcns":4026532198,"cgroupns":4026532201,"vpid":1,"vppid":0,"parent_pid":77}
{"event":"exec","time":1764527713.123456,"pid":4242,"ppid":1,"create_time":1764527700.25,"name":"we\udcffird\"\n","uid":1000,"gid":100,"backend":"ebpf","synthesized":false,"cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"exe":"/usr/bin/éx\u0001","cmdline":["ls","-\udcfe",""],"cmdline_truncated":true,"cmdline_bytes":9000,"exe_truncated":false,"uids":{"real":1000,"effective":0,"saved":1000},"gids":{"real":100,"effective":100,"saved":5}}
{"event":"exec","time":1764527713.123456,"pid":4242,"ppid":1,"create_time":1764527700.25,"name":"we\udcffird\"\n","uid":1000,"gid":100,"backend":"procfs","synthesized":true,"cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"exe":null,"cmdline":[],"cmdline_truncated":false,"cmdline_bytes":0,"exe_truncated":true,"uids":{"real":0,"effective":0,"saved":0},"gids":{"real":0,"effective":0,"saved":0}}
{"event":"exit","time":1764527713.123456,"pid":4242,"ppid":1,"create_time":1764527700.25,"name":"we\udcffird\"\n","uid":1000,"gid":100,"backend":"procfs","synthesized":true,"cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"exit_code":null,"signal":null,"core_dumped":false,"duration":2.5,"cpu_times":null,"memory_info":null,"num_ctx_switches":null,"io_counters":null,"num_page_faults":null}
{"event":"exit","time":1764527713.123456,"pid":4242,"ppid":1,"create_time":1764527700.25,"name":"we\udcffird\"\n","uid":1000,"gid":100,"backend":"ebpf","synthesized":false,"cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"exit_code":null,"signal":9,"core_dumped":false,"duration":0.001,"cpu_times":{"user":0.5,"system":1e-5,"children_user":0.0,"children_system":2.0,"iowait":0.0},"memory_info":{"rss":123456},"num_ctx_switches":{"voluntary":7,"involuntary":9223372036854775807},"io_counters":{"read_count":1,"read_bytes":4096,"read_chars":10,"write_chars":20},"num_page_faults":{"minor":3,"major":0}}
{"event":"exit","time":1764527713.123456,"pid":4242,"ppid":1,"create_time":1764527700.25,"name":"we\udcffird\"\n","uid":1000,"gid":100,"backend":"sysinfo","synthesized":true,"cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null,"exit_code":3,"signal":null,"core_dumped":true,"duration":10.0,"cpu_times":{"user":0.5,"system":1e-5,"children_user":0.0,"children_system":2.0,"iowait":0.0},"memory_info":{"rss":123456},"num_ctx_switches":{"voluntary":7,"involuntary":9223372036854775807},"io_counters":{},"num_page_faults":{"minor":3,"major":0},"oncpu_time":0.125,"runq_latency":{"count":4,"sum":0.001,"max":null,"histogram":null}}
"#;

    #[test]
    fn json_lines_are_todays_contract() {
        let usage = Usage {
            user: 0.5,
            system: 1e-5,
            children_user: 0.0,
            children_system: 2.0,
            peak_rss: 123456,
            voluntary_ctx_switches: 7,
            involuntary_ctx_switches: u64::MAX,
            minor_faults: 3,
            major_faults: 0,
            io: IoUsage {
                read_count: Some(1),
                write_count: None,
                read_bytes: Some(4096),
                write_bytes: None,
                read_chars: Some(10),
                write_chars: Some(20),
            },
            sched: None,
        };
        let path = format!(
            "/kubepods.slice/kubepods-pod5f1a2b3c_4d5e_6f70_8192_a3b4c5d6e7f8.slice/cri-containerd-{}.scope",
            "ab".repeat(32)
        );
        let (container, pod_uid) = crate::host::container::parse_path(path.as_bytes());
        let placement = Placement {
            cgroup: Some(std::sync::Arc::new(crate::host::container::Cgroup {
                path: path.into(),
                id: Some(5123),
                container,
                pod_uid,
            })),
            namespaces: crate::host::container::Namespaces {
                pid: Some(4026532200),
                mnt: Some(4026532199),
                net: Some(4026532202),
                user: Some(4026531837),
                uts: Some(4026532197),
                ipc: Some(4026532198),
                cgroup: Some(4026532201),
            },
            vpid: Some(1),
            vppid: Some(0),
        };
        let events = [
            Event {
                placement: Some(std::sync::Arc::new(placement)),
                ..base(Details::Fork { parent_pid: 77 }, Backend::Ebpf)
            },
            base(
                Details::Exec(Box::new(Exec {
                    exe: Some(OsString::from_vec(b"/usr/bin/\xc3\xa9x\x01".to_vec())),
                    cmdline: vec![
                        OsString::from("ls"),
                        OsString::from_vec(b"-\xfe".to_vec()),
                        OsString::new(),
                    ],
                    uids: [1000, 0, 1000],
                    gids: [100, 100, 5],
                    cmdline_truncated: true,
                    cmdline_bytes: 9000,
                    exe_truncated: false,
                })),
                Backend::Ebpf,
            ),
            base(
                Details::Exec(Box::new(Exec {
                    exe: None,
                    cmdline: vec![],
                    uids: [0; 3],
                    gids: [0; 3],
                    cmdline_truncated: false,
                    cmdline_bytes: 0,
                    exe_truncated: true,
                })),
                Backend::Procfs,
            ),
            base(Details::Exit(Exit::unknown(2.5)), Backend::Procfs),
            base(
                Details::Exit(Exit {
                    usage: Some(usage),
                    ..Exit::from_wait_status(9, 0.001)
                }),
                Backend::Ebpf,
            ),
            base(
                Details::Exit(Exit {
                    usage: Some(Usage {
                        sched: Some(SchedUsage {
                            oncpu: 0.125,
                            runq_count: 4,
                            runq_sum: 1e-3,
                            runq_max: f64::NAN,
                        }),
                        io: IoUsage::default(),
                        ..usage
                    }),
                    ..Exit::from_wait_status((3 << 8) | 0x80, 10.0)
                }),
                Backend::Sysinfo,
            ),
        ];
        let mut out = Vec::new();
        for event in &events {
            write_json_line(&mut out, event);
        }
        let out = String::from_utf8(out).expect("JSON is UTF-8");
        for (got, want) in out.lines().zip(PINNED.lines()) {
            assert_eq!(got, want);
        }
        assert_eq!(out, PINNED);
        // serde's rendering of the record, the contract's definition, writes the same bytes,
        // shown in full and without the private fields.
        for private in [true, false] {
            for synthesized in [false, true] {
                let shown = Shown {
                    private,
                    synthesized,
                };
                for event in &events {
                    let (mut fast, mut record) = (Vec::new(), Vec::new());
                    write_json_line_shown(&mut fast, event, shown);
                    write_json_line_record(&mut record, event, shown);
                    assert_eq!(
                        String::from_utf8_lossy(&fast),
                        String::from_utf8_lossy(&record),
                        "{shown:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn stream_records_are_todays_lines() {
        let mut out = Vec::new();
        StreamRecord::Dropped { count: 12 }.write_line(&mut out);
        StreamRecord::End {
            reason: "agent stopping",
        }
        .write_line(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "{\"event\":\"dropped\",\"count\":12}\n{\"event\":\"end\",\"reason\":\"agent stopping\"}\n"
        );
    }

    #[test]
    fn stats_record_is_todays_line() {
        let stats = SourceStats {
            backend: Backend::Ebpf,
            events: 10,
            lost_fork: 1,
            lost_exec: 2,
            lost_exit: 3,
            threads_created: 4,
            threads_exited: 5,
            args_truncated: 6,
            read_errors: 7,
            decode_errors: 8,
            exit_cpu_partial: 9,
        };
        let plain = crate::render::json::to_string(&StatsRecord::new(&stats, 1.5, None));
        assert_eq!(
            plain,
            r#"{"event":"stats","time":1.5,"backend":"ebpf","events":10,"lost":14,"lost_fork":1,"lost_exec":2,"lost_exit":3,"decode_errors":8,"threads_created":4,"threads_exited":5,"args_truncated":6,"read_errors":7,"exit_cpu_partial":9}"#
        );
        let costs = [
            ProgramCost {
                name: "fork",
                run_count: 3,
                run_time_ns: 300,
            },
            ProgramCost {
                name: "exit",
                run_count: 0,
                run_time_ns: 0,
            },
        ];
        let with = crate::render::json::to_string(&StatsRecord::new(&stats, 2.0, Some(&costs)));
        assert!(
            with.ends_with(r#""read_errors":7,"exit_cpu_partial":9,"programs":{"fork":{"run_count":3,"run_time_ns":300},"exit":{"run_count":0,"run_time_ns":0}}}"#),
            "{with}"
        );
    }
}
