//! `tracer agent --otlp-endpoint URL`: every lifecycle event as an OpenTelemetry log record,
//! sent to a collector over OTLP/HTTP with protobuf bodies or, with `--otlp-protocol grpc`
//! (or `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), over OTLP/gRPC.
//!
//! The messages are OpenTelemetry's own generated types (`opentelemetry-proto`, prost), the
//! HTTP requests go out through `ureq`, the gRPC calls through opentelemetry-proto's generated
//! tonic service clients (on a single-threaded tokio runtime of the sending thread). `https`
//! endpoints use rustls (ring) with Mozilla's roots, or the CA file
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` names. Not `opentelemetry-otlp`'s exporters: they sit
//! behind the SDK's logger and batch processor, whose queue drops without telling us how
//! many — here every drop is counted in `tracer stats` and the metrics.
//!
//! Two threads: one receives the events, turns them into log records and batches them (512
//! records or 1 s, OpenTelemetry's batch defaults); it never waits on the network. The other
//! sends the batches. Between them a queue of [`QUEUE_BATCHES`] batches: when the collector is
//! slow or gone and the queue is full, new batches are dropped and counted. A request that
//! fails with 429, 502, 503, 504 or no connection (over gRPC: `UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED`, `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`,
//! `DATA_LOSS`) is retried with exponential backoff (honouring `Retry-After`) up to
//! [`MAX_ATTEMPTS`] times, then its batch is dropped and counted; any other refusal drops the
//! batch at once. When the agent stops, what is batched or queued is sent, one try each.
//!
//! Records follow OpenTelemetry's semantic conventions: `event.name` (`process.fork`,
//! `process.exec`, `process.exit`, also as the record's `event_name`), `process.pid`,
//! `process.parent_pid`, `process.executable.name` (the executable's base name on exec, the
//! kernel's name otherwise), `process.executable.path`, `process.command_args`,
//! `process.user.id` (effective, on exec), `process.real_user.id`, `process.creation.time`,
//! `process.exit.code`, `process.exit.time`; `tracer.exit.signal` when a signal ended the
//! process; `process.linux.cgroup` (the `0::` line), `container.id` and `k8s.pod.uid` where
//! the event's placement knows them. The resource: `host.name`, `host.id`
//! (`/etc/machine-id`), `service.name` = `tracer`, then `OTEL_RESOURCE_ATTRIBUTES` and
//! `OTEL_SERVICE_NAME` over them.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{
    sync_channel, Receiver as Queue, RecvTimeoutError, SyncSender, TrySendError,
};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::{ExporterCounters, Next, RateLimited, Receiver};
use crate::event::{Details, Event};

/// Records per request at most.
pub const MAX_BATCH: usize = 512;
/// How long a record may wait for its batch to fill.
pub const BATCH_DELAY: Duration = Duration::from_secs(1);
/// Batches queued for sending at most (16,384 records).
pub const QUEUE_BATCHES: usize = 32;
/// Tries per batch before it is dropped.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first retry's delay; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// `SEVERITY_NUMBER_INFO`.
const SEVERITY_INFO: i32 = 9;

/// How records reach the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`, port 4318 by convention).
    HttpProtobuf,
    /// OTLP/gRPC (`grpc`, port 4317 by convention).
    Grpc,
}

impl Protocol {
    /// The value `--otlp-protocol` and `OTEL_EXPORTER_OTLP_PROTOCOL` take.
    pub fn parse(value: &str) -> Result<Protocol, String> {
        match value.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "grpc" => Ok(Protocol::Grpc),
            "http/json" => Err("the OTLP protocol http/json is not supported (use \
                                http/protobuf or grpc)"
                .into()),
            other => Err(format!(
                "the OTLP protocol must be grpc or http/protobuf, not '{other}'"
            )),
        }
    }

    /// Its name in the specification.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// Settings of the OTLP exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// Where log records go: over HTTP the endpoint with `/v1/logs`, over gRPC the
    /// collector's `scheme://host:port`.
    pub logs_url: String,
    /// How log records are sent.
    pub logs_protocol: Protocol,
    /// Where group metrics go (the endpoint with `/v1/metrics` over HTTP), when `--groups`
    /// is set.
    pub metrics_url: String,
    /// How group metrics are sent.
    pub metrics_protocol: Protocol,
    /// PEM certificates trusted for https endpoints instead of Mozilla's roots
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`'s file).
    pub ca_certificate: Option<Vec<u8>>,
    /// How often group metrics are sent (`OTEL_METRIC_EXPORT_INTERVAL`, 60 s by default).
    pub metrics_interval: Duration,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Vec<(String, String)>,
    /// The resource's attributes, in order (later ones win).
    pub resource: Vec<(String, String)>,
    /// Time allowed for one request.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// The configuration for `endpoint` (a flag, else `OTEL_EXPORTER_OTLP_ENDPOINT`) and
    /// `protocol` (a flag, else `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL` /
    /// `…_METRICS_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`), with
    /// the standard variables read through `env`: `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (used as
    /// is), `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (likewise),
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE` (a PEM file of CA certificates for https),
    /// `OTEL_EXPORTER_OTLP_HEADERS`
    /// and `…_LOGS_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` and `…_LOGS_TIMEOUT` (milliseconds),
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_SERVICE_NAME`.
    /// `None` when no endpoint is given: the exporter is off.
    pub fn from_env(
        endpoint: Option<&str>,
        protocol: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let protocol_of = |signal: &str| -> Result<Protocol, String> {
            match protocol {
                Some(p) => Protocol::parse(p).map_err(|e| format!("--otlp-protocol: {e}")),
                None => {
                    let name = format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL");
                    match env(&name) {
                        Some(p) => Protocol::parse(&p).map_err(|e| format!("{name}: {e}")),
                        None => match env("OTEL_EXPORTER_OTLP_PROTOCOL") {
                            Some(p) => Protocol::parse(&p)
                                .map_err(|e| format!("OTEL_EXPORTER_OTLP_PROTOCOL: {e}")),
                            None => Ok(Protocol::HttpProtobuf),
                        },
                    }
                }
            }
        };
        let logs_protocol = protocol_of("LOGS")?;
        let metrics_protocol = protocol_of("METRICS")?;
        let base = endpoint
            .map(str::to_string)
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let logs_url = match (endpoint, env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")) {
            (Some(base), _) => signal_url(base, "logs", logs_protocol),
            (None, Some(url)) => signal_url_as_is(&url, logs_protocol),
            (None, None) => match &base {
                Some(base) => signal_url(base, "logs", logs_protocol),
                None => return Ok(None),
            },
        };
        let metrics_url = match (endpoint, env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), &base) {
            (Some(base), _, _) => signal_url(base, "metrics", metrics_protocol),
            (None, Some(url), _) => signal_url_as_is(&url, metrics_protocol),
            (None, None, Some(base)) => signal_url(base, "metrics", metrics_protocol),
            // Only a logs URL: its collector, at the metrics path.
            (None, None, None) => signal_url(&logs_url, "metrics", metrics_protocol),
        };
        for url in [&logs_url, &metrics_url] {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with('/')) {
                return Err(format!(
                    "the OTLP endpoint must be an http:// or https:// URL with a host, not \
                     '{url}'"
                ));
            }
        }
        let ca_certificate = match env("OTEL_EXPORTER_OTLP_CERTIFICATE") {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path.trim()).map_err(|e| {
                    format!(
                        "OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read {}: {e}",
                        path.trim()
                    )
                })?;
                let certificates = ureq::tls::parse_pem(&pem)
                    .filter(|item| matches!(item, Ok(ureq::tls::PemItem::Certificate(_))))
                    .count();
                if certificates == 0 {
                    return Err(format!(
                        "OTEL_EXPORTER_OTLP_CERTIFICATE: {} holds no PEM certificate",
                        path.trim()
                    ));
                }
                Some(pem)
            }
        };
        let mut metrics_interval = Duration::from_secs(60);
        if let Some(ms) = env("OTEL_METRIC_EXPORT_INTERVAL") {
            let ms: u64 = ms.trim().parse().map_err(|_| {
                format!("OTEL_METRIC_EXPORT_INTERVAL must be a number of milliseconds, not '{ms}'")
            })?;
            metrics_interval = Duration::from_millis(ms.clamp(100, 86_400_000));
        }
        let mut headers = Vec::new();
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            if let Some(list) = env(name) {
                headers.extend(key_values(&list).map_err(|e| format!("{name}: {e}"))?);
            }
        }
        if logs_protocol == Protocol::Grpc || metrics_protocol == Protocol::Grpc {
            metadata(&headers).map_err(|e| format!("OTEL_EXPORTER_OTLP_HEADERS: {e}"))?;
        }
        let mut timeout = Duration::from_secs(10);
        for name in [
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        ] {
            if let Some(ms) = env(name) {
                let ms: u64 = ms
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be a number of milliseconds, not '{ms}'"))?;
                timeout = Duration::from_millis(ms.clamp(1, 600_000));
            }
        }
        let mut resource = vec![("service.name".to_string(), "tracer".to_string())];
        if let Some(name) = hostname() {
            resource.push(("host.name".into(), name));
        }
        if let Some(id) = machine_id() {
            resource.push(("host.id".into(), id));
        }
        if let Some(list) = env("OTEL_RESOURCE_ATTRIBUTES") {
            resource
                .extend(key_values(&list).map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: {e}"))?);
        }
        if let Some(name) = env("OTEL_SERVICE_NAME") {
            resource.push(("service.name".into(), name));
        }
        Ok(Some(OtlpConfig {
            logs_url,
            logs_protocol,
            metrics_url,
            metrics_protocol,
            ca_certificate,
            metrics_interval,
            headers,
            resource,
            timeout,
        }))
    }
}

/// The URL of a signal (`logs`, `metrics`) for a base endpoint, as the specification builds
/// it; a base that already ends with a signal's path is taken as the collector's address.
/// Over gRPC the path is not used: the collector's `scheme://host:port`.
fn signal_url(base: &str, signal: &str, protocol: Protocol) -> String {
    if protocol == Protocol::Grpc {
        return origin(base);
    }
    let base = base.trim().trim_end_matches('/');
    let base = ["/v1/logs", "/v1/metrics", "/v1/traces"]
        .iter()
        .find_map(|path| base.strip_suffix(path))
        .unwrap_or(base);
    format!("{base}/v1/{signal}")
}

/// A signal's own endpoint variable: used as is over HTTP, its origin over gRPC.
fn signal_url_as_is(url: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::HttpProtobuf => url.trim().to_string(),
        Protocol::Grpc => origin(url),
    }
}

/// `scheme://authority` of a URL (the whole string when it has no scheme).
fn origin(url: &str) -> String {
    let url = url.trim();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or_default();
            format!("{scheme}://{authority}")
        }
        None => url.trim_end_matches('/').to_string(),
    }
}

/// The headers as gRPC metadata (lower-case ASCII names, ASCII values).
fn metadata(headers: &[(String, String)]) -> Result<tonic::metadata::MetadataMap, String> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (name, value) in headers {
        let key =
            tonic::metadata::AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("'{name}' is not a valid gRPC metadata name"))?;
        let value = tonic::metadata::AsciiMetadataValue::try_from(value.as_str())
            .map_err(|_| format!("the value of '{name}' is not valid gRPC metadata (ASCII)"))?;
        map.append(key, value);
    }
    Ok(map)
}

/// `key=value,key2=value2`, percent-decoded (the W3C baggage form the variables use).
fn key_values(list: &str) -> Result<Vec<(String, String)>, String> {
    list.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not key=value"))?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s.trim())
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| format!("'{item}' is not UTF-8 once percent-decoded"))
            };
            let key = decode(key)?;
            if key.is_empty() {
                return Err(format!("'{item}' has an empty key"));
            }
            Ok((key, decode(value)?))
        })
        .collect()
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_string()).filter(|n| !n.is_empty())
}

fn machine_id() -> Option<String> {
    let id = std::fs::read_to_string("/etc/machine-id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

/// Starts the batching and the sending threads.
pub(crate) fn start(
    config: OtlpConfig,
    receiver: Receiver,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let (queue, batches) = sync_channel::<Vec<LogRecord>>(QUEUE_BATCHES);
    let counters = Arc::clone(receiver.counters());
    let stop = receiver.stop_flag();
    let guard = Arc::clone(&counters);
    let sender = Sender::new(config, counters, batches);
    let sending = std::thread::Builder::new()
        .name("tracer-otlp-send".into())
        .spawn(move || super::guarded(guard, || sender.run(&stop)))?;
    let guard = Arc::clone(receiver.counters());
    let batching = std::thread::Builder::new()
        .name("tracer-otlp".into())
        .spawn(move || super::guarded(guard, || batch(receiver, queue)))?;
    Ok(vec![batching, sending])
}

/// Receives events, turns them into records and hands full (or old enough) batches on.
fn batch(mut receiver: Receiver, queue: SyncSender<Vec<LogRecord>>) {
    let counters = Arc::clone(receiver.counters());
    let mut warning = RateLimited::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut oldest = Instant::now();
    loop {
        let wait = BATCH_DELAY.saturating_sub(oldest.elapsed());
        let next = receiver.next(if batch.is_empty() { BATCH_DELAY } else { wait });
        let stop = matches!(next, Next::Stop);
        if let Next::Event(event) = next {
            if batch.is_empty() {
                oldest = Instant::now();
            }
            batch.push(log_record(event));
        }
        let due = batch.len() >= MAX_BATCH
            || (!batch.is_empty() && oldest.elapsed() >= BATCH_DELAY)
            || stop;
        if due && !batch.is_empty() {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
            let n = full.len() as u64;
            counters.queued.fetch_add(n, Ordering::Relaxed);
            match queue.try_send(full) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    counters.queued.fetch_sub(n, Ordering::Relaxed);
                    ExporterCounters::add(&counters.dropped, n);
                    if warning.ready() {
                        tracing::warn!(
                            "OTLP export queue full ({QUEUE_BATCHES} batches: the collector at \
                             {} is slow or unreachable): {n} events dropped ({} in all)",
                            counters.target,
                            counters.dropped.load(Ordering::Relaxed)
                        );
                    }
                }
            }
        }
        if stop {
            return;
        }
    }
}

/// An event as an OpenTelemetry log record.
pub fn log_record(event: &Event) -> LogRecord {
    let kind = match event.details {
        Details::Fork { .. } => "process.fork",
        Details::Exec(_) => "process.exec",
        Details::Exit(_) => "process.exit",
    };
    let mut attributes = Vec::with_capacity(12);
    attributes.push(string("event.name", kind.to_string()));
    attributes.push(int("process.pid", event.id.pid.into()));
    attributes.push(int("process.parent_pid", event.ppid.into()));
    attributes.push(int("process.real_user.id", event.uid.into()));
    attributes.push(string("process.creation.time", rfc3339(event.create_time)));
    if let Some(cgroup) = event.placement.as_ref().and_then(|p| p.cgroup.as_ref()) {
        attributes.push(string(
            "process.linux.cgroup",
            format!("0::{}", cgroup.path.to_string_lossy()),
        ));
        if let Some(id) = cgroup.container.as_ref().and_then(|c| c.id.as_ref()) {
            attributes.push(string("container.id", id.clone()));
        }
        if let Some(pod) = &cgroup.pod_uid {
            attributes.push(string("k8s.pod.uid", pod.clone()));
        }
    }
    let name = event.name.to_string_lossy();
    match &event.details {
        Details::Fork { .. } => {
            attributes.push(string("process.executable.name", name.into_owned()));
        }
        Details::Exec(exec) => {
            let exe = exec.exe.as_ref().map(|exe| exe.to_string_lossy());
            let base = exe
                .as_deref()
                .and_then(|exe| exe.rsplit('/').next())
                .filter(|base| !base.is_empty())
                .map_or_else(|| name.clone().into_owned(), str::to_string);
            attributes.push(string("process.executable.name", base));
            if let Some(exe) = exe {
                attributes.push(string("process.executable.path", exe.into_owned()));
            }
            let args = exec
                .cmdline
                .iter()
                .map(|arg| AnyValue {
                    value: Some(any_value::Value::StringValue(
                        arg.to_string_lossy().into_owned(),
                    )),
                })
                .collect();
            attributes.push(KeyValue {
                key: "process.command_args".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue { values: args })),
                }),
                ..Default::default()
            });
            attributes.push(int("process.user.id", exec.uids[1].into()));
        }
        Details::Exit(exit) => {
            attributes.push(string("process.executable.name", name.into_owned()));
            if let Some(code) = exit.exit_code {
                attributes.push(int("process.exit.code", code.into()));
            }
            if let Some(signal) = exit.signal {
                attributes.push(int("tracer.exit.signal", signal.into()));
            }
            attributes.push(string("process.exit.time", rfc3339(event.time)));
        }
    }
    LogRecord {
        time_unix_nano: unix_nanos(event.time),
        observed_time_unix_nano: unix_nanos(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        ),
        severity_number: SEVERITY_INFO,
        severity_text: "INFO".into(),
        event_name: kind.into(),
        attributes,
        ..Default::default()
    }
}

pub(crate) fn string(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

pub(crate) fn unix_nanos(seconds: f64) -> u64 {
    // Whole seconds apart: a product of 1.7e18 would round away the nanoseconds.
    let seconds = seconds.max(0.0);
    let whole = seconds.trunc();
    (whole as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(((seconds - whole) * 1e9).round() as u64)
}

/// Seconds since the epoch as RFC 3339 in UTC with milliseconds (the conventions' form).
fn rfc3339(seconds: f64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0));
    humantime::format_rfc3339_millis(time).to_string()
}

/// Sends batches, retrying what may succeed later.
struct Sender {
    poster: Poster,
    batches: Queue<Vec<LogRecord>>,
    resource: Resource,
}

/// One export request, of either signal.
pub(crate) enum Payload {
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

impl Payload {
    /// What a 2xx answer's body says was rejected: the count and the message.
    fn partial(&self, body: &[u8]) -> Option<(u64, String)> {
        match self {
            Payload::Logs(_) => {
                let partial = ExportLogsServiceResponse::decode(body)
                    .ok()?
                    .partial_success?;
                Some((
                    partial.rejected_log_records.max(0) as u64,
                    partial.error_message,
                ))
            }
            Payload::Metrics(_) => {
                let partial = ExportMetricsServiceResponse::decode(body)
                    .ok()?
                    .partial_success?;
                Some((
                    partial.rejected_data_points.max(0) as u64,
                    partial.error_message,
                ))
            }
        }
    }
}

/// How requests reach the collector.
enum Transport {
    /// OTLP/HTTP: protobuf bodies POSTed with ureq.
    Http(ureq::Agent),
    /// OTLP/gRPC: opentelemetry-proto's tonic clients, driven by a runtime of this thread.
    Grpc {
        runtime: tokio::runtime::Runtime,
        channel: tonic::transport::Channel,
        metadata: tonic::metadata::MetadataMap,
    },
    /// The transport could not be set up (the reason): every batch is refused and counted.
    Broken(String),
}

/// A request's time limit once the agent is stopping: the final export fits in the agent's
/// 2 s stop budget.
const STOP_TIMEOUT: Duration = Duration::from_millis(1500);

/// Sends export requests to one OTLP URL (HTTP or gRPC), with retries and backoff, counting
/// how each ended in an exporter's counters (shared by the logs and the group metrics).
pub(crate) struct Poster {
    url: String,
    headers: Vec<(String, String)>,
    counters: Arc<ExporterCounters>,
    transport: Transport,
    timeout: Duration,
    warning: RateLimited,
    failing: bool,
}

/// How one request went.
enum Outcome {
    Accepted {
        rejected: u64,
        message: String,
    },
    Retry {
        error: String,
        after: Option<Duration>,
    },
    Refused(String),
}

/// The resource of every request: the configured attributes, the last of each key winning.
pub(crate) fn resource(config: &OtlpConfig) -> Resource {
    let mut resource: Vec<(String, String)> = Vec::new();
    for (key, value) in &config.resource {
        resource.retain(|(k, _)| k != key);
        resource.push((key.clone(), value.clone()));
    }
    Resource {
        attributes: resource.into_iter().map(|(k, v)| string(&k, v)).collect(),
        ..Default::default()
    }
}

/// The scope of every request.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "tracer".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

impl Sender {
    fn new(
        config: OtlpConfig,
        counters: Arc<ExporterCounters>,
        batches: Queue<Vec<LogRecord>>,
    ) -> Sender {
        let resource = resource(&config);
        let poster = Poster::new(
            &config,
            config.logs_url.clone(),
            config.logs_protocol,
            counters,
        );
        Sender {
            poster,
            batches,
            resource,
        }
    }

    fn run(mut self, stop: &std::sync::atomic::AtomicBool) {
        loop {
            let batch = match self.batches.recv_timeout(Duration::from_millis(100)) {
                Ok(batch) => batch,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let n = batch.len() as u64;
            self.poster.counters.queued.fetch_sub(n, Ordering::Relaxed);
            let payload = Payload::Logs(self.request(batch));
            self.poster.deliver(&payload, n, "records", stop);
        }
    }

    fn request(&self, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

impl Poster {
    pub(crate) fn new(
        config: &OtlpConfig,
        url: String,
        protocol: Protocol,
        counters: Arc<ExporterCounters>,
    ) -> Poster {
        let transport = match protocol {
            Protocol::HttpProtobuf => Transport::Http(http_agent(config)),
            Protocol::Grpc => grpc_transport(config, &url).unwrap_or_else(|error| {
                let error = format!("cannot set up OTLP/gRPC to {url}: {error}");
                tracing::error!("{error}");
                Transport::Broken(error)
            }),
        };
        Poster {
            url,
            headers: config.headers.clone(),
            counters,
            transport,
            timeout: config.timeout,
            warning: RateLimited::default(),
            failing: false,
        }
    }

    /// Sends one request of `n` items (`what`: records, data points), with retries; counts
    /// how it ended.
    pub(crate) fn deliver(
        &mut self,
        payload: &Payload,
        n: u64,
        what: &str,
        stop: &std::sync::atomic::AtomicBool,
    ) {
        let body = match (&self.transport, payload) {
            (Transport::Http(_), Payload::Logs(request)) => request.encode_to_vec(),
            (Transport::Http(_), Payload::Metrics(request)) => request.encode_to_vec(),
            _ => Vec::new(),
        };
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                ExporterCounters::add(&self.counters.retries, 1);
            }
            let timeout = if stop.load(Ordering::Relaxed) {
                self.timeout.min(STOP_TIMEOUT)
            } else {
                self.timeout
            };
            let outcome = match &self.transport {
                Transport::Http(agent) => self.post(agent, payload, &body, timeout),
                Transport::Grpc {
                    runtime,
                    channel,
                    metadata,
                } => grpc_export(runtime, channel, metadata, payload, timeout),
                Transport::Broken(error) => Outcome::Refused(error.clone()),
            };
            match outcome {
                Outcome::Accepted { rejected, message } => {
                    let rejected = rejected.min(n);
                    ExporterCounters::add(&self.counters.exported, n - rejected);
                    if rejected > 0 {
                        ExporterCounters::add(&self.counters.dropped, rejected);
                        self.report(format!(
                            "the collector rejected {rejected} of {n} {what}: {message}"
                        ));
                    } else if std::mem::take(&mut self.failing) {
                        tracing::info!("OTLP export to {} works again", self.url);
                        self.warning.reset();
                    }
                    return;
                }
                Outcome::Refused(error) => {
                    ExporterCounters::add(&self.counters.dropped, n);
                    self.report(format!("{error}: {n} {what} dropped"));
                    return;
                }
                Outcome::Retry { error, after } => {
                    let last = attempt == MAX_ATTEMPTS;
                    if last {
                        ExporterCounters::add(&self.counters.dropped, n);
                        self.report(format!(
                            "{error}; gave up after {MAX_ATTEMPTS} tries: {n} {what} dropped"
                        ));
                        return;
                    }
                    self.report(format!("{error}; retrying"));
                    let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    // At stop, one try is all a batch gets.
                    if !super::sleep_unless_stopping(stop, wait) {
                        ExporterCounters::add(&self.counters.dropped, n);
                        return;
                    }
                }
            }
        }
    }

    fn report(&mut self, error: String) {
        self.failing = true;
        if self.warning.ready() {
            tracing::warn!("OTLP export to {}: {error}", self.url);
        }
        self.counters.failed(error);
    }

    fn post(
        &self,
        agent: &ureq::Agent,
        payload: &Payload,
        body: &[u8],
        timeout: Duration,
    ) -> Outcome {
        let mut request = agent
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = match request
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body)
        {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry {
                    error: format!("request failed: {e}"),
                    after: None,
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => {
                let (rejected, message) = payload.partial(&answer).unwrap_or_default();
                Outcome::Accepted { rejected, message }
            }
            429 | 502 | 503 | 504 => Outcome::Retry {
                error: format!("the collector answered {status}"),
                after: retry_after,
            },
            _ => Outcome::Refused(format!("the collector refused the data ({status})")),
        }
    }
}

/// The OTLP/HTTP client: https with rustls, trusting `OTEL_EXPORTER_OTLP_CERTIFICATE`'s
/// certificates when given, Mozilla's roots otherwise.
fn http_agent(config: &OtlpConfig) -> ureq::Agent {
    let mut builder = ureq::Agent::config_builder()
        .timeout_global(Some(config.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("tracer/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &config.ca_certificate {
        let certificates: Vec<_> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        builder = builder.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certificates)))
                .build(),
        );
    }
    builder.build().into()
}

/// The OTLP/gRPC channel (connected lazily, reconnecting as needed) and its runtime.
fn grpc_transport(config: &OtlpConfig, url: &str) -> Result<Transport, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("not a valid endpoint: {e}"))?
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        .user_agent(concat!("tracer/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| e.to_string())?;
    if url.starts_with("https://") {
        let tls = tonic::transport::ClientTlsConfig::new();
        let tls = match &config.ca_certificate {
            Some(pem) => tls.ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            None => tls.with_webpki_roots(),
        };
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = {
        let _context = runtime.enter();
        endpoint.connect_lazy()
    };
    Ok(Transport::Grpc {
        runtime,
        channel,
        metadata: metadata(&config.headers)?,
    })
}

/// One OTLP/gRPC export call.
fn grpc_export(
    runtime: &tokio::runtime::Runtime,
    channel: &tonic::transport::Channel,
    metadata: &tonic::metadata::MetadataMap,
    payload: &Payload,
    timeout: Duration,
) -> Outcome {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use tonic::Code;
    fn request<T>(
        message: T,
        metadata: &tonic::metadata::MetadataMap,
        timeout: Duration,
    ) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = metadata.clone();
        request.set_timeout(timeout);
        request
    }
    // The call's whole time, connecting included, is bounded here (the endpoint's own limit
    // is the configured one; at stop this one is shorter). The timer is made inside the
    // runtime: it needs the runtime's time driver.
    let answer = runtime.block_on(async {
        tokio::time::timeout(timeout, async {
            match payload {
                Payload::Logs(logs) => LogsServiceClient::new(channel.clone())
                    .export(request(logs.clone(), metadata, timeout))
                    .await
                    .map(|answer| {
                        answer
                            .into_inner()
                            .partial_success
                            .map(|p| (p.rejected_log_records.max(0) as u64, p.error_message))
                    }),
                Payload::Metrics(metrics) => MetricsServiceClient::new(channel.clone())
                    .export(request(metrics.clone(), metadata, timeout))
                    .await
                    .map(|answer| {
                        answer
                            .into_inner()
                            .partial_success
                            .map(|p| (p.rejected_data_points.max(0) as u64, p.error_message))
                    }),
            }
        })
        .await
    });
    let Ok(answer) = answer else {
        return Outcome::Retry {
            error: format!("no answer within {} ms", timeout.as_millis()),
            after: None,
        };
    };
    match answer {
        Ok(partial) => {
            let (rejected, message) = partial.unwrap_or_default();
            Outcome::Accepted { rejected, message }
        }
        Err(status) => {
            let mut message: String = status.message().chars().take(200).collect();
            if message.is_empty() {
                message = "no message".into();
            }
            let error = format!("the collector answered {:?} ({message})", status.code());
            match status.code() {
                // The specification's retryable codes.
                Code::Unavailable
                | Code::ResourceExhausted
                | Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::OutOfRange
                | Code::DataLoss => Outcome::Retry { error, after: None },
                _ => Outcome::Refused(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Backend, Exec, Exit, ProcessId};
    use std::ffi::OsString;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn endpoint_and_standard_variables() {
        assert_eq!(OtlpConfig::from_env(None, None, env(&[])), Ok(None));
        let config = OtlpConfig::from_env(
            None,
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "api-key=s%3Dcret, x-team = sre",
                ),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,service.name=edge",
                ),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.logs_url, "http://collector:4318/v1/logs");
        assert_eq!(config.metrics_url, "http://collector:4318/v1/metrics");
        assert_eq!(config.metrics_interval, Duration::from_secs(60));
        assert_eq!(
            config.headers,
            [
                ("api-key".into(), "s=cret".into()),
                ("x-team".into(), "sre".into())
            ]
        );
        assert_eq!(config.timeout, Duration::from_millis(2500));
        assert_eq!(config.resource[0], ("service.name".into(), "tracer".into()));
        assert!(config
            .resource
            .contains(&("deployment.environment".into(), "prod".into())));
        assert_eq!(
            config.resource.last(),
            Some(&("service.name".into(), "edge".into()))
        );
        // The flag wins over the variables; a full logs URL is kept as it is.
        let flag = OtlpConfig::from_env(
            Some("http://127.0.0.1:4318/v1/logs"),
            None,
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(flag.logs_url, "http://127.0.0.1:4318/v1/logs");
        assert_eq!(flag.metrics_url, "http://127.0.0.1:4318/v1/metrics");
        let own = OtlpConfig::from_env(
            None,
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:1/v1/logs"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:2/x"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (own.logs_url.as_str(), own.metrics_url.as_str()),
            ("http://logs:1/v1/logs", "http://metrics:2/x")
        );
        assert_eq!(own.metrics_interval, Duration::from_millis(250));
        for bad in [
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:4318")],
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http:///v1/logs")],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "udp"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "bad%20name=x"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/hostname"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1m"),
            ],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "c:4318/v1/metrics"),
            ],
        ] {
            let error = OtlpConfig::from_env(None, None, env(&bad)).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn grpc_and_https() {
        // The flag wins; over gRPC the endpoint's path is not used.
        let grpc = OtlpConfig::from_env(
            Some("https://collector:4317/"),
            Some("grpc"),
            env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (grpc.logs_protocol, grpc.metrics_protocol),
            (Protocol::Grpc, Protocol::Grpc)
        );
        assert_eq!(grpc.logs_url, "https://collector:4317");
        assert_eq!(grpc.metrics_url, "https://collector:4317");
        // The standard variable, and a signal's own over it.
        let mixed = OtlpConfig::from_env(
            None,
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317/v1/logs"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20x"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(mixed.logs_protocol, Protocol::Grpc);
        assert_eq!(mixed.logs_url, "http://c:4317");
        assert_eq!(mixed.metrics_protocol, Protocol::HttpProtobuf);
        assert_eq!(mixed.metrics_url, "http://c:4317/v1/metrics");
        let map = metadata(&mixed.headers).unwrap();
        assert_eq!(
            map.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer x")
        );
        assert_eq!(Protocol::parse("grpc").map(Protocol::name), Ok("grpc"));
    }

    fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    #[test]
    fn exec_and_exit_carry_the_semantic_conventions_attributes() {
        let base = Event {
            time: 1_700_000_000.25,
            id: ProcessId {
                pid: 42,
                start_ticks: 1,
            },
            create_time: 1_700_000_000.0,
            ppid: 7,
            uid: 1000,
            gid: 1000,
            name: OsString::from("sh"),
            backend: Backend::Ebpf,
            placement: None,
            details: Details::Exec(Box::new(Exec {
                exe: Some("/usr/bin/dash".into()),
                cmdline: vec!["sh".into(), "-c".into(), "exit 7".into()],
                uids: [1000, 0, 0],
                gids: [1000; 3],
                cmdline_truncated: false,
                cmdline_bytes: 13,
                exe_truncated: false,
            })),
        };
        let exec = log_record(&base);
        assert_eq!(exec.event_name, "process.exec");
        assert_eq!(exec.time_unix_nano, 1_700_000_000_250_000_000);
        let s = |v: &str| Some(any_value::Value::StringValue(v.into()));
        assert_eq!(attribute(&exec, "event.name").cloned(), s("process.exec"));
        assert_eq!(
            attribute(&exec, "process.executable.path").cloned(),
            s("/usr/bin/dash")
        );
        assert_eq!(
            attribute(&exec, "process.executable.name").cloned(),
            s("dash")
        );
        assert_eq!(
            attribute(&exec, "process.creation.time").cloned(),
            s("2023-11-14T22:13:20.000Z")
        );
        assert_eq!(
            attribute(&exec, "process.user.id").cloned(),
            Some(any_value::Value::IntValue(0))
        );
        assert_eq!(
            attribute(&exec, "process.parent_pid").cloned(),
            Some(any_value::Value::IntValue(7))
        );
        let Some(any_value::Value::ArrayValue(args)) = attribute(&exec, "process.command_args")
        else {
            panic!("no command_args: {exec:?}");
        };
        assert_eq!(args.values.len(), 3);
        let exit = log_record(&Event {
            details: Details::Exit(Exit::from_wait_status(7 << 8, 0.25)),
            ..base.clone()
        });
        assert_eq!(
            attribute(&exit, "process.exit.code").cloned(),
            Some(any_value::Value::IntValue(7))
        );
        assert_eq!(
            attribute(&exit, "process.exit.time").cloned(),
            s("2023-11-14T22:13:20.250Z")
        );
        assert!(attribute(&exit, "tracer.exit.signal").is_none());
        assert!(attribute(&exit, "container.id").is_none());

        // Where the placement knows the cgroup, container and pod, they are attributes.
        use crate::host::container::{Cgroup, Container, Placement};
        let id = "a".repeat(64);
        let placed = log_record(&Event {
            placement: Some(std::sync::Arc::new(Placement {
                cgroup: Some(std::sync::Arc::new(Cgroup {
                    path: "/kubepods.slice/pod1/cri-containerd-x.scope".into(),
                    id: Some(7),
                    container: Some(Container {
                        id: Some(id.clone()),
                        runtime: Some("containerd"),
                    }),
                    pod_uid: Some("0f1e2d3c-0000-4000-8000-000000000001".into()),
                })),
                namespaces: Default::default(),
                vpid: None,
                vppid: None,
            })),
            ..base
        });
        assert_eq!(
            attribute(&placed, "process.linux.cgroup").cloned(),
            s("0::/kubepods.slice/pod1/cri-containerd-x.scope")
        );
        assert_eq!(attribute(&placed, "container.id").cloned(), s(&id));
        assert_eq!(
            attribute(&placed, "k8s.pod.uid").cloned(),
            s("0f1e2d3c-0000-4000-8000-000000000001")
        );
    }
}
