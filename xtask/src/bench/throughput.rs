//! Storm throughput A/B (issue 17, target 4): the serial storm with nothing attached against
//! the agent with one `tracer events --json` subscriber (and bpftrace, for the CPU each
//! consumer spends), at least [`MIN_REPS`] repetitions interleaved with the order rotated
//! each time, so that the host's drift (±10% here) falls on every arm alike. The rows give the
//! median, the spread (min–max and quartiles) and the median of the per-repetition ratios to
//! the run beside it; the JSON keeps every repetition.

use super::*;

/// Fewest repetitions of each arm, whatever the mode.
pub(super) const MIN_REPS: usize = 10;
/// Quiet time before each arm's storm.
const PAUSE: Duration = Duration::from_secs(1);

/// One arm of the comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arm {
    Nothing,
    /// `tracer agent` with one `tracer events --json` client subscribed through it.
    AgentSubscriber,
    Bpftrace,
}

impl Arm {
    fn label(self) -> &'static str {
        match self {
            Arm::Nothing => "nothing attached",
            Arm::AgentSubscriber => "tracer agent + 1 `tracer events --json` subscriber",
            Arm::Bpftrace => "bpftrace (printf pid per exec)",
        }
    }
}

/// One storm under one arm.
struct Run {
    rate: f64,
    spawned: usize,
    /// Storm processes whose exec the consumer printed.
    seen: Option<usize>,
    /// CPU seconds (user + system) of the consumer processes over the storm and its grace.
    cpu: Option<f64>,
}

pub(super) fn throughput_ab(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let mut arms = vec![Arm::Nothing, Arm::AgentSubscriber];
    match Peer::Bpftrace.unavailable(ctx) {
        None => arms.push(Arm::Bpftrace),
        Some(why) => say!("throughput: bpftrace unavailable: {why}"),
    }
    let reps = ctx.reps.max(MIN_REPS);
    let mut results: Vec<Vec<std::result::Result<Run, String>>> =
        arms.iter().map(|_| Vec::new()).collect();
    for rep in 0..reps {
        for turn in 0..arms.len() {
            let index = (turn + rep) % arms.len();
            let arm = arms[index];
            say!("throughput {}/{reps}: {} …", rep + 1, arm.label());
            let tag = format!("ab-{rep}-{index}");
            let outcome = run_arm(ctx, &python, arm, &tag);
            match &outcome {
                Ok(run) => say!(
                    "  {} spawns/s{}{}",
                    thousands(run.rate.round() as u64),
                    run.seen
                        .map(|seen| format!(", saw {}/{}", seen, run.spawned))
                        .unwrap_or_default(),
                    run.cpu
                        .map(|cpu| format!(", consumer CPU {cpu:.3} s"))
                        .unwrap_or_default()
                ),
                Err(error) => say!("  failed: {error:#}"),
            }
            results[index].push(outcome.map_err(|error| format!("{error:#}")));
        }
    }
    Ok(rows(&arms, &results))
}

/// Starts the arm's consumers, runs one serial storm, stops them.
fn run_arm(ctx: &Ctx, python: &Path, arm: Arm, tag: &str) -> Result<Run> {
    // The arm before may still be tearing down (programs detached, memory freed): each arm,
    // the one with nothing attached too, starts after the same pause.
    thread::sleep(PAUSE);
    let mut consumers: Vec<Running> = Vec::new();
    let mut subscriber_output = None;
    match arm {
        Arm::Nothing => {}
        Arm::AgentSubscriber => {
            let agent = Running::start(
                Peer::Agent,
                Peer::Agent.command(ctx, &["--max-exited", STORM_MAX_EXITED]),
                &ctx.work.join(format!("{tag}-agent.out")),
            )?;
            Settled::wait(agent.pid()?)?;
            let output = ctx.work.join(format!("{tag}-subscriber.out"));
            let mut command = Command::new(&ctx.tracer);
            command
                .arg("--socket")
                .arg(&ctx.socket)
                .args(["events", "--json"]);
            consumers.push(agent);
            consumers.push(Running::start(Peer::Tracer, command, &output)?);
            subscriber_output = Some(output);
        }
        Arm::Bpftrace => {
            let output = ctx.work.join(format!("{tag}-bpftrace.out"));
            consumers.push(Running::start(
                Peer::Bpftrace,
                Peer::Bpftrace.command(ctx, &[]),
                &output,
            )?);
            subscriber_output = Some(output);
        }
    }
    let cpu_now = |consumers: &[Running]| -> Result<f64> {
        let mut total = 0.0;
        for consumer in consumers {
            total += cpu_seconds(consumer.pid()?)?;
        }
        Ok(total)
    };
    let before = cpu_now(&consumers)?;
    let storm = run_storm(ctx, python, 1, ctx.storm, tag)?;
    let cpu = if consumers.is_empty() {
        None
    } else {
        thread::sleep(GRACE);
        Some(cpu_now(&consumers)? - before)
    };
    // The subscriber first (a client leaving), then the agent.
    let mut stopped = Vec::new();
    while let Some(consumer) = consumers.pop() {
        stopped.push(consumer.stop()?);
    }
    let seen = match (arm, subscriber_output) {
        (Arm::Nothing, _) | (_, None) => None,
        (arm, Some(output)) => {
            let text = fs::read(&output)
                .with_context(|| format!("cannot read {}'s output", arm.label()))?;
            let text = String::from_utf8_lossy(&text);
            let observed = match arm {
                Arm::Bpftrace => parse_bpftrace(&text, &stopped[0].stderr),
                _ => parse_tracer(&text)?,
            };
            Some(seen(&storm.pids, &observed.execs))
        }
    };
    Ok(Run {
        rate: storm.rate,
        spawned: storm.pids.len(),
        seen,
        cpu,
    })
}

/// `min–max, quartiles q1–q3` of `samples`.
pub(super) fn spread(samples: &[f64], show: impl Fn(f64) -> String) -> Option<String> {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (q1, q3) = (percentile(samples, 0.25)?, percentile(samples, 0.75)?);
    Some(format!(
        "spread {}–{}, quartiles {}–{}",
        show(min),
        show(max),
        show(q1),
        show(q3)
    ))
}

fn rows(arms: &[Arm], results: &[Vec<std::result::Result<Run, String>>]) -> Vec<Row> {
    let good = |index: usize| -> Vec<&Run> {
        results[index]
            .iter()
            .filter_map(|run| run.as_ref().ok())
            .collect()
    };
    let first_error = |index: usize| {
        results[index]
            .iter()
            .find_map(|run| run.as_ref().err().cloned())
    };
    let reps = results.first().map_or(0, Vec::len);
    let runs_json = |index: usize| {
        results[index]
            .iter()
            .map(|run| match run {
                Ok(run) => json!({
                    "spawns_per_second": run.rate,
                    "spawned": run.spawned,
                    "seen": run.seen,
                    "consumer_cpu_seconds": run.cpu,
                }),
                Err(error) => json!({ "error": error }),
            })
            .collect::<Vec<_>>()
    };
    // Each repetition's ratio to the baseline run of the same repetition (paired: the drift
    // between repetitions cancels).
    let paired = |index: usize| -> Vec<f64> {
        results[0]
            .iter()
            .zip(&results[index])
            .filter_map(|pair| match pair {
                (Ok(base), Ok(run)) if base.rate > 0.0 => Some(run.rate / base.rate),
                _ => None,
            })
            .collect()
    };

    let measurement = format!("throughput A/B, serial storm ({reps} interleaved repetitions)");
    let mut group: Vec<Row> = arms
        .iter()
        .enumerate()
        .map(|(index, arm)| {
            let runs = good(index);
            let samples: Vec<f64> = runs.iter().map(|run| run.rate).collect();
            let mut extra = Vec::new();
            if let Some(text) = spread(&samples, |v| thousands(v.round() as u64)) {
                extra.push(text);
            }
            let ratios = paired(index);
            if index > 0 {
                if let Some(m) = median(&ratios) {
                    extra.push(format!(
                        "paired ratio median {m:.3} ({})",
                        spread(&ratios, |v| format!("{v:.3}")).unwrap_or_default()
                    ));
                }
            }
            let (seen, spawned) = runs.iter().fold((0, 0), |(seen, spawned), run| {
                (seen + run.seen.unwrap_or(0), spawned + run.spawned)
            });
            if index > 0 && spawned > 0 {
                extra.push(format!("saw {}", percent(seen, spawned)));
            }
            Row {
                measurement: measurement.clone(),
                subject: arm.label().to_owned(),
                unit: Unit::SpawnsPerSecond,
                samples,
                ratio: Ratio::None,
                extra: extra.join("; "),
                targets: Vec::new(),
                details: json!({ "runs": runs_json(index), "paired_ratios": ratios }),
                error: runs
                    .is_empty()
                    .then(|| first_error(index).unwrap_or_else(|| "no repetition ran".to_owned())),
            }
        })
        .collect();
    compare(&mut group, 0, "throughput");
    if let Some(index) = arms.iter().position(|arm| *arm == Arm::AgentSubscriber) {
        let value = match group[index].ratio {
            Ratio::Of { value, .. } => Some(value),
            _ => None,
        };
        group[index]
            .targets
            .push(Target::at_least("throughput ≥ 0.98×", value, 0.98));
    }

    // CPU per storm process of each arm's consumers, against bpftrace's.
    let cpu_measurement =
        "consumer CPU per storm process, A/B serial storm (user+sys, agent + subscriber together)"
            .to_owned();
    let mut cpu_rows: Vec<Row> = arms
        .iter()
        .enumerate()
        .filter(|(_, arm)| **arm != Arm::Nothing)
        .map(|(index, arm)| {
            let samples: Vec<f64> = good(index)
                .iter()
                .filter_map(|run| run.cpu.map(|cpu| cpu * 1e6 / run.spawned.max(1) as f64))
                .collect();
            Row {
                measurement: cpu_measurement.clone(),
                subject: arm.label().to_owned(),
                unit: Unit::MicrosPerProcess,
                extra: spread(&samples, |v| format!("{v:.2}")).unwrap_or_default(),
                samples,
                ratio: Ratio::None,
                targets: Vec::new(),
                details: json!({ "runs": runs_json(index) }),
                error: None,
            }
        })
        .collect();
    if let Some(bpftrace) = cpu_rows
        .iter()
        .position(|row| row.subject == Arm::Bpftrace.label())
    {
        compare(&mut cpu_rows, bpftrace, "CPU vs bpftrace's");
        for row in &mut cpu_rows {
            if row.subject == Arm::AgentSubscriber.label() {
                let value = match row.ratio {
                    Ratio::Of { value, .. } => Some(value),
                    _ => None,
                };
                row.targets
                    .push(Target::at_most("≤ 0.5× bpftrace", value, 0.5));
            }
        }
    }
    group.extend(cpu_rows);
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_names_the_extremes_and_quartiles() {
        let samples: Vec<f64> = (1..=8).map(f64::from).collect();
        let text = spread(&samples, |v| format!("{v:.0}")).expect("samples");
        assert_eq!(text, "spread 1–8, quartiles 2–6");
        assert_eq!(spread(&[], |v| format!("{v}")), None);
    }
}
