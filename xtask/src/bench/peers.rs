//! Peers and storms shared by the measurements: a consumer running in the background and
//! settling, its CPU and counters, the storm spawners, and parsers of what each peer printed.

use super::*;

/// Longest wait for a process to settle.
pub(super) const SETTLE_MAX: Duration = Duration::from_secs(5);
/// Interval of the CPU readings while settling; three quiet ones in a row end the wait.
pub(super) const SETTLE_STEP: Duration = Duration::from_millis(100);

/// What a process did after its ready line until it went quiet.
#[derive(Clone, Copy)]
pub(super) struct Settled {
    /// Seconds it stayed busy after the ready line (to [`SETTLE_STEP`]).
    pub(super) busy: f64,
    /// CPU seconds it spent meanwhile.
    pub(super) cpu: f64,
}

impl Settled {
    /// Waits until process `pid` uses at most one clock tick in each of three intervals of
    /// [`SETTLE_STEP`] in a row ([`SETTLE_MAX`] at most).
    pub(super) fn wait(pid: u32) -> Result<Settled> {
        let begun = Instant::now();
        let first = cpu_seconds(pid)?;
        let tick = 1.0 / clock_ticks() as f64;
        let mut last = first;
        let mut quiet = 0u32;
        let mut busy = 0.0;
        while quiet < 3 && begun.elapsed() < SETTLE_MAX {
            thread::sleep(SETTLE_STEP);
            let now = cpu_seconds(pid)?;
            if now - last <= tick * 1.5 {
                quiet += 1;
            } else {
                quiet = 0;
                busy = begun.elapsed().as_secs_f64();
            }
            last = now;
        }
        Ok(Settled {
            busy,
            cpu: last - first,
        })
    }
}

/// A peer's CPU time so far, and for the agent its counters.
pub(super) struct Usage {
    pub(super) cpu: f64,
    /// Run time in ns of each thread (/proc/PID/task/TID/schedstat): finer than clock ticks.
    pub(super) threads: HashMap<u32, u64>,
    pub(super) stats: Option<Value>,
}

impl Usage {
    pub(super) fn sample(ctx: &Ctx, running: &Running) -> Result<Usage> {
        let pid = running.pid()?;
        let cpu = cpu_seconds(pid)?;
        let threads = thread_run_times(pid);
        let stats = match running.peer {
            Peer::Agent | Peer::AgentSubscribed => Some(agent_stats(ctx)?),
            _ => None,
        };
        Ok(Usage {
            cpu,
            threads,
            stats,
        })
    }

    /// Run time between `self` and `later` in seconds, from schedstat: threads born meanwhile
    /// count whole, threads that ended meanwhile are missed.
    pub(super) fn run_time_until(&self, later: &Usage) -> Option<f64> {
        if later.threads.is_empty() {
            return None;
        }
        let ns: u64 = later
            .threads
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(self.threads.get(tid).copied().unwrap_or(0)))
            .sum();
        Some(ns as f64 * 1e-9)
    }
}

/// The storm's processes as the agent's exited entries show them.
pub(super) struct AgentObserved {
    /// Exited entries with exit code 0 whose parent is a spawner, by pid.
    pub(super) exits: HashMap<u32, u32>,
    /// Entries of the storm with another exit code (or none).
    pub(super) odd: usize,
}

pub(super) fn agent_observed(exited: &[Value], spawners: &[u32]) -> AgentObserved {
    let mut observed = AgentObserved {
        exits: HashMap::new(),
        odd: 0,
    };
    for entry in exited {
        let (Some(pid), Some(ppid)) = (entry["pid"].as_u64(), entry["ppid"].as_u64()) else {
            continue;
        };
        if !spawners.contains(&(ppid as u32)) {
            continue;
        }
        if entry["exit_code"].as_i64() == Some(0) {
            *observed.exits.entry(pid as u32).or_default() += 1;
        } else {
            observed.odd += 1;
        }
    }
    observed
}

/// What the storm spawners did.
pub(super) struct Storm {
    /// Spawns per second, summed over the spawners.
    pub(super) rate: f64,
    pub(super) pids: Vec<u32>,
    pub(super) failed: u64,
    /// The spawners' pids: the parent of every process of the storm.
    pub(super) spawners: Vec<u32>,
}

/// Runs `spawners` copies of storm.py for `duration`, starting together.
pub(super) fn run_storm(
    ctx: &Ctx,
    python: &Path,
    spawners: usize,
    duration: Duration,
    tag: &str,
) -> Result<Storm> {
    let script = ctx.scripts.join("storm.py");
    // Late enough for every interpreter to have started: they then begin together.
    let start_at = epoch_seconds() + STORM_LEAD.as_secs_f64();
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
        spawners: children.iter().map(|(child, _)| child.id()).collect(),
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

/// A peer running in the background, its stdout going to a file, its stderr read line by line
/// (each line stamped with when it was read).
pub(super) struct Running {
    pub(super) peer: Peer,
    pub(super) output: PathBuf,
    pub(super) child: Option<Child>,
    pub(super) stderr: Receiver<(Instant, String)>,
    pub(super) lines: Vec<String>,
    /// Seconds from spawning the peer to its ready line (or to the end of its settling time).
    pub(super) ready_after: f64,
    /// The line that said it was ready (tracer and the agent).
    pub(super) ready_line: Option<String>,
}

/// A peer after SIGINT (SIGTERM for the agent).
pub(super) struct Stopped {
    pub(super) status: ExitStatus,
    pub(super) stderr: Vec<String>,
}

impl Running {
    /// Starts `command` and returns once it is ready (the peer's ready line, or a settling time).
    pub(super) fn start(peer: Peer, mut command: Command, output: &Path) -> Result<Running> {
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
                        if sender.send((Instant::now(), text)).is_err() {
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
            ready_line: None,
        };
        let ready_at = running.wait_ready(started)?;
        running.ready_after = ready_at.duration_since(started).as_secs_f64();
        Ok(running)
    }

    pub(super) fn pid(&self) -> Result<u32> {
        Ok(self.child.as_ref().context("peer already stopped")?.id())
    }

    /// The line a tracer peer waits for.
    pub(super) fn ready_text(&self) -> &'static str {
        if self.peer.is_agent() {
            AGENT_READY
        } else {
            TRACER_READY
        }
    }

    /// Waits until the peer is ready and returns when it became so: tracer and the agent say
    /// so on stderr (the time the line was read); bpftrace prints "Attaching N probes..." on
    /// stdout (its output file), after which an exec of our own must show up in that file
    /// (proof that the probe is attached); forkstat says nothing and gets a second.
    pub(super) fn wait_ready(&mut self, started: Instant) -> Result<Instant> {
        if self.peer == Peer::Forkstat {
            thread::sleep(FORKSTAT_SETTLE);
        }
        let mut canary: Option<u32> = None;
        let mut next: Option<(Instant, String)> = None;
        loop {
            while let Some((at, line)) = next.take().or_else(|| self.stderr.try_recv().ok()) {
                if self.peer.is_tracer() && line.contains(self.ready_text()) {
                    self.ready_line = Some(line.clone());
                    self.lines.push(line);
                    return Ok(at);
                }
                self.lines.push(line);
            }
            let ready = match self.peer {
                Peer::Nothing | Peer::Forkstat => true,
                Peer::Agent | Peer::AgentSubscribed | Peer::Tracer | Peer::Floor => false,
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
                return Ok(Instant::now());
            }
            if let Some(status) = self.child_mut()?.try_wait()? {
                while let Ok((_, line)) = self.stderr.recv_timeout(Duration::from_millis(200)) {
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
                        _ => format!("no {:?} on stderr", self.ready_text()),
                    },
                    self.tail()
                );
            }
            // Wakes at once for a line on stderr (the ready line's time is when it was read).
            next = self.stderr.recv_timeout(Duration::from_millis(10)).ok();
        }
    }

    pub(super) fn child_mut(&mut self) -> Result<&mut Child> {
        self.child.as_mut().context("peer already stopped")
    }

    pub(super) fn died(&self, status: ExitStatus) -> String {
        format!(
            "{} exited with {status} before it was ready: {}",
            self.peer.label(),
            self.tail()
        )
    }

    pub(super) fn tail(&self) -> String {
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

    /// SIGINT (SIGTERM for the agent), then waits for the peer to drain and exit.
    pub(super) fn stop(mut self) -> Result<Stopped> {
        let mut child = self.child.take().context("peer already stopped")?;
        signal(&child, self.peer.stop_signal());
        let asked = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if asked.elapsed() > PEER_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not exit within {} s of {} (killed)",
                    self.peer.label(),
                    PEER_TIMEOUT.as_secs(),
                    if self.peer.is_agent() {
                        "SIGTERM"
                    } else {
                        "SIGINT"
                    }
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        while let Ok((_, line)) = self.stderr.recv_timeout(Duration::from_secs(2)) {
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
pub(super) fn is_noise(line: &str) -> bool {
    line.trim().is_empty()
        // bpftrace 0.17 says this on every start, then works
        || line.contains("couldn't set RLIMIT_MEMLOCK")
}

/// tracer's own expected lines: ready, and the agent's goodbye.
pub(super) fn is_tracer_chatter(line: &str) -> bool {
    line.contains(TRACER_READY) || line.contains(AGENT_READY) || line.contains(AGENT_STOPPED)
}

/// Runs `/bin/true` once and returns its pid: an exec a peer must report once it is attached.
pub(super) fn canary_exec() -> Result<u32> {
    let mut child = Command::new("/bin/true")
        .stdin(Stdio::null())
        .spawn()
        .context("cannot run /bin/true")?;
    let pid = child.id();
    child.wait()?;
    Ok(pid)
}

pub(super) fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// The execs a peer reported, by pid (a pid can repeat when pids wrap), and what it says it lost.
#[derive(Default)]
pub(super) struct Observed {
    pub(super) execs: HashMap<u32, u32>,
    pub(super) lost: Option<u64>,
    pub(super) stats: Option<Value>,
}

/// tracer's JSON lines: `"event":"exec"` records and the last `"event":"stats"` record.
pub(super) fn parse_tracer(text: &str) -> Result<Observed> {
    let mut observed = Observed::default();
    for line in text.lines() {
        let is_exec = line.contains(r#""event":"exec""#);
        let is_stats = line.contains(r#""event":"stats""#);
        if !is_exec && !is_stats {
            continue;
        }
        let Ok(record) = tracer_json(line.as_bytes()) else {
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
pub(super) fn parse_bpftrace(text: &str, stderr: &[String]) -> Observed {
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
pub(super) fn parse_forkstat(text: &str) -> Observed {
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
pub(super) fn seen(spawned: &[u32], execs: &HashMap<u32, u32>) -> usize {
    let mut wanted: HashMap<u32, u32> = HashMap::new();
    for pid in spawned {
        *wanted.entry(*pid).or_default() += 1;
    }
    wanted
        .iter()
        .map(|(pid, count)| (*count).min(execs.get(pid).copied().unwrap_or(0)) as usize)
        .sum()
}
