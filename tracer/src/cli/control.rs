//! `tracer wait` and the signal commands (`kill`, `terminate`, `suspend`, `resume`): through
//! the agent when one runs, directly otherwise — the same code answers in both places
//! ([`crate::ops`]).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Connection;
use crate::agent::protocol::SignalOp;
use crate::agent_request;
use crate::live::{Feed, Tracer, TracerConfig};
use crate::query::Viewer;

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
    let timeout = crate::ops::timeout_from_secs(args.timeout).map_err(anyhow::Error::msg)?;
    // The answer comes while the exiting process may still hold a CPU: take it promptly.
    crate::latency::prompt_wakeups();
    let json = match connection.client() {
        Some(mut client) => {
            let payload = client
                .request(agent_request!("wait", "pids" => args.pids, "timeout" => args.timeout))
                .context("the agent could not answer")?;
            String::from_utf8_lossy(&payload).into_owned()
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
            crate::ops::wait(&args.pids, timeout, &Viewer::ROOT)?.0
        }
    };
    // The answer goes out as it came, before anything else is done with it.
    if args.json {
        println!("{json}");
    }
    let result: serde_json::Value =
        serde_json::from_str(&json).context("unexpected answer to wait")?;
    let all_gone = result["alive"].as_array().is_none_or(|a| a.is_empty());
    if !args.json {
        for p in result["gone"].as_array().into_iter().flatten() {
            let code = match p["returncode"].as_i64() {
                Some(code) => code.to_string(),
                None => "unknown".into(),
            };
            let cpu = &p["cpu_times"];
            let usage = match (cpu["user"].as_f64(), cpu["system"].as_f64()) {
                (Some(user), Some(system)) => format!(
                    ", cpu {} user {} system, peak RSS {}",
                    super::text::duration(user),
                    super::text::duration(system),
                    super::text::bytes(p["memory_info"]["rss"].as_i64().unwrap_or(0))
                ),
                _ => String::new(),
            };
            println!(
                "{} ({}) gone, returncode {code}{usage}",
                p["pid"],
                p["name"].as_str().unwrap_or("?")
            );
        }
        for p in result["alive"].as_array().into_iter().flatten() {
            println!("{} ({}) alive", p["pid"], p["name"].as_str().unwrap_or("?"));
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
    let json = match connection.client() {
        Some(mut client) => {
            let payload = client
                .request(agent_request!("signal", "pids" => args.pids, "signal" => signal.name()))
                .context("the agent could not answer")?;
            String::from_utf8_lossy(&payload).into_owned()
        }
        None => {
            Tracer::configure_global(TracerConfig::snapshot());
            // Without uids (Windows) the system alone decides who may signal what.
            let viewer = match crate::host::os::current_uid() {
                Some(uid) => Viewer {
                    uid,
                    hidepid: false,
                },
                None => Viewer::ROOT,
            };
            crate::ops::signal(&args.pids, signal.signal(), &viewer).0
        }
    };
    let results: serde_json::Value =
        serde_json::from_str(&json).context("unexpected answer to a signal request")?;
    let mut failed = false;
    for result in results.as_array().into_iter().flatten() {
        if result["ok"] != serde_json::Value::Bool(true) {
            failed = true;
            if !args.json {
                eprintln!("tracer: {}", result["error"].as_str().unwrap_or("failed"));
            }
        }
    }
    if args.json {
        println!("{json}");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
