//! Measurement 8: `tracer agent --groups` against Debian's process-exporter on the same config
//! (issue 15), in one run: the group CPU each accounts for a storm of 400 processes of about
//! 5 ms each, as a fraction of the CPU their parent measured with getrusage(RUSAGE_CHILDREN)
//! (process-exporter is scraped every second through the storm, as a 1 s Prometheus would);
//! the CPU one scrape costs each server with the host at 10,000 processes or more, `{{.Comm}}`
//! groups; and the agent's CPU per process lifecycle with groups on against off.

use super::*;

/// Processes of the accounting storm, and the shell loop that burns about 5 ms here.
const STORM_PROCESSES: usize = 400;
const STORM_LOOP: &str = "i=0; while [ $i -lt 2600 ]; do i=$((i+1)); done";
/// Processes spawned per repetition of the cost-per-lifecycle measurement.
const LIFECYCLES: usize = 2_000;
/// Host size of the scrape measurement.
const SCRAPE_PROCESSES: usize = 10_000;

/// The storm's parent: spawns the shells one after another (the marker reaches them through
/// the environment, so that the parent is not in their group), prints the CPU they burned.
const DRIVER: &str = r#"
import os, resource, sys
marker, n, script = os.environ['STORM_MARKER'], int(sys.argv[1]), sys.argv[2]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
for _ in range(n):
    pid = os.posix_spawn('/bin/sh', ['sh', '-c', script, marker], os.environ)
    os.waitpid(pid, 0)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
print(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
"#;

/// A server of this measurement, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `GET /metrics` in one write; the body.
fn scrape(addr: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    ensure!(
        response.starts_with("HTTP/1.") && response.split(' ').nth(1) == Some("200"),
        "{addr} answered {}",
        shorten(&response, 80)
    );
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

/// The group's CPU seconds (user + system) in an exposition.
fn group_cpu(metrics: &str, group: &str) -> f64 {
    let wanted = format!("namedprocess_namegroup_cpu_seconds_total{{groupname=\"{group}\",");
    metrics
        .lines()
        .filter(|line| line.starts_with(&wanted))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn start_agent(ctx: &Ctx, groups: Option<&Path>) -> Result<Server> {
    start_agent_binary(ctx, &ctx.tracer, groups)
}

fn start_agent_binary(ctx: &Ctx, binary: &Path, groups: Option<&Path>) -> Result<Server> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut command = Command::new(binary);
    command
        .arg("--socket")
        .arg(&ctx.socket)
        .args(["agent", "--metrics", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(groups) = groups {
        command.arg("--groups").arg(groups);
    }
    let mut child = command.spawn().context("cannot start tracer agent")?;
    let mut stderr = BufReader::new(child.stderr.take().context("no stderr")?);
    let mut line = String::new();
    let deadline = Instant::now() + PEER_TIMEOUT;
    while !line.contains(AGENT_READY) {
        line.clear();
        if stderr.read_line(&mut line)? == 0 || Instant::now() > deadline {
            let _ = child.kill();
            bail!("tracer agent did not start: {}", line.trim());
        }
    }
    thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Ok(Server { child, addr })
}

fn start_exporter(config: &Path) -> Result<Server> {
    let program = cmd::which("prometheus-process-exporter")
        .context("prometheus-process-exporter is not installed (cargo xtask setup installs it)")?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let child = Command::new(program)
        .arg(format!("-config.path={}", config.display()))
        .arg(format!("-web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start prometheus-process-exporter")?;
    let server = Server { child, addr };
    let deadline = Instant::now() + PEER_TIMEOUT;
    while scrape(&server.addr).is_err() {
        ensure!(Instant::now() < deadline, "process-exporter did not answer");
        thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

fn row(measurement: &str, subject: &str, unit: Unit, samples: Vec<f64>, extra: String) -> Row {
    Row {
        measurement: measurement.to_owned(),
        subject: subject.to_owned(),
        unit,
        error: samples
            .is_empty()
            .then(|| "no repetition succeeded".to_owned()),
        samples,
        ratio: Ratio::None,
        extra,
        targets: Vec::new(),
        details: Value::Null,
    }
}

pub(super) fn groups(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|e| anyhow!(e))?;
    let marker = format!("tracer-bench-storm-{}", std::process::id());
    let config = ctx.work.join("groups.yaml");
    fs::write(
        &config,
        format!(
            "process_names:\n  - name: storm\n    cmdline: ['{marker}']\n  - name: '{{{{.Comm}}}}'\n    cmdline: ['.+']\n"
        ),
    )?;
    let mut rows = Vec::new();

    // 1. The storm's CPU, accounted by each.
    let (mut ours, mut theirs, mut burned_all) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..ctx.reps {
        say!(
            "groups: storm of {STORM_PROCESSES} × ~5 ms {}/{} …",
            rep + 1,
            ctx.reps
        );
        let agent = start_agent(ctx, Some(&config))?;
        let exporter = start_exporter(&config)?;
        let (agent_before, exporter_before) = (
            group_cpu(&scrape(&agent.addr)?, "storm"),
            group_cpu(&scrape(&exporter.addr)?, "storm"),
        );
        let mut driver = Command::new(&python)
            .args(["-c", DRIVER, &STORM_PROCESSES.to_string(), STORM_LOOP])
            .env("STORM_MARKER", &marker)
            .stdout(Stdio::piped())
            .spawn()?;
        while driver.try_wait()?.is_none() {
            scrape(&exporter.addr)?;
            thread::sleep(Duration::from_secs(1));
        }
        let mut out = String::new();
        std::io::Read::read_to_string(driver.stdout.as_mut().context("stdout")?, &mut out)?;
        let burned: f64 = out
            .trim()
            .parse()
            .context("the storm driver printed no CPU time")?;
        thread::sleep(Duration::from_millis(300));
        let agent_cpu = group_cpu(&scrape(&agent.addr)?, "storm") - agent_before;
        let exporter_cpu = group_cpu(&scrape(&exporter.addr)?, "storm") - exporter_before;
        burned_all.push(burned);
        ours.push(agent_cpu / burned);
        theirs.push(exporter_cpu / burned);
    }
    let measurement = format!(
        "group CPU accounted for {STORM_PROCESSES} processes of ~5 ms, fraction of what their parent measured (getrusage)"
    );
    let burned = median(&burned_all).unwrap_or(0.0);
    rows.push(row(
        &measurement,
        "tracer agent --groups",
        Unit::Fraction,
        ours,
        format!("storm burned {burned:.2} s (median)"),
    ));
    rows.push(row(
        &measurement,
        "process-exporter (scraped every 1 s)",
        Unit::Fraction,
        theirs,
        String::new(),
    ));

    // 2. One scrape's CPU at 10,000 processes.
    let mut sleepers = Sleepers::default();
    let present = fill_to(&mut sleepers, SCRAPE_PROCESSES, "groups scrape")?;
    let (mut ours, mut theirs, mut ours_wall, mut theirs_wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..ctx.reps {
        say!(
            "groups: scrape at {} processes {}/{} …",
            thousands(present as u64),
            rep + 1,
            ctx.reps
        );
        let agent = start_agent(ctx, Some(&config))?;
        let exporter = start_exporter(&config)?;
        // Each has looked at every process once (its first scrape): the next one is timed.
        scrape(&agent.addr)?;
        scrape(&exporter.addr)?;
        for (server, cpu, wall) in [
            (&agent, &mut ours, &mut ours_wall),
            (&exporter, &mut theirs, &mut theirs_wall),
        ] {
            let pid = server.child.id();
            let before = process_cpu_time(pid)?;
            let begun = Instant::now();
            scrape(&server.addr)?;
            wall.push(begun.elapsed().as_secs_f64());
            cpu.push(process_cpu_time(pid)? - before);
        }
    }
    drop(sleepers);
    let measurement = format!(
        "CPU of one scrape, {} processes, {{{{.Comm}}}} groups",
        thousands(present as u64)
    );
    let wall = |w: &[f64]| format!("wall {}", Unit::Seconds.show(median(w).unwrap_or(0.0)));
    rows.push(row(
        &measurement,
        "process-exporter",
        Unit::Seconds,
        theirs,
        wall(&theirs_wall),
    ));
    rows.push(row(
        &measurement,
        "tracer agent --groups",
        Unit::Seconds,
        ours,
        wall(&ours_wall),
    ));
    compare(&mut rows[2..], 0, "tracer / process-exporter");

    // 3. The agent's CPU per lifecycle, groups off and on (and, with
    // TRACER_BENCH_GROUPS_BEFORE=BINARY, another build's agent with groups on: a change's
    // before and after in the same run).
    let before = std::env::var_os("TRACER_BENCH_GROUPS_BEFORE").map(PathBuf::from);
    let (mut off, mut on, mut on_before) = (Vec::new(), Vec::new(), Vec::new());
    let spawner = format!(
        "import os\nfor _ in range({LIFECYCLES}):\n    os.waitpid(os.posix_spawn('/bin/true', ['true'], os.environ), 0)\n"
    );
    for rep in 0..ctx.reps {
        say!(
            "groups: agent CPU per lifecycle, groups off and on {}/{} …",
            rep + 1,
            ctx.reps
        );
        let mut runs = vec![
            (ctx.tracer.clone(), None, &mut off),
            (ctx.tracer.clone(), Some(config.as_path()), &mut on),
        ];
        if let Some(before) = &before {
            runs.push((before.clone(), Some(config.as_path()), &mut on_before));
        }
        for (binary, groups, samples) in runs {
            let agent = start_agent_binary(ctx, &binary, groups)?;
            let pid = agent.child.id();
            thread::sleep(Duration::from_millis(500));
            let before = process_cpu_time(pid)?;
            let status = Command::new(&python).args(["-c", &spawner]).status()?;
            ensure!(status.success(), "the spawner failed: {status}");
            thread::sleep(Duration::from_millis(200));
            samples.push((process_cpu_time(pid)? - before) / LIFECYCLES as f64 * 1e6);
        }
    }
    let measurement = format!(
        "agent CPU per process lifecycle ({LIFECYCLES} serial spawns of /bin/true), no scrape"
    );
    let first = rows.len();
    rows.push(row(
        &measurement,
        "agent, groups off",
        Unit::MicrosPerProcess,
        off,
        String::new(),
    ));
    rows.push(row(
        &measurement,
        "agent --groups ({{.Comm}})",
        Unit::MicrosPerProcess,
        on,
        String::new(),
    ));
    if let Some(before) = &before {
        rows.push(row(
            &measurement,
            "agent --groups ({{.Comm}}), before",
            Unit::MicrosPerProcess,
            on_before,
            before.display().to_string(),
        ));
    }
    compare(&mut rows[first..], 0, "on / off");
    Ok(rows)
}
