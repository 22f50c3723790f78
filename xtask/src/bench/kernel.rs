//! Measurement 2: the kernel cost of each BPF program, in ns per run.

use super::*;

pub(super) const PROGRAMS: [&str; 3] = [
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
];

/// Issue 7's targets for each program, in ns per run: exec ≤ 2 µs, fork and exit ≤ 0.5 µs.
pub(super) const PROGRAM_TARGETS: [u64; 3] = [500, 2_000, 500];

pub(super) fn kernel_cost(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    // per program: ns per run, runs per spawn, runs, one entry per repetition
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); PROGRAMS.len()];
    let mut per_spawn: Vec<Vec<f64>> = vec![Vec::new(); PROGRAMS.len()];
    let mut runs: Vec<Value> = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..ctx.reps {
        say!(
            "kernel cost {}/{}: tracer events --json --kernel-stats, serial storm of {} s …",
            rep + 1,
            ctx.reps,
            ctx.kernel_storm.as_secs()
        );
        let outcome = storm_under(
            ctx,
            &python,
            Peer::Tracer,
            1,
            ctx.kernel_storm,
            &["--kernel-stats"],
            &format!("kernel-{rep}"),
        )
        .and_then(|rep| {
            let stats = rep.stats.as_ref().context("no stats record")?;
            let programs = stats
                .get("programs")
                .filter(|programs| programs.is_object())
                .context("the final stats record has no `programs` (is --kernel-stats working?)")?;
            let mut figures = Vec::new();
            for name in PROGRAMS {
                let program = &programs[name];
                let count = program["run_count"].as_f64().unwrap_or(0.0);
                let time = program["run_time_ns"].as_f64().unwrap_or(0.0);
                ensure!(count > 0.0, "program {name} has run_count 0");
                figures.push((time / count, count / rep.spawned.max(1) as f64));
            }
            Ok((rep, figures))
        });
        match outcome {
            Ok((rep, figures)) => {
                let shown: Vec<String> = PROGRAMS
                    .iter()
                    .zip(&figures)
                    .map(|(name, (ns, _))| format!("{name} {ns:.0} ns"))
                    .collect();
                say!("  {}; {}", shown.join(", "), rep_summary(&rep));
                for (index, (ns_run, runs_per_spawn)) in figures.into_iter().enumerate() {
                    ns[index].push(ns_run);
                    per_spawn[index].push(runs_per_spawn);
                }
                runs.push(json!({
                    "spawns_per_second": rep.rate,
                    "spawned": rep.spawned,
                    "seen": rep.seen,
                    "lost": rep.lost,
                    "programs": rep.stats.as_ref().map(|stats| stats["programs"].clone()),
                }));
            }
            Err(error) => {
                say!("  failed: {error:#}");
                runs.push(json!({ "error": format!("{error:#}") }));
                failures.push(format!("{error:#}"));
            }
        }
    }
    let rows = PROGRAMS
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let error = ns[index]
                .is_empty()
                .then(|| failures.first().cloned().unwrap_or_default());
            let mut extra = match median(&per_spawn[index]) {
                Some(per_spawn) => format!("{per_spawn:.2} runs per spawn"),
                None => String::new(),
            };
            if !failures.is_empty() && error.is_none() {
                let _ = write!(extra, "; {} of {} runs failed", failures.len(), ctx.reps);
            }
            Row {
                measurement: "kernel cost per program run (tracer --kernel-stats, serial storm)"
                    .to_owned(),
                subject: format!("tracer: {name}"),
                unit: Unit::NsPerRun,
                samples: ns[index].clone(),
                ratio: Ratio::None,
                extra,
                targets: vec![Target::at_most(
                    format!("≤ {} ns", thousands(PROGRAM_TARGETS[index])),
                    median(&ns[index]),
                    PROGRAM_TARGETS[index] as f64,
                )],
                details: if index == 0 {
                    json!({ "runs": runs })
                } else {
                    json!({ "runs_per_spawn": per_spawn[index] })
                },
                error,
            }
        })
        .collect();
    Ok(rows)
}
