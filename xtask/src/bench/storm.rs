//! Measurement 1: exec-storm throughput under each peer (nothing, `tracer agent`, `tracer
//! events`, bpftrace, forkstat), the fraction of the storm each saw, and what each consumer spent.

use super::*;

/// The name `Peer::Floor` filters on: no process has it.
const FLOOR_NAME: &str = "no-such-process";

/// Who watches the storm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Peer {
    Nothing,
    /// `tracer agent` on the bench's private socket.
    Agent,
    /// The same with one `tracer events --json` client subscribed to it through the socket
    /// (CPU: the agent's and the client's).
    AgentSubscribed,
    /// `tracer events --json` in direct mode (its own eBPF programs).
    Tracer,
    /// The same with a filter no process matches: the floor of a userspace consumer of every
    /// record (wake-ups, draining the ring, decoding, placement, filtering; nothing rendered).
    Floor,
    Bpftrace,
    Forkstat,
}

pub(super) const PEERS: [Peer; 7] = [
    Peer::Nothing,
    Peer::Agent,
    Peer::AgentSubscribed,
    Peer::Tracer,
    Peer::Floor,
    Peer::Bpftrace,
    Peer::Forkstat,
];

impl Peer {
    pub(super) fn label(self) -> &'static str {
        match self {
            Peer::Nothing => "nothing attached",
            Peer::Agent => "tracer agent",
            Peer::AgentSubscribed => "tracer agent + one events --json subscriber",
            Peer::Tracer => "tracer events --json",
            Peer::Floor => "floor: tracer events --json, a filter nothing matches",
            Peer::Bpftrace => "bpftrace (printf pid per exec)",
            Peer::Forkstat => "forkstat -e exec,exit",
        }
    }

    /// Whether this peer is tracer itself (its failures fail the bench).
    pub(super) fn is_tracer(self) -> bool {
        matches!(
            self,
            Peer::Agent | Peer::AgentSubscribed | Peer::Tracer | Peer::Floor
        )
    }

    /// Whether this peer runs the agent.
    pub(super) fn is_agent(self) -> bool {
        matches!(self, Peer::Agent | Peer::AgentSubscribed)
    }

    /// Why this peer cannot run here, if it cannot.
    pub(super) fn unavailable(self, ctx: &Ctx) -> Option<String> {
        match self {
            Peer::Nothing | Peer::Agent | Peer::AgentSubscribed | Peer::Tracer | Peer::Floor => {
                None
            }
            Peer::Bpftrace => match (cmd::which("bpftrace"), &ctx.tracefs) {
                (None, _) => Some("bpftrace is not installed (apt-get install bpftrace)".into()),
                (Some(_), Err(error)) => Some(error.clone()),
                (Some(_), Ok(())) => None,
            },
            Peer::Forkstat => cmd::which("forkstat")
                .is_none()
                .then(|| "forkstat is not installed (apt-get install forkstat)".into()),
        }
    }

    pub(super) fn command(self, ctx: &Ctx, extra: &[&str]) -> Command {
        let mut command = match self {
            Peer::Nothing => unreachable!("nothing attached has no command"),
            Peer::Agent | Peer::AgentSubscribed => {
                let mut command = Command::new(&ctx.tracer);
                command.arg("--socket").arg(&ctx.socket).arg("agent");
                command
            }
            Peer::Tracer | Peer::Floor => {
                let mut command = Command::new(&ctx.tracer);
                command
                    .arg("--socket")
                    .arg(&ctx.no_agent)
                    .args(["events", "--json"]);
                if self == Peer::Floor {
                    command.args(["--name", FLOOR_NAME]);
                }
                command
            }
            Peer::Bpftrace => {
                let mut command = cmd::new("bpftrace");
                command.args(["-e", BPFTRACE_PROGRAM]);
                command
            }
            Peer::Forkstat => {
                let mut command = cmd::new("forkstat");
                command.args(["-e", "exec,exit"]);
                command
            }
        };
        command.args(extra);
        command
    }

    /// The signal that stops the peer: the agent is a daemon (SIGTERM), the others are
    /// interactive tools (SIGINT, as Ctrl-C).
    pub(super) fn stop_signal(self) -> libc::c_int {
        if self.is_agent() {
            libc::SIGTERM
        } else {
            libc::SIGINT
        }
    }
}

/// One storm under one peer.
pub(super) struct StormRep {
    pub(super) rate: f64,
    pub(super) spawned: usize,
    /// How many of the storm's processes the peer reported (an exec; for the agent, an exited
    /// entry with exit code 0 whose parent is a spawner).
    pub(super) seen: Option<usize>,
    /// Events the peer says it lost (tracer's `lost`, bpftrace's "Lost N events").
    pub(super) lost: Option<u64>,
    /// tracer's final stats record; the agent's `stats --json` after the storm.
    pub(super) stats: Option<Value>,
    /// Time from starting the peer until it was ready.
    pub(super) attach: Option<f64>,
    /// CPU seconds (user + system) the peer's process spent from the storm's start until the
    /// grace time after it.
    pub(super) cpu: Option<f64>,
    /// The same from the threads' schedstat run times (ns resolution).
    pub(super) run_time: Option<f64>,
    /// The agent only: process lifecycles it applied (exits) over the same window, the storm's
    /// and any other process's on the host.
    pub(super) traced: Option<u64>,
    /// The agent only: its work after its ready line, before the storm started.
    pub(super) settled: Option<Settled>,
    /// Unexpected things the peer said or did (stderr lines, exit status).
    pub(super) notes: Vec<String>,
}

pub(super) fn exec_storm(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let skip: Vec<Option<String>> = PEERS.iter().map(|peer| peer.unavailable(ctx)).collect();
    for (peer, why) in PEERS.iter().zip(&skip) {
        if let Some(why) = why {
            say!("storm: {} unavailable: {why}", peer.label());
        }
    }
    // results[spawners - 1][peer] = one entry per repetition
    let mut results: Vec<Vec<Vec<std::result::Result<StormRep, String>>>> = (0..2)
        .map(|_| PEERS.iter().map(|_| Vec::new()).collect())
        .collect();
    for rep in 0..ctx.reps {
        for spawners in [1, 2] {
            for turn in 0..PEERS.len() {
                let index = (turn + rep) % PEERS.len();
                let peer = PEERS[index];
                if skip[index].is_some() {
                    continue;
                }
                say!(
                    "storm {}/{}: {}, {} …",
                    rep + 1,
                    ctx.reps,
                    spawn_label(spawners),
                    peer.label()
                );
                let tag = format!("storm-{rep}-{spawners}-{index}");
                // The agent's table keeps the newest 10,000 exited processes by default; the
                // storm's count is read from them, so it keeps them all here.
                let extra: &[&str] = match peer {
                    Peer::Agent | Peer::AgentSubscribed => &["--max-exited", STORM_MAX_EXITED],
                    _ => &[],
                };
                let outcome = storm_under(ctx, &python, peer, spawners, ctx.storm, extra, &tag);
                match &outcome {
                    Ok(rep) => say!("  {}", rep_summary(rep)),
                    Err(error) => say!("  failed: {error:#}"),
                }
                results[spawners - 1][index].push(outcome.map_err(|error| format!("{error:#}")));
            }
        }
    }

    let mut rows = Vec::new();
    for spawners in [1, 2] {
        let mut group: Vec<Row> = PEERS
            .iter()
            .enumerate()
            .map(|(index, peer)| {
                storm_row(
                    spawners,
                    *peer,
                    skip[index].as_deref(),
                    &results[spawners - 1][index],
                )
            })
            .collect();
        compare(&mut group, 0, "throughput");
        for (row, peer) in group.iter_mut().zip(PEERS) {
            if peer == Peer::Agent {
                let ratio = match row.ratio {
                    Ratio::Of { value, .. } => Some(value),
                    _ => None,
                };
                row.targets
                    .insert(0, Target::at_least("throughput ≥ 0.97×", ratio, 0.97));
            }
        }
        rows.extend(group);
    }
    rows.push(agent_cost_row(&results[0][1]));
    for spawners in [1, 2] {
        rows.extend(consumer_cpu_rows(spawners, &skip, &results[spawners - 1]));
    }
    Ok(rows)
}

pub(super) fn spawn_label(spawners: usize) -> &'static str {
    if spawners == 1 {
        "serial"
    } else {
        "parallel"
    }
}

pub(super) fn rep_summary(rep: &StormRep) -> String {
    let mut text = format!("{} spawns/s", thousands(rep.rate.round() as u64));
    if let Some(seen) = rep.seen {
        let _ = write!(
            text,
            ", saw {}/{} ({})",
            thousands(seen as u64),
            thousands(rep.spawned as u64),
            percent(seen, rep.spawned)
        );
    } else {
        let _ = write!(text, ", {} spawned", thousands(rep.spawned as u64));
    }
    if let Some(lost) = rep.lost {
        let _ = write!(text, ", lost {lost}");
    }
    if let Some(attach) = rep.attach {
        let _ = write!(text, ", ready after {attach:.2} s");
    }
    if let Some(settled) = rep.settled {
        let _ = write!(
            text,
            " (then busy {:.2} s more, {:.2} s CPU)",
            settled.busy, settled.cpu
        );
    }
    if let Some(cpu) = rep.cpu {
        let _ = write!(
            text,
            ", CPU {:.3} s ({:.2} µs per storm process",
            cpu,
            cpu * 1e6 / rep.spawned.max(1) as f64
        );
        if let Some(run_time) = rep.run_time {
            let _ = write!(text, "; schedstat {:.4} s", run_time);
        }
        text.push(')');
    }
    if let Some(traced) = rep.traced {
        let _ = write!(text, ", {} exits applied", thousands(traced));
    }
    for note in &rep.notes {
        let _ = write!(text, "; note: {note}");
    }
    text
}

pub(super) fn storm_row(
    spawners: usize,
    peer: Peer,
    skipped: Option<&str>,
    reps: &[std::result::Result<StormRep, String>],
) -> Row {
    let measurement = format!(
        "exec storm, {} ({} spawner{})",
        spawn_label(spawners),
        spawners,
        if spawners == 1 { "" } else { "s" }
    );
    let good: Vec<&StormRep> = reps.iter().filter_map(|rep| rep.as_ref().ok()).collect();
    let failures: Vec<&String> = reps.iter().filter_map(|rep| rep.as_ref().err()).collect();
    let error = match (skipped, good.is_empty(), failures.first()) {
        (Some(why), _, _) => Some(why.to_owned()),
        (None, true, Some(first)) => Some((*first).clone()),
        (None, true, None) => Some("no repetition ran".to_owned()),
        (None, false, _) => None,
    };

    let mut extra = Vec::new();
    let mut targets = Vec::new();
    let spawned: usize = good.iter().map(|rep| rep.spawned).sum();
    if peer == Peer::Nothing {
        if !good.is_empty() {
            extra.push(format!(
                "{} spawns per storm (median)",
                thousands(median_usize(good.iter().map(|rep| rep.spawned)))
            ));
        }
    } else if !good.is_empty() {
        let seen: usize = good.iter().filter_map(|rep| rep.seen).sum();
        let worst = good
            .iter()
            .filter_map(|rep| rep.seen.map(|seen| fraction(seen, rep.spawned)))
            .fold(f64::INFINITY, f64::min);
        extra.push(format!(
            "saw {} ({}/{}; worst run {:.2}%)",
            percent(seen, spawned),
            thousands(seen as u64),
            thousands(spawned as u64),
            worst * 100.0
        ));
        let lost: Vec<u64> = good.iter().filter_map(|rep| rep.lost).collect();
        let total: u64 = lost.iter().sum();
        if peer.is_tracer() || !lost.is_empty() {
            extra.push(format!("lost {total}"));
        }
        if peer == Peer::Floor {
            extra.push("prints nothing by design".to_owned());
        } else if peer.is_tracer() {
            targets.push(Target::new("100% seen", Some(seen == spawned)));
            targets.push(Target::new(
                "0 lost",
                Some(lost.len() == good.len() && total == 0),
            ));
        }
    }
    if !failures.is_empty() && !good.is_empty() {
        extra.push(format!(
            "{} of {} runs failed: {}",
            failures.len(),
            reps.len(),
            failures[0]
        ));
    }
    let mut notes: Vec<&String> = good.iter().flat_map(|rep| &rep.notes).collect();
    notes.dedup();
    if let Some(note) = notes.first() {
        extra.push(format!("note: {note}"));
    }

    let details = json!({
        "spawners": spawners,
        "runs": reps.iter().map(|rep| match rep {
            Ok(rep) => json!({
                "spawns_per_second": rep.rate,
                "spawned": rep.spawned,
                "seen": rep.seen,
                "lost": rep.lost,
                "ready_after_seconds": rep.attach,
                "cpu_seconds": rep.cpu,
                "run_time_seconds": rep.run_time,
                "exits_applied": rep.traced,
                "busy_after_ready_seconds": rep.settled.map(|settled| settled.busy),
                "cpu_after_ready_seconds": rep.settled.map(|settled| settled.cpu),
                "stats": rep.stats,
                "notes": rep.notes,
            }),
            Err(error) => json!({ "error": error }),
        }).collect::<Vec<_>>(),
    });
    Row {
        measurement,
        subject: peer.label().to_owned(),
        unit: Unit::SpawnsPerSecond,
        samples: good.iter().map(|rep| rep.rate).collect(),
        ratio: Ratio::None,
        extra: extra.join("; "),
        targets,
        details,
        error,
    }
}

/// The agent's CPU per process lifecycle over the serial storms: its user + system time from
/// the storm's start to the grace time after it, divided by the exits it applied meanwhile.
pub(super) fn agent_cost_row(reps: &[std::result::Result<StormRep, String>]) -> Row {
    let good: Vec<&StormRep> = reps.iter().filter_map(|rep| rep.as_ref().ok()).collect();
    let per_lifecycle: Vec<f64> = good
        .iter()
        .filter_map(|rep| match (rep.cpu, rep.traced) {
            (Some(cpu), Some(traced)) if traced > 0 => Some(cpu * 1e6 / traced as f64),
            _ => None,
        })
        .collect();
    let per_storm_process: Vec<f64> = good
        .iter()
        .filter_map(|rep| rep.cpu.map(|cpu| cpu * 1e6 / rep.spawned.max(1) as f64))
        .collect();
    let error = per_lifecycle.is_empty().then(|| {
        reps.iter()
            .find_map(|rep| rep.as_ref().err().cloned())
            .unwrap_or_else(|| "no CPU figures (no agent storm ran)".to_owned())
    });
    let value = median(&per_lifecycle);
    let mut extra = Vec::new();
    if let Some(value) = value {
        extra.push(format!("= {:.4} s CPU per 1,000 processes", value * 1e-3));
    }
    let precise: Vec<f64> = good
        .iter()
        .filter_map(|rep| match (rep.run_time, rep.traced) {
            (Some(run_time), Some(traced)) if traced > 0 => Some(run_time * 1e6 / traced as f64),
            _ => None,
        })
        .collect();
    if let Some(precise) = median(&precise) {
        extra.push(format!(
            "{precise:.2} µs from the threads' schedstat run time (ns resolution)"
        ));
    }
    if let Some(per_storm) = median(&per_storm_process) {
        extra.push(format!("{per_storm:.2} µs per storm process"));
    }
    if !good.is_empty() {
        extra.push(format!(
            "{} lifecycles applied per storm (median; the storm's and the host's)",
            thousands(median_usize(
                good.iter().filter_map(|rep| rep.traced.map(|t| t as usize))
            ))
        ));
    }
    extra.push(format!(
        "user+sys from /proc/PID/stat, {} Hz ticks",
        clock_ticks()
    ));
    Row {
        measurement: "agent cost: CPU per process lifecycle (serial storm)".to_owned(),
        subject: "tracer agent".to_owned(),
        unit: Unit::MicrosPerProcess,
        samples: per_lifecycle.clone(),
        ratio: Ratio::None,
        extra: extra.join("; "),
        targets: vec![Target::at_most("≤ 10 µs", value, 10.0)],
        details: json!({
            "us_per_lifecycle": per_lifecycle,
            "us_per_storm_process": per_storm_process,
            "us_per_lifecycle_schedstat": precise,
            "cpu_seconds": good.iter().map(|rep| rep.cpu).collect::<Vec<_>>(),
            "lifecycles_applied": good.iter().map(|rep| rep.traced).collect::<Vec<_>>(),
            "spawned": good.iter().map(|rep| rep.spawned).collect::<Vec<_>>(),
        }),
        error,
    }
}

/// CPU the consumer process of each peer spent per storm process (the kernel's share, spent in
/// the storm's own processes, is not in it), compared with the agent's.
pub(super) fn consumer_cpu_rows(
    spawners: usize,
    skip: &[Option<String>],
    results: &[Vec<std::result::Result<StormRep, String>>],
) -> Vec<Row> {
    let measurement = format!(
        "consumer CPU per storm process, {} storm (the peer's threads' schedstat run time)",
        spawn_label(spawners)
    );
    let mut group: Vec<Row> = PEERS
        .iter()
        .enumerate()
        .filter(|(_, peer)| **peer != Peer::Nothing)
        .map(|(index, peer)| {
            let reps = &results[index];
            // The threads' run time (ns) where it is known: a 3 s storm of 1,000 processes
            // is a few clock ticks of user+sys, 10 µs per process apart.
            let samples: Vec<f64> = reps
                .iter()
                .filter_map(|rep| rep.as_ref().ok())
                .filter_map(|rep| {
                    rep.run_time
                        .or(rep.cpu)
                        .map(|cpu| cpu * 1e6 / rep.spawned.max(1) as f64)
                })
                .collect();
            let error = match &skip[index] {
                Some(why) => Some(why.clone()),
                None if samples.is_empty() => Some(
                    reps.iter()
                        .find_map(|rep| rep.as_ref().err().cloned())
                        .unwrap_or_else(|| "no repetition ran".to_owned()),
                ),
                None => None,
            };
            let cpu: Vec<f64> = reps
                .iter()
                .filter_map(|rep| rep.as_ref().ok().and_then(|rep| rep.cpu))
                .collect();
            let ticks: Vec<f64> = reps
                .iter()
                .filter_map(|rep| rep.as_ref().ok())
                .filter_map(|rep| rep.cpu.map(|cpu| cpu * 1e6 / rep.spawned.max(1) as f64))
                .collect();
            let mut extra = match median(&cpu) {
                Some(cpu) => format!("{cpu:.3} s CPU per storm (median)"),
                None => String::new(),
            };
            if let Some(ticks) = median(&ticks) {
                let _ = write!(extra, "; {ticks:.2} µs from user+sys clock ticks");
            }
            Row {
                measurement: measurement.clone(),
                subject: peer.label().to_owned(),
                unit: Unit::MicrosPerProcess,
                samples,
                ratio: Ratio::None,
                extra,
                targets: Vec::new(),
                details: json!({ "cpu_seconds": cpu, "us_per_process_ticks": ticks }),
                error,
            }
        })
        .collect();
    // Issue 17, target 2: the consumers' CPU as a ratio of bpftrace's in the same run.
    let baseline = PEERS
        .iter()
        .filter(|peer| **peer != Peer::Nothing)
        .position(|peer| *peer == Peer::Bpftrace)
        .expect("bpftrace is a peer");
    compare(&mut group, baseline, "CPU vs bpftrace's");
    if spawners == 1 {
        let consumers: Vec<Peer> = PEERS
            .iter()
            .copied()
            .filter(|peer| *peer != Peer::Nothing)
            .collect();
        let floor = consumers
            .iter()
            .position(|peer| *peer == Peer::Floor)
            .and_then(|index| match group[index].ratio {
                Ratio::Of { value, .. } => Some(value),
                _ => None,
            });
        for (row, peer) in group.iter_mut().zip(consumers) {
            if let (Some(floor), Peer::Agent | Peer::AgentSubscribed | Peer::Tracer) = (floor, peer)
            {
                let _ = write!(
                    row.extra,
                    "; the floor (drain + decode only) is {floor:.2}× bpftrace"
                );
            }
            let limit = match peer {
                Peer::Agent => 0.25,
                Peer::AgentSubscribed | Peer::Tracer => 0.5,
                _ => continue,
            };
            let ratio = match row.ratio {
                Ratio::Of { value, .. } => Some(value),
                _ => None,
            };
            row.targets.push(Target::at_most(
                format!("≤ {limit}× bpftrace"),
                ratio,
                limit,
            ));
        }
    }
    group
}

/// Starts `peer` (with `extra` arguments), runs a storm of `spawners` for `duration`, stops the
/// peer and matches the storm's pids with the processes the peer reported.
pub(super) fn storm_under(
    ctx: &Ctx,
    python: &Path,
    peer: Peer,
    spawners: usize,
    duration: Duration,
    extra: &[&str],
    tag: &str,
) -> Result<StormRep> {
    let output = ctx.work.join(format!("{tag}.out"));
    let running = match peer {
        Peer::Nothing => None,
        _ => Some(Running::start(peer, peer.command(ctx, extra), &output)?),
    };
    let attach = running.as_ref().map(|running| running.ready_after);
    // The agent goes on working for a moment after it says it listens: that is start-up, not
    // the storm's cost, and it would overlap the storm's start.
    let settled = match &running {
        Some(running) if peer.is_agent() => Some(Settled::wait(running.pid()?)?),
        _ => None,
    };
    // The subscriber: `tracer events --json` through the agent's socket, its output kept.
    let client_output = ctx.work.join(format!("{tag}.client.out"));
    let client = match peer {
        Peer::AgentSubscribed => {
            let mut command = Command::new(&ctx.tracer);
            command
                .arg("--socket")
                .arg(&ctx.socket)
                .args(["events", "--json"]);
            let client = Running::start(Peer::Tracer, command, &client_output)?;
            Settled::wait(client.pid()?)?;
            Some(client)
        }
        _ => None,
    };
    let before = match &running {
        Some(running) => Some(Usage::sample(ctx, running)?),
        None => None,
    };
    let client_before = match &client {
        Some(client) => Some(Usage::sample(ctx, client)?),
        None => None,
    };
    let storm = run_storm(ctx, python, spawners, duration, tag)?;
    let (after, exited) = match &running {
        Some(running) => {
            thread::sleep(GRACE);
            let after = Usage::sample(ctx, running)?;
            let exited = match peer {
                Peer::Agent | Peer::AgentSubscribed => Some(agent_exited(ctx)?),
                _ => None,
            };
            (Some(after), exited)
        }
        None => (None, None),
    };
    let client_after = match &client {
        Some(client) => Some(Usage::sample(ctx, client)?),
        None => None,
    };
    let client_stopped = match client {
        Some(client) => Some(client.stop()?),
        None => None,
    };
    let stopped = match running {
        Some(running) => Some(running.stop()?),
        None => None,
    };

    let mut rep = StormRep {
        rate: storm.rate,
        spawned: storm.pids.len(),
        seen: None,
        lost: None,
        stats: None,
        attach,
        cpu: None,
        run_time: None,
        traced: None,
        settled,
        notes: Vec::new(),
    };
    if let (Some(before), Some(after)) = (&before, &after) {
        rep.cpu = Some(after.cpu - before.cpu);
        rep.run_time = before.run_time_until(after);
        // With a subscriber: the agent's CPU and the client's.
        if let (Some(client_before), Some(client_after)) = (&client_before, &client_after) {
            rep.cpu = rep
                .cpu
                .map(|cpu| cpu + client_after.cpu - client_before.cpu);
            rep.run_time = rep
                .run_time
                .zip(client_before.run_time_until(client_after))
                .map(|(agent, client)| agent + client);
        }
        if let (Some(first), Some(last)) = (&before.stats, &after.stats) {
            let exits = |stats: &Value| stats["table"]["exits"].as_u64().unwrap_or(0);
            rep.traced = Some(exits(last).saturating_sub(exits(first)));
        }
    }
    if storm.failed > 0 {
        rep.notes.push(format!(
            "{} spawned /bin/true exited non-zero",
            storm.failed
        ));
    }
    if let Some(stopped) = stopped {
        let text =
            fs::read(&output).with_context(|| format!("cannot read {}'s output", peer.label()))?;
        let _ = fs::remove_file(&output);
        let text = String::from_utf8_lossy(&text);
        let observed = match peer {
            Peer::Agent | Peer::AgentSubscribed => {
                let stats = after.and_then(|after| after.stats);
                let observed = agent_observed(&exited.unwrap_or_default(), &storm.spawners);
                rep.lost = stats
                    .as_ref()
                    .and_then(|stats| stats["source"]["lost"].as_u64());
                if observed.odd > 0 {
                    rep.notes.push(format!(
                        "{} of the storm's exited entries had no exit code 0",
                        observed.odd
                    ));
                }
                // With a subscriber, what the subscriber printed is what counts as seen.
                let execs = if peer == Peer::AgentSubscribed {
                    let text = fs::read(&client_output)
                        .with_context(|| "cannot read the subscriber's output".to_owned())?;
                    let _ = fs::remove_file(&client_output);
                    parse_tracer(&String::from_utf8_lossy(&text))?.execs
                } else {
                    observed.exits
                };
                Observed {
                    execs,
                    lost: rep.lost,
                    stats,
                }
            }
            Peer::Tracer | Peer::Floor => parse_tracer(&text)?,
            Peer::Bpftrace => parse_bpftrace(&text, &stopped.stderr),
            Peer::Forkstat => parse_forkstat(&text),
            Peer::Nothing => unreachable!(),
        };
        rep.seen = Some(seen(&storm.pids, &observed.execs));
        rep.lost = observed.lost;
        rep.stats = observed.stats;
        if peer.is_tracer() && rep.stats.is_none() {
            bail!("{} gave no stats", peer.label());
        }
        if !stopped.status.success() {
            let note = format!(
                "exited with {} after {}",
                stopped.status,
                if peer.is_agent() { "SIGTERM" } else { "SIGINT" }
            );
            ensure!(!peer.is_tracer(), "{} {note}", peer.label());
            rep.notes.push(note);
        }
        if let Some(client) = client_stopped {
            if !client.status.success() {
                rep.notes.push(format!(
                    "the subscriber exited with {} after SIGINT",
                    client.status
                ));
            }
            rep.notes.extend(
                client
                    .stderr
                    .into_iter()
                    .filter(|line| !is_noise(line) && !is_tracer_chatter(line)),
            );
        }
        rep.notes.extend(
            stopped
                .stderr
                .into_iter()
                .filter(|line| !is_noise(line) && !is_tracer_chatter(line)),
        );
        rep.notes.truncate(3);
        for note in &mut rep.notes {
            *note = shorten(note, 160);
        }
    }
    Ok(rep)
}
