//! Measurement 2: the kernel cost of each BPF program, in ns per run.
//!
//! With `TRACER_BENCH_BASELINE=/path/to/tracer` (another build, e.g. main's; or
//! `TRACER_BENCH_KERNEL_BASELINE`, for this measurement only) each repetition
//! also measures that binary's programs, interleaved with this build's, and this build's rows
//! carry the ratio against it: an A/B of a kernel change in one sitting.
//!
//! Each repetition also runs this build with `--kernel-floor`: an empty program, the least
//! reporting program and, for exec and exit, that program with the event's necessary reads
//! (exec: the path walk and the argv copy, also each alone; exit: the usage) on each lifecycle
//! tracepoint (see tracer-ebpf's `floor`), attached before the lifecycle programs: the
//! necessary reads' floor runs first and pays the cache misses of those reads, as the program
//! alone does; the other floors run warm after it. They are the floors issue 17's targets are
//! ratios to (the empty program) and the floors that explain a target this machine cannot meet
//! (the necessary reads). Each program's ratios use its cost alone (without the floors, which
//! warm its caches) in the same repetition.

use super::*;

pub(super) const PROGRAMS: [&str; 4] = [
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
    "sched_switch_final",
];

/// Issue 7's targets for each program, in ns per run: exec ≤ 2 µs, fork and exit ≤ 0.5 µs;
/// the final-time program runs on every context switch and returns at once for all but a
/// dead task's last one: ≤ 100 ns.
pub(super) const PROGRAM_TARGETS: [u64; 4] = [500, 2_000, 500, 100];

/// Programs an older binary (a baseline) may not have.
const OPTIONAL: [&str; 1] = ["sched_switch_final"];

/// Issue 17's floors for one lifecycle program, all attached with `--kernel-floor` in the
/// same run.
struct Floor {
    /// The empty program on the same tracepoint: the targets are multiples of it.
    empty: &'static str,
    /// The least reporting program there: the record's header and a discarded ring record of
    /// its size.
    record: &'static str,
    /// That and every read of the event's data the lifecycle program makes, when it makes
    /// more than the header's.
    reads: Option<&'static str>,
    /// The least reporting program and one of those reads, with what it reads: each one's
    /// share of `reads`.
    parts: &'static [(&'static str, &'static str)],
    /// Issue 17's target: the most the program may cost as a multiple of `empty`.
    most: f64,
}

impl Floor {
    /// The floor programs, in the order [`Series::floor_ns`] keeps them.
    fn programs(&self) -> Vec<&'static str> {
        let mut names = vec![self.empty, self.record];
        names.extend(self.reads);
        names.extend(self.parts.iter().map(|(name, _)| *name));
        names
    }
}

/// The floors of the lifecycle programs (the first three of [`PROGRAMS`]).
const FLOORS: [Floor; 3] = [
    Floor {
        empty: "floor_process_fork",
        record: "floor_record_fork",
        reads: None,
        parts: &[],
        most: 2.5,
    },
    Floor {
        empty: "floor_process_exec",
        record: "floor_record_exec",
        reads: Some("floor_reads_exec"),
        parts: &[
            ("floor_path_exec", "the path walk"),
            ("floor_argv_exec", "the argv copy"),
        ],
        most: 8.0,
    },
    Floor {
        empty: "floor_process_exit",
        record: "floor_record_exit",
        reads: Some("floor_reads_exit"),
        parts: &[],
        most: 3.5,
    },
];

/// Per program: ns per run and runs per spawn of each repetition, and what each run saw.
#[derive(Default)]
struct Series {
    ns: Vec<Vec<f64>>,
    per_spawn: Vec<Vec<f64>>,
    /// Per lifecycle program ([`FLOORS`]), per floor program ([`Floor::programs`]): each
    /// repetition's ns per run (with `--kernel-floor`).
    floor_ns: Vec<Vec<Vec<f64>>>,
    runs: Vec<Value>,
    failures: Vec<String>,
}

impl Series {
    fn new() -> Self {
        Self {
            ns: vec![Vec::new(); PROGRAMS.len()],
            per_spawn: vec![Vec::new(); PROGRAMS.len()],
            floor_ns: FLOORS
                .iter()
                .map(|floor| vec![Vec::new(); floor.programs().len()])
                .collect(),
            ..Self::default()
        }
    }

    /// One serial storm under `ctx.tracer ARGS` (`--kernel-stats` and more; with
    /// `--kernel-floor` the floors are read too, which an older binary may not have).
    fn measure(&mut self, ctx: &Ctx, python: &Path, tag: &str, args: &[&str]) {
        let floor = args.contains(&"--kernel-floor");
        let outcome = storm_under(ctx, python, Peer::Tracer, 1, ctx.kernel_storm, args, tag)
            .and_then(|rep| {
                let stats = rep.stats.as_ref().context("no stats record")?;
                let programs = stats
                    .get("programs")
                    .filter(|programs| programs.is_object())
                    .context(
                        "the final stats record has no `programs` (is --kernel-stats working?)",
                    )?;
                // ns per run and runs, of a program that ran.
                let per_run = |name: &str| {
                    let program = &programs[name];
                    let count = program["run_count"].as_f64().unwrap_or(0.0);
                    let time = program["run_time_ns"].as_f64().unwrap_or(0.0);
                    (count > 0.0).then(|| (time / count, count))
                };
                let mut figures = Vec::new();
                for name in PROGRAMS {
                    match per_run(name) {
                        Some((ns, count)) => {
                            figures.push(Some((ns, count / rep.spawned.max(1) as f64)))
                        }
                        None if OPTIONAL.contains(&name) => figures.push(None),
                        None => bail!("program {name} has run_count 0"),
                    }
                }
                let mut floors = Vec::new();
                if floor {
                    for floor in &FLOORS {
                        let ns = floor
                            .programs()
                            .into_iter()
                            .map(|name| {
                                per_run(name)
                                    .map(|(ns, _)| ns)
                                    .with_context(|| format!("floor program {name} did not run"))
                            })
                            .collect::<Result<Vec<f64>>>()?;
                        floors.push(ns);
                    }
                }
                Ok((rep, figures, floors))
            });
        match outcome {
            Ok((rep, figures, floors)) => {
                let shown: Vec<String> = PROGRAMS
                    .iter()
                    .zip(&figures)
                    .filter_map(|(name, figure)| Some(format!("{name} {:.0} ns", (*figure)?.0)))
                    .collect();
                say!("  {}; {}", shown.join(", "), rep_summary(&rep));
                if !floors.is_empty() {
                    let shown: Vec<String> = FLOORS
                        .iter()
                        .zip(&floors)
                        .flat_map(|(floor, ns)| floor.programs().into_iter().zip(ns))
                        .map(|(name, ns)| format!("{name} {ns:.0} ns"))
                        .collect();
                    say!("  floors: {}", shown.join(", "));
                }
                for (index, ns) in floors.into_iter().enumerate() {
                    for (slot, ns) in ns.into_iter().enumerate() {
                        self.floor_ns[index][slot].push(ns);
                    }
                }
                for (index, figure) in figures.into_iter().enumerate() {
                    if let Some((ns_run, runs_per_spawn)) = figure {
                        self.ns[index].push(ns_run);
                        self.per_spawn[index].push(runs_per_spawn);
                    }
                }
                self.runs.push(json!({
                    "spawns_per_second": rep.rate,
                    "spawned": rep.spawned,
                    "seen": rep.seen,
                    "lost": rep.lost,
                    "programs": rep.stats.as_ref().map(|stats| stats["programs"].clone()),
                }));
            }
            Err(error) => {
                say!("  failed: {error:#}");
                self.runs.push(json!({ "error": format!("{error:#}") }));
                self.failures.push(format!("{error:#}"));
            }
        }
    }

    /// One row per program; `baseline` gives each the ratio against that series' median.
    /// `floored`: the runs with the floors attached, for the ratios to them.
    fn rows(
        &self,
        ctx: &Ctx,
        who: &str,
        baseline: Option<&Series>,
        floored: Option<&Series>,
    ) -> Vec<Row> {
        PROGRAMS
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let error = self.ns[index]
                    .is_empty()
                    .then(|| self.failures.first().cloned().unwrap_or_default());
                let mut extra = match median(&self.per_spawn[index]) {
                    Some(per_spawn) => format!("{per_spawn:.2} runs per spawn"),
                    None => String::new(),
                };
                if !self.failures.is_empty() && error.is_none() {
                    let _ = write!(
                        extra,
                        "; {} of {} runs failed",
                        self.failures.len(),
                        ctx.reps
                    );
                }
                let ratio = match baseline {
                    None => Ratio::None,
                    Some(base) => match (median(&self.ns[index]), median(&base.ns[index])) {
                        (Some(this), Some(base)) if base > 0.0 => Ratio::Of {
                            value: this / base,
                            meaning: "this build / baseline binary",
                        },
                        _ => Ratio::Unknown,
                    },
                };
                let mut targets = vec![Target::at_most(
                    format!("≤ {} ns", thousands(PROGRAM_TARGETS[index])),
                    median(&self.ns[index]),
                    PROGRAM_TARGETS[index] as f64,
                )];
                if let (Some(floor), Some(floored)) = (FLOORS.get(index), floored) {
                    if let Some(empty) = floored.explain(&self.ns[index], index, floor, &mut extra)
                    {
                        // The floor beside the target: the necessary reads' where there is
                        // one, else the least reporting program's.
                        let (name, ns) = match floor.reads {
                            Some(_) => ("the necessary reads' floor", &floored.floor_ns[index][2]),
                            None => ("the least reporting program", &floored.floor_ns[index][1]),
                        };
                        let beside = paired_ratio(ns, &floored.floor_ns[index][0])
                            .map(|floor| format!(" ({name}: {floor:.1}×)"))
                            .unwrap_or_default();
                        targets.push(Target::at_most(
                            format!("≤ {}× the empty program{beside}", floor.most),
                            Some(empty),
                            floor.most,
                        ));
                    }
                }
                Row {
                    measurement:
                        "kernel cost per program run (tracer --kernel-stats, serial storm)"
                            .to_owned(),
                    subject: format!("{who}: {name}"),
                    unit: Unit::NsPerRun,
                    samples: self.ns[index].clone(),
                    ratio,
                    extra,
                    targets,
                    details: if index == 0 {
                        json!({ "runs": self.runs })
                    } else {
                        json!({ "runs_per_spawn": self.per_spawn[index] })
                    },
                    error,
                }
            })
            .collect()
    }

    /// Appends to `extra` the lifecycle program `index`, whose costs alone are `program_ns`
    /// (each repetition's, paired with this series' floors), as multiples of its floors (with
    /// `--kernel-floor`): of the empty program, of the least reporting one, of the necessary
    /// reads' floor, and the empty-program multiples that make that floor up: the least
    /// reporting program, each read's instructions (its warm floor less the least reporting
    /// one), and the cache misses (the rest of the floor, which ran first); then the program's
    /// rest (the program less the necessary reads' floor). Returns its multiple of the empty
    /// program.
    fn explain(
        &self,
        program_ns: &[f64],
        index: usize,
        floor: &Floor,
        extra: &mut String,
    ) -> Option<f64> {
        let empty_ns = &self.floor_ns[index][0];
        let record_ns = &self.floor_ns[index][1];
        let program = paired_ratio(program_ns, empty_ns)?;
        let _ = write!(extra, "; {program:.1}× the empty program");
        if let Some(record) = paired_ratio(program_ns, record_ns) {
            let _ = write!(extra, ", {record:.1}× the least reporting one");
        }
        let Some(reads_ns) = floor.reads.map(|_| &self.floor_ns[index][2]) else {
            return Some(program);
        };
        if let Some(reads) = paired_ratio(program_ns, reads_ns) {
            let _ = write!(extra, ", {reads:.1}× the necessary reads' floor");
        }
        // `above` less each of `below`, in multiples of the empty program, paired per
        // repetition.
        let share = |above: &[f64], below: &[&[f64]]| {
            let ratios: Vec<f64> = (0..above.len().min(empty_ns.len()))
                .filter(|&rep| empty_ns[rep] > 0.0 && below.iter().all(|ns| rep < ns.len()))
                .map(|rep| {
                    (above[rep] - below.iter().map(|ns| ns[rep]).sum::<f64>()) / empty_ns[rep]
                })
                .collect();
            median(&ratios)
        };
        let mut parts = Vec::new();
        if let Some(least) = paired_ratio(record_ns, empty_ns) {
            parts.push(format!("least reporting {least:.1}×"));
        }
        // Each read's instructions: its warm floor less the least reporting program.
        let mut warm: Vec<Vec<f64>> = Vec::new();
        for (slot, (_, what)) in floor.parts.iter().enumerate() {
            let part_ns = &self.floor_ns[index][3 + slot];
            if let Some(part) = share(part_ns, &[record_ns]) {
                parts.push(format!("{what} {part:.1}×"));
            }
            warm.push(
                part_ns
                    .iter()
                    .zip(record_ns)
                    .map(|(part, record)| part - record)
                    .collect(),
            );
        }
        let mut below: Vec<&[f64]> = vec![record_ns];
        below.extend(warm.iter().map(Vec::as_slice));
        if let Some(misses) = share(reads_ns, &below) {
            parts.push(if floor.parts.is_empty() {
                format!("its reads, cold, {misses:.1}×")
            } else {
                format!("their cache misses {misses:.1}×")
            });
        }
        if let Some(floor) = paired_ratio(reads_ns, empty_ns) {
            let _ = write!(extra, " (that floor: {floor:.1}× = {}", parts.join(" + "));
            if let Some(rest) = share(program_ns, &[reads_ns]) {
                let _ = write!(extra, "; the program's rest {rest:.1}×");
            }
            extra.push(')');
        }
        Some(program)
    }

    /// The floors' rows (with `--kernel-floor`): each floor program with its ratio to the
    /// empty one on the same tracepoint.
    fn floor_rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (index, floor) in FLOORS.iter().enumerate() {
            let empty_ns = &self.floor_ns[index][0];
            if empty_ns.is_empty() {
                continue;
            }
            let mut what = vec![
                "an empty program on the same tracepoint".to_owned(),
                "the record's header and a discarded ring record of its size (warm)".to_owned(),
            ];
            if floor.reads.is_some() {
                what.push(match floor.parts {
                    [] => "the least reporting program and its reads of the event's data, run \
                           first (cold caches)"
                        .to_owned(),
                    parts => format!(
                        "the least reporting program and {}, run first (cold caches)",
                        parts
                            .iter()
                            .map(|(_, what)| *what)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                });
            }
            what.extend(
                floor
                    .parts
                    .iter()
                    .map(|(_, part)| format!("the least reporting program and {part} (warm)")),
            );
            for (slot, name) in floor.programs().into_iter().enumerate() {
                let samples = &self.floor_ns[index][slot];
                rows.push(Row {
                    measurement:
                        "kernel cost per program run (tracer --kernel-stats, serial storm)"
                            .to_owned(),
                    subject: format!("floor: {name}"),
                    unit: Unit::NsPerRun,
                    samples: samples.clone(),
                    ratio: match (slot, paired_ratio(samples, empty_ns)) {
                        (0, _) => Ratio::None,
                        (_, Some(value)) => Ratio::Of {
                            value,
                            meaning: "of the empty program",
                        },
                        (_, None) => Ratio::Unknown,
                    },
                    extra: what[slot].clone(),
                    targets: Vec::new(),
                    details: json!({}),
                    error: None,
                });
            }
        }
        rows
    }
}

/// The median of `numerator[i] / denominator[i]` over the repetitions both have.
fn paired_ratio(numerator: &[f64], denominator: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = numerator
        .iter()
        .zip(denominator)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect();
    median(&ratios)
}

pub(super) fn kernel_cost(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    // TRACER_BENCH_KERNEL_BASELINE, when set, is this measurement's baseline in place of
    // TRACER_BENCH_BASELINE: a kernel change and an agent change may each need their own.
    let variable = ["TRACER_BENCH_KERNEL_BASELINE", "TRACER_BENCH_BASELINE"]
        .into_iter()
        .find(|name| std::env::var_os(name).is_some());
    let baseline_ctx = match variable.and_then(std::env::var_os) {
        Some(path) => {
            let path = PathBuf::from(path);
            ensure!(
                path.is_file(),
                "{}={} is not a file",
                variable.unwrap_or_default(),
                path.display()
            );
            Some(Ctx {
                tracer: path,
                ..ctx.clone()
            })
        }
        None => None,
    };
    // An older build measured in place of this one (TRACER_BENCH_SUBJECT) may lack the floors
    // and the switch for the final-time program.
    let help = Command::new(&ctx.tracer)
        .args(["events", "--help"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let floor = help.contains("--kernel-floor");
    // In an A/B, this build without the final-time program too: it runs on every context
    // switch (issue 15), and its share of the caches shows in the other programs' costs.
    let lean = baseline_ctx.is_some() && help.contains("--no-final-cpu");
    if !floor {
        say!(
            "kernel cost: {} has no --kernel-floor: no floors",
            ctx.tracer.display()
        );
    }
    // The floors run in storms of their own, after this build's alone: the programs the
    // baseline is compared with run as they do in use, with nothing else on their tracepoints.
    let mut this = Series::new();
    let mut floored = Series::new();
    let mut without_final = Series::new();
    let mut base = Series::new();
    for rep in 0..ctx.reps {
        say!(
            "kernel cost {}/{}: tracer events --json --kernel-stats, serial storm of {} s …",
            rep + 1,
            ctx.reps,
            ctx.kernel_storm.as_secs()
        );
        this.measure(ctx, &python, &format!("kernel-{rep}"), &["--kernel-stats"]);
        if floor {
            say!("  with --kernel-floor:");
            floored.measure(
                ctx,
                &python,
                &format!("kernel-floor-{rep}"),
                &["--kernel-stats", "--kernel-floor"],
            );
        }
        if lean {
            say!("  with --no-final-cpu:");
            without_final.measure(
                ctx,
                &python,
                &format!("kernel-lean-{rep}"),
                &["--kernel-stats", "--no-final-cpu"],
            );
        }
        if let Some(baseline) = &baseline_ctx {
            say!("  baseline {}:", baseline.tracer.display());
            base.measure(
                baseline,
                &python,
                &format!("kernel-baseline-{rep}"),
                &["--kernel-stats"],
            );
        }
    }
    let mut rows = this.rows(
        ctx,
        "tracer",
        baseline_ctx.as_ref().map(|_| &base),
        floor.then_some(&floored),
    );
    rows.extend(floored.floor_rows());
    if lean {
        rows.extend(
            without_final
                .rows(ctx, "tracer --no-final-cpu", Some(&base), None)
                .into_iter()
                .take(3),
        );
    }
    if baseline_ctx.is_some() {
        rows.extend(base.rows(ctx, "baseline binary", None, None));
    }
    Ok(rows)
}

/// Measurement: scoped tracing (`tracer agent --cgroup PREFIX`). The agent's CPU per process
/// lifecycle of a serial `/bin/true` storm that runs outside its scope (an empty cgroup the
/// bench makes), against the same agent unscoped, interleaved in one run: what a process the
/// agent is not asked about still costs it (the kernel programs skip it: no ring traffic).
pub(super) fn kernel_scope(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").context("reading the mounts")?;
    let mount = mounts
        .lines()
        .find_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let point = before.split(' ').nth(4)?;
            (after.split(' ').next() == Some("cgroup2")).then(|| PathBuf::from(point))
        })
        .context("no cgroup v2 hierarchy is mounted")?;
    let scope = format!("/tracer-bench-scope-{}", std::process::id());
    let dir = mount.join(scope.trim_start_matches('/'));
    fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
    struct Removed(PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = fs::remove_dir(&self.0);
        }
    }
    let _removed = Removed(dir);
    let subjects: [(&str, Vec<&str>); 2] = [
        ("tracer agent (unscoped)", vec![]),
        (
            "tracer agent --cgroup (an empty cgroup; the storm outside it)",
            vec!["--cgroup", scope.as_str()],
        ),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    let mut failures: Vec<Vec<String>> = vec![Vec::new(); subjects.len()];
    for rep in 0..ctx.reps {
        for (index, (label, extra)) in subjects.iter().enumerate() {
            say!(
                "kernel scope {}/{}: {label}, serial storm of {} s …",
                rep + 1,
                ctx.reps,
                ctx.kernel_storm.as_secs()
            );
            let mut args = vec!["--max-exited", STORM_MAX_EXITED];
            args.extend(extra);
            match storm_under(
                ctx,
                &python,
                Peer::Agent,
                1,
                ctx.kernel_storm,
                &args,
                &format!("scope-{rep}-{index}"),
            ) {
                Ok(rep) => {
                    let cpu = rep.run_time.or(rep.cpu).unwrap_or(0.0);
                    let per = cpu * 1e6 / rep.spawned.max(1) as f64;
                    say!("  {per:.2} µs per storm process; {}", rep_summary(&rep));
                    samples[index].push(per);
                }
                Err(error) => {
                    say!("  failed: {error:#}");
                    failures[index].push(format!("{error:#}"));
                }
            }
        }
    }
    let mut rows: Vec<Row> = subjects
        .iter()
        .enumerate()
        .map(|(index, (label, _))| Row {
            measurement:
                "agent CPU per process lifecycle outside its --cgroup scope (serial storm)"
                    .to_owned(),
            subject: (*label).to_owned(),
            unit: Unit::MicrosPerProcess,
            samples: samples[index].clone(),
            ratio: Ratio::None,
            extra: String::new(),
            targets: Vec::new(),
            details: json!({ "failures": failures[index] }),
            error: samples[index]
                .is_empty()
                .then(|| failures[index].first().cloned().unwrap_or_default()),
        })
        .collect();
    compare(&mut rows, 0, "scoped / unscoped");
    Ok(rows)
}
