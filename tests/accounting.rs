//! Kernel-side accounting against the real kernel: every exit event carries what the process
//! consumed in all (CPU, peak RSS, faults, context switches, I/O), checked against what
//! `wait4(2)` reports for the same child; exited processes in the agent's table and `wait`'s
//! gone list show it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{workload_bin, Agent, Tracer};
use serde_json::Value;

/// Runs the workload with `args`, reaps it with wait4 and returns its pid, wait status and
/// resource usage as the kernel reports them to the parent.
fn run_and_reap(args: &[&str]) -> (u32, i32, libc::rusage) {
    let child = Command::new(workload_bin())
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("start the workload");
    reap(child)
}

fn reap(child: Child) -> (u32, i32, libc::rusage) {
    let pid = child.id();
    let mut status = 0;
    // SAFETY: rusage is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: our own child; valid pointers.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(
        reaped,
        pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    (pid, status, usage)
}

fn seconds(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

fn f64_at(value: &Value, path: &[&str]) -> f64 {
    let mut v = value;
    for key in path {
        v = &v[key];
    }
    v.as_f64()
        .unwrap_or_else(|| panic!("{} is not a number in {value}", path.join(".")))
}

fn u64_at(value: &Value, path: &[&str]) -> u64 {
    let mut v = value;
    for key in path {
        v = &v[key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{} is not an integer in {value}", path.join(".")))
}

/// `a` within `fraction` of `b`.
fn close(a: f64, b: f64, fraction: f64) -> bool {
    (a - b).abs() <= fraction * b.abs()
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn cpu_time_of_a_burning_child_matches_wait4() {
    let tracer = Tracer::start(&["--event", "exit"]);
    let (pid, status, usage) = run_and_reap(&["burn", "0.5"]);
    let out = tracer.stop();
    assert_eq!(status, 0);
    let exit = out.one("exit", pid);

    let user = f64_at(exit, &["cpu_times", "user"]);
    let system = f64_at(exit, &["cpu_times", "system"]);
    let (ru_user, ru_system) = (seconds(usage.ru_utime), seconds(usage.ru_stime));
    assert!(
        ru_user >= 0.4,
        "the workload burned {ru_user} s of user time"
    );
    assert!(
        close(user, ru_user, 0.10),
        "exit event user time {user} s, wait4 says {ru_user} s: {exit}"
    );
    // The little system time there is: a tick's worth either way.
    assert!(
        (system - ru_system).abs() <= 0.02,
        "exit event system time {system} s, wait4 says {ru_system} s: {exit}"
    );
    assert_eq!(f64_at(exit, &["cpu_times", "children_user"]), 0.0);
    assert_eq!(f64_at(exit, &["cpu_times", "iowait"]), 0.0);

    // Counters the kernel keeps the same way: the event is read a moment before the reap.
    let voluntary = u64_at(exit, &["num_ctx_switches", "voluntary"]);
    let involuntary = u64_at(exit, &["num_ctx_switches", "involuntary"]);
    assert!(
        voluntary <= usage.ru_nvcsw as u64 && voluntary + 5 >= usage.ru_nvcsw as u64,
        "voluntary switches {voluntary}, wait4 says {}: {exit}",
        usage.ru_nvcsw
    );
    assert!(
        involuntary <= usage.ru_nivcsw as u64 + 2 && involuntary + 5 >= usage.ru_nivcsw as u64,
        "involuntary switches {involuntary}, wait4 says {}: {exit}",
        usage.ru_nivcsw
    );
    let minor = u64_at(exit, &["num_page_faults", "minor"]);
    assert!(
        minor > 0 && minor <= usage.ru_minflt as u64 && minor + 50 >= usage.ru_minflt as u64,
        "minor faults {minor}, wait4 says {}: {exit}",
        usage.ru_minflt
    );
    assert_eq!(
        u64_at(exit, &["num_page_faults", "major"]),
        usage.ru_majflt as u64
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn peak_rss_is_the_high_water_mark() {
    const MIB: u64 = 64;
    let tracer = Tracer::start(&["--event", "exit"]);
    let (pid, status, usage) = run_and_reap(&["alloc", &MIB.to_string()]);
    let out = tracer.stop();
    assert_eq!(status, 0);
    let exit = out.one("exit", pid);

    let rss = u64_at(exit, &["memory_info", "rss"]);
    let allocated = MIB << 20;
    assert!(
        close(rss as f64, allocated as f64, 0.10),
        "peak RSS {rss} bytes after touching {allocated}: {exit}"
    );
    // Exactly the kernel's own figure (ru_maxrss is in KiB).
    assert_eq!(rss, usage.ru_maxrss as u64 * 1024, "{exit}");
    assert_eq!(
        exit["memory_info"].as_object().map(|m| m.len()),
        Some(1),
        "memory_info of an exited process is {{rss}} (the peak): {exit}"
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn bytes_read_from_a_file_are_counted() {
    const SIZE: u64 = 10 << 20;
    // On the disk (the target directory), not a tmpfs: dropping its cached pages makes the
    // reads go to storage, so `read_bytes` counts them too.
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("accounting-read-{}", std::process::id()));
    {
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0x5au8; 1 << 20];
        for _ in 0..(SIZE >> 20) {
            file.write_all(&chunk).unwrap();
        }
        // Clean pages can be dropped; dirty ones cannot.
        file.sync_all().unwrap();
    }
    let tracer = Tracer::start(&["--event", "exit"]);
    let child = Command::new(workload_bin())
        .args(["read", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (pid, status, _) = {
        let mut child = child;
        let mut printed = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut printed).unwrap();
        assert_eq!(
            printed.trim(),
            SIZE.to_string(),
            "the workload read the file"
        );
        reap(child)
    };
    let out = tracer.stop();
    let _ = std::fs::remove_file(&path);
    assert_eq!(status, 0);
    let exit = out.one("exit", pid);

    // Bytes returned by read(2), from the cache or not: what "read a 10 MB file" means.
    let read_chars = u64_at(exit, &["io_counters", "read_chars"]);
    assert!(
        read_chars >= SIZE,
        "read_chars {read_chars} < {SIZE}: {exit}"
    );
    assert!(u64_at(exit, &["io_counters", "read_count"]) >= SIZE >> 20);
    // Bytes fetched from storage: the pages were dropped first, so all of it.
    let read_bytes = u64_at(exit, &["io_counters", "read_bytes"]);
    assert!(
        read_bytes >= SIZE,
        "read_bytes {read_bytes} < {SIZE}: {exit}"
    );
    assert!(
        u64_at(exit, &["io_counters", "write_chars"]) < 1024,
        "{exit}"
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn threads_still_listed_at_the_end_are_counted() {
    // The leader burns, starts a thread and leaves first: it waits as a zombie with its own
    // counters until the thread (the last) exits. Both halves must be in the exit event.
    let tracer = Tracer::start(&["--event", "exit"]);
    let (pid, status, usage) = run_and_reap(&["burn-then-leave", "0.25"]);
    let out = tracer.stop();
    assert_eq!(status, 0);
    let exit = out.one("exit", pid);

    let user = f64_at(exit, &["cpu_times", "user"]);
    let ru_user = seconds(usage.ru_utime);
    assert!(
        ru_user >= 0.4,
        "the workload burned {ru_user} s of user time"
    );
    assert!(
        close(user, ru_user, 0.10),
        "exit event user time {user} s, wait4 says {ru_user} s (the leader's share missing?): {exit}"
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn threads_already_gone_are_counted() {
    // Threads that ended and were joined before the process exits: the kernel keeps their
    // counters in the process's signal_struct, which the exit event adds.
    let tracer = Tracer::start(&["--event", "exit"]);
    let (pid, status, usage) = run_and_reap(&["burn-threads", "3", "0.15"]);
    let out = tracer.stop();
    assert_eq!(status, 0);
    let exit = out.one("exit", pid);

    let user = f64_at(exit, &["cpu_times", "user"]);
    let ru_user = seconds(usage.ru_utime);
    assert!(
        ru_user >= 0.4,
        "the workload burned {ru_user} s of user time"
    );
    assert!(
        close(user, ru_user, 0.10),
        "exit event user time {user} s, wait4 says {ru_user} s (the threads' share missing?): {exit}"
    );
    let switches = u64_at(exit, &["num_ctx_switches", "voluntary"])
        + u64_at(exit, &["num_ctx_switches", "involuntary"]);
    assert!(
        switches + 10 >= (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        "context switches {switches}, wait4 says {}: {exit}",
        usage.ru_nvcsw + usage.ru_nivcsw
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn every_exit_carries_usage() {
    let tracer = Tracer::start(&["--event", "exit"]);
    let mut pids = Vec::new();
    for _ in 0..20 {
        let mut child = Command::new("/bin/true").spawn().unwrap();
        pids.push(child.id());
        child.wait().unwrap();
    }
    let out = tracer.stop();
    for pid in pids {
        let exit = out.one("exit", pid);
        for key in [
            "cpu_times",
            "memory_info",
            "num_ctx_switches",
            "io_counters",
            "num_page_faults",
        ] {
            assert!(exit[key].is_object(), "{key} missing: {exit}");
        }
        // A process has at least its binary mapped and faulted in.
        assert!(u64_at(exit, &["memory_info", "rss"]) > 0, "{exit}");
        assert!(u64_at(exit, &["num_page_faults", "minor"]) > 0, "{exit}");
    }
    assert_eq!(out.final_stats()["lost"], 0);
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn exited_processes_and_wait_show_their_usage() {
    let agent = Agent::start("exited", &[]);
    assert!(agent.socket().exists());

    // wait: a process that is not our child (the agent waits for it), gone with its usage.
    let mut child = Command::new(workload_bin())
        .args(["burn", "0.3"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let waited = agent.json(&["wait", "--json", "--timeout", "20", &pid.to_string()]);
    child.wait().unwrap();
    let gone = &waited["gone"][0];
    assert_eq!(gone["pid"], pid, "{waited}");
    assert_eq!(gone["returncode"], 0, "{waited}");
    let user = f64_at(gone, &["cpu_times", "user"]);
    assert!(
        close(user, 0.3, 0.25),
        "wait's gone entry: user {user}: {gone}"
    );
    assert!(u64_at(gone, &["memory_info", "rss"]) > 0, "{gone}");

    // ps --exited: the same figures, as attributes.
    let (alloc_pid, _, usage) = run_and_reap(&["alloc", "32"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = agent.json(&[
            "ps",
            "--exited",
            "--json",
            "--pid",
            &alloc_pid.to_string(),
            "--attrs",
            "pid,cpu_times,memory_info,num_ctx_switches,io_counters,num_page_faults",
        ]);
        if let Some(row) = rows.as_array().and_then(|r| r.first()) {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "pid {alloc_pid} never listed as exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        u64_at(&row, &["memory_info", "rss"]),
        usage.ru_maxrss as u64 * 1024,
        "{row}"
    );
    assert!(row["cpu_times"]["user"].is_number(), "{row}");
    assert!(row["num_ctx_switches"]["voluntary"].is_number(), "{row}");
    assert!(row["io_counters"]["read_chars"].is_number(), "{row}");
    assert!(u64_at(&row, &["num_page_faults", "minor"]) > 0, "{row}");
}

/// The agent's metrics page.
fn scrape(addr: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    response
}

/// `/proc/PID/schedstat`: seconds the task ran on a CPU, seconds it waited on a run queue,
/// and how many times it got a CPU.
fn proc_schedstat(pid: u32) -> (f64, f64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0] as f64 / 1e9, fields[1] as f64 / 1e9, fields[2])
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn sched_accounting_counts_wakeups_and_on_cpu_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let agent = Agent::start("sched", &["--sched", "--metrics", &metrics]);

    // Sleeps and wakes 100 times, running 2 ms of CPU after each wake, then holds still.
    let mut child = Command::new(workload_bin())
        .args(["sleep-wake", "100", "1", "2", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "done");
    // It is asleep now: its last slice is over (and accounted).
    std::thread::sleep(Duration::from_millis(100));

    let rows = agent.json(&[
        "ps",
        "--json",
        "--pid",
        &pid.to_string(),
        "--attrs",
        "pid,oncpu_time,runq_latency",
    ]);
    let (proc_oncpu, proc_waited, proc_runs) = proc_schedstat(pid);
    let row = &rows[0];
    assert_eq!(row["pid"], pid, "{rows}");
    let runq = &row["runq_latency"];
    let count = u64_at(runq, &["count"]);
    assert!(
        count >= 100,
        "{count} run-queue waits for 100 wakeups: {row}"
    );
    let sum = f64_at(runq, &["sum"]);
    let max = f64_at(runq, &["max"]);
    assert!(sum >= 0.0 && max >= 0.0 && max <= sum, "{row}");
    let histogram = runq["histogram"].as_array().expect("a histogram");
    let in_buckets: u64 = histogram.iter().map(|b| u64_at(b, &["count"])).sum();
    assert_eq!(in_buckets, count, "every wait is in a bucket: {row}");
    // The same waits the kernel sums for /proc (each time it got a CPU, the first included).
    assert!(
        count.abs_diff(proc_runs) <= 2,
        "{count} waits, /proc/{pid}/schedstat says it got a CPU {proc_runs} times: {row}"
    );
    // A wait is counted from the task's last enqueue: the part of a wait spent queued on
    // another CPU before a migration is in the kernel's sum only.
    assert!(
        sum <= proc_waited + 1e-6,
        "waited {sum} s, /proc/{pid}/schedstat says {proc_waited} s: {row}"
    );
    let oncpu = f64_at(row, &["oncpu_time"]);
    assert!(
        oncpu >= 0.15,
        "2 ms of CPU after each of 100 wakeups, on-CPU {oncpu} s"
    );
    assert!(
        close(oncpu, proc_oncpu, 0.10),
        "on-CPU {oncpu} s, /proc/{pid}/schedstat says {proc_oncpu} s: {row}"
    );

    // The host's histograms, for Prometheus.
    let text = scrape(&metrics);
    for name in ["tracer_runq_latency_seconds", "tracer_oncpu_slice_seconds"] {
        assert!(
            text.contains(&format!("# TYPE {name} histogram\n")),
            "{text}"
        );
        let count: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_count ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}_count: {text}"));
        assert!(count >= 100, "{name}_count {count}");
        let inf = format!("{name}_bucket{{le=\"+Inf\"}} {count}\n");
        assert!(text.contains(&inf), "{text}");
    }

    // When it ends, the exit record keeps the sums for `ps --exited`.
    // SAFETY: our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let exited = loop {
        let rows = agent.json(&[
            "ps",
            "--exited",
            "--json",
            "--pid",
            &pid.to_string(),
            "--attrs",
            "pid,oncpu_time,runq_latency",
        ]);
        if let Some(row) = rows.as_array().and_then(|r| r.first()) {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} never listed as exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        u64_at(&exited, &["runq_latency", "count"]) >= count,
        "{exited}"
    );
    assert!(f64_at(&exited, &["oncpu_time"]) >= oncpu, "{exited}");
    assert!(exited["runq_latency"]["histogram"].is_null(), "{exited}");
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn sched_accounting_is_off_by_default() {
    let agent = Agent::start("nosched", &[]);
    let rows = agent.json(&[
        "ps",
        "--json",
        "--pid",
        &std::process::id().to_string(),
        "--attrs",
        "pid,oncpu_time,runq_latency",
    ]);
    assert!(rows[0]["oncpu_time"].is_null(), "{rows}");
    assert!(rows[0]["runq_latency"].is_null(), "{rows}");
}
