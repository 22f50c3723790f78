//! The agent's exporters against real peers: an OTLP/HTTP receiver in this process that
//! decodes what the agent sends with OpenTelemetry's own protobuf definitions
//! (`opentelemetry-proto`), collectors that are down, failing or hanging while a real storm
//! runs, and the JSON-lines file rotated under a storm.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::otlp::{attribute, int, string};
use common::{Agent, Killed, Subscriber};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use prost::Message;
use serde_json::Value;

/// How the test's collector answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    Unavailable,
    /// Reads the request and never answers.
    Hang,
}

/// An OTLP/HTTP receiver on 127.0.0.1: HTTP/1.1 with keep-alive, each body decoded as an
/// `ExportLogsServiceRequest`, or on `/v1/metrics` as an `ExportMetricsServiceRequest`.
struct Receiver {
    port: u16,
    requests: Arc<Requests>,
    metrics: Arc<MetricsRequests>,
}

impl Receiver {
    fn start(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Mutex::new(Vec::new()));
        let (sink, metrics_sink) = (Arc::clone(&requests), Arc::clone(&metrics));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = Arc::clone(&sink);
                let metrics_sink = Arc::clone(&metrics_sink);
                std::thread::spawn(move || serve(stream, answer, &sink, &metrics_sink));
            }
        });
        Receiver {
            port,
            requests,
            metrics,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn records(&self) -> Vec<(LogRecord, Vec<KeyValue>)> {
        let requests = self.requests.lock().unwrap();
        let mut records = Vec::new();
        for (_, _, request) in requests.iter() {
            for resource_logs in &request.resource_logs {
                let resource = resource_logs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for scope in &resource_logs.scope_logs {
                    for record in &scope.log_records {
                        records.push((record.clone(), resource.clone()));
                    }
                }
            }
        }
        records
    }
}

/// Each request's line, headers and decoded body.
type Requests = Mutex<Vec<(String, HashMap<String, String>, ExportLogsServiceRequest)>>;
/// Each metrics request's line and decoded body.
type MetricsRequests = Mutex<Vec<(String, ExportMetricsServiceRequest)>>;

fn serve(stream: TcpStream, answer: Answer, sink: &Requests, metrics: &MetricsRequests) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .expect("the exporter sends a Content-Length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if request_line.starts_with("POST /v1/metrics ") {
            let request = ExportMetricsServiceRequest::decode(body.as_slice())
                .expect("the body is an ExportMetricsServiceRequest");
            metrics
                .lock()
                .unwrap()
                .push((request_line.trim_end().to_string(), request));
        } else {
            let request = ExportLogsServiceRequest::decode(body.as_slice())
                .expect("the body is an ExportLogsServiceRequest");
            sink.lock()
                .unwrap()
                .push((request_line.trim_end().to_string(), headers, request));
        }
        let response: &[u8] = match answer {
            Answer::Ok => b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
            Answer::Unavailable => b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            Answer::Hang => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
        };
        if writer.write_all(response).is_err() {
            return;
        }
    }
}

/// `2026-11-30T18:54:38.123Z`.
fn is_rfc3339_millis(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && s.starts_with("20")
}

fn stats(agent: &Agent) -> Value {
    let (_, payload) = agent.request(r#"{"v":1,"id":1,"op":"stats"}"#);
    serde_json::from_slice(&payload).unwrap()
}

fn exporter(stats: &Value, name: &str) -> Value {
    stats["exporters"]
        .as_array()
        .unwrap_or_else(|| panic!("no exporters in {stats}"))
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} exporter in {stats}"))
        .clone()
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn otlp_log_records_carry_the_semantic_conventions() {
    let receiver = Receiver::start(Answer::Ok);
    let endpoint = receiver.endpoint();
    let agent = Agent::start("otlp", &["--otlp-endpoint", &endpoint]);
    let mut child = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .spawn()
        .unwrap();
    let pid = child.id() as i64;
    assert_eq!(child.wait().unwrap().code(), Some(7));

    let deadline = Instant::now() + Duration::from_secs(15);
    let (exec, exit, resource) = loop {
        let records = receiver.records();
        let find = |name: &str| {
            records
                .iter()
                .find(|(r, _)| {
                    r.event_name == name
                        && attribute(&r.attributes, "process.pid") == Some(&Any::IntValue(pid))
                })
                .cloned()
        };
        if let (Some(exec), Some(exit)) = (find("process.exec"), find("process.exit")) {
            break (exec.0, exit.0, exec.1);
        }
        assert!(
            Instant::now() < deadline,
            "no exec and exit records for {pid} within 15 s ({} records; stats {})",
            records.len(),
            stats(&agent)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (request_line, headers, _) = receiver.requests.lock().unwrap()[0].clone();
    assert_eq!(request_line, "POST /v1/logs HTTP/1.1");
    assert_eq!(headers["content-type"], "application/x-protobuf");

    // The exec.
    let a = &exec.attributes;
    assert_eq!(string(a, "event.name"), "process.exec");
    assert_eq!(int(a, "process.parent_pid"), std::process::id() as i64);
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(string(a, "process.executable.path"), sh.to_str().unwrap());
    assert_eq!(
        string(a, "process.executable.name"),
        sh.file_name().unwrap().to_str().unwrap()
    );
    let Some(Any::ArrayValue(args)) = attribute(a, "process.command_args") else {
        panic!("no process.command_args: {a:?}");
    };
    let args: Vec<_> = args
        .values
        .iter()
        .map(|v| match &v.value {
            Some(Any::StringValue(s)) => s.as_str(),
            other => panic!("argument {other:?}"),
        })
        .collect();
    assert_eq!(args, ["/bin/sh", "-c", "exit 7"]);
    assert_eq!(int(a, "process.user.id"), 0);
    // The cgroup where the event's placement knows it (a process this short may be gone
    // before its cgroup is read, and a host on cgroup v1 has none to tell).
    if attribute(a, "process.linux.cgroup").is_some() {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let cgroup = cgroup.lines().find(|l| l.starts_with("0::")).unwrap();
        assert_eq!(string(a, "process.linux.cgroup"), cgroup);
    }
    assert_eq!(int(a, "process.real_user.id"), 0);
    assert!(is_rfc3339_millis(&string(a, "process.creation.time")));
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(
        exec.time_unix_nano <= now_ns && exec.time_unix_nano > now_ns - 60_000_000_000,
        "{}",
        exec.time_unix_nano
    );
    assert_eq!(exec.severity_number, 9);

    // The exit.
    let a = &exit.attributes;
    assert_eq!(string(a, "event.name"), "process.exit");
    assert_eq!(int(a, "process.exit.code"), 7);
    assert!(attribute(a, "tracer.exit.signal").is_none());
    let exit_time = string(a, "process.exit.time");
    assert!(is_rfc3339_millis(&exit_time), "{exit_time}");
    assert!(exit.time_unix_nano >= exec.time_unix_nano);
    assert_eq!(
        string(a, "process.creation.time"),
        string(&exec.attributes, "process.creation.time")
    );

    // The resource.
    assert_eq!(string(&resource, "service.name"), "tracer");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(string(&resource, "host.name"), hostname.trim());
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        assert_eq!(string(&resource, "host.id"), id.trim());
    }

    let e = exporter(&stats(&agent), "otlp");
    assert!(e["exported"].as_u64().unwrap() >= 2, "{e}");
    assert_eq!(e["dropped"], 0, "{e}");
    assert_eq!(e["target"], format!("{endpoint}/v1/logs"));
}

/// A data point's value as a float.
fn number(value: &Option<number_data_point::Value>) -> f64 {
    match value {
        Some(number_data_point::Value::AsDouble(x)) => *x,
        Some(number_data_point::Value::AsInt(n)) => *n as f64,
        None => f64::NAN,
    }
}

/// The sum of `metric`'s points for `group` whose attributes include `extra`.
fn group_value(metric: &Metric, group: &str, extra: Option<(&str, &str)>) -> Option<f64> {
    let points = match metric.data.as_ref()? {
        Data::Sum(sum) => &sum.data_points,
        Data::Gauge(gauge) => &gauge.data_points,
        _ => return None,
    };
    points
        .iter()
        .find(|p| {
            attribute(&p.attributes, "tracer.group.name") == Some(&Any::StringValue(group.into()))
                && extra.is_none_or(|(k, v)| {
                    attribute(&p.attributes, k) == Some(&Any::StringValue(v.into()))
                })
        })
        .map(|p| number(&p.value))
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn otlp_group_metrics_carry_the_groups_with_the_semantic_conventions_names() {
    let receiver = Receiver::start(Answer::Ok);
    let marker = format!("tracer-otlp-groups-{}", std::process::id());
    // Not named after the marker: the agent's own command line holds the config's path.
    let dir = std::env::temp_dir().join(format!("tracer-otlp-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("groups.yaml");
    std::fs::write(
        &config,
        format!("process_names:\n  - name: marked\n    cmdline: ['{marker}']\n"),
    )
    .unwrap();
    // No --metrics: OTLP alone is enough for --groups.
    let socket = dir.join("agent.sock");
    let mut child = Command::new(common::tracer_bin())
        .arg("--socket")
        .arg(&socket)
        .arg("agent")
        .args(["--otlp-endpoint", &receiver.endpoint(), "--groups"])
        .arg(&config)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the agent did not start: {:?}", child.wait());
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let agent = Agent { child, socket };

    // One member that lives on, one that burns CPU and exits (its CPU counts from its exit
    // event): their parent measures what the burner used.
    let sleeper = Command::new("python3")
        .args(["-c", "import time; time.sleep(600)", &marker])
        .spawn()
        .unwrap();
    let _sleeper = Killed(sleeper);
    let usage = || {
        // SAFETY: getrusage fills the struct it is given.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) }, 0);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(r.ru_utime) + t(r.ru_stime)
    };
    let before = usage();
    let status = Command::new("python3")
        .args([
            "-c",
            "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass",
            &marker,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let burned = usage() - before;
    assert!(burned >= 0.3, "the burner used {burned} s");

    let deadline = Instant::now() + Duration::from_secs(20);
    let (line, metrics) = loop {
        let last = receiver.metrics.lock().unwrap().last().cloned();
        if let Some((line, request)) = last {
            let metrics: Vec<Metric> = request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| s.metrics.clone())
                .collect();
            let find = |name: &str| metrics.iter().find(|m| m.name == name);
            let cpu: f64 = ["user", "system"]
                .iter()
                .filter_map(|mode| {
                    group_value(
                        find("process.cpu.time")?,
                        "marked",
                        Some(("cpu.mode", mode)),
                    )
                })
                .sum();
            let procs =
                find("tracer.group.process.count").and_then(|m| group_value(m, "marked", None));
            if cpu >= burned * 0.9 && procs == Some(1.0) {
                break (line, metrics);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no metrics with the burner's {burned} s and one live member within 20 s: {:?}",
            receiver.metrics.lock().unwrap().last()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(line, "POST /v1/metrics HTTP/1.1");
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let cpu = find("process.cpu.time");
    assert_eq!(cpu.unit, "s");
    let Some(Data::Sum(sum)) = &cpu.data else {
        panic!("process.cpu.time is a sum: {cpu:?}");
    };
    assert!(
        sum.is_monotonic && sum.aggregation_temporality == 2,
        "cumulative"
    );
    let user = group_value(cpu, "marked", Some(("cpu.mode", "user"))).unwrap();
    assert!(user <= burned + 0.5, "user {user} of {burned}");
    let rss = group_value(find("process.memory.usage"), "marked", None).unwrap();
    assert!(rss > 1e6, "the sleeper's resident memory: {rss}");
    assert_eq!(find("process.memory.usage").unit, "By");
    assert!(group_value(find("process.thread.count"), "marked", None).unwrap() >= 1.0);
    assert!(group_value(
        find("process.disk.io"),
        "marked",
        Some(("disk.io.direction", "read"))
    )
    .is_some());
    let oldest = group_value(find("tracer.group.oldest_start_time"), "marked", None).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(oldest <= now && oldest > now - 120.0, "{oldest}");
    let resource = receiver.metrics.lock().unwrap()[0].1.resource_metrics[0]
        .resource
        .clone()
        .unwrap();
    assert_eq!(string(&resource.attributes, "service.name"), "tracer");

    let e = exporter(&stats(&agent), "otlp-metrics");
    assert!(e["exported"].as_u64().unwrap() > 0, "{e}");
    assert_eq!(e["dropped"], 0, "{e}");
    assert_eq!(e["target"], format!("{}/v1/metrics", receiver.endpoint()));
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/bin/true TOKEN`, `n` times one after the other.
fn storm(n: usize, token: &str) {
    for _ in 0..n {
        let status = Command::new("/bin/true").arg(token).status().unwrap();
        assert!(status.success());
    }
}

/// Waits until `done` holds, or panics with `what` after `seconds`.
fn wait_for(seconds: u64, what: &dyn Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A collector that is down, answers 503 or never answers: the events still reach a
/// subscriber, complete, while the exporter counts its errors, retries and drops.
fn failing_collector_leaves_the_feed_unaffected(name: &str, endpoint: &str) {
    let agent = Agent::start(name, &["--otlp-endpoint", endpoint]);
    let subscriber = Subscriber::start(&agent);
    let token = format!("export-{name}-{}", std::process::id());
    let n = 300;
    storm(n, &token);
    // Every exec of the storm reaches the subscriber, at once.
    wait_for(
        10,
        &|| {
            format!(
                "the subscriber saw {} of {n} execs",
                subscriber.lines_with(&token).len()
            )
        },
        || subscriber.lines_with(&token).len() >= n,
    );
    let s = stats(&agent);
    assert_eq!(s["source"]["lost"], 0, "{s}");
    assert_eq!(s["subscriber_drops"], 0, "{s}");
    // The failures are counted: errors and retries at once, the batches dropped once their
    // tries are spent (0.5 + 1 + 2 + 4 s of backoff).
    wait_for(
        30,
        &|| format!("no retries and drops counted: {}", stats(&agent)),
        || {
            let e = exporter(&stats(&agent), "otlp");
            e["errors"].as_u64().unwrap() >= 2
                && e["retries"].as_u64().unwrap() >= 1
                && e["dropped"].as_u64().unwrap() >= 1
        },
    );
    let e = exporter(&stats(&agent), "otlp");
    assert_eq!(e["exported"], 0, "{e}");
    assert!(e["last_error"].as_str().is_some(), "{e}");
    let text = agent.tracer().arg("stats").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("export       otlp to "), "{text}");
    // The agent is unaffected: it still answers, and stops cleanly.
    let (header, _) = agent.request(r#"{"v":1,"id":1,"op":"query","attrs":["pid"]}"#);
    assert_eq!(header["ok"], true);
    drop(subscriber);
    assert!(agent.stop().success());
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_collector_answering_503_leaves_the_feed_unaffected() {
    let receiver = Receiver::start(Answer::Unavailable);
    failing_collector_leaves_the_feed_unaffected("otlp503", &receiver.endpoint());
    assert!(receiver.requests.lock().unwrap().len() >= 2);
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_collector_that_is_down_leaves_the_feed_unaffected() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    failing_collector_leaves_the_feed_unaffected("otlpdown", &format!("http://127.0.0.1:{port}"));
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_collector_that_never_answers_leaves_the_feed_unaffected() {
    let receiver = Receiver::start(Answer::Hang);
    // The agent inherits this: each request times out after 300 ms.
    std::env::set_var("OTEL_EXPORTER_OTLP_TIMEOUT", "300");
    failing_collector_leaves_the_feed_unaffected("otlphang", &receiver.endpoint());
    std::env::remove_var("OTEL_EXPORTER_OTLP_TIMEOUT");
}

fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    for n in 1.. {
        let numbered = PathBuf::from(format!("{}.{n}", path.display()));
        if !numbered.exists() {
            break;
        }
        files.push(numbered);
    }
    files
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn rotation_under_a_storm_loses_and_splits_no_line() {
    let dir = std::env::temp_dir().join(format!("tracer-export-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.jsonl");
    // 32 KiB files: a storm of 3,000 processes fills about 60 of them.
    let max_bytes = 32 * 1024;
    let agent = Agent::start(
        "rotation",
        &[
            "--export-file",
            path.to_str().unwrap(),
            "--export-max-mib",
            "0.03125",
            "--export-keep",
            "1000",
        ],
    );
    let subscriber = Subscriber::start(&agent);
    let token = format!("export-rotation-{}", std::process::id());
    let n = 3000;
    storm(n, &token);
    let exec_lines = |lines: &[String]| -> Vec<String> {
        let mut execs: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with("{\"event\":\"exec\"") && l.contains(&token))
            .cloned()
            .collect();
        execs.sort();
        execs
    };
    let read_all = || -> Vec<String> {
        rotated_files(&path)
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    wait_for(
        20,
        &|| {
            format!(
                "the files hold {} of {n} execs: {}",
                exec_lines(&read_all()).len(),
                stats(&agent)
            )
        },
        || exec_lines(&read_all()).len() >= n && subscriber.lines_with(&token).len() >= n,
    );
    let files = rotated_files(&path);
    assert!(
        files.len() >= 20,
        "only {} files: no rotation under the storm",
        files.len()
    );
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.ends_with('\n'), "{} ends mid-line", file.display());
        assert!(
            text.len() <= max_bytes,
            "{} has {} bytes",
            file.display(),
            text.len()
        );
        for line in text.lines() {
            let record: Value = serde_json::from_str(&common::unescape_surrogates(line))
                .unwrap_or_else(|e| {
                    panic!(
                        "a split or broken line in {}: {line:?}: {e}",
                        file.display()
                    )
                });
            assert!(record["event"].is_string(), "{line}");
        }
    }
    // Exactly the lines `tracer events --json` prints, each once.
    let in_files = exec_lines(&read_all());
    assert_eq!(in_files.len(), n, "execs in the files");
    let streamed = exec_lines(&subscriber.lines_with(&token));
    assert_eq!(
        in_files, streamed,
        "the files' lines differ from the event stream's"
    );
    let e = exporter(&stats(&agent), "file");
    assert_eq!(e["dropped"], 0, "{e}");
    assert_eq!(e["errors"], 0, "{e}");
    drop(subscriber);
    assert!(agent.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs root: the agent checks its flags once it runs as root"]
fn bad_exporter_settings_are_refused_in_one_line() {
    for (args, env, says) in [
        (
            vec!["--otlp-endpoint", "ftp://collector:4318"],
            None,
            "http:// or https:// URL",
        ),
        (
            vec!["--otlp-endpoint", "http://127.0.0.1:4318"],
            Some(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")),
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            vec!["--otlp-endpoint", "https://127.0.0.1:4318"],
            Some(("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")),
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ),
        (
            vec!["--otlp-endpoint", "http://127.0.0.1:4318"],
            Some(("OTEL_EXPORTER_OTLP_HEADERS", "no-equals")),
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            vec!["--export-file", "/tmp/x.jsonl", "--export-max-mib", "0"],
            None,
            "--export-max-mib",
        ),
        (
            vec!["--export-file", "/tmp/x.jsonl", "--export-keep", "0"],
            None,
            "--export-keep",
        ),
    ] {
        let mut command = Command::new(common::tracer_bin());
        command
            .arg("--socket")
            .arg("/tmp/tracer-test-bad-export.sock")
            .arg("agent")
            .args(&args);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert!(!Path::new("/tmp/tracer-test-bad-export.sock").exists());
}
