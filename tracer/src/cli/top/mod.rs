//! `tracer top`: a refreshing terminal view — a system summary, the processes sorted by CPU
//! or memory, and a pane of recent exits with exit codes, signals and durations (which `top`
//! cannot show: it never sees a process that lived between two refreshes, nor how any ended).
//! Key `g` swaps the process list for a group view — one row per container, cgroup, pod, user
//! or name (`G` cycles), summed by `ps --group-by`'s own [`crate::query::group::group`] — and
//! `C` adds the container columns (id, runtime, pod) to the process list.
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
//!
//! The modules: [`fetch`] gets the figures (typed rows from the query or the agent),
//! [`state`] holds what is shown and in which order, [`keys`] reads the keyboard and applies
//! the key bindings, [`draw`] draws the screen.

mod draw;
mod fetch;
mod keys;
mod state;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use super::Connection;
use crate::query::attrs::Attr;
use crate::query::group::GroupBy;
use keys::{Action, Input, Keys};
use state::{App, Update};

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

    /// Start in the group view, one row per container, cgroup, pod, user or name (key g
    /// toggles it, G cycles the key).
    #[arg(long, value_name = "KEY", value_parser = clap::builder::ValueParser::new(parse_group_by))]
    group_by: Option<GroupBy>,

    /// Start with the container columns: container id, runtime, pod (key C toggles them).
    #[arg(long)]
    containers: bool,
}

fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    s.parse()
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
const PROC_ATTRS: [Attr; 16] = [
    Attr::Pid,
    Attr::Ppid,
    Attr::Username,
    Attr::Status,
    Attr::NumThreads,
    Attr::CpuPercent,
    Attr::MemoryPercent,
    Attr::MemoryInfo,
    Attr::CpuTimes,
    Attr::Name,
    Attr::Cmdline,
    Attr::ContainerId,
    Attr::ContainerRuntime,
    Attr::Cgroup,
    Attr::PodUid,
    Attr::IoCounters,
];

/// Attributes asked for the exits pane.
const EXIT_ATTRS: [Attr; 8] = [
    Attr::Pid,
    Attr::Ppid,
    Attr::Name,
    Attr::ExitCode,
    Attr::Signal,
    Attr::Duration,
    Attr::ExitTime,
    Attr::Cmdline,
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
    // Whether the refresh thread asks for io_counters: only the group view shows them.
    let io_wanted = Arc::new(AtomicBool::new(args.group_by.is_some()));
    let io = Arc::clone(&io_wanted);
    std::thread::Builder::new()
        .name("tracer-top-fetch".into())
        .spawn(move || fetch::fetch_loop(client, socket, interval, snapshots_tx, wakes, io))
        .context("cannot start the refresh thread")?;

    let mut app = App::new(&args);
    let mut terminal = Screen::enter()?;
    let outcome = ui_loop(
        &mut terminal,
        &mut keys,
        &mut app,
        &snapshots,
        &wake,
        &io_wanted,
    );
    drop(terminal);
    outcome.map(|()| ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// The terminal

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
        // SIGTERM, SIGHUP and SIGINT: leave and restore the terminal.
        crate::platform::stop_on_signals().context("cannot handle SIGTERM")?;
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
    io_wanted: &AtomicBool,
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
        if crate::platform::stop_requested() {
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
                // The group view sums io_counters: ask for them from now on, at once.
                if io_wanted.swap(app.grouped, Ordering::Relaxed) != app.grouped && app.grouped {
                    let _ = wake.send(());
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
