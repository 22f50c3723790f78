//! `tracer sys`: psutil's system-wide figures — CPU, memory, disks, network, sensors, boot time
//! and users — as aligned text for a glance, or as one JSON object keyed by psutil's function
//! names with values shaped as psutil returns them.
//!
//! Figures are read directly (`crate::system`), by this process or by the agent. The ones that
//! compare two moments differ between the two:
//!
//! - **Directly**, psutil's semantics: `cpu_percent` and `cpu_times_percent` measure the
//!   window from this command's start to its answer (`--interval`, 0.25 s by default), as
//!   psutil's first non-blocking call measures from its import.
//! - **Through the agent**, which samples the CPU and I/O counters every second
//!   (`crate::agent::sampling`), they compare with a sample 0.5–1.5 s old, so the first call is
//!   already meaningful; the I/O counters keep psutil's `nowrap` memory across the agent's
//!   life, and the text adds disk and network throughput over the last second. An explicit
//!   `--interval` measures that window here instead.
//!
//! A figure that cannot be read is `null` in JSON and `-` in text, with one warning line on
//! stderr (through the agent, in the agent's log); the rest is still shown.
//!
//! This file is the argument handling; the figures are [`crate::system::report::Report`],
//! built by `crate::system::collect` and drawn by `crate::render::sys`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::Connection;
use crate::agent::protocol::Section;
use crate::agent::protocol::{Request, SysRequest};
use crate::agent::sampling::sections_of;
use crate::agent::ClientError;
use crate::query::Format;
use crate::render;
use crate::system::collect::{self, CpuWindow};
use crate::system::Sampler;

/// Flags of `tracer sys`.
#[derive(Debug, Args)]
pub struct SysArgs {
    /// Which figures: cpu, memory, disk, net, sensors, or all of them plus boot_time and users.
    /// Several may be named (`tracer sys cpu memory`).
    #[arg(value_enum, num_args = 0.., default_values_t = [Section::All])]
    sections: Vec<Section>,

    /// One JSON object keyed by psutil function names (cpu_times, virtual_memory, …), values
    /// shaped as psutil returns them.
    #[arg(long)]
    json: bool,

    /// The window, in seconds, cpu_percent and cpu_times_percent measure (psutil's interval;
    /// it starts when tracer starts; default 0.25). 0 compares with the start at once, which,
    /// as psutil's first non-blocking call, means nothing. Through the agent the window is the
    /// agent's last sample (0.5–1.5 s old) unless this flag is given.
    #[arg(long, value_name = "SECONDS")]
    interval: Option<f64>,
}

/// Runs `tracer sys`: through the agent when one runs (and no --interval is given), else here.
pub fn run(args: SysArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    if let Some(interval) = args.interval {
        if !(interval.is_finite() && interval >= 0.0) {
            anyhow::bail!("--interval must be a number of seconds, 0 or more");
        }
    }
    if args.interval.is_none() {
        if let Some(mut client) = connection.client() {
            let names = args.sections.iter().map(|s| s.name().to_string()).collect();
            match client.request(&Request::Sys(SysRequest {
                sections: names,
                format: Format::json_if(args.json),
            })) {
                Ok(out) => return super::ps::print(&out),
                // An agent from before the `sys` operation: answer here.
                Err(ClientError::Refused { kind, message })
                    if kind == "bad_request" && message.starts_with("unknown op") =>
                {
                    eprintln!("tracer: the agent does not serve sys figures: direct mode");
                }
                Err(error) => return Err(error).context("the agent could not answer"),
            }
        }
    }
    let interval = Duration::from_secs_f64(args.interval.unwrap_or(0.25));
    let started = Instant::now();
    let sections = sections_of(&args.sections);
    // psutil's module load: the baseline of cpu_percent.
    let cpu = sections.cpu.then(|| CpuWindow {
        sampler: Sampler::new(),
        since: started,
        until: Some(started + interval),
    });
    let collected = collect::collect(sections, cpu, None, None);
    let out = if args.json {
        render::sys::json(&collected.report)
    } else {
        render::sys::text(&collected.report)
    };
    for warning in &collected.warnings {
        eprintln!("tracer: warning: {warning}");
    }
    super::ps::print(out.as_bytes())
}
