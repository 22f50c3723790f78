//! `tracer agent` against the real kernel: answers equal direct mode, authorisation by peer
//! credentials, bad and hostile clients, restarts, stale sockets and the metrics endpoint.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{read_answer, tracer_bin, Agent};
use serde_json::Value;

fn ps_json(command: &mut Command) -> Vec<Value> {
    let output = command
        .args([
            "ps",
            "--json",
            "--attrs",
            "pid,ppid,name,cmdline,username,create_time",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn answers_through_the_agent_equal_direct_mode() {
    answers_equal_direct_mode("equal", &[]);
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn answers_through_an_agent_on_procfs_polling_equal_direct_mode() {
    answers_equal_direct_mode("equal-procfs", &["--backend", "procfs"]);
}

/// `ps` through an agent started with `args` answers as direct mode does, and knows a process
/// started after it.
fn answers_equal_direct_mode(name: &str, args: &[&str]) {
    let agent = Agent::start(name, args);
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let through_agent = ps_json(agent.tracer().arg("--verbose"));
    let direct = ps_json(Command::new(tracer_bin()).args(["--socket", "/nonexistent/tracer.sock"]));
    let key = |row: &Value| {
        (
            row["pid"].as_u64().unwrap(),
            row["create_time"].as_f64().unwrap().to_bits(),
        )
    };
    let agent_rows: std::collections::HashMap<_, _> =
        through_agent.iter().map(|r| (key(r), r)).collect();
    let mut compared = 0;
    for row in &direct {
        let Some(other) = agent_rows.get(&key(row)) else {
            continue;
        };
        // The tracer processes themselves differ between the two runs.
        if row["name"] == "tracer" {
            continue;
        }
        // A kernel worker renames itself as it picks up work (`kworker/u8:0-events_unbound`,
        // then `…-flush-254:0`): both reads are fresh, but taken at two moments.
        if row["ppid"] == 2 && row["name"] != other["name"] {
            let (mut row, mut other) = (row.clone(), (*other).clone());
            row["name"] = Value::Null;
            other["name"] = Value::Null;
            assert_eq!(row, other, "pid {}", row["pid"]);
            compared += 1;
            continue;
        }
        assert_eq!(row, *other, "pid {}", row["pid"]);
        compared += 1;
    }
    assert!(compared > 10, "compared {compared} processes");
    assert!(
        through_agent.iter().any(|r| r["pid"] == sleeper.id() && r["cmdline"] == serde_json::json!(["sleep", "30"])),
        "the agent knows a process started after it"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let status = agent.stop();
    assert!(status.success(), "SIGTERM: drain and exit 0, got {status}");
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn exit_codes_and_exited_processes_through_the_agent() {
    let agent = Agent::start("exited", &[]);
    let output = Command::new("sh")
        .args(["-c", "(sleep 0.3; exit 9) >/dev/null 2>&1 & echo $!"])
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    let wait = agent
        .tracer()
        .args(["wait", "--json", "--timeout", "5"])
        .arg(pid.to_string())
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&wait.stdout).unwrap();
    assert_eq!(result["gone"][0]["returncode"], 9, "{result}");
    let rows = agent.json(&["ps", "--exited", "--json", "--pid", &pid.to_string()]);
    assert_eq!(rows[0]["exit_code"], 9, "{rows}");
    assert!(rows[0]["duration"].as_f64().unwrap() >= 0.3);
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn an_agent_on_procfs_polling_serves_events_queries_and_waits() {
    let agent = Agent::start("procfs", &["--backend", "procfs", "--interval", "0.2"]);
    let stats = agent.tracer().args(["stats", "--json"]).output().unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["backend"], "procfs", "{stats}");

    // Events: the agent's polled feed, relayed to a subscriber.
    let socket = agent.socket.to_str().unwrap().to_owned();
    let events = common::Tracer::start(&["--socket", &socket]);
    let mut child = Command::new("sleep").arg("0.8").spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(400));

    // Queries: a process started after the agent, with its argv, while it runs.
    let rows: Vec<Value> = ps_json(&mut agent.tracer())
        .into_iter()
        .filter(|row| row["pid"] == pid)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["cmdline"], serde_json::json!(["sleep", "0.8"]));
    assert_eq!(rows[0]["ppid"], std::process::id());

    // Waits: for a process that is not the agent's child; polling cannot know its code.
    let waited = agent
        .tracer()
        .args(["wait", "--json", "--timeout", "5"])
        .arg(pid.to_string())
        .output()
        .unwrap();
    let waited: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(waited["gone"][0]["pid"], pid, "{waited}");
    assert!(waited["gone"][0]["returncode"].is_null(), "{waited}");
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = events.stop();

    let exec = out.one("exec", pid);
    assert_eq!(exec["backend"], "procfs");
    assert_eq!(exec["synthesized"], true);
    assert_eq!(exec["cmdline"], serde_json::json!(["sleep", "0.8"]));
    let exit = out.one("exit", pid);
    assert!(exit["exit_code"].is_null(), "{exit}");
    let rows = agent.json(&["ps", "--exited", "--json", "--pid", &pid.to_string()]);
    assert_eq!(rows[0]["pid"], pid, "{rows}");
    assert!(rows[0]["exit_code"].is_null(), "{rows}");
    let status = agent.stop();
    assert!(status.success(), "SIGTERM: drain and exit 0, got {status}");
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn the_agent_refuses_a_backend_it_cannot_feed_a_table_with() {
    let output = Command::new(tracer_bin())
        .args([
            "--socket",
            "/nonexistent/x.sock",
            "agent",
            "--backend",
            "sysinfo",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("sysinfo"), "{stderr}");
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn waits_cannot_take_every_thread_of_the_agent() {
    const MAX_WAITS: usize = 256; // tracer::agent::server::MAX_WAITS
    let agent = Agent::start("busy", &[]);
    // As many waits as the agent serves at once, each on pid 1 for 5 s.
    let mut waiting = Vec::new();
    for id in 0..MAX_WAITS {
        let mut stream = UnixStream::connect(&agent.socket).unwrap();
        writeln!(
            stream,
            r#"{{"v":1,"id":{id},"op":"wait","pids":[1],"timeout":5}}"#
        )
        .unwrap();
        waiting.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    // One more is refused at once, saying why.
    let (header, _) = agent.request(r#"{"v":1,"id":1,"op":"wait","pids":[1],"timeout":5}"#);
    assert_eq!(header["ok"], false, "{header}");
    assert_eq!(header["error"], "busy", "{header}");
    // Queries are still answered meanwhile.
    let started = Instant::now();
    let rows = ps_json(&mut agent.tracer());
    assert!(rows.iter().any(|r| r["pid"] == 1));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Every held wait ends with its timeout, answered.
    for stream in &mut waiting {
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let (header, payload) = read_answer(&mut BufReader::new(stream.try_clone().unwrap()));
        assert_eq!(header["ok"], true, "{header}");
        let answer: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(answer["alive"][0]["pid"], 1, "{answer}");
    }
    // And a new wait is served again.
    let (header, _) = agent.request(r#"{"v":1,"id":2,"op":"wait","pids":[1],"timeout":0.1}"#);
    assert_eq!(header["ok"], true, "{header}");
    let status = agent.stop();
    assert!(status.success(), "{status}");
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn the_agent_keeps_at_most_max_exited_processes_the_newest() {
    let agent = Agent::start("max-exited", &["--max-exited", "5"]);
    let mut pids = Vec::new();
    for code in 0..12 {
        let mut child = Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn()
            .unwrap();
        pids.push(child.id());
        child.wait().unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let rows = agent.json(&["ps", "--exited", "--json", "--attrs", "pid,exit_code"]);
    let rows = rows.as_array().unwrap();
    // At least twelve exited: exactly five kept.
    assert_eq!(rows.len(), 5, "{rows:?}");
    // The newest are kept: of ours, the kept ones are the newest of ours (other processes of
    // the host may have exited after them and displaced some, never an older one of ours
    // before a newer one), each with its own exit code; the oldest seven are gone.
    let kept: Vec<bool> = pids
        .iter()
        .map(|pid| rows.iter().any(|r| r["pid"] == *pid))
        .collect();
    let first_kept = kept.iter().position(|k| *k).unwrap_or(kept.len());
    assert!(
        first_kept >= 7 && kept[first_kept..].iter().all(|k| *k),
        "kept of ours {kept:?}: {rows:?}"
    );
    for (pid, code) in pids.iter().zip(0..) {
        if let Some(row) = rows.iter().find(|r| r["pid"] == *pid) {
            assert_eq!(row["exit_code"], code, "{row}");
        }
    }
    let bad = Command::new(tracer_bin())
        .args([
            "--socket",
            "/nonexistent/x.sock",
            "agent",
            "--max-exited",
            "many",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
#[ignore = "needs root: runs processes as another user (setpriv)"]
fn nobody_cannot_signal_roots_processes() {
    let agent = Agent::start("auth", &["--socket-group", "nogroup"]);
    let mode = std::fs::metadata(&agent.socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o660
    );
    let mut roots = Command::new("sleep").arg("30").spawn().unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(tracer_bin())
            .arg("--socket")
            .arg(&agent.socket)
            .args(args)
            .output()
            .unwrap()
    };
    let refused = as_nobody(&["kill", &roots.id().to_string()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("access denied"), "{stderr}");
    assert!(
        roots.try_wait().unwrap().is_none(),
        "root's process still runs"
    );

    // nobody may signal its own process through the agent.
    let mut own = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sleep",
            "30",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let allowed = as_nobody(&["--verbose", "terminate", &own.id().to_string()]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(String::from_utf8_lossy(&allowed.stderr).contains("using the agent"));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&own.wait().unwrap()),
        Some(libc::SIGTERM)
    );
    // …and sees no more of root's processes than /proc shows it: no exe, environ, cwd.
    let rows = as_nobody(&[
        "ps",
        "--json",
        "--attrs",
        "pid,exe,cwd,environ",
        "--pid",
        &roots.id().to_string(),
    ]);
    let rows: Value = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows[0]["pid"], roots.id());
    assert!(
        rows[0]["exe"].is_null() && rows[0]["cwd"].is_null() && rows[0]["environ"].is_null(),
        "{rows}"
    );
    roots.kill().unwrap();
    roots.wait().unwrap();
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn malformed_and_oversized_requests_get_clear_errors() {
    let agent = Agent::start("bad", &[]);
    let mut stream = UnixStream::connect(&agent.socket).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for (line, kind) in [
        ("this is not json", "bad_request"),
        (r#"{"v":1,"id":4,"op":"launch"}"#, "bad_request"),
        (r#"{"v":99,"id":5,"op":"stats"}"#, "unsupported_version"),
        (
            r#"{"v":1,"id":6,"op":"query","attrs":["pid","nonsense"]}"#,
            "bad_request",
        ),
    ] {
        stream.write_all(line.as_bytes()).unwrap();
        stream.write_all(b"\n").unwrap();
        let (header, _) = read_answer(&mut reader);
        assert_eq!(header["ok"], false, "{line}");
        assert_eq!(header["error"], kind, "{line}: {header}");
    }
    // The same connection still works after errors.
    stream
        .write_all(b"{\"v\":1,\"id\":7,\"op\":\"stats\"}\n")
        .unwrap();
    let (header, payload) = read_answer(&mut reader);
    assert_eq!(
        (header["ok"].clone(), header["id"].clone()),
        (Value::Bool(true), Value::from(7))
    );
    let stats: Value = serde_json::from_slice(&payload).unwrap();
    assert!(stats["refused"].as_u64().unwrap() >= 4);

    // Oversized: an error, then the connection is closed.
    let mut big = UnixStream::connect(&agent.socket).unwrap();
    let _ = big.write_all(&vec![b'x'; 100 * 1024]);
    let mut reader = BufReader::new(big);
    let (header, _) = read_answer(&mut reader);
    assert_eq!(header["error"], "too_large");
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed after too_large"
    );

    // Other clients were never affected.
    let (header, _) = agent.request(r#"{"v":1,"id":1,"op":"query","attrs":["pid"]}"#);
    assert_eq!(header["ok"], true);
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_stalled_subscriber_does_not_stall_the_feed() {
    let agent = Agent::start("stall", &[]);
    // A subscriber that never reads, and many idle clients.
    let mut stalled = UnixStream::connect(&agent.socket).unwrap();
    stalled
        .write_all(b"{\"v\":1,\"id\":1,\"op\":\"subscribe\"}\n")
        .unwrap();
    let idle: Vec<UnixStream> = (0..1000)
        .map(|_| UnixStream::connect(&agent.socket).unwrap())
        .collect();
    // A storm while the subscriber's queue overflows.
    let me = std::process::id();
    let mut pids = Vec::new();
    for _ in 0..3000 {
        let mut child = Command::new("/bin/true").spawn().unwrap();
        pids.push(child.id());
        child.wait().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (_, payload) = agent.request(r#"{"v":1,"id":1,"op":"stats"}"#);
    let stats: Value = serde_json::from_slice(&payload).unwrap();
    assert!(stats["clients"].as_u64().unwrap() >= 1000, "{stats}");
    // Every exit of the storm reached the table.
    let (_, payload) = agent.request(&format!(
        r#"{{"v":1,"id":2,"op":"query","exited":true,"attrs":["pid","exit_code"],"ppids":[{me}]}}"#
    ));
    let rows: Value = serde_json::from_slice(&payload).unwrap();
    let exited: std::collections::HashSet<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].as_u64().unwrap())
        .collect();
    let missing = pids
        .iter()
        .filter(|p| !exited.contains(&(**p as u64)))
        .count();
    assert_eq!(missing, 0, "exits missing from the table");
    assert_eq!(stats["source"]["lost"], 0, "{stats}");
    // The stalled subscriber is dropped once a write to it has blocked for 10 s, and what it
    // missed is counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, payload) = agent.request(r#"{"v":1,"id":3,"op":"stats"}"#);
        let stats: Value = serde_json::from_slice(&payload).unwrap();
        if stats["slow_clients"].as_u64().unwrap() >= 1 {
            assert_eq!(stats["subscribers"], 0, "{stats}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled subscriber was never dropped: {stats}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(idle);
    drop(stalled);
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_subscriber_that_pauses_gets_the_rest_of_the_stream_when_it_reads_again() {
    let agent = Agent::start("pause", &[]);
    let mut stream = UnixStream::connect(&agent.socket).unwrap();
    stream
        .write_all(b"{\"v\":1,\"id\":1,\"op\":\"subscribe\",\"kinds\":[\"exec\"]}\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    assert!(header.contains("\"stream\":true"), "{header}");
    // Not reading while a storm's lines fill the socket (each exec line is about 600 bytes,
    // the socket holds about 200 KiB): the agent's writes to it wait for room.
    let marker = format!("tracer-pause-marker-{}", std::process::id());
    for _ in 0..1500 {
        Command::new("/bin/true").status().unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let (_, payload) = agent.request(r#"{"v":1,"id":2,"op":"stats"}"#);
    let stats: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(stats["subscribers"], 1, "{stats}");
    // Reading again: the waiting write goes on, and so does the stream, past the storm.
    let wanted = marker.clone();
    let received = std::thread::spawn(move || {
        let mut trues = 0usize;
        let mut dropped = 0u64;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("the stream ended before the marker ({trues} /bin/true execs)");
            }
            let value: Value = serde_json::from_str(&line).unwrap();
            if value["event"] == "dropped" {
                dropped += value["count"].as_u64().unwrap();
            } else if value["cmdline"][0] == "/bin/true" {
                trues += 1;
            } else if value["cmdline"][1].as_str() == Some(wanted.as_str()) {
                return (trues, dropped);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    Command::new("/bin/echo").arg(&marker).output().unwrap();
    let (trues, dropped) = received.join().unwrap();
    // Every exec is there or counted as dropped (the agent's queue holds 16,384 events, so
    // none should be).
    assert!(
        trues as u64 + dropped >= 1500,
        "{trues} execs received and {dropped} dropped of 1,500"
    );
    let (_, payload) = agent.request(r#"{"v":1,"id":3,"op":"stats"}"#);
    let stats: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(stats["slow_clients"], 0, "{stats}");
    drop(stream);
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn restart_stale_socket_and_live_socket() {
    let first = Agent::start("restart", &[]);
    let socket = first.socket.clone();
    // A subscriber connected when the agent stops sees its stream end.
    let mut subscriber = UnixStream::connect(&socket).unwrap();
    subscriber
        .write_all(b"{\"v\":1,\"id\":1,\"op\":\"subscribe\",\"kinds\":[\"exit\"]}\n")
        .unwrap();
    let mut reader = BufReader::new(subscriber.try_clone().unwrap());
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    assert!(header.contains("\"stream\":true"), "{header}");

    // A second agent does not steal a live socket.
    let second = Command::new(tracer_bin())
        .arg("--socket")
        .arg(&socket)
        .arg("agent")
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already listening"));

    assert!(first.stop().success());
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("agent stopping"), "{rest}");
    assert!(!socket.exists(), "the socket is removed on SIGTERM");

    // A crash leaves a stale socket: the next agent replaces it.
    let mut crashed = Agent::start_at(&socket, &[]);
    crashed.child.kill().unwrap();
    crashed.child.wait().unwrap();
    assert!(socket.exists(), "SIGKILL leaves the socket behind");
    let third = Agent::start_at(&socket, &[]);
    let (header, _) = third.request(r#"{"v":1,"id":1,"op":"stats"}"#);
    assert_eq!(header["ok"], true);
    std::mem::forget(crashed);
    // Clients fall back to direct mode, clearly, when no agent runs.
    assert!(third.stop().success());
    let direct = Command::new(tracer_bin())
        .arg("--socket")
        .arg(&socket)
        .args(["--verbose", "ps", "--pid", "1"])
        .output()
        .unwrap();
    assert!(direct.status.success());
    assert!(String::from_utf8_lossy(&direct.stderr).contains("direct mode"));
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn metrics_endpoint_is_scraped() {
    let port = 20000 + (std::process::id() % 20000) as u16;
    let addr = format!("127.0.0.1:{port}");
    let agent = Agent::start("metrics", &["--metrics", &addr]);
    Command::new("/bin/true").status().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut http = std::net::TcpStream::connect(&addr).unwrap();
    http.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    for metric in [
        "tracer_events_total{kind=\"exec\"}",
        "tracer_lost_events_total{kind=\"exit\"} 0",
        "tracer_table_processes{state=\"live\"}",
        "tracer_clients",
        "tracer_subscriber_dropped_events_total",
        "tracer_backend_info{backend=\"ebpf\"} 1",
        "tracer_resyncs_total",
    ] {
        assert!(response.contains(metric), "missing {metric}:\n{response}");
    }
    let stats = agent.tracer().arg("stats").output().unwrap();
    assert!(String::from_utf8_lossy(&stats.stdout).contains("backend      ebpf"));
}
