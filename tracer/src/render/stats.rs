//! The agent's counters ([`Stats`]) as `tracer stats` prints them and as its metrics endpoint
//! serves them: OpenMetrics text through the `prometheus-client` crate, the family names,
//! labels and types unchanged (counters as `NAME_total`).

use crate::stats::Stats;

/// `tracer stats` without `--json`: aligned lines in human units.
pub fn text(stats: &Stats) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "backend      {}\nuptime       {}\n",
        stats.backend,
        crate::render::text::duration(stats.uptime)
    ));
    let t = &stats.table;
    out.push_str(&format!(
        "table        {} live, {} exited kept; {} seeded, {} forks, {} execs, {} exits applied; {} resyncs\n",
        t.live, t.exited, t.seeded, t.forks, t.execs, t.exits, t.resyncs
    ));
    if let Some(s) = &stats.source {
        out.push_str(&format!(
            "events       {} delivered, {} lost (fork {}, exec {}, exit {}), {} argv truncated, {} read errors\n",
            s.events, s.lost, s.lost_fork, s.lost_exec, s.lost_exit, s.args_truncated, s.read_errors
        ));
    }
    out.push_str(&format!(
        "clients      {} connected ({} subscribers), {} since start; {} requests refused, {} slow clients dropped\n",
        stats.clients, stats.subscribers, stats.connections, stats.refused, stats.slow_clients
    ));
    out.push_str(&format!(
        "queue drops  {} events dropped for subscribers that fell behind\nmemory       {} resident\n",
        stats.subscriber_drops,
        crate::render::text::bytes(stats.rss_bytes.min(i64::MAX as u64) as i64)
    ));
    for e in &stats.exporters {
        out.push_str(&format!(
            "export       {} to {}: {} exported, {} dropped, {} queued, {} errors, {} retries{}\n",
            e.name,
            e.target,
            e.exported,
            e.dropped,
            e.queued,
            e.errors,
            e.retries,
            e.last_error
                .as_deref()
                .map(|error| format!("; last error: {error}"))
                .unwrap_or_default()
        ));
    }
    out
}

/// The `Content-Type` of [`metrics`].
#[cfg(native_linux)]
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics text: the agent's counters, and with `--sched` the host's scheduler
/// histograms.
#[cfg(native_linux)]
pub fn metrics(stats: &Stats) -> String {
    metrics_with_groups(stats, None)
}

/// [`metrics`], and with `--groups` process-exporter's families for the groups.
#[cfg(native_linux)]
pub fn metrics_with_groups(stats: &Stats, groups: Option<crate::groups::Snapshot>) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(metrics::StatsCollector(stats.clone())));
    registry.register_collector(Box::new(crate::source::ebpf::sched::HostHistograms));
    if let Some(groups) = groups {
        registry.register_collector(Box::new(crate::groups::metrics::GroupsCollector(groups)));
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("encoding into a String cannot fail");
    out
}

#[cfg(native_linux)]
mod metrics {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::metrics::MetricType;

    use crate::stats::{ExporterStats, Stats};

    /// One scrape's counters.
    #[derive(Debug)]
    pub(super) struct StatsCollector(pub(super) Stats);

    /// One sample of a counter (the encoder names it `NAME_total`) or a gauge.
    fn value(kind: MetricType, value: u64, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match kind {
            MetricType::Counter => ConstCounter::new(value).encode(encoder),
            _ => ConstGauge::new(value).encode(encoder),
        }
    }

    /// A family without labels: one sample.
    fn single(
        encoder: &mut DescriptorEncoder,
        (name, help): (&'static str, &str),
        kind: MetricType,
        sample: u64,
    ) -> Result<(), std::fmt::Error> {
        value(
            kind,
            sample,
            encoder.encode_descriptor(name, help, None, kind)?,
        )
    }

    /// A family with one label: a sample per label value.
    fn labelled(
        encoder: &mut DescriptorEncoder,
        (name, help): (&'static str, &str),
        kind: MetricType,
        label: &'static str,
        samples: &[(&str, u64)],
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
        for &(label_value, sample) in samples {
            value(kind, sample, metric.encode_family(&[(label, label_value)])?)?;
        }
        Ok(())
    }

    impl Collector for StatsCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            use MetricType::{Counter, Gauge};
            let s = &self.0;
            let t = &s.table;
            let source = s.source.unwrap_or_default();
            let e = &mut encoder;
            labelled(
                e,
                (
                    "tracer_events",
                    "Lifecycle events applied to the table, by kind.",
                ),
                Counter,
                "kind",
                &[("fork", t.forks), ("exec", t.execs), ("exit", t.exits)],
            )?;
            labelled(
                e,
                (
                    "tracer_lost_events",
                    "Events the kernel could not deliver (ring buffer full), by kind.",
                ),
                Counter,
                "kind",
                &[
                    ("fork", source.lost_fork),
                    ("exec", source.lost_exec),
                    ("exit", source.lost_exit),
                ],
            )?;
            labelled(
                e,
                ("tracer_table_processes", "Processes in the table."),
                Gauge,
                "state",
                &[("live", t.live), ("exited", t.exited)],
            )?;
            single(
                e,
                (
                    "tracer_resyncs",
                    "Resynchronisations of the table from /proc after lost events.",
                ),
                Counter,
                t.resyncs,
            )?;
            single(
                e,
                ("tracer_clients", "Clients connected."),
                Gauge,
                s.clients,
            )?;
            single(
                e,
                ("tracer_subscribers", "Event stream subscribers connected."),
                Gauge,
                s.subscribers,
            )?;
            labelled(
                e,
                (
                    "tracer_refused_connections",
                    "Connections closed by the agent's limits: over a limit, idle, or failed accepts.",
                ),
                Counter,
                "reason",
                &[
                    ("over_limit", s.over_limit),
                    ("idle", s.idle_closed),
                    ("accept_error", s.accept_errors),
                ],
            )?;
            single(
                e,
                (
                    "tracer_subscriber_dropped_events",
                    "Events dropped for subscribers that fell behind.",
                ),
                Counter,
                s.subscriber_drops,
            )?;
            single(
                e,
                (
                    "tracer_refused_requests",
                    "Requests refused (malformed, too large, unauthorised).",
                ),
                Counter,
                s.refused,
            )?;
            labelled(
                e,
                ("tracer_backend_info", "The event backend in use."),
                Gauge,
                "backend",
                &[(s.backend.as_str(), 1)],
            )?;
            single(
                e,
                ("tracer_agent_rss_bytes", "Resident memory of the agent."),
                Gauge,
                s.rss_bytes,
            )?;
            if s.exporters.is_empty() {
                return Ok(());
            }
            let by_exporter = |value: fn(&ExporterStats) -> u64| -> Vec<(&str, u64)> {
                s.exporters
                    .iter()
                    .map(|x| (x.name.as_str(), value(x)))
                    .collect()
            };
            for (name, help, kind, value) in [
                (
                    "tracer_export_events",
                    "Events delivered by each exporter (accepted by the collector, written).",
                    Counter,
                    (|x| x.exported) as fn(&ExporterStats) -> u64,
                ),
                (
                    "tracer_export_dropped_events",
                    "Events an exporter lost: its queue was full or it gave them up after retries.",
                    Counter,
                    |x| x.dropped,
                ),
                (
                    "tracer_export_errors",
                    "Requests or writes of an exporter that failed.",
                    Counter,
                    |x| x.errors,
                ),
                (
                    "tracer_export_retries",
                    "Retries of an exporter's failed requests or writes.",
                    Counter,
                    |x| x.retries,
                ),
                (
                    "tracer_export_queued_events",
                    "Events waiting in an exporter's queue.",
                    Gauge,
                    |x| x.queued,
                ),
            ] {
                labelled(e, (name, help), kind, "exporter", &by_exporter(value))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceCounters;
    use crate::stats::TableCounters;

    fn sample() -> Stats {
        Stats {
            backend: "ebpf".into(),
            uptime: 61.5,
            table: TableCounters {
                live: 120,
                exited: 4,
                seeded: 118,
                forks: 10,
                execs: 9,
                exits: 8,
                resyncs: 1,
                vanished: 0,
                expired: 2,
            },
            source: Some(SourceCounters {
                events: 27,
                lost: 3,
                lost_fork: 1,
                lost_exec: 0,
                lost_exit: 2,
                threads_exited: 6,
                ..SourceCounters::default()
            }),
            clients: 2,
            connections: 5,
            subscribers: 1,
            subscriber_drops: 7,
            refused: 4,
            slow_clients: 0,
            over_limit: 0,
            idle_closed: 0,
            accept_errors: 0,
            rss_bytes: 12 << 20,
            exporters: Vec::new(),
        }
    }

    #[test]
    fn stats_json_keeps_todays_fields_and_adds_threads_exited() {
        let json = crate::render::json::to_string(&sample());
        assert_eq!(
            json,
            r#"{"backend":"ebpf","uptime":61.5,"table":{"live":120,"exited":4,"seeded":118,"forks":10,"execs":9,"exits":8,"resyncs":1,"vanished":0,"expired":2},"source":{"events":27,"lost":3,"lost_fork":1,"lost_exec":0,"lost_exit":2,"decode_errors":0,"threads_created":0,"threads_exited":6,"args_truncated":0,"read_errors":0,"exit_cpu_partial":0},"clients":2,"connections":5,"subscribers":1,"subscriber_drops":7,"refused":4,"slow_clients":0,"over_limit":0,"idle_closed":0,"accept_errors":0,"rss_bytes":12582912}"#
        );
        let back: Stats = serde_json::from_str(&json).expect("our own stats parse");
        assert_eq!(back, sample());
        let without = Stats {
            source: None,
            ..sample()
        };
        assert!(!crate::render::json::to_string(&without).contains("\"source\""));
    }

    #[test]
    fn text_names_every_group() {
        let text = text(&sample());
        assert!(text.starts_with("backend      ebpf\n"), "{text}");
        assert!(text.contains("events       27 delivered, 3 lost (fork 1, exec 0, exit 2)"));
        assert!(text.contains("queue drops  7 events"));
    }

    #[test]
    #[cfg(native_linux)]
    fn metrics_keep_their_names_labels_and_types() {
        let text = metrics(&sample());
        for line in [
            "# HELP tracer_events Lifecycle events applied to the table, by kind.\n",
            "# TYPE tracer_events counter\n",
            "tracer_events_total{kind=\"fork\"} 10\n",
            "tracer_events_total{kind=\"exec\"} 9\n",
            "tracer_events_total{kind=\"exit\"} 8\n",
            "tracer_lost_events_total{kind=\"exit\"} 2\n",
            "# TYPE tracer_table_processes gauge\n",
            "tracer_table_processes{state=\"live\"} 120\n",
            "tracer_table_processes{state=\"exited\"} 4\n",
            "tracer_resyncs_total 1\n",
            "tracer_clients 2\n",
            "tracer_subscribers 1\n",
            "tracer_subscriber_dropped_events_total 7\n",
            "tracer_refused_requests_total 4\n",
            "# TYPE tracer_backend_info gauge\n",
            "tracer_backend_info{backend=\"ebpf\"} 1\n",
            "tracer_agent_rss_bytes 12582912\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        let no_source = metrics(&Stats {
            source: None,
            ..sample()
        });
        assert!(no_source.contains("tracer_lost_events_total{kind=\"fork\"} 0\n"));
        assert!(!text.contains("tracer_export"), "no exporter, no family");
    }

    #[test]
    #[cfg(native_linux)]
    fn exporters_show_in_stats_and_metrics() {
        use crate::stats::ExporterStats;
        let stats = Stats {
            exporters: vec![ExporterStats {
                name: "otlp".into(),
                target: "http://127.0.0.1:4318/v1/logs".into(),
                exported: 10,
                dropped: 3,
                errors: 2,
                retries: 1,
                queued: 5,
                last_error: Some("the collector answered 503".into()),
            }],
            ..sample()
        };
        let text = metrics(&stats);
        for line in [
            "tracer_export_events_total{exporter=\"otlp\"} 10\n",
            "tracer_export_dropped_events_total{exporter=\"otlp\"} 3\n",
            "tracer_export_errors_total{exporter=\"otlp\"} 2\n",
            "tracer_export_retries_total{exporter=\"otlp\"} 1\n",
            "tracer_export_queued_events{exporter=\"otlp\"} 5\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        let json = crate::render::json::to_string(&stats);
        let back: Stats = serde_json::from_str(&json).expect("our own stats parse");
        assert_eq!(back, stats);
        assert!(super::text(&stats).contains(
            "export       otlp to http://127.0.0.1:4318/v1/logs: 10 exported, 3 dropped"
        ));
    }
}
