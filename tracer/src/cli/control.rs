//! `tracer wait` and the signal commands (`kill`, `terminate`, `suspend`, `resume`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::json::Json;
use crate::live::{Feed, Tracer, TracerConfig};
use crate::process::{self, Process};

/// Flags of `tracer wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Processes to wait for (any process, not only children).
    #[arg(required = true, value_name = "PID")]
    pids: Vec<u32>,

    /// Give up after this many seconds; the ones still running are listed as alive.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,

    /// One JSON object: {"gone": [...], "alive": [...]}.
    #[arg(long)]
    json: bool,
}

/// Runs `tracer wait`: prints each process as it ends, then the ones still alive. Exit status
/// 0 when all ended, 1 when some were still alive at the timeout.
pub fn run_wait(args: WaitArgs, verbose: bool) -> anyhow::Result<ExitCode> {
    let timeout = match args.timeout {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            bail!("--timeout must be a number of seconds ≥ 0, not {t}")
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    Tracer::configure_global(TracerConfig::default());
    let tracer = Tracer::global();
    if let Feed::Snapshot(reason) = tracer.feed() {
        eprintln!(
            "tracer: exit codes are known only for this command's children without eBPF ({reason})"
        );
    } else if verbose {
        eprintln!("tracer: waiting with eBPF exit events");
    }
    let procs: Vec<Process> = args
        .pids
        .iter()
        .map(|&pid| Process::new(pid).with_context(|| format!("cannot wait for pid {pid}")))
        .collect::<anyhow::Result<_>>()?;
    let names: Vec<String> = procs
        .iter()
        .map(|p| p.name().unwrap_or_else(|_| "?".into()))
        .collect();
    let name_of = |p: &Process| -> String {
        procs
            .iter()
            .position(|q| q == p)
            .map(|i| names[i].clone())
            .unwrap_or_default()
    };
    let json = args.json;
    let (gone, alive) = process::wait_procs(&procs, timeout, |p| {
        if !json {
            let code = match p.returncode.flatten() {
                Some(code) => code.to_string(),
                None => "unknown".into(),
            };
            println!("{} ({}) gone, returncode {code}", p.pid(), name_of(p));
        }
    });
    if json {
        let mut out = Json::new();
        out.begin_object();
        out.key("gone").begin_array();
        for p in &gone {
            out.begin_object();
            out.key("pid").uint(p.pid().into());
            out.key("name").str(&name_of(p));
            out.key("returncode")
                .opt_int(p.returncode.flatten().map(i64::from));
            out.end_object();
        }
        out.end_array();
        out.key("alive").begin_array();
        for p in &alive {
            out.begin_object();
            out.key("pid").uint(p.pid().into());
            out.key("name").str(&name_of(p));
            out.end_object();
        }
        out.end_array();
        out.end_object();
        println!("{}", out.finish());
    } else {
        for p in &alive {
            println!("{} ({}) alive", p.pid(), name_of(p));
        }
    }
    Ok(if alive.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Which signal command.
#[derive(Debug, Clone, Copy)]
pub enum SignalCommand {
    /// SIGKILL.
    Kill,
    /// SIGTERM.
    Terminate,
    /// SIGSTOP.
    Suspend,
    /// SIGCONT.
    Resume,
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

/// Runs a signal command on each pid. A pid that was reused since it was named is refused.
/// Exit status 1 when any failed.
pub fn run_signal(command: SignalCommand, args: SignalArgs) -> anyhow::Result<ExitCode> {
    Tracer::configure_global(TracerConfig {
        ebpf: false,
        ..TracerConfig::default()
    });
    let mut failed = false;
    let mut json = Json::new();
    json.begin_array();
    for &pid in &args.pids {
        let result = Process::new(pid).and_then(|p| match command {
            SignalCommand::Kill => p.kill(),
            SignalCommand::Terminate => p.terminate(),
            SignalCommand::Suspend => p.suspend(),
            SignalCommand::Resume => p.resume(),
        });
        json.begin_object();
        json.key("pid").uint(pid.into());
        json.key("ok").bool(result.is_ok());
        match &result {
            Ok(()) => json.key("error").null(),
            Err(e) => json.key("error").str(&e.to_string()),
        };
        json.end_object();
        if let Err(e) = result {
            failed = true;
            if !args.json {
                eprintln!("tracer: {e}");
            }
        }
    }
    json.end_array();
    if args.json {
        println!("{}", json.finish());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
