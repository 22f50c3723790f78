//! `tracer events` against the real kernel: real processes are spawned while the tracer runs,
//! and their fork, exec and exit events are checked field by field.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{cmdline, workload_bin, Tracer};

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn exit_code_argv_and_parent_of_a_shell() {
    let tracer = Tracer::start(&[]);
    let mut child = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert_eq!(child.wait().unwrap().code(), Some(7));
    let out = tracer.stop();
    assert!(out.status.success(), "tracer failed: {}", out.stderr);

    let me = std::process::id();
    let fork = out.one("fork", pid);
    assert_eq!(fork["parent_pid"], me, "forked by the test process");
    assert_eq!(fork["ppid"], me);
    assert_eq!(fork["backend"], "ebpf");

    let exec = out.one("exec", pid);
    assert_eq!(cmdline(exec), ["/bin/sh", "-c", "exit 7"]);
    assert_eq!(exec["ppid"], me);
    assert_eq!(exec["name"], "sh");
    // The executable as /proc/PID/exe names it: symlinks (sh -> dash) resolved.
    let real_sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(exec["exe"], real_sh.to_str().unwrap());
    assert_eq!(exec["exe_truncated"], false);
    assert_eq!(exec["cmdline_truncated"], false);
    assert_eq!(exec["uid"], unsafe { libc::getuid() });

    let exit = out.one("exit", pid);
    assert_eq!(exit["exit_code"], 7);
    assert!(exit["signal"].is_null());
    assert_eq!(exit["core_dumped"], false);
    assert_eq!(exit["ppid"], me);
    let duration = exit["duration"].as_f64().unwrap();
    assert!(duration > 0.0 && duration < 10.0, "duration {duration}");

    // One identity across the three events, computed as psutil does.
    assert_eq!(fork["create_time"], exec["create_time"]);
    assert_eq!(exec["create_time"], exit["create_time"]);
    let event_time = exit["time"].as_f64().unwrap();
    let create_time = exit["create_time"].as_f64().unwrap();
    assert!(create_time <= event_time && event_time - create_time < 10.0);
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn a_killed_process_reports_its_signal() {
    let tracer = Tracer::start(&["--event", "exit"]);
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    let out = tracer.stop();

    let exit = out.one("exit", pid);
    assert!(exit["exit_code"].is_null(), "{exit}");
    assert_eq!(exit["signal"], 9);
    assert_eq!(exit["name"], "sleep");
    assert!(exit["duration"].as_f64().unwrap() >= 0.09);
    assert!(
        out.of("exec", pid).is_empty() && out.of("fork", pid).is_empty(),
        "--event exit lets only exits through"
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn argv_round_trips_byte_for_byte() {
    let tracer = Tracer::start(&["--event", "exec"]);
    let mut child = Command::new("/bin/true")
        .arg("")
        .arg(OsStr::from_bytes(b"caf\xc3\xa9 \xff\xfe"))
        .arg("two words")
        .arg("")
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let out = tracer.stop();

    let exec = out.one("exec", pid);
    assert_eq!(
        cmdline(exec),
        ["/bin/true", "", "caf\u{e9} \\xff\\xfe", "two words", ""]
    );
    // Byte-exact on the wire: the invalid bytes are Python's surrogateescape, so Python reads
    // back exactly the original bytes.
    let index = out
        .records
        .iter()
        .position(|r| std::ptr::eq(r, exec))
        .unwrap();
    let line = &out.raw[index];
    assert!(line.contains(r#""café \udcff\udcfe""#), "{line}");
    let decoded = Command::new("python3")
        .args([
            "-c",
            "import json, os, sys; print(repr([os.fsencode(a) for a in json.loads(sys.stdin.read())['cmdline']]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut python| {
            use std::io::Write;
            python.stdin.take().unwrap().write_all(line.as_bytes())?;
            python.wait_with_output()
        })
        .expect("python3 decodes the line");
    assert_eq!(
        String::from_utf8_lossy(&decoded.stdout).trim(),
        r"[b'/bin/true', b'', b'caf\xc3\xa9 \xff\xfe', b'two words', b'']"
    );
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn long_argv_is_flagged_truncated_with_its_first_bytes_right() {
    let a = "a".repeat(3000);
    let b = "b".repeat(3000);
    let tracer = Tracer::start(&["--event", "exec"]);
    let mut child = Command::new("/bin/true").args([&a, &b]).spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let out = tracer.stop();

    let exec = out.one("exec", pid);
    assert_eq!(exec["cmdline_truncated"], true);
    let full = "/bin/true\0".len() + 3001 + 3001;
    assert_eq!(exec["cmdline_bytes"], full);
    let args = cmdline(exec);
    assert_eq!(args[0], "/bin/true");
    assert_eq!(args[1], a);
    let kept = 4096 - "/bin/true\0".len() - 3001;
    assert_eq!(
        args[2],
        "b".repeat(kept),
        "the cut argument keeps its first bytes"
    );
    assert!(out.final_stats()["args_truncated"].as_u64().unwrap() >= 1);
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn threads_are_not_processes() {
    let tracer = Tracer::start(&[]);
    let mut child = Command::new(workload_bin())
        .args(["threads", "8"])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let out = tracer.stop();

    assert_eq!(
        out.of("fork", pid).len(),
        1,
        "only the process's own creation"
    );
    assert_eq!(out.of("exec", pid).len(), 1);
    assert_eq!(out.one("exit", pid)["exit_code"], 0);
    let stats = out.final_stats();
    assert!(stats["threads_created"].as_u64().unwrap() >= 8, "{stats}");
    assert!(stats["threads_exited"].as_u64().unwrap() >= 8, "{stats}");
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn exec_from_a_thread_belongs_to_the_process() {
    let tracer = Tracer::start(&[]);
    let mut child = Command::new(workload_bin())
        .args(["exec-from-thread", "/bin/sh", "sh", "-c", "exit 5"])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert_eq!(child.wait().unwrap().code(), Some(5));
    let out = tracer.stop();

    let execs = out.of("exec", pid);
    assert_eq!(
        execs.len(),
        2,
        "the workload's exec, then the thread's: {execs:#?}"
    );
    assert_eq!(cmdline(execs[1]), ["sh", "-c", "exit 5"]);
    assert_eq!(
        execs[1]["create_time"], execs[0]["create_time"],
        "same process"
    );
    assert_eq!(out.one("exit", pid)["exit_code"], 5);
    assert_eq!(out.of("fork", pid).len(), 1);
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn a_storm_of_2000_processes_is_seen_whole() {
    let tracer = Tracer::start(&[]);
    let spawners: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                (0..1000)
                    .map(|_| {
                        let mut child = Command::new("/bin/true").spawn().unwrap();
                        let pid = child.id();
                        assert!(child.wait().unwrap().success());
                        pid
                    })
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut pids: Vec<u32> = spawners
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    let out = tracer.stop();
    assert!(out.status.success(), "tracer failed: {}", out.stderr);

    let stats = out.final_stats();
    assert_eq!(stats["lost"], 0, "{stats}");
    assert_eq!(stats["read_errors"], 0, "{stats}");

    // Pids may be reused within the storm: match spawns and events as multisets.
    let spawned: std::collections::HashSet<u32> = pids.iter().copied().collect();
    let me = std::process::id();
    let ours = |kind: &str| -> Vec<u32> {
        let mut found: Vec<u32> = out
            .records
            .iter()
            .filter(|r| r["event"] == kind && r["ppid"] == me)
            .map(|r| r["pid"].as_u64().unwrap() as u32)
            .filter(|pid| spawned.contains(pid))
            .collect();
        found.sort_unstable();
        found
    };
    pids.sort_unstable();
    assert_eq!(pids.len(), 2000);
    assert_eq!(ours("exec"), pids, "every exec seen");
    assert_eq!(ours("exit"), pids, "every exit seen");
    for exit in out.records.iter().filter(|r| {
        r["event"] == "exit"
            && r["ppid"] == me
            && spawned.contains(&(r["pid"].as_u64().unwrap() as u32))
    }) {
        assert_eq!(exit["exit_code"], 0, "{exit}");
        assert_eq!(exit["name"], "true", "{exit}");
    }
}

fn unprivileged(args: &[&str], seconds: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .args(["timeout", "--preserve-status", "-s", "INT", seconds])
        .arg(common::tracer_bin())
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

#[test]
#[ignore = "needs root: runs processes as another user (setpriv)"]
fn without_privileges_ebpf_says_what_is_missing() {
    let output = unprivileged(&["events", "--json", "--backend", "ebpf"], "5");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("root or CAP_BPF + CAP_PERFMON") && stderr.contains("lacks CAP_BPF"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs root: runs processes as another user (setpriv)"]
fn without_privileges_auto_falls_back_to_polling_and_says_so() {
    // A process that lives well over the interval, started while the unprivileged tracer runs.
    let starter = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(700));
        let mut child = Command::new("sh")
            .args(["-c", "sleep 1; exit 4"])
            .spawn()
            .unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    });
    let output = unprivileged(&["events", "--json", "--interval", "0.2"], "3");
    let pid = starter.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let notice = stderr.lines().next().unwrap_or_default();
    assert!(
        notice.contains("eBPF unavailable")
            && notice.contains("CAP_BPF")
            && notice.contains("procfs polling every 0.2s")
            && notice.contains("processes shorter than 0.2s are not seen"),
        "{stderr}"
    );
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |kind: &str| {
        records
            .iter()
            .filter(|r| r["event"] == kind && r["pid"] == pid)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("fork").len(), 1, "{records:#?}");
    let exec = of("exec");
    assert_eq!(exec.len(), 1);
    assert_eq!(cmdline(exec[0]), ["sh", "-c", "sleep 1; exit 4"]);
    let exit = of("exit");
    assert_eq!(exit.len(), 1);
    assert!(
        exit[0]["exit_code"].is_null(),
        "polling cannot know it: {}",
        exit[0]
    );
    for record in [exec[0], exit[0]] {
        assert_eq!(record["backend"], "procfs");
        assert_eq!(record["synthesized"], true);
    }
    let stats = records
        .iter()
        .rev()
        .find(|r| r["event"] == "stats")
        .unwrap();
    assert_eq!(stats["backend"], "procfs");
}

/// A polling backend sees a process that lives several intervals — fork, exec with its argv,
/// and an exit whose code it cannot know — and misses one that lives a millisecond.
fn polling_backend_sees_processes_longer_than_the_interval(backend: &str) {
    let tracer = Tracer::start(&["--backend", backend, "--interval", "0.1"]);
    let mut child = Command::new("sleep").arg("0.6").spawn().unwrap();
    let pid = child.id();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    child.wait().unwrap();
    let mut short = Command::new("/bin/true").spawn().unwrap();
    short.wait().unwrap(); // reaped at once: not even a zombie is left to find
    let short = short.id();
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let fork = out.one("fork", pid);
    assert_eq!(fork["ppid"], std::process::id());
    let exec = out.one("exec", pid);
    assert_eq!(cmdline(exec), ["sleep", "0.6"]);
    assert_eq!(exec["exe"], exe.to_str().unwrap());
    assert_eq!(exec["name"], "sleep");
    // SAFETY: getuid has no preconditions.
    assert_eq!(exec["uid"], unsafe { libc::getuid() });
    assert_eq!(exec["synthesized"], true);
    assert_eq!(exec["backend"], backend);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let created = exec["create_time"].as_f64().unwrap();
    assert!(
        (now - 3.0..=now).contains(&created),
        "create_time {created}, now {now}"
    );
    let exit = out.one("exit", pid);
    assert!(exit["exit_code"].is_null());
    assert_eq!(exit["backend"], backend);
    let duration = exit["duration"].as_f64().unwrap();
    assert!((0.4..2.0).contains(&duration), "duration {duration}");
    assert!(
        out.of("exec", short).is_empty(),
        "a 1 ms process is invisible to polling"
    );
    assert_eq!(out.final_stats()["backend"], backend);
}

#[test]
fn procfs_backend_sees_processes_longer_than_the_interval() {
    polling_backend_sees_processes_longer_than_the_interval("procfs");
}

#[test]
fn sysinfo_backend_sees_processes_longer_than_the_interval() {
    polling_backend_sees_processes_longer_than_the_interval("sysinfo");
}

#[test]
fn bad_flags_are_refused_clearly() {
    for (args, expected) in [
        (&["--event", "spawn"][..], "spawn"),
        (&["--uid", "no-such-user-here"][..], "unknown user"),
        (&["--pid", "abc"][..], "abc"),
        (&["--ring-mib", "3"][..], "power of two"),
    ] {
        let output = Command::new(common::tracer_bin())
            .arg("events")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} accepted");
        assert!(output.stdout.is_empty(), "{args:?} printed events");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
#[ignore = "needs root: loads eBPF programs"]
fn exe_is_the_file_that_runs_across_mounts_and_for_scripts() {
    // A binary on a tmpfs mounted below /tmp: the path walk must cross the mount.
    let dir = std::env::temp_dir().join(format!("tracer-exe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "tracer-test", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs at {}", dir.display());
    let binary = dir.join("copied-true");
    std::fs::copy("/bin/true", &binary).unwrap();
    let script = dir.join("script.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let tracer = Tracer::start(&["--event", "exec"]);
    let mut copied = Command::new(&binary).spawn().unwrap();
    let copied_pid = copied.id();
    copied.wait().unwrap();
    let mut scripted = Command::new(&script).spawn().unwrap();
    let script_pid = scripted.id();
    assert_eq!(scripted.wait().unwrap().code(), Some(3));
    let out = tracer.stop();
    Command::new("umount").arg(&dir).status().unwrap();
    let _ = std::fs::remove_dir(&dir);

    let canonical_dir = std::fs::canonicalize(std::env::temp_dir())
        .unwrap()
        .join(dir.file_name().unwrap());
    assert_eq!(
        out.one("exec", copied_pid)["exe"],
        canonical_dir.join("copied-true").to_str().unwrap()
    );
    // For a script the kernel runs the interpreter: exe names it, as /proc/PID/exe does.
    let script_exec = out.one("exec", script_pid);
    assert_eq!(
        script_exec["exe"],
        std::fs::canonicalize("/bin/sh").unwrap().to_str().unwrap()
    );
    assert_eq!(cmdline(script_exec), ["/bin/sh", script.to_str().unwrap()]);
}

/// `--kernel-stats` reports each program's runs and time; `--kernel-floor` adds the floor
/// programs on the same tracepoints (empty, least reporting, and that with the event's
/// necessary reads), whose discarded records reach no consumer; `--no-final-cpu` leaves the
/// final-time program off `sched_switch`.
#[test]
#[ignore = "needs root: loads eBPF programs"]
fn kernel_stats_report_the_programs_and_their_floors() {
    const SPAWNS: usize = 20;
    let run = |args: &[&str]| {
        let tracer = Tracer::start(args);
        let pids: Vec<u32> = (0..SPAWNS)
            .map(|_| {
                let mut child = Command::new("/bin/true").spawn().unwrap();
                let pid = child.id();
                assert!(child.wait().unwrap().success());
                pid
            })
            .collect();
        let out = tracer.stop();
        assert!(out.status.success(), "tracer failed: {}", out.stderr);
        // Every spawn complete, and nothing else in the stream (no discarded floor record).
        for &pid in &pids {
            out.one("exec", pid);
            out.one("exit", pid);
        }
        assert!(out.records.iter().all(
            |r| ["fork", "exec", "exit", "stats"].contains(&r["event"].as_str().unwrap_or(""))
        ));
        out
    };
    let runs = |stats: &serde_json::Value, name: &str| -> Option<u64> {
        let program = stats["programs"].get(name)?;
        assert!(
            program["run_time_ns"].as_u64().unwrap() > 0,
            "{name}: {program}"
        );
        program["run_count"].as_u64()
    };

    let out = run(&["--kernel-stats", "--kernel-floor"]);
    let stats = out.final_stats();
    assert_eq!(stats["decode_errors"], 0, "{stats}");
    let floors: [(&str, &[&str]); 3] = [
        ("fork", &["process", "record"]),
        ("exec", &["process", "record", "reads", "path", "argv"]),
        ("exit", &["process", "record", "reads"]),
    ];
    for (hook, floors) in floors {
        let program = runs(stats, &format!("sched_process_{hook}")).expect("the program");
        assert!(program >= SPAWNS as u64, "{hook}: {stats}");
        for floor in floors {
            let floor_runs = runs(stats, &format!("floor_{floor}_{hook}")).expect("the floor");
            // Attached just before the program: the same events and those in between.
            assert!(floor_runs >= program, "floor_{floor}_{hook}: {stats}");
        }
    }
    assert!(runs(stats, "sched_switch_final").is_some(), "{stats}");

    let out = run(&["--kernel-stats", "--no-final-cpu"]);
    let stats = out.final_stats();
    assert!(runs(stats, "sched_process_exit").is_some(), "{stats}");
    assert!(
        stats["programs"].get("sched_switch_final").is_none(),
        "{stats}"
    );
    assert!(
        stats["programs"].get("floor_process_exit").is_none(),
        "{stats}"
    );
}
