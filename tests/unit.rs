//! The hardened systemd unit, `contrib/systemd/tracer-agent.service`, against the real kernel.
//!
//! systemd is not PID 1 on the machines the tests run on, so the unit cannot be started; what
//! it promises is checked in two halves:
//! - the file itself, by `systemd-analyze verify` and `systemd-analyze security --offline`
//!   (the directives issue 13 asks for are present and the exposure score stays "OK");
//! - its sandbox, rebuilt from the file with the kernel's own tools: the agent runs with only
//!   the unit's capability bounding set and no-new-privs (`setpriv`), in a mount namespace
//!   where every mount but the runtime directory is read-only and `/home` and `/tmp` are empty
//!   (`unshare`, as ProtectSystem=strict, ProtectHome and PrivateTmp do). There it must do its
//!   whole job — eBPF, every user's private fields, signals, the socket's group, a clean stop —
//!   and without any one of those capabilities some part of it must fail: the set is what the
//!   agent needs, no more.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{tracer_bin, SystemGroup as Group};
use serde_json::Value;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contrib/systemd/tracer-agent.service"
);
const GROUP: &str = "tracerunit";

/// The value of `key=` in the unit (the last one, as systemd reads it).
fn directive(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .rev()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
}

/// The unit's capability bounding set, as `setpriv --bounding-set` names them (`bpf`, …).
fn unit_capabilities() -> Vec<String> {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let set = directive(&unit, "CapabilityBoundingSet").expect("CapabilityBoundingSet");
    set.split_whitespace()
        .map(|cap| {
            cap.strip_prefix("CAP_")
                .unwrap_or_else(|| panic!("{cap} is not a capability name"))
                .to_lowercase()
        })
        .collect()
}

/// The bit of a capability in `/proc/PID/status`'s masks.
fn capability_bit(name: &str) -> u32 {
    match name {
        "chown" => 0,
        "dac_read_search" => 2,
        "kill" => 5,
        "sys_ptrace" => 19,
        "perfmon" => 38,
        "bpf" => 39,
        other => panic!("capability {other} unknown to this test: add its bit"),
    }
}

/// The runtime directory, as systemd makes it for the unit: root:GROUP 0750 under /run.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn new(group: &Group, name: &str) -> RuntimeDir {
        let dir = PathBuf::from(format!("/run/tracer-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::chown(&dir, Some(0), Some(group.gid)).unwrap();
        RuntimeDir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("tracer.sock")
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Rebuilds the unit's sandbox in a mount namespace and execs ARGS in it: empty `/home` and
/// `/tmp`, every mount read-only but the API filesystems and the runtime directory, then only
/// `caps` in the bounding set and no-new-privs.
const SANDBOX: &str = r#"
dir=$1; caps=$2; shift 2
mount -t tmpfs -o mode=0755 tmpfs /home
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount --bind "$dir" "$dir"
for mp in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$mp" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$dir") ;;
    *) mount -o remount,bind,ro "$mp" 2>/dev/null ;;
  esac
done
exec setpriv --bounding-set "-all,$caps" --no-new-privs "$@"
"#;

/// The binary under test, installed where the sandbox does not hide it (as the unit's
/// /usr/local/bin would be): the build may live under /tmp, which PrivateTmp empties.
fn installed() -> PathBuf {
    let dir = PathBuf::from(format!("/var/lib/tracer-unit-{}", std::process::id()));
    let bin = dir.join("tracer");
    if !bin.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(tracer_bin(), &bin).unwrap();
    }
    bin
}

/// Removes the installed copy.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(format!("/var/lib/tracer-unit-{}", std::process::id()));
    }
}

/// The agent in the unit's sandbox with `caps`.
struct Agent {
    child: Child,
    socket: PathBuf,
    /// What it printed before listening (or before it failed).
    started: String,
}

impl Agent {
    /// Starts it; `None` (with what it printed) when it exits before listening.
    fn start(dir: &RuntimeDir, caps: &[String]) -> Result<Agent, String> {
        let socket = dir.socket();
        let caps = caps
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", SANDBOX, "sh"])
            .arg(&dir.0)
            .arg(&caps)
            .arg(installed())
            .arg("--socket")
            .arg(&socket)
            .args(["agent", "--socket-group", GROUP])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the sandboxed agent");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut started = String::new();
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                return Err(format!("{started}(exited: {status})"));
            }
            started.push_str(&line);
            if line.contains("listening on") {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ok(Agent {
            child,
            socket,
            started,
        })
    }

    fn tracer(&self, args: &[&str]) -> std::process::Output {
        Command::new(tracer_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.tracer(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: no JSON ({e}): {} / {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// SIGTERM, and how it exited.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the agent did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sleep 60` as nobody, with a working directory and an environment only its owner (or
/// CAP_SYS_PTRACE with CAP_DAC_READ_SEARCH) may read.
fn nobodys_sleep() -> Child {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sleep",
            "60",
        ])
        .current_dir("/")
        .env("TRACER_UNIT_SECRET", "42")
        .spawn()
        .unwrap()
}

/// What the sandboxed agent could and could not do.
#[derive(Debug, Default)]
struct Outcome {
    started: bool,
    ebpf: bool,
    reads_io: bool,
    reads_environ: bool,
    signals: bool,
    socket_grouped: bool,
}

/// Runs the agent with `caps` and tries each part of its job.
fn try_job(group: &Group, caps: &[String], name: &str) -> (Outcome, String) {
    let dir = RuntimeDir::new(group, name);
    let agent = match Agent::start(&dir, caps) {
        Ok(agent) => agent,
        Err(said) => return (Outcome::default(), said),
    };
    let mut outcome = Outcome {
        started: true,
        ..Outcome::default()
    };
    let stats = agent.json(&["stats", "--json"]);
    outcome.ebpf = stats["backend"] == "ebpf";
    let meta = std::fs::metadata(&agent.socket).unwrap();
    outcome.socket_grouped = meta.gid() == group.gid && meta.mode() & 0o777 == 0o660;
    let mut sleeper = nobodys_sleep();
    std::thread::sleep(Duration::from_millis(300));
    let pid = sleeper.id().to_string();
    let rows = agent.json(&[
        "ps",
        "--json",
        "--attrs",
        "pid,exe,io_counters,environ",
        "--pid",
        &pid,
    ]);
    let row = &rows[0];
    assert_eq!(row["exe"], "/usr/bin/sleep", "{rows}");
    outcome.reads_io = row["io_counters"]["read_chars"].is_u64();
    outcome.reads_environ = row["environ"]["TRACER_UNIT_SECRET"] == "42";
    let _ = agent.tracer(&["kill", &pid]);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !outcome.signals {
        outcome.signals = sleeper.try_wait().unwrap().is_some();
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let said = agent.started.clone();
    let socket = agent.socket.clone();
    let status = agent.stop();
    assert!(status.success(), "{name}: the agent's stop: {status}");
    assert!(!socket.exists(), "{name}: the socket outlived the agent");
    (outcome, said)
}

#[test]
#[ignore = "needs root: runs the agent with the unit's capabilities in a mount namespace"]
fn the_agent_does_its_whole_job_in_the_units_sandbox_and_needs_every_capability_it_keeps() {
    let group = Group::new(GROUP);
    let _installed = Installed;
    let caps = unit_capabilities();
    assert!(
        caps.iter().any(|c| c == "bpf") && !caps.iter().any(|c| c == "sys_admin"),
        "{caps:?}"
    );

    // The sandbox is what it claims: the agent's bounding set is exactly the unit's, with
    // no-new-privs, and it cannot write outside its runtime directory.
    let dir = RuntimeDir::new(&group, "probe");
    let agent = Agent::start(&dir, &caps).unwrap_or_else(|said| panic!("{said}"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.child.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap()
            .to_string()
    };
    let expected: u64 = caps.iter().map(|c| 1u64 << capability_bit(c)).sum();
    assert_eq!(
        u64::from_str_radix(&field("CapBnd:"), 16).unwrap(),
        expected,
        "{status}"
    );
    assert_eq!(field("NoNewPrivs:"), "1");
    let probe = Command::new("nsenter")
        .args(["-t", &agent.child.id().to_string(), "-m", "sh", "-c"])
        .arg("touch /var/tmp/tracer-unit-probe 2>&1; ls /home")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&probe.stdout);
    assert!(said.contains("Read-only file system"), "{said}");
    assert!(!Path::new("/var/tmp/tracer-unit-probe").exists());
    drop(agent);
    drop(dir);

    // With every capability of the unit: the whole job.
    let (full, said) = try_job(&group, &caps, "full");
    assert!(
        full.started
            && full.ebpf
            && full.reads_io
            && full.reads_environ
            && full.signals
            && full.socket_grouped,
        "{full:?}: {said}"
    );

    // Without any one of them, the part of the job it serves fails.
    for dropped in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != dropped).cloned().collect();
        let (outcome, said) = try_job(&group, &fewer, dropped);
        let broken = match dropped.as_str() {
            "bpf" | "perfmon" => outcome.started && !outcome.ebpf,
            "sys_ptrace" => outcome.started && !outcome.reads_io,
            "dac_read_search" => outcome.started && !outcome.reads_environ,
            "kill" => outcome.started && !outcome.signals,
            "chown" => !outcome.started && said.contains("cannot give"),
            other => panic!("no check for {other}: say in this test what it is for"),
        };
        assert!(
            broken,
            "without CAP_{} the agent still did everything it is for ({outcome:?}: {said}): \
             drop it from the unit",
            dropped.to_uppercase()
        );
    }
}

#[test]
fn the_unit_file_verifies_and_keeps_its_hardening() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("RuntimeDirectory", "tracer"),
        ("RuntimeDirectoryMode", "0750"),
    ] {
        assert_eq!(directive(&unit, key).as_deref(), Some(value), "{key}");
    }
    for key in ["MemoryMax", "TasksMax", "CapabilityBoundingSet"] {
        assert!(directive(&unit, key).is_some(), "{key} missing");
    }
    assert!(
        directive(&unit, "ProtectProc").is_none() && directive(&unit, "ProcSubset").is_none(),
        "the agent must see every process"
    );
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze missing: `cargo xtask setup` installs it"
        );
        eprintln!("systemd-analyze not installed (cargo xtask setup): only the directives checked");
        return;
    };
    // verify wants ExecStart's binary to exist: point it at the one under test.
    let dir = std::env::temp_dir().join(format!("tracer-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("tracer-agent.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/tracer", &tracer_bin().display().to_string()),
    )
    .unwrap();
    let verify = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success()
            && !said
                .lines()
                .any(|l| l.contains("tracer-agent.service") && !l.contains("is not executable")),
        "systemd-analyze verify: {said}"
    );
    let security = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for tracer-agent.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {text}"));
    let _ = std::fs::remove_dir_all(&dir);
    // systemd calls ≤ 4.9 "OK"; a root agent with BPF and ptrace cannot go much lower.
    assert!(score <= 4.9, "exposure {score}: {text}");
}
