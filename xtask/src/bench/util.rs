//! Helpers shared by the measurements: asking the bench's agent, reading `/proc` for a
//! peer's CPU and memory, the host's description, tracefs, python, statistics and formatting.

use super::*;

/// `tracer --socket S stats --json`.
pub(super) fn agent_stats(ctx: &Ctx) -> Result<Value> {
    agent_query(ctx, &["stats", "--json"])
}

/// The agent's exited entries (`ps --exited`) with pid, ppid and exit code.
pub(super) fn agent_exited(ctx: &Ctx) -> Result<Vec<Value>> {
    match agent_query(
        ctx,
        &["ps", "--exited", "--json", "--attrs", "pid,ppid,exit_code"],
    )? {
        Value::Array(entries) => Ok(entries),
        other => bail!(
            "tracer ps --exited --json printed no array: {}",
            shorten(&other.to_string(), 200)
        ),
    }
}

/// Runs a tracer command against the bench's agent and parses its JSON answer.
pub(super) fn agent_query(ctx: &Ctx, args: &[&str]) -> Result<Value> {
    let mut command = Command::new(&ctx.tracer);
    command.arg("--socket").arg(&ctx.socket).args(args);
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
    tracer_json(&output.stdout)
        .with_context(|| format!("`{}` printed no JSON", cmd::display(&command)))
}

/// CPU seconds (user + system, all threads) of process `pid`: fields 14 and 15 of
/// /proc/PID/stat over CLK_TCK.
pub(super) fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // Fields after the command name (which may hold spaces) start with field 3.
    let rest = &text[text.rfind(')').context("no ) in /proc/PID/stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| -> Result<f64> {
        fields
            .get(number - 3)
            .and_then(|field| field.parse::<f64>().ok())
            .with_context(|| format!("no field {number} in {path}"))
    };
    Ok((field(14)? + field(15)?) / clock_ticks() as f64)
}

/// CPU seconds of process `pid`, all its threads (those that ended included), from the
/// kernel's CPU clock of the process: the time utime + stime count in clock ticks, to the ns.
pub(super) fn process_cpu_time(pid: u32) -> Result<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: a valid pointer to a clockid_t.
    let error = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    ensure!(
        error == 0,
        "no CPU clock for process {pid}: {}",
        std::io::Error::from_raw_os_error(error)
    );
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec.
    if unsafe { libc::clock_gettime(clock, &mut time) } != 0 {
        bail!(
            "cannot read the CPU clock of process {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9)
}

pub(super) fn clock_ticks() -> i64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks
    } else {
        100
    }
}

/// Run time in ns of each thread of `pid` (first field of /proc/PID/task/TID/schedstat);
/// empty when the kernel has no schedstat (CONFIG_SCHED_INFO).
pub(super) fn thread_run_times(pid: u32) -> HashMap<u32, u64> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    tasks
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let tid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let text = fs::read_to_string(entry.path().join("schedstat")).ok()?;
            Some((tid, text.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// A `kB` line of /proc/PID/status (`VmRSS`, `VmHWM`), in bytes.
pub(super) fn proc_status_bytes(pid: u32, key: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            let kib: f64 = value.split_whitespace().next()?.parse().ok()?;
            Some(kib * 1024.0)
        })
        .with_context(|| format!("no {key} in {path}"))
}

// ---------------------------------------------------------------------------------------------
// The host, tracefs, python

/// Where and when the run happened.
pub(super) struct Host {
    /// UTC, `2025-01-31 12:34:56 UTC`.
    pub(super) date: String,
    /// For file names: `2025-01-31T12-34-56Z`.
    pub(super) stamp: String,
    pub(super) kernel: String,
    pub(super) cpus: usize,
    pub(super) cpu_model: String,
    pub(super) commit: String,
    pub(super) dirty: bool,
}

impl Host {
    pub(super) fn probe() -> Host {
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
pub(super) struct Tracefs {
    pub(super) status: std::result::Result<(), String>,
    pub(super) mounted_here: bool,
}

impl Tracefs {
    pub(super) fn ensure() -> Tracefs {
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
pub(super) fn real_python() -> std::result::Result<PathBuf, String> {
    cmd::probe(cmd::new("python3").args(["-c", "import sys; print(sys.executable)"]))
        .map(|path| PathBuf::from(path.trim()))
        .filter(|path| path.is_file())
        .ok_or_else(|| "python3 is not installed or does not run".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// `text` cut to at most `max` bytes (at a character boundary), with `…` when cut.
pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(super) fn median(samples: &[f64]) -> Option<f64> {
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

/// The nearest-rank percentile `q` (0 < q ≤ 1) of `samples`.
pub(super) fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub(super) fn median_usize(values: impl Iterator<Item = usize>) -> u64 {
    let samples: Vec<f64> = values.map(|value| value as f64).collect();
    median(&samples).map_or(0, |median| median.round() as u64)
}

pub(super) fn fraction(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub(super) fn percent(part: usize, whole: usize) -> String {
    format!("{:.2}%", fraction(part, whole) * 100.0)
}

/// `1234567` → `1,234,567`.
pub(super) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).unwrap_or_default())
        .collect();
    groups.join(",")
}

pub(super) fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// Seconds since the epoch → UTC (year, month, day, hour, minute, second).
pub(super) fn utc(seconds: u64) -> (i64, u32, u32, u64, u64, u64) {
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

/// Parses JSON that tracer printed. tracer writes bytes that are not UTF-8 (a process's odd
/// arguments) as lone surrogate escapes (`\udcXX`, Python's surrogateescape), which
/// serde_json refuses: the bench only counts and compares, so they are read as `\xXX` text.
pub(super) fn tracer_json(bytes: &[u8]) -> serde_json::Result<Value> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        let lone_surrogate = escape.len() >= 6
            && escape[..4].eq_ignore_ascii_case("\\udc")
            && escape[4..6].bytes().all(|b| b.is_ascii_hexdigit());
        if lone_surrogate {
            out.push_str("\\\\x");
            out.push_str(&escape[4..6]);
            rest = &escape[6..];
        } else {
            let len = escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    serde_json::from_str(&out)
}
