//! `tracer events`: streams lifecycle events as aligned text or JSON lines until SIGINT or
//! SIGTERM, then drains what the kernel still holds, reports the counters and exits 0.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use super::{BackendChoice, Connection};
use crate::agent::protocol::{Request, SubscribeRequest};
use crate::event::{Backend, Event, EventKind};
use crate::query::filter::EventFilter;
use crate::query::Format;
use crate::render::events as render;
use crate::source::{ProgramCost, Source, SourceConfig, SourceStats};

/// Most events decoded per batch before they are written out.
const BATCH: usize = 4096;
/// How often the kernel's loss counters are read while streaming.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Flags of `tracer events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,

    /// Where events come from.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,

    /// Only these process ids (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    pid: Vec<u32>,

    /// Only children of these process ids.
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    ppid: Vec<u32>,

    /// Only processes with these names (the kernel's comm; longer names match their
    /// 15-character cut).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    name: Vec<OsString>,

    /// Only processes of these users (names or numeric uids).
    #[arg(long, value_delimiter = ',', value_name = "USER")]
    uid: Vec<String>,

    /// Only processes running there (cgroup subtree, container, pod, PID namespace).
    #[command(flatten)]
    placement: PlacementArgs,

    /// Only these kinds of event.
    #[arg(long = "event", value_delimiter = ',', value_name = "KIND",
          value_parser = ["fork", "exec", "exit"])]
    kinds: Vec<String>,

    /// Ring buffer size in MiB (a power of two); raise it if events are lost under load.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    ring_mib: u32,

    /// Seconds between scans with the polling backends (procfs, sysinfo).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,

    /// Measure what each kernel program costs (BPF run-time statistics) and report it in the
    /// final stats: run count and nanoseconds per run of fork, exec and exit.
    #[arg(long)]
    kernel_stats: bool,

    /// With --kernel-stats: also attach an empty program to the fork, exec and exit
    /// tracepoints and report what it costs (`floor_process_fork`, …): the floor of what any
    /// program there costs, which the bench states each program's cost against.
    #[arg(long, requires = "kernel_stats")]
    kernel_floor: bool,

    #[command(flatten)]
    final_cpu: FinalCpuArgs,
}

impl EventsArgs {
    fn filter(&self) -> anyhow::Result<EventFilter> {
        Ok(EventFilter {
            pids: self.pid.clone(),
            ppids: self.ppid.clone(),
            names: self.name.clone(),
            uids: self
                .uid
                .iter()
                .map(|user| resolve_user(user))
                .collect::<anyhow::Result<_>>()?,
            kinds: self
                .kinds
                .iter()
                .map(|kind| kind.parse::<EventKind>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?,
            placement: self.placement.filter()?,
        })
    }

    fn config(&self) -> anyhow::Result<SourceConfig> {
        if !(self.interval.is_finite() && self.interval >= 0.01 && self.interval <= 3600.0) {
            bail!(
                "--interval must be between 0.01 and 3600 seconds, not {}",
                self.interval
            );
        }
        if !self.ring_mib.is_power_of_two() || self.ring_mib > 1024 {
            bail!(
                "--ring-mib must be a power of two between 1 and 1024, not {}",
                self.ring_mib
            );
        }
        Ok(SourceConfig {
            choice: self.backend.choice(),
            interval: Duration::from_secs_f64(self.interval),
            ebpf: {
                let ring_bytes = self.ring_mib << 20;
                crate::source::EbpfConfig {
                    ring_bytes,
                    wakeup_bytes: (ring_bytes / 64).min(256 << 10),
                    kernel_stats: self.kernel_stats,
                    kernel_floor: self.kernel_floor,
                    final_cpu: self.final_cpu.enabled(),
                    ..crate::source::EbpfConfig::default()
                }
            },
        })
    }
}

/// The switch for the final-time program, shared by `events` and `agent`.
#[derive(Debug, Clone, Default, Args)]
pub struct FinalCpuArgs {
    /// Do not attach the final-time program on sched_switch, which runs on every context
    /// switch (100–200 ns each on a VM) to add a dead process's last slice and its exit's
    /// teardown to its CPU times: exit events then carry the CPU time read as the process
    /// exits, short by those (up to about a millisecond for a large process).
    #[arg(long)]
    pub no_final_cpu: bool,
}

impl FinalCpuArgs {
    /// Whether the final-time program is attached ([`crate::source::EbpfConfig::final_cpu`]).
    pub fn enabled(&self) -> bool {
        !self.no_final_cpu
    }
}

/// The filters by where processes run, shared by `events`, `ps` and `top`.
#[derive(Debug, Clone, Default, Args)]
pub struct PlacementArgs {
    /// Only processes in this cgroup v2 subtree (as `/proc/PID/cgroup` shows it, e.g.
    /// /system.slice); repeatable.
    #[arg(long = "cgroup", value_name = "PREFIX")]
    pub cgroups: Vec<OsString>,

    /// Only processes in containers whose id starts with this (12 hex digits are enough, as
    /// docker prints them); repeatable.
    #[arg(long = "container", value_name = "ID-PREFIX")]
    pub containers: Vec<String>,

    /// Only processes in this Kubernetes pod (its uid); repeatable.
    #[arg(long = "pod", value_name = "UID")]
    pub pods: Vec<String>,

    /// Only processes in this PID namespace (its inode, as /proc/PID/ns/pid shows it);
    /// repeatable.
    #[arg(long = "pidns", value_name = "INODE")]
    pub pidns: Vec<u64>,
}

impl PlacementArgs {
    /// The validated filter.
    pub fn filter(&self) -> anyhow::Result<crate::query::filter::PlacementFilter> {
        crate::query::filter::PlacementFilter::new(
            &self.cgroups,
            &self.containers,
            &self.pods,
            &self.pidns,
        )
        .map_err(anyhow::Error::msg)
    }

    /// The criteria as the agent's protocol carries them.
    pub fn request(&self) -> crate::agent::protocol::PlacementRequest {
        crate::agent::protocol::PlacementRequest {
            cgroups: self
                .cgroups
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect(),
            containers: self.containers.clone(),
            pods: self.pods.clone(),
            pidns: self.pidns.clone(),
        }
    }
}

/// Resolves a user name or numeric uid.
pub(crate) fn resolve_user(user: &str) -> anyhow::Result<u32> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    match crate::host::os::uid_of_user(user) {
        Some(uid) => Ok(uid),
        None => bail!("unknown user '{user}' (--uid takes a user name or a numeric uid)"),
    }
}

/// SIGINT or SIGTERM (Ctrl-C on Windows): the end of the stream.
struct Stop {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    /// Starts listening (inside the runtime).
    fn new() -> anyhow::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Stop {
                interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Stop {})
        }
    }

    /// Resolves when asked to stop.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `tracer events`.
pub fn run(args: EventsArgs, connection: &Connection, verbose: bool) -> anyhow::Result<ExitCode> {
    let filter = args.filter()?;
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // --kernel-stats measures this process's own programs, and a chosen backend is this
    // process's own: direct. Otherwise the agent's feed, when one runs.
    if !args.kernel_stats && args.backend == BackendChoice::Auto {
        if let Some(client) = connection.client() {
            return runtime.block_on(from_agent(client, &args, &filter));
        }
    }
    runtime.block_on(stream(args, filter, config, verbose))
}

/// Streams the agent's events (already filtered and rendered by it) until SIGINT/SIGTERM.
async fn from_agent(
    client: crate::agent::Client,
    args: &EventsArgs,
    filter: &EventFilter,
) -> anyhow::Result<ExitCode> {
    let mut stop = Stop::new()?;
    let stream = client
        .subscribe(&Request::Subscribe(SubscribeRequest {
            pids: filter.pids.clone(),
            ppids: filter.ppids.clone(),
            uids: filter.uids.clone(),
            names: filter
                .names
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect(),
            kinds: filter
                .kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            replay_exited: false,
            format: if args.json {
                Format::Json
            } else {
                Format::Text
            },
            placement: args.placement.request(),
        }))
        .context("the agent refused the subscription")?;
    eprintln!("tracer: tracing fork, exec and exit with the agent's feed; Ctrl-C to stop");
    // The copy below blocks in a read: on Ctrl-C the socket is shut down to end it.
    let socket = stream
        .get_ref()
        .try_clone()
        .context("cannot use the agent's socket")?;
    let json = args.json;
    // The agent writes whole lines, a drain's worth at a time: each read takes what is there
    // (up to 256 KiB) and writes it to stdout in one write, not a read, an allocation and a
    // write a line (stdout is written as a file: std's line buffering would split each chunk
    // at its last newline into two writes).
    let copy = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Read;
        let mut out = unbuffered_stdout()?;
        if !json {
            writeln!(out, "{}", render::text_header())?;
        }
        out.write_all(stream.buffer())?;
        let mut socket = stream.into_inner();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = match socket.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&chunk[..n])?;
        }
    });
    tokio::select! {
        result = copy => match result {
            Ok(Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => {
                bail!("the agent's stream failed: {e}")
            }
            _ => Ok(ExitCode::SUCCESS),
        },
        _ = stop.recv() => {
            let _ = socket.shutdown(std::net::Shutdown::Both);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Standard output written as a file: each write one `write(2)`.
#[cfg(unix)]
fn unbuffered_stdout() -> io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    Ok(std::fs::File::from(
        io::stdout().as_fd().try_clone_to_owned()?,
    ))
}

/// Standard output (no agent runs where there are no Unix sockets: never used there).
#[cfg(not(unix))]
fn unbuffered_stdout() -> io::Result<io::Stdout> {
    Ok(io::stdout())
}

async fn stream(
    args: EventsArgs,
    filter: EventFilter,
    config: SourceConfig,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let (mut source, notice) = Source::open(&config).map_err(anyhow::Error::msg)?;
    if let Some(notice) = notice {
        eprintln!("tracer: {notice}");
    }
    let mut stop = Stop::new()?;
    match source.backend() {
        Backend::Ebpf => eprintln!(
            "tracer: tracing fork, exec and exit with ebpf (ring {} MiB); Ctrl-C to stop",
            args.ring_mib
        ),
        polling => eprintln!(
            "tracer: tracing fork, exec and exit with {polling} polling every {}s; Ctrl-C to stop",
            args.interval
        ),
    }

    let mut out = Output::new(args.json);
    if !args.json {
        out.header();
    }
    let mut batch = Vec::with_capacity(BATCH);
    let mut reported_lost = 0;
    let mut last_stats = Instant::now();
    loop {
        tokio::select! {
            result = source.next_batch(&mut batch, BATCH) => {
                result.context("reading the ring buffer failed")?;
            }
            _ = stop.recv() => break,
        }
        if !out.events(&batch, &filter) {
            return Ok(ExitCode::SUCCESS); // stdout closed (e.g. `| head`): nothing left to do
        }
        batch.clear();
        if last_stats.elapsed() >= STATS_INTERVAL {
            last_stats = Instant::now();
            let stats = source.stats();
            if stats.lost() > reported_lost {
                eprintln!(
                    "tracer: warning: {} events lost (ring buffer full; {} in all) — try a larger --ring-mib",
                    stats.lost() - reported_lost,
                    stats.lost()
                );
                reported_lost = stats.lost();
                if !out.stats(&stats) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }

    // Shutdown: take what the kernel still holds, then the final counters.
    source.drain_all(&mut batch);
    if !out.events(&batch, &filter) {
        return Ok(ExitCode::SUCCESS);
    }
    let stats = source.stats();
    let costs = source.program_costs();
    out.final_stats(&stats, args.kernel_stats.then_some(&costs[..]));
    if stats.lost() > reported_lost {
        eprintln!(
            "tracer: warning: {} events lost in all (ring buffer full) — try a larger --ring-mib",
            stats.lost()
        );
    }
    if args.kernel_stats && !args.json {
        for cost in &costs {
            eprintln!(
                "tracer: kernel program {}: {} runs, {:.0} ns per run",
                cost.name,
                cost.run_count,
                cost.run_time_ns as f64 / cost.run_count.max(1) as f64
            );
        }
    }
    if verbose {
        eprintln!(
            "tracer: {} events; lost {}; threads created {} (not reported as processes); argv truncated {}; kernel read errors {}",
            stats.events, stats.lost(), stats.threads_created, stats.args_truncated, stats.read_errors
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes events to stdout, as text or JSON lines, flushing after each batch.
struct Output {
    json: bool,
    stdout: io::BufWriter<io::Stdout>,
    /// One rendered line, reused.
    line: Vec<u8>,
}

impl Output {
    fn new(json: bool) -> Self {
        Self {
            json,
            stdout: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
            line: Vec::with_capacity(1024),
        }
    }

    /// Writes and flushes; `false` once stdout is gone (broken pipe).
    fn write(&mut self, write: impl FnOnce(&mut Self) -> io::Result<()>) -> bool {
        match write(self).and_then(|()| self.stdout.flush()) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => false,
            Err(e) => {
                eprintln!("tracer: error: writing events failed: {e}");
                false
            }
        }
    }

    fn header(&mut self) {
        self.write(|out| writeln!(out.stdout, "{}", render::text_header()));
    }

    fn events(&mut self, events: &[Event], filter: &EventFilter) -> bool {
        if events.is_empty() {
            return true;
        }
        self.write(|out| {
            for event in events.iter().filter(|event| filter.matches(event)) {
                out.line.clear();
                if out.json {
                    render::write_json_line(&mut out.line, event);
                } else {
                    render::write_text_line(&mut out.line, event);
                }
                out.stdout.write_all(&out.line)?;
            }
            Ok(())
        })
    }

    fn stats(&mut self, stats: &SourceStats) -> bool {
        self.final_stats(stats, None)
    }

    fn final_stats(&mut self, stats: &SourceStats, costs: Option<&[ProgramCost]>) -> bool {
        if !self.json {
            return true;
        }
        let now = crate::host::clock::Clock::new()
            .map(|clock| clock.epoch_seconds(crate::host::clock::Clock::now_boot_ns()))
            .unwrap_or(0.0);
        let mut line = crate::render::json::to_vec(&render::StatsRecord::new(stats, now, costs));
        line.push(b'\n');
        self.write(|out| out.stdout.write_all(&line))
    }
}
