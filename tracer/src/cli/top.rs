//! `tracer top`: a refreshing terminal view — a system summary, the processes sorted by CPU
//! or memory, and a pane of recent exits with exit codes, signals and durations (which `top`
//! cannot show: it never sees a process that lived between two refreshes, nor how any ended).
//!
//! Where the figures come from:
//!
//! - **Through the agent** (when one runs): the `query` op for the processes, the `query` op
//!   with `exited: true` for the exits, the `sys` op for CPU and memory. The agent samples the
//!   CPU counters on its own, so the first screen already shows real CPU use.
//! - **Directly**: a process table of our own — as root, the live eBPF table
//!   (`Tracer::start(TracerConfig::default())`), so exits are shown as through the agent;
//!   otherwise `/proc` snapshots, and the exits pane says that exits need the agent or root.
//!   The first screen waits half a second to have a CPU window to show.
//!
//! The figures are fetched on a thread of their own, so keys are answered at once however long
//! a refresh takes. The terminal is restored on every way out: `q`, Ctrl-C, SIGTERM, SIGHUP,
//! an error, or a panic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;
use serde_json::Value as JsonValue;

use super::text;
use super::Connection;
use crate::agent::{Client, ClientError};
use crate::agent_request;
use crate::attrs::Collector;
use crate::live::{Feed, Tracer, TracerConfig};
use crate::query::{self, Format, Query, Viewer};
use crate::system::{self, Sampler};

/// Flags of `tracer top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,

    /// The order to start with (keys c, m, p and n change it).
    #[arg(long, value_enum, default_value_t = SortKey::Cpu)]
    sort: SortKey,

    /// Start in tree mode (key t toggles it).
    #[arg(long)]
    tree: bool,
}

/// What the process list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SortKey {
    /// CPU use, busiest first.
    Cpu,
    /// Resident memory, largest first.
    Memory,
    /// Process id, lowest first.
    Pid,
    /// Name, alphabetically.
    Name,
}

impl SortKey {
    fn label(self) -> &'static str {
        match self {
            SortKey::Cpu => "CPU",
            SortKey::Memory => "memory",
            SortKey::Pid => "pid",
            SortKey::Name => "name",
        }
    }

    /// Whether the natural order is descending (biggest first).
    fn descending(self) -> bool {
        matches!(self, SortKey::Cpu | SortKey::Memory)
    }
}

/// Attributes asked for the process list.
const PROC_ATTRS: [&str; 11] = [
    "pid",
    "ppid",
    "username",
    "status",
    "num_threads",
    "cpu_percent",
    "memory_percent",
    "memory_info",
    "cpu_times",
    "name",
    "cmdline",
];

/// Attributes asked for the exits pane.
const EXIT_ATTRS: [&str; 8] = [
    "pid",
    "ppid",
    "name",
    "exit_code",
    "signal",
    "duration",
    "exit_time",
    "cmdline",
];

/// The exits asked for: the newest, and those that failed (signals first, then the highest
/// exit codes) so that a storm of successful exits cannot hide them. Each bounded: a busy host
/// keeps tens of thousands of exits for the retention time.
const EXIT_QUERIES: [(&str, usize); 3] =
    [("-exit_time", 500), ("-signal", 100), ("-exit_code", 100)];

/// The smallest terminal the view is drawn in (columns, lines).
const MIN_SIZE: (u16, u16) = (60, 12);

/// How long a direct view waits before its first screen, to have a CPU window.
const FIRST_WINDOW: Duration = Duration::from_millis(500);

/// Runs `tracer top` until `q`, Ctrl-C, SIGTERM or SIGHUP.
pub fn run(args: TopArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    if !(args.interval.is_finite() && (0.1..=3600.0).contains(&args.interval)) {
        bail!("--interval must be a number of seconds from 0.1 to 3600");
    }
    if !std::io::stdout().is_terminal() {
        bail!(
            "tracer top draws on a terminal and stdout is not one; \
             for scripts use `tracer ps --json` or `tracer sys --json`"
        );
    }
    let interval = Duration::from_secs_f64(args.interval);
    let mut keys = Keys::open()?;
    let client = connection.client();
    let socket = connection.socket.clone();
    // Bounded: while the screen does not take them, the refresh thread waits.
    let (snapshots_tx, snapshots) = mpsc::sync_channel(1);
    let (wake, wakes) = mpsc::channel();
    std::thread::Builder::new()
        .name("tracer-top-fetch".into())
        .spawn(move || fetch_loop(client, socket, interval, snapshots_tx, wakes))
        .context("cannot start the refresh thread")?;

    let mut app = App::new(&args);
    let mut terminal = Screen::enter()?;
    let outcome = ui_loop(&mut terminal, &mut keys, &mut app, &snapshots, &wake);
    drop(terminal);
    outcome.map(|()| ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// The terminal

/// Set by SIGTERM, SIGHUP and SIGINT: leave and restore the terminal.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// The terminal in raw mode on the alternate screen; restored when dropped, and by the panic
/// hook if anything panics meanwhile.
struct Screen {
    terminal: ratatui::DefaultTerminal,
}

impl Screen {
    fn enter() -> anyhow::Result<Screen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
                libc::signal(signal, on_stop_signal as *const () as libc::sighandler_t);
            }
        }
        crossterm::terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        let entered = crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        );
        let terminal = entered
            .and_then(|()| {
                ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
            })
            .map_err(|e| {
                restore_terminal();
                anyhow::anyhow!("cannot draw on the terminal: {e}")
            })?;
        Ok(Screen { terminal })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn ui_loop(
    screen: &mut Screen,
    keys: &mut Keys,
    app: &mut App,
    snapshots: &Receiver<Update>,
    wake: &Sender<()>,
) -> anyhow::Result<()> {
    let mut dirty = true;
    let mut size = crossterm::terminal::size().ok();
    loop {
        loop {
            match snapshots.try_recv() {
                Ok(update) => {
                    app.apply(update);
                    dirty = true;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    bail!("the refresh thread stopped unexpectedly")
                }
            }
        }
        if STOP.load(Ordering::Relaxed) {
            return Ok(());
        }
        if dirty {
            screen
                .terminal
                .draw(|frame| app.draw(frame))
                .context("drawing failed")?;
            dirty = false;
        }
        match keys.wait(Duration::from_millis(100))? {
            // The terminal went away (its window closed, the ssh session ended).
            Input::Closed => return Ok(()),
            Input::Keys(pressed) => {
                for key in pressed {
                    match app.key(key) {
                        Action::Quit => return Ok(()),
                        Action::Refresh => {
                            let _ = wake.send(());
                        }
                        Action::None => {}
                    }
                }
                dirty = true;
            }
            Input::Nothing => {}
        }
        let now = crossterm::terminal::size().ok();
        if now != size {
            size = now;
            dirty = true;
        }
    }
}

/// What the keyboard gave.
enum Input {
    Nothing,
    Keys(Vec<KeyEvent>),
    /// The terminal hung up.
    Closed,
}

/// The keyboard, read with poll(2) and read(2) rather than crossterm's reader, which spins
/// forever on a terminal that hung up (read returning 0) instead of reporting it.
struct Keys {
    fd: RawFd,
    /// `/dev/tty` when stdin is not the terminal (kept open).
    _tty: Option<std::fs::File>,
}

impl Keys {
    fn open() -> anyhow::Result<Keys> {
        if std::io::stdin().is_terminal() {
            return Ok(Keys {
                fd: std::io::stdin().as_raw_fd(),
                _tty: None,
            });
        }
        let tty = std::fs::File::open("/dev/tty")
            .context("cannot read the keyboard: stdin is not a terminal and /dev/tty is not")?;
        Ok(Keys {
            fd: tty.as_raw_fd(),
            _tty: Some(tty),
        })
    }

    /// Waits up to `timeout` for keys.
    fn wait(&mut self, timeout: Duration) -> anyhow::Result<Input> {
        let mut poll = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout.as_millis() as libc::c_int) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                return Ok(Input::Nothing);
            }
            return Err(error).context("reading the keyboard failed");
        }
        if ready == 0 {
            return Ok(Input::Nothing);
        }
        if poll.revents & libc::POLLIN == 0 {
            // POLLHUP, POLLERR or POLLNVAL without data.
            return Ok(Input::Closed);
        }
        let mut buffer = [0u8; 1024];
        // SAFETY: `fd` stays open while `self` lives (stdin, or the File held); ManuallyDrop
        // keeps the borrowed descriptor from being closed.
        let mut file = std::mem::ManuallyDrop::new(unsafe {
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(self.fd)
        });
        match file.read(&mut buffer) {
            Ok(0) => Ok(Input::Closed),
            Ok(n) => Ok(Input::Keys(parse_keys(&buffer[..n]))),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(Input::Nothing)
            }
            // EIO: the terminal hung up.
            Err(_) => Ok(Input::Closed),
        }
    }
}

/// Decodes what a terminal in raw mode sends: characters, control keys, and the escape
/// sequences of arrows, Home/End and PgUp/PgDn (other sequences are skipped). A lone ESC is
/// the Escape key.
fn parse_keys(bytes: &[u8]) -> Vec<KeyEvent> {
    let plain = |code| KeyEvent::new(code, KeyModifiers::NONE);
    let mut keys = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        let key = match byte {
            0x1b if matches!(bytes.get(i), Some(b'[' | b'O')) => {
                // CSI or SS3: parameters, then a final byte in 0x40..=0x7e.
                let start = i + 1;
                let Some(end) = bytes[start.min(bytes.len())..]
                    .iter()
                    .position(|b| (0x40..=0x7e).contains(b))
                    .map(|at| start + at)
                else {
                    break;
                };
                i = end + 1;
                let params = &bytes[start..end];
                match (bytes[end], params) {
                    (b'A', _) => plain(KeyCode::Up),
                    (b'B', _) => plain(KeyCode::Down),
                    (b'C', _) => plain(KeyCode::Right),
                    (b'D', _) => plain(KeyCode::Left),
                    (b'H', _) | (b'~', b"1" | b"7") => plain(KeyCode::Home),
                    (b'F', _) | (b'~', b"4" | b"8") => plain(KeyCode::End),
                    (b'~', b"5") => plain(KeyCode::PageUp),
                    (b'~', b"6") => plain(KeyCode::PageDown),
                    _ => continue,
                }
            }
            0x1b => plain(KeyCode::Esc),
            b'\r' | b'\n' => plain(KeyCode::Enter),
            0x7f | 0x08 => plain(KeyCode::Backspace),
            b'\t' => plain(KeyCode::Tab),
            0x01..=0x1a => KeyEvent::new(
                KeyCode::Char(char::from(b'a' + byte - 1)),
                KeyModifiers::CONTROL,
            ),
            0x00..=0x1f => continue,
            _ => {
                // One UTF-8 character.
                let len = match byte {
                    0xf0..=0xf7 => 4,
                    0xe0..=0xef => 3,
                    0xc0..=0xdf => 2,
                    _ => 1,
                };
                let end = (i - 1 + len).min(bytes.len());
                let decoded = std::str::from_utf8(&bytes[i - 1..end])
                    .ok()
                    .and_then(|s| s.chars().next());
                i = end;
                match decoded {
                    Some(c) => plain(KeyCode::Char(c)),
                    None => continue,
                }
            }
        };
        keys.push(key);
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Figures

/// One process row.
#[derive(Debug, Clone, Default)]
struct Proc {
    pid: u32,
    ppid: u32,
    user: String,
    status: String,
    threads: i64,
    cpu: f64,
    mem: f64,
    rss: u64,
    cpu_time: f64,
    name: String,
    command: String,
}

/// One recently exited process.
#[derive(Debug, Clone, Default)]
struct Exit {
    pid: u32,
    ppid: u32,
    name: String,
    exit_code: Option<i64>,
    signal: Option<i64>,
    duration: Option<f64>,
    exit_time: f64,
    command: String,
}

/// System-wide figures of the summary.
#[derive(Debug, Clone, Default)]
struct Summary {
    cpu_percent: Option<f64>,
    percpu: Vec<f64>,
    load: Option<[f64; 3]>,
    /// total, used, available, percent
    memory: Option<(u64, u64, u64, f64)>,
    /// total, used, percent
    swap: Option<(u64, u64, f64)>,
    boot_time: Option<f64>,
}

/// What the exits pane can show.
#[derive(Debug, Clone)]
enum Exits {
    Known(Vec<Exit>),
    /// Why there are none to show.
    Unavailable(String),
}

/// One refresh.
#[derive(Debug, Clone)]
struct Snapshot {
    summary: Summary,
    procs: Vec<Proc>,
    exits: Exits,
    /// Where the figures came from.
    mode: String,
}

/// What the refresh thread sends.
enum Update {
    /// Said while starting (direct mode may load eBPF programs first).
    Starting(String),
    Snapshot(Box<Snapshot>),
    /// A refresh failed; the last snapshot stays on screen.
    Failed(String),
}

/// Where figures come from.
enum Source {
    Agent {
        client: Client,
        /// The agent's backend has exit codes.
        ebpf: bool,
    },
    Direct(Box<Direct>),
}

struct Direct {
    tracer: Tracer,
    collector: Collector,
    sampler: Sampler,
    refreshes: u32,
    /// Running as root (eBPF was tried).
    root: bool,
}

impl Source {
    fn agent(mut client: Client) -> Source {
        let ebpf = client
            .request(agent_request!("stats"))
            .ok()
            .and_then(|out| serde_json::from_slice::<JsonValue>(&out).ok())
            .is_some_and(|stats| stats["backend"] == "ebpf");
        Source::Agent { client, ebpf }
    }

    /// A table of our own: the live eBPF one when we may load programs, else snapshots.
    fn direct() -> anyhow::Result<Source> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let config = if root {
            TracerConfig::default()
        } else {
            TracerConfig::snapshot()
        };
        let tracer = Tracer::start(config).context("cannot read the process table")?;
        let collector = Collector::new(tracer.host().clone());
        let mut direct = Direct {
            tracer,
            collector,
            sampler: Sampler::new(),
            refreshes: 0,
            root,
        };
        // Sample every process's CPU time once, so the first screen has a window to show.
        direct.query(None);
        std::thread::sleep(FIRST_WINDOW);
        Ok(Source::Direct(Box::new(direct)))
    }

    fn fetch(&mut self, socket: &std::path::Path) -> Result<Snapshot, ClientError> {
        match self {
            Source::Agent { client, ebpf } => {
                let procs = client.request(agent_request!(
                    "query", "attrs" => PROC_ATTRS, "format" => "json"))?;
                let exits = if *ebpf {
                    let mut lists = Vec::new();
                    for (sort, limit) in EXIT_QUERIES {
                        lists.push(client.request(agent_request!(
                            "query", "attrs" => EXIT_ATTRS, "exited" => true,
                            "sort" => sort, "limit" => limit, "format" => "json"))?);
                    }
                    Exits::Known(merge_exits(&lists))
                } else {
                    Exits::Unavailable(
                        "the agent runs without eBPF (see its log): no exits or exit codes".into(),
                    )
                };
                let sys = client.request(agent_request!(
                    "sys", "sections" => ["cpu", "memory"], "format" => "json"))?;
                let sys: JsonValue = serde_json::from_slice(&sys).unwrap_or_default();
                Ok(Snapshot {
                    summary: summary_of(&sys),
                    procs: parse_rows(&procs).iter().map(proc_of).collect(),
                    exits,
                    mode: format!("agent at {}", socket.display()),
                })
            }
            Source::Direct(direct) => Ok(direct.snapshot()),
        }
    }
}

impl Direct {
    /// Renders a query as the agent would: processes, or with `exits` the exits sorted and
    /// limited so.
    fn query(&mut self, exits: Option<(&str, usize)>) -> Vec<u8> {
        let attrs: Vec<String> = match exits {
            Some(_) => EXIT_ATTRS.iter().map(|a| a.to_string()).collect(),
            None => PROC_ATTRS.iter().map(|a| a.to_string()).collect(),
        };
        let sort = exits.map(|(sort, _)| sort);
        let mut query = Query::new(&attrs, sort, exits.is_some()).expect("known attributes");
        query.limit = exits.map(|(_, limit)| limit);
        query.format = Format::Json;
        let table = self.tracer.refresh();
        crate::render::rows::query(&table, &mut self.collector, &query, &Viewer::ROOT)
    }

    fn snapshot(&mut self) -> Snapshot {
        let procs = parse_rows(&self.query(None));
        let (exits, mode) = match self.tracer.feed() {
            Feed::Ebpf => {
                let lists: Vec<Vec<u8>> = EXIT_QUERIES
                    .iter()
                    .map(|&query| self.query(Some(query)))
                    .collect();
                (
                    Exits::Known(merge_exits(&lists)),
                    "direct: live eBPF table (no agent)".to_string(),
                )
            }
            Feed::Snapshot(_) if !self.root => (
                Exits::Unavailable(
                    "exits need the agent (start `tracer agent`), or root to trace them here \
                     with eBPF: /proc cannot tell how a process ended"
                        .into(),
                ),
                "direct: /proc snapshots (no agent)".to_string(),
            ),
            Feed::Polling(backend, _) => (
                Exits::Unavailable(format!(
                    "exits need the agent (start `tracer agent`) or eBPF: {backend} polling \
                     cannot tell how a process ended"
                )),
                format!("direct: {backend} polling (no agent)"),
            ),
            Feed::Snapshot(reason) => (
                Exits::Unavailable(format!(
                    "exits need the agent (start `tracer agent`) or eBPF, which is unavailable \
                     here: {reason}"
                )),
                "direct: /proc snapshots (no agent)".to_string(),
            ),
        };
        let s = &mut self.sampler;
        let summary = Summary {
            cpu_percent: s.cpu_percent(None).ok(),
            percpu: s.cpu_percent_percpu(None).unwrap_or_default(),
            load: system::getloadavg().ok(),
            memory: system::virtual_memory()
                .ok()
                .map(|m| (m.total, m.used, m.available, m.percent)),
            swap: system::swap_memory()
                .ok()
                .map(|m| (m.total, m.used, m.percent)),
            boot_time: None,
        };
        // Once a minute, forget the CPU samples of processes that ended.
        self.refreshes = self.refreshes.wrapping_add(1);
        if self.refreshes.is_multiple_of(60) {
            self.collector.cpu_samples().prune(self.tracer.host());
        }
        Snapshot {
            summary,
            procs: procs.iter().map(proc_of).collect(),
            exits,
            mode,
        }
    }
}

/// The refresh thread: a snapshot every `interval` (or when woken), until the screen is gone.
fn fetch_loop(
    client: Option<Client>,
    socket: PathBuf,
    interval: Duration,
    updates: SyncSender<Update>,
    wakes: Receiver<()>,
) {
    let boot_time = system::boot_time().ok();
    let mut source = client.map(Source::agent);
    loop {
        if source.is_none() {
            let _ = updates.send(Update::Starting("reading the process table…".into()));
            source = match Source::direct() {
                Ok(direct) => Some(direct),
                Err(e) => {
                    let _ = updates.send(Update::Failed(format!("{e:#}")));
                    None
                }
            };
        }
        let update = match source.as_mut().map(|s| s.fetch(&socket)) {
            Some(Ok(mut snapshot)) => {
                snapshot.summary.boot_time = boot_time;
                Update::Snapshot(Box::new(snapshot))
            }
            Some(Err(error)) => {
                // The agent went away: reconnect, or go direct.
                source = match Client::connect(&socket) {
                    Ok(client) => Some(Source::agent(client)),
                    Err(_) => None,
                };
                Update::Failed(format!("the agent stopped answering ({error})"))
            }
            None => Update::Failed("no figures".into()),
        };
        if updates.send(update).is_err() {
            return;
        }
        match wakes.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The objects of a JSON array answer (`query` output). Lone `\udcXX` escapes (bytes that are
/// not UTF-8, written as Python's surrogateescape) are shown as `\xXX`.
fn parse_rows(out: &[u8]) -> Vec<JsonValue> {
    let cleaned = escape_surrogates(out);
    match serde_json::from_slice::<JsonValue>(&cleaned) {
        Ok(JsonValue::Array(rows)) => rows,
        _ => Vec::new(),
    }
}

/// Rewrites `\udcXX` escapes as the text `\xXX`, which serde_json accepts.
fn escape_surrogates(json: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !json.windows(4).any(|w| w.eq_ignore_ascii_case(b"\\udc")) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' && i + 1 < json.len() {
            let rest = &json[i..];
            if rest.len() >= 6 && rest[1] == b'u' && rest[2..4].eq_ignore_ascii_case(b"dc") {
                out.extend_from_slice(b"\\\\x");
                out.extend_from_slice(&rest[4..6]);
                i += 6;
            } else {
                out.extend_from_slice(&rest[..2]);
                i += 2;
            }
            continue;
        }
        out.push(json[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// The exits of several answers, once each, newest first.
fn merge_exits(answers: &[Vec<u8>]) -> Vec<Exit> {
    let mut seen = HashSet::new();
    let mut exits: Vec<Exit> = answers
        .iter()
        .flat_map(|out| parse_rows(out))
        .map(|row| exit_of(&row))
        .filter(|e| seen.insert((e.pid, e.exit_time.to_bits())))
        .collect();
    exits.sort_by(|a, b| b.exit_time.total_cmp(&a.exit_time).then(a.pid.cmp(&b.pid)));
    exits
}

fn string_of(value: &JsonValue) -> String {
    value
        .as_str()
        .map(|s| text::display(std::ffi::OsStr::new(s)))
        .unwrap_or_default()
}

fn command_of(value: &JsonValue) -> String {
    value
        .as_array()
        .map(|args| {
            args.iter()
                .filter_map(JsonValue::as_str)
                .map(|a| text::shell_word(std::ffi::OsStr::new(a)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn proc_of(row: &JsonValue) -> Proc {
    let times = &row["cpu_times"];
    Proc {
        pid: row["pid"].as_u64().unwrap_or(0) as u32,
        ppid: row["ppid"].as_u64().unwrap_or(0) as u32,
        user: string_of(&row["username"]),
        status: string_of(&row["status"]),
        threads: row["num_threads"].as_i64().unwrap_or(0),
        cpu: row["cpu_percent"].as_f64().unwrap_or(0.0),
        mem: row["memory_percent"].as_f64().unwrap_or(0.0),
        rss: row["memory_info"]["rss"].as_u64().unwrap_or(0),
        cpu_time: times["user"].as_f64().unwrap_or(0.0) + times["system"].as_f64().unwrap_or(0.0),
        name: string_of(&row["name"]),
        command: command_of(&row["cmdline"]),
    }
}

fn exit_of(row: &JsonValue) -> Exit {
    Exit {
        pid: row["pid"].as_u64().unwrap_or(0) as u32,
        ppid: row["ppid"].as_u64().unwrap_or(0) as u32,
        name: string_of(&row["name"]),
        exit_code: row["exit_code"].as_i64(),
        signal: row["signal"].as_i64(),
        duration: row["duration"].as_f64(),
        exit_time: row["exit_time"].as_f64().unwrap_or(0.0),
        command: command_of(&row["cmdline"]),
    }
}

fn summary_of(sys: &JsonValue) -> Summary {
    let vm = &sys["virtual_memory"];
    let swap = &sys["swap_memory"];
    let load = sys["getloadavg"].as_array().and_then(|l| {
        Some([
            l.first()?.as_f64()?,
            l.get(1)?.as_f64()?,
            l.get(2)?.as_f64()?,
        ])
    });
    Summary {
        cpu_percent: sys["cpu_percent"].as_f64(),
        percpu: sys["cpu_percent_percpu"]
            .as_array()
            .map(|v| v.iter().filter_map(JsonValue::as_f64).collect())
            .unwrap_or_default(),
        load,
        memory: vm["total"].as_u64().map(|total| {
            (
                total,
                vm["used"].as_u64().unwrap_or(0),
                vm["available"].as_u64().unwrap_or(0),
                vm["percent"].as_f64().unwrap_or(0.0),
            )
        }),
        swap: swap["total"].as_u64().map(|total| {
            (
                total,
                swap["used"].as_u64().unwrap_or(0),
                swap["percent"].as_f64().unwrap_or(0.0),
            )
        }),
        boot_time: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The view

enum Action {
    None,
    Quit,
    Refresh,
}

struct App {
    interval: Duration,
    snapshot: Option<Snapshot>,
    /// When the snapshot came.
    updated: Option<Instant>,
    /// Said while there is no snapshot yet.
    starting: String,
    /// The last refresh failed.
    error: Option<String>,
    sort: SortKey,
    /// The sort order is the key's natural one reversed.
    reversed: bool,
    tree: bool,
    /// The exits pane shows only non-zero exits and signals.
    failures_only: bool,
    filter: String,
    editing: bool,
    /// The selected process, once the user moved; otherwise the first row is selected.
    pinned: Option<u32>,
    table: TableState,
    /// Rows that fit the process pane (for page up/down).
    page: usize,
}

/// A visible process row: the process and its tree prefix.
struct Shown<'a> {
    proc: &'a Proc,
    prefix: String,
}

impl App {
    fn new(args: &TopArgs) -> App {
        App {
            interval: Duration::from_secs_f64(args.interval),
            snapshot: None,
            updated: None,
            starting: "connecting…".into(),
            error: None,
            sort: args.sort,
            reversed: false,
            tree: args.tree,
            failures_only: false,
            filter: String::new(),
            editing: false,
            pinned: None,
            table: TableState::default().with_selected(0),
            page: 10,
        }
    }

    fn apply(&mut self, update: Update) {
        match update {
            Update::Starting(what) => self.starting = what,
            Update::Snapshot(snapshot) => {
                self.snapshot = Some(*snapshot);
                self.updated = Some(Instant::now());
                self.error = None;
            }
            Update::Failed(error) => self.error = Some(error),
        }
    }

    fn descending(&self) -> bool {
        self.sort.descending() != self.reversed
    }

    fn key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
            return Action::Quit;
        }
        if self.editing {
            match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    self.editing = false;
                }
                KeyCode::Enter => self.editing = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) if !ctrl => self.filter.push(c),
                _ => {}
            }
            self.unpin();
            return Action::None;
        }
        let sort = |app: &mut App, key: SortKey| {
            if app.sort == key {
                app.reversed = !app.reversed;
            } else {
                app.sort = key;
                app.reversed = false;
            }
        };
        match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') => return Action::Quit,
            KeyCode::Char('c') | KeyCode::Char('P') => sort(self, SortKey::Cpu),
            KeyCode::Char('m') | KeyCode::Char('M') => sort(self, SortKey::Memory),
            KeyCode::Char('p') | KeyCode::Char('N') => sort(self, SortKey::Pid),
            KeyCode::Char('n') => sort(self, SortKey::Name),
            KeyCode::Char('t') | KeyCode::Char('T') => self.tree = !self.tree,
            KeyCode::Char('x') | KeyCode::Char('X') => self.failures_only = !self.failures_only,
            KeyCode::Char('/') => {
                self.editing = true;
                self.unpin();
            }
            KeyCode::Esc => {
                self.filter.clear();
                self.unpin();
            }
            KeyCode::Char('r') | KeyCode::Char(' ') => return Action::Refresh,
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(self.page as isize)),
            KeyCode::PageDown => self.move_by(self.page as isize),
            KeyCode::Home | KeyCode::Char('g') => self.unpin(),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2),
            _ => {}
        }
        Action::None
    }

    fn unpin(&mut self) {
        self.pinned = None;
        self.table.select(Some(0));
        *self.table.offset_mut() = 0;
    }

    fn move_by(&mut self, delta: isize) {
        let rows = self.visible();
        if rows.is_empty() {
            return;
        }
        let current = self
            .pinned
            .and_then(|pid| rows.iter().position(|r| r.proc.pid == pid))
            .or(self.table.selected())
            .unwrap_or(0);
        let next = (current as isize)
            .saturating_add(delta)
            .clamp(0, rows.len() as isize - 1) as usize;
        let pid = rows[next].proc.pid;
        drop(rows);
        if next == 0 {
            self.unpin();
        } else {
            self.pinned = Some(pid);
            self.table.select(Some(next));
        }
    }

    fn matches(&self, name: &str) -> bool {
        self.filter.is_empty() || name.to_lowercase().contains(&self.filter.to_lowercase())
    }

    fn compare(&self, a: &Proc, b: &Proc) -> std::cmp::Ordering {
        let order = match self.sort {
            SortKey::Cpu => a.cpu.total_cmp(&b.cpu),
            SortKey::Memory => a.rss.cmp(&b.rss),
            SortKey::Pid => a.pid.cmp(&b.pid),
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        let order = if self.descending() {
            order.reverse()
        } else {
            order
        };
        order.then(a.pid.cmp(&b.pid))
    }

    /// The process rows to show: filtered, sorted, and in tree mode nested under their parents
    /// (with a filter, the matches' ancestors stay to keep the tree whole).
    fn visible(&self) -> Vec<Shown<'_>> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        if !self.tree {
            let mut rows: Vec<&Proc> = snapshot
                .procs
                .iter()
                .filter(|p| self.matches(&p.name))
                .collect();
            rows.sort_by(|a, b| self.compare(a, b));
            return rows
                .into_iter()
                .map(|proc| Shown {
                    proc,
                    prefix: String::new(),
                })
                .collect();
        }
        let by_pid: HashMap<u32, &Proc> = snapshot.procs.iter().map(|p| (p.pid, p)).collect();
        let mut keep: HashSet<u32> = HashSet::new();
        for p in snapshot.procs.iter().filter(|p| self.matches(&p.name)) {
            let mut pid = p.pid;
            // Walk up to the root, stopping at what is already kept (or a loop).
            while keep.insert(pid) {
                match by_pid.get(&pid) {
                    Some(proc) if proc.ppid != pid && by_pid.contains_key(&proc.ppid) => {
                        pid = proc.ppid;
                    }
                    _ => break,
                }
            }
        }
        let mut children: BTreeMap<u32, Vec<&Proc>> = BTreeMap::new();
        let mut roots = Vec::new();
        for p in snapshot.procs.iter().filter(|p| keep.contains(&p.pid)) {
            if p.ppid != p.pid && keep.contains(&p.ppid) {
                children.entry(p.ppid).or_default().push(p);
            } else {
                roots.push(p);
            }
        }
        roots.sort_by(|a, b| self.compare(a, b));
        for list in children.values_mut() {
            list.sort_by(|a, b| self.compare(a, b));
        }
        let mut out = Vec::with_capacity(keep.len());
        let mut stack: Vec<(&Proc, String, String)> = roots
            .into_iter()
            .rev()
            .map(|p| (p, String::new(), String::new()))
            .collect();
        while let Some((proc, prefix, continuation)) = stack.pop() {
            if let Some(kids) = children.get(&proc.pid) {
                let last = kids.len().saturating_sub(1);
                for (i, kid) in kids.iter().enumerate().rev() {
                    let (branch, more) = if i == last {
                        ("└─ ", "   ")
                    } else {
                        ("├─ ", "│  ")
                    };
                    stack.push((
                        kid,
                        format!("{continuation}{branch}"),
                        format!("{continuation}{more}"),
                    ));
                }
            }
            out.push(Shown { proc, prefix });
        }
        out
    }

    fn draw(&mut self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            let message = format!(
                "tracer top needs a terminal of at least {}×{} (this one is {}×{}); q quits",
                MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
            );
            frame.render_widget(
                Paragraph::new(message).wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        let [title, summary, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(6),
            Constraint::Length(1),
        ])
        .areas(area);
        let exits_height = (body.height / 3).clamp(4, 14);
        let [procs, exits] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(exits_height)]).areas(body);
        self.draw_title(frame, title);
        self.draw_summary(frame, summary);
        self.draw_procs(frame, procs);
        self.draw_exits(frame, exits);
        self.draw_footer(frame, footer);
    }

    fn draw_title(&self, frame: &mut Frame, area: Rect) {
        let mode = self
            .snapshot
            .as_ref()
            .map_or(self.starting.as_str(), |s| s.mode.as_str());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let clock = text::time_of_day(now);
        let clock = clock.split('.').next().unwrap_or_default();
        let left = format!(
            " tracer top · {mode} · every {}",
            text::duration(self.interval.as_secs_f64())
        );
        let mut right = format!(" {clock} ");
        if left.chars().count() + right.len() > area.width as usize {
            right.clear();
        }
        let pad = (area.width as usize).saturating_sub(left.chars().count() + right.len());
        let line = Line::from(vec![
            Span::styled(left, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" ".repeat(pad)),
            Span::raw(right),
        ]);
        frame.render_widget(
            Paragraph::new(line).style(Style::new().bg(Color::Blue).fg(Color::White)),
            area,
        );
    }

    fn draw_summary(&self, frame: &mut Frame, area: Rect) {
        let Some(snapshot) = &self.snapshot else {
            frame.render_widget(Paragraph::new(format!(" {}", self.starting)), area);
            return;
        };
        let s = &snapshot.summary;
        let label = |l: &str| Span::styled(format!(" {l:<6}"), Style::new().fg(Color::Cyan));
        let mut cpu = vec![label("CPU")];
        match s.cpu_percent {
            Some(p) => {
                cpu.push(bar(p, 20));
                cpu.push(Span::styled(
                    format!(" {p:>5.1}%"),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
            }
            None => cpu.push(Span::raw("-")),
        }
        if !s.percpu.is_empty() && s.percpu.len() <= 16 {
            let each: Vec<String> = s.percpu.iter().map(|p| format!("{p:.0}%")).collect();
            cpu.push(Span::raw(format!("  per CPU {}", each.join(" "))));
        } else if !s.percpu.is_empty() {
            cpu.push(Span::raw(format!("  {} CPUs", s.percpu.len())));
        }
        if let Some([a, b, c]) = s.load {
            cpu.push(Span::raw(format!("   load {a:.2} {b:.2} {c:.2}")));
        }
        if let Some(boot) = s.boot_time {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            cpu.push(Span::raw(format!("   up {}", uptime(now - boot))));
        }
        let mut mem = vec![label("MEM")];
        match s.memory {
            Some((total, used, available, percent)) => {
                mem.push(bar(percent, 20));
                mem.push(Span::styled(
                    format!(" {percent:>5.1}%"),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
                mem.push(Span::raw(format!(
                    "  {} used of {}, {} available",
                    size(used),
                    size(total),
                    size(available)
                )));
            }
            None => mem.push(Span::raw("-")),
        }
        mem.push(Span::raw(match s.swap {
            Some((0, _, _)) => "   swap: none".to_string(),
            Some((total, used, percent)) => {
                format!("   swap {} of {} ({percent:.1}%)", size(used), size(total))
            }
            None => "   swap: -".to_string(),
        }));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut threads = 0;
        for p in &snapshot.procs {
            *counts.entry(p.status.as_str()).or_default() += 1;
            threads += p.threads.max(0);
        }
        let mut tasks = vec![
            label("TASKS"),
            Span::raw(format!(
                "{} processes, {threads} threads: ",
                snapshot.procs.len()
            )),
        ];
        let order = [
            "running",
            "sleeping",
            "disk-sleep",
            "idle",
            "stopped",
            "tracing-stop",
            "zombie",
            "dead",
        ];
        let mut parts: Vec<Span> = Vec::new();
        for status in order {
            let n = counts.remove(status).unwrap_or(0);
            if n == 0 && !matches!(status, "running" | "sleeping") {
                continue;
            }
            let style = match status {
                "zombie" | "dead" => Style::new().fg(Color::Red),
                "disk-sleep" | "stopped" | "tracing-stop" => Style::new().fg(Color::Yellow),
                "running" => Style::new().fg(Color::Green),
                _ => Style::new(),
            };
            parts.push(Span::styled(format!("{n} {status}"), style));
        }
        for (status, n) in counts {
            // No status: the process ended while it was being read.
            let status = if status.is_empty() { "gone" } else { status };
            parts.push(Span::raw(format!("{n} {status}")));
        }
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                tasks.push(Span::raw(", "));
            }
            tasks.push(part);
        }
        frame.render_widget(
            Paragraph::new(vec![Line::from(cpu), Line::from(mem), Line::from(tasks)]),
            area,
        );
    }

    /// A column header; `right` aligns it right over `width` cells (as the numbers below),
    /// and the sorted column gets an arrow.
    fn header_cell(
        &self,
        label: &str,
        key: Option<SortKey>,
        right: Option<usize>,
    ) -> Cell<'static> {
        let sorted = key.is_some_and(|key| key == self.sort);
        let mut label = label.to_string();
        if sorted {
            label.push_str(if self.descending() { "▼" } else { "▲" });
        }
        if let Some(width) = right {
            label = format!("{label:>width$}");
        }
        let cell = Cell::from(label);
        if sorted {
            cell.style(
                Style::new()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            )
        } else {
            cell
        }
    }

    fn draw_procs(&mut self, frame: &mut Frame, area: Rect) {
        let rows = self.visible();
        let total = self.snapshot.as_ref().map_or(0, |s| s.procs.len());
        let selected = match self.pinned {
            Some(pid) => rows
                .iter()
                .position(|r| r.proc.pid == pid)
                .or(self.table.selected()),
            None => Some(0),
        }
        .map(|i| i.min(rows.len().saturating_sub(1)));
        let mut title = format!(" Processes: {} ", rows.len());
        if rows.len() != total {
            title = format!(" Processes: {} of {total} ", rows.len());
        }
        title.push_str(&format!(
            "· sorted by {} {}{} ",
            self.sort.label(),
            if self.descending() { "▼" } else { "▲" },
            if self.tree { " · tree" } else { "" }
        ));
        if !self.filter.is_empty() {
            title.push_str(&format!("· name contains \"{}\" ", self.filter));
        }
        let header = Row::new(vec![
            self.header_cell("PID", Some(SortKey::Pid), Some(7)),
            self.header_cell("USER", None, None),
            self.header_cell("S", None, None),
            self.header_cell("THR", None, Some(3)),
            self.header_cell("CPU%", Some(SortKey::Cpu), Some(5)),
            self.header_cell("MEM%", Some(SortKey::Memory), Some(5)),
            self.header_cell("RSS", None, Some(6)),
            self.header_cell("TIME", None, Some(9)),
            self.header_cell("NAME", Some(SortKey::Name), None),
            self.header_cell("COMMAND", None, None),
        ])
        .style(
            Style::new()
                .add_modifier(Modifier::BOLD)
                .bg(Color::DarkGray),
        );
        let name_width = rows
            .iter()
            .map(|r| r.prefix.chars().count() + r.proc.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(6, 28) as u16;
        let body: Vec<Row> = rows
            .iter()
            .map(|r| {
                let p = r.proc;
                let cpu_style = if p.cpu >= 90.0 {
                    Style::new().fg(Color::Red)
                } else if p.cpu >= 10.0 {
                    Style::new().fg(Color::Yellow)
                } else {
                    Style::new()
                };
                let status_style = match p.status.as_str() {
                    "running" => Style::new().fg(Color::Green),
                    "zombie" | "dead" => Style::new().fg(Color::Red),
                    "disk-sleep" | "stopped" | "tracing-stop" => Style::new().fg(Color::Yellow),
                    _ => Style::new(),
                };
                Row::new(vec![
                    Cell::from(format!("{:>7}", p.pid)),
                    Cell::from(p.user.clone()),
                    Cell::from(status_letter(&p.status)).style(status_style),
                    Cell::from(format!("{:>3}", p.threads)),
                    Cell::from(format!("{:>5.1}", p.cpu)).style(cpu_style),
                    Cell::from(format!("{:>5.1}", p.mem)),
                    Cell::from(format!("{:>6}", size(p.rss))),
                    Cell::from(format!("{:>9}", cpu_time(p.cpu_time))),
                    Cell::from(Line::from(vec![
                        Span::styled(r.prefix.clone(), Style::new().fg(Color::DarkGray)),
                        Span::styled(p.name.clone(), Style::new().add_modifier(Modifier::BOLD)),
                    ])),
                    Cell::from(p.command.clone()).style(Style::new().fg(Color::Gray)),
                ])
            })
            .collect();
        let empty = body.is_empty();
        let widths = [
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(1),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(name_width),
            Constraint::Fill(1),
        ];
        let table = Table::new(body, widths)
            .header(header)
            .column_spacing(1)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .title(title)
                    .title_style(Style::new().add_modifier(Modifier::BOLD)),
            );
        drop(rows);
        self.page = (area.height as usize).saturating_sub(3).max(1);
        self.table.select(if empty { None } else { selected });
        frame.render_stateful_widget(table, area, &mut self.table);
        if empty && self.snapshot.is_some() && area.height > 3 {
            let message = if self.filter.is_empty() {
                "no processes".to_string()
            } else {
                format!("no process name contains \"{}\"", self.filter)
            };
            frame.render_widget(
                Paragraph::new(format!("  {message}")),
                Rect {
                    y: area.y + 2,
                    height: 1,
                    ..area
                },
            );
        }
    }

    fn draw_exits(&self, frame: &mut Frame, area: Rect) {
        let block = |title: String| {
            Block::new()
                .borders(Borders::TOP)
                .title(title)
                .title_style(Style::new().add_modifier(Modifier::BOLD))
        };
        let exits = match self.snapshot.as_ref().map(|s| &s.exits) {
            None => return frame.render_widget(block(" Recent exits ".into()), area),
            Some(Exits::Unavailable(why)) => {
                let message = Paragraph::new(format!(" {why}"))
                    .style(Style::new().fg(Color::Yellow))
                    .block(block(" Recent exits ".into()));
                return frame.render_widget(message, area);
            }
            Some(Exits::Known(exits)) => exits,
        };
        let failed = |e: &Exit| e.signal.is_some() || e.exit_code.is_some_and(|c| c != 0);
        let shown: Vec<&Exit> = exits
            .iter()
            .filter(|e| self.matches(&e.name) && (!self.failures_only || failed(e)))
            .collect();
        let failures = exits.iter().filter(|e| failed(e)).count();
        let mut title = if self.failures_only {
            " Recent exits · failed or killed only (x: all) ".to_string()
        } else {
            format!(" Recent exits · {failures} failed or killed (x: only those) ")
        };
        if !self.filter.is_empty() {
            title.push_str(&format!("· name contains \"{}\" ", self.filter));
        }
        let header = Row::new([
            "ENDED", "    PID", "   PPID", "NAME", "RESULT", "   LIVED", "COMMAND",
        ])
        .style(
            Style::new()
                .add_modifier(Modifier::BOLD)
                .bg(Color::DarkGray),
        );
        let rows: Vec<Row> = shown
            .iter()
            .take(area.height as usize)
            .map(|e| {
                let (result, style) = match (e.exit_code, e.signal) {
                    (_, Some(signal)) => (
                        text::signal_name(signal as i32),
                        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                    ),
                    (Some(0), None) => ("exit 0".to_string(), Style::new().fg(Color::Green)),
                    (Some(code), None) => (
                        format!("exit {code}"),
                        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                    ),
                    (None, None) => ("unknown".to_string(), Style::new().fg(Color::DarkGray)),
                };
                Row::new(vec![
                    Cell::from(text::time_of_day(e.exit_time)),
                    Cell::from(format!("{:>7}", e.pid)),
                    Cell::from(format!("{:>7}", e.ppid)),
                    Cell::from(e.name.clone()).style(Style::new().add_modifier(Modifier::BOLD)),
                    Cell::from(result).style(style),
                    Cell::from(format!(
                        "{:>8}",
                        e.duration.map_or("-".into(), text::duration)
                    )),
                    Cell::from(e.command.clone()).style(Style::new().fg(Color::Gray)),
                ])
            })
            .collect();
        if rows.is_empty() {
            let message = if exits.is_empty() {
                " none yet".to_string()
            } else {
                " none of these".to_string()
            };
            return frame.render_widget(Paragraph::new(message).block(block(title)), area);
        }
        let widths = [
            Constraint::Length(12),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Fill(1),
        ];
        let table = Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block(title));
        frame.render_widget(table, area);
    }

    fn draw_footer(&self, frame: &mut Frame, area: Rect) {
        let key = |k: &'static str| Span::styled(k, Style::new().fg(Color::Black).bg(Color::Cyan));
        let line = if self.editing {
            Line::from(vec![
                key(" filter by name "),
                Span::raw(format!(" {}", self.filter)),
                Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
                Span::raw("   Enter keeps it · Esc clears it"),
            ])
        } else if let Some(error) = &self.error {
            Line::from(Span::styled(
                format!(" {error}"),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ))
        } else {
            let mut spans = Vec::new();
            for (k, what) in [
                ("c", "cpu"),
                ("m", "memory"),
                ("p", "pid"),
                ("n", "name"),
                ("/", "filter"),
                ("Esc", "clear"),
                ("t", "tree"),
                ("x", "failures"),
                ("↑↓", "scroll"),
                ("q", "quit"),
            ] {
                spans.push(key(k));
                spans.push(Span::raw(format!(" {what}  ")));
            }
            Line::from(spans)
        };
        frame.render_widget(Paragraph::new(line), area);
    }
}

/// A bar of `width` cells filled to `percent`.
fn bar(percent: f64, width: usize) -> Span<'static> {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    let color = if percent >= 90.0 {
        Color::Red
    } else if percent >= 60.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    Span::styled(
        format!("[{}{}]", "|".repeat(filled), " ".repeat(width - filled)),
        Style::new().fg(color),
    )
}

fn size(n: u64) -> String {
    text::bytes(i64::try_from(n).unwrap_or(i64::MAX))
}

/// psutil's status as `ps`'s one-letter state.
fn status_letter(status: &str) -> &'static str {
    match status {
        "running" => "R",
        "sleeping" => "S",
        "disk-sleep" => "D",
        "stopped" => "T",
        "tracing-stop" => "t",
        "zombie" => "Z",
        "dead" => "X",
        "idle" => "I",
        "parked" => "P",
        "waking" => "W",
        "wake-kill" => "K",
        _ => "?",
    }
}

/// CPU time as `top`'s TIME+: `M:SS.hh`, or `H:MM:SS` past an hour.
fn cpu_time(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 3600.0 {
        let whole = s as u64;
        format!(
            "{}:{:02}.{:02}",
            whole / 60,
            whole % 60,
            ((s.fract()) * 100.0) as u64
        )
    } else {
        let whole = s as u64;
        format!("{}:{:02}:{:02}", whole / 3600, whole / 60 % 60, whole % 60)
    }
}

/// Time since boot: `5m`, `3h07m`, `12d 4h`.
fn uptime(seconds: f64) -> String {
    let whole = seconds.max(0.0) as u64;
    let (d, h, m) = (whole / 86400, whole / 3600 % 24, whole / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else {
        format!("{m}m{:02}s", whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, name: &str, cpu: f64, rss: u64) -> Proc {
        Proc {
            pid,
            ppid,
            name: name.into(),
            cpu,
            rss,
            ..Proc::default()
        }
    }

    fn app(procs: Vec<Proc>) -> App {
        let mut app = App::new(&TopArgs {
            interval: 1.0,
            sort: SortKey::Cpu,
            tree: false,
        });
        app.apply(Update::Snapshot(Box::new(Snapshot {
            summary: Summary::default(),
            procs,
            exits: Exits::Known(Vec::new()),
            mode: "test".into(),
        })));
        app
    }

    fn pids(app: &App) -> Vec<u32> {
        app.visible().iter().map(|r| r.proc.pid).collect()
    }

    fn press(app: &mut App, c: char) {
        app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }

    #[test]
    fn sorts_filters_and_nests() {
        let mut app = app(vec![
            proc(1, 0, "init", 0.5, 10),
            proc(20, 1, "busy", 90.0, 5),
            proc(30, 1, "fat", 1.0, 900),
            proc(40, 30, "Fatkid", 2.0, 1),
        ]);
        assert_eq!(pids(&app), [20, 40, 30, 1]);
        press(&mut app, 'm');
        assert_eq!(pids(&app), [30, 1, 20, 40]);
        press(&mut app, 'm');
        assert_eq!(pids(&app), [40, 20, 1, 30], "the same key again reverses");
        press(&mut app, 'p');
        assert_eq!(pids(&app), [1, 20, 30, 40]);
        press(&mut app, '/');
        for c in "fat".chars() {
            press(&mut app, c);
        }
        app.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(pids(&app), [30, 40], "name substring, any case");
        press(&mut app, 't');
        let rows = app.visible();
        let shown: Vec<(u32, &str)> = rows
            .iter()
            .map(|r| (r.proc.pid, r.prefix.as_str()))
            .collect();
        assert_eq!(
            shown,
            [(1, ""), (30, "└─ "), (40, "   └─ ")],
            "ancestors kept"
        );
        drop(rows);
        app.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(pids(&app).len(), 4);
        assert!(matches!(
            app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        ));
    }

    #[test]
    fn terminal_bytes_decode_to_keys() {
        let codes = |bytes: &[u8]| -> Vec<(KeyCode, bool)> {
            parse_keys(bytes)
                .into_iter()
                .map(|k| (k.code, k.modifiers.contains(KeyModifiers::CONTROL)))
                .collect()
        };
        assert_eq!(
            codes(b"m\x1b[A\x1b[B\x1b[5~\x1bOH\r\x7f\x03"),
            [
                (KeyCode::Char('m'), false),
                (KeyCode::Up, false),
                (KeyCode::Down, false),
                (KeyCode::PageUp, false),
                (KeyCode::Home, false),
                (KeyCode::Enter, false),
                (KeyCode::Backspace, false),
                (KeyCode::Char('c'), true),
            ]
        );
        assert_eq!(codes(b"\x1b"), [(KeyCode::Esc, false)]);
        assert_eq!(
            codes("é/".as_bytes()),
            [(KeyCode::Char('é'), false), (KeyCode::Char('/'), false)]
        );
        // Unknown sequences (focus, mouse) are skipped.
        assert_eq!(codes(b"\x1b[I\x1b[?1;2cq"), [(KeyCode::Char('q'), false)]);
    }

    #[test]
    fn surrogate_escapes_parse() {
        let rows = parse_rows(br#"[{"name":"a\udcffb","cmdline":["x\\udc00"]}]"#);
        assert_eq!(rows[0]["name"], "a\\xffb");
        assert_eq!(rows[0]["cmdline"][0], "x\\udc00");
    }

    #[test]
    fn formats() {
        assert_eq!(cpu_time(75.5), "1:15.50");
        assert_eq!(cpu_time(7322.0), "2:02:02");
        assert_eq!(uptime(3.0 * 86400.0 + 7200.0), "3d 2h");
        assert_eq!(status_letter("disk-sleep"), "D");
    }
}
