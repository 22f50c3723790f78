//! Scoped tracing against the real kernel: `tracer agent --cgroup PREFIX` traces only the
//! processes in that cgroup v2 subtree. The test makes a subtree and a sibling on the v2
//! hierarchy (found from the mounts), starts processes in both (the pid written to
//! `cgroup.procs`, then exec) — long-lived ones, short ones that exit, and some in a cgroup
//! made inside the subtree after the agent started — and checks that the agent's live and
//! exited rows hold exactly the ones inside. Every cgroup is removed when its guard drops,
//! also when the test fails (what is still inside is killed first).

mod common;

use common::TestCgroups;

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::Agent;
use serde_json::Value;

/// The test's cgroups (`/tracer-test-scope-PID`) and the children started in them: the
/// children are killed and reaped on drop, before the cgroups go.
struct Cgroups {
    children: Vec<Child>,
    cgroups: TestCgroups,
}

impl Cgroups {
    fn new() -> Cgroups {
        Cgroups {
            children: Vec::new(),
            cgroups: TestCgroups::new("scope"),
        }
    }

    /// `relative` under the test's root, as `/proc/PID/cgroup` shows it.
    fn path(&self, relative: &str) -> String {
        self.cgroups.path(relative)
    }

    /// The directory of `relative`, made (with its parents) if needed.
    fn dir(&mut self, relative: &str) -> std::path::PathBuf {
        self.cgroups.dir(relative)
    }

    /// Runs `argv` in the cgroup `relative`; returns its pid.
    fn spawn(&mut self, relative: &str, argv: &str) -> u32 {
        let child = self.cgroups.spawn(relative, argv);
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for the short-lived child `pid` if it has not exited yet.
    fn reap(&mut self, pid: u32) {
        if let Some(child) = self.children.iter_mut().find(|c| c.id() == pid) {
            assert!(child.wait().unwrap().success(), "child {pid} failed");
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// pid → cgroup of the agent's rows (`--exited`: the exited ones).
fn rows(agent: &Agent, exited: bool) -> Vec<(u32, String)> {
    let mut args = vec!["ps", "--json", "--attrs", "pid,cgroup"];
    if exited {
        args.push("--exited");
    }
    let answer: Value = agent.json(&args);
    answer
        .as_array()
        .expect("ps --json prints an array")
        .iter()
        .map(|row| {
            (
                row["pid"].as_u64().unwrap() as u32,
                row["cgroup"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root: loads eBPF programs and makes cgroups"]
fn scoped_agent_sees_its_subtree_and_nothing_else() {
    let mut cgroups = Cgroups::new();
    cgroups.dir("in");
    cgroups.dir("out");
    let scope = cgroups.path("in");
    let agent = Agent::start("scope", &["--cgroup", &scope]);
    assert_eq!(agent.backend(), "ebpf");

    // Inside: long-lived, in a cgroup made after the start, and short-lived; the same outside.
    let inside_long = cgroups.spawn("in", "sleep 30");
    let inside_late = cgroups.spawn("in/late/deeper", "sleep 30");
    let outside_long = cgroups.spawn("out", "sleep 30");
    let mut inside_short = Vec::new();
    let mut outside_short = Vec::new();
    for _ in 0..5 {
        inside_short.push(cgroups.spawn("in", "/bin/true"));
        outside_short.push(cgroups.spawn("out", "/bin/true"));
    }
    for pid in inside_short.iter().chain(&outside_short) {
        cgroups.reap(*pid);
    }

    // Every process inside shows (live or exited), within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (live, exited) = loop {
        let live = rows(&agent, false);
        let exited = rows(&agent, true);
        let live_pids: BTreeSet<u32> = live.iter().map(|(pid, _)| *pid).collect();
        let exited_pids: BTreeSet<u32> = exited.iter().map(|(pid, _)| *pid).collect();
        let complete = live_pids.contains(&inside_long)
            && live_pids.contains(&inside_late)
            && inside_short.iter().all(|pid| exited_pids.contains(pid));
        if complete || Instant::now() > deadline {
            break (live, exited);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let live_pids: BTreeSet<u32> = live.iter().map(|(pid, _)| *pid).collect();
    let exited_pids: BTreeSet<u32> = exited.iter().map(|(pid, _)| *pid).collect();
    assert!(
        live_pids.contains(&inside_long),
        "the process in {scope} is missing: {live:?}"
    );
    assert!(
        live_pids.contains(&inside_late),
        "the process in a cgroup made inside the scope after the start is missing: {live:?}"
    );
    for pid in &inside_short {
        assert!(
            exited_pids.contains(pid),
            "the short process {pid} inside is missing from the exited: {exited:?}"
        );
    }

    // Nothing outside: not the sibling's processes, nor any other of the host's.
    assert!(
        !live_pids.contains(&outside_long),
        "a process outside the scope shows"
    );
    for pid in &outside_short {
        assert!(
            !exited_pids.contains(pid),
            "a short process outside the scope shows"
        );
    }
    for (pid, cgroup) in live.iter().chain(&exited) {
        assert!(
            cgroup == &scope || cgroup.starts_with(&format!("{scope}/")),
            "pid {pid} in {cgroup:?} is outside {scope}"
        );
    }
    assert!(agent.stop().success());
}

#[test]
#[ignore = "needs root: loads eBPF programs and makes cgroups"]
fn a_process_that_leaves_the_scope_is_followed_to_its_exit() {
    let mut cgroups = Cgroups::new();
    cgroups.dir("in");
    cgroups.dir("out");
    let scope = cgroups.path("in");
    let agent = Agent::start("scope-leave", &["--cgroup", &scope]);
    // `sleep` runs in scope from its exec, then moves out of it and ends there.
    let pid = cgroups.spawn("in", "sleep 1.5");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rows(&agent, false).iter().any(|(live, _)| *live == pid) {
        assert!(
            Instant::now() < deadline,
            "the process in scope never showed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    cgroups.cgroups.move_to("out", pid);
    cgroups.reap(pid);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let exited = rows(&agent, true);
        if let Some((_, cgroup)) = exited.iter().find(|(gone, _)| *gone == pid) {
            // Shown where it was traced, not where it ended.
            assert_eq!(cgroup, &scope);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the exit of a process that left the scope was lost: live {:?}",
            rows(&agent, false)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!rows(&agent, false).iter().any(|(live, _)| *live == pid));
}

#[test]
#[ignore = "needs root: starts the agent"]
fn a_missing_cgroup_is_one_clear_error() {
    let out = Command::new(common::tracer_bin())
        .args([
            "--socket",
            "/tmp/tracer-test-scope-missing.sock",
            "agent",
            "--cgroup",
        ])
        .arg(format!(
            "/tracer-test-no-such-cgroup-{}",
            std::process::id()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no such cgroup"), "stderr: {stderr}");
}
