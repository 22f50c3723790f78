//! The command line: flags are parsed into raw form by clap, validated into the library's
//! types, and handed to one function per command. Errors end as one line on stderr and a
//! non-zero exit status; nothing panics on bad input.

#[cfg(native_linux)]
mod agent_cmd;
mod control;
pub(crate) mod events;
mod ps;
#[cfg(native_linux)]
pub mod sys;
#[cfg(native_linux)]
mod top;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// eBPF-accelerated process tracer: every fork, exec and exit on the host, with exit codes,
/// and a psutil-style process table.
#[derive(Debug, Parser)]
#[command(name = "tracer", version, about, long_about = None)]
#[cfg_attr(
    native_linux,
    command(
        after_help = "Needs root, or CAP_BPF + CAP_PERFMON, and a kernel with BTF \
(/sys/kernel/btf/vmlinux), for eBPF; without them it polls /proc and says so. Logs go to \
stderr; set RUST_LOG=debug for detail."
    )
)]
#[cfg_attr(
    not(native_linux),
    command(
        after_help = "The portable build: processes are read and polled through the \
sysinfo crate. Processes shorter than the polling interval are not seen and exit codes are \
unknown (except for this command's own children); eBPF, /proc, the agent, sys and top are \
Linux-only. Logs go to stderr; set RUST_LOG=debug for detail."
    )
)]
pub struct Cli {
    /// Say more on stderr (backend details, whether the agent answered, final counters).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// The agent's socket. Commands use the agent when one listens there and work directly
    /// (their own scan of the host, or eBPF programs) when none does.
    #[arg(long, global = true, env = "TRACER_SOCKET", value_name = "PATH",
          default_value = crate::agent::DEFAULT_SOCKET)]
    pub socket: std::path::PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stream process lifecycle events (fork, exec, exit) until Ctrl-C or SIGTERM.
    ///
    /// One line per event: aligned text by default, one JSON object per line with --json.
    /// Every event has event, time, pid, ppid, create_time, name, uid, gid and backend; exec adds
    /// exe, cmdline (argv, byte-exact) and uids/gids; fork adds parent_pid (the forking
    /// process); exit adds exit_code (null when a signal ended it), signal, core_dumped and
    /// duration. Threads are never reported as processes. With --json a final
    /// {"event":"stats",...} line reports the counters, and one appears mid-stream whenever
    /// the kernel reports lost events.
    #[command(after_help = "Examples:\n  \
        tracer events                       everything, as text\n  \
        tracer events --json --event exit   exits as JSON lines\n  \
        tracer events --name nginx --uid www-data\n  \
        tracer events --ppid 1234,1235      children of two processes")]
    Events(events::EventsArgs),

    /// List processes with psutil's attributes, from a fresh scan of the host.
    ///
    /// Columns are psutil attribute names (--attrs pid,name,memory_info,…); --json prints one
    /// array of objects shaped as psutil's Process.as_dict(). An attribute that cannot be read
    /// (permissions, a process that just ended) is null, as psutil's ad_value.
    #[command(after_help = "Examples:\n  \
        tracer ps --sort -memory_info               biggest first\n  \
        tracer ps --json --attrs pid,name,cmdline   for scripts\n  \
        tracer ps --user www-data --name nginx")]
    Ps(ps::PsArgs),

    /// Show processes as a tree (in the manner of pstree -p).
    Tree(ps::TreeArgs),

    /// Wait for processes to end and print their exit codes (any process, not only children).
    ///
    /// With eBPF (root, or CAP_BPF + CAP_PERFMON) the exit code of any process is known;
    /// without it, only of this command's children, and waiting uses pidfds.
    Wait(control::WaitArgs),

    /// Send SIGKILL. A pid reused since it was named is refused.
    Kill(control::SignalArgs),

    /// Send SIGTERM.
    Terminate(control::SignalArgs),

    /// Send SIGSTOP.
    Suspend(control::SignalArgs),

    /// Send SIGCONT.
    Resume(control::SignalArgs),

    /// Run the privileged agent: one live table and event stream, served on a Unix socket.
    ///
    /// Every other command uses it when it runs: queries are answered from memory, `events`
    /// subscribes to its stream, `wait` knows any exit code. Stop it with SIGTERM (it drains,
    /// removes its socket and exits 0). See README for the protocol and the systemd unit.
    #[cfg(native_linux)]
    Agent(agent_cmd::AgentArgs),

    /// The agent's counters: events by kind, losses, table size, clients, queue drops.
    #[cfg(native_linux)]
    Stats(agent_cmd::StatsArgs),

    /// System-wide figures as psutil reports them: CPU, memory, disks, network, sensors.
    ///
    /// Text is aligned sections in human units. --json prints one object keyed by psutil's
    /// function names (cpu_times, virtual_memory, disk_partitions, net_if_addrs, …), each value
    /// shaped as psutil returns it: named tuples as objects with psutil's field names, dicts as
    /// objects, lists as arrays, address families and other enums as their numbers. Variants
    /// of one function are suffixed: cpu_count_cores is cpu_count(logical=False),
    /// cpu_times_percpu is cpu_times(percpu=True), disk_io_counters_perdisk, …; disk_usage
    /// maps each partition's mountpoint to its usage. A figure that cannot be read is null.
    ///
    /// Through the agent, cpu_percent and cpu_times_percent compare with the agent's own sample
    /// of a second ago, so even the first call measures something (psutil's says 0.0), and the
    /// text adds disk and network throughput; directly, they measure --interval.
    #[command(after_help = "Examples:\n  \
        tracer sys                          everything, for a glance\n  \
        tracer sys memory                   one section\n  \
        tracer sys --json net | jq .net_if_addrs\n  \
        tracer sys cpu --interval 1         CPU use over one second")]
    #[cfg(native_linux)]
    Sys(sys::SysArgs),

    /// A live view: system summary, processes by CPU or memory, and the recent exits.
    ///
    /// Like top, it refreshes every --interval; unlike top, it shows how processes ended — the
    /// bottom pane lists recent exits with their exit code or killing signal and how long each
    /// lived, including processes that lived between two refreshes. Through the agent (when
    /// one runs) everything comes from its table and samples, so even the first screen shows
    /// real CPU use; directly, it reads /proc itself, and as root traces exits with eBPF, else
    /// says that exits need the agent.
    ///
    /// Keys: c, m, p, n sort by CPU, memory, pid, name (again: reverse); / filters by name
    /// (Enter keeps, Esc clears); t toggles the process tree; x shows only the exits that failed
    /// (non-zero code or a signal); ↑ ↓ PgUp PgDn Home End scroll; r refreshes now; q or Ctrl-C
    /// quits.
    #[command(after_help = "Examples:\n  \
        tracer top                          CPU-hungry processes first\n  \
        tracer top --sort memory --tree\n  \
        tracer top --interval 0.5")]
    #[cfg(native_linux)]
    Top(top::TopArgs),
}

/// Where commands get their answers: the agent at `socket` when one listens, else directly.
#[derive(Debug, Clone)]
pub struct Connection {
    socket: std::path::PathBuf,
    verbose: bool,
}

impl Connection {
    /// A connection to the agent, or `None` for direct mode (said on stderr with --verbose,
    /// always when the agent exists but refuses this user).
    pub fn client(&self) -> Option<crate::agent::Client> {
        use crate::agent::ClientError;
        match crate::agent::Client::connect(&self.socket) {
            Ok(client) => {
                if self.verbose {
                    eprintln!("tracer: using the agent at {}", self.socket.display());
                }
                Some(client)
            }
            Err(ClientError::NoAgent(path)) => {
                if self.verbose {
                    eprintln!("tracer: no agent at {}: direct mode", path.display());
                }
                None
            }
            Err(error) => {
                eprintln!("tracer: {error}: direct mode");
                None
            }
        }
    }
}

/// Which source of events to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// eBPF when it can run (root, or CAP_BPF + CAP_PERFMON, and kernel BTF), else procfs
    /// polling — saying why on stderr.
    Auto,
    /// Kernel programs on the sched tracepoints: every process, every exit code.
    Ebpf,
    /// /proc polled every --interval: processes shorter than the interval are not seen, exit
    /// codes are unknown (null), events are marked "synthesized".
    Procfs,
    /// The portable backend (the sysinfo crate) polled every --interval: the same limits as
    /// procfs; start times are whole seconds. The default outside Linux.
    Sysinfo,
}

impl BackendChoice {
    /// The library's choice.
    pub fn choice(self) -> crate::source::Choice {
        match self {
            BackendChoice::Auto => crate::source::Choice::Auto,
            BackendChoice::Ebpf => crate::source::Choice::Ebpf,
            BackendChoice::Procfs => crate::source::Choice::Procfs,
            BackendChoice::Sysinfo => crate::source::Choice::Sysinfo,
        }
    }
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let connection = Connection {
        socket: cli.socket.clone(),
        verbose: cli.verbose,
    };
    use crate::agent::protocol::SignalOp;
    let result = match cli.command {
        Command::Events(args) => events::run(args, &connection, cli.verbose),
        Command::Ps(args) => ps::run(args, &connection),
        Command::Tree(args) => ps::run_tree(args, &connection),
        Command::Wait(args) => control::run_wait(args, &connection, cli.verbose),
        Command::Kill(args) => control::run_signal(SignalOp::Kill, args, &connection),
        Command::Terminate(args) => control::run_signal(SignalOp::Terminate, args, &connection),
        Command::Suspend(args) => control::run_signal(SignalOp::Suspend, args, &connection),
        Command::Resume(args) => control::run_signal(SignalOp::Resume, args, &connection),
        #[cfg(native_linux)]
        Command::Agent(args) => agent_cmd::run_agent(args, cli.socket),
        #[cfg(native_linux)]
        Command::Stats(args) => agent_cmd::run_stats(args, &connection),
        #[cfg(native_linux)]
        Command::Sys(args) => sys::run(args, &connection),
        #[cfg(native_linux)]
        Command::Top(args) => top::run(args, &connection),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tracer: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Kernel-side aya-log records arrive through the `log` crate and are bridged into tracing.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
