//! `tracer wait` and the signal commands (`kill`, `terminate`, `suspend`, `resume`): through
//! the agent when one runs, directly otherwise — the same code answers in both places
//! ([`crate::process::ops`]).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Connection;
use crate::agent::protocol::{
    Request, SignalOp, SignalRequest, SignalResult, WaitAnswer, WaitRequest,
};
use crate::query::Viewer;
use crate::table::live::{Feed, Tracer, TracerConfig};

/// Flags of `tracer wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Processes to wait for (any process, not only children).
    #[arg(required = true, value_name = "PID")]
    pids: Vec<u32>,

    /// Give up after this many seconds; the ones still running are listed as alive.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,

    /// One JSON object: {"gone": [{pid, name, returncode, cpu_times, memory_info,
    /// num_ctx_switches, io_counters, num_page_faults}], "alive": [{pid, name}]}.
    #[arg(long)]
    json: bool,
}

/// Runs `tracer wait`. Exit status 0 when all ended, 1 when some were alive at the timeout.
pub fn run_wait(
    args: WaitArgs,
    connection: &Connection,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let timeout =
        crate::process::ops::timeout_from_secs(args.timeout).map_err(anyhow::Error::msg)?;
    // The answer comes while the exiting process may still hold a CPU: take it promptly.
    crate::platform::latency::prompt_wakeups();
    // The agent's answer is printed as it came; a direct one is rendered the same way.
    let (answer, json) = match connection.client() {
        Some(mut client) => {
            let payload = client
                .request(&Request::Wait(WaitRequest {
                    pids: args.pids.clone(),
                    timeout: args.timeout,
                }))
                .context("the agent could not answer")?;
            let answer: WaitAnswer =
                crate::agent::client::decode(&payload).context("unexpected answer to wait")?;
            (answer, payload)
        }
        None => {
            Tracer::configure_global(TracerConfig::default());
            if let Feed::Snapshot(reason) = Tracer::global().feed() {
                eprintln!(
                    "tracer: exit codes are known only for this command's children without eBPF ({})",
                    if cfg!(native_linux) { reason.as_str() } else { "a Linux-only backend" }
                );
            } else if verbose {
                eprintln!("tracer: waiting with eBPF exit events");
            }
            let answer = crate::process::ops::wait(&args.pids, timeout, &Viewer::ROOT)?;
            let json = crate::render::json::to_vec(&answer);
            (answer, json)
        }
    };
    // The answer goes out as it came, before anything else is done with it.
    if args.json {
        print_line(&json)?;
    }
    let all_gone = answer.alive.is_empty();
    if !args.json {
        for p in &answer.gone {
            let code = match p.returncode {
                Some(code) => code.to_string(),
                None => "unknown".into(),
            };
            let usage = match (&p.usage.cpu_times, &p.usage.memory_info) {
                (Some(cpu), memory) => format!(
                    ", cpu {} user {} system, peak RSS {}",
                    crate::render::text::duration(cpu.user),
                    crate::render::text::duration(cpu.system),
                    crate::render::text::bytes(
                        memory.map_or(0, |m| m.rss.min(i64::MAX as u64) as i64)
                    )
                ),
                _ => String::new(),
            };
            println!("{} ({}) gone, returncode {code}{usage}", p.pid, p.name);
        }
        for p in &answer.alive {
            println!("{} ({}) alive", p.pid, p.name);
        }
    }
    Ok(if all_gone {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Flags of the signal commands.
#[derive(Debug, Args)]
pub struct SignalArgs {
    /// Processes to signal.
    #[arg(required = true, value_name = "PID")]
    pids: Vec<u32>,

    /// One JSON array: [{"pid", "ok", "error"}].
    #[arg(long)]
    json: bool,
}

/// Sends the signal to each pid (a pid reused since it was named is refused; through the
/// agent, only the caller's own processes unless root). Exit status 1 when any failed.
pub fn run_signal(
    signal: SignalOp,
    args: SignalArgs,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let (results, json) = match connection.client() {
        Some(mut client) => {
            let payload = client
                .request(&Request::Signal(SignalRequest {
                    pids: args.pids.clone(),
                    signal: Some(signal),
                }))
                .context("the agent could not answer")?;
            let results: Vec<SignalResult> = crate::agent::client::decode(&payload)
                .context("unexpected answer to a signal request")?;
            (results, payload)
        }
        None => {
            Tracer::configure_global(TracerConfig::snapshot());
            // Without uids (Windows) the system alone decides who may signal what.
            let viewer = match crate::host::os::current_uid() {
                // The kernel decides in the end (this process sends the signal itself).
                Some(_) => Viewer::ROOT,
                None => Viewer::ROOT,
            };
            let results = crate::process::ops::signal(&args.pids, signal.signal(), &viewer);
            let json = crate::render::json::to_vec(&results);
            (results, json)
        }
    };
    let mut failed = false;
    for result in &results {
        if !result.ok {
            failed = true;
            if !args.json {
                eprintln!("tracer: {}", result.error.as_deref().unwrap_or("failed"));
            }
        }
    }
    if args.json {
        print_line(&json)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a JSON answer and its newline.
fn print_line(json: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(json)
        .and_then(|()| out.write_all(b"\n"))
        .context("cannot write the answer")
}
