//! Entry points for the fuzz targets in `fuzz/` (built only with the `fuzzing` feature): each
//! takes arbitrary bytes and runs one of the parsers that read what another party wrote — a
//! client's request line, a kernel ring record, a `/proc` file, the kernel's BTF. None of them
//! may panic, loop or allocate without bound on any input; a target's only check is that.

use std::ffi::OsString;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::agent::protocol::{self, Command};
use crate::event::{Backend, Details, Event, Exec, Exit, ProcessId};
use crate::host::clock::Clock;
use crate::host::procfs::Procfs;
use crate::host::{MemoryInfo, Stat, Status};
use crate::query::access::{HidePid, ProcMount, Viewer};
use crate::query::attrs::Collector;
use crate::table::ProcessTable;

/// Pids of the fixture table: far above any pid the machine running the fuzzer has, so that
/// the `/proc` reads a query makes find nothing (deterministic answers).
const BASE: u32 = 4_000_000;

fn event(time: f64, pid: u32, start: u64, ppid: u32, uid: u32, details: Details) -> Event {
    Event {
        time,
        id: ProcessId {
            pid: BASE + pid,
            start_ticks: start,
        },
        create_time: 1_000.0 + start as f64 / 100.0,
        ppid: if ppid == 0 { 0 } else { BASE + ppid },
        uid,
        gid: uid,
        name: format!("p{pid}").into(),
        backend: Backend::Ebpf,
        placement: None,
        details,
    }
}

fn exec(time: f64, pid: u32, start: u64, ppid: u32, uid: u32) -> Event {
    event(
        time,
        pid,
        start,
        ppid,
        uid,
        Details::Exec(Box::new(Exec {
            exe: Some(OsString::from(format!("/usr/bin/p{pid}"))),
            cmdline: vec![format!("p{pid}").into(), "--flag".into(), "a b".into()],
            uids: [uid; 3],
            gids: [uid; 3],
            cmdline_truncated: false,
            cmdline_bytes: 0,
            exe_truncated: false,
        })),
    )
}

/// A small table as the agent holds one: a chain of processes of two users, one exited (its
/// pid then reused), one forked and not yet exec'd.
fn fixture_table() -> ProcessTable {
    let mut table = ProcessTable::with_limits(Duration::from_secs(3600), 4);
    table.apply(&exec(1.0, 1, 10, 0, 0));
    table.apply(&exec(2.0, 2, 20, 1, 0));
    table.apply(&exec(3.0, 3, 30, 2, 1000));
    table.apply(&exec(4.0, 4, 40, 3, 1000));
    table.apply(&event(
        5.0,
        5,
        50,
        4,
        1000,
        Details::Fork {
            parent_pid: BASE + 4,
        },
    ));
    table.apply(&exec(6.0, 6, 60, 1, 65534));
    table.apply(&event(
        7.0,
        6,
        60,
        1,
        65534,
        Details::Exit(Exit::from_wait_status(1 << 8, 0.5)),
    ));
    table.apply(&exec(8.0, 6, 80, 2, 1000));
    table
}

/// Parses one request line as the agent does and answers the table-only operations (query,
/// tree) against a fixture table, for root and for a plain user under each hidepid mode.
pub fn protocol(line: &[u8]) {
    let parsed = match protocol::parse(line) {
        Ok(parsed) => parsed,
        Err((id, error)) => {
            let _ = protocol::error_line(id, &error);
            return;
        }
    };
    let table = fixture_table();
    let host = Procfs::with_root("/nonexistent-fuzz-proc");
    let viewers = [
        Viewer::ROOT,
        Viewer::user(
            1000,
            1000,
            ProcMount {
                hidepid: HidePid::Off,
                gid: None,
            },
        ),
        Viewer::user(
            1000,
            1000,
            ProcMount {
                hidepid: HidePid::Ptraceable,
                gid: Some(7),
            },
        ),
    ];
    match parsed.command {
        Command::Query(query) => {
            for viewer in &viewers {
                let mut collector = Collector::new(host.clone());
                let rows = crate::query::run(&table, &mut collector, &query, viewer);
                let _ = crate::render::rows::render(&rows, query.format);
            }
        }
        Command::Tree { pid, format } => {
            for viewer in &viewers {
                let nodes = crate::query::tree_nodes(&table);
                let _ = crate::render::rows::tree_of(nodes, pid, format, viewer);
            }
        }
        // The others act on the machine (waits, signals, system figures): parsed only.
        _ => {}
    }
}

/// Decodes bytes as one ring-buffer record from the kernel programs.
pub fn ring_record(bytes: &[u8]) {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    let clock = CLOCK.get_or_init(Clock::new_or_derived);
    if let Ok((event, _)) = crate::source::ebpf::decode::record(bytes, clock) {
        std::hint::black_box(event);
    }
}

/// The `/proc` parsers, chosen by the first byte; the rest is the file's content.
pub fn proc_file(data: &[u8]) {
    let Some((&which, data)) = data.split_first() else {
        return;
    };
    let path = Path::new("/proc/1/x");
    use crate::host::procfs as p;
    match which % 16 {
        0 => drop(Stat::parse(data, path)),
        1 => drop(Status::parse(data, path)),
        2 => drop(MemoryInfo::parse(data, path, 4096)),
        3 => drop(p::parse_smaps_rollup(data, path)),
        4 => drop(p::parse_smaps(data)),
        5 => drop(p::parse_io(data, path)),
        6 => drop(p::parse_fdinfo(data, path)),
        7 => drop(p::parse_cpu_list(data)),
        8 => drop(p::split_cmdline(data)),
        9 => drop(p::parse_environ(data)),
        10 => drop(ProcMount::parse(&String::from_utf8_lossy(data))),
        11 => drop(p::memory_info_from_status(data)),
        12 => drop(crate::host::container::Hierarchy::from_mountinfo(data)),
        13 => {
            let _ = crate::host::container::v2_path(data);
            let _ = crate::host::container::parse_path(data);
        }
        14 => {
            let _ = crate::host::container::status_ids(data);
            let _ = crate::host::container::namespace_inode(data);
        }
        _ => drop(crate::platform::parse_btime(data)),
    }
}

/// Parses bytes as kernel BTF and looks up everything the kernel programs need from it.
pub fn btf(data: &[u8]) {
    use crate::source::ebpf::btf::Btf;
    let Ok(btf) = Btf::parse(data) else {
        return;
    };
    if let Ok(mut offsets) = btf.kernel_offsets() {
        let _ = btf.sched_offsets(&mut offsets);
    }
    let _ = btf.tracepoint_args("sched_process_exec");
    let _ = btf.struct_size("task_struct");
    let _ = btf.member("task_struct", "signal.pacct");
    let _ = btf.u64_member("task_struct", "se.sum_exec_runtime");
}
