//! Measurement 4: the agent with 2,000, 10,000 and 50,000 processes: `ps` through it, start-up
//! (against `ps -eo pid,ppid,comm,args,user` listing the same host in the same repetition) and
//! RSS. 50,000 needs more pids than the default `kernel.pid_max` (32,768): the bench raises it
//! for the measurement and restores it afterwards, on error too.

use super::*;

/// Host sizes for the agent; issue 7's targets hold at 10,000, issue 17's at 50,000 too.
pub(super) const AGENT_SIZES: [usize; 3] = [2_000, 10_000, 50_000];
/// The size issue 17's scale targets are set at.
pub(super) const SCALE_SIZE: usize = 50_000;
/// RSS target at [`SCALE_SIZE`]: 60 MB.
pub(super) const SCALE_RSS_TARGET: f64 = 60e6;
/// `kernel.pid_max` while the bench fills the host (room for [`SCALE_SIZE`] and the rest).
const SCALE_PID_MAX: u64 = 131_072;
/// The listing the agent's start-up is compared with at every size.
const PS_LISTING: &str = "pid,ppid,comm,args,user";
/// The size issue 7's start-up and RSS targets are set at.
pub(super) const AGENT_TARGET_SIZE: usize = 10_000;
/// Start-up target at [`AGENT_TARGET_SIZE`]: 300 ms from spawn to listening.
pub(super) const STARTUP_TARGET: f64 = 0.3;
/// RSS target at [`AGENT_TARGET_SIZE`]: 30 MB.
pub(super) const RSS_TARGET: f64 = 30e6;

/// One host size's rows: the ps comparison, start-up and RSS (after start-up, and after
/// the queries).
pub(super) struct AgentAt {
    pub(super) ps: Vec<Row>,
    pub(super) startup: Row,
    pub(super) rss: Vec<Row>,
}

/// `kernel.pid_max` raised while it lives; the old value is written back when it drops (on
/// error and panic too).
pub(super) struct PidMax {
    old: Option<u64>,
}

const PID_MAX: &str = "/proc/sys/kernel/pid_max";

impl PidMax {
    /// Raises `kernel.pid_max` to at least `wanted` (never lowers it).
    pub(super) fn raise(wanted: u64) -> Result<PidMax> {
        let old: u64 = fs::read_to_string(PID_MAX)
            .with_context(|| format!("cannot read {PID_MAX}"))?
            .trim()
            .parse()
            .with_context(|| format!("cannot parse {PID_MAX}"))?;
        if old >= wanted {
            return Ok(PidMax { old: None });
        }
        fs::write(PID_MAX, wanted.to_string())
            .with_context(|| format!("cannot raise {PID_MAX} from {old} to {wanted}"))?;
        say!("agent: kernel.pid_max raised from {old} to {wanted} (restored at the end)");
        Ok(PidMax { old: Some(old) })
    }
}

impl Drop for PidMax {
    fn drop(&mut self) {
        if let Some(old) = self.old {
            match fs::write(PID_MAX, old.to_string()) {
                Ok(()) => say!("agent: kernel.pid_max restored to {old}"),
                Err(error) => say!("error: cannot restore kernel.pid_max to {old}: {error}"),
            }
        }
    }
}

pub(super) fn agent_scale(ctx: &Ctx) -> Result<Vec<Row>> {
    let (label, attrs, fields) = QUERIES[0];
    // Declared before the sleepers: dropped after them, once their pids are free.
    let _pid_max = PidMax::raise(SCALE_PID_MAX)?;
    let mut sleepers = Sleepers::default();
    let mut measured = Vec::new();
    for size in AGENT_SIZES {
        let outcome = fill_to(&mut sleepers, size, "agent")
            .and_then(|present| agent_at(ctx, size, present, label, attrs, fields));
        match outcome {
            Ok(at) => measured.push(at),
            Err(error) => {
                say!(
                    "agent, {} processes: unavailable: {error:#}",
                    thousands(size as u64)
                );
                let what = format!("agent, {} processes", thousands(size as u64));
                measured.push(AgentAt {
                    ps: vec![Row::unavailable(&what, "tracer ps via the agent", &error)],
                    startup: Row::unavailable(&what, "tracer agent start-up", &error),
                    rss: vec![Row::unavailable(&what, "tracer agent RSS", &error)],
                });
            }
        }
    }
    drop(sleepers);
    // The ps rows of each size, then start-up at each size, then each kind of RSS at each size.
    let mut rows = Vec::new();
    let mut startups = Vec::new();
    let mut rsses = Vec::new();
    for at in measured {
        rows.extend(at.ps);
        startups.push(at.startup);
        rsses.push(at.rss.into_iter());
    }
    rows.extend(startups);
    loop {
        let next: Vec<Row> = rsses.iter_mut().filter_map(Iterator::next).collect();
        if next.is_empty() {
            break;
        }
        rows.extend(next);
    }
    Ok(rows)
}

/// With the host at `size` processes or more (`present`, counted before): per repetition,
/// starts an agent (timing its start-up), waits for it to settle and reads its RSS, times the
/// listers once, reads its RSS again and stops it.
pub(super) fn agent_at(
    ctx: &Ctx,
    size: usize,
    present: usize,
    label: &str,
    attrs: &str,
    fields: &str,
) -> Result<AgentAt> {
    let host = if present > size + 2 * PROCESS_MARGIN {
        format!(
            "{} processes (≥ {} asked)",
            thousands(present as u64),
            thousands(size as u64)
        )
    } else {
        format!("≥ {} processes", thousands(size as u64))
    };
    let mut listing = Listing::new(
        ctx,
        attrs,
        fields,
        &[
            Lister::TracerAgent,
            Lister::Tracer,
            Lister::Psutil,
            Lister::Ps,
        ],
    );
    let mut startup = Vec::new();
    let mut tracked = Vec::new();
    let mut rss = Vec::new();
    let mut idle_rss = Vec::new();
    let mut busy = Vec::new();
    let mut busy_cpu = Vec::new();
    let mut hwm = Vec::new();
    let mut stats_rss = Vec::new();
    let mut live = Vec::new();
    let mut ps_listing = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..ctx.reps {
        say!(
            "agent, {host} {}/{}: start-up, ps ({label}), RSS …",
            rep + 1,
            ctx.reps
        );
        let outcome = (|| -> Result<String> {
            let output = ctx.work.join(format!("agent-{size}-{rep}.out"));
            let agent = Running::start(Peer::Agent, Peer::Agent.command(ctx, &[]), &output)?;
            let ready = agent.ready_after;
            let seeded = agent.ready_line.as_deref().and_then(tracked_count);
            let pid = agent.pid()?;
            let settled = Settled::wait(pid)?;
            let settled_rss = proc_status_bytes(pid, "VmRSS")?;
            if rep == 0 {
                listing.warm_up();
            }
            listing.pass(rep);
            let vm_rss = proc_status_bytes(pid, "VmRSS")?;
            let vm_hwm = proc_status_bytes(pid, "VmHWM")?;
            let mut ps = cmd::new("ps");
            ps.args(["-eo", PS_LISTING]);
            let ps_seconds = time_lister(Lister::Ps, ps)?[0];
            let stats = agent_stats(ctx)?;
            let stopped = agent.stop()?;
            ensure!(
                stopped.status.success(),
                "tracer agent exited with {} after SIGTERM: {}",
                stopped.status,
                stopped.stderr.join(" / ")
            );
            // The agent logs where a slow answer's time went.
            for line in stopped
                .stderr
                .iter()
                .filter(|line| line.contains("slow query"))
            {
                say!("  agent: {}", line.trim());
            }
            startup.push(ready);
            ps_listing.push(ps_seconds);
            busy.push(settled.busy);
            busy_cpu.push(settled.cpu);
            idle_rss.push(settled_rss);
            if let Some(seeded) = seeded {
                tracked.push(seeded);
            }
            rss.push(vm_rss);
            hwm.push(vm_hwm);
            let reported = stats["rss_bytes"].as_f64();
            if let Some(reported) = reported {
                stats_rss.push(reported);
            }
            if let Some(count) = stats["table"]["live"].as_u64() {
                live.push(count as usize);
            }
            Ok(format!(
                "start-up {:.0} ms (ps -eo {PS_LISTING}: {:.0} ms) ({} tracked), then busy {:.1} s more ({:.2} s CPU); VmRSS \
                 {:.1} MB settled, {:.1} MB after ps (stats {}, VmHWM {:.1} MB), {} live",
                ready * 1e3,
                ps_seconds * 1e3,
                seeded.map_or("?".to_owned(), |count| thousands(count as u64)),
                settled.busy,
                settled.cpu,
                settled_rss / 1e6,
                vm_rss / 1e6,
                reported.map_or("?".to_owned(), |bytes| format!("{:.1} MB", bytes / 1e6)),
                vm_hwm / 1e6,
                stats["table"]["live"]
            ))
        })();
        match outcome {
            Ok(summary) => say!("  {summary}"),
            Err(error) => {
                say!("  failed: {error:#}");
                failures.push(format!("{error:#}"));
            }
        }
    }

    let at_target = size == AGENT_TARGET_SIZE;
    let at_scale = size == SCALE_SIZE;
    let first_failure = || {
        failures
            .first()
            .cloned()
            .unwrap_or_else(|| "no sample".to_owned())
    };
    let mut ps = listing.rows(&format!("ps via the agent, {host} ({attrs})"));
    // Issue 17: ≥ 30× psutil at 10,000 processes, ≥ 20× at 50,000 (issue 7's 20× elsewhere).
    if at_target {
        for row in &mut ps {
            for target in &mut row.targets {
                if target.text == "tracer ≥ 20× faster" {
                    let ratio = match row.ratio {
                        Ratio::Of { value, .. } => Some(value),
                        _ => None,
                    };
                    *target = Target::at_least("tracer ≥ 30× faster", ratio, 30.0);
                }
            }
        }
    }
    if let (Some(via), Some(direct)) = (
        listing.median_of(Lister::TracerAgent),
        listing.median_of(Lister::Tracer),
    ) {
        say!(
            "agent, {host}: ps via the agent {:.1} ms, direct {:.1} ms",
            via * 1e3,
            direct * 1e3
        );
    }
    if !failures.is_empty() {
        let _ = write!(
            ps[0].extra,
            "; {} of {} agent runs failed: {}",
            failures.len(),
            ctx.reps,
            failures[0]
        );
    }

    let startup_median = median(&startup);
    let ps_median = median(&ps_listing);
    let versus_ps = match (startup_median, ps_median) {
        (Some(startup), Some(ps)) if ps > 0.0 => Some(startup / ps),
        _ => None,
    };
    let startup_row = Row {
        measurement: "agent start-up (spawn → \"listening on\")".to_owned(),
        subject: format!("tracer agent, {host} to seed"),
        unit: Unit::Seconds,
        samples: startup.clone(),
        ratio: match versus_ps {
            Some(value) => Ratio::Of {
                value,
                meaning: "start-up / ps -eo listing",
            },
            None => Ratio::Unknown,
        },
        extra: {
            let mut extra = Vec::new();
            if let Some(ps) = ps_median {
                extra.push(format!(
                    "`ps -eo {PS_LISTING}` on the same host: {:.0} ms (median{})",
                    ps * 1e3,
                    spread(&ps_listing, |v| format!("{:.0} ms", v * 1e3))
                        .map(|text| format!("; {text}"))
                        .unwrap_or_default()
                ));
            }
            if !tracked.is_empty() {
                extra.push(format!(
                    "{} processes tracked at start (median)",
                    thousands(median_usize(tracked.iter().copied()))
                ));
            }
            if let (Some(busy), Some(cpu)) = (median(&busy), median(&busy_cpu)) {
                extra.push(format!(
                    "then busy {:.0} ms more, {:.0} ms CPU (medians; ±{} ms)",
                    busy * 1e3,
                    cpu * 1e3,
                    SETTLE_STEP.as_millis()
                ));
            }
            extra.join("; ")
        },
        targets: if at_target {
            vec![Target::at_most("≤ 300 ms", startup_median, STARTUP_TARGET)]
        } else if at_scale {
            vec![Target::at_most("no slower than ps -eo", versus_ps, 1.0)]
        } else {
            Vec::new()
        },
        details: json!({
            "seconds": startup,
            "ps_listing_seconds": ps_listing,
            "tracked": tracked,
            "busy_after_ready_seconds": busy,
            "cpu_after_ready_seconds": busy_cpu,
        }),
        error: startup.is_empty().then(first_failure),
    };

    let rss_median = median(&rss);
    let mut rss_extra = Vec::new();
    if let Some(reported) = median(&stats_rss) {
        rss_extra.push(format!("stats rss_bytes {:.1} MB", reported / 1e6));
    }
    if let Some(peak) = median(&hwm) {
        rss_extra.push(format!("VmHWM {:.1} MB", peak / 1e6));
    }
    if !live.is_empty() {
        rss_extra.push(format!(
            "table.live {}",
            thousands(median_usize(live.iter().copied()))
        ));
    }
    let idle_median = median(&idle_rss);
    let idle_row = Row {
        measurement: "agent RSS (VmRSS) once settled after start-up, before any query".to_owned(),
        subject: format!("tracer agent, {host} tracked"),
        unit: Unit::Bytes,
        samples: idle_rss.clone(),
        ratio: Ratio::None,
        extra: String::new(),
        targets: if at_target {
            vec![Target::at_most("≤ 30 MB", idle_median, RSS_TARGET)]
        } else if at_scale {
            vec![Target::at_most("≤ 60 MB", idle_median, SCALE_RSS_TARGET)]
        } else {
            Vec::new()
        },
        details: json!({ "vm_rss": idle_rss }),
        error: idle_rss.is_empty().then(first_failure),
    };
    let rss_row = Row {
        measurement: "agent RSS (VmRSS) after the ps queries".to_owned(),
        subject: format!("tracer agent, {host} tracked"),
        unit: Unit::Bytes,
        samples: rss.clone(),
        ratio: Ratio::None,
        extra: rss_extra.join("; "),
        targets: if at_target {
            vec![Target::at_most("≤ 30 MB", rss_median, RSS_TARGET)]
        } else if at_scale {
            vec![Target::at_most("≤ 60 MB", rss_median, SCALE_RSS_TARGET)]
        } else {
            Vec::new()
        },
        details: json!({ "vm_rss": rss, "vm_hwm": hwm, "stats_rss_bytes": stats_rss, "live": live }),
        error: rss.is_empty().then(first_failure),
    };
    Ok(AgentAt {
        ps,
        startup: startup_row,
        rss: vec![idle_row, rss_row],
    })
}

/// The N of the agent's ready line, `… (N processes tracked…`.
pub(super) fn tracked_count(line: &str) -> Option<usize> {
    let before = &line[..line.rfind(" processes tracked")?];
    let digits = before.rsplit(['(', ' ']).next()?;
    digits.replace(',', "").parse().ok()
}

/// Issue 17, target 1: the agent's CPU per second with nothing happening (no client, no
/// storm) against `tracer events --backend procfs --interval 1` over the same seconds, both
/// running side by side, from the threads' schedstat run times (ns; clock ticks are too coarse
/// for a fraction of a millisecond per second).
pub(super) fn agent_idle(ctx: &Ctx) -> Result<Vec<Row>> {
    let window = ctx.backend_idle.max(Duration::from_secs(5));
    let reps = ctx.backend_reps.max(3);
    let mut agent_ms = Vec::new();
    let mut polling_ms = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..reps {
        say!("agent idle {}/{reps}: {} s …", rep + 1, window.as_secs());
        let outcome = (|| -> Result<(f64, f64)> {
            let agent = Running::start(
                Peer::Agent,
                Peer::Agent.command(ctx, &[]),
                &ctx.work.join(format!("idle-agent-{rep}.out")),
            )?;
            let mut command = Command::new(&ctx.tracer);
            command.arg("--socket").arg(&ctx.no_agent).args([
                "events",
                "--backend",
                "procfs",
                "--interval",
                "1",
            ]);
            let polling = Running::start(
                Peer::Tracer,
                command,
                &ctx.work.join(format!("idle-procfs-{rep}.out")),
            )?;
            let pids = [agent.pid()?, polling.pid()?];
            for pid in pids {
                Settled::wait(pid)?;
            }
            let before = pids.map(thread_run_times);
            let begun = Instant::now();
            thread::sleep(window);
            let after = pids.map(thread_run_times);
            let seconds = begun.elapsed().as_secs_f64();
            polling.stop()?;
            agent.stop()?;
            let ms_per_s = |index: usize| {
                let ns: u64 = after[index]
                    .iter()
                    .map(|(tid, ns)| {
                        ns.saturating_sub(before[index].get(tid).copied().unwrap_or(0))
                    })
                    .sum();
                ns as f64 * 1e-6 / seconds
            };
            Ok((ms_per_s(0), ms_per_s(1)))
        })();
        match outcome {
            Ok((agent, polling)) => {
                say!("  agent {agent:.3} CPU ms/s, procfs polling {polling:.3} CPU ms/s");
                agent_ms.push(agent);
                polling_ms.push(polling);
            }
            Err(error) => {
                say!("  failed: {error:#}");
                failures.push(format!("{error:#}"));
            }
        }
    }
    let measurement = format!(
        "CPU at idle ({} s windows, side by side, schedstat run time)",
        window.as_secs()
    );
    let error = || {
        agent_ms.is_empty().then(|| {
            failures
                .first()
                .cloned()
                .unwrap_or_else(|| "no sample".to_owned())
        })
    };
    let mut rows = vec![
        Row {
            measurement: measurement.clone(),
            subject: "tracer events --backend procfs --interval 1".to_owned(),
            unit: Unit::CpuMsPerSecond,
            extra: spread(&polling_ms, |v| format!("{v:.3}")).unwrap_or_default(),
            samples: polling_ms.clone(),
            ratio: Ratio::None,
            targets: Vec::new(),
            details: json!({ "cpu_ms_per_second": polling_ms }),
            error: error(),
        },
        Row {
            measurement,
            subject: "tracer agent (no client)".to_owned(),
            unit: Unit::CpuMsPerSecond,
            extra: spread(&agent_ms, |v| format!("{v:.3}")).unwrap_or_default(),
            samples: agent_ms.clone(),
            ratio: Ratio::None,
            targets: Vec::new(),
            details: json!({ "cpu_ms_per_second": agent_ms, "failures": failures }),
            error: error(),
        },
    ];
    compare(&mut rows, 0, "CPU vs procfs polling's");
    let ratio = match rows[1].ratio {
        Ratio::Of { value, .. } => Some(value),
        _ => None,
    };
    rows[1]
        .targets
        .push(Target::at_most("≤ procfs polling at 1 s", ratio, 1.0));
    Ok(rows)
}
