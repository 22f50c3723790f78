//! Measurement 7: tracer's hand-written per-process reader against the `procfs` crate (issue
//! 12: keep the hand-written one only if it is measured faster), on the `ps` workload of at
//! least 2,000 processes. Both readers run in one helper process, `tracer-reader-bench`
//! (tests/reader_bench.rs: xtask cannot link tracer, whose build needs what `setup` installs),
//! reading stat, status, cmdline, exe and statm of every process, single-threaded; a row is the
//! median CPU time of a full pass.

use super::*;

/// The helper's readers: its name for each, and the row's subject.
const READERS: [(&str, &str); 2] = [
    ("tracer", "tracer::procfs (hand-written)"),
    ("procfs", "procfs crate 0.18"),
];

pub(super) fn procfs_crate(ctx: &Ctx) -> Result<Vec<Row>> {
    let helper = build_helper()?;
    let mut sleepers = Sleepers::default();
    let present = fill_to(&mut sleepers, MIN_PROCESSES, "procfs crate")?;
    // Passes are cheap (tens of ms each): three per repetition of the other measurements.
    let passes = ctx.reps * 3;
    say!(
        "procfs crate: {passes} passes of each reader over {} processes …",
        thousands(present as u64)
    );
    let output = Command::new(&helper)
        .arg(passes.to_string())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", helper.display()))?;
    drop(sleepers);
    ensure!(
        output.status.success(),
        "{} failed with {}: {}",
        helper.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let passes = parse_passes(&String::from_utf8_lossy(&output.stdout))?;

    let mut rows: Vec<Row> = READERS
        .iter()
        .map(|(name, subject)| {
            let mine: Vec<&Value> = passes.iter().filter(|p| p["reader"] == *name).collect();
            let field =
                |key: &str| -> Vec<f64> { mine.iter().filter_map(|p| p[key].as_f64()).collect() };
            let (cpu, wall) = (field("cpu"), field("wall"));
            let processes = median_usize(
                mine.iter()
                    .filter_map(|p| p["processes"].as_u64())
                    .map(|n| n as usize),
            );
            let failed = median_usize(
                mine.iter()
                    .filter_map(|p| p["failed_reads"].as_u64())
                    .map(|n| n as usize),
            );
            let extra = match median(&wall) {
                Some(wall) => format!(
                    "{} processes, {} passes; wall {}; {failed} failed reads a pass",
                    thousands(processes),
                    cpu.len(),
                    Unit::Seconds.show(wall)
                ),
                None => String::new(),
            };
            Row {
                measurement: "per-process reader, CPU per pass over every process (stat, \
                              status, cmdline, exe, statm)"
                    .to_owned(),
                subject: (*subject).to_owned(),
                unit: Unit::Seconds,
                error: cpu
                    .is_empty()
                    .then(|| format!("the helper printed no pass of reader {name}")),
                samples: cpu,
                ratio: Ratio::None,
                extra,
                targets: Vec::new(),
                details: json!({ "wall": wall, "processes": processes, "failed_reads": failed }),
            }
        })
        .collect();
    compare(&mut rows, 0, "CPU, procfs crate / tracer");
    Ok(rows)
}

/// Builds `tracer-reader-bench` (release, beside the tracer binary) and returns its path.
fn build_helper() -> Result<PathBuf> {
    let mut build = cmd::cargo()?;
    build
        .args([
            "build",
            "--release",
            "-p",
            "tracer-tests",
            "--bin",
            "tracer-reader-bench",
        ])
        // As `tasks::build` sets it, so that tracer's release build is reused.
        .env("TRACER_REQUIRE_EBPF", "1");
    say!("procfs crate: `{}`", cmd::display(&build));
    cmd::run(&mut build).context("cannot build tracer-reader-bench")?;
    let helper = tasks::target_dir()?
        .join("release")
        .join("tracer-reader-bench");
    ensure!(helper.is_file(), "{} does not exist", helper.display());
    Ok(helper)
}

/// The helper's JSON lines, one a timed pass.
fn parse_passes(stdout: &str) -> Result<Vec<Value>> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line).with_context(|| {
                format!("tracer-reader-bench printed a line that is not JSON: {line}")
            })
        })
        .collect()
}
