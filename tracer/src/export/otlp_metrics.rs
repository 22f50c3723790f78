//! `tracer agent --groups FILE --otlp-endpoint URL`: the groups' figures as OTLP metrics,
//! POSTed to the collector's `/v1/metrics` every `OTEL_METRIC_EXPORT_INTERVAL` (60 s by
//! default), from [`Groups::scrape`]'s typed [`Snapshot`] (the same scrape `--metrics`
//! serves; nothing is parsed back from text).
//!
//! Names follow OpenTelemetry's semantic conventions where one applies, with every data point
//! carrying the group's name as `tracer.group.name` (process-exporter's `groupname`):
//!
//! | metric | kind, unit | process-exporter's family |
//! |---|---|---|
//! | `process.cpu.time` {`cpu.mode`: user, system} | counter, s | `cpu_seconds_total{mode}` |
//! | `process.disk.io` {`disk.io.direction`: read, write} | counter, By | `read_bytes_total`, `write_bytes_total` |
//! | `process.paging.faults` {`system.paging.fault.type`: major, minor} | counter, {fault} | `major_page_faults_total`, `minor_page_faults_total` |
//! | `process.context_switches` {`process.context_switch.type`: voluntary, involuntary} | counter, {context_switch} | `context_switches_total{ctxswitchtype}` |
//! | `process.memory.usage` | up-down counter, By | `memory_bytes{memtype="resident"}` |
//! | `process.memory.virtual` | up-down counter, By | `memory_bytes{memtype="virtual"}` |
//! | `process.thread.count` | up-down counter, {thread} | `num_threads` |
//! | `process.unix.file_descriptor.count` | up-down counter, {file_descriptor} | `open_filedesc` |
//! | `tracer.group.process.count` | up-down counter, {process} | `num_procs` |
//! | `tracer.group.process.state.count` {`process.state`: running, sleeping, waiting, zombie, other} | up-down counter, {process} | `states{state}` |
//! | `tracer.group.memory` {`tracer.memory.type`: swap, proportional_resident, proportional_swap} | up-down counter, By | `memory_bytes{memtype=swapped, proportionalResident, proportionalSwapped}` |
//! | `tracer.group.file_descriptor.worst_ratio` | gauge, 1 | `worst_fd_ratio` |
//! | `tracer.group.oldest_start_time` | gauge, s since the epoch | `oldest_start_time_seconds` |
//!
//! Counters are cumulative from the exporter's start (the groups' counters never go back);
//! when the agent stops, one last export (one try, within the stop budget) sends the final
//! figures. The delivery (HTTP or gRPC, as `--otlp-protocol` says; retries, backoff, drops
//! counted as data points in the `otlp-metrics` exporter's counters) is the log exporter's
//! (`otlp.rs`'s `Poster`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};

use super::otlp::{self, OtlpConfig, Payload, Poster};
use super::ExporterCounters;
use crate::groups::{GroupSample, Groups, Snapshot};

/// The attribute naming a data point's group.
pub const GROUP_ATTRIBUTE: &str = "tracer.group.name";

/// Starts the thread that scrapes the groups and sends their metrics.
pub(crate) fn start(
    config: OtlpConfig,
    groups: Groups,
    counters: Arc<ExporterCounters>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let guard = Arc::clone(&counters);
    std::thread::Builder::new()
        .name("tracer-otlp-metrics".into())
        .spawn(move || super::guarded(guard, || run(config, groups, counters, &stop)))
}

fn run(config: OtlpConfig, groups: Groups, counters: Arc<ExporterCounters>, stop: &AtomicBool) {
    let resource = otlp::resource(&config);
    let mut poster = Poster::new(
        &config,
        config.metrics_url.clone(),
        config.metrics_protocol,
        counters,
    );
    let start = now_ns();
    loop {
        // When the agent stops, the groups' last figures go out before the thread ends.
        let running = super::sleep_unless_stopping(stop, config.metrics_interval);
        let snapshot = groups.scrape();
        let metrics = metrics(&snapshot, start, now_ns());
        let points = metrics.iter().map(data_points).sum::<usize>() as u64;
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(otlp::scope()),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        poster.deliver(&Payload::Metrics(request), points, "data points", stop);
        if !running {
            return;
        }
    }
}

fn now_ns() -> u64 {
    otlp::unix_nanos(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    )
}

fn data_points(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Sum(sum)) => sum.data_points.len(),
        Some(Data::Gauge(gauge)) => gauge.data_points.len(),
        _ => 0,
    }
}

/// A number, as a data point's value.
#[derive(Clone, Copy)]
enum Number {
    Int(u64),
    Double(f64),
}

/// The groups' metrics: every family with one data point per group (and attribute value).
pub fn metrics(snapshot: &Snapshot, start_ns: u64, now_ns: u64) -> Vec<Metric> {
    type Values = fn(&GroupSample) -> Vec<(Option<(&'static str, &'static str)>, Number)>;
    // (name, description, unit, monotonic: Some(true) counter, Some(false) up-down, None gauge)
    let families: [(&str, &str, &str, Option<bool>, Values); 13] = [
        (
            "process.cpu.time",
            "CPU seconds of the group's processes, those that exited included",
            "s",
            Some(true),
            |g| {
                vec![
                    (
                        Some(("cpu.mode", "user")),
                        Number::Double(g.counts.cpu_user),
                    ),
                    (
                        Some(("cpu.mode", "system")),
                        Number::Double(g.counts.cpu_system),
                    ),
                ]
            },
        ),
        (
            "process.disk.io",
            "Bytes read from and written to storage by the group's processes",
            "By",
            Some(true),
            |g| {
                vec![
                    (
                        Some(("disk.io.direction", "read")),
                        Number::Int(g.counts.read_bytes),
                    ),
                    (
                        Some(("disk.io.direction", "write")),
                        Number::Int(g.counts.write_bytes),
                    ),
                ]
            },
        ),
        (
            "process.paging.faults",
            "Page faults of the group's processes",
            "{fault}",
            Some(true),
            |g| {
                vec![
                    (
                        Some(("system.paging.fault.type", "major")),
                        Number::Int(g.counts.major_faults),
                    ),
                    (
                        Some(("system.paging.fault.type", "minor")),
                        Number::Int(g.counts.minor_faults),
                    ),
                ]
            },
        ),
        (
            "process.context_switches",
            "Context switches of the group's processes",
            "{context_switch}",
            Some(true),
            |g| {
                vec![
                    (
                        Some(("process.context_switch.type", "voluntary")),
                        Number::Int(g.counts.ctx_voluntary),
                    ),
                    (
                        Some(("process.context_switch.type", "involuntary")),
                        Number::Int(g.counts.ctx_involuntary),
                    ),
                ]
            },
        ),
        (
            "process.memory.usage",
            "Resident memory of the group's live processes",
            "By",
            Some(false),
            |g| vec![(None, Number::Int(g.resident))],
        ),
        (
            "process.memory.virtual",
            "Virtual memory of the group's live processes",
            "By",
            Some(false),
            |g| vec![(None, Number::Int(g.virtual_))],
        ),
        (
            "process.thread.count",
            "Threads of the group's live processes",
            "{thread}",
            Some(false),
            |g| vec![(None, Number::Int(g.threads))],
        ),
        (
            "process.unix.file_descriptor.count",
            "Open file descriptors of the group's live processes",
            "{file_descriptor}",
            Some(false),
            |g| vec![(None, Number::Int(g.open_fds))],
        ),
        (
            "tracer.group.process.count",
            "Live processes in the group",
            "{process}",
            Some(false),
            |g| vec![(None, Number::Int(g.procs))],
        ),
        (
            "tracer.group.process.state.count",
            "Live processes in the group by state",
            "{process}",
            Some(false),
            |g| {
                ["running", "sleeping", "waiting", "zombie", "other"]
                    .into_iter()
                    .zip(g.states)
                    .map(|(state, n)| (Some(("process.state", state)), Number::Int(n)))
                    .collect()
            },
        ),
        (
            "tracer.group.memory",
            "Swapped and proportional memory of the group's live processes",
            "By",
            Some(false),
            |g| {
                vec![
                    (Some(("tracer.memory.type", "swap")), Number::Int(g.swapped)),
                    (
                        Some(("tracer.memory.type", "proportional_resident")),
                        Number::Int(g.proportional_resident),
                    ),
                    (
                        Some(("tracer.memory.type", "proportional_swap")),
                        Number::Int(g.proportional_swapped),
                    ),
                ]
            },
        ),
        (
            "tracer.group.file_descriptor.worst_ratio",
            "The highest ratio of open descriptors to their limit among the group's processes",
            "1",
            None,
            |g| vec![(None, Number::Double(g.worst_fd_ratio))],
        ),
        (
            "tracer.group.oldest_start_time",
            "Start time of the group's oldest live process, seconds since the epoch",
            "s",
            None,
            |g| vec![(None, Number::Double(g.oldest_start_time))],
        ),
    ];
    families
        .iter()
        .map(|&(name, description, unit, monotonic, values)| {
            let mut points = Vec::with_capacity(snapshot.groups.len() * 2);
            for group in &snapshot.groups {
                for (attribute, value) in values(group) {
                    let mut attributes: Vec<KeyValue> =
                        vec![otlp::string(GROUP_ATTRIBUTE, group.name.to_string())];
                    if let Some((key, value)) = attribute {
                        attributes.push(otlp::string(key, value.to_string()));
                    }
                    points.push(NumberDataPoint {
                        attributes,
                        start_time_unix_nano: if monotonic.is_some() { start_ns } else { 0 },
                        time_unix_nano: now_ns,
                        value: Some(match value {
                            Number::Int(n) => number_data_point::Value::AsInt(
                                i64::try_from(n).unwrap_or(i64::MAX),
                            ),
                            Number::Double(x) => number_data_point::Value::AsDouble(x),
                        }),
                        ..Default::default()
                    });
                }
            }
            let data = match monotonic {
                Some(is_monotonic) => Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic,
                }),
                None => Data::Gauge(Gauge {
                    data_points: points,
                }),
            };
            Metric {
                name: name.into(),
                description: description.into(),
                unit: unit.into(),
                data: Some(data),
                ..Default::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::Counts;

    #[test]
    fn families_carry_each_group_and_its_attributes() {
        let snapshot = Snapshot {
            groups: vec![GroupSample {
                name: "web".into(),
                counts: Counts {
                    cpu_user: 1.5,
                    cpu_system: 0.25,
                    read_bytes: 4096,
                    ..Counts::default()
                },
                procs: 3,
                resident: 1 << 20,
                states: [1, 2, 0, 0, 0],
                oldest_start_time: 1_700_000_000.0,
                ..GroupSample::default()
            }],
            ..Snapshot::default()
        };
        let metrics = metrics(&snapshot, 10, 20);
        let find = |name: &str| metrics.iter().find(|m| m.name == name).unwrap();
        let Some(Data::Sum(cpu)) = &find("process.cpu.time").data else {
            panic!("process.cpu.time is a sum");
        };
        assert!(cpu.is_monotonic);
        assert_eq!(
            cpu.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let point = |p: &NumberDataPoint| {
            let attrs: Vec<(String, String)> =
                p.attributes
                    .iter()
                    .map(|kv| {
                        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            s,
                        )) => s.clone(),
                        other => panic!("{other:?}"),
                    };
                        (kv.key.clone(), value)
                    })
                    .collect();
            (attrs, p.value, p.start_time_unix_nano)
        };
        assert_eq!(
            point(&cpu.data_points[1]),
            (
                vec![
                    ("tracer.group.name".into(), "web".into()),
                    ("cpu.mode".into(), "system".into())
                ],
                Some(number_data_point::Value::AsDouble(0.25)),
                10
            )
        );
        let Some(Data::Sum(procs)) = &find("tracer.group.process.count").data else {
            panic!("a sum");
        };
        assert!(!procs.is_monotonic);
        assert_eq!(
            procs.data_points[0].value,
            Some(number_data_point::Value::AsInt(3))
        );
        let Some(Data::Gauge(oldest)) = &find("tracer.group.oldest_start_time").data else {
            panic!("a gauge");
        };
        assert_eq!(oldest.data_points[0].time_unix_nano, 20);
        assert_eq!(find("process.memory.usage").unit, "By");
        assert_eq!(metrics.iter().map(data_points).sum::<usize>(), 23);
    }
}
