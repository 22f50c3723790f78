//! Measurement 6: the event backends side by side (issue 5): what each sees of a storm, and
//! its CPU at idle and under the storm.

use super::*;

/// One backend of `tracer events`, with its polling interval.
#[derive(Clone, Copy)]
pub(super) struct EventBackend {
    /// `--backend`.
    pub(super) name: &'static str,
    /// `--interval` in seconds (the polling backends).
    pub(super) interval: Option<&'static str>,
}

impl EventBackend {
    pub(super) fn label(self) -> String {
        match self.interval {
            Some(interval) => format!(
                "tracer events --backend {} --interval {interval}",
                self.name
            ),
            None => format!("tracer events --backend {}", self.name),
        }
    }

    /// `tracer --socket <none> events --json --backend B [--interval S]`.
    pub(super) fn command(self, ctx: &Ctx) -> Command {
        let mut args = vec!["--backend", self.name];
        if let Some(interval) = self.interval {
            args.extend(["--interval", interval]);
        }
        Peer::Tracer.command(ctx, &args)
    }
}

/// The backends compared, eBPF first (the baseline); procfs also at 0.1 s, to show what ten
/// times the polling rate buys and costs.
pub(super) const BACKENDS: [EventBackend; 4] = [
    EventBackend {
        name: "ebpf",
        interval: None,
    },
    EventBackend {
        name: "procfs",
        interval: Some("1"),
    },
    EventBackend {
        name: "sysinfo",
        interval: Some("1"),
    },
    EventBackend {
        name: "procfs",
        interval: Some("0.1"),
    },
];

/// Longer-lived processes started over each storm, evenly spaced: `sleep` [`LONG_LIFE`].
pub(super) const LONG_LIVED: usize = 20;
/// Their life in seconds: over two intervals of the slowest polling backend (1 s), so that
/// every poller scans each of them at least once while it runs.
pub(super) const LONG_LIFE: &str = "2.5";
/// How long the last of them has run when the backends are stopped: longer than the slowest
/// interval, with room for a late scan.
pub(super) const LONG_SCANNED: Duration = Duration::from_millis(1_600);

/// What one backend did in one repetition.
pub(super) struct BackendRep {
    /// CPU over the idle time.
    pub(super) idle: CpuWindow,
    /// CPU from the storm's start (with its lead-in) to the grace time after it.
    pub(super) storm: CpuWindow,
    /// The storm's short processes (`/bin/true`), and how many of them the backend reported
    /// an exec of.
    pub(super) spawned: usize,
    pub(super) seen: usize,
    /// The longer-lived ones (`sleep`), and how many of them it reported an exec of.
    pub(super) long: usize,
    pub(super) long_seen: usize,
    /// The storm's spawns per second.
    pub(super) rate: f64,
    /// What the backend says it lost (its final stats record).
    pub(super) lost: Option<u64>,
    pub(super) stats: Option<Value>,
    /// Unexpected things it said or did.
    pub(super) notes: Vec<String>,
}

pub(super) type BackendOutcome = std::result::Result<BackendRep, String>;

/// Issue 5: for each backend (eBPF, procfs and sysinfo polling every 1 s, procfs every 0.1 s),
/// its CPU per second of monitoring at idle and under a storm, and the fraction of the storm's
/// processes it sees: the serial storm of `/bin/true` (about 1 ms each: polling misses nearly
/// all of them) and [`LONG_LIVED`] × `sleep` [`LONG_LIFE`] started over it (polling should see
/// all of those). eBPF must see 100% of both.
///
/// The four backends run at once in each repetition — started (in an order rotated every
/// repetition), settled, measured over the idle time, then over the same storm — so that each
/// sees exactly the same processes, and the measurement fits its budget: 5 × (10 s idle + 10 s
/// storm + about 4 s to start, settle and stop them) ≈ 2 minutes in full mode, 2 × (3 + 3 + 4)
/// ≈ 20 s with `--quick`; one backend after the other would take four times as long. Each one's
/// CPU is its own process's, so the others cost it nothing but a little cache; the pollers'
/// scans are cheap beside the storm, which needs one of the two CPUs. CPU is read from the
/// kernel's CPU clock of the process (`clock_getcpuclockid`: ns, threads that ended included):
/// utime + stime in /proc/PID/stat, the same time in 10 ms ticks, cannot tell an idle backend's
/// few ms per second apart over 3 s; the rows' extra column shows it too, as a check. The
/// pollers' cost grows with the number of processes on the host (the idle rows say how many
/// there were), eBPF's with the rate of events (and at idle it is its consumer's wake-ups to
/// drain the ring).
pub(super) fn backends(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let mut results: Vec<Vec<BackendOutcome>> = BACKENDS.iter().map(|_| Vec::new()).collect();
    let mut processes = Vec::new();
    for rep in 0..ctx.backend_reps {
        processes.push(count_processes()?);
        say!(
            "backends {}/{}: {} backends at once, {} s idle, then a {} s serial storm with {} × \
             `sleep {}` …",
            rep + 1,
            ctx.backend_reps,
            BACKENDS.len(),
            ctx.backend_idle.as_secs(),
            ctx.storm.as_secs(),
            LONG_LIVED,
            LONG_LIFE
        );
        match backends_rep(ctx, &python, rep) {
            Ok(outcomes) => {
                for (index, outcome) in outcomes.into_iter().enumerate() {
                    match &outcome {
                        Ok(rep) => say!("  {}: {}", BACKENDS[index].label(), backend_summary(rep)),
                        Err(error) => say!("  {}: failed: {error}", BACKENDS[index].label()),
                    }
                    results[index].push(outcome);
                }
            }
            Err(error) => {
                say!("  failed: {error:#}");
                for outcomes in &mut results {
                    outcomes.push(Err(format!("{error:#}")));
                }
            }
        }
    }
    Ok(backend_rows(&results, &processes))
}

pub(super) fn backend_summary(rep: &BackendRep) -> String {
    let mut text = format!(
        "idle {:.2} CPU ms/s, storm {:.2} CPU ms/s ({} spawns/s); saw {}/{} short ({}), {}/{} \
         long ({})",
        rep.idle.ms_per_second(),
        rep.storm.ms_per_second(),
        thousands(rep.rate.round() as u64),
        thousands(rep.seen as u64),
        thousands(rep.spawned as u64),
        percent(rep.seen, rep.spawned),
        rep.long_seen,
        rep.long,
        percent(rep.long_seen, rep.long)
    );
    if let Some(lost) = rep.lost {
        let _ = write!(text, ", lost {lost}");
    }
    for note in &rep.notes {
        let _ = write!(text, "; note: {note}");
    }
    text
}

/// A backend running in one repetition, and its CPU windows so far.
pub(super) struct Watch {
    pub(super) running: Running,
    pub(super) pid: u32,
    pub(super) output: PathBuf,
    /// Where the current window started.
    pub(super) mark: Option<CpuSample>,
    pub(super) idle: Option<CpuWindow>,
    pub(super) storm: Option<CpuWindow>,
}

/// A backend's place in a repetition: running, or why it is not.
pub(super) type Slot = std::result::Result<Watch, String>;

/// Applies `step` to every backend still running; one that fails is stopped (dropped) and
/// keeps its error.
pub(super) fn each_watch(slots: &mut [Slot], mut step: impl FnMut(&mut Watch) -> Result<()>) {
    for slot in slots.iter_mut() {
        if let Ok(watch) = slot {
            if let Err(error) = step(watch) {
                *slot = Err(format!("{error:#}"));
            }
        }
    }
}

/// Ends the current CPU window of `watch` now and starts the next one.
pub(super) fn next_window(watch: &mut Watch) -> Result<Option<CpuWindow>> {
    let now = CpuSample::take(watch.pid)?;
    Ok(watch.mark.replace(now).map(|mark| mark.until(now)))
}

/// One repetition: every backend at once, idle, then under one storm. An error of the storm
/// fails the repetition; a backend's own failure fails only its entry.
pub(super) fn backends_rep(ctx: &Ctx, python: &Path, rep: usize) -> Result<Vec<BackendOutcome>> {
    let mut slots: Vec<Slot> = BACKENDS
        .iter()
        .map(|_| Err("not started".to_owned()))
        .collect();
    for turn in 0..BACKENDS.len() {
        let index = (turn + rep) % BACKENDS.len();
        let output = ctx.work.join(format!("backends-{rep}-{index}.out"));
        slots[index] = Running::start(Peer::Tracer, BACKENDS[index].command(ctx), &output)
            .and_then(|running| {
                Ok(Watch {
                    pid: running.pid()?,
                    running,
                    output,
                    mark: None,
                    idle: None,
                    storm: None,
                })
            })
            .map_err(|error| format!("{error:#}"));
    }
    // Start-up work (loading the programs, the pollers' baseline scan) is not the idle cost.
    each_watch(&mut slots, |watch| Settled::wait(watch.pid).map(|_| ()));

    each_watch(&mut slots, |watch| next_window(watch).map(|_| ()));
    thread::sleep(ctx.backend_idle);
    each_watch(&mut slots, |watch| {
        watch.idle = next_window(watch)?;
        Ok(())
    });

    let starter = LongLived::start(ctx.storm);
    let storm = run_storm(ctx, python, 1, ctx.storm, &format!("backends-{rep}"));
    thread::sleep(GRACE);
    each_watch(&mut slots, |watch| {
        watch.storm = next_window(watch)?;
        Ok(())
    });
    let mut long = starter
        .join()
        .map_err(|_| anyhow!("the thread starting the longer-lived processes panicked"))?;
    let storm = storm?;
    if let Some(error) = &long.error {
        bail!("cannot start `sleep {LONG_LIFE}`: {error}");
    }
    if let Some(last) = long.last_start {
        thread::sleep((last + LONG_SCANNED).saturating_duration_since(Instant::now()));
    }
    let long_pids: Vec<u32> = long.children.iter().map(Child::id).collect();
    let outcomes = slots
        .into_iter()
        .map(|slot| {
            slot.and_then(|watch| {
                finish_watch(watch, &storm, &long_pids).map_err(|error| format!("{error:#}"))
            })
        })
        .collect();
    long.reap();
    Ok(outcomes)
}

/// Stops a backend and matches what it reported with the storm's processes.
pub(super) fn finish_watch(watch: Watch, storm: &Storm, long_pids: &[u32]) -> Result<BackendRep> {
    let Watch {
        running,
        output,
        idle,
        storm: window,
        ..
    } = watch;
    let stopped = running.stop()?;
    let text = fs::read(&output).with_context(|| format!("cannot read {}", output.display()))?;
    let _ = fs::remove_file(&output);
    let observed = parse_tracer(&String::from_utf8_lossy(&text))?;
    ensure!(
        stopped.status.success(),
        "exited with {} after SIGINT",
        stopped.status
    );
    ensure!(observed.stats.is_some(), "gave no stats record");
    let mut notes = Vec::new();
    if storm.failed > 0 {
        notes.push(format!(
            "{} spawned /bin/true exited non-zero",
            storm.failed
        ));
    }
    notes.extend(
        stopped
            .stderr
            .into_iter()
            .filter(|line| !is_noise(line) && !is_tracer_chatter(line))
            .map(|line| shorten(&line, 160)),
    );
    notes.truncate(3);
    Ok(BackendRep {
        idle: idle.context("no idle CPU window")?,
        storm: window.context("no storm CPU window")?,
        spawned: storm.pids.len(),
        seen: seen(&storm.pids, &observed.execs),
        long: long_pids.len(),
        long_seen: seen(long_pids, &observed.execs),
        rate: storm.rate,
        lost: observed.lost,
        stats: observed.stats,
        notes,
    })
}

/// The longer-lived processes of a storm; killed and reaped when dropped, on error too.
pub(super) struct LongLived {
    pub(super) children: Vec<Child>,
    pub(super) last_start: Option<Instant>,
    /// Why one of them could not start (the rest were not started).
    pub(super) error: Option<String>,
}

impl LongLived {
    /// Starts [`LONG_LIVED`] × `sleep` [`LONG_LIFE`] on a thread, evenly spaced over `storm`
    /// from the storm's start ([`STORM_LEAD`] from now).
    pub(super) fn start(storm: Duration) -> thread::JoinHandle<LongLived> {
        thread::spawn(move || {
            let sleep = cmd::which("sleep").unwrap_or_else(|| PathBuf::from("sleep"));
            let begin = Instant::now() + STORM_LEAD;
            let mut long = LongLived {
                children: Vec::new(),
                last_start: None,
                error: None,
            };
            for number in 0..LONG_LIVED {
                let at = begin + storm.mul_f64(number as f64 / LONG_LIVED as f64);
                thread::sleep(at.saturating_duration_since(Instant::now()));
                let child = Command::new(&sleep)
                    .arg(LONG_LIFE)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                match child {
                    Ok(child) => {
                        long.children.push(child);
                        long.last_start = Some(Instant::now());
                    }
                    Err(error) => {
                        long.error = Some(error.to_string());
                        break;
                    }
                }
            }
            long
        })
    }

    /// Waits for them to end (they end [`LONG_LIFE`] after their start).
    pub(super) fn reap(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.wait();
        }
    }
}

impl Drop for LongLived {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        self.reap();
    }
}

/// A process's CPU time at one moment: exact (the kernel's CPU clock of the process) and in
/// clock ticks (utime + stime of /proc/PID/stat).
#[derive(Clone, Copy)]
pub(super) struct CpuSample {
    pub(super) at: Instant,
    pub(super) cpu: f64,
    pub(super) ticks: f64,
}

impl CpuSample {
    pub(super) fn take(pid: u32) -> Result<CpuSample> {
        Ok(CpuSample {
            cpu: process_cpu_time(pid)?,
            ticks: cpu_seconds(pid)?,
            at: Instant::now(),
        })
    }

    pub(super) fn until(self, later: CpuSample) -> CpuWindow {
        CpuWindow {
            cpu: later.cpu - self.cpu,
            ticks: later.ticks - self.ticks,
            wall: later.at.duration_since(self.at).as_secs_f64(),
        }
    }
}

/// CPU seconds spent over `wall` seconds.
#[derive(Clone, Copy)]
pub(super) struct CpuWindow {
    pub(super) cpu: f64,
    /// The same from utime + stime (clock ticks).
    pub(super) ticks: f64,
    pub(super) wall: f64,
}

impl CpuWindow {
    pub(super) fn ms_per_second(self) -> f64 {
        self.cpu * 1e3 / self.wall.max(1e-9)
    }

    pub(super) fn ticks_ms_per_second(self) -> f64 {
        self.ticks * 1e3 / self.wall.max(1e-9)
    }

    pub(super) fn to_json(self) -> Value {
        json!({ "cpu_seconds": self.cpu, "ticks_cpu_seconds": self.ticks, "wall_seconds": self.wall })
    }
}

/// The rows: CPU at idle and under the storm (ratio against eBPF), and the fractions of the
/// storm's short and longer-lived processes seen (no ratio: eBPF's is 100%).
pub(super) fn backend_rows(results: &[Vec<BackendOutcome>], processes: &[usize]) -> Vec<Row> {
    let good: Vec<Vec<&BackendRep>> = results
        .iter()
        .map(|outcomes| {
            outcomes
                .iter()
                .filter_map(|rep| rep.as_ref().ok())
                .collect()
        })
        .collect();
    // A row of backend `index`, with its error (no good repetition) and failures noted.
    let row = |measurement: &str, index: usize, unit: Unit, samples: Vec<f64>| {
        let failures: Vec<&String> = results[index]
            .iter()
            .filter_map(|rep| rep.as_ref().err())
            .collect();
        let error = good[index].is_empty().then(|| {
            failures
                .first()
                .map_or_else(|| "no repetition ran".to_owned(), |first| (*first).clone())
        });
        let extra = match (good[index].is_empty(), failures.first()) {
            (false, Some(first)) => format!(
                "{} of {} runs failed: {}",
                failures.len(),
                results[index].len(),
                shorten(first, 160)
            ),
            _ => String::new(),
        };
        Row {
            measurement: measurement.to_owned(),
            subject: BACKENDS[index].label(),
            unit,
            samples,
            ratio: Ratio::None,
            extra,
            targets: Vec::new(),
            details: Value::Null,
            error,
        }
    };
    let add = |row: &mut Row, text: String| {
        if !text.is_empty() {
            row.extra = if row.extra.is_empty() {
                text
            } else {
                format!("{text}; {}", row.extra)
            };
        }
    };
    let mut rows = Vec::new();

    let idle_of: fn(&BackendRep) -> CpuWindow = |rep| rep.idle;
    let storm_of: fn(&BackendRep) -> CpuWindow = |rep| rep.storm;
    let storm_name = format!(
        "backends: CPU under a serial storm of /bin/true + {LONG_LIVED} × sleep {LONG_LIFE}"
    );
    for (measurement, window) in [
        ("backends: CPU at idle", idle_of),
        (storm_name.as_str(), storm_of),
    ] {
        let is_idle = measurement.ends_with("idle");
        let mut group: Vec<Row> = (0..BACKENDS.len())
            .map(|index| {
                let windows: Vec<CpuWindow> = good[index].iter().map(|rep| window(rep)).collect();
                let samples = windows.iter().map(|w| w.ms_per_second()).collect();
                let mut row = row(measurement, index, Unit::CpuMsPerSecond, samples);
                let ticks: Vec<f64> = windows.iter().map(|w| w.ticks_ms_per_second()).collect();
                let mut extra = Vec::new();
                if let Some(ticks) = median(&ticks) {
                    extra.push(format!("utime+stime {ticks:.1} ms/s"));
                }
                if index == 0 && !good[index].is_empty() {
                    let walls: Vec<f64> = windows.iter().map(|w| w.wall).collect();
                    let wall = median(&walls).unwrap_or(0.0);
                    if is_idle {
                        extra.push(format!(
                            "CPU per second of wall time, over {wall:.1} s with nothing else \
                             running; {} processes on the host (median)",
                            thousands(median_usize(processes.iter().copied()))
                        ));
                    } else {
                        extra.push(format!(
                            "over {wall:.1} s: the storm with its lead-in and {} ms grace; {} \
                             spawns/s (median)",
                            GRACE.as_millis(),
                            thousands(median_usize(
                                good[index].iter().map(|rep| rep.rate.round() as usize)
                            ))
                        ));
                    }
                }
                if is_idle {
                    let mut notes: Vec<&String> =
                        good[index].iter().flat_map(|rep| &rep.notes).collect();
                    notes.dedup();
                    if let Some(note) = notes.first() {
                        extra.push(format!("note: {note}"));
                    }
                }
                add(&mut row, extra.join("; "));
                row.details = json!({
                    "windows": windows.iter().map(|w| w.to_json()).collect::<Vec<_>>(),
                    "ticks_ms_per_second": ticks,
                });
                row
            })
            .collect();
        compare(&mut group, 0, "CPU vs eBPF's");
        rows.extend(group);
    }

    let short_of: fn(&BackendRep) -> (usize, usize) = |rep| (rep.seen, rep.spawned);
    let long_of: fn(&BackendRep) -> (usize, usize) = |rep| (rep.long_seen, rep.long);
    let short_name = "backends: the storm's short processes seen (exec of /bin/true, ~1 ms each)";
    let long_name = format!(
        "backends: longer-lived processes seen (exec of sleep {LONG_LIFE}, {LONG_LIVED} per storm)"
    );
    for (measurement, part) in [(short_name, short_of), (long_name.as_str(), long_of)] {
        for (index, reps) in good.iter().enumerate() {
            let parts: Vec<(usize, usize)> = reps.iter().map(|rep| part(rep)).collect();
            let samples = parts
                .iter()
                .map(|(seen, whole)| fraction(*seen, *whole))
                .collect();
            let mut row = row(measurement, index, Unit::Fraction, samples);
            let seen: usize = parts.iter().map(|(seen, _)| seen).sum();
            let whole: usize = parts.iter().map(|(_, whole)| whole).sum();
            let mut extra = Vec::new();
            if !parts.is_empty() {
                let worst = parts
                    .iter()
                    .map(|(seen, whole)| fraction(*seen, *whole))
                    .fold(f64::INFINITY, f64::min);
                extra.push(format!(
                    "saw {}/{} over {} runs (worst run {:.2}%)",
                    thousands(seen as u64),
                    thousands(whole as u64),
                    parts.len(),
                    worst * 100.0
                ));
            }
            if index == 0 {
                let lost: u64 = reps.iter().filter_map(|rep| rep.lost).sum();
                if !parts.is_empty() {
                    extra.push(format!("lost {lost}"));
                }
                let all = parts.iter().all(|(seen, whole)| seen == whole);
                row.targets.push(Target::new(
                    "100% seen (issue 5)",
                    (!parts.is_empty()).then_some(all),
                ));
            }
            add(&mut row, extra.join("; "));
            row.details = json!({
                "runs": parts.iter().map(|(seen, whole)| json!({"seen": seen, "of": whole}))
                    .collect::<Vec<_>>(),
                "lost": reps.iter().map(|rep| rep.lost).collect::<Vec<_>>(),
            });
            if measurement == short_name {
                row.details["stats"] =
                    json!(reps.iter().map(|rep| rep.stats.clone()).collect::<Vec<_>>());
            }
            rows.push(row);
        }
    }
    rows
}
