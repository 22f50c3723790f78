//! `tracer top` driven in a real pseudo-terminal (a private tmux server), and `tracer sys`
//! through the agent.
//!
//! The tmux tests start a shell in a detached session of known size, type the command into it,
//! read the screen with `capture-pane` until it shows what is expected, press keys, and check
//! that `q` ends the program and gives the shell back. tmux is needed: without it the tests
//! skip with one line, and fail where `CI` is set (`cargo xtask setup` installs it).

mod common;

use common::TestCgroups;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{tracer_bin, Agent};
use serde_json::Value;

/// The shell prompt in the sessions, to recognise it.
const PROMPT: &str = "top-test$ ";

/// Whether tmux can run; `false` (skip) outside CI when it is missing.
fn tmux_available(test: &str) -> bool {
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => true,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "{test} needs tmux and CI is set ({why}): apt-get install -y tmux, \
                 or run `cargo xtask setup`"
            );
            eprintln!("skipped {test}: tmux is not installed ({why}); apt-get install -y tmux");
            false
        }
    }
}

/// A private tmux server with one detached session running a shell, of a known size.
struct Tmux {
    server: String,
}

impl Tmux {
    fn start(name: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            server: format!("tracer-{name}-{}", std::process::id()),
        };
        let shell = format!("env PS1='{PROMPT}' TERM=xterm-256color bash --norc --noprofile");
        tmux.run(&[
            "-u",
            "new-session",
            "-d",
            "-s",
            "test",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &shell,
        ]);
        tmux.wait_for("the shell prompt", Duration::from_secs(10), |screen| {
            screen.contains(PROMPT.trim_end())
        });
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        // A server of our own, without anyone's configuration.
        command.args(["-L", &self.server, "-f", "/dev/null"]);
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` and presses Enter.
    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "test", "-l", text]);
        self.run(&["send-keys", "-t", "test", "Enter"]);
    }

    /// Presses keys (tmux key names: `m`, `Escape`, `Enter`, …).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "test"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The visible screen, as text.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "test"])
    }

    /// Reads the screen until `ready` says so; panics with the last screen after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {what} within {timeout:?}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// A process running `program` under a unique name (`comm` is the name of the file exec'd,
/// here a symlink), killed when dropped.
struct Named {
    child: Child,
    name: String,
    dir: PathBuf,
}

impl Named {
    fn spawn(prefix: &str, program: &str, args: &[&str]) -> Named {
        let name = format!("{prefix}{}", std::process::id());
        assert!(name.len() <= 15, "{name} must fit the kernel's comm");
        let dir = std::env::temp_dir().join(format!("tracer-top-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join(&name);
        std::os::unix::fs::symlink(program, &link).unwrap();
        let child = Command::new(&link)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the named process");
        Named { child, name, dir }
    }

    /// Runs it to its end (for processes that end by themselves).
    fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `tracer … top` as typed into the shell, followed by its exit status.
fn top_command(socket: &Path, args: &str) -> String {
    format!(
        "{} --socket {} top {args}; echo top-exited-$?",
        tracer_bin().display(),
        socket.display()
    )
}

#[test]
fn top_draws_sorts_filters_and_quits() {
    if !tmux_available("top_draws_sorts_filters_and_quits") {
        return;
    }
    // A busy process with a name of its own: first in the CPU order.
    let busy = Named::spawn("ttop", "/bin/sh", &["-c", "while :; do :; done"]);
    let tmux = Tmux::start("draw", 160, 45);
    // No agent listens on this socket: direct mode.
    let nowhere = std::env::temp_dir().join(format!("tracer-no-agent-{}.sock", std::process::id()));
    tmux.type_line(&top_command(&nowhere, "--interval 0.5"));

    let screen = tmux.wait_for(
        &format!("the summary, the header and {}", busy.name),
        Duration::from_secs(20),
        |s| s.contains("TASKS") && s.contains("CPU%▼") && s.contains(&busy.name),
    );
    for expected in [
        "tracer top",
        "direct",
        "CPU ",
        "MEM ",
        "load ",
        "up ",
        "processes",
        "sleeping",
        "PID",
        "COMMAND",
        "sorted by CPU ▼",
        "Recent exits",
    ] {
        assert!(
            screen.contains(expected),
            "no {expected:?} on screen:\n{screen}"
        );
    }

    tmux.keys(&["m"]);
    tmux.wait_for("the memory order", Duration::from_secs(5), |s| {
        s.contains("MEM%▼") && !s.contains("CPU%▼") && s.contains("sorted by memory ▼")
    });

    tmux.keys(&["/"]);
    tmux.run(&["send-keys", "-t", "test", "-l", &busy.name]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("only the filtered process", Duration::from_secs(5), |s| {
        s.contains("Processes: 1 of") && s.contains(&format!("name contains \"{}\"", busy.name))
    });
    assert!(screen.contains(&busy.name), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", Duration::from_secs(5), |s| {
        !s.contains("name contains") && s.contains("Processes: ")
    });

    // g: the group view; G: the next key; g again: the processes. Home is no longer g.
    tmux.keys(&["g"]);
    tmux.wait_for("the group view by container", Duration::from_secs(5), |s| {
        s.contains("Groups by container:") && s.contains("PROCS") && s.contains("CONTAINER")
    });
    tmux.keys(&["G", "G", "G"]);
    let screen = tmux.wait_for("the group view by user", Duration::from_secs(5), |s| {
        s.contains("Groups by user:")
    });
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    assert!(
        screen
            .lines()
            .any(|l| l.trim_end().ends_with(&format!(" {}", me.trim()))),
        "a row for {me}:\n{screen}"
    );
    tmux.keys(&["g"]);
    tmux.wait_for("the processes again", Duration::from_secs(5), |s| {
        s.contains("Processes: ") && !s.contains("Groups by")
    });

    tmux.keys(&["q"]);
    // top ended with status 0, and the shell prints its prompt again.
    let screen = tmux.wait_for("the shell back after q", Duration::from_secs(5), |s| {
        s.contains("top-exited-0") && last_line(s).starts_with(PROMPT.trim_end())
    });
    assert!(
        !screen.contains("TASKS") && !screen.contains("CPU%"),
        "the alternate screen was left:\n{screen}"
    );
}

/// The last line of a screen with something on it.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn top_through_the_agent_shows_exit_codes() {
    if !tmux_available("top_through_the_agent_shows_exit_codes") {
        return;
    }
    let agent = Agent::start("top", &[]);
    let ebpf = agent.backend() == "ebpf";
    let mut failing = Named::spawn("tfail", "/bin/sh", &["-c", "exit 7"]);
    assert_eq!(failing.wait().code(), Some(7));

    let tmux = Tmux::start("agent", 160, 45);
    tmux.type_line(&top_command(&agent.socket, ""));
    let screen = tmux.wait_for("the agent's view", Duration::from_secs(15), |s| {
        s.contains("agent at") && s.contains("CPU%▼") && s.contains("Recent exits")
    });
    if ebpf {
        // Only failures: a busy host's successful exits cannot hide it.
        tmux.keys(&["x"]);
        let screen = tmux.wait_for(
            &format!("{} with exit 7", failing.name),
            Duration::from_secs(10),
            |s| {
                // The key applied, not just the exit shown in the full list.
                s.contains("failed or killed only")
                    && s.lines()
                        .any(|l| l.contains(&failing.name) && l.contains("exit 7"))
            },
        );
        assert!(screen.contains("failed or killed only"), "{screen}");
        // The exits are asked for in bounded lists: `limit` keeps the first rows after sorting.
        let out = agent
            .tracer()
            .args(["ps", "--exited", "--json", "--attrs", "pid,exit_time"])
            .output()
            .unwrap();
        let all: Value = serde_json::from_slice(&out.stdout).unwrap();
        let newest = all
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|row| row["exit_time"].as_f64())
            .fold(f64::MIN, f64::max);
        let mut stream = UnixStream::connect(&agent.socket).unwrap();
        stream
            .write_all(
                b"{\"v\":1,\"op\":\"query\",\"exited\":true,\"limit\":2,\
                  \"sort\":\"-exit_time\",\"attrs\":[\"pid\",\"exit_time\"]}\n",
            )
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let len = serde_json::from_str::<Value>(&header).unwrap()["len"]
            .as_u64()
            .unwrap_or_else(|| panic!("{header}"));
        let mut payload = vec![0; len as usize];
        std::io::Read::read_exact(&mut reader, &mut payload).unwrap();
        let limited: Value = serde_json::from_slice(&payload).unwrap();
        let rows = limited.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{limited}");
        assert!(
            rows[0]["exit_time"].as_f64().unwrap() >= newest
                && rows[0]["exit_time"].as_f64() >= rows[1]["exit_time"].as_f64(),
            "newest first: {limited}, newest of all {newest}"
        );
    } else {
        assert!(screen.contains("without eBPF"), "{screen}");
    }
    // CPU figures are real from the first screen: the agent samples them.
    assert!(
        !screen.contains("CPU   -"),
        "no system CPU figure:\n{screen}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("the shell back after q", Duration::from_secs(5), |s| {
        s.contains("top-exited-0")
    });
    assert!(agent.stop().success());
}

/// A docker-shaped cgroup (`docker-<64 hex>.scope`, systemd driver) under a test directory
/// of the v2 root, with processes started in it; members killed and both directories
/// removed on drop, also when the test fails.
struct Container {
    children: Vec<Child>,
    cgroups: TestCgroups,
    relative: String,
}

impl Container {
    fn new(id: &str) -> Container {
        let mut cgroups = TestCgroups::new("top");
        let relative = format!("docker-{id}.scope");
        cgroups.dir(&relative);
        Container {
            children: Vec::new(),
            cgroups,
            relative,
        }
    }

    /// Starts `NAME ARGS` (a symlink named so, to `program`) in the cgroup: the shell writes
    /// its pid to `cgroup.procs`, then execs.
    fn spawn(&mut self, named: &Named, args: &str) {
        let argv = format!("'{}' {args}", named.dir.join(&named.name).display());
        let child = self.cgroups.spawn(&self.relative, &argv);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{}/comm", child.id()))
            .map_or(true, |c| c.trim() != named.name)
        {
            assert!(Instant::now() < deadline, "the exec into the cgroup");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.children.push(child);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
#[ignore = "needs root: makes cgroups and reads the live eBPF table"]
fn top_groups_by_container_and_shows_container_columns() {
    if !tmux_available("top_groups_by_container_and_shows_container_columns") {
        return;
    }
    let id = format!("70b0{:060x}", std::process::id());
    // Named, for the process view; not run itself (the container's processes exec the link).
    let mut name = Named::spawn("tgrp", "/bin/sleep", &["0"]);
    name.wait();
    let mut container = Container::new(&id);
    container.spawn(&name, "1000");
    container.spawn(&name, "1000");
    let tmux = Tmux::start("groups", 180, 45);
    // No agent: direct mode, the live eBPF table.
    let nowhere = std::env::temp_dir().join(format!("tracer-no-agent-{}.sock", std::process::id()));
    tmux.type_line(&top_command(
        &nowhere,
        "--interval 0.5 --group-by container",
    ));
    let short = &id[..12];
    let screen = tmux.wait_for(
        &format!("the group of container {short}"),
        Duration::from_secs(20),
        |s| s.lines().any(|l| l.trim_end().ends_with(short)),
    );
    let row = screen
        .lines()
        .find(|l| l.trim_end().ends_with(short))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[0], "2", "two processes: {row}\n{screen}");
    assert!(cells.contains(&"docker"), "the runtime: {row}");
    assert!(!screen.contains(&id), "the id is shown short:\n{screen}");
    assert!(screen.contains("(not in a container)"), "{screen}");

    // G: by cgroup, the cgroup's path relative to the v2 root.
    tmux.keys(&["G"]);
    let path = container.cgroups.path(&container.relative);
    tmux.wait_for("the group of the cgroup", Duration::from_secs(5), |s| {
        s.contains("Groups by cgroup:")
            && s.lines()
                .any(|l| l.contains(&path) && l.split_whitespace().next() == Some("2"))
    });

    // g: the processes; C: the container columns beside each.
    tmux.keys(&["g", "C", "/"]);
    tmux.run(&["send-keys", "-t", "test", "-l", &name.name]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the container columns", Duration::from_secs(5), |s| {
        s.contains("Processes: 2 of") && s.contains("CONTAINER") && s.contains("RUNTIME")
    });
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(&name.name)).collect();
    assert!(
        rows.iter()
            .filter(|l| l.contains(short) && l.contains("docker"))
            .count()
            == 2,
        "both processes show the container:\n{screen}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("the shell back after q", Duration::from_secs(5), |s| {
        s.contains("top-exited-0")
    });
}

#[test]
fn top_refuses_a_stdout_that_is_not_a_terminal() {
    let nowhere = std::env::temp_dir().join(format!("tracer-no-agent-{}.sock", std::process::id()));
    let out = Command::new(tracer_bin())
        .arg("--socket")
        .arg(&nowhere)
        .arg("top")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("terminal"), "{stderr}");
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn sys_through_the_agent_is_meaningful_at_once() {
    let agent = Agent::start("sys", &[]);
    // Let the agent take a sample or two, as it does from its start.
    std::thread::sleep(Duration::from_millis(1200));
    let busy = Named::spawn("tbusy", "/bin/sh", &["-c", "while :; do :; done"]);
    std::thread::sleep(Duration::from_millis(500));

    let out = agent
        .tracer()
        .args(["sys", "--json", "cpu"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cpu: Value = serde_json::from_slice(&out.stdout).unwrap();
    let busy_percent = cpu["cpu_percent"]
        .as_f64()
        .unwrap_or_else(|| panic!("cpu_percent is a number: {cpu}"));
    assert!(
        (0.0..=100.0).contains(&busy_percent),
        "cpu_percent {busy_percent}"
    );
    // A real window was measured (a first psutil call compares with nothing).
    let shares: f64 = cpu["cpu_times_percent"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_f64)
        .sum();
    assert!(shares > 50.0, "cpu_times_percent measured a window: {cpu}");
    assert!(
        busy_percent > 0.0,
        "one CPU is kept busy, yet cpu_percent is 0: {cpu}"
    );

    // The text adds throughput from the agent's samples.
    let out = agent
        .tracer()
        .args(["sys", "disk", "net"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("throughput: sent"), "{text}");

    // A process's cpu_percent through the agent is meaningful on the first query: its
    // average since it started (the busy loop: up to one CPU, less on a loaded host), where
    // psutil's first call says 0.0.
    let out = agent
        .tracer()
        .args(["ps", "--json", "--attrs", "pid,cpu_percent", "--pid"])
        .arg(busy.child.id().to_string())
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = rows[0]["cpu_percent"].as_f64().unwrap_or(0.0);
    assert!(
        first > 1.0,
        "first query's cpu_percent of a busy loop: {rows}"
    );

    // A bad section is refused in one clear line, and the connection stays usable.
    let mut stream = UnixStream::connect(&agent.socket).unwrap();
    stream
        .write_all(b"{\"v\":1,\"id\":5,\"op\":\"sys\",\"sections\":[\"cpu\",\"bogus\"]}\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let error: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(error["ok"], false, "{line}");
    assert_eq!(error["id"], 5, "{line}");
    assert_eq!(error["error"], "bad_request", "{line}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("unknown section 'bogus'") && !message.contains('\n'),
        "{message}"
    );
    stream
        .write_all(
            b"{\"v\":1,\"id\":6,\"op\":\"sys\",\"sections\":[\"memory\"],\"format\":\"text\"}\n",
        )
        .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    let header: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(header["ok"], true, "{line}");
    drop(reader);
    drop(stream);

    drop(busy);
    assert!(agent.stop().success(), "the agent ends with 0 on SIGTERM");
}

#[test]
fn top_ends_when_its_terminal_hangs_up() {
    if !tmux_available("top_ends_when_its_terminal_hangs_up") {
        return;
    }
    let tmux = Tmux::start("hangup", 100, 30);
    let nowhere = std::env::temp_dir().join(format!("tracer-no-agent-{}.sock", std::process::id()));
    // exec: the pane's process is top itself.
    tmux.type_line(&format!(
        "exec {} --socket {} top",
        tracer_bin().display(),
        nowhere.display()
    ));
    tmux.wait_for("top", Duration::from_secs(20), |s| s.contains("TASKS"));
    let pid: u32 = tmux
        .run(&["display-message", "-p", "-t", "test", "#{pane_pid}"])
        .trim()
        .parse()
        .expect("the pane's pid");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "tracer", "the pane runs top");
    // The window closes: the terminal hangs up under top.
    drop(tmux);
    let ended = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            // A zombie has ended (its parent, the tmux server, is gone and nobody reaped it).
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ended(pid) {
        assert!(
            Instant::now() < deadline,
            "top (pid {pid}) still runs 5 s after its terminal hung up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
