//! Shared helpers for the integration tests: find the built `tracer` and run `tracer events
//! --json` around a workload. Tests that need root are `#[ignore = "needs root: …"]`;
//! `cargo xtask test` runs them (`--include-ignored`) when it runs as root.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod otlp;

/// The `tracer` binary under test: `TRACER_BIN` (set by `cargo xtask test`), else the
/// workspace's release build.
pub fn tracer_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TRACER_BIN") {
        return bin.into();
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/tracer");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo xtask test` (or `cargo xtask build`) first",
        bin.display()
    );
    bin
}

/// The workload helper built with these tests.
pub fn workload_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tracer-test-workload")
}

/// A running `tracer events --json`, collecting its output lines.
pub struct Tracer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    stdout_reader: Option<std::thread::JoinHandle<()>>,
}

/// What a stopped tracer printed.
pub struct Output {
    /// Every JSON line, parsed (lone `\udcXX` escapes turned into the text `\xXX`).
    pub records: Vec<Value>,
    /// The raw lines, for byte-exact checks.
    pub raw: Vec<String>,
    /// Everything on stderr.
    pub stderr: String,
    /// How it exited.
    pub status: ExitStatus,
}

impl Tracer {
    /// Starts `tracer events --json ARGS…` and waits until it reports it is tracing.
    pub fn start(args: &[&str]) -> Tracer {
        Tracer::start_with(&tracer_bin(), args)
    }

    /// [`Tracer::start`] with another `tracer` binary (the portable build).
    pub fn start_with(binary: &std::path::Path, args: &[&str]) -> Tracer {
        let mut child = Command::new(binary)
            .args(["events", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tracer");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let sink = Arc::clone(&lines);
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                sink.lock()
                    .unwrap()
                    .push(line.expect("tracer writes UTF-8 JSON"));
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr_text);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if stderr_text
                .lock()
                .unwrap()
                .contains("tracing fork, exec and exit")
            {
                break;
            }
            if let Some(status) = child.try_wait().expect("poll tracer") {
                panic!(
                    "tracer exited ({status}) before tracing: {}",
                    stderr_text.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tracer did not start tracing within 30 s: {}",
                stderr_text.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Tracer {
            child,
            lines,
            stderr: stderr_text,
            stdout_reader: Some(stdout_reader),
        }
    }

    /// Sends SIGINT (the tracer drains and exits) and returns everything it printed.
    pub fn stop(mut self) -> Output {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let status = self.child.wait().expect("wait for tracer");
        if let Some(reader) = self.stdout_reader.take() {
            reader.join().expect("stdout reader");
        }
        let raw = self.lines.lock().unwrap().clone();
        let records = raw
            .iter()
            .map(|line| {
                serde_json::from_str(&unescape_surrogates(line))
                    .unwrap_or_else(|e| panic!("invalid JSON line {line:?}: {e}"))
            })
            .collect();
        Output {
            records,
            raw,
            stderr: self.stderr.lock().unwrap().clone(),
            status,
        }
    }
}

/// Rewrites each `\udcXX` escape (Python's surrogateescape of byte XX, which serde_json cannot
/// hold in a `String`) into the escaped text `\\xXX`.
pub fn unescape_surrogates(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        let lone_surrogate = escape.len() >= 6
            && escape[..4].eq_ignore_ascii_case("\\udc")
            && escape[4..6].bytes().all(|b| b.is_ascii_hexdigit());
        if lone_surrogate {
            out.push_str("\\\\x");
            out.push_str(&escape[4..6]);
            rest = &escape[6..];
        } else {
            let len = escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    out
}

impl Output {
    /// Lifecycle records of `event` kind for `pid`.
    pub fn of(&self, event: &str, pid: u32) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| r["event"] == event && r["pid"] == pid)
            .collect()
    }

    /// The one record of `event` kind for `pid`; fails the test with context otherwise.
    pub fn one(&self, event: &str, pid: u32) -> &Value {
        let found = self.of(event, pid);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one {event} for pid {pid}, got {found:#?}"
        );
        found[0]
    }

    /// The final stats record.
    pub fn final_stats(&self) -> &Value {
        self.records
            .iter()
            .rev()
            .find(|r| r["event"] == "stats")
            .unwrap_or_else(|| panic!("no stats record; stderr: {}", self.stderr))
    }
}

/// `cmdline` of a record as strings.
pub fn cmdline(record: &Value) -> Vec<String> {
    record["cmdline"]
        .as_array()
        .expect("cmdline is an array")
        .iter()
        .map(|arg| arg.as_str().expect("argument is a string").to_owned())
        .collect()
}

/// A running `tracer agent` on a private socket.
pub struct Agent {
    /// The agent process.
    pub child: Child,
    /// Its socket.
    pub socket: PathBuf,
}

impl Agent {
    /// Starts `tracer agent ARGS…` on a socket named after the test, and waits until it
    /// listens.
    pub fn start(name: &str, args: &[&str]) -> Agent {
        let socket =
            std::env::temp_dir().join(format!("tracer-test-{name}-{}.sock", std::process::id()));
        Agent::start_at(&socket, args)
    }

    /// Starts `tracer agent ARGS…` on `socket`, and waits until it listens.
    pub fn start_at(socket: &Path, args: &[&str]) -> Agent {
        Agent::start_with_env(socket, args, &[])
    }

    /// Starts `tracer agent ARGS…` with the environment variables `env` on `socket`, and
    /// waits until it listens.
    pub fn start_with_env(socket: &Path, args: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut child = Command::new(tracer_bin())
            .arg("--socket")
            .arg(socket)
            .arg("agent")
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the agent");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !line.contains("listening on") {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
                panic!("the agent did not start: {line}; {:?}", child.wait());
            }
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Agent {
            child,
            socket: socket.to_path_buf(),
        }
    }

    /// Its socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A `tracer` command that talks to this agent.
    pub fn tracer(&self) -> Command {
        let mut command = Command::new(tracer_bin());
        command.arg("--socket").arg(&self.socket);
        command
    }

    /// `tracer ARGS…` through the agent, its stdout parsed as JSON (`wait` may exit 1).
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.tracer().args(args).output().unwrap();
        assert!(
            out.status.success() || args.first() == Some(&"wait"),
            "tracer {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "tracer {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The agent's backend, from `tracer stats --json`.
    pub fn backend(&self) -> String {
        let out = self.tracer().args(["stats", "--json"]).output().unwrap();
        let stats: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        stats["backend"].as_str().unwrap_or("unknown").to_string()
    }

    /// One raw protocol request line; the answer's header and payload.
    pub fn request(&self, line: &str) -> (Value, Vec<u8>) {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket).unwrap();
        stream.write_all(line.as_bytes()).unwrap();
        stream.write_all(b"\n").unwrap();
        read_answer(&mut BufReader::new(stream))
    }

    /// SIGTERM, then its exit status (it drains and exits 0).
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Reads one answer of the agent's protocol: the header line and `len` bytes of payload.
pub fn read_answer(reader: &mut impl BufRead) -> (Value, Vec<u8>) {
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    let header: Value = serde_json::from_str(&header).unwrap_or_else(|e| panic!("{header:?}: {e}"));
    let mut payload = vec![0; header["len"].as_u64().unwrap_or(0) as usize];
    reader.read_exact(&mut payload).unwrap();
    (header, payload)
}

/// The cgroup v2 mount point, read from the mounts (not the tracer's code).
pub fn v2_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mounts
        .lines()
        .find_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            (after.split(' ').next() == Some("cgroup2"))
                .then(|| PathBuf::from(before.split(' ').nth(4).unwrap()))
        })
        .expect("a cgroup v2 hierarchy is mounted")
}

/// Test cgroups under one directory of the v2 root (`/tracer-test-TAG-PID`): made on demand
/// with their parents, and on drop (also when a test fails) their members killed and the
/// directories removed, deepest first.
pub struct TestCgroups {
    mount: PathBuf,
    /// `/tracer-test-TAG-PID`, relative to the v2 root.
    root: String,
    made: Vec<PathBuf>,
}

impl TestCgroups {
    pub fn new(tag: &str) -> TestCgroups {
        TestCgroups {
            mount: v2_mount(),
            root: format!("/tracer-test-{tag}-{}", std::process::id()),
            made: Vec::new(),
        }
    }

    /// The test's root, as `/proc/PID/cgroup` shows it (from the v2 root).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// `relative` under the test's root, as `/proc/PID/cgroup` shows it (from the v2 root).
    pub fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.root)
    }

    /// The directory of `relative`, made (with its parents) if needed.
    pub fn dir(&mut self, relative: &str) -> PathBuf {
        let mut dir = self.mount.join(self.root.trim_start_matches('/'));
        let mut parts = vec![""];
        parts.extend(relative.split('/').filter(|part| !part.is_empty()));
        for part in parts {
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {dir:?}: {e}"));
                self.made.push(dir.clone());
            }
        }
        dir
    }

    /// The cgroup id of `relative`: its directory's inode.
    pub fn id(&mut self, relative: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(self.dir(relative)).unwrap().ino()
    }

    /// Starts `sh -c 'echo $$ > DIR/cgroup.procs && exec ARGV'`: the process joins the cgroup
    /// `relative` (made if needed), then execs `argv` (a shell command line).
    pub fn spawn(&mut self, relative: &str, argv: &str) -> Child {
        let procs = self.dir(relative).join("cgroup.procs");
        let script = format!("echo $$ > '{}' && exec {argv}", procs.display());
        Command::new("/bin/sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Moves a process into `relative`.
    pub fn move_to(&mut self, relative: &str, pid: u32) {
        let procs = self.dir(relative).join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).unwrap();
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let members = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                if members.trim().is_empty() || Instant::now() > deadline {
                    break;
                }
                for pid in members.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill(2) on a pid the test put in its own cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Err(e) = std::fs::remove_dir(dir) {
                eprintln!("could not remove the test cgroup {dir:?}: {e}");
            }
        }
    }
}

/// A system group made for a test (`groupadd -f`) and deleted when dropped, also when the
/// test fails.
pub struct SystemGroup {
    pub name: &'static str,
    pub gid: u32,
}

impl SystemGroup {
    pub fn new(name: &'static str) -> SystemGroup {
        let _ = Command::new("groupadd").args(["-f", name]).status();
        let out = Command::new("getent")
            .args(["group", name])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        let gid = line
            .split(':')
            .nth(2)
            .and_then(|g| g.trim().parse().ok())
            .unwrap_or_else(|| panic!("groupadd {name} failed: {line:?}"));
        SystemGroup { name, gid }
    }
}

impl Drop for SystemGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(self.name).status();
    }
}

/// A child killed (and reaped) when dropped, also when a test fails.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A subscriber to the agent's events, collecting every line on a thread of its own.
pub struct Subscriber {
    lines: Arc<Mutex<Vec<String>>>,
    stream: std::os::unix::net::UnixStream,
}

impl Subscriber {
    pub fn start(agent: &Agent) -> Subscriber {
        let mut stream = std::os::unix::net::UnixStream::connect(agent.socket()).unwrap();
        stream
            .write_all(b"{\"v\":1,\"id\":1,\"op\":\"subscribe\"}\n")
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        assert!(header.contains("\"stream\":true"), "{header}");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Subscriber { lines, stream }
    }

    /// The lines received so far that contain `token`.
    pub fn lines_with(&self, token: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(token))
            .cloned()
            .collect()
    }

    /// How many lines received so far contain `token`.
    pub fn count_with(&self, token: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(token))
            .count()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
