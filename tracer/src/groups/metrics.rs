//! The groups as process-exporter's metric families (`collector/process_collector.go`): the
//! same names, labels, help and types, so its dashboards work unchanged, plus tracer's own
//! `tracer_groups_*` counters of the accounting.
//!
//! The endpoint speaks OpenMetrics, where a counter's samples end in `_total`: the counter
//! families are declared without it and Prometheus stores the very names process-exporter
//! serves. process-exporter's three scrape error counters have no `_total` (an OpenMetrics
//! counter must), so they are served as `unknown`, keeping their names.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::{GroupSample, Snapshot};

/// One scrape of the groups, for the registry.
#[derive(Debug)]
pub(crate) struct GroupsCollector(pub(crate) Snapshot);

/// A label value as the text format needs it (`prometheus-client` writes values as given).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

type Sampler = fn(&GroupSample) -> f64;
/// A family with a second label: name, help, type, the label, its values and their samples.
type Labelled<'a> = (
    &'a str,
    &'a str,
    MetricType,
    &'a str,
    Vec<(&'a str, Sampler)>,
);

impl Collector for GroupsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let groups = &self.0.groups;
        let names: Vec<String> = groups.iter().map(|g| escape(&g.name)).collect();
        // Families with the group label alone.
        let plain: [(&str, &str, MetricType, Sampler); 9] = [
            (
                "namedprocess_namegroup_num_procs",
                "number of processes in this group",
                Gauge,
                |g| g.procs as f64,
            ),
            (
                "namedprocess_namegroup_read_bytes",
                "number of bytes read by this group",
                Counter,
                |g| g.counts.read_bytes as f64,
            ),
            (
                "namedprocess_namegroup_write_bytes",
                "number of bytes written by this group",
                Counter,
                |g| g.counts.write_bytes as f64,
            ),
            (
                "namedprocess_namegroup_major_page_faults",
                "Major page faults",
                Counter,
                |g| g.counts.major_faults as f64,
            ),
            (
                "namedprocess_namegroup_minor_page_faults",
                "Minor page faults",
                Counter,
                |g| g.counts.minor_faults as f64,
            ),
            (
                "namedprocess_namegroup_open_filedesc",
                "number of open file descriptors for this group",
                Gauge,
                |g| g.open_fds as f64,
            ),
            (
                "namedprocess_namegroup_worst_fd_ratio",
                "the worst (closest to 1) ratio between open fds and max fds among all procs in this group",
                Gauge,
                |g| g.worst_fd_ratio,
            ),
            (
                "namedprocess_namegroup_oldest_start_time_seconds",
                "start time in seconds since 1970/01/01 of oldest process in group",
                Gauge,
                |g| g.oldest_start_time,
            ),
            (
                "namedprocess_namegroup_num_threads",
                "Number of threads",
                Gauge,
                |g| g.threads as f64,
            ),
        ];
        for (name, help, kind, sample) in &plain {
            let mut family = encoder.encode_descriptor(name, help, None, *kind)?;
            for (group, label) in groups.iter().zip(&names) {
                value(
                    *kind,
                    sample(group),
                    family.encode_family(&[("groupname", label.as_str())])?,
                )?;
            }
        }
        // Families with a second label.
        let labelled: [Labelled; 4] = [
            (
                "namedprocess_namegroup_cpu_seconds",
                "Cpu user usage in seconds",
                Counter,
                "mode",
                vec![
                    ("user", |g| g.counts.cpu_user),
                    ("system", |g| g.counts.cpu_system),
                ],
            ),
            (
                "namedprocess_namegroup_context_switches",
                "Context switches",
                Counter,
                "ctxswitchtype",
                vec![
                    ("voluntary", |g| g.counts.ctx_voluntary as f64),
                    ("nonvoluntary", |g| g.counts.ctx_involuntary as f64),
                ],
            ),
            (
                "namedprocess_namegroup_memory_bytes",
                "number of bytes of memory in use",
                Gauge,
                "memtype",
                vec![
                    ("resident", |g| g.resident as f64),
                    ("virtual", |g| g.virtual_ as f64),
                    ("swapped", |g| g.swapped as f64),
                    ("proportionalResident", |g| g.proportional_resident as f64),
                    ("proportionalSwapped", |g| g.proportional_swapped as f64),
                ],
            ),
            (
                "namedprocess_namegroup_states",
                "Number of processes in states Running, Sleeping, Waiting, Zombie, or Other",
                Gauge,
                "state",
                vec![
                    ("Running", |g| g.states[0] as f64),
                    ("Sleeping", |g| g.states[1] as f64),
                    ("Waiting", |g| g.states[2] as f64),
                    ("Zombie", |g| g.states[3] as f64),
                    ("Other", |g| g.states[4] as f64),
                ],
            ),
        ];
        for (name, help, kind, label, samples) in &labelled {
            let mut family = encoder.encode_descriptor(name, help, None, *kind)?;
            for (group, group_label) in groups.iter().zip(&names) {
                for (label_value, sample) in samples {
                    value(
                        *kind,
                        sample(group),
                        family.encode_family(&[
                            ("groupname", group_label.as_str()),
                            (label, label_value),
                        ])?,
                    )?;
                }
            }
        }
        let c = &self.0.counters;
        for (name, help, count) in [
            (
                "namedprocess_scrape_errors",
                "general scrape errors: no proc metrics collected during a cycle",
                0,
            ),
            (
                "namedprocess_scrape_procread_errors",
                "incremented each time a proc's metrics collection fails",
                c.procread_errors,
            ),
            (
                "namedprocess_scrape_partial_errors",
                "incremented each time a tracked proc's metrics collection fails partially, e.g. unreadable I/O stats",
                c.partial_errors,
            ),
        ] {
            ConstGauge::new(count as f64).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Unknown,
            )?)?;
        }
        for (name, help, kind, sample) in [
            (
                "tracer_groups_lost_events",
                "Events the group accounting missed because it fell behind the feed.",
                Counter,
                c.lost_events as f64,
            ),
            (
                "tracer_groups_unknown_exits",
                "Exits of processes the group accounting had not seen start.",
                Counter,
                c.unknown_exits as f64,
            ),
            (
                "tracer_groups_evicted",
                "Empty groups forgotten to stay under the group limit.",
                Counter,
                c.evicted_groups as f64,
            ),
            (
                "tracer_groups_untracked",
                "Processes left out of the groups because the group limit was reached.",
                Counter,
                c.untracked as f64,
            ),
            (
                "tracer_groups_scrape_seconds",
                "Seconds the last read of the group members' /proc files took.",
                Gauge,
                c.scrape_seconds,
            ),
            (
                "tracer_groups_tracked_processes",
                "Processes the group accounting tracks (members or not).",
                Gauge,
                c.tracked as f64,
            ),
            (
                "tracer_groups_up",
                "1 while the group accounting follows the event feed, 0 once it stopped.",
                Gauge,
                if c.up { 1.0 } else { 0.0 },
            ),
        ] {
            value(
                kind,
                sample,
                encoder.encode_descriptor(name, help, None, kind)?,
            )?;
        }
        Ok(())
    }
}

fn value(
    kind: MetricType,
    value: f64,
    encoder: prometheus_client::encoding::MetricEncoder,
) -> Result<(), std::fmt::Error> {
    match kind {
        MetricType::Counter => ConstCounter::new(value).encode(encoder),
        _ => ConstGauge::new(value).encode(encoder),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{Counts, GroupsCounters};
    use std::sync::Arc;

    fn text(snapshot: Snapshot) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(GroupsCollector(snapshot)));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn process_exporters_names_labels_and_types() {
        let text = text(Snapshot {
            groups: vec![GroupSample {
                name: Arc::from("py \"x\"\\"),
                counts: Counts {
                    cpu_user: 1.5,
                    cpu_system: 0.25,
                    read_bytes: 7,
                    ctx_voluntary: 3,
                    ..Counts::default()
                },
                procs: 2,
                resident: 4096,
                states: [1, 1, 0, 0, 0],
                oldest_start_time: 1_700_000_000.0,
                ..GroupSample::default()
            }],
            counters: GroupsCounters {
                partial_errors: 4,
                up: true,
                ..GroupsCounters::default()
            },
        });
        let g = r#"groupname="py \"x\"\\""#;
        for line in [
            "# TYPE namedprocess_namegroup_num_procs gauge\n".to_string(),
            format!("namedprocess_namegroup_num_procs{{{g}}} 2.0\n"),
            "# TYPE namedprocess_namegroup_cpu_seconds counter\n".to_string(),
            format!("namedprocess_namegroup_cpu_seconds_total{{{g},mode=\"user\"}} 1.5\n"),
            format!("namedprocess_namegroup_cpu_seconds_total{{{g},mode=\"system\"}} 0.25\n"),
            format!("namedprocess_namegroup_read_bytes_total{{{g}}} 7.0\n"),
            format!(
                "namedprocess_namegroup_context_switches_total{{{g},ctxswitchtype=\"voluntary\"}} 3.0\n"
            ),
            format!("namedprocess_namegroup_memory_bytes{{{g},memtype=\"resident\"}} 4096.0\n"),
            format!(
                "namedprocess_namegroup_memory_bytes{{{g},memtype=\"proportionalSwapped\"}} 0.0\n"
            ),
            format!("namedprocess_namegroup_states{{{g},state=\"Running\"}} 1.0\n"),
            format!("namedprocess_namegroup_oldest_start_time_seconds{{{g}}} 1700000000.0\n"),
            "# TYPE namedprocess_scrape_partial_errors unknown\n".to_string(),
            "namedprocess_scrape_partial_errors 4.0\n".to_string(),
            "tracer_groups_up 1.0\n".to_string(),
        ] {
            assert!(text.contains(&line), "missing {line:?} in:\n{text}");
        }
        // Each family once.
        assert_eq!(
            text.matches("# TYPE namedprocess_namegroup_cpu_seconds ")
                .count(),
            1
        );
    }
}
