//! `tracer agent`: one live table, many clients. Serves the protocol in [`super::protocol`] on
//! a Unix socket, authorises every request by the peer's credentials, and never lets a client
//! slow the event feed: queries run on blocking threads, subscribers have bounded queues, and
//! a slow or silent client only ever stalls itself.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, watch};

use super::protocol::{self, Command, Parsed, ProtocolError, Stats, TableCounters, MAX_REQUEST};
use crate::query::attrs::Collector;
use crate::query::{Format, Viewer};
use crate::render::events::{self, StreamRecord};
use crate::table::live::{Feed, Tracer, TracerConfig};

/// How long a client may take to finish a request line once it started one.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write to a client may block before the client is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The socket path.
    pub socket: PathBuf,
    /// Group allowed to connect (mode 0660); root only when `None`.
    pub socket_group: Option<u32>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<std::net::SocketAddr>,
    /// The table's settings.
    pub tracer: TracerConfig,
    /// The exporters to run (none by default).
    pub export: crate::export::ExportConfig,
    /// process-exporter's groups (`--groups FILE`), served with the metrics.
    pub groups: Option<crate::groups::GroupsConfig>,
}

/// Counters of the agent itself.
#[derive(Debug, Default)]
pub struct AgentCounters {
    /// Clients connected now.
    pub clients: AtomicU64,
    /// Connections accepted since start.
    pub connections: AtomicU64,
    /// Subscribers connected now.
    pub subscribers: AtomicU64,
    /// Events dropped for subscribers that fell behind.
    pub subscriber_drops: AtomicU64,
    /// Requests refused (malformed, too large, unauthorised).
    pub refused: AtomicU64,
    /// Clients dropped for being too slow to send or to read.
    pub slow_clients: AtomicU64,
}

/// Most `wait` requests answered at once. Each holds a blocking thread until its processes
/// end; past this many a new one is refused (`busy`), so that waits can never take all the
/// threads queries and signals need.
pub const MAX_WAITS: usize = 256;
/// Blocking threads of the agent's runtime: the waits' share and as many again for the rest.
const BLOCKING_THREADS: usize = 2 * MAX_WAITS;

struct Shared {
    tracer: Tracer,
    groups: Option<crate::groups::Groups>,
    collector: Mutex<Collector>,
    /// Permits for `wait` requests in progress.
    waits: tokio::sync::Semaphore,
    hidepid: bool,
    counters: AgentCounters,
    started: Instant,
    shutdown: watch::Receiver<bool>,
    exporters: crate::export::Exporters,
}

/// Why the agent could not start, or had to stop: one line saying what failed and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AgentError(String);

impl AgentError {
    fn new(message: String) -> AgentError {
        AgentError(message)
    }
}

/// `what failed: why` for the failures on the agent's way up.
trait Because<T> {
    fn because(self, what: impl FnOnce() -> String) -> Result<T, AgentError>;
}

impl<T, E: std::fmt::Display> Because<T> for Result<T, E> {
    fn because(self, what: impl FnOnce() -> String) -> Result<T, AgentError> {
        self.map_err(|e| AgentError(format!("{}: {e}", what())))
    }
}

/// Runs the agent until SIGTERM or SIGINT; then it stops accepting, ends its clients'
/// streams, removes the socket and exits 0.
pub fn run(config: AgentConfig) -> Result<ExitCode, AgentError> {
    raise_fd_limit();
    // Each thread that allocates would otherwise get a malloc arena of its own, and memory
    // freed after a big query stays in it: two arenas keep the agent's RSS close to its data.
    crate::platform::limit_malloc_arenas(2);
    // Every thread of the agent (created from this one) runs promptly when woken: an exit's
    // waiter is answered by the feed, a blocking thread and a worker in turn.
    crate::platform::latency::prompt_wakeups();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .because(|| "cannot start the async runtime".to_string())?;
    runtime.block_on(serve(config))
}

async fn serve(config: AgentConfig) -> Result<ExitCode, AgentError> {
    let mut terminate =
        signal(SignalKind::terminate()).because(|| "cannot handle SIGTERM".to_string())?;
    let mut interrupt =
        signal(SignalKind::interrupt()).because(|| "cannot handle SIGINT".to_string())?;
    let listener = bind(&config.socket, config.socket_group)?;
    let _remove = RemoveOnDrop(config.socket.clone());

    let tracer_config = config.tracer.clone();
    let tracer = tokio::task::spawn_blocking(move || Tracer::start_global(tracer_config))
        .await
        .because(|| "starting the process table failed".to_string())?
        .because(|| "starting the process table failed".to_string())?
        .clone();
    if let Some(notice) = tracer.notice() {
        eprintln!("tracer agent: {notice}");
    }
    match tracer.feed() {
        Feed::Ebpf => tracing::info!("process table fed by eBPF"),
        Feed::Polling(backend, interval) => tracing::info!(
            "process table fed by {backend} polling every {}s",
            interval.as_secs_f64()
        ),
        Feed::Snapshot(reason) => eprintln!(
            "tracer agent: no event feed ({reason}): answering from /proc snapshots, no events or exit codes"
        ),
    }
    let exporters = if config.export.any() && matches!(tracer.feed(), Feed::Snapshot(_)) {
        eprintln!("tracer agent: without an event feed the exporters have nothing to send");
        crate::export::Exporters::default()
    } else {
        crate::export::Exporters::start(&tracer, &config.export)
    };
    let groups = match config.groups {
        Some(rules) => Some(
            crate::groups::Groups::start(&tracer, rules)
                .because(|| "starting the group accounting failed".to_string())?,
        ),
        None => None,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let context = Arc::new(Shared {
        groups,
        collector: Mutex::new(Collector::new(tracer.host().clone())),
        waits: tokio::sync::Semaphore::new(MAX_WAITS),
        tracer,
        hidepid: proc_hidepid(),
        counters: AgentCounters::default(),
        started: Instant::now(),
        shutdown: shutdown_rx,
        exporters,
    });
    start_sampling(&context);
    if let Some(addr) = config.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .because(|| format!("cannot serve metrics on {addr}"))?;
        tokio::spawn(serve_metrics(listener, Arc::clone(&context)));
    }
    eprintln!(
        "tracer agent: listening on {} ({} processes tracked{})",
        config.socket.display(),
        context.tracer.lock().len(),
        config
            .metrics
            .map(|a| format!(", metrics on http://{a}/metrics"))
            .unwrap_or_default()
    );

    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let context = Arc::clone(&context);
                    tokio::spawn(async move { handle_client(stream, context).await });
                }
                Err(e) => {
                    tracing::warn!("accepting a client failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
        if let Some(reason) = context.tracer.stopped() {
            return Err(AgentError::new(format!("the event feed stopped: {reason}")));
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    // Let clients see the end of their streams.
    let deadline = Instant::now() + Duration::from_secs(2);
    while context.counters.clients.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The exporters write or send what they hold.
    let exporting = Arc::clone(&context);
    let _ =
        tokio::task::spawn_blocking(move || exporting.exporters.stop(Duration::from_secs(2))).await;
    eprintln!("tracer agent: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Samples the system's CPU and I/O counters every second, and keeps the collector's
/// per-process CPU samples tidy (see [`super::sampling`]).
fn start_sampling(context: &Shared) {
    let collector = context.collector.lock().unwrap_or_else(|p| p.into_inner());
    let samples = collector.cpu_samples().clone();
    super::sampling::start(samples, context.tracer.host().clone());
}

/// Removes the socket file when the agent ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds the socket: a stale socket left by a crash is replaced, a live one is never stolen.
fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, AgentError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).because(|| format!("cannot create {}", dir.display()))?;
    }
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(AgentError::new(format!(
                    "another agent is already listening on {} (stop it first, or use --socket)",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::info!("replacing the stale socket {}", path.display());
                std::fs::remove_file(path)
                    .because(|| format!("cannot remove the stale socket {}", path.display()))?;
            }
            Err(e) => {
                return Err(AgentError::new(format!(
                    "{} exists and is not a usable socket ({e}); remove it or use --socket",
                    path.display()
                )))
            }
        }
    }
    let listener =
        UnixListener::bind(path).because(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .because(|| format!("cannot set the mode of {}", path.display()))?;
    let gid = group.unwrap_or(0);
    // uid 0 (root) owns it, `gid` may connect.
    crate::platform::chown(path, 0, gid)
        .because(|| format!("cannot give {} to group {gid}", path.display()))?;
    Ok(listener)
}

/// Whether /proc is mounted with `hidepid` (other users' processes hidden from non-root).
fn proc_hidepid() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|info| {
            info.lines().any(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                fields.get(4) == Some(&"/proc")
                    && line.split(" - ").nth(1).is_some_and(|options| {
                        options.split([',', ' ']).any(|o| {
                            matches!(
                                o,
                                "hidepid=1"
                                    | "hidepid=2"
                                    | "hidepid=invisible"
                                    | "hidepid=noaccess"
                            )
                        })
                    })
            })
        })
        .unwrap_or(false)
}

/// Returns memory freed by a large answer to the system, so RSS follows the live data.
fn release_free_memory() {
    crate::platform::malloc_trim();
}

/// One descriptor per client: as many as the hard limit allows.
fn raise_fd_limit() {
    if let Err(e) = crate::platform::raise_nofile_limit() {
        tracing::warn!("cannot raise the open-files limit: {e}");
    }
}

/// Decrements a gauge when dropped.
struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    fn up(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Gauge(counter)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle_client(stream: UnixStream, context: Arc<Shared>) {
    let _client = Gauge::up(&context.counters.clients);
    context.counters.connections.fetch_add(1, Ordering::Relaxed);
    let viewer = match stream.peer_cred() {
        Ok(cred) => Viewer {
            uid: cred.uid(),
            hidepid: context.hidepid,
        },
        Err(e) => {
            tracing::warn!("dropping a client whose credentials cannot be read: {e}");
            return;
        }
    };
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut shutdown = context.shutdown.clone();
    loop {
        let line = tokio::select! {
            line = read_request(&mut reader) => line,
            _ = shutdown.changed() => return,
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => return, // the client closed
            Err(RequestError::TooLarge) => {
                context.counters.refused.fetch_add(1, Ordering::Relaxed);
                let error = ProtocolError {
                    kind: "too_large",
                    message: format!("request longer than {MAX_REQUEST} bytes"),
                };
                let _ = write(&mut writer, &protocol::error_line(0, &error)).await;
                return;
            }
            Err(RequestError::Slow) => {
                context
                    .counters
                    .slow_clients
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(RequestError::Io) => return,
        };
        let parsed = match protocol::parse(&line) {
            Ok(parsed) => parsed,
            Err((id, error)) => {
                context.counters.refused.fetch_add(1, Ordering::Relaxed);
                if write(&mut writer, &protocol::error_line(id, &error))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        let Parsed { id, command } = parsed;
        if let Command::Subscribe {
            filter,
            replay_exited,
            format,
        } = command
        {
            stream_events(&mut writer, id, &context, filter, replay_exited, format).await;
            return;
        }
        let answer = answer(Arc::clone(&context), command, viewer).await;
        let bytes = match answer {
            Ok(payload) => {
                let mut bytes = protocol::ok_header(id, payload.len());
                bytes.extend_from_slice(&payload);
                bytes
            }
            Err(error) => {
                context.counters.refused.fetch_add(1, Ordering::Relaxed);
                protocol::error_line(id, &error)
            }
        };
        if write(&mut writer, &bytes).await.is_err() {
            context
                .counters
                .slow_clients
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

enum RequestError {
    TooLarge,
    Slow,
    Io,
}

/// Reads one request line: `None` at end of input. A line must fit [`MAX_REQUEST`] and, once
/// begun, finish within [`REQUEST_TIMEOUT`].
async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Result<Option<Vec<u8>>, RequestError> {
    let mut line = Vec::new();
    // Wait as long as needed for the first byte (an idle client is fine)…
    let available = reader.fill_buf().await.map_err(|_| RequestError::Io)?;
    if available.is_empty() {
        return Ok(None);
    }
    // …then the rest of the line must come promptly and fit.
    let read = async {
        loop {
            let available = reader.fill_buf().await.map_err(|_| RequestError::Io)?;
            if available.is_empty() {
                return Ok(if line.is_empty() { None } else { Some(()) });
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], Some(at + 1)),
                None => (available, None),
            };
            if line.len() + chunk.len() > MAX_REQUEST {
                return Err(RequestError::TooLarge);
            }
            line.extend_from_slice(chunk);
            let consumed = done.unwrap_or(chunk.len());
            reader.consume(consumed);
            if done.is_some() {
                return Ok(Some(()));
            }
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(Some(()))) => Ok(Some(line)),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(RequestError::Slow),
    }
}

async fn write(writer: &mut tokio::net::unix::OwnedWriteHalf, bytes: &[u8]) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Serves one request (not `subscribe`) on a blocking thread: table locks and waits never
/// hold up the runtime.
async fn answer(
    context: Arc<Shared>,
    command: Command,
    viewer: Viewer,
) -> Result<Vec<u8>, ProtocolError> {
    let _permit = match command {
        Command::Wait { .. } => Some(context.waits.try_acquire().map_err(|_| ProtocolError {
            kind: "busy",
            message: format!("{MAX_WAITS} waits are in progress already; try again later"),
        })?),
        _ => None,
    };
    let context = Arc::clone(&context);
    tokio::task::spawn_blocking(move || answer_blocking(&context, command, viewer))
        .await
        .unwrap_or_else(|e| {
            Err(ProtocolError {
                kind: "internal",
                message: format!("the request failed: {e}"),
            })
        })
}

fn answer_blocking(
    context: &Shared,
    command: Command,
    viewer: Viewer,
) -> Result<Vec<u8>, ProtocolError> {
    match command {
        Command::Query(query) => {
            let mut collector = context.collector.lock().unwrap_or_else(|p| p.into_inner());
            let table = context.tracer.refresh();
            let answer = crate::render::rows::query(&table, &mut collector, &query, &viewer);
            drop(table);
            if answer.len() > 256 * 1024 {
                release_free_memory();
            }
            Ok(answer)
        }
        Command::Tree { pid, format } => {
            let table = context.tracer.refresh();
            crate::render::rows::tree(&table, pid, format, &viewer).map_err(|message| {
                ProtocolError {
                    kind: "no_such_process",
                    message,
                }
            })
        }
        Command::Wait { pids, timeout } => {
            let timeout = timeout.map(Duration::from_secs_f64);
            crate::process::ops::wait(&pids, timeout, &viewer)
                .map(|answer| crate::render::json::to_vec(&answer))
                .map_err(process_error)
        }
        Command::Signal { pids, signal } => {
            let results = crate::process::ops::signal(&pids, signal.signal(), &viewer);
            Ok(crate::render::json::to_vec(&results))
        }
        Command::Stats => Ok(crate::render::json::to_vec(&stats(context))),
        Command::Sys { sections, format } => {
            Ok(super::sampling::system().answer(&sections, format))
        }
        Command::Subscribe { .. } => unreachable!("subscriptions are streamed, not answered"),
    }
}

fn process_error(error: crate::process::Error) -> ProtocolError {
    let kind = match error {
        crate::process::Error::NoSuchProcess { .. } => "no_such_process",
        crate::process::Error::AccessDenied { .. } => "access_denied",
        _ => "internal",
    };
    ProtocolError {
        kind,
        message: error.to_string(),
    }
}

/// Streams events to a subscriber until it leaves or the agent stops.
async fn stream_events(
    writer: &mut tokio::net::unix::OwnedWriteHalf,
    id: u64,
    context: &Shared,
    filter: crate::query::filter::EventFilter,
    replay_exited: bool,
    format: Format,
) {
    let _subscriber = Gauge::up(&context.counters.subscribers);
    if let Feed::Snapshot(reason) = context.tracer.feed() {
        let error = ProtocolError {
            kind: "unavailable",
            message: format!("this agent has no event feed ({reason})"),
        };
        let _ = write(writer, &protocol::error_line(id, &error)).await;
        return;
    }
    let mut subscription = context.tracer.subscribe();
    let render = |out: &mut Vec<u8>, event: &crate::event::Event| match format {
        Format::Json => events::write_json_line(out, event),
        Format::Text => events::write_text_line(out, event),
    };
    let mut head = protocol::stream_header(id);
    if replay_exited {
        let table = context.tracer.lock();
        for entry in table.exited() {
            if let Some(event) = crate::table::exit_event(entry) {
                if filter.matches(&event) {
                    render(&mut head, &event);
                }
            }
        }
    }
    if write(writer, &head).await.is_err() {
        return;
    }
    let mut shutdown = context.shutdown.clone();
    let mut dropped_here = 0u64;
    let mut out = Vec::new();
    loop {
        let received = tokio::select! {
            received = subscription.recv() => received,
            _ = shutdown.changed() => {
                let mut end = Vec::new();
                StreamRecord::End { reason: "agent stopping" }.write_line(&mut end);
                let _ = write(writer, &end).await;
                return;
            }
        };
        out.clear();
        match received {
            Ok(event) => {
                if filter.matches(&event) {
                    render(&mut out, &event);
                }
                // Take what else is queued, to write in one go.
                while out.len() < 64 * 1024 {
                    match subscription.try_recv() {
                        Ok(event) if filter.matches(&event) => render(&mut out, &event),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(count)) => {
                dropped_here += count;
                context
                    .counters
                    .subscriber_drops
                    .fetch_add(count, Ordering::Relaxed);
                StreamRecord::Dropped { count }.write_line(&mut out);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        if !out.is_empty() && write(writer, &out).await.is_err() {
            context
                .counters
                .slow_clients
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "dropped a subscriber that stopped reading ({dropped_here} events dropped for it)"
            );
            return;
        }
    }
}

/// The agent's counters (`tracer stats`, the `stats` request, the metrics).
fn stats(context: &Shared) -> Stats {
    let table = context.tracer.lock();
    let t = table.stats();
    let table_counters = TableCounters {
        live: table.len() as u64,
        exited: table.exited().count() as u64,
        seeded: t.seeded,
        forks: t.forks,
        execs: t.execs,
        exits: t.exits,
        resyncs: t.resyncs,
        vanished: t.vanished,
        expired: t.expired,
    };
    drop(table);
    let c = &context.counters;
    Stats {
        backend: context.tracer.feed().name().to_string(),
        uptime: context.started.elapsed().as_secs_f64(),
        table: table_counters,
        source: context.tracer.source_stats().map(|s| (&s).into()),
        clients: c.clients.load(Ordering::Relaxed),
        connections: c.connections.load(Ordering::Relaxed),
        subscribers: c.subscribers.load(Ordering::Relaxed),
        subscriber_drops: c.subscriber_drops.load(Ordering::Relaxed),
        refused: c.refused.load(Ordering::Relaxed),
        slow_clients: c.slow_clients.load(Ordering::Relaxed),
        rss_bytes: own_rss(),
        exporters: context.exporters.stats(),
    }
}

fn own_rss() -> u64 {
    crate::host::procfs::Procfs::new()
        .memory_info(std::process::id())
        .map_or(0, |m| m.rss)
}

/// A minimal HTTP server: every GET gets the metrics.
async fn serve_metrics(listener: tokio::net::TcpListener, context: Arc<Shared>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let context = Arc::clone(&context);
        tokio::spawn(async move {
            let mut request = [0u8; 4096];
            let read = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::io::AsyncReadExt::read(&mut stream, &mut request),
            )
            .await;
            let Ok(Ok(n)) = read else { return };
            let head = String::from_utf8_lossy(&request[..n]);
            let response = if head.starts_with("GET /metrics") || head.starts_with("GET / ") {
                let body = tokio::task::spawn_blocking(move || {
                    let groups = context.groups.as_ref().map(crate::groups::Groups::scrape);
                    crate::render::stats::metrics_with_groups(&stats(&context), groups)
                })
                .await
                .unwrap_or_default();
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{body}",
                    crate::render::stats::METRICS_CONTENT_TYPE,
                    body.len()
                )
            } else {
                "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
