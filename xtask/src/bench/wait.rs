//! Measurement 5: `wait` latency, from a process's exit to the waiter's answer, through the
//! agent and directly, against the parent's own `waitpid`.

use super::*;

/// How long the target sleeps before exiting, so that its waiter waits by then: through the
/// agent the waiter only connects; in direct mode it loads and attaches its eBPF programs.
pub(super) const WAIT_LEAD_AGENT: f64 = 0.3;
pub(super) const WAIT_LEAD_DIRECT: f64 = 1.0;
/// Issue 7's target: 1 ms median through the agent.
pub(super) const WAIT_TARGET: f64 = 1e-3;

pub(super) fn wait_latency(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let mut agent_samples = Vec::new();
    let mut agent_parent = Vec::new();
    let mut agent_failures = Vec::new();
    let output = ctx.work.join("wait-agent.out");
    let started = Running::start(Peer::Agent, Peer::Agent.command(ctx, &[]), &output);
    match started {
        Ok(agent) => {
            say!(
                "wait: {} samples through the agent (targets sleep {WAIT_LEAD_AGENT} s first) …",
                ctx.wait_samples
            );
            for sample in 0..ctx.wait_samples {
                match wait_sample(
                    ctx,
                    &python,
                    &ctx.socket,
                    WAIT_LEAD_AGENT,
                    &format!("a{sample}"),
                ) {
                    Ok((latency, parent)) => {
                        agent_samples.push(latency);
                        agent_parent.push(parent);
                    }
                    Err(error) => {
                        say!("  sample {} failed: {error:#}", sample + 1);
                        agent_failures.push(format!("{error:#}"));
                    }
                }
            }
            match agent.stop() {
                Ok(stopped) if !stopped.status.success() => agent_failures.push(format!(
                    "tracer agent exited with {} after SIGTERM",
                    stopped.status
                )),
                Ok(_) => {}
                Err(error) => agent_failures.push(format!("{error:#}")),
            }
        }
        Err(error) => agent_failures.push(format!("{error:#}")),
    }
    say!(
        "wait: {} samples in direct mode (targets sleep {WAIT_LEAD_DIRECT} s first) …",
        ctx.direct_wait_samples
    );
    let mut direct_samples = Vec::new();
    let mut direct_parent = Vec::new();
    let mut direct_failures = Vec::new();
    for sample in 0..ctx.direct_wait_samples {
        match wait_sample(
            ctx,
            &python,
            &ctx.no_agent,
            WAIT_LEAD_DIRECT,
            &format!("d{sample}"),
        ) {
            Ok((latency, parent)) => {
                direct_samples.push(latency);
                direct_parent.push(parent);
            }
            Err(error) => {
                say!("  sample {} failed: {error:#}", sample + 1);
                direct_failures.push(format!("{error:#}"));
            }
        }
    }

    let row =
        |subject: &str, samples: Vec<f64>, parent: Vec<f64>, failures: Vec<String>, lead: f64| {
            let mut extra = Vec::new();
            if let (Some(p90), Some(min), Some(max)) = (
                percentile(&samples, 0.9),
                samples.iter().copied().reduce(f64::min),
                samples.iter().copied().reduce(f64::max),
            ) {
                extra.push(format!(
                    "p90 {}; min {}; max {}",
                    Unit::Seconds.show(p90),
                    Unit::Seconds.show(min),
                    Unit::Seconds.show(max)
                ));
            }
            extra.push(format!(
                "{} samples; the target sleeps {lead} s, stamps CLOCK_MONOTONIC and _exit(0)s",
                samples.len()
            ));
            if let Some(floor) = median(&parent) {
                let beyond: Vec<f64> = samples
                    .iter()
                    .zip(&parent)
                    .map(|(latency, parent)| latency - parent)
                    .collect();
                extra.push(format!(
                    "the target's own parent (waitpid) saw its exit {} after the stamp: the \
                     floor; the answer arrived {} after the parent (medians)",
                    Unit::Seconds.show(floor),
                    median(&beyond).map_or("?".to_owned(), signed_duration)
                ));
            }
            if !failures.is_empty() && !samples.is_empty() {
                extra.push(format!("{} failed: {}", failures.len(), failures[0]));
            }
            Row {
                measurement: "wait latency (target's exit → waiter's answer)".to_owned(),
                subject: subject.to_owned(),
                unit: Unit::Seconds,
                error: samples.is_empty().then(|| {
                    failures
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "no sample".into())
                }),
                details: json!({
                    "seconds": samples,
                    "parent_waitpid_seconds": parent,
                    "failures": failures,
                }),
                samples,
                ratio: Ratio::None,
                extra: extra.join("; "),
                targets: Vec::new(),
            }
        };
    let mut rows = vec![
        row(
            "tracer wait via the agent",
            agent_samples,
            agent_parent,
            agent_failures,
            WAIT_LEAD_AGENT,
        ),
        row(
            "tracer wait, direct mode (own eBPF programs)",
            direct_samples,
            direct_parent,
            direct_failures,
            WAIT_LEAD_DIRECT,
        ),
    ];
    compare(&mut rows, 0, "direct / agent");
    let median_latency = rows[0].median();
    rows[0].targets.push(Target::at_most(
        "≤ 1 ms median",
        median_latency,
        WAIT_TARGET,
    ));
    Ok(rows)
}

/// One sample: starts a target that sleeps `lead` seconds, writes CLOCK_MONOTONIC and exits 0,
/// and `tracer --socket SOCKET wait --json PID` right away. The waiter has returned when its
/// answer arrives: a thread here reads its stdout and stamps the moment the JSON line arrives
/// (the CLI's own teardown afterwards, and this side's reap of it, are not wait latency). The
/// latency is from the target's stamp to that arrival. Also returns when the target's parent (a
/// thread here) saw the target's exit, after the same stamp: the floor of any waiter.
pub(super) fn wait_sample(
    ctx: &Ctx,
    python: &Path,
    socket: &Path,
    lead: f64,
    tag: &str,
) -> Result<(f64, f64)> {
    let stamp = ctx.work.join(format!("wait-{tag}.ns"));
    let mut command = Command::new(python);
    command
        .arg(ctx.scripts.join("exit_stamp.py"))
        .arg(format!("{lead}"))
        .arg(&stamp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut target = command
        .spawn()
        .with_context(|| format!("cannot start `{}`", cmd::display(&command)))?;
    let pid = target.id();
    // Reaped at once, as a parent would: the waiter must not depend on a zombie.
    let reaper = thread::spawn(move || target.wait().map(|status| (status, monotonic_ns())));
    let mut command = Command::new(&ctx.tracer);
    command
        .arg("--socket")
        .arg(socket)
        .args(["wait", "--json", "--timeout", "30"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut waiter = match command.spawn() {
        Ok(waiter) => waiter,
        Err(error) => {
            let _ = reaper.join();
            return Err(anyhow!(error))
                .with_context(|| format!("cannot start `{}`", cmd::display(&command)));
        }
    };
    // The answer is one line: stamped as it arrives, then the rest (nothing, normally) is read
    // to the end so that the waiter never blocks on a full pipe.
    let answer_reader = waiter.stdout.take().map(|pipe| {
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let arrived = monotonic_ns();
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
            read.map(|_| (line + &rest, arrived))
        })
    });
    let mut stderr = String::new();
    if let Some(mut pipe) = waiter.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    let status = waiter.wait();
    let answer = answer_reader
        .context("the waiter's stdout was not piped")?
        .join()
        .map_err(|_| anyhow!("the answer's reader thread panicked"))?
        .context("cannot read tracer wait's answer")?;
    let (target_status, reaped) = reaper
        .join()
        .map_err(|_| anyhow!("the reaper thread panicked"))?
        .context("cannot wait for the target")?;
    let status = status.context("cannot wait for tracer wait")?;
    let (stdout, arrived) = answer;
    let stamped = fs::read_to_string(&stamp);
    let _ = fs::remove_file(&stamp);
    ensure!(
        status.success(),
        "`{}` failed with {status}: {}",
        cmd::display(&command),
        stderr.trim()
    );
    ensure!(
        target_status.success(),
        "the target exited with {target_status}"
    );
    let answer: Value = serde_json::from_str(&stdout)
        .with_context(|| format!("tracer wait --json printed no JSON: {stdout:?}"))?;
    let gone = answer["gone"].as_array().and_then(|gone| {
        gone.iter()
            .find(|entry| entry["pid"].as_u64() == Some(u64::from(pid)))
    });
    ensure!(
        gone.is_some_and(|entry| entry["returncode"].as_i64() == Some(0)),
        "tracer wait did not report pid {pid} gone with returncode 0 (was it waiting before the \
         exit?): {}",
        stdout.trim()
    );
    let stamped: u64 = stamped
        .context("the target wrote no stamp")?
        .trim()
        .parse()
        .context("the target's stamp is not a number")?;
    ensure!(
        arrived >= stamped,
        "the waiter answered before the target's exit ({} ns early)",
        stamped - arrived
    );
    Ok((
        (arrived - stamped) as f64 * 1e-9,
        reaped.saturating_sub(stamped) as f64 * 1e-9,
    ))
}

/// A duration that may be negative, as [`Unit::Seconds`] shows it.
pub(super) fn signed_duration(seconds: f64) -> String {
    if seconds < 0.0 {
        format!("−{}", Unit::Seconds.show(-seconds))
    } else {
        Unit::Seconds.show(seconds)
    }
}

/// CLOCK_MONOTONIC in ns, as Python's `time.monotonic_ns()`.
pub(super) fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
    }
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
