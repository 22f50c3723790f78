//! `cargo xtask bench [--quick]`: tracer measured against nothing, bpftrace, forkstat, psutil
//! and `ps`, side by side in one run.
//!
//! Every measurement is repeated (5 times, 3 with `--quick`) with the subjects interleaved and
//! their order rotated each repetition, so that drift on a busy host spreads over all of them;
//! each row reports the median and its ratio against a baseline measured in the same run. The
//! result is one markdown table on stdout and the same data as JSON in
//! `target/bench/latest.json` plus a copy named by date and time, so that commits can be
//! compared. Progress goes to stderr as `[bench] …` lines.
//!
//! A peer that is missing or fails makes its row say `unavailable: …`; the run goes on. A
//! failure of tracer itself is reported the same way, and the exit status is then 1.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::cmd;
use crate::tasks;

/// Prints one progress line to stderr.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("[bench] {}", format_args!($($arg)*))
    };
}

/// One measurement: a name for progress and errors, and the function that measures and returns
/// its rows.
type Measure = fn(&Ctx) -> Result<Vec<Row>>;

/// Every measurement, in the order they run. To add one (the agent's cost, `wait` latency, the
/// procfs and sysinfo backends …), write a function that returns its rows — the first of its
/// rows the baseline the others are compared with — and list it here.
const MEASUREMENTS: [(&str, Measure); 3] = [
    ("exec storm", exec_storm),
    ("kernel cost", kernel_cost),
    ("ps query", ps_query),
];

/// The line on tracer's stderr that says its programs are attached.
const TRACER_READY: &str = "tracing fork, exec and exit";
/// bpftrace prints this on stderr once its probes are about to be attached.
const BPFTRACE_READY: &str = "Attaching";
/// The bpftrace program: one line with the pid for every exec.
const BPFTRACE_PROGRAM: &str = r#"tracepoint:sched:sched_process_exec { printf("%d\n", pid); }"#;
/// forkstat says nothing when it is ready: it gets this long to open its netlink socket.
const FORKSTAT_SETTLE: Duration = Duration::from_secs(1);
/// How long a peer may take to attach, and to exit after SIGINT.
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time given to a peer after the storm and before SIGINT, to read what is still queued.
const GRACE: Duration = Duration::from_millis(500);
/// The `ps` query runs over at least this many processes; missing ones are `sleep 900`.
const MIN_PROCESSES: usize = 2_000;
/// Extra processes started beyond [`MIN_PROCESSES`], against processes ending meanwhile.
const PROCESS_MARGIN: usize = 50;
/// The mount point bpftrace needs for `tracepoint:` probes.
const TRACEFS: &str = "/sys/kernel/tracing";

/// How long and how often to measure.
struct Mode {
    /// Repetitions of every measurement.
    reps: usize,
    /// Duration of each exec storm of the overhead measurement.
    storm_secs: u64,
    /// Duration of each storm of the kernel-cost measurement (a few thousand runs suffice).
    kernel_storm_secs: u64,
}

/// The full run: the exec storms dominate, 4 conditions × 2 storm kinds × 5 × 10 s = 400 s, and
/// the whole takes about 8 minutes on a 2-CPU machine.
const FULL: Mode = Mode {
    reps: 5,
    storm_secs: 10,
    kernel_storm_secs: 4,
};

/// `--quick`: about 2 minutes.
const QUICK: Mode = Mode {
    reps: 3,
    storm_secs: 3,
    kernel_storm_secs: 2,
};

/// What every measurement needs: the mode, the binaries and the scratch directory.
struct Ctx {
    reps: usize,
    /// Duration of each exec storm of the overhead measurement.
    storm: Duration,
    /// Duration of each storm of the kernel-cost measurement (a few thousand runs suffice).
    kernel_storm: Duration,
    tracer: PathBuf,
    /// The real python3 interpreter (not a pyenv shim, whose start-up would be timed too).
    python: std::result::Result<PathBuf, String>,
    /// Where storm.py and psutil_iter.py are.
    scripts: PathBuf,
    /// Scratch files (peer outputs, spawned pids); removed at the end.
    work: PathBuf,
    /// Whether tracefs is mounted (bpftrace's `tracepoint:` probes need it).
    tracefs: std::result::Result<(), String>,
}

/// Sets up and builds, runs every measurement, prints the table and writes the JSON files.
pub fn bench(quick: bool) -> Result<ExitCode> {
    if !cmd::is_root() {
        bail!(
            "bench must run as root: tracer and bpftrace load eBPF programs and forkstat listens \
             to the proc connector; run it as root (e.g. `sudo -E cargo xtask bench`)"
        );
    }
    let started = Instant::now();
    let tracer = tasks::build(false)?;
    let out_dir = tasks::target_dir()?.join("bench");
    let work = out_dir.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let tracefs = Tracefs::ensure();
    let mode = if quick { QUICK } else { FULL };
    let ctx = Ctx {
        reps: mode.reps,
        storm: Duration::from_secs(mode.storm_secs),
        kernel_storm: Duration::from_secs(mode.kernel_storm_secs),
        tracer,
        python: real_python(),
        scripts: cmd::workspace_root()?.join("xtask").join("bench"),
        work: work.clone(),
        tracefs: tracefs.status.clone(),
    };
    let host = Host::probe();
    say!(
        "{} mode: {} repetitions, {} s exec storms; host: {} CPUs, {}, kernel {}",
        if quick { "quick" } else { "full" },
        ctx.reps,
        ctx.storm.as_secs(),
        host.cpus,
        host.cpu_model,
        host.kernel
    );

    let mut rows = Vec::new();
    for (name, measure) in MEASUREMENTS {
        let begun = Instant::now();
        match measure(&ctx) {
            Ok(measured) => rows.extend(measured),
            Err(error) => {
                say!("{name}: unavailable: {error:#}");
                rows.push(Row::unavailable(name, "(all)", &error));
            }
        }
        say!("{name}: done in {:.0} s", begun.elapsed().as_secs_f64());
    }
    drop(tracefs);
    let _ = fs::remove_dir_all(&work);

    let seconds = started.elapsed().as_secs_f64();
    print!("{}", table(&host, &ctx, quick, &rows));
    let report = json!({
        "date": host.date,
        "kernel": host.kernel,
        "cpus": host.cpus,
        "cpu_model": host.cpu_model,
        "commit": host.commit,
        "dirty": host.dirty,
        "mode": if quick { "quick" } else { "full" },
        "repetitions": ctx.reps,
        "storm_seconds": ctx.storm.as_secs_f64(),
        "kernel_storm_seconds": ctx.kernel_storm.as_secs_f64(),
        "wall_seconds": seconds,
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&report)? + "\n";
    let latest = out_dir.join("latest.json");
    let dated = out_dir.join(format!("{}.json", host.stamp));
    for path in [&latest, &dated] {
        fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    say!(
        "done in {seconds:.0} s; wrote {} and {}",
        latest.display(),
        dated.display()
    );

    let tracer_failed = rows
        .iter()
        .any(|row| row.error.is_some() && row.subject.starts_with("tracer"));
    if tracer_failed {
        say!("error: a tracer measurement failed (its row says why)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Rows and the table

/// What a row's median counts.
#[derive(Clone, Copy)]
enum Unit {
    SpawnsPerSecond,
    Seconds,
    NsPerRun,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::SpawnsPerSecond => "spawns/s",
            Unit::Seconds => "s",
            Unit::NsPerRun => "ns/run",
        }
    }

    fn show(self, value: f64) -> String {
        match self {
            Unit::SpawnsPerSecond => format!("{} spawns/s", thousands(value.round() as u64)),
            Unit::Seconds if value < 1.0 => format!("{:.1} ms", value * 1e3),
            Unit::Seconds => format!("{value:.2} s"),
            Unit::NsPerRun => format!("{} ns/run", thousands(value.round() as u64)),
        }
    }
}

/// How a row compares with its measurement's baseline.
enum Ratio {
    /// This row is the baseline.
    Baseline,
    /// `value` of what `meaning` says (e.g. "throughput", "psutil / tracer").
    Of { value: f64, meaning: &'static str },
    /// The baseline or this row has no median.
    Unknown,
    /// Nothing to compare with.
    None,
}

/// One line of the table.
struct Row {
    measurement: String,
    subject: String,
    unit: Unit,
    samples: Vec<f64>,
    ratio: Ratio,
    /// Short text for the table's last column.
    extra: String,
    /// Everything else worth keeping, for the JSON.
    details: Value,
    /// Why the subject could not be measured (the median is then missing).
    error: Option<String>,
}

impl Row {
    fn unavailable(measurement: &str, subject: &str, error: &anyhow::Error) -> Row {
        Row {
            measurement: measurement.to_owned(),
            subject: subject.to_owned(),
            unit: Unit::Seconds,
            samples: Vec::new(),
            ratio: Ratio::None,
            extra: String::new(),
            details: Value::Null,
            error: Some(format!("{error:#}")),
        }
    }

    fn median(&self) -> Option<f64> {
        median(&self.samples)
    }

    fn to_json(&self) -> Value {
        let (ratio, meaning) = match self.ratio {
            Ratio::Baseline => (Some(1.0), "baseline"),
            Ratio::Of { value, meaning } => (Some(value), meaning),
            Ratio::Unknown | Ratio::None => (None, ""),
        };
        json!({
            "measurement": self.measurement,
            "subject": self.subject,
            "unit": self.unit.name(),
            "median": self.median(),
            "samples": self.samples,
            "ratio": ratio,
            "ratio_meaning": meaning,
            "extra": self.extra,
            "details": self.details,
            "error": self.error,
        })
    }

    fn cells(&self) -> [String; 5] {
        let median = match (&self.error, self.median()) {
            (Some(error), _) => format!("unavailable: {}", shorten(error, 240)),
            (None, Some(median)) => self.unit.show(median),
            (None, None) => "unavailable: no sample".to_owned(),
        };
        let ratio = match self.ratio {
            Ratio::Baseline => "1.00 (baseline)".to_owned(),
            Ratio::Of { value, meaning } => format!("{value:.2}× ({meaning})"),
            Ratio::Unknown if self.error.is_some() => "—".to_owned(),
            Ratio::Unknown => "?".to_owned(),
            Ratio::None => "—".to_owned(),
        };
        [
            self.measurement.clone(),
            self.subject.clone(),
            median,
            ratio,
            self.extra.clone(),
        ]
    }
}

/// The header line and the markdown table.
fn table(host: &Host, ctx: &Ctx, quick: bool, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tracer bench — {} · kernel {} · {} CPUs × {} · commit {}{} · {} ({} repetitions, {} s \
         exec storms)",
        host.date,
        host.kernel,
        host.cpus,
        host.cpu_model,
        host.commit,
        if host.dirty { " (dirty)" } else { "" },
        if quick { "--quick" } else { "full" },
        ctx.reps,
        ctx.storm.as_secs()
    );
    out.push('\n');
    out.push_str("| measurement | subject | median | ratio vs baseline | extra |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for row in rows {
        let cells = row
            .cells()
            .map(|cell| cell.replace('|', "\\|").replace('\n', " "));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// Gives each row its ratio `this / baseline` against `baseline` (an index into `rows`).
fn compare(rows: &mut [Row], baseline: usize, meaning: &'static str) {
    let base = rows[baseline].median();
    for (index, row) in rows.iter_mut().enumerate() {
        row.ratio = if index == baseline {
            Ratio::Baseline
        } else {
            match (base, row.median()) {
                (Some(base), Some(this)) if base > 0.0 && this > 0.0 => Ratio::Of {
                    value: this / base,
                    meaning,
                },
                _ => Ratio::Unknown,
            }
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement 1: exec-storm overhead

/// Who watches the storm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Nothing,
    Tracer,
    Bpftrace,
    Forkstat,
}

const PEERS: [Peer; 4] = [Peer::Nothing, Peer::Tracer, Peer::Bpftrace, Peer::Forkstat];

impl Peer {
    fn label(self) -> &'static str {
        match self {
            Peer::Nothing => "nothing attached",
            Peer::Tracer => "tracer events --json",
            Peer::Bpftrace => "bpftrace (printf pid per exec)",
            Peer::Forkstat => "forkstat -e exec,exit",
        }
    }

    /// Why this peer cannot run here, if it cannot.
    fn unavailable(self, ctx: &Ctx) -> Option<String> {
        match self {
            Peer::Nothing | Peer::Tracer => None,
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

    fn command(self, ctx: &Ctx, extra: &[&str]) -> Command {
        let mut command = match self {
            Peer::Nothing => unreachable!("nothing attached has no command"),
            Peer::Tracer => {
                let mut command = Command::new(&ctx.tracer);
                command.args(["events", "--json"]);
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
}

/// One storm under one peer.
struct StormRep {
    rate: f64,
    spawned: usize,
    /// How many of the storm's processes the peer reported an exec for.
    seen: Option<usize>,
    /// Events the peer says it lost (tracer's `lost`, bpftrace's "Lost N events").
    lost: Option<u64>,
    /// tracer's final stats record.
    stats: Option<Value>,
    /// Time from starting the peer until it was ready.
    attach: Option<f64>,
    /// Unexpected things the peer said or did (stderr lines, exit status).
    notes: Vec<String>,
}

fn exec_storm(ctx: &Ctx) -> Result<Vec<Row>> {
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
                let outcome = storm_under(ctx, &python, peer, spawners, ctx.storm, &[], &tag);
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
        rows.extend(group);
    }
    Ok(rows)
}

fn spawn_label(spawners: usize) -> &'static str {
    if spawners == 1 {
        "serial"
    } else {
        "parallel"
    }
}

fn rep_summary(rep: &StormRep) -> String {
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
    for note in &rep.notes {
        let _ = write!(text, "; note: {note}");
    }
    text
}

fn storm_row(
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
        if peer == Peer::Tracer || !lost.is_empty() {
            let total: u64 = lost.iter().sum();
            extra.push(format!("lost {total}"));
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
        details,
        error,
    }
}

/// Starts `peer` (with `extra` arguments), runs a storm of `spawners` for `duration`, stops the
/// peer and matches the storm's pids with the execs the peer reported.
fn storm_under(
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
    let storm = run_storm(ctx, python, spawners, duration, tag)?;
    let stopped = match running {
        Some(running) => {
            thread::sleep(GRACE);
            Some(running.stop()?)
        }
        None => None,
    };

    let mut rep = StormRep {
        rate: storm.rate,
        spawned: storm.pids.len(),
        seen: None,
        lost: None,
        stats: None,
        attach,
        notes: Vec::new(),
    };
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
            Peer::Tracer => parse_tracer(&text)?,
            Peer::Bpftrace => parse_bpftrace(&text, &stopped.stderr),
            Peer::Forkstat => parse_forkstat(&text),
            Peer::Nothing => unreachable!(),
        };
        rep.seen = Some(seen(&storm.pids, &observed.execs));
        rep.lost = observed.lost;
        rep.stats = observed.stats;
        if peer == Peer::Tracer && rep.stats.is_none() {
            bail!("tracer printed no final stats record");
        }
        if !stopped.status.success() {
            let note = format!("exited with {} after SIGINT", stopped.status);
            ensure!(peer != Peer::Tracer, "tracer {note}");
            rep.notes.push(note);
        }
        rep.notes.extend(
            stopped
                .stderr
                .into_iter()
                .filter(|line| !is_noise(line) && !line.contains(TRACER_READY)),
        );
        rep.notes.truncate(3);
        for note in &mut rep.notes {
            *note = shorten(note, 160);
        }
    }
    Ok(rep)
}

/// What the storm spawners did.
struct Storm {
    /// Spawns per second, summed over the spawners.
    rate: f64,
    pids: Vec<u32>,
    failed: u64,
}

/// Runs `spawners` copies of storm.py for `duration`, starting together.
fn run_storm(
    ctx: &Ctx,
    python: &Path,
    spawners: usize,
    duration: Duration,
    tag: &str,
) -> Result<Storm> {
    let script = ctx.scripts.join("storm.py");
    // Late enough for every interpreter to have started: they then begin together.
    let start_at = epoch_seconds() + 0.3;
    let mut children = Vec::new();
    for spawner in 0..spawners {
        let output = ctx.work.join(format!("{tag}-spawner{spawner}.json"));
        let mut command = Command::new(python);
        command
            .arg(&script)
            .arg(format!("{}", duration.as_secs_f64()))
            .arg(format!("{start_at:.6}"))
            .arg(&output)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", cmd::display(&command)))?;
        children.push((child, output));
    }
    let mut storm = Storm {
        rate: 0.0,
        pids: Vec::new(),
        failed: 0,
    };
    let mut problem = None;
    for (mut child, output) in children {
        let status = child.wait().context("cannot wait for storm.py")?;
        if !status.success() {
            problem.get_or_insert_with(|| anyhow!("storm.py failed with {status}"));
            continue;
        }
        let result = fs::read(&output)
            .context("cannot read storm.py's result")
            .and_then(|bytes| Ok(serde_json::from_slice::<Value>(&bytes)?));
        let _ = fs::remove_file(&output);
        let result = result?;
        let count = result["count"].as_f64().unwrap_or(0.0);
        let elapsed = result["elapsed"].as_f64().unwrap_or(0.0);
        ensure!(elapsed > 0.0, "storm.py reported no elapsed time");
        storm.rate += count / elapsed;
        storm.failed += result["failed"].as_u64().unwrap_or(0);
        storm.pids.extend(
            result["pids"]
                .as_array()
                .context("storm.py reported no pids")?
                .iter()
                .filter_map(|pid| pid.as_u64().map(|pid| pid as u32)),
        );
    }
    match problem {
        Some(error) => Err(error),
        None => Ok(storm),
    }
}

/// A peer running in the background, its stdout going to a file, its stderr read line by line.
struct Running {
    peer: Peer,
    output: PathBuf,
    child: Option<Child>,
    stderr: Receiver<String>,
    lines: Vec<String>,
    ready_after: f64,
}

/// A peer after SIGINT.
struct Stopped {
    status: ExitStatus,
    stderr: Vec<String>,
}

impl Running {
    /// Starts `command` and returns once it is ready (the peer's ready line, or a settling time).
    fn start(peer: Peer, mut command: Command, output: &Path) -> Result<Running> {
        let file =
            File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", cmd::display(&command)))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                        if sender.send(text).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut running = Running {
            peer,
            output: output.to_owned(),
            child: Some(child),
            stderr: receiver,
            lines: Vec::new(),
            ready_after: 0.0,
        };
        running.wait_ready(started)?;
        running.ready_after = started.elapsed().as_secs_f64();
        Ok(running)
    }

    /// Waits until the peer is ready: tracer says so on stderr; bpftrace prints "Attaching N
    /// probes..." on stdout (its output file), after which an exec of our own must show up in
    /// that file (proof that the probe is attached); forkstat says nothing and gets a second.
    fn wait_ready(&mut self, started: Instant) -> Result<()> {
        if self.peer == Peer::Forkstat {
            thread::sleep(FORKSTAT_SETTLE);
        }
        let mut canary: Option<u32> = None;
        loop {
            while let Ok(line) = self.stderr.try_recv() {
                self.lines.push(line);
            }
            let ready = match self.peer {
                Peer::Nothing | Peer::Forkstat => true,
                Peer::Tracer => self.lines.iter().any(|line| line.contains(TRACER_READY)),
                Peer::Bpftrace => {
                    let text = fs::read_to_string(&self.output).unwrap_or_default();
                    match canary {
                        _ if !text.contains(BPFTRACE_READY) => false,
                        None => {
                            canary = Some(canary_exec()?);
                            false
                        }
                        Some(pid) => text.lines().any(|line| line.trim() == pid.to_string()),
                    }
                }
            };
            if ready {
                return Ok(());
            }
            if let Some(status) = self.child_mut()?.try_wait()? {
                while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
                    self.lines.push(line);
                }
                bail!(self.died(status));
            }
            if started.elapsed() > PEER_TIMEOUT {
                bail!(
                    "{} was not ready within {} s ({}); its stderr: {}",
                    self.peer.label(),
                    PEER_TIMEOUT.as_secs(),
                    match (self.peer, canary) {
                        (Peer::Bpftrace, None) => format!("no {BPFTRACE_READY:?} on stdout"),
                        (Peer::Bpftrace, Some(pid)) => format!("it never printed exec {pid}"),
                        _ => format!("no {TRACER_READY:?} on stderr"),
                    },
                    self.tail()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn child_mut(&mut self) -> Result<&mut Child> {
        self.child.as_mut().context("peer already stopped")
    }

    fn died(&self, status: ExitStatus) -> String {
        format!(
            "{} exited with {status} before it was ready: {}",
            self.peer.label(),
            self.tail()
        )
    }

    fn tail(&self) -> String {
        let lines: Vec<&str> = self
            .lines
            .iter()
            .map(String::as_str)
            .filter(|line| !is_noise(line))
            .collect();
        let tail = lines.len().saturating_sub(3);
        match lines[tail..].join(" / ") {
            text if text.is_empty() => "(nothing on stderr)".to_owned(),
            text => text,
        }
    }

    /// SIGINT, then waits for the peer to drain and exit.
    fn stop(mut self) -> Result<Stopped> {
        let mut child = self.child.take().context("peer already stopped")?;
        signal(&child, libc::SIGINT);
        let asked = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if asked.elapsed() > PEER_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not exit within {} s of SIGINT (killed)",
                    self.peer.label(),
                    PEER_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.lines.push(line);
        }
        Ok(Stopped {
            status,
            stderr: std::mem::take(&mut self.lines),
        })
    }
}

impl Drop for Running {
    /// A peer left running by an error is killed.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A stderr line that says nothing worth reporting.
fn is_noise(line: &str) -> bool {
    line.trim().is_empty()
        // bpftrace 0.17 says this on every start, then works
        || line.contains("couldn't set RLIMIT_MEMLOCK")
}

/// Runs `/bin/true` once and returns its pid: an exec a peer must report once it is attached.
fn canary_exec() -> Result<u32> {
    let mut child = Command::new("/bin/true")
        .stdin(Stdio::null())
        .spawn()
        .context("cannot run /bin/true")?;
    let pid = child.id();
    child.wait()?;
    Ok(pid)
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// The execs a peer reported, by pid (a pid can repeat when pids wrap), and what it says it lost.
#[derive(Default)]
struct Observed {
    execs: HashMap<u32, u32>,
    lost: Option<u64>,
    stats: Option<Value>,
}

/// tracer's JSON lines: `"event":"exec"` records and the last `"event":"stats"` record.
fn parse_tracer(text: &str) -> Result<Observed> {
    let mut observed = Observed::default();
    for line in text.lines() {
        let is_exec = line.contains(r#""event":"exec""#);
        let is_stats = line.contains(r#""event":"stats""#);
        if !is_exec && !is_stats {
            continue;
        }
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue; // an event cut short by a kill; the stats record says what counts
        };
        match record["event"].as_str() {
            Some("exec") => {
                if let Some(pid) = record["pid"].as_u64() {
                    *observed.execs.entry(pid as u32).or_default() += 1;
                }
            }
            Some("stats") => observed.stats = Some(record),
            _ => {}
        }
    }
    observed.lost = observed
        .stats
        .as_ref()
        .and_then(|stats| stats["lost"].as_u64());
    Ok(observed)
}

/// bpftrace's output: one pid per line, and "Lost N events" when its perf buffer overflowed
/// (on stdout or stderr, depending on the version).
fn parse_bpftrace(text: &str, stderr: &[String]) -> Observed {
    let mut observed = Observed::default();
    for line in text.lines() {
        if let Ok(pid) = line.trim().parse::<u32>() {
            *observed.execs.entry(pid).or_default() += 1;
        }
    }
    let lost: Vec<u64> = text
        .lines()
        .chain(stderr.iter().map(String::as_str))
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("Lost ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect();
    if !lost.is_empty() {
        observed.lost = Some(lost.iter().sum());
    }
    observed
}

/// forkstat's table: `TIME EVENT PID …`; an exec line is `HH:MM:SS exec PID …`. Its header
/// repeats now and then.
fn parse_forkstat(text: &str) -> Observed {
    let mut observed = Observed::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (_time, event, pid) = (fields.next(), fields.next(), fields.next());
        if event == Some("exec") {
            if let Some(Ok(pid)) = pid.map(str::parse::<u32>) {
                *observed.execs.entry(pid).or_default() += 1;
            }
        }
    }
    observed
}

/// How many of `spawned` (a pid may repeat) have an exec in `execs`, each exec counting once.
fn seen(spawned: &[u32], execs: &HashMap<u32, u32>) -> usize {
    let mut wanted: HashMap<u32, u32> = HashMap::new();
    for pid in spawned {
        *wanted.entry(*pid).or_default() += 1;
    }
    wanted
        .iter()
        .map(|(pid, count)| (*count).min(execs.get(pid).copied().unwrap_or(0)) as usize)
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Measurement 2: kernel cost of each BPF program

const PROGRAMS: [&str; 3] = [
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
];

fn kernel_cost(ctx: &Ctx) -> Result<Vec<Row>> {
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

// ---------------------------------------------------------------------------------------------
// Measurement 3: a ps-style query over at least 2,000 processes

/// The two queries: tracer/psutil attributes and the `ps -o` fields that show the same.
const QUERIES: [(&str, &str, &str); 2] = [
    (
        "6 attrs",
        "pid,ppid,name,cmdline,username,create_time",
        "pid,ppid,comm,args,user,lstart",
    ),
    (
        "10 attrs",
        "pid,ppid,name,cmdline,username,create_time,memory_info,cpu_times,status,num_threads",
        "pid,ppid,comm,args,user,lstart,stat,nlwp,rss",
    ),
];

/// The subjects of the ps query, in row order (tracer first: the baseline).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lister {
    Tracer,
    Psutil,
    Ps,
}

const LISTERS: [Lister; 3] = [Lister::Tracer, Lister::Psutil, Lister::Ps];

fn ps_query(ctx: &Ctx) -> Result<Vec<Row>> {
    let before = count_processes()?;
    let wanted = MIN_PROCESSES + PROCESS_MARGIN;
    let extra = wanted.saturating_sub(before);
    if extra > 0 {
        say!(
            "ps: {before} processes; starting {extra} × `sleep 900` to reach {}",
            thousands(wanted as u64)
        );
    }
    let sleepers = Sleepers::start(extra)?;
    let present = count_processes()?;
    say!("ps: {} processes on the host", thousands(present as u64));

    let mut rows = Vec::new();
    for (label, attrs, fields) in QUERIES {
        rows.extend(ps_variant(ctx, label, attrs, fields)?);
    }
    drop(sleepers);
    Ok(rows)
}

/// One query: a warm-up of each lister (which also counts what it lists), then the timed
/// repetitions in rotating order.
fn ps_variant(ctx: &Ctx, label: &str, attrs: &str, fields: &str) -> Result<Vec<Row>> {
    let command = |lister: Lister| -> Result<Command> {
        Ok(match lister {
            Lister::Tracer => {
                let mut command = Command::new(&ctx.tracer);
                command.args(["ps", "--json", "--attrs", attrs]);
                command
            }
            Lister::Psutil => {
                let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
                let mut command = Command::new(python);
                command.arg(ctx.scripts.join("psutil_iter.py")).arg(attrs);
                command
            }
            Lister::Ps => {
                let mut command = cmd::new("ps");
                command.args(["-eo", fields]);
                command
            }
        })
    };

    // Warm-up: checks each lister works and counts the processes it lists.
    let mut listed: Vec<std::result::Result<usize, String>> = Vec::new();
    for lister in LISTERS {
        let outcome = command(lister).and_then(|mut command| {
            let output = command
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("cannot start `{}`", cmd::display(&command)))?;
            ensure!(
                output.status.success(),
                "`{}` failed with {}: {}",
                cmd::display(&command),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            Ok(match lister {
                Lister::Tracer => serde_json::from_slice::<Value>(&output.stdout)
                    .context("tracer ps --json printed no JSON array")?
                    .as_array()
                    .context("tracer ps --json printed no JSON array")?
                    .len(),
                Lister::Psutil => serde_json::from_slice::<Value>(&output.stdout)
                    .context("psutil_iter.py printed no JSON")?["count"]
                    .as_u64()
                    .context("psutil_iter.py printed no count")?
                    as usize,
                Lister::Ps => output
                    .stdout
                    .split(|byte| *byte == b'\n')
                    .count()
                    .saturating_sub(2),
            })
        });
        listed.push(outcome.map_err(|error| format!("{error:#}")));
    }

    // tracer's wall time, psutil's in-Python time, psutil's wall time, ps's wall time
    let mut samples: [Vec<f64>; 4] = Default::default();
    let mut failures: [Vec<String>; 4] = Default::default();
    for rep in 0..ctx.reps {
        say!("ps {}/{}: {label} …", rep + 1, ctx.reps);
        for turn in 0..LISTERS.len() {
            let index = (turn + rep) % LISTERS.len();
            let lister = LISTERS[index];
            if listed[index].is_err() {
                continue;
            }
            let timed = command(lister).and_then(|command| time_lister(lister, command));
            let slots: &[usize] = match lister {
                Lister::Tracer => &[0],
                Lister::Psutil => &[1, 2],
                Lister::Ps => &[3],
            };
            match timed {
                Ok(times) => {
                    for (slot, time) in slots.iter().zip(times) {
                        samples[*slot].push(time);
                    }
                }
                Err(error) => {
                    for slot in slots {
                        failures[*slot].push(format!("{error:#}"));
                    }
                }
            }
        }
    }

    let measurement = format!("ps query, {label} ({attrs})");
    let subjects = [
        ("tracer ps --json (whole process)", 0),
        ("psutil process_iter (in Python)", 1),
        ("psutil (whole python3 process)", 1),
        ("ps -eo … (whole process)", 2),
    ];
    let mut rows: Vec<Row> = subjects
        .iter()
        .enumerate()
        .map(|(slot, (subject, lister))| {
            let error = match &listed[*lister] {
                Err(error) => Some(error.clone()),
                Ok(_) if samples[slot].is_empty() => Some(
                    failures[slot]
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "no sample".into()),
                ),
                Ok(_) => None,
            };
            let mut extra = match &listed[*lister] {
                Ok(count) => format!("{} processes listed", thousands(*count as u64)),
                Err(_) => String::new(),
            };
            if slot == 0 {
                let _ = write!(extra, " (baseline: tracer's whole-process wall time)");
            }
            if slot == 3 {
                let _ = write!(extra, "; -eo {fields}");
            }
            if !failures[slot].is_empty() && error.is_none() {
                let _ = write!(
                    extra,
                    "; {} runs failed: {}",
                    failures[slot].len(),
                    failures[slot][0]
                );
            }
            Row {
                measurement: measurement.clone(),
                subject: (*subject).to_owned(),
                unit: Unit::Seconds,
                samples: samples[slot].clone(),
                ratio: Ratio::None,
                extra,
                details: json!({ "listed": listed[*lister].as_ref().ok(), "failures": failures[slot] }),
                error,
            }
        })
        .collect();
    let base = rows[0].median();
    for (slot, row) in rows.iter_mut().enumerate() {
        let meaning = match slot {
            0 => {
                row.ratio = Ratio::Baseline;
                continue;
            }
            1 | 2 => "psutil / tracer",
            _ => "ps / tracer",
        };
        row.ratio = match (base, row.median()) {
            (Some(base), Some(this)) if base > 0.0 => Ratio::Of {
                value: this / base,
                meaning,
            },
            _ => Ratio::Unknown,
        };
    }
    Ok(rows)
}

/// Runs one lister once: its whole-process wall time, and for psutil first the time it reports
/// for the iteration alone.
fn time_lister(lister: Lister, mut command: Command) -> Result<Vec<f64>> {
    command.stdin(Stdio::null()).stderr(Stdio::piped());
    command.stdout(if lister == Lister::Psutil {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("cannot start `{}`", cmd::display(&command)))?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(
        output.status.success(),
        "`{}` failed with {}: {}",
        cmd::display(&command),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    if lister == Lister::Psutil {
        let inner = serde_json::from_slice::<Value>(&output.stdout)
            .context("psutil_iter.py printed no JSON")?["seconds"]
            .as_f64()
            .context("psutil_iter.py printed no seconds")?;
        return Ok(vec![inner, wall]);
    }
    Ok(vec![wall])
}

/// The number of processes on the host (numeric entries of /proc).
fn count_processes() -> Result<usize> {
    Ok(fs::read_dir("/proc")
        .context("cannot list /proc")?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.bytes().all(|byte| byte.is_ascii_digit()))
        })
        .count())
}

/// `sleep 900` processes that fill the process table; killed and reaped when dropped, on error
/// too.
struct Sleepers(Vec<Child>);

impl Sleepers {
    fn start(count: usize) -> Result<Sleepers> {
        let mut sleepers = Sleepers(Vec::with_capacity(count));
        for _ in 0..count {
            let child = Command::new("sleep")
                .arg("900")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start `sleep 900`")?;
            sleepers.0.push(child);
        }
        Ok(sleepers)
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        for child in &mut self.0 {
            let _ = child.kill();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
        say!("ps: stopped the {} `sleep 900`", self.0.len());
    }
}

// ---------------------------------------------------------------------------------------------
// The host, tracefs, python

/// Where and when the run happened.
struct Host {
    /// UTC, `2025-01-31 12:34:56 UTC`.
    date: String,
    /// For file names: `2025-01-31T12-34-56Z`.
    stamp: String,
    kernel: String,
    cpus: usize,
    cpu_model: String,
    commit: String,
    dirty: bool,
}

impl Host {
    fn probe() -> Host {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let (year, month, day, hour, minute, second) = utc(now);
        let output = |command: &mut Command| {
            cmd::probe(command)
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty())
        };
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        // SAFETY: sysconf has no preconditions.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let root = cmd::workspace_root().ok();
        let git = |args: &[&str]| {
            let mut command = cmd::new("git");
            command.args(args);
            if let Some(root) = root {
                command.current_dir(root);
            }
            command
        };
        Host {
            date: format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC"),
            stamp: format!("{year:04}-{month:02}-{day:02}T{hour:02}-{minute:02}-{second:02}Z"),
            kernel: output(Command::new("uname").arg("-r")).unwrap_or_else(|| "unknown".into()),
            cpus: usize::try_from(online).unwrap_or(0),
            cpu_model,
            commit: output(&mut git(&["rev-parse", "--short=12", "HEAD"]))
                .unwrap_or_else(|| "unknown".into()),
            dirty: output(&mut git(&["status", "--porcelain", "--untracked-files=no"])).is_some(),
        }
    }
}

/// Mounts tracefs for bpftrace when it is not mounted, and unmounts it again when dropped, so
/// the host is left as it was (tracer itself needs no tracefs).
struct Tracefs {
    status: std::result::Result<(), String>,
    mounted_here: bool,
}

impl Tracefs {
    fn ensure() -> Tracefs {
        if Path::new(TRACEFS).join("events").is_dir() {
            return Tracefs {
                status: Ok(()),
                mounted_here: false,
            };
        }
        let mut mount = Command::new("mount");
        mount.args(["-t", "tracefs", "nodev", TRACEFS]);
        match mount.output() {
            Ok(output) if output.status.success() => {
                say!("mounted tracefs at {TRACEFS} for bpftrace (unmounted at the end)");
                Tracefs {
                    status: Ok(()),
                    mounted_here: true,
                }
            }
            outcome => {
                let why = match outcome {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                    Err(error) => error.to_string(),
                };
                Tracefs {
                    status: Err(format!(
                        "tracefs is not mounted and `{}` failed: {why}",
                        cmd::display(&mount)
                    )),
                    mounted_here: false,
                }
            }
        }
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted_here {
            let unmounted = Command::new("umount")
                .arg(TRACEFS)
                .status()
                .is_ok_and(|status| status.success());
            if !unmounted {
                say!("note: could not unmount {TRACEFS}");
            }
        }
    }
}

/// The interpreter `python3` runs, resolved past wrappers such as pyenv's shims (a shell
/// script whose start-up would count in psutil's whole-process time).
fn real_python() -> std::result::Result<PathBuf, String> {
    cmd::probe(cmd::new("python3").args(["-c", "import sys; print(sys.executable)"]))
        .map(|path| PathBuf::from(path.trim()))
        .filter(|path| path.is_file())
        .ok_or_else(|| "python3 is not installed or does not run".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// `text` cut to at most `max` bytes (at a character boundary), with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    })
}

fn median_usize(values: impl Iterator<Item = usize>) -> u64 {
    let samples: Vec<f64> = values.map(|value| value as f64).collect();
    median(&samples).map_or(0, |median| median.round() as u64)
}

fn fraction(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn percent(part: usize, whole: usize) -> String {
    format!("{:.2}%", fraction(part, whole) * 100.0)
}

/// `1234567` → `1,234,567`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).unwrap_or_default())
        .collect();
    groups.join(",")
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// Seconds since the epoch → UTC (year, month, day, hour, minute, second).
fn utc(seconds: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest / 3_600, rest % 3_600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc(1_795_498_210), (2026, 11, 24, 5, 30, 10));
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn forkstat_lines() {
        let text = "Time     Event   PID Info   Duration Process\n\
                    05:30:19 exec  13426                 /bin/true \n\
                    05:30:19 exit  13426      0   0.001s /bin/true \n\
                    05:30:19 exec  13427                 sleep 0.2 \n";
        let observed = parse_forkstat(text);
        assert_eq!(observed.execs.len(), 2);
        assert_eq!(observed.execs[&13426], 1);
    }

    #[test]
    fn bpftrace_lines() {
        let text = "13777\n\nLost 12 events\n13778\n";
        let observed = parse_bpftrace(text, &["Attaching 1 probe...".to_owned()]);
        assert_eq!(observed.execs.len(), 2);
        assert_eq!(observed.lost, Some(12));
    }

    #[test]
    fn tracer_lines() {
        let text = concat!(
            r#"{"event":"fork","pid":5,"ppid":1}"#,
            "\n",
            r#"{"event":"exec","pid":5,"ppid":1}"#,
            "\n",
            r#"{"event":"stats","events":2,"lost":3}"#,
            "\n"
        );
        let observed = parse_tracer(text).unwrap();
        assert_eq!(observed.execs[&5], 1);
        assert_eq!(observed.lost, Some(3));
    }

    #[test]
    fn seen_counts_reused_pids_once_per_exec() {
        let execs = HashMap::from([(10, 1), (11, 2)]);
        assert_eq!(seen(&[10, 10, 11, 12], &execs), 2);
        assert_eq!(seen(&[11, 11, 11], &execs), 2);
    }
}
