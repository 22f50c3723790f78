//! `tracer agent --otlp-endpoint URL`: every lifecycle event as an OpenTelemetry log record,
//! sent over OTLP/HTTP with protobuf bodies to a collector.
//!
//! The messages are OpenTelemetry's own generated types (`opentelemetry-proto`, prost), the
//! requests go out through `ureq`. Not `opentelemetry-otlp`'s log exporter: it sits behind the
//! SDK's logger and batch processor, whose queue drops without telling us how many — here
//! every drop is counted in `tracer stats` and the metrics.
//!
//! Two threads: one receives the events, turns them into log records and batches them (512
//! records or 1 s, OpenTelemetry's batch defaults); it never waits on the network. The other
//! sends the batches. Between them a queue of [`QUEUE_BATCHES`] batches: when the collector is
//! slow or gone and the queue is full, new batches are dropped and counted. A request that
//! fails with 429, 502, 503, 504 or no connection is retried with exponential backoff
//! (honouring `Retry-After`) up to [`MAX_ATTEMPTS`] times, then its batch is dropped and
//! counted; any other refusal drops the batch at once.
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

/// Settings of the OTLP exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// Where log records are POSTed (the endpoint with `/v1/logs`).
    pub logs_url: String,
    /// Where group metrics are POSTed (the endpoint with `/v1/metrics`), when `--groups` is
    /// set.
    pub metrics_url: String,
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
    /// The configuration for `endpoint` (a flag, else `OTEL_EXPORTER_OTLP_ENDPOINT`), with the
    /// standard variables read through `env`: `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (used as
    /// is), `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (likewise), `OTEL_EXPORTER_OTLP_HEADERS`
    /// and `…_LOGS_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` and `…_LOGS_TIMEOUT` (milliseconds),
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_SERVICE_NAME`.
    /// `None` when no endpoint is given: the exporter is off.
    pub fn from_env(
        endpoint: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let base = endpoint
            .map(str::to_string)
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let logs_url = match (endpoint, env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")) {
            (Some(base), _) => signal_url(base, "logs"),
            (None, Some(url)) => url.trim().to_string(),
            (None, None) => match &base {
                Some(base) => signal_url(base, "logs"),
                None => return Ok(None),
            },
        };
        let metrics_url = match (endpoint, env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), &base) {
            (Some(base), _, _) => signal_url(base, "metrics"),
            (None, Some(url), _) => url.trim().to_string(),
            (None, None, Some(base)) => signal_url(base, "metrics"),
            // Only a logs URL: its collector, at the metrics path.
            (None, None, None) => signal_url(&logs_url, "metrics"),
        };
        for url in [&logs_url, &metrics_url] {
            if !url.starts_with("http://") {
                return Err(format!(
                    "the OTLP endpoint must be an http:// URL (OTLP/HTTP to a collector; https \
                     is not built in), not '{url}'"
                ));
            }
        }
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
            metrics_url,
            metrics_interval,
            headers,
            resource,
            timeout,
        }))
    }
}

/// The URL of a signal (`logs`, `metrics`) for a base endpoint, as the specification builds
/// it; a base that already ends with a signal's path is taken as the collector's address.
fn signal_url(base: &str, signal: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let base = ["/v1/logs", "/v1/metrics", "/v1/traces"]
        .iter()
        .find_map(|path| base.strip_suffix(path))
        .unwrap_or(base);
    format!("{base}/v1/{signal}")
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
            batch.push(log_record(&event));
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

/// POSTs protobuf bodies to one OTLP/HTTP URL, with retries and backoff, counting how each
/// ended in an exporter's counters (shared by the logs and the group metrics).
pub(crate) struct Poster {
    url: String,
    headers: Vec<(String, String)>,
    counters: Arc<ExporterCounters>,
    agent: ureq::Agent,
    /// What a 2xx answer's body says was rejected: the count and the message.
    partial: fn(&[u8]) -> Option<(u64, String)>,
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
        let poster = Poster::new(&config, config.logs_url.clone(), counters, |body| {
            let partial = ExportLogsServiceResponse::decode(body)
                .ok()?
                .partial_success?;
            Some((
                partial.rejected_log_records.max(0) as u64,
                partial.error_message,
            ))
        });
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
            let body = self.request(batch).encode_to_vec();
            self.poster.deliver(&body, n, "records", stop);
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
        counters: Arc<ExporterCounters>,
        partial: fn(&[u8]) -> Option<(u64, String)>,
    ) -> Poster {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("tracer/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Poster {
            url,
            headers: config.headers.clone(),
            counters,
            agent,
            partial,
            warning: RateLimited::default(),
            failing: false,
        }
    }

    /// Sends one body of `n` items (`what`: records, data points), with retries; counts how
    /// it ended.
    pub(crate) fn deliver(
        &mut self,
        body: &[u8],
        n: u64,
        what: &str,
        stop: &std::sync::atomic::AtomicBool,
    ) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                ExporterCounters::add(&self.counters.retries, 1);
            }
            match self.post(body) {
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

    fn post(&self, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = match request.send(body) {
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
        let payload = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => {
                let (rejected, message) = (self.partial)(&payload).unwrap_or_default();
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
        assert_eq!(OtlpConfig::from_env(None, env(&[])), Ok(None));
        let config = OtlpConfig::from_env(
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
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(flag.logs_url, "http://127.0.0.1:4318/v1/logs");
        assert_eq!(flag.metrics_url, "http://127.0.0.1:4318/v1/metrics");
        let own = OtlpConfig::from_env(
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
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")],
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
                (
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                    "https://c:4318/v1/metrics",
                ),
            ],
        ] {
            let error = OtlpConfig::from_env(None, env(&bad)).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
        }
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
