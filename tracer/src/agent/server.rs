//! `tracer agent`: one live table, many clients. Serves the protocol in [`super::protocol`] on
//! a Unix socket, authorises every request by the peer's credentials, and never lets a client
//! slow the event feed: queries run on blocking threads, subscribers have bounded queues, and
//! a slow or silent client only ever stalls itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, watch};

use super::listen::{bind, Backoff, RemoveOnDrop};
use super::protocol::{self, Command, Parsed, ProtocolError, Stats, TableCounters, MAX_REQUEST};
use super::rendered::Variant;
use crate::query::access::{Access, ProcMount};
use crate::query::attrs::Collector;
use crate::query::kthreads::KernelThreadNames;
use crate::query::{Format, Viewer};
use crate::render::events::StreamRecord;
use crate::table::live::{Feed, Lost, Tracer, TracerConfig};

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
    /// What one client, and all of them, may hold.
    pub limits: Limits,
}

/// What clients may hold of the agent. Root's connections are never refused (they count
/// towards the total others are held to), so no flood by others locks root out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, all users together, past which only root is served.
    pub max_clients: usize,
    /// Connections open at once per user other than root.
    pub max_clients_per_uid: usize,
    /// How long a connection may wait before sending a request (its first, or its next).
    pub idle_timeout: Duration,
    /// `wait` requests in progress per user other than root.
    pub max_waits_per_uid: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 1024,
            max_clients_per_uid: 64,
            idle_timeout: Duration::from_secs(60),
            max_waits_per_uid: 32,
        }
    }
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
    /// Connections refused for being over a limit (per user or in total).
    pub over_limit: AtomicU64,
    /// Connections closed for sending no request within the idle timeout.
    pub idle_closed: AtomicU64,
    /// Failed `accept` calls (out of descriptors, most often), each followed by a back-off.
    pub accept_errors: AtomicU64,
}

/// Most `wait` requests answered at once. Each holds a blocking thread until its processes
/// end; past this many a new one is refused (`busy`), so that waits can never take all the
/// threads queries and signals need.
pub const MAX_WAITS: usize = 256;
/// Blocking threads of the agent's runtime: the waits' share and as many again for the rest.
const BLOCKING_THREADS: usize = 2 * MAX_WAITS;

pub(super) struct Shared {
    tracer: Tracer,
    pub(super) groups: Option<crate::groups::Groups>,
    collector: Mutex<Collector>,
    /// Permits for `wait` requests in progress.
    waits: tokio::sync::Semaphore,
    /// The `/proc` mount's options, and when they were read (re-read when a second old).
    proc_mount: Mutex<(Instant, ProcMount)>,
    limits: Limits,
    /// Connections open per uid.
    clients_by_uid: Mutex<HashMap<u32, usize>>,
    /// `wait`s in progress per uid.
    waits_by_uid: Mutex<HashMap<u32, usize>>,
    pub(super) counters: AgentCounters,
    started: Instant,
    shutdown: watch::Receiver<bool>,
    exporters: crate::export::Exporters,
    /// Set when the agent stops: waits in progress end (within a second).
    stopping: AtomicBool,
    /// Event lines rendered once for every subscriber showing them.
    rendered: super::rendered::RenderedLines,
}

impl Shared {
    /// The `/proc` mount's options as of at most a second ago (hidepid may be changed by a
    /// remount at any time).
    fn proc_mount(&self) -> ProcMount {
        let mut slot = self.proc_mount.lock().unwrap_or_else(|p| p.into_inner());
        if slot.0.elapsed() >= Duration::from_secs(1) {
            *slot = (Instant::now(), ProcMount::read());
        }
        slot.1
    }
}

/// The client's credentials as the kernel recorded them at `connect` (SO_PEERCRED).
#[derive(Debug, Clone, Copy)]
struct Peer {
    pid: u32,
    uid: u32,
    gid: u32,
}

impl Peer {
    /// Who the client is for this request: its credentials and capabilities now, under the
    /// `/proc` mount's rules now.
    fn viewer(&self, context: &Shared) -> Viewer {
        Viewer::peer(self.uid, self.gid, Some(self.pid), context.proc_mount())
    }
}

/// Counts one holder of a per-uid limit while it lives.
struct UidSlot<'a> {
    map: &'a Mutex<HashMap<u32, usize>>,
    uid: u32,
}

impl<'a> UidSlot<'a> {
    /// A slot for `uid` if it holds fewer than `max` (root always gets one).
    fn take(map: &'a Mutex<HashMap<u32, usize>>, uid: u32, max: usize) -> Option<Self> {
        let mut counts = map.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(uid).or_insert(0);
        if uid != 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(UidSlot { map, uid })
    }
}

impl Drop for UidSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.uid) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.uid);
            }
        }
    }
}

/// Why the agent could not start, or had to stop: one line saying what failed and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AgentError(String);

impl AgentError {
    pub(super) fn new(message: String) -> AgentError {
        AgentError(message)
    }
}

/// `what failed: why` for the failures on the agent's way up.
pub(super) trait Because<T> {
    fn because(self, what: impl FnOnce() -> String) -> Result<T, AgentError>;
}

impl<T, E: std::fmt::Display> Because<T> for Result<T, E> {
    fn because(self, what: impl FnOnce() -> String) -> Result<T, AgentError> {
        self.map_err(|e| AgentError(format!("{}: {e}", what())))
    }
}

/// Allocations from this size up get a mapping of their own (see
/// [`crate::platform::map_large_allocations`]): a big answer is several of them.
const LARGE_ALLOCATION: i32 = 256 * 1024;
/// Free heap top kept between the explicit trims.
const HEAP_KEPT: i32 = 8 << 20;

/// Runs the agent until SIGTERM or SIGINT; then it stops accepting, ends its clients'
/// streams, removes the socket and exits 0.
pub fn run(config: AgentConfig) -> Result<ExitCode, AgentError> {
    raise_fd_limit();
    // Each thread that allocates would otherwise get a malloc arena of its own, and memory
    // freed after a big query stays in it: two arenas keep the agent's RSS close to its data.
    crate::platform::limit_malloc_arenas(2);
    // A big answer or scan buffer freed goes back to the system at once, not into the heap;
    // the heap's free top is given back by the trims after big answers and scans.
    crate::platform::map_large_allocations(LARGE_ALLOCATION, HEAP_KEPT);
    // Every thread of the agent (created from this one) runs promptly when woken: an exit's
    // waiter is answered by the feed, a blocking thread and a worker in turn.
    crate::platform::latency::prompt_wakeups();
    // One async worker: the async side only moves bytes (answers are built on blocking
    // threads, a subscriber's batch is rendered in well under a millisecond). With two, every
    // batch of events woke both: tokio's worker that finds work wakes another to look for
    // more, so each batch cost a second wake-up for nothing (tens of µs of CPU on this kind of
    // VM, issue 17's bench).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .because(|| "cannot start the async runtime".to_string())?;
    let result = runtime.block_on(serve(config));
    // Waits in progress notice the stop within a second; a blocking read of /proc that hangs
    // must not keep the agent from exiting.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn serve(config: AgentConfig) -> Result<ExitCode, AgentError> {
    let mut terminate =
        signal(SignalKind::terminate()).because(|| "cannot handle SIGTERM".to_string())?;
    let mut interrupt =
        signal(SignalKind::interrupt()).because(|| "cannot handle SIGINT".to_string())?;
    let (listener, inode) = bind(&config.socket, config.socket_group)?;
    let _remove = RemoveOnDrop(config.socket.clone(), inode);

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
    let groups = match config.groups {
        Some(rules) => Some(
            crate::groups::Groups::start(&tracer, rules)
                .because(|| "starting the group accounting failed".to_string())?,
        ),
        None => None,
    };
    let exporters = if config.export.any() && matches!(tracer.feed(), Feed::Snapshot(_)) {
        eprintln!("tracer agent: without an event feed the exporters have nothing to send");
        crate::export::Exporters::default()
    } else {
        crate::export::Exporters::start(&tracer, &config.export, groups.as_ref())
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Kernel threads' names are read at every query: their files are opened now and kept.
    let kernel_threads = KernelThreadNames::new(tracer.host().root());
    let kthreads: Vec<_> = (tracer.lock().live())
        .filter(|e| e.ppid == 2 || e.id.pid == 2)
        .map(|e| e.id)
        .collect();
    kernel_threads.open_all(kthreads, tracer.host());
    let mut collector = Collector::new(tracer.host().clone());
    collector.keep_kernel_thread_files(kernel_threads);
    let context = Arc::new(Shared {
        groups,
        collector: Mutex::new(collector),
        waits: tokio::sync::Semaphore::new(MAX_WAITS),
        tracer,
        proc_mount: Mutex::new((Instant::now(), ProcMount::read())),
        limits: config.limits,
        clients_by_uid: Mutex::new(HashMap::new()),
        waits_by_uid: Mutex::new(HashMap::new()),
        counters: AgentCounters::default(),
        started: Instant::now(),
        shutdown: shutdown_rx,
        exporters,
        stopping: AtomicBool::new(false),
        rendered: Default::default(),
    });
    start_sampling(&context);
    if let Some(addr) = config.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .because(|| format!("cannot serve metrics on {addr}"))?;
        tokio::spawn(super::metrics::serve_metrics(
            listener,
            Arc::clone(&context),
        ));
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

    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff.reset();
                    let context = Arc::clone(&context);
                    tokio::spawn(async move { handle_client(stream, context).await });
                }
                Err(e) => {
                    context.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                    backoff.wait(&e, "the socket").await;
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
    context.stopping.store(true, Ordering::Relaxed);
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
    let peer = match crate::platform::peer_credentials(&stream) {
        Ok((pid, uid, gid)) => Peer { pid, uid, gid },
        Err(e) => {
            tracing::warn!("dropping a client whose credentials cannot be read: {e}");
            return;
        }
    };
    let limits = context.limits;
    let slot = UidSlot::take(
        &context.clients_by_uid,
        peer.uid,
        limits.max_clients_per_uid,
    );
    let refusal = if slot.is_none() {
        Some(format!(
            "uid {} has {} connections to the agent already (--max-clients-per-uid)",
            peer.uid, limits.max_clients_per_uid
        ))
    } else if peer.uid != 0
        && context.counters.clients.load(Ordering::Relaxed) > limits.max_clients as u64
    {
        Some(format!(
            "the agent serves {} connections at most (--max-clients)",
            limits.max_clients
        ))
    } else {
        None
    };
    if let Some(message) = refusal {
        context.counters.over_limit.fetch_add(1, Ordering::Relaxed);
        let error = ProtocolError {
            kind: "busy",
            message,
        };
        // Said once if the socket takes it now; the connection is closed either way.
        let _ = stream.try_write(&protocol::error_line(0, &error));
        return;
    }
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut shutdown = context.shutdown.clone();
    loop {
        let line = tokio::select! {
            line = read_request(&mut reader, limits.idle_timeout) => line,
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
            Err(RequestError::Idle) => {
                context.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
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
            let request = Subscription {
                id,
                filter,
                replay_exited,
                format,
                peer,
            };
            // Its own socket from now on, registered for reading only (no wake-up each time
            // the client reads); what the client sent after its request is dropped.
            let Ok(stream) = reader.into_inner().reunite(writer) else {
                return;
            };
            match super::stream_socket::StreamSocket::new(stream) {
                Ok(socket) => stream_events(&socket, &context, request).await,
                Err(e) => tracing::warn!("cannot stream events to a subscriber: {e}"),
            }
            return;
        }
        let viewer = peer.viewer(&context);
        let cancel = Arc::new(AtomicBool::new(false));
        let work = answer(
            Arc::clone(&context),
            command,
            viewer,
            peer.uid,
            Arc::clone(&cancel),
        );
        tokio::pin!(work);
        // While it is answered, notice the client hanging up: its wait ends, its slot frees.
        let answer = tokio::select! {
            answer = &mut work => answer,
            gone = hung_up(&mut reader) => {
                if gone {
                    cancel.store(true, Ordering::Relaxed);
                    return;
                }
                // It sent its next request already: answer this one first.
                (&mut work).await
            }
        };
        let sent = match answer {
            // The header, then the payload as it was rendered (not copied behind the header:
            // an answer of 10,000 rows is a megabyte).
            Ok(answer) => {
                let header = protocol::ok_header(id, answer.payload.len());
                let sent = write_all(&mut writer, &[&header, &answer.payload]).await;
                answer.release();
                sent
            }
            Err(error) => {
                context.counters.refused.fetch_add(1, Ordering::Relaxed);
                write(&mut writer, &protocol::error_line(id, &error)).await
            }
        };
        if sent.is_err() {
            context
                .counters
                .slow_clients
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// Whether the client hung up (end of input or an error), or `false` once it sent more.
async fn hung_up<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> bool {
    match reader.fill_buf().await {
        Ok(available) => available.is_empty(),
        Err(_) => true,
    }
}

enum RequestError {
    TooLarge,
    Idle,
    Slow,
    Io,
}

/// Reads one request line: `None` at end of input. Its first byte must come within `idle`;
/// then the line must fit [`MAX_REQUEST`] and finish within [`REQUEST_TIMEOUT`].
async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    idle: Duration,
) -> Result<Option<Vec<u8>>, RequestError> {
    let mut line = Vec::new();
    // Wait for the first byte, as long as a connection may sit idle…
    let available = tokio::time::timeout(idle, reader.fill_buf())
        .await
        .map_err(|_| RequestError::Idle)?
        .map_err(|_| RequestError::Io)?;
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
    write_all(writer, &[bytes]).await
}

/// Writes `parts` one after the other, all within [`WRITE_TIMEOUT`].
async fn write_all(
    writer: &mut tokio::net::unix::OwnedWriteHalf,
    parts: &[&[u8]],
) -> Result<(), ()> {
    let all = async {
        for part in parts {
            writer.write_all(part).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(WRITE_TIMEOUT, all).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// An answer's payload, and what was built to render it: freed once the payload is sent, so
/// that the client does not wait for it (freeing 10,000 rows of values takes about as long
/// as rendering them).
struct Answer {
    payload: Vec<u8>,
    _leftovers: Option<Box<dyn Send>>,
}

impl Answer {
    fn new(payload: Vec<u8>) -> Answer {
        Answer {
            payload,
            _leftovers: None,
        }
    }

    /// Frees the answer and what it leaves behind: on a blocking thread when that is much
    /// (and then gives large answers' memory back to the system), here when it is little
    /// (a few hundred rows free faster than a thread is woken).
    fn release(self) {
        if self.payload.len() < 32 * 1024 {
            return;
        }
        let large = self.payload.len() > 256 * 1024;
        tokio::task::spawn_blocking(move || {
            drop(self);
            if large {
                release_free_memory();
            }
        });
    }
}

/// Serves one request (not `subscribe`) on a blocking thread: table locks and waits never
/// hold up the runtime. `cancel` ends a wait early (its client hung up).
async fn answer(
    context: Arc<Shared>,
    command: Command,
    viewer: Viewer,
    uid: u32,
    cancel: Arc<AtomicBool>,
) -> Result<Answer, ProtocolError> {
    tokio::task::spawn_blocking(move || answer_blocking(&context, command, viewer, uid, &cancel))
        .await
        .unwrap_or_else(|e| {
            Err(ProtocolError {
                kind: "internal",
                message: format!("the request failed: {e}"),
            })
        })
}

/// A query taking this long is logged with where its time went.
const SLOW_QUERY: Duration = Duration::from_millis(50);

fn answer_blocking(
    context: &Shared,
    command: Command,
    viewer: Viewer,
    uid: u32,
    cancel: &AtomicBool,
) -> Result<Answer, ProtocolError> {
    let answer = match command {
        Command::Query(query) => {
            // Each request its own collector: none waits while another reads /proc.
            let mut collector = context
                .collector
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .for_request();
            let started = Instant::now();
            let refreshed;
            let rows = if crate::query::table_only(&query, &viewer) {
                // Nothing to read from /proc: answered from the table as it is, no copy.
                let table = context.tracer.refresh();
                refreshed = Instant::now();
                crate::query::run(&table, &mut collector, &query, &viewer)
            } else {
                // What the table knows, copied under its lock; /proc is read after.
                let entries = {
                    let table = context.tracer.refresh();
                    refreshed = Instant::now();
                    crate::query::select(&table, &query)
                };
                crate::query::run_on(entries, &mut collector, &query, &viewer)
            };
            let collected = Instant::now();
            let payload = crate::render::rows::render(&rows, query.format);
            context
                .collector
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .learn_users(collector);
            let took = started.elapsed();
            // Where a slow answer's time went, for the operator (and the bench's logs; the
            // agent logs warnings unless asked for more).
            if took >= SLOW_QUERY {
                tracing::warn!(
                    "slow query: {} rows in {:.1} ms (bringing the table up to date {:.1} ms, \
                     collecting {:.1} ms, rendering {:.1} ms)",
                    rows.rows.len(),
                    took.as_secs_f64() * 1e3,
                    (refreshed - started).as_secs_f64() * 1e3,
                    (collected - refreshed).as_secs_f64() * 1e3,
                    collected.elapsed().as_secs_f64() * 1e3,
                );
            }
            return Ok(Answer {
                payload,
                _leftovers: Some(Box::new(rows)),
            });
        }
        Command::Tree { pid, format } => {
            let nodes = {
                let table = context.tracer.refresh();
                crate::query::tree_nodes(&table)
            };
            crate::render::rows::tree_of(nodes, pid, format, &viewer).map_err(|message| {
                ProtocolError {
                    kind: "no_such_process",
                    message,
                }
            })
        }
        Command::Wait { pids, timeout } => {
            let busy = |message: String| ProtocolError {
                kind: "busy",
                message,
            };
            let max = context.limits.max_waits_per_uid;
            let _slot = UidSlot::take(&context.waits_by_uid, uid, max).ok_or_else(|| {
                busy(format!(
                    "uid {uid} has {max} waits in progress already (--max-waits-per-uid); try again later"
                ))
            })?;
            let _permit = context.waits.try_acquire().map_err(|_| {
                busy(format!(
                    "{MAX_WAITS} waits are in progress already; try again later"
                ))
            })?;
            let timeout = timeout.map(Duration::from_secs_f64);
            let cancelled =
                || cancel.load(Ordering::Relaxed) || context.stopping.load(Ordering::Relaxed);
            crate::process::ops::wait_cancellable(&pids, timeout, &viewer, &cancelled)
                .map(|answer| crate::render::json::to_vec(&answer))
                .map_err(process_error)
        }
        Command::Signal { pids, signal } => {
            let results = crate::process::ops::signal(&pids, signal.signal(), &viewer);
            Ok(crate::render::json::to_vec(&results))
        }
        Command::Stats => Ok(crate::render::json::to_vec(&stats(context))),
        Command::Sys { sections, format } => {
            Ok(super::sampling::system().answer(&sections, format, &viewer))
        }
        Command::Subscribe { .. } => unreachable!("subscriptions are streamed, not answered"),
    };
    answer.map(Answer::new)
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

/// A `subscribe` request, with who made it.
struct Subscription {
    id: u64,
    filter: crate::query::filter::EventFilter,
    replay_exited: bool,
    format: Format,
    peer: Peer,
}

/// Decides what one subscriber may see of each event: fresh credentials while the process
/// can be read, else what was decided for it at its fork or exec together with the ids the
/// kernel recorded in the event itself.
struct StreamAccess {
    viewer: Viewer,
    decided: Instant,
    known: HashMap<crate::event::ProcessId, Access>,
}

/// Processes whose access a subscriber remembers until their exit (then it starts over).
const REMEMBERED: usize = 65_536;

impl StreamAccess {
    fn new(viewer: Viewer) -> Self {
        StreamAccess {
            viewer,
            decided: Instant::now(),
            known: HashMap::new(),
        }
    }

    /// Re-decides who the subscriber is every second (its capabilities, the mount's hidepid).
    fn refresh(&mut self, peer: &Peer, context: &Shared) {
        if self.decided.elapsed() >= Duration::from_secs(1) {
            self.viewer = peer.viewer(context);
            self.decided = Instant::now();
        }
    }

    fn of(&mut self, event: &crate::event::Event, remembered: Option<Access>) -> Access {
        use crate::event::Details;
        use crate::query::access::{Creds, HidePid};
        let viewer = &self.viewer;
        if viewer.sees_all() {
            return Access::FULL;
        }
        let private = !matches!(event.details, Details::Fork { .. });
        if viewer.hidepid == HidePid::Off && !private {
            return Access {
                visible: true,
                read: false,
            };
        }
        // The ids the kernel wrote in the event (real ones; an exec's all three): an event is
        // never shown to someone who could not have seen its process when it happened (a root
        // `setpriv`'s exec stays hidden from nobody after it drops to nobody).
        let at_event = match &event.details {
            Details::Exec(exec) => Creds {
                uids: exec.uids,
                gids: exec.gids,
                dumpable: true,
            },
            _ => Creds {
                uids: [event.uid; 3],
                gids: [event.gid; 3],
                dumpable: true,
            },
        };
        let by_event = Access {
            visible: viewer.sees(Some(&at_event)),
            read: viewer.may_read(&at_event),
        };
        let fresh = Creds::read_id(event.id);
        let now = match fresh {
            // Still there: and what it is now (a setresuid since, a non-dumpable process).
            Some(creds) => Some(Access {
                visible: viewer.sees(Some(&creds)),
                read: viewer.may_read(&creds),
            }),
            // Gone already: no more than what was decided while it could be read — except
            // that an exec starts over (what was remembered was about the image it replaced;
            // a root `setpriv` that became nobody's `/bin/true`).
            None => match &event.details {
                Details::Exec(_) => None,
                _ => remembered.or_else(|| self.known.get(&event.id).copied()),
            },
        };
        let access = match now {
            Some(now) => Access {
                visible: now.visible && by_event.visible,
                read: now.read && by_event.read,
            },
            None => by_event,
        };
        if matches!(event.details, Details::Exit(_)) {
            self.known.remove(&event.id);
        } else if fresh.is_some() || matches!(event.details, Details::Exec(_)) {
            if self.known.len() >= REMEMBERED {
                self.known.clear();
            }
            self.known.insert(event.id, access);
        }
        access
    }
}

/// Appends `event` as `access` allows (nothing when it is hidden).
fn render_event(
    out: &mut Vec<u8>,
    event: &crate::event::Event,
    format: Format,
    access: Access,
    synthesized: bool,
) {
    if let Some(variant) = Variant::of(format, access) {
        variant.render(out, event, synthesized);
    }
}

/// Appends a live `event` as `access` allows: with other subscribers, the line one of them
/// rendered (each line is rendered once and shared); alone, rendered straight into `out`.
fn append_event(
    out: &mut Vec<u8>,
    (sequence, event): (u64, &crate::event::Event),
    format: Format,
    access: Access,
    context: &Shared,
) {
    let Some(variant) = Variant::of(format, access) else {
        return;
    };
    if context.counters.subscribers.load(Ordering::Relaxed) <= 1 {
        variant.render(out, event, false);
        return;
    }
    let (line, _reused) = context.rendered.line(sequence, event, variant);
    out.extend_from_slice(&line);
}

/// What a subscriber's stream gathers before one write: a drain's events under a sustained
/// storm (about 150 KB of JSON lines in 100 ms), in one write and one wake-up of the client
/// rather than three, and within a Unix socket's default send buffer (208 KiB), so that the
/// write does not wait for the client half-way.
const STREAM_WRITE: usize = 192 * 1024;

/// Streams events to a subscriber until it leaves (noticed within a second, whatever its
/// filter lets through) or the agent stops.
async fn stream_events(
    socket: &super::stream_socket::StreamSocket,
    context: &Shared,
    request: Subscription,
) {
    let Subscription {
        id,
        filter,
        replay_exited,
        format,
        peer,
    } = request;
    let _subscriber = Gauge::up(&context.counters.subscribers);
    if let Feed::Snapshot(reason) = context.tracer.feed() {
        let error = ProtocolError {
            kind: "unavailable",
            message: format!("this agent has no event feed ({reason})"),
        };
        let _ = socket
            .write(&protocol::error_line(id, &error), WRITE_TIMEOUT)
            .await;
        return;
    }
    let (mut subscription, mut next) = context.tracer.subscribe_batches();
    let mut losses = context.tracer.subscribe_lost();
    let mut access = StreamAccess::new(peer.viewer(context));
    let mut head = protocol::stream_header(id);
    if replay_exited {
        // Up to `--max-exited` lines: rendered off the async worker (the runtime hands the
        // worker's other tasks to another thread meanwhile), so a replay delays no one else.
        tokio::task::block_in_place(|| {
            // Copied under the lock, judged and rendered after it.
            let exits: Vec<_> = {
                let table = context.tracer.lock();
                table
                    .exited()
                    .filter_map(|entry| {
                        let event = crate::table::exit_event(entry)?;
                        filter.matches(&event).then(|| {
                            let known = crate::query::access::Creds::known(entry);
                            (event, known)
                        })
                    })
                    .collect()
            };
            for (event, known) in exits {
                let viewer = &access.viewer;
                let decided = match known {
                    _ if viewer.sees_all() => Access::FULL,
                    Some(creds) => Access {
                        visible: viewer.sees(Some(&creds)),
                        read: viewer.may_read(&creds),
                    },
                    None => Access {
                        visible: viewer.sees(None),
                        read: false,
                    },
                };
                let shown = access.of(&event, Some(decided));
                render_event(&mut head, &event, format, shown, false);
            }
        });
    }
    if socket.write(&head, WRITE_TIMEOUT).await.is_err() {
        return;
    }
    let mut shutdown = context.shutdown.clone();
    let mut dropped_here = 0u64;
    let mut out = Vec::new();
    loop {
        out.clear();
        tokio::select! {
            received = subscription.recv() => match received {
                Ok(batch) => {
                    access.refresh(&peer, context);
                    let mut batch = Some(batch);
                    // Take what else is queued, to write in one go.
                    while let Some(received) = batch.take() {
                        let lost = received.first.saturating_sub(next);
                        if lost > 0 {
                            dropped_here += lost;
                            context
                                .counters
                                .subscriber_drops
                                .fetch_add(lost, Ordering::Relaxed);
                            StreamRecord::Dropped { count: lost }.write_line(&mut out);
                        }
                        next = next.max(received.first + received.events.len() as u64);
                        for (sequence, event) in (received.first..).zip(&received.events) {
                            if filter.matches(event) {
                                let shown = access.of(event, None);
                                append_event(&mut out, (sequence, event), format, shown, context);
                            }
                        }
                        if out.len() < STREAM_WRITE {
                            // A lag shows as the gap before the next batch received.
                            batch = subscription.try_recv().ok();
                        }
                    }
                }
                // Counted from the gap before the next batch (the count here is of batches).
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            lost = losses.recv() => match lost {
                Ok(lost) => write_lost(&mut out, &lost, &filter, format, &mut access),
                Err(broadcast::error::RecvError::Lagged(count)) => {
                    dropped_here += count;
                    StreamRecord::Dropped { count }.write_line(&mut out);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            // A subscriber has nothing more to say: what it sends is dropped.
            gone = socket.hung_up() => {
                if gone {
                    return;
                }
            }
            _ = shutdown.changed() => {
                let mut end = Vec::new();
                StreamRecord::End { reason: "agent stopping" }.write_line(&mut end);
                let _ = socket.write(&end, WRITE_TIMEOUT).await;
                return;
            }
        }
        if !out.is_empty() && socket.write(&out, WRITE_TIMEOUT).await.is_err() {
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

/// The loss record, then what the resynchronisation found as synthesized events.
fn write_lost(
    out: &mut Vec<u8>,
    lost: &Lost,
    filter: &crate::query::filter::EventFilter,
    format: Format,
    access: &mut StreamAccess,
) {
    StreamRecord::Lost {
        count: lost.count,
        total: lost.total,
        vanished: lost.vanished.len() as u64,
        appeared: lost.appeared.len() as u64,
    }
    .write_line(out);
    for event in lost.vanished.iter().chain(&lost.appeared) {
        if filter.matches(event) {
            let shown = access.of(event, None);
            render_event(out, event, format, shown, true);
        }
    }
}

/// The agent's counters (`tracer stats`, the `stats` request, the metrics).
pub(super) fn stats(context: &Shared) -> Stats {
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
        over_limit: c.over_limit.load(Ordering::Relaxed),
        idle_closed: c.idle_closed.load(Ordering::Relaxed),
        accept_errors: c.accept_errors.load(Ordering::Relaxed),
        rss_bytes: own_rss(),
        exporters: context.exporters.stats(),
    }
}

fn own_rss() -> u64 {
    crate::host::procfs::Procfs::new()
        .memory_info(std::process::id())
        .map_or(0, |m| m.rss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Backend, Details, Event, Exec, Exit, ProcessId};
    use crate::query::access::HidePid;

    const NOBODY: u32 = 65_534;

    /// An event about a process that is gone (a pid above `pid_max`), so nothing fresh can be
    /// read and the stream must decide from the record and what it remembered.
    fn gone(uid: u32, details: Details) -> Event {
        Event {
            time: 1.0,
            id: ProcessId {
                pid: u32::MAX - 7,
                start_ticks: 42,
            },
            create_time: 1.0,
            ppid: 1,
            uid,
            gid: uid,
            name: "true".into(),
            backend: Backend::Ebpf,
            placement: None,
            details,
        }
    }

    fn exec(uid: u32) -> Event {
        gone(
            uid,
            Details::Exec(Box::new(Exec {
                exe: Some("/bin/true".into()),
                cmdline: vec!["/bin/true".into()],
                uids: [uid; 3],
                gids: [uid; 3],
                cmdline_truncated: false,
                cmdline_bytes: 0,
                exe_truncated: false,
            })),
        )
    }

    fn nobody() -> StreamAccess {
        StreamAccess::new(Viewer::user(
            NOBODY,
            NOBODY,
            ProcMount {
                hidepid: HidePid::Invisible,
                gid: None,
            },
        ))
    }

    #[test]
    fn an_exec_is_judged_on_its_new_image_not_the_one_it_replaced() {
        // root's `setpriv` was seen (hidden from nobody); it dropped to nobody and exec'd
        // `/bin/true`, which had exited before its exec was streamed.
        let mut stream = nobody();
        let id = exec(0).id;
        stream.known.insert(
            id,
            Access {
                visible: false,
                read: false,
            },
        );
        assert_eq!(stream.of(&exec(NOBODY), None), Access::FULL);
        let exit = gone(NOBODY, Details::Exit(Exit::from_wait_status(0, 0.01)));
        assert_eq!(stream.of(&exit, None), Access::FULL);
        assert!(!stream.known.contains_key(&id), "forgotten at its exit");
    }

    #[test]
    fn an_event_is_hidden_from_who_could_not_see_its_process_when_it_happened() {
        // A live process (this test, root or not) whose exec record says root's: whatever it
        // is now, nobody does not see root's exec.
        let mut stream = nobody();
        let mut event = exec(0);
        event.id = ProcessId {
            pid: std::process::id(),
            start_ticks: crate::host::Host::new()
                .stat(std::process::id())
                .unwrap()
                .starttime,
        };
        if let Details::Exec(exec) = &mut event.details {
            exec.uids = [0; 3];
            exec.gids = [0; 3];
        }
        assert!(!stream.of(&event, None).visible);
    }

    #[test]
    fn what_was_hidden_while_it_ran_stays_hidden_at_its_exit() {
        // Seen non-dumpable while it ran (not readable), with nobody's ids: its exit record
        // (nobody's uid) does not make it readable.
        let mut stream = nobody();
        let id = exec(0).id;
        stream.known.insert(
            id,
            Access {
                visible: false,
                read: false,
            },
        );
        let exit = gone(NOBODY, Details::Exit(Exit::from_wait_status(0, 0.01)));
        assert_eq!(
            stream.of(&exit, None),
            Access {
                visible: false,
                read: false
            }
        );
        // And root's exec is hidden from nobody on its own record.
        assert!(!nobody().of(&exec(0), None).visible);
    }
}
