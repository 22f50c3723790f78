//! `tracer agent` (run the daemon) and `tracer stats` (ask it for its counters).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::Connection;
use crate::agent::protocol::{Request, Stats};
use crate::agent::AgentConfig;
use crate::source::EbpfConfig;
use crate::source::SourceConfig;
use crate::table::live::TracerConfig;

/// Flags of `tracer agent` (the socket path is the global --socket).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    tracer agent                                   root-only socket at /run/tracer/tracer.sock\n  \
    tracer agent --socket-group tracer --metrics 127.0.0.1:9465\n  \
    tracer agent --sched                           also on-CPU time and run-queue latency\n  \
    tracer agent --cgroup /system.slice/docker.service   only the processes of that subtree\n  \
    tracer agent --otlp-endpoint http://127.0.0.1:4318   events as OTLP log records\n  \
    tracer agent --otlp-protocol grpc --otlp-endpoint https://collector:4317   over gRPC, TLS\n  \
    tracer agent --export-file /var/log/tracer/events.jsonl   rotated JSON lines\n  \
    tracer agent --metrics 127.0.0.1:9465 --groups /etc/process-exporter/all.yaml\n\n\
The socket is created mode 0660, owned by root and --socket-group. A client sees what /proc \
would show it (hidepid is honoured, other users' exe, cwd, environ, fds and I/O are null) and \
may signal only its own processes unless it is root.")]
pub struct AgentArgs {
    /// Group allowed to connect to the socket (name or gid); root only when absent.
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,

    /// Serve Prometheus metrics over HTTP at this address (e.g. 127.0.0.1:9465).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,

    /// Seconds exited processes stay queryable (ps --exited, wait).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    retention: f64,

    /// Most exited processes kept, whatever their age (the oldest go first): a storm cannot
    /// grow the agent without bound. Each costs a few hundred bytes.
    #[arg(long, default_value_t = crate::table::MAX_EXITED, value_name = "N")]
    max_exited: usize,

    /// Where events come from: auto is eBPF, else procfs polling (saying why on stderr).
    #[arg(long, value_enum, default_value_t = super::BackendChoice::Auto)]
    backend: super::BackendChoice,

    /// Seconds between scans with the procfs backend (processes shorter than this are not
    /// seen).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,

    /// Ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 4, value_name = "MIB")]
    ring_mib: u32,

    /// process-exporter's config file (its YAML, unchanged): --metrics then also serves its
    /// namedprocess_namegroup_* families for those groups, counting every member that
    /// exited (from its exit event), however short-lived; --otlp-endpoint sends them as
    /// OTLP metrics too (process.cpu.time, …).
    #[arg(long, value_name = "FILE")]
    groups: Option<PathBuf>,

    /// Scheduler accounting: per-process on-CPU time and run-queue latency (ps attributes
    /// oncpu_time and runq_latency) and host histograms in the metrics. Its programs run on
    /// every context switch and wakeup, so it is off unless asked for.
    #[arg(long)]
    sched: bool,

    #[command(flatten)]
    final_cpu: super::events::FinalCpuArgs,

    /// Trace only processes in this cgroup v2 subtree (its path as /proc/PID/cgroup shows
    /// it, e.g. /system.slice/docker.service; repeatable, up to 8). The kernel programs skip
    /// every other process, so they cost no ring traffic and no agent work. Needs eBPF.
    #[arg(long = "cgroup", value_name = "PREFIX")]
    cgroups: Vec<PathBuf>,

    /// Export every event as an OpenTelemetry log record to this collector endpoint: over
    /// OTLP/HTTP (protobuf) e.g. http://127.0.0.1:4318 (/v1/logs is added), over OTLP/gRPC
    /// (--otlp-protocol grpc) e.g. http://127.0.0.1:4317. https:// works (rustls; Mozilla's
    /// roots, or the CA file in OTEL_EXPORTER_OTLP_CERTIFICATE). The standard
    /// OTEL_EXPORTER_OTLP_* variables, OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME apply.
    /// Without the flag, OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT)
    /// turns it on. A slow or dead collector never slows the feed: batches that do not fit
    /// the bounded queue, or fail 5 tries (backoff on 429/503/UNAVAILABLE/
    /// RESOURCE_EXHAUSTED/unreachable), are dropped and counted (tracer stats, metrics). On
    /// SIGTERM what is queued, and the groups' last metrics, are sent (one try, within 2 s).
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,

    /// OTLP transport: http/protobuf (the default) or grpc; else
    /// OTEL_EXPORTER_OTLP_PROTOCOL (or its _LOGS_ / _METRICS_ variants).
    #[arg(long, value_name = "PROTOCOL", value_parser = ["grpc", "http/protobuf"])]
    otlp_protocol: Option<String>,

    /// Append every event to this file as JSON lines (those of `tracer events --json`),
    /// rotated by size.
    #[arg(long, value_name = "PATH")]
    export_file: Option<PathBuf>,

    /// Size in MiB at which --export-file is rotated (PATH → PATH.1 → …).
    #[arg(long, default_value_t = 100.0, value_name = "MIB")]
    export_max_mib: f64,

    /// Rotated files kept (PATH.1 … PATH.N; the oldest is removed).
    #[arg(long, default_value_t = 5, value_name = "N")]
    export_keep: u32,
    /// Connections open at once, all users together (root is always served).
    #[arg(long, default_value_t = crate::agent::server::Limits::default().max_clients, value_name = "N")]
    max_clients: usize,

    /// Connections open at once per user (root is counted only in --max-clients).
    #[arg(long, default_value_t = crate::agent::server::Limits::default().max_clients_per_uid, value_name = "N")]
    max_clients_per_uid: usize,

    /// Seconds a connection may stay without sending a request before it is closed.
    #[arg(long, default_value_t = crate::agent::server::Limits::default().idle_timeout.as_secs_f64(), value_name = "SECONDS")]
    idle_timeout: f64,

    /// `wait` requests in progress at once per user (root: only the agent-wide 256).
    #[arg(long, default_value_t = crate::agent::server::Limits::default().max_waits_per_uid, value_name = "N")]
    max_waits_per_uid: usize,
}

/// Runs the agent until SIGTERM.
pub fn run_agent(args: AgentArgs, socket: PathBuf) -> anyhow::Result<ExitCode> {
    if !(args.retention.is_finite() && args.retention >= 0.0) {
        bail!(
            "--retention must be a number of seconds ≥ 0, not {}",
            args.retention
        );
    }
    if !args.ring_mib.is_power_of_two() || args.ring_mib > 1024 {
        bail!(
            "--ring-mib must be a power of two between 1 and 1024, not {}",
            args.ring_mib
        );
    }
    if !(args.interval.is_finite() && args.interval >= 0.01 && args.interval <= 3600.0) {
        bail!(
            "--interval must be between 0.01 and 3600 seconds, not {}",
            args.interval
        );
    }
    if !(args.idle_timeout.is_finite() && args.idle_timeout >= 0.1 && args.idle_timeout <= 86_400.0)
    {
        bail!(
            "--idle-timeout must be between 0.1 and 86400 seconds, not {}",
            args.idle_timeout
        );
    }
    if args.max_clients == 0 || args.max_clients_per_uid == 0 || args.max_waits_per_uid == 0 {
        bail!("--max-clients, --max-clients-per-uid and --max-waits-per-uid must be at least 1");
    }
    if args.sched && args.backend == super::BackendChoice::Procfs {
        bail!("--sched needs the ebpf backend (its accounting is kernel programs), not procfs");
    }
    if !args.cgroups.is_empty() && args.backend == super::BackendChoice::Procfs {
        bail!("--cgroup needs the ebpf backend (the kernel programs do the scoping), not procfs");
    }
    if args.backend == super::BackendChoice::Sysinfo {
        bail!("the agent's table on Linux is fed by ebpf or procfs (--backend auto|ebpf|procfs); sysinfo is the backend of other platforms");
    }
    if !crate::platform::is_root() {
        bail!("the agent runs as root (it loads eBPF programs and serves every user)");
    }
    let socket_group = args
        .socket_group
        .as_deref()
        .map(resolve_group)
        .transpose()?;
    if !(args.export_max_mib.is_finite() && (0.001..=1_048_576.0).contains(&args.export_max_mib)) {
        bail!(
            "--export-max-mib must be between 0.001 and 1048576, not {}",
            args.export_max_mib
        );
    }
    if !(1..=1000).contains(&args.export_keep) {
        bail!(
            "--export-keep must be between 1 and 1000 (a shipper finishes reading PATH.1), not {}",
            args.export_keep
        );
    }
    let otlp = crate::export::otlp::OtlpConfig::from_env(
        args.otlp_endpoint.as_deref(),
        args.otlp_protocol.as_deref(),
        |name| std::env::var(name).ok(),
    )
    .map_err(anyhow::Error::msg)?;
    let file = args
        .export_file
        .map(|path| crate::export::file::FileConfig {
            path,
            max_bytes: (args.export_max_mib * 1048576.0) as u64,
            keep: args.export_keep,
        });
    let groups = match &args.groups {
        Some(path) => {
            if args.metrics.is_none() && otlp.is_none() {
                bail!(
                    "--groups needs --metrics ADDR or an OTLP endpoint: the groups are served \
                     as metrics"
                );
            }
            let config = crate::groups::GroupsConfig::load(path)?;
            for key in &config.ignored_keys {
                tracing::warn!("{}: ignoring unknown key {key}", path.display());
            }
            Some(config)
        }
        None => None,
    };
    let ring_bytes = args.ring_mib << 20;
    run_config(AgentConfig {
        socket,
        socket_group,
        metrics: args.metrics,
        groups,
        tracer: TracerConfig {
            retention: Duration::from_secs_f64(args.retention),
            max_exited: args.max_exited,
            source: Some(SourceConfig {
                // Scoped: eBPF or nothing (polling would trace every process).
                choice: if args.cgroups.is_empty() {
                    args.backend.choice()
                } else {
                    crate::source::Choice::Ebpf
                },
                interval: Duration::from_secs_f64(args.interval),
                ebpf: EbpfConfig {
                    ring_bytes,
                    wakeup_bytes: (ring_bytes / 64).min(256 << 10),
                    sched: args.sched,
                    final_cpu: args.final_cpu.enabled(),
                    scope: args.cgroups,
                    ..EbpfConfig::default()
                },
            }),
            snapshot_fallback: false,
        },
        export: crate::export::ExportConfig { otlp, file },
        limits: crate::agent::server::Limits {
            max_clients: args.max_clients,
            max_clients_per_uid: args.max_clients_per_uid,
            idle_timeout: Duration::from_secs_f64(args.idle_timeout),
            max_waits_per_uid: args.max_waits_per_uid,
        },
    })
}

fn run_config(config: AgentConfig) -> anyhow::Result<ExitCode> {
    Ok(crate::agent::server::run(config)?)
}

/// A group name or numeric gid.
fn resolve_group(group: &str) -> anyhow::Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    crate::platform::gid_of_group(group).with_context(|| {
        format!("unknown group '{group}' (--socket-group takes a group name or a numeric gid)")
    })
}

/// Flags of `tracer stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The counters as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Prints the agent's counters.
pub fn run_stats(args: StatsArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    let Some(mut client) = connection.client() else {
        bail!(
            "tracer stats needs a running agent (none at {}; start one with `tracer agent`)",
            connection.socket.display()
        );
    };
    let payload = client
        .request(&Request::Stats {})
        .context("the agent could not answer")?;
    if args.json {
        let mut payload = payload;
        payload.push(b'\n');
        return super::ps::print(&payload);
    }
    let stats: Stats =
        crate::agent::client::decode(&payload).context("unexpected answer to stats")?;
    super::ps::print(crate::render::stats::text(&stats).as_bytes())
}
