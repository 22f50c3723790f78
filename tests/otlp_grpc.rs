//! OTLP over gRPC, and the exporters' final export when the agent stops: a real gRPC
//! collector in this process (tonic's server with opentelemetry-proto's generated
//! `LogsService` and `MetricsService`, plain or TLS with a certificate made by `openssl`)
//! decodes what the agent sends; collectors that are down or answer `UNAVAILABLE` while a
//! real storm runs leave the feed whole and the drops counted.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::otlp::{attribute, int, string};
use common::{Agent, Killed, Subscriber};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use serde_json::Value;
use tonic::{Code, Request, Response, Status};

/// What the collector received: each logs request with its metadata, each metrics request.
#[derive(Clone, Default)]
struct Received {
    logs: Arc<Mutex<Vec<(tonic::metadata::MetadataMap, ExportLogsServiceRequest)>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    /// Answer every call with this error instead of accepting it.
    refuse: Option<Code>,
}

#[tonic::async_trait]
impl LogsService for Received {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let metadata = request.metadata().clone();
        self.logs
            .lock()
            .unwrap()
            .push((metadata, request.into_inner()));
        match self.refuse {
            Some(code) => Err(Status::new(code, "the test's collector refuses")),
            None => Ok(Response::new(ExportLogsServiceResponse::default())),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        match self.refuse {
            Some(code) => Err(Status::new(code, "the test's collector refuses")),
            None => Ok(Response::new(ExportMetricsServiceResponse::default())),
        }
    }
}

/// A gRPC collector on 127.0.0.1, on a runtime of its own thread.
struct Collector {
    port: u16,
    received: Received,
}

impl Collector {
    /// `tls`: the server's certificate and key (PEM).
    fn start(refuse: Option<Code>, tls: Option<(Vec<u8>, Vec<u8>)>) -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Received {
            refuse,
            ..Received::default()
        };
        let service = received.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let mut server = tonic::transport::Server::builder();
                if let Some((cert, key)) = tls {
                    server = server
                        .tls_config(
                            tonic::transport::ServerTlsConfig::new()
                                .identity(tonic::transport::Identity::from_pem(cert, key)),
                        )
                        .unwrap();
                }
                server
                    .add_service(LogsServiceServer::new(service.clone()))
                    .add_service(MetricsServiceServer::new(service))
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                    .await
                    .unwrap();
            });
        });
        Collector { port, received }
    }

    fn records(&self) -> Vec<(LogRecord, Vec<KeyValue>)> {
        let mut records = Vec::new();
        for (_, request) in self.received.logs.lock().unwrap().iter() {
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

    /// The exec and exit records of `pid`, once both arrived.
    fn exec_and_exit(&self, pid: i64) -> Option<(LogRecord, LogRecord, Vec<KeyValue>)> {
        let records = self.records();
        let find = |name: &str| {
            records
                .iter()
                .find(|(r, _)| {
                    r.event_name == name
                        && attribute(&r.attributes, "process.pid") == Some(&Any::IntValue(pid))
                })
                .cloned()
        };
        let (exec, resource) = find("process.exec")?;
        let (exit, _) = find("process.exit")?;
        Some((exec, exit, resource))
    }
}

/// Starts `tracer agent ARGS…` with `env` on a private socket, waiting until it listens.
fn start_agent(name: &str, args: &[&str], env: &[(&str, &str)]) -> Agent {
    let socket = std::env::temp_dir().join(format!(
        "tracer-test-grpc-{name}-{}.sock",
        std::process::id()
    ));
    Agent::start_with_env(&socket, args, env)
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

/// Waits until `done` holds, or panics with `what` after `seconds`.
fn wait_for(seconds: u64, what: &dyn Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `sh -c 'exit 7'`: its pid.
fn exit_7() -> i64 {
    let mut child = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .spawn()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7));
    child.id() as i64
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
        .map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(x)) => x,
            Some(number_data_point::Value::AsInt(n)) => n as f64,
            None => f64::NAN,
        })
}

/// A directory of the test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("tracer-grpc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A groups config with one group, `marked`, of the processes whose command line holds
/// `marker`.
fn groups_config(dir: &Path, marker: &str) -> PathBuf {
    let config = dir.join("groups.yaml");
    std::fs::write(
        &config,
        format!("process_names:\n  - name: marked\n    cmdline: ['{marker}']\n"),
    )
    .unwrap();
    config
}

/// Runs a group member that burns CPU and exits; what its parent measured it used (s).
fn burn(marker: &str) -> f64 {
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
            "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass",
            marker,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let burned = usage() - before;
    assert!(burned >= 0.2, "the burner used {burned} s");
    burned
}

/// The metrics of a request, by name.
fn metrics_of(request: &ExportMetricsServiceRequest) -> Vec<Metric> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| s.metrics.clone())
        .collect()
}

fn group_cpu(metrics: &[Metric]) -> f64 {
    metrics
        .iter()
        .filter(|m| m.name == "process.cpu.time")
        .flat_map(|m| {
            ["user", "system"]
                .map(|mode| group_value(m, "marked", Some(("cpu.mode", mode))).unwrap_or(0.0))
        })
        .sum()
}

/// SIGTERM, timed: the agent's exit status and how long it took to exit.
fn stop_timed(agent: Agent) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    let status = agent.stop();
    (status, start.elapsed())
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn otlp_grpc_log_records_and_the_final_metrics_reach_a_grpc_collector() {
    let collector = Collector::start(None, None);
    let endpoint = format!("http://127.0.0.1:{}", collector.port);
    let dir = Dir::new("metrics");
    let marker = format!("tracer-grpc-groups-{}", std::process::id());
    let config = groups_config(&dir.0, &marker);
    // Metrics every 10 minutes: the only metrics export of this test is the one at stop.
    let agent = start_agent(
        "logs",
        &[
            "--otlp-protocol",
            "grpc",
            "--otlp-endpoint",
            &endpoint,
            "--groups",
            config.to_str().unwrap(),
        ],
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=sre%20team"),
        ],
    );
    let pid = exit_7();
    let mut found = None;
    wait_for(
        15,
        &|| format!("no exec and exit of {pid} within 15 s: {}", stats(&agent)),
        || {
            found = collector.exec_and_exit(pid);
            found.is_some()
        },
    );
    let (exec, exit, resource) = found.unwrap();

    // The exec.
    let a = &exec.attributes;
    assert_eq!(exec.event_name, "process.exec");
    assert_eq!(string(a, "event.name"), "process.exec");
    assert_eq!(int(a, "process.parent_pid"), std::process::id() as i64);
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(string(a, "process.executable.path"), sh.to_str().unwrap());
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
    // The exit, code 7.
    let a = &exit.attributes;
    assert_eq!(string(a, "event.name"), "process.exit");
    assert_eq!(int(a, "process.exit.code"), 7);
    assert!(attribute(a, "tracer.exit.signal").is_none());
    assert!(exit.time_unix_nano >= exec.time_unix_nano);
    // The resource and the headers, as gRPC metadata.
    assert_eq!(string(&resource, "service.name"), "tracer");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(string(&resource, "host.name"), hostname.trim());
    let (metadata, _) = collector.received.logs.lock().unwrap()[0].clone();
    assert_eq!(
        metadata.get("x-tenant").and_then(|v| v.to_str().ok()),
        Some("sre team")
    );
    let e = exporter(&stats(&agent), "otlp");
    assert!(e["exported"].as_u64().unwrap() >= 2, "{e}");
    assert_eq!(e["dropped"], 0, "{e}");
    assert_eq!(e["target"], endpoint);

    // At stop: a group member's CPU, and a last exit still in its batch (a batch waits up to
    // 1 s), reach the collector before the agent exits, within its 2 s budget.
    let burned = burn(&marker);
    let last = exit_7();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        collector.received.metrics.lock().unwrap().is_empty(),
        "metrics before the stop"
    );
    let (status, took) = stop_timed(agent);
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(4),
        "the agent took {took:?} to stop"
    );
    assert!(
        collector.exec_and_exit(last).is_some(),
        "the last exit was not sent at stop"
    );
    let requests = collector.received.metrics.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "one final metrics export");
    let metrics = metrics_of(&requests[0]);
    let cpu = group_cpu(&metrics);
    assert!(
        cpu >= burned * 0.9 && cpu <= burned + 0.5,
        "the group's CPU at stop: {cpu} s, the burner's {burned} s"
    );
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn otlp_http_final_metrics_are_sent_at_stop() {
    // OTLP/HTTP, as a collector would take it: the gRPC collector's server speaks only
    // HTTP/2, so this uses a minimal HTTP/1.1 receiver of its own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies: Arc<Bodies> = Arc::default();
    let sink = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || http_serve(stream, &sink));
        }
    });
    let dir = Dir::new("http");
    let marker = format!("tracer-http-final-{}", std::process::id());
    let config = groups_config(&dir.0, &marker);
    let agent = start_agent(
        "http",
        &[
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--groups",
            config.to_str().unwrap(),
        ],
        &[("OTEL_METRIC_EXPORT_INTERVAL", "600000")],
    );
    let burned = burn(&marker);
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = stop_timed(agent);
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(4),
        "the agent took {took:?} to stop"
    );
    let bodies = bodies.lock().unwrap().clone();
    let metrics: Vec<_> = bodies
        .iter()
        .filter(|(line, _)| line.starts_with("POST /v1/metrics "))
        .collect();
    assert_eq!(metrics.len(), 1, "one final metrics export");
    use prost::Message;
    let request = ExportMetricsServiceRequest::decode(metrics[0].1.as_slice()).unwrap();
    let cpu = group_cpu(&metrics_of(&request));
    assert!(
        cpu >= burned * 0.9 && cpu <= burned + 0.5,
        "the group's CPU at stop: {cpu} s, the burner's {burned} s"
    );
}

/// Each request's line and body.
type Bodies = Mutex<Vec<(String, Vec<u8>)>>;

/// HTTP/1.1 with keep-alive: each request's line and body, answered 200.
fn http_serve(stream: std::net::TcpStream, sink: &Bodies) {
    use std::io::Read;
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
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
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        sink.lock()
            .unwrap()
            .push((request_line.trim_end().to_string(), body));
        let answer =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost, made by
/// `openssl`: (the CA's certificate, the server's certificate, the server's key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let [ca, ca_key, cert, key, csr, ext] = [
        "ca.pem", "ca.key", "cert.pem", "key.pem", "req.csr", "ext.cnf",
    ]
    .map(|f| dir.join(f));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (cargo xtask setup installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s = |s: &'static str| std::ffi::OsStr::new(s);
    let ec = [
        s("-newkey"),
        s("ec"),
        s("-pkeyopt"),
        s("ec_paramgen_curve:prime256v1"),
    ];
    let mut args = vec![s("req"), s("-x509")];
    args.extend(ec);
    args.extend([
        s("-nodes"),
        s("-days"),
        s("1"),
        s("-subj"),
        s("/CN=tracer test CA"),
    ]);
    args.extend([s("-keyout"), ca_key.as_os_str(), s("-out"), ca.as_os_str()]);
    openssl(&args);
    let mut args = vec![s("req")];
    args.extend(ec);
    args.extend([s("-nodes"), s("-subj"), s("/CN=127.0.0.1")]);
    args.extend([s("-keyout"), key.as_os_str(), s("-out"), csr.as_os_str()]);
    openssl(&args);
    openssl(&[
        s("x509"),
        s("-req"),
        s("-in"),
        csr.as_os_str(),
        s("-CA"),
        ca.as_os_str(),
        s("-CAkey"),
        ca_key.as_os_str(),
        s("-CAcreateserial"),
        s("-days"),
        s("1"),
        s("-extfile"),
        ext.as_os_str(),
        s("-out"),
        cert.as_os_str(),
    ]);
    (ca, cert, key)
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn otlp_grpc_over_tls_trusts_the_configured_certificate() {
    let dir = Dir::new("tls");
    let (ca, cert, key) = certificates(&dir.0);
    let collector = Collector::start(
        None,
        Some((std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap())),
    );
    let endpoint = format!("https://127.0.0.1:{}", collector.port);
    let agent = start_agent(
        "tls",
        &["--otlp-protocol", "grpc", "--otlp-endpoint", &endpoint],
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.to_str().unwrap())],
    );
    let pid = exit_7();
    wait_for(
        15,
        &|| format!("no exec and exit of {pid} over TLS: {}", stats(&agent)),
        || collector.exec_and_exit(pid).is_some(),
    );
    let (_, exit, _) = collector.exec_and_exit(pid).unwrap();
    assert_eq!(int(&exit.attributes, "process.exit.code"), 7);
    assert!(agent.stop().success());

    // Without the certificate, Mozilla's roots do not vouch for it: nothing is sent, the
    // failure is counted and said.
    let received = collector.records().len();
    let agent = start_agent(
        "tlsuntrusted",
        &["--otlp-protocol", "grpc", "--otlp-endpoint", &endpoint],
        &[],
    );
    exit_7();
    wait_for(
        15,
        &|| format!("no TLS failure counted: {}", stats(&agent)),
        || exporter(&stats(&agent), "otlp")["errors"].as_u64().unwrap() >= 1,
    );
    let e = exporter(&stats(&agent), "otlp");
    assert_eq!(e["exported"], 0, "{e}");
    let error = e["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("certificate"), "{e}");
    assert_eq!(collector.records().len(), received);
    assert!(agent.stop().success());
}

/// An OTLP/HTTP receiver over TLS: Python's http.server in an `ssl` context, writing each
/// request's body to a file of its own (`N-v1_logs`) in the directory it is given.
const HTTPS_RECEIVER: &str = r#"
import http.server, itertools, os, ssl, sys, threading
out, cert, key = sys.argv[1:4]
count, lock = itertools.count(), threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            n = next(count)
        name = os.path.join(out, "%d-%s" % (n, self.path.strip("/").replace("/", "_")))
        with open(name + ".tmp", "wb") as f:
            f.write(body)
        os.rename(name + ".tmp", name)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn otlp_http_over_tls_trusts_the_configured_certificate() {
    use prost::Message;
    let dir = Dir::new("https");
    let (ca, cert, key) = certificates(&dir.0);
    let bodies = dir.0.join("bodies");
    std::fs::create_dir(&bodies).unwrap();
    let mut receiver = Command::new("python3")
        .args(["-c", HTTPS_RECEIVER])
        .args([&bodies, &cert, &key])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(receiver.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let receiver = Killed(receiver);
    let endpoint = format!("https://127.0.0.1:{}", port.trim());
    let agent = start_agent(
        "https",
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.to_str().unwrap())],
    );
    let pid = exit_7();
    let exit_code = || -> Option<i64> {
        for entry in std::fs::read_dir(&bodies).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with("-v1_logs") {
                continue;
            }
            let body = std::fs::read(entry.path()).ok()?;
            let request = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
            for record in request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                if record.event_name == "process.exit"
                    && attribute(&record.attributes, "process.pid") == Some(&Any::IntValue(pid))
                {
                    return Some(int(&record.attributes, "process.exit.code"));
                }
            }
        }
        None
    };
    wait_for(
        15,
        &|| format!("no exit of {pid} over https: {}", stats(&agent)),
        || exit_code().is_some(),
    );
    assert_eq!(exit_code(), Some(7));
    let e = exporter(&stats(&agent), "otlp");
    assert_eq!(e["dropped"], 0, "{e}");
    assert_eq!(e["target"], format!("{endpoint}/v1/logs"));
    assert!(agent.stop().success());
    drop(receiver);
}

/// A gRPC collector that is down or refuses: a storm's events still reach a subscriber,
/// complete, while the exporter counts its errors, retries and drops.
fn failing_grpc_collector_leaves_the_feed_unaffected(name: &str, endpoint: &str) {
    let agent = start_agent(
        name,
        &["--otlp-protocol", "grpc", "--otlp-endpoint", endpoint],
        &[],
    );
    let subscriber = Subscriber::start(&agent);
    let token = format!("grpc-{name}-{}", std::process::id());
    let n = 300;
    for _ in 0..n {
        assert!(Command::new("/bin/true")
            .arg(&token)
            .status()
            .unwrap()
            .success());
    }
    wait_for(
        10,
        &|| {
            format!(
                "the subscriber saw {} of {n} execs",
                subscriber.count_with(&token)
            )
        },
        || subscriber.count_with(&token) >= n,
    );
    let s = stats(&agent);
    assert_eq!(s["source"]["lost"], 0, "{s}");
    assert_eq!(s["subscriber_drops"], 0, "{s}");
    // Retried with backoff (0.5 + 1 + 2 + 4 s), then dropped and counted.
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
    let error = e["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("Unavailable"), "{e}");
    let (header, _) = agent.request(r#"{"v":1,"id":1,"op":"query","attrs":["pid"]}"#);
    assert_eq!(header["ok"], true);
    drop(subscriber);
    let (status, took) = stop_timed(agent);
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(4),
        "the agent took {took:?} to stop"
    );
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_grpc_collector_that_is_down_leaves_the_feed_unaffected() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    failing_grpc_collector_leaves_the_feed_unaffected("down", &format!("http://127.0.0.1:{port}"));
}

#[test]
#[ignore = "needs root: runs the agent, which loads eBPF programs"]
fn a_grpc_collector_answering_unavailable_leaves_the_feed_unaffected() {
    let collector = Collector::start(Some(Code::Unavailable), None);
    failing_grpc_collector_leaves_the_feed_unaffected(
        "unavailable",
        &format!("http://127.0.0.1:{}", collector.port),
    );
    // Every try reached it.
    assert!(collector.received.logs.lock().unwrap().len() >= 2);
}
