//! The agent's trust boundary against the real kernel: a real unprivileged member of a real
//! socket group (`nobody` with a supplementary group made for the test, through `setpriv`)
//! sees, reads and signals no more through the agent than `/proc` and kill(2) allow it —
//! without hidepid and with a private `/proc` mounted `hidepid=invisible` for the agent —
//! and no client's requests or connections stall root's queries or grow the agent's
//! descriptors without bound.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{tracer_bin, SystemGroup as Group};
use serde_json::Value;

const NOBODY: u32 = 65534;
const GROUP: &str = "tracersec";

/// A running agent (possibly inside its own mount namespace).
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    /// `tracer agent --socket-group tracersec ARGS…`; with `hidepid`, in a mount namespace
    /// whose `/proc` is mounted `hidepid=invisible`.
    fn start(name: &str, hidepid: bool, args: &[&str]) -> Agent {
        let socket =
            std::env::temp_dir().join(format!("tracer-sec-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let mut agent_args: Vec<String> = vec![
            "--socket".into(),
            socket.display().to_string(),
            "agent".into(),
            "--socket-group".into(),
            GROUP.into(),
        ];
        agent_args.extend(args.iter().map(|a| a.to_string()));
        let mut command = if hidepid {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t proc -o hidepid=invisible proc /proc && exec \"$0\" \"$@\"",
            ])
            .arg(tracer_bin());
            c
        } else {
            Command::new(tracer_bin())
        };
        let mut child = command
            .args(&agent_args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the agent");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("the agent did not start: {line}; {:?}", child.wait());
            }
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Agent { child, socket }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Descriptors the agent holds now.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// `tracer ARGS…` as root through the agent.
    fn root(&self, args: &[&str]) -> std::process::Output {
        Command::new(tracer_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// `tracer ARGS…` as nobody, a member of the socket group.
    fn nobody(&self, group: &Group, args: &[&str]) -> std::process::Output {
        nobody_cmd(group)
            .arg(tracer_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Root's `ps` through the agent: answered, and how long it took.
    fn root_ps_time(&self) -> Duration {
        let started = Instant::now();
        let out = self.root(&["ps", "--json", "--attrs", "pid,name,memory_info"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    }

    fn stats(&self) -> Value {
        json(&self.root(&["stats", "--json"]))
    }

    /// SIGTERM; how long until it exited, and whether it exited 0.
    fn stop(mut self) -> (Duration, bool) {
        let started = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        (started.elapsed(), status.success())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn nobody_cmd(group: &Group) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        &format!("--groups={}", group.gid),
    ]);
    c
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A raw protocol client run as nobody: sends `lines`, prints what comes back: one whole
/// answer, or a stream's first `secs` seconds.
const RAW_CLIENT: &str = r#"
import json, socket, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
for line in sys.argv[3:]:
    s.sendall(line.encode() + b"\n")
s.settimeout(0.2)
out, end = b"", time.time() + secs
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    if not d:
        break
    out += d
    if b"\n" in out:
        header = json.loads(out.split(b"\n", 1)[0])
        if not header.get("ok") or ("len" in header and len(out.split(b"\n", 1)[1]) >= header["len"]):
            break
sys.stdout.buffer.write(out)
"#;

fn raw_as_nobody(group: &Group, socket: &Path, secs: f64, lines: &[&str]) -> String {
    let out = nobody_cmd(group)
        .args(["/usr/bin/python3", "-c", RAW_CLIENT])
        .arg(socket)
        .arg(secs.to_string())
        .args(lines)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A process of root's that reads a file now and then (it has I/O counters to leak).
fn roots_reader() -> Child {
    Command::new("sh")
        .args([
            "-c",
            "while :; do cat /etc/passwd >/dev/null; sleep 0.2; done",
        ])
        .spawn()
        .unwrap()
}

/// `sleep 60` as nobody.
fn nobodys_sleep(group: &Group) -> Child {
    nobody_cmd(group).args(["sleep", "60"]).spawn().unwrap()
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

const PRIVATE: [&str; 8] = [
    "exe",
    "cwd",
    "environ",
    "open_files",
    "num_fds",
    "io_counters",
    "memory_full_info",
    "pid",
];

#[test]
#[ignore = "needs root: runs the agent and processes as another user (setpriv, groupadd)"]
fn a_member_sees_what_proc_shows_it_without_hidepid() {
    let group = Group::new(GROUP);
    let agent = Agent::start("plain", false, &[]);
    let mut roots = roots_reader();
    let mut own = nobodys_sleep(&group);
    std::thread::sleep(Duration::from_millis(300));
    let attrs = PRIVATE.join(",");
    let pids = format!("{},{}", roots.id(), own.id());
    let rows = json(&agent.nobody(&group, &["ps", "--json", "--attrs", &attrs, "--pid", &pids]));
    let row = |pid: u32| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["pid"] == pid)
            .cloned()
            .unwrap_or_else(|| panic!("pid {pid} missing: {rows}"))
    };
    let theirs = row(roots.id());
    for attr in &PRIVATE[..7] {
        assert!(
            theirs[attr].is_null(),
            "root's {attr} shown to nobody: {theirs}"
        );
    }
    let mine = row(own.id());
    for attr in ["exe", "io_counters", "num_fds"] {
        assert!(!mine[attr].is_null(), "nobody's own {attr} hidden: {mine}");
    }
    // Root sees both in full.
    let rows = json(&agent.root(&[
        "ps",
        "--json",
        "--attrs",
        "pid,exe,io_counters",
        "--pid",
        &pids,
    ]));
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| !r["io_counters"].is_null()),
        "{rows}"
    );

    // The event stream: root's exec without exe, root's exit without io_counters.
    let mut events = nobody_cmd(&group)
        .arg(tracer_bin())
        .arg("--socket")
        .arg(&agent.socket)
        .args(["events", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("cat")
        .arg("/etc/passwd")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut own_true = nobody_cmd(&group).arg("/bin/true").spawn().unwrap();
    own_true.wait().unwrap();
    // A root process that waits, to be waited for by nobody.
    let mut short = Command::new("sh")
        .args(["-c", "sleep 0.5; cat /etc/passwd >/dev/null"])
        .spawn()
        .unwrap();
    let wait = agent.nobody(
        &group,
        &["wait", "--json", "--timeout", "5", &short.id().to_string()],
    );
    short.wait().unwrap();
    let wait = json(&wait);
    assert_eq!(wait["gone"][0]["pid"], short.id(), "{wait}");
    assert!(wait["gone"][0]["io_counters"].is_null(), "{wait}");
    assert!(!wait["gone"][0]["cpu_times"].is_null(), "{wait}");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child (the stream ends on SIGINT).
    unsafe { libc::kill(events.id() as libc::pid_t, libc::SIGINT) };
    let mut text = String::new();
    events
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    events.wait().unwrap();
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let root_cat: Vec<&Value> = records
        .iter()
        .filter(|r| r["uid"] == 0 && r["name"] == "cat")
        .collect();
    assert!(root_cat.iter().any(|r| r["event"] == "exec"), "{text}");
    assert!(root_cat.iter().any(|r| r["event"] == "exit"), "{text}");
    for record in &root_cat {
        assert!(record["exe"].is_null(), "root's exe shown: {record}");
        assert!(record["io_counters"].is_null(), "root's io shown: {record}");
    }
    let own_exit = records
        .iter()
        .find(|r| r["event"] == "exit" && r["pid"] == own_true.id())
        .unwrap_or_else(|| panic!("nobody's own exit missing: {text}"));
    assert!(!own_exit["io_counters"].is_null(), "{own_exit}");

    // sys: root's sockets carry no pid for nobody.
    let mut listener = Command::new("/usr/bin/python3")
        .args(["-c", "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); time.sleep(30)"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let owned_by = |out: &std::process::Output| -> bool {
        json(out)["net_connections"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["pid"] == listener.id()))
    };
    assert!(
        owned_by(&agent.root(&["sys", "net", "--json"])),
        "root sees the owner"
    );
    assert!(
        !owned_by(&agent.nobody(&group, &["sys", "net", "--json"])),
        "nobody does not"
    );
    kill(&mut listener);

    // Signals: root's refused, a process that dropped to nobody without exec allowed.
    let refused = agent.nobody(&group, &["kill", &roots.id().to_string()]);
    assert!(!refused.status.success());
    assert!(roots.try_wait().unwrap().is_none());
    let mut dropped = Command::new("/usr/bin/python3")
        .args(["-c", "import os,time; os.setresgid(65534,65534,65534); os.setresuid(65534,65534,65534); print('ready', flush=True); time.sleep(60)"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(dropped.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let allowed = agent.nobody(&group, &["terminate", &dropped.id().to_string()]);
    assert!(
        allowed.status.success(),
        "judged on exec-time uids: {}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&dropped.wait().unwrap()),
        Some(libc::SIGTERM)
    );
    kill(&mut roots);
    kill(&mut own);
}

#[test]
#[ignore = "needs root: mounts a private /proc with hidepid in a mount namespace"]
fn a_member_sees_only_its_own_under_hidepid_invisible() {
    let group = Group::new(GROUP);
    let agent = Agent::start("hidepid", true, &[]);
    let mut roots = roots_reader();
    let mut own = nobodys_sleep(&group);
    std::thread::sleep(Duration::from_millis(300));
    let rows = json(&agent.nobody(&group, &["ps", "--json", "--attrs", "pid,uids"]));
    let pids: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].as_u64().unwrap())
        .collect();
    assert!(
        pids.contains(&u64::from(own.id())),
        "own process missing: {rows}"
    );
    assert!(
        !pids.contains(&u64::from(roots.id())),
        "root's process shown: {rows}"
    );
    // The client itself (setpriv, exec'd as root, then `tracer` as nobody) may still show the
    // uids of its first exec when the second's event is not applied yet; it has exited by
    // now, so only processes that still run are judged.
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| std::path::Path::new(&format!("/proc/{}", r["pid"])).exists())
            .all(|r| r["uids"]["real"] == NOBODY),
        "only nobody's processes: {rows}"
    );
    // Root still sees everything.
    let all = json(&agent.root(&["ps", "--json", "--attrs", "pid"]));
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["pid"] == roots.id()));
    // tree
    let tree = agent.nobody(&group, &["tree", "--json"]);
    let tree = String::from_utf8_lossy(&tree.stdout).to_string();
    assert!(tree.contains(&format!("\"pid\":{}", own.id())), "{tree}");
    assert!(!tree.contains(&format!("\"pid\":{}", roots.id())), "{tree}");
    assert!(!tree.contains("\"pid\":1,"), "init shown: {tree}");
    // wait and signal: root's process does not exist for nobody.
    let wait = agent.nobody(&group, &["wait", "--timeout", "1", &roots.id().to_string()]);
    assert!(!wait.status.success());
    assert!(
        String::from_utf8_lossy(&wait.stderr).contains("no"),
        "{wait:?}"
    );
    let kill_out = agent.nobody(&group, &["kill", &roots.id().to_string()]);
    let stderr = String::from_utf8_lossy(&kill_out.stderr);
    assert!(
        stderr.contains("no longer exists") || stderr.contains("no process"),
        "{stderr}"
    );
    assert!(roots.try_wait().unwrap().is_none());
    // The stream and its replay: nothing of root's.
    let mut root_exit = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let root_exit_pid = root_exit.id();
    root_exit.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stream = {
        let group = &group;
        let socket = agent.socket.clone();
        let reader = std::thread::spawn({
            let gid = group.gid;
            move || {
                let g = Group { name: GROUP, gid };
                let out = raw_as_nobody(
                    &g,
                    &socket,
                    2.5,
                    &[r#"{"v":1,"id":1,"op":"subscribe","replay_exited":true}"#],
                );
                std::mem::forget(g);
                out
            }
        });
        std::thread::sleep(Duration::from_millis(800));
        let mut cat = Command::new("cat")
            .arg("/etc/hostname")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        cat.wait().unwrap();
        let mut own_true = nobody_cmd(group).arg("/bin/true").spawn().unwrap();
        own_true.wait().unwrap();
        let text = reader.join().unwrap();
        (text, own_true.id(), cat.id())
    };
    let (text, own_true, cat) = stream;
    let records: Vec<Value> = text
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // (A fork's uid is the one at the fork: setpriv's child forks as root, then drops.)
    assert!(
        records
            .iter()
            .filter(|r| r["event"] != "fork")
            .all(|r| r["uid"] == NOBODY),
        "another user's events shown: {text}"
    );
    for pid in [root_exit_pid, cat, roots.id()] {
        assert!(
            !records.iter().any(|r| r["pid"] == pid),
            "root's {pid} shown: {text}"
        );
    }
    assert!(
        records.iter().any(|r| r["pid"] == own_true),
        "own events missing: {text}"
    );
    kill(&mut roots);
    kill(&mut own);
}

#[test]
#[ignore = "needs root: runs the agent and processes as another user (setpriv)"]
fn no_request_stalls_roots_queries() {
    let group = Group::new(GROUP);
    let agent = Agent::start("cost", false, &[]);
    let socket = agent.socket.clone();
    // Repeated attributes: the 5,000 of the report are refused, 4,000 cost one.
    let many = vec!["\"terminal\""; 4000].join(",");
    let line = format!(r#"{{"v":1,"id":1,"op":"query","attrs":[{many}]}}"#);
    let started = Instant::now();
    let out = raw_as_nobody(&group, &socket, 10.0, &[&line]);
    assert!(
        out.starts_with(r#"{"v":1,"id":1,"ok":true"#),
        "{}",
        &out[..out.len().min(300)]
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let too_many = vec!["\"terminal\""; 5000].join(",");
    let line = format!(r#"{{"v":1,"id":2,"op":"query","attrs":[{too_many}]}}"#);
    let out = raw_as_nobody(&group, &socket, 3.0, &[&line]);
    assert!(
        out.contains("\"bad_request\"") && out.contains("at most 4096"),
        "{out}"
    );
    // Huge lists and absurd numbers.
    let pids: Vec<String> = (1..=5000).map(|p| p.to_string()).collect();
    let line = format!(
        r#"{{"v":1,"id":3,"op":"query","pids":[{}]}}"#,
        pids.join(",")
    );
    let out = raw_as_nobody(&group, &socket, 3.0, &[&line]);
    assert!(out.contains("\"bad_request\""), "{out}");
    for timeout in ["1e300", "-1", "86401"] {
        let line = format!(r#"{{"v":1,"id":4,"op":"wait","pids":[1],"timeout":{timeout}}}"#);
        let out = raw_as_nobody(&group, &socket, 3.0, &[&line]);
        assert!(
            out.contains("\"bad_request\"") && out.contains("timeout"),
            "{timeout}: {out}"
        );
    }
    let cli = agent.root(&["wait", "--timeout", "1e300", "1"]);
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("timeout"));
    assert!(agent.root_ps_time() < Duration::from_secs(5));

    // A chain 3,000 deep, built by nobody: both trees answer promptly.
    let script = std::env::temp_dir().join(format!("tracer-sec-chain-{}.sh", std::process::id()));
    std::fs::write(
        &script,
        "if [ \"$1\" -gt 0 ]; then sh \"$0\" $(($1 - 1)); else echo leaf $$; sleep 60; fi\n",
    )
    .unwrap();
    let mut chain = nobody_cmd(&group)
        .args(["setsid", "sh"])
        .arg(&script)
        .arg("3000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let session = chain.id();
    let top = session;
    let mut leaf = String::new();
    BufReader::new(chain.stdout.take().unwrap())
        .read_line(&mut leaf)
        .unwrap();
    let leaf: u32 = leaf.split_whitespace().nth(1).unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for who in ["root", "nobody"] {
        let started = Instant::now();
        let out = if who == "root" {
            agent.root(&["tree", "--json", &top.to_string()])
        } else {
            agent.nobody(&group, &["tree", "--json", &top.to_string()])
        };
        let elapsed = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("\"pid\":{leaf},")),
            "{who}: the leaf is in the tree"
        );
        assert!(text.matches("\"children\":[").count() >= 3000, "{who}");
        assert!(
            elapsed < Duration::from_secs(5),
            "{who}: tree took {elapsed:?}"
        );
    }
    let text_tree = agent.root(&["tree", &top.to_string()]);
    assert!(text_tree.status.success());
    // The chain is one process group (setsid made its first process the leader).
    // SAFETY: signalling the test's own process group of nobody's processes.
    unsafe { libc::kill(-(session as libc::pid_t), libc::SIGKILL) };
    let _ = chain.wait();
    let _ = std::fs::remove_file(&script);
    assert!(agent.root_ps_time() < Duration::from_secs(5));
}

#[test]
#[ignore = "needs root: runs the agent and processes as another user (setpriv)"]
fn no_client_holds_the_agents_resources() {
    let group = Group::new(GROUP);
    let agent = Agent::start(
        "limits",
        false,
        &[
            "--max-clients-per-uid",
            "40",
            "--idle-timeout",
            "2",
            "--max-waits-per-uid",
            "8",
        ],
    );
    let socket = agent.socket.clone();
    let baseline = agent.fds();
    // A flood of idle connections from nobody: capped, then closed when idle.
    let flood = nobody_cmd(&group)
        .args([
            "/usr/bin/python3",
            "-c",
            "import socket,sys,time\nc=[]\nfor i in range(200):\n    s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); c.append(s)\nprint('open', flush=True)\ntime.sleep(30)",
        ])
        .arg(&socket)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut flood = flood;
    let mut line = String::new();
    BufReader::new(flood.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(agent.root_ps_time() < Duration::from_secs(5));
    let during = agent.fds();
    assert!(during <= baseline + 40 + 10, "fds {baseline} → {during}");
    std::thread::sleep(Duration::from_secs(3));
    let stats = agent.stats();
    assert!(
        stats["clients"].as_u64().unwrap() <= 2,
        "idle clients closed: {stats}"
    );
    assert!(
        agent.fds() <= baseline + 10,
        "fds after the idle timeout: {}",
        agent.fds()
    );
    kill(&mut flood);

    // Subscribers whose filter matches nothing, abandoned: noticed within a second or so.
    let mut subscribers: Vec<Child> = (0..10)
        .map(|_| {
            nobody_cmd(&group)
                .args(["/usr/bin/python3", "-c", RAW_CLIENT])
                .arg(&socket)
                .arg("60")
                .arg(r#"{"v":1,"id":1,"op":"subscribe","pids":[1],"kinds":["exec"]}"#)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(agent.stats()["subscribers"], 10);
    for s in &mut subscribers {
        kill(s);
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(agent.stats()["subscribers"], 0, "hang-ups noticed");

    // Waits abandoned by their clients: capped per uid, released when the client goes.
    let mut sleeper = Command::new("sleep").arg("120").spawn().unwrap();
    let wait = format!(r#"{{"v":1,"id":1,"op":"wait","pids":[{}]}}"#, sleeper.id());
    let mut waiters: Vec<Child> = (0..8)
        .map(|_| {
            nobody_cmd(&group)
                .args(["/usr/bin/python3", "-c", RAW_CLIENT])
                .arg(&socket)
                .arg("60")
                .arg(&wait)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let busy = raw_as_nobody(&group, &socket, 2.0, &[&wait]);
    assert!(busy.contains("\"busy\""), "the 9th wait of one uid: {busy}");
    for w in &mut waiters {
        kill(w);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let timed = format!(
        r#"{{"v":1,"id":1,"op":"wait","pids":[{}],"timeout":0.2}}"#,
        sleeper.id()
    );
    let again = raw_as_nobody(&group, &socket, 3.0, &[&timed]);
    assert!(again.contains("\"ok\":true"), "waits released: {again}");
    assert!(agent.root_ps_time() < Duration::from_secs(5));
    assert!(agent.fds() <= baseline + 10, "fds: {}", agent.fds());

    // SIGTERM with waits outstanding: the agent exits promptly, and cleanly.
    let root_waits: Vec<Child> = (0..20)
        .map(|_| {
            Command::new(tracer_bin())
                .arg("--socket")
                .arg(&socket)
                .args(["wait", &sleeper.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let (took, clean) = agent.stop();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    assert!(clean, "exit 0");
    for mut w in root_waits {
        kill(&mut w);
    }
    kill(&mut sleeper);
}

#[test]
#[ignore = "needs root: runs the agent, lowers its descriptor limit"]
fn descriptor_exhaustion_is_an_error_not_an_exit() {
    let _group = Group::new(GROUP);
    let agent = Agent::start("emfile", false, &[]);
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", agent.pid()))
        .arg(format!("--nofile={}:{}", agent.fds() + 8, agent.fds() + 8))
        .status()
        .unwrap();
    assert!(status.success());
    // Far more connections than it may hold: accept fails with EMFILE, and backs off.
    let held: Vec<_> = (0..50)
        .filter_map(|_| std::os::unix::net::UnixStream::connect(&agent.socket).ok())
        .collect();
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(agent.pid());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu(agent.pid()) - before;
    assert!(spent < 50, "the accept loop spins: {spent} ticks in 2 s");
    drop(held);
    std::thread::sleep(Duration::from_millis(1500));
    // Alive, and the live process it could not read meanwhile is still live.
    let rows = json(&agent.root(&[
        "ps",
        "--json",
        "--attrs",
        "pid",
        "--pid",
        &sleeper.id().to_string(),
    ]));
    assert_eq!(rows[0]["pid"], sleeper.id(), "{rows}");
    let stats = agent.stats();
    assert!(stats["accept_errors"].as_u64().unwrap() >= 1, "{stats}");
    kill(&mut sleeper);
}

#[test]
#[ignore = "needs root: creates the agent's socket and a fake agent as another user"]
fn socket_permissions_and_a_client_that_checks_its_server() {
    use std::os::unix::fs::MetadataExt;
    let group = Group::new(GROUP);
    let agent = Agent::start("socket", false, &[]);
    let meta = std::fs::symlink_metadata(&agent.socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, group.gid));
    // No private bind directory is left behind.
    let dir = agent.socket.parent().unwrap();
    let leftovers = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tracer-bind"))
        .count();
    assert_eq!(leftovers, 0);
    drop(agent);
    // A symlink or a file at the path is not replaced, nor followed.
    let path = std::env::temp_dir().join(format!("tracer-sec-link-{}.sock", std::process::id()));
    let target = std::env::temp_dir().join(format!("tracer-sec-target-{}", std::process::id()));
    std::fs::write(&target, b"keep").unwrap();
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let out = Command::new(tracer_bin())
        .arg("--socket")
        .arg(&path)
        .arg("agent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert_eq!(std::fs::metadata(&target).unwrap().uid(), 0);
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&target).unwrap();
    // A socket served by nobody is not trusted by root's client.
    let fake = std::env::temp_dir().join(format!("tracer-sec-fake-{}", std::process::id()));
    std::fs::create_dir_all(&fake).unwrap();
    let _ = Command::new("chmod").arg("777").arg(&fake).status();
    let sock = fake.join("agent.sock");
    let mut server = nobody_cmd(&group)
        .args([
            "/usr/bin/python3",
            "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\nprint('up', flush=True)\nwhile True:\n    c,_=s.accept()\n    try:\n        c.recv(100); c.sendall(b'{\"v\":1,\"id\":1,\"ok\":true,\"len\":99999999999}\\n')\n    except OSError:\n        pass",
        ])
        .arg(&sock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut up)
        .unwrap();
    let out = Command::new(tracer_bin())
        .arg("--socket")
        .arg(&sock)
        .args(["ps", "--json"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not trusting"),
        "{out:?}"
    );
    // Trusted on request, the announced length is still refused.
    let out = Command::new(tracer_bin())
        .env("TRACER_AGENT_UID", NOBODY.to_string())
        .arg("--socket")
        .arg(&sock)
        .args(["ps", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("announced"),
        "{out:?}"
    );
    kill(&mut server);
    let _ = std::fs::remove_dir_all(&fake);
}
