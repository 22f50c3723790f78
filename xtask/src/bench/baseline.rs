//! Measurement: this build against another one (`TRACER_BENCH_BASELINE=/path/to/tracer`, e.g. a
//! build of the commit before a change) on the agent's hot paths, as issue 13 asks ("`ps`
//! through the agent at 2,000 and 10,000 processes and the agent's CPU per lifecycle stay
//! within 5% of before, in the same run").
//!
//! Both agents run at the same time, each on its own socket, so they see the very same storm
//! and the very same host: the CPU of each per process lifecycle it applied comes from one
//! shared workload, and the `ps` timings alternate between the two agents query by query. A
//! noisy host then moves both sides alike.

use super::*;

const MEASURE_CPU: &str =
    "A/B against a baseline build: agent CPU per process lifecycle (serial storm, both agents at once)";
/// Issue 13: within 5% of before.
const WITHIN: f64 = 1.05;
/// Host sizes of the `ps` comparison.
const SIZES: [usize; 2] = [2_000, 10_000];
/// `ps` queries per agent per repetition, alternating between the two.
const QUERIES_PER_REP: usize = 16;

pub(super) fn baseline_ab(ctx: &Ctx) -> Result<Vec<Row>> {
    let Some(path) = std::env::var_os("TRACER_BENCH_BASELINE").map(PathBuf::from) else {
        say!("baseline A/B: not asked (TRACER_BENCH_BASELINE is not set)");
        return Ok(vec![Row::unavailable(
            MEASURE_CPU,
            "tracer agent",
            &anyhow!("not asked: set TRACER_BENCH_BASELINE=/path/to/another/tracer"),
        )]);
    };
    ensure!(
        path.is_file(),
        "TRACER_BENCH_BASELINE={} is not a file",
        path.display()
    );
    let base = Ctx {
        tracer: path,
        socket: ctx.work.join("baseline.sock"),
        ..ctx.clone()
    };
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let mut rows = cpu_rows(ctx, &base, &python);
    let (label, attrs, fields) = QUERIES[0];
    let mut sleepers = Sleepers::default();
    for size in SIZES {
        let outcome = fill_to(&mut sleepers, size, "baseline A/B")
            .and_then(|_| ps_rows(ctx, &base, size, label, attrs, fields));
        match outcome {
            Ok(found) => rows.extend(found),
            Err(error) => rows.push(Row::unavailable(
                &format!("A/B against a baseline build: ps via the agent, ≥ {size} processes"),
                "tracer ps --json via the agent",
                &error,
            )),
        }
    }
    Ok(rows)
}

/// Both agents started (this build's first on odd repetitions), each settled.
struct Pair {
    this: Running,
    base: Running,
}

impl Pair {
    fn start(ctx: &Ctx, base: &Ctx, rep: usize, tag: &str) -> Result<Pair> {
        let start = |which: &Ctx, name: &str| {
            Running::start(
                Peer::Agent,
                Peer::Agent.command(which, &[]),
                &ctx.work.join(format!("{tag}-{name}-{rep}.out")),
            )
        };
        let (this, base) = if rep.is_multiple_of(2) {
            let this = start(ctx, "this")?;
            (this, start(base, "baseline")?)
        } else {
            let base = start(base, "baseline")?;
            (start(ctx, "this")?, base)
        };
        Settled::wait(this.pid()?)?;
        Settled::wait(base.pid()?)?;
        Ok(Pair { this, base })
    }

    fn stop(self) -> Result<()> {
        for (name, running) in [("this build's", self.this), ("the baseline's", self.base)] {
            let stopped = running.stop()?;
            ensure!(
                stopped.status.success(),
                "{name} agent exited with {} after SIGTERM: {}",
                stopped.status,
                stopped.stderr.join(" / ")
            );
        }
        Ok(())
    }
}

/// µs of CPU (schedstat run time of all threads) per lifecycle the agent applied.
fn per_lifecycle(before: &Usage, after: &Usage) -> Option<f64> {
    let exits = |usage: &Usage| {
        usage
            .stats
            .as_ref()
            .and_then(|stats| stats["table"]["exits"].as_u64())
    };
    let applied = exits(after)?.checked_sub(exits(before)?)?;
    let run_time = before.run_time_until(after)?;
    (applied > 0).then(|| run_time * 1e6 / applied as f64)
}

fn cpu_rows(ctx: &Ctx, base: &Ctx, python: &Path) -> Vec<Row> {
    let mut this = Vec::new();
    let mut baseline = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..ctx.reps {
        say!(
            "baseline A/B {}/{}: both agents under one serial storm of {} s …",
            rep + 1,
            ctx.reps,
            ctx.storm.as_secs()
        );
        let outcome = (|| -> Result<(f64, f64)> {
            let pair = Pair::start(ctx, base, rep, "ab-storm")?;
            let before = (
                Usage::sample(ctx, &pair.this)?,
                Usage::sample(base, &pair.base)?,
            );
            run_storm(ctx, python, 1, ctx.storm, &format!("ab-storm-{rep}"))?;
            thread::sleep(GRACE);
            let after = (
                Usage::sample(ctx, &pair.this)?,
                Usage::sample(base, &pair.base)?,
            );
            pair.stop()?;
            let mine = per_lifecycle(&before.0, &after.0)
                .ok_or_else(|| anyhow!("this build's agent applied no lifecycle"))?;
            let theirs = per_lifecycle(&before.1, &after.1)
                .ok_or_else(|| anyhow!("the baseline's agent applied no lifecycle"))?;
            Ok((mine, theirs))
        })();
        match outcome {
            Ok((mine, theirs)) => {
                say!("  this build {mine:.2} µs, baseline {theirs:.2} µs per lifecycle");
                this.push(mine);
                baseline.push(theirs);
            }
            Err(error) => {
                say!("  failed: {error:#}");
                failures.push(format!("{error:#}"));
            }
        }
    }
    ab_rows(
        MEASURE_CPU,
        Unit::MicrosPerProcess,
        [this, baseline],
        &failures,
        base,
    )
}

fn ps_rows(
    ctx: &Ctx,
    base: &Ctx,
    size: usize,
    label: &str,
    attrs: &str,
    fields: &str,
) -> Result<Vec<Row>> {
    let mut this = Vec::new();
    let mut baseline = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..ctx.reps {
        say!(
            "baseline A/B, ≥ {} processes {}/{}: ps ({label}) through each agent, {} times, alternating …",
            thousands(size as u64),
            rep + 1,
            ctx.reps,
            QUERIES_PER_REP
        );
        let outcome = (|| -> Result<(f64, f64)> {
            let pair = Pair::start(ctx, base, rep, &format!("ab-ps-{size}"))?;
            let mut mine = Vec::new();
            let mut theirs = Vec::new();
            // One untimed query each: the first answer builds caches (user names, …).
            for which in [ctx, base] {
                time_lister(
                    Lister::TracerAgent,
                    Lister::TracerAgent.command(which, attrs, fields)?,
                )?;
            }
            for query in 0..QUERIES_PER_REP {
                let order = if (query + rep).is_multiple_of(2) {
                    [(ctx, true), (base, false)]
                } else {
                    [(base, false), (ctx, true)]
                };
                for (which, is_this) in order {
                    let seconds = time_lister(
                        Lister::TracerAgent,
                        Lister::TracerAgent.command(which, attrs, fields)?,
                    )?[0];
                    if is_this {
                        mine.push(seconds);
                    } else {
                        theirs.push(seconds);
                    }
                }
            }
            pair.stop()?;
            Ok((
                median(&mine).unwrap_or(f64::NAN),
                median(&theirs).unwrap_or(f64::NAN),
            ))
        })();
        match outcome {
            Ok((mine, theirs)) => {
                say!(
                    "  this build {:.1} ms, baseline {:.1} ms (medians)",
                    mine * 1e3,
                    theirs * 1e3
                );
                this.push(mine);
                baseline.push(theirs);
            }
            Err(error) => {
                say!("  failed: {error:#}");
                failures.push(format!("{error:#}"));
            }
        }
    }
    Ok(ab_rows(
        &format!(
            "A/B against a baseline build: ps via the agent, ≥ {} processes ({attrs}; both agents at once)",
            thousands(size as u64)
        ),
        Unit::Seconds,
        [this, baseline],
        &failures,
        base,
    ))
}

/// Two rows: this build (with its ratio to the baseline and issue 13's 5% limit), then the
/// baseline. Each sample is one repetition's figure.
fn ab_rows(
    measurement: &str,
    unit: Unit,
    [this, baseline]: [Vec<f64>; 2],
    failures: &[String],
    base: &Ctx,
) -> Vec<Row> {
    let error = |samples: &[f64]| {
        samples.is_empty().then(|| {
            failures
                .first()
                .cloned()
                .unwrap_or_else(|| "no sample".into())
        })
    };
    // The ratio of each repetition (same moment, same host), then their median.
    let ratios: Vec<f64> = this
        .iter()
        .zip(&baseline)
        .map(|(mine, theirs)| mine / theirs)
        .filter(|ratio| ratio.is_finite())
        .collect();
    let ratio = median(&ratios);
    let mut extra = vec![format!(
        "ratio per repetition: {}",
        ratios
            .iter()
            .map(|ratio| format!("{ratio:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    if !failures.is_empty() {
        extra.push(format!(
            "{} repetition(s) failed: {}",
            failures.len(),
            failures[0]
        ));
    }
    vec![
        Row {
            measurement: measurement.to_owned(),
            subject: "this build".to_owned(),
            unit,
            samples: this.clone(),
            ratio: match ratio {
                Some(value) => Ratio::Of {
                    value,
                    meaning: "this build / baseline (median of the repetitions' ratios)",
                },
                None => Ratio::Unknown,
            },
            extra: extra.join("; "),
            targets: vec![Target::at_most("within 5% of before", ratio, WITHIN)],
            details: json!({ "this": this, "baseline": baseline, "ratios": ratios }),
            error: error(&this),
        },
        Row {
            measurement: measurement.to_owned(),
            subject: format!("baseline {}", base.tracer.display()),
            unit,
            samples: baseline.clone(),
            ratio: Ratio::Baseline,
            extra: String::new(),
            targets: Vec::new(),
            details: json!({ "samples": baseline }),
            error: error(&baseline),
        },
    ]
}
