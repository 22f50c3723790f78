//! `tracer-reader-bench PASSES`: tracer's hand-written per-process reader (`tracer::procfs`)
//! against the `procfs` crate, in one process over the same processes, for the decision issue
//! 12 asks for (keep the hand-written reader only if it is measured faster). `cargo xtask
//! bench --only procfs` runs it with the host filled to 2,000 processes.
//!
//! A pass lists every process and reads, for each, what `tracer ps` reads: stat, status,
//! cmdline, exe and statm (`memory_info`). Each reader gets one untimed warm-up pass, then
//! PASSES timed ones, alternating which reader goes first. A pass is timed in CPU time of this
//! thread (the readers run single-threaded here, so the figure is the reader's own work, user
//! and kernel) and in wall time. One JSON line per timed pass on stdout:
//! `{"reader":"tracer"|"procfs","pass":N,"cpu":S,"wall":S,"processes":N,"failed_reads":N}`.

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;

/// What one pass did.
struct Pass {
    /// Processes whose stat could be read.
    processes: usize,
    /// Reads that failed (a process gone meanwhile; exe of a kernel thread for the crate).
    failed: usize,
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for clock_gettime to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is always readable");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

/// Counts a failed read.
fn tally<T, E>(failed: &mut usize, read: Result<T, E>) {
    match read {
        Ok(value) => {
            black_box(value);
        }
        Err(_) => *failed += 1,
    }
}

fn tracer_pass(reader: &tracer::host::procfs::Procfs) -> Pass {
    let mut pass = Pass {
        processes: 0,
        failed: 0,
    };
    let pids = reader.pids().expect("/proc lists");
    for pid in pids {
        match reader.stat(pid) {
            Ok(stat) => {
                black_box(stat);
                pass.processes += 1;
            }
            Err(_) => {
                pass.failed += 1;
                continue;
            }
        }
        tally(&mut pass.failed, reader.status(pid));
        tally(&mut pass.failed, reader.cmdline(pid));
        tally(&mut pass.failed, reader.exe(pid));
        tally(&mut pass.failed, reader.memory_info(pid));
    }
    pass
}

fn procfs_crate_pass() -> Pass {
    let mut pass = Pass {
        processes: 0,
        failed: 0,
    };
    for process in procfs::process::all_processes().expect("/proc lists") {
        let Ok(process) = process else {
            pass.failed += 1;
            continue;
        };
        match process.stat() {
            Ok(stat) => {
                black_box(stat);
                pass.processes += 1;
            }
            Err(_) => {
                pass.failed += 1;
                continue;
            }
        }
        tally(&mut pass.failed, process.status());
        tally(&mut pass.failed, process.cmdline());
        tally(&mut pass.failed, process.exe());
        tally(&mut pass.failed, process.statm());
    }
    pass
}

fn main() {
    let passes: usize = match std::env::args().nth(1).map(|arg| arg.parse()) {
        Some(Ok(passes)) => passes,
        _ => {
            eprintln!("usage: tracer-reader-bench PASSES");
            std::process::exit(2);
        }
    };
    let reader = tracer::host::procfs::Procfs::new();
    let readers: [(&str, &dyn Fn() -> Pass); 2] = [
        ("tracer", &|| tracer_pass(&reader)),
        ("procfs", &procfs_crate_pass),
    ];
    for (_, run) in &readers {
        black_box(run());
    }
    for pass in 0..passes {
        for turn in 0..readers.len() {
            let (name, run) = readers[(turn + pass) % readers.len()];
            let (cpu, wall) = (thread_cpu(), Instant::now());
            let done = run();
            let (cpu, wall) = (thread_cpu() - cpu, wall.elapsed().as_secs_f64());
            println!(
                "{}",
                json!({
                    "reader": name,
                    "pass": pass,
                    "cpu": cpu,
                    "wall": wall,
                    "processes": done.processes,
                    "failed_reads": done.failed,
                })
            );
        }
    }
}
