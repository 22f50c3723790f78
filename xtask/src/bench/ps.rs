//! Measurement 3: a ps-style query over at least 2,000 processes (tracer directly, psutil,
//! `ps`), and the `sleep` processes that fill the host to that size.

use super::*;

/// The two queries: tracer/psutil attributes and the `ps -o` fields that show the same.
pub(super) const QUERIES: [(&str, &str, &str); 2] = [
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

/// A subject of a ps query: one command, timed as a whole process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Lister {
    /// `tracer ps` in direct mode (its own /proc scan).
    Tracer,
    /// `tracer ps` answered by the bench's agent.
    TracerAgent,
    Psutil,
    Ps,
}

impl Lister {
    /// The rows this lister fills: psutil two (the iteration alone, and the whole process).
    pub(super) fn subjects(self) -> &'static [&'static str] {
        match self {
            Lister::Tracer => &["tracer ps --json (whole process)"],
            Lister::TracerAgent => &["tracer ps --json via the agent (whole process)"],
            Lister::Psutil => &[
                "psutil process_iter (in Python)",
                "psutil (whole python3 process)",
            ],
            Lister::Ps => &["ps -eo … (whole process)"],
        }
    }

    pub(super) fn command(self, ctx: &Ctx, attrs: &str, fields: &str) -> Result<Command> {
        Ok(match self {
            Lister::Tracer | Lister::TracerAgent => {
                let socket = if self == Lister::Tracer {
                    &ctx.no_agent
                } else {
                    &ctx.socket
                };
                let mut command = Command::new(&ctx.tracer);
                command
                    .arg("--socket")
                    .arg(socket)
                    .args(["ps", "--json", "--attrs", attrs]);
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
    }
}

pub(super) fn ps_query(ctx: &Ctx) -> Result<Vec<Row>> {
    let mut sleepers = Sleepers::default();
    fill_to(&mut sleepers, MIN_PROCESSES, "ps")?;
    let mut rows = Vec::new();
    for (label, attrs, fields) in QUERIES {
        let mut listing = Listing::new(
            ctx,
            attrs,
            fields,
            &[Lister::Tracer, Lister::Psutil, Lister::Ps],
        );
        listing.warm_up();
        for rep in 0..ctx.reps {
            say!("ps {}/{}: {label} …", rep + 1, ctx.reps);
            listing.pass(rep);
        }
        rows.extend(listing.rows(&format!("ps query, {label} ({attrs})")));
    }
    drop(sleepers);
    Ok(rows)
}

/// The timings of a set of listers over the same query: a warm-up of each (which also counts
/// what it lists), then passes in rotating order.
pub(super) struct Listing<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) attrs: &'a str,
    pub(super) fields: &'a str,
    pub(super) listers: Vec<Lister>,
    /// Per lister: how many processes it listed in the warm-up, or why it failed.
    pub(super) listed: Vec<std::result::Result<usize, String>>,
    /// Per subject (the listers' subjects in order): times in seconds, and failed runs.
    pub(super) samples: Vec<Vec<f64>>,
    pub(super) failures: Vec<Vec<String>>,
}

impl<'a> Listing<'a> {
    pub(super) fn new(
        ctx: &'a Ctx,
        attrs: &'a str,
        fields: &'a str,
        listers: &[Lister],
    ) -> Listing<'a> {
        let subjects: usize = listers.iter().map(|lister| lister.subjects().len()).sum();
        Listing {
            ctx,
            attrs,
            fields,
            listers: listers.to_vec(),
            listed: listers
                .iter()
                .map(|_| Err("not run yet".to_owned()))
                .collect(),
            samples: vec![Vec::new(); subjects],
            failures: vec![Vec::new(); subjects],
        }
    }

    /// The subject slots of lister `index`.
    pub(super) fn slots(&self, index: usize) -> std::ops::Range<usize> {
        let first: usize = self.listers[..index]
            .iter()
            .map(|lister| lister.subjects().len())
            .sum();
        first..first + self.listers[index].subjects().len()
    }

    /// Runs each lister once, untimed: checks that it works (and that tracer took the mode it
    /// was meant to: the agent, or direct) and counts the processes it lists.
    pub(super) fn warm_up(&mut self) {
        for index in 0..self.listers.len() {
            let lister = self.listers[index];
            let outcome =
                lister
                    .command(self.ctx, self.attrs, self.fields)
                    .and_then(|mut command| {
                        if matches!(lister, Lister::Tracer | Lister::TracerAgent) {
                            command.arg("--verbose");
                        }
                        let output = command.stdin(Stdio::null()).output().with_context(|| {
                            format!("cannot start `{}`", cmd::display(&command))
                        })?;
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        ensure!(
                            output.status.success(),
                            "`{}` failed with {}: {}",
                            cmd::display(&command),
                            output.status,
                            stderr.trim()
                        );
                        match lister {
                            Lister::TracerAgent => ensure!(
                                stderr.contains("using the agent"),
                                "tracer ps did not use the agent at {}: {}",
                                self.ctx.socket.display(),
                                stderr.trim()
                            ),
                            Lister::Tracer => ensure!(
                                !stderr.contains("using the agent"),
                                "tracer ps used an agent instead of direct mode: {}",
                                stderr.trim()
                            ),
                            _ => {}
                        }
                        Ok(match lister {
                            Lister::Tracer | Lister::TracerAgent => tracer_json(&output.stdout)
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
            if let Err(error) = &outcome {
                say!("  {lister:?} failed its warm-up: {error:#}");
            }
            self.listed[index] = outcome.map_err(|error| format!("{error:#}"));
        }
    }

    /// Times every lister that passed its warm-up once, starting with a different one each
    /// repetition.
    pub(super) fn pass(&mut self, rep: usize) {
        let count = self.listers.len();
        for turn in 0..count {
            let index = (turn + rep) % count;
            if self.listed[index].is_err() {
                continue;
            }
            let lister = self.listers[index];
            let timed = lister
                .command(self.ctx, self.attrs, self.fields)
                .and_then(|command| time_lister(lister, command));
            let slots = self.slots(index);
            match timed {
                Ok(times) => {
                    for (slot, time) in slots.zip(times) {
                        self.samples[slot].push(time);
                    }
                }
                Err(error) => {
                    for slot in slots {
                        self.failures[slot].push(format!("{error:#}"));
                    }
                }
            }
        }
    }

    /// The median of the first subject of `lister`, if it ran.
    pub(super) fn median_of(&self, lister: Lister) -> Option<f64> {
        let index = self.listers.iter().position(|each| *each == lister)?;
        median(&self.samples[self.slots(index).start])
    }

    /// One row per subject, the first the baseline. When the baseline is tracer through the
    /// agent, issue 7's targets apply: ≥ 20× psutil and ≥ 5× `ps`.
    pub(super) fn rows(&self, measurement: &str) -> Vec<Row> {
        let baseline = self.listers[0];
        let mut rows = Vec::new();
        for (index, lister) in self.listers.iter().enumerate() {
            for (slot, subject) in self.slots(index).zip(lister.subjects()) {
                let error = match &self.listed[index] {
                    Err(error) => Some(error.clone()),
                    Ok(_) if self.samples[slot].is_empty() => Some(
                        self.failures[slot]
                            .first()
                            .cloned()
                            .unwrap_or_else(|| "no sample".into()),
                    ),
                    Ok(_) => None,
                };
                let mut extra = match &self.listed[index] {
                    Ok(count) => format!("{} processes listed", thousands(*count as u64)),
                    Err(_) => String::new(),
                };
                if slot == 0 {
                    let _ = write!(extra, " (baseline: tracer's whole-process wall time)");
                }
                if *lister == Lister::Ps {
                    let _ = write!(extra, "; -eo {}", self.fields);
                }
                if !self.failures[slot].is_empty() && error.is_none() {
                    let _ = write!(
                        extra,
                        "; {} runs failed: {}",
                        self.failures[slot].len(),
                        self.failures[slot][0]
                    );
                }
                rows.push(Row {
                    measurement: measurement.to_owned(),
                    subject: (*subject).to_owned(),
                    unit: Unit::Seconds,
                    samples: self.samples[slot].clone(),
                    ratio: Ratio::None,
                    extra,
                    targets: Vec::new(),
                    details: json!({
                        "listed": self.listed[index].as_ref().ok(),
                        "failures": self.failures[slot],
                    }),
                    error,
                });
            }
        }
        let base = rows[0].median();
        let mut slot = 0;
        for lister in &self.listers {
            for _ in lister.subjects() {
                let row = &mut rows[slot];
                slot += 1;
                if slot == 1 {
                    row.ratio = Ratio::Baseline;
                    continue;
                }
                let meaning = match lister {
                    Lister::Psutil => "psutil / tracer",
                    Lister::Ps => "ps / tracer",
                    Lister::Tracer => "direct / agent",
                    Lister::TracerAgent => "agent / direct",
                };
                let ratio = match (base, row.median()) {
                    (Some(base), Some(this)) if base > 0.0 => Some(this / base),
                    _ => None,
                };
                row.ratio = match ratio {
                    Some(value) => Ratio::Of { value, meaning },
                    None => Ratio::Unknown,
                };
                if baseline == Lister::TracerAgent {
                    match lister {
                        Lister::Psutil => {
                            row.targets
                                .push(Target::at_least("tracer ≥ 20× faster", ratio, 20.0))
                        }
                        Lister::Ps => {
                            row.targets
                                .push(Target::at_least("tracer ≥ 5× faster", ratio, 5.0))
                        }
                        _ => {}
                    }
                }
            }
        }
        rows
    }
}

/// Runs one lister once: its whole-process wall time, and for psutil first the time it reports
/// for the iteration alone.
pub(super) fn time_lister(lister: Lister, mut command: Command) -> Result<Vec<f64>> {
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
pub(super) fn count_processes() -> Result<usize> {
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

/// Starts `sleep 900`s until the host has `size` processes plus [`PROCESS_MARGIN`]; returns
/// how many it has then.
pub(super) fn fill_to(sleepers: &mut Sleepers, size: usize, what: &str) -> Result<usize> {
    let before = count_processes()?;
    let wanted = size + PROCESS_MARGIN;
    let extra = wanted.saturating_sub(before);
    if extra > 0 {
        headroom(extra)?;
        say!(
            "{what}: {} processes; starting {} × `sleep 900` to reach {}",
            thousands(before as u64),
            thousands(extra as u64),
            thousands(wanted as u64)
        );
        let begun = Instant::now();
        sleepers.grow(extra)?;
        say!(
            "{what}: started them in {:.1} s",
            begun.elapsed().as_secs_f64()
        );
    }
    let present = count_processes()?;
    say!(
        "{what}: {} processes on the host",
        thousands(present as u64)
    );
    Ok(present)
}

/// Fails clearly unless the pid space and the process limit leave room for `extra` more
/// processes, and 2,000 more besides (for the storms and waits that follow); raises the soft
/// RLIMIT_NPROC to what is needed when the hard limit allows.
pub(super) fn headroom(extra: usize) -> Result<()> {
    let pid_max: usize = fs::read_to_string("/proc/sys/kernel/pid_max")
        .context("cannot read /proc/sys/kernel/pid_max")?
        .trim()
        .parse()
        .context("cannot parse /proc/sys/kernel/pid_max")?;
    // /proc/loadavg's fourth field: runnable/total scheduling entities (threads hold pids too).
    let threads: usize = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let field = text.split_whitespace().nth(3)?;
            field.split('/').nth(1)?.parse().ok()
        })
        .unwrap_or(0);
    let needed = threads + extra + 2_000;
    ensure!(
        needed <= pid_max,
        "{} more processes need {} pids but kernel.pid_max is {} ({} in use): raise it (sysctl \
         kernel.pid_max=65536)",
        thousands(extra as u64),
        thousands(needed as u64),
        thousands(pid_max as u64),
        thousands(threads as u64)
    );
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY
        && (limit.rlim_cur as usize) < needed
    {
        let raised = libc::rlimit {
            rlim_cur: if limit.rlim_max == libc::RLIM_INFINITY {
                needed as libc::rlim_t
            } else {
                limit
                    .rlim_max
                    .max(needed as libc::rlim_t)
                    .min(limit.rlim_max)
            },
            rlim_max: limit.rlim_max,
        };
        // SAFETY: a valid pointer to an rlimit.
        let ok = unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &raised) } == 0;
        if !ok || (raised.rlim_cur as usize) < needed {
            say!(
                "note: RLIMIT_NPROC is {} (ulimit -u); {} processes may not start unless running \
                 as root",
                limit.rlim_cur,
                thousands(needed as u64)
            );
        }
    }
    Ok(())
}

/// `sleep 900` processes that fill the process table; killed and reaped when dropped, on error
/// too.
#[derive(Default)]
pub(super) struct Sleepers(Vec<Child>);

impl Sleepers {
    /// Starts `count` more.
    pub(super) fn grow(&mut self, count: usize) -> Result<()> {
        let sleep = cmd::which("sleep").unwrap_or_else(|| PathBuf::from("sleep"));
        for _ in 0..count {
            let child = Command::new(&sleep)
                .arg("900")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| {
                    format!(
                        "cannot start `sleep 900` number {} (ulimit -u, kernel.pid_max?)",
                        self.0.len() + 1
                    )
                })?;
            self.0.push(child);
        }
        Ok(())
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
        say!("stopped the {} `sleep 900`", thousands(self.0.len() as u64));
    }
}
