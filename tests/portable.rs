//! The portable build (`TRACER_PORTABLE=1`: the sysinfo reader and backend that macOS and
//! Windows run), run here on Linux against what /proc says: `ps`, `tree`, `events`, `wait` and
//! `kill` work, attributes it cannot know are null, and it says what it cannot guarantee.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::cmdline;
use serde_json::{json, Value};

/// The portable binary: `TRACER_PORTABLE_BIN` (set by `cargo xtask test`). Where `CI` is set
/// a missing one fails the test; elsewhere the test skips with one line.
fn portable(test: &str) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("TRACER_PORTABLE_BIN") {
        return Some(bin.into());
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs TRACER_PORTABLE_BIN (run `cargo xtask test`) and CI is set");
    }
    eprintln!("skipped {test}: TRACER_PORTABLE_BIN is not set (run `cargo xtask test`)");
    None
}

fn run(binary: &PathBuf, args: &[&str]) -> Output {
    Command::new(binary)
        // No agent: the portable build has none, and must not find the Linux one's socket.
        .args(["--socket", "/nonexistent/tracer.sock"])
        .args(args)
        .output()
        .expect("run the portable tracer")
}

/// A child that has exec'd `argv` (its /proc cmdline says so).
fn spawn(argv: &[&str]) -> Child {
    let child = Command::new(argv[0]).args(&argv[1..]).spawn().unwrap();
    let expected: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read(format!("/proc/{}/cmdline", child.id())).ok() != Some(expected.clone()) {
        assert!(Instant::now() < deadline, "{argv:?} did not exec");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// psutil's create_time of `pid`, from /proc.
fn proc_create_time(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[19].parse().unwrap();
    let btime: f64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    btime + ticks / 100.0
}

#[test]
fn help_names_what_the_portable_build_cannot_do() {
    let Some(binary) = portable("help_names_what_the_portable_build_cannot_do") else {
        return;
    };
    let help = String::from_utf8(run(&binary, &["--help"]).stdout).unwrap();
    assert!(help.contains("portable build"), "{help}");
    assert!(help.contains("exit codes are"), "{help}");
    for linux_only in ["agent", "sys", "top"] {
        assert!(
            !help
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{linux_only} "))),
            "{linux_only} is listed: {help}"
        );
        let output = run(&binary, &[linux_only]);
        assert!(!output.status.success(), "`{linux_only}` was accepted");
    }
    let output = run(&binary, &["events", "--backend", "ebpf"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("needs Linux"), "{stderr}");
}

#[test]
fn ps_agrees_with_proc_and_leaves_unknowns_null() {
    let Some(binary) = portable("ps_agrees_with_proc_and_leaves_unknowns_null") else {
        return;
    };
    let mut child = spawn(&["sleep", "30"]);
    let pid = child.id();
    let attrs = "pid,ppid,name,exe,cmdline,username,uids,create_time,status,memory_info,cwd,\
                 nice,cpu_times,terminal,num_fds,ionice,open_files,memory_full_info";
    let output = run(&binary, &["ps", "--json", "--attrs", attrs]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let row = rows
        .iter()
        .find(|r| r["pid"] == pid)
        .expect("the child is listed");
    assert_eq!(row["ppid"], std::process::id());
    assert_eq!(row["name"], "sleep");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(row["exe"], exe.to_str().unwrap());
    assert_eq!(row["cmdline"], json!(["sleep", "30"]));
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    assert_eq!(
        row["uids"],
        json!({"real": uid, "effective": uid, "saved": uid})
    );
    if uid == 0 {
        assert_eq!(row["username"], "root");
    }
    // Whole seconds: up to one second before psutil's.
    let created = row["create_time"].as_f64().unwrap();
    let exact = proc_create_time(pid);
    assert!(
        (exact - 1.0..=exact + 0.01).contains(&created),
        "{created} vs {exact}"
    );
    assert_eq!(row["status"], "sleeping");
    assert!(row["memory_info"]["rss"].as_u64().unwrap() > 0, "{row}");
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(row["cwd"], cwd.to_str().unwrap());
    for unknown in [
        "nice",
        "cpu_times",
        "terminal",
        "num_fds",
        "ionice",
        "open_files",
        "memory_full_info",
    ] {
        assert!(
            row[unknown].is_null(),
            "{unknown} must be null, not made up: {row}"
        );
    }
    // Every process that lives across the listing is in it.
    let before: Vec<u32> = proc_pids();
    let listed = run(&binary, &["ps", "--json", "--attrs", "pid"]);
    let after: Vec<u32> = proc_pids();
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let listed: std::collections::HashSet<u64> =
        listed.iter().filter_map(|r| r["pid"].as_u64()).collect();
    let stable: Vec<u32> = before.into_iter().filter(|p| after.contains(p)).collect();
    assert!(stable.len() > 10);
    for pid in stable {
        assert!(listed.contains(&u64::from(pid)), "pid {pid} is missing");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn proc_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn tree_wait_and_kill_work_on_the_host() {
    let Some(binary) = portable("tree_wait_and_kill_work_on_the_host") else {
        return;
    };
    let mut sleeper = spawn(&["sleep", "30"]);
    let pid = sleeper.id();
    let me = std::process::id().to_string();
    let tree = run(&binary, &["tree", &me]);
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.contains(&format!("sleep({pid})")), "{tree}");

    // kill: the process dies of SIGKILL.
    let killed = run(&binary, &["kill", &pid.to_string()]);
    assert!(
        killed.status.success(),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let status = sleeper.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    // wait: returns once a process that is not its child ends (the code is unknown).
    let mut short = spawn(&["sleep", "0.5"]);
    let short_pid = short.id();
    let reaper = std::thread::spawn(move || short.wait().unwrap());
    let started = Instant::now();
    let waited = run(
        &binary,
        &["wait", "--json", "--timeout", "10", &short_pid.to_string()],
    );
    let answer: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(answer["gone"][0]["pid"], short_pid, "{answer}");
    assert!(answer["gone"][0]["returncode"].is_null(), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    reaper.join().unwrap();

    // A timeout is a timeout: the process is still alive.
    let mut alive = spawn(&["sleep", "30"]);
    let waited = run(
        &binary,
        &[
            "wait",
            "--json",
            "--timeout",
            "0.3",
            &alive.id().to_string(),
        ],
    );
    let answer: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(answer["alive"][0]["pid"], alive.id(), "{answer}");
    alive.kill().unwrap();
    alive.wait().unwrap();
}

#[test]
fn events_poll_with_sysinfo_and_say_so() {
    let Some(binary) = portable("events_poll_with_sysinfo_and_say_so") else {
        return;
    };
    let tracer = common::Tracer::start_with(
        &binary,
        &["--socket", "/nonexistent/tracer.sock", "--interval", "0.2"],
    );
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.8; exit 3"])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    std::thread::sleep(Duration::from_millis(500));
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let notice = out.stderr.lines().next().unwrap_or_default();
    assert!(
        notice.contains("using sysinfo polling every 0.2s")
            && notice.contains("processes shorter than 0.2s are not seen"),
        "{}",
        out.stderr
    );
    let exec = out.one("exec", pid);
    assert_eq!(cmdline(exec), ["sh", "-c", "sleep 0.8; exit 3"]);
    assert_eq!(exec["backend"], "sysinfo");
    assert_eq!(exec["synthesized"], true);
    assert_eq!(exec["ppid"], std::process::id());
    let exit = out.one("exit", pid);
    assert!(
        exit["exit_code"].is_null(),
        "polling cannot know it: {exit}"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(exit["time"].as_f64().unwrap() <= now);
    assert_eq!(out.final_stats()["backend"], "sysinfo");
}
