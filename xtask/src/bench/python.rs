//! Measurement 8 (issue 16): the Python package. `tracer.psutil.process_iter(["pid", "ppid",
//! "name", "cmdline", "username", "create_time"])` through the agent against psutil's over at
//! least 2,000 processes, timed inside one interpreter and as whole processes (interpreter
//! start-up and imports included); and `wait_procs`' latency on a process that is not the
//! waiter's child, from its exit stamp to the return (psutil polls; tracer is woken by the
//! agent's exit event). Beside the wall time in the interpreter, the CPU per call: the
//! driver's own, plus the agent's (its threads' schedstat) for tracer — robust to a loaded
//! host, where the wall time is mostly waiting for a CPU. The whole-process floor is measured in the same run: `python -c pass`
//! (the interpreter's start-up, the baseline) and the imports alone, so that psutil's whole time
//! over the floor is the best whole-process ratio any Python package could reach. The driver is
//! bench/python_psutil.py, run with the package's venv; it byte-compiles the package first, as
//! `pip install` does.

use super::*;

const SUBJECTS: [&str; 2] = ["tracer.psutil via the agent", "psutil"];
/// The whole-process floor: the interpreter's start-up (the baseline), then the imports alone.
const FLOOR: [&str; 3] = [
    "python -c pass",
    "python -c 'import psutil'",
    "python -c 'import tracer.psutil'",
];

pub(super) fn python_package(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = tasks::python_package(false)?;
    let mut sleepers = Sleepers::default();
    let present = fill_to(&mut sleepers, MIN_PROCESSES, "python")?;
    let socket = ctx.work.join("python-bench.sock");
    let mut agent = Command::new(&ctx.tracer)
        .args(["agent", "--socket"])
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start tracer agent")?;
    let deadline = Instant::now() + PEER_TIMEOUT;
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if Instant::now() > deadline {
            let _ = agent.kill();
            bail!("the agent did not listen within {PEER_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    say!(
        "python: {} repetitions over {} processes …",
        ctx.reps,
        thousands(present as u64)
    );
    let output = Command::new(&python)
        .arg(ctx.scripts.join("python_psutil.py"))
        .arg(ctx.reps.to_string())
        .env("TRACER_SOCKET", &socket)
        .env("TRACER_BENCH_AGENT_PID", agent.id().to_string())
        .stdin(Stdio::null())
        .output()
        .context("cannot run bench/python_psutil.py");
    let _ = Command::new("kill").arg(agent.id().to_string()).status();
    let _ = agent.wait();
    drop(sleepers);
    let output = output?;
    ensure!(
        output.status.success(),
        "bench/python_psutil.py failed with {}: {}",
        output.status,
        shorten(String::from_utf8_lossy(&output.stderr).trim(), 400)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for (kind, measurement, meaning, subjects) in [
        (
            "inpython",
            "Python process_iter, 6 attrs, in the interpreter",
            "psutil / tracer",
            &SUBJECTS[..],
        ),
        (
            "cpu",
            "Python process_iter, 6 attrs, CPU per call (client + agent)",
            "psutil / tracer",
            &SUBJECTS[..],
        ),
        (
            "process",
            "Python process_iter, 6 attrs, whole process",
            "psutil / tracer",
            &SUBJECTS[..],
        ),
        (
            "process",
            "Python start-up alone, whole process (the floor)",
            "× the interpreter's start-up",
            &FLOOR[..],
        ),
        (
            "wait",
            "Python wait_procs of a non-child, exit → return",
            "psutil / tracer",
            &SUBJECTS[..],
        ),
    ] {
        let mut group: Vec<Row> = subjects
            .iter()
            .map(|subject| {
                let line = lines
                    .iter()
                    .find(|l| l["kind"] == kind && l["subject"] == *subject);
                let samples: Vec<f64> = line
                    .and_then(|l| l["seconds"].as_array())
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                let listed = line.and_then(|l| l["processes"].as_u64());
                let extra = match (kind, listed) {
                    ("inpython" | "cpu", _) | ("process", Some(_)) => {
                        format!("{} processes", listed.unwrap_or(0))
                    }
                    ("wait", _) => format!(
                        "returncode {}",
                        line.map(|l| l["returncode"].to_string())
                            .unwrap_or_default()
                    ),
                    _ => String::new(),
                };
                Row {
                    measurement: measurement.to_owned(),
                    subject: (*subject).to_owned(),
                    unit: Unit::Seconds,
                    error: samples
                        .is_empty()
                        .then(|| format!("the driver printed no {kind} samples")),
                    samples,
                    ratio: Ratio::None,
                    extra,
                    targets: Vec::new(),
                    details: line.cloned().unwrap_or(Value::Null),
                }
            })
            .collect();
        compare(&mut group, 0, meaning);
        rows.extend(group);
    }
    Ok(rows)
}
