//! `cargo xtask build`, `run` and `test`: each sets up first, then drives cargo. (`bench` is in
//! bench/; it builds with [`build`].)

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus};

use anyhow::{bail, ensure, Context, Result};

use crate::cmd::{self, say};
use crate::setup::setup;

/// Sets up, then builds the tracer binary with its eBPF object embedded; returns its path.
pub fn build(debug: bool) -> Result<PathBuf> {
    setup()?;
    let mut build = cmd::cargo()?;
    build.args(["build", "-p", "tracer"]);
    if !debug {
        build.arg("--release");
    }
    // tracer's build script compiles tracer-ebpf with nightly; with this variable set it fails
    // instead of embedding an empty object when that compilation fails.
    build.env("TRACER_REQUIRE_EBPF", "1");
    say!("build: `{}`", cmd::display(&build));
    cmd::run(&mut build).context("build failed")?;

    let binary = target_dir()?
        .join(if debug { "debug" } else { "release" })
        .join("tracer");
    ensure!(
        binary.is_file(),
        "build succeeded but {} does not exist",
        binary.display()
    );
    say!("build: ok, {}", binary.display());
    Ok(binary)
}

/// Sets up, builds, then replaces this process with the tracer binary run with `args`, so that
/// signals reach tracer directly and its exit status is xtask's.
pub fn run(args: &[OsString]) -> Result<()> {
    let binary = build(false)?;
    say!("run: {} {}", binary.display(), shown(args));
    let error = Command::new(&binary).args(args).exec();
    Err(error).with_context(|| format!("cannot execute {}", binary.display()))
}

/// Sets up, builds, then runs the gates (rustfmt, clippy in the Linux and the portable
/// configurations, rustdoc), the unit tests, checks the portable build for macOS and Windows,
/// builds it for Linux, and runs the integration tests (against the real kernel, one at a
/// time; the portable binary's among them). Every step runs even when one fails; xtask then
/// exits with status 1.
///
/// Root-only integration tests are `#[ignore = "needs root: …"]`: as root they run
/// (`--include-ignored`); otherwise they show as ignored, and where `CI` is set the
/// integration step fails, since CI must run them.
///
/// `extra` goes to both `cargo test` invocations; what follows a `--` in it goes to the test
/// harness.
pub fn test(extra: &[OsString]) -> Result<ExitCode> {
    let binary = build(false)?;
    let (cargo_args, harness_args) = match extra.iter().position(|arg| arg == "--") {
        Some(dash) => (&extra[..dash], &extra[dash + 1..]),
        None => (extra, &[][..]),
    };
    // The portable build has its own target directory (its build script's cfg differs), which
    // its clippy run shares.
    let portable_dir = target_dir()?.join("portable");
    let mut steps = Steps::new(10);

    let mut fmt = cmd::cargo()?;
    fmt.args(["fmt", "--all", "--check"]);
    steps.run("rustfmt", &mut fmt)?;

    let mut clippy = cmd::cargo()?;
    clippy.args(CLIPPY).args(DENY_WARNINGS);
    steps.run("clippy", &mut clippy)?;

    // The integration tests drive the Linux library (its eBPF and /proc parts); they run the
    // portable build as a binary only, so they are not built in its configuration.
    let mut clippy_portable = cmd::cargo()?;
    clippy_portable
        .args(CLIPPY)
        .args([
            "--exclude",
            "tracer-tests",
            "--exclude",
            "tracer-python",
            "--target-dir",
        ])
        .arg(&portable_dir)
        .args(DENY_WARNINGS)
        .env("TRACER_PORTABLE", "1");
    steps.run("clippy, portable (TRACER_PORTABLE=1)", &mut clippy_portable)?;

    let mut doc = cmd::cargo()?;
    doc.args(["doc", "-p", "tracer", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    steps.run("rustdoc", &mut doc)?;

    let mut unit = cmd::cargo()?;
    unit.args([
        "test",
        "--workspace",
        "--exclude",
        "tracer-ebpf",
        "--exclude",
        "tracer-tests",
        // Its tests are pytest's (the Python package step below).
        "--exclude",
        "tracer-python",
    ])
    .args(cargo_args);
    if !harness_args.is_empty() {
        unit.arg("--").args(harness_args);
    }
    steps.run("unit tests", &mut unit)?;

    // The portable build (the sysinfo backend), as macOS and Windows compile it: `cargo check`
    // needs their standard libraries only (`cargo xtask setup` adds them).
    let mut checks = Vec::new();
    for target in crate::setup::CROSS_TARGETS {
        let mut check = cmd::cargo()?;
        check.args(["check", "-p", "tracer", "--target", target]);
        checks.push(check);
    }
    steps.run_all("cross-target check", &mut checks)?;

    // The portable build for Linux, so that the integration tests run it here.
    let mut portable = cmd::cargo()?;
    portable
        .args(["build", "--release", "-p", "tracer", "--target-dir"])
        .arg(&portable_dir)
        .env("TRACER_PORTABLE", "1");
    let portable_built = steps.run("portable build (TRACER_PORTABLE=1)", &mut portable)?;
    let portable_binary = portable_dir.join("release").join("tracer");

    let root = cmd::is_root();
    let ci = std::env::var_os("CI").is_some();
    let mut integration = cmd::cargo()?;
    integration
        // Every test file runs even when one before it fails: one run shows every failure.
        .args(["test", "-p", "tracer-tests", "--no-fail-fast"])
        .args(cargo_args)
        .args(["--", "--test-threads=1"])
        .args(harness_args)
        .env("RUST_BACKTRACE", "1")
        .env("TRACER_BIN", &binary);
    let told = |flag: &str| harness_args.iter().any(|arg| arg == flag);
    if root && !told("--include-ignored") && !told("--ignored") {
        integration.arg("--include-ignored");
    }
    if portable_built {
        integration.env("TRACER_PORTABLE_BIN", &portable_binary);
    }
    let note = match (root, ci) {
        (true, _) => None,
        (false, true) => Some("not root and CI is set: root-only tests cannot run, so this fails"),
        (false, false) => Some("not root: root-only tests show as ignored"),
    };
    if let Some(note) = note {
        say!("test {}/{}: note: {note}", steps.done + 1, steps.total);
    }
    let passed = steps.run("integration tests", &mut integration)?;
    if passed && !root && ci {
        steps.fail_last("root-only tests did not run: not root and CI is set");
    }

    // Each fuzz target over its committed corpus, then briefly further (`cargo xtask fuzz`
    // runs them longer).
    let mut smokes = crate::fuzz::TARGETS
        .iter()
        .map(|target| crate::fuzz::command(target, crate::fuzz::SMOKE_SECONDS))
        .collect::<Result<Vec<_>>>()?;
    steps.run_all("fuzz smoke (cargo-fuzz, nightly)", &mut smokes)?;

    // The Python package: built by maturin into its venv (one PyO3 build, reused by the
    // bench), then its pytest suite against a real agent and psutil (exit 5, no test ran,
    // fails the step like any other non-zero status).
    let venv = python_venv()?;
    let mut python_steps = python_build_commands(&venv, false)?;
    let mut pytest = Command::new(venv.join("bin").join("python"));
    pytest
        .args(["-m", "pytest", "-q", "-rfE"])
        .arg(cmd::workspace_root()?.join("python").join("tests"))
        .env("TRACER_BIN", &binary)
        .env("TRACER_PSUTIL_SDIST", target_dir()?.join("psutil-sdist"));
    python_steps.push(pytest);
    steps.run_sequence("python package (maturin, pytest)", &mut python_steps)?;

    say!("test: {}", steps.summary());
    Ok(if steps.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The Python package's venv (`target/python-venv`, with the system's site packages: psutil
/// and pytest come from there).
fn python_venv() -> Result<PathBuf> {
    Ok(target_dir()?.join("python-venv"))
}

/// The commands that make the venv and build the package into it with maturin (release, with
/// `TRACER_REQUIRE_EBPF` as [`build`] sets it, so that tracer's release build is reused).
fn python_build_commands(venv: &std::path::Path, quiet: bool) -> Result<Vec<Command>> {
    let mut make = cmd::new("python3");
    make.args(["-m", "venv", "--system-site-packages"])
        .arg(venv);
    let mut maturin = cmd::new("python3");
    maturin
        .args(["-m", "maturin", "develop", "--release", "-m"])
        .arg(cmd::workspace_root()?.join("python").join("Cargo.toml"))
        .env("VIRTUAL_ENV", venv)
        .env("TRACER_REQUIRE_EBPF", "1");
    if quiet {
        maturin.arg("--quiet");
    }
    Ok(vec![make, maturin])
}

/// Builds the Python package into its venv (for the bench) and returns the venv's python.
pub fn python_package(quiet: bool) -> Result<PathBuf> {
    let venv = python_venv()?;
    for mut command in python_build_commands(&venv, quiet)? {
        say!("python package: `{}`", cmd::display(&command));
        cmd::run(&mut command).context("building the Python package failed")?;
    }
    Ok(venv.join("bin").join("python"))
}

/// clippy over every crate but the kernel programs (built for their own target), all targets;
/// [`DENY_WARNINGS`] ends the command.
const CLIPPY: [&str; 5] = [
    "clippy",
    "--workspace",
    "--all-targets",
    "--exclude",
    "tracer-ebpf",
];
/// clippy's warnings as errors.
const DENY_WARNINGS: [&str; 3] = ["--", "-D", "warnings"];

/// The numbered steps of `cargo xtask test`, each announced as `test N/M: what: `command``
/// and judged at the end.
struct Steps {
    total: usize,
    done: usize,
    verdicts: Vec<(&'static str, std::result::Result<(), String>)>,
}

impl Steps {
    fn new(total: usize) -> Steps {
        Steps {
            total,
            done: 0,
            verdicts: Vec::new(),
        }
    }

    /// Runs the next step; whether it passed.
    fn run(&mut self, what: &'static str, command: &mut Command) -> Result<bool> {
        self.run_all(what, std::slice::from_mut(command))
    }

    /// Runs every command of the next step, all of them even when one fails; whether all
    /// passed.
    fn run_all(&mut self, what: &'static str, commands: &mut [Command]) -> Result<bool> {
        self.done += 1;
        let mut verdict = Ok(());
        for command in commands {
            say!(
                "test {}/{}: {what}: `{}`",
                self.done,
                self.total,
                cmd::display(command)
            );
            let status = cmd::status(command)?;
            if !status.success() && verdict.is_ok() {
                verdict = Err(failed(command, status));
            }
        }
        let passed = verdict.is_ok();
        self.verdicts.push((what, verdict));
        Ok(passed)
    }

    /// Runs the commands of the next step in order, stopping at the first that fails; whether
    /// all passed.
    fn run_sequence(&mut self, what: &'static str, commands: &mut [Command]) -> Result<bool> {
        self.done += 1;
        let mut verdict = Ok(());
        for command in commands {
            say!(
                "test {}/{}: {what}: `{}`",
                self.done,
                self.total,
                cmd::display(command)
            );
            let status = cmd::status(command)?;
            if !status.success() {
                verdict = Err(failed(command, status));
                break;
            }
        }
        let passed = verdict.is_ok();
        self.verdicts.push((what, verdict));
        Ok(passed)
    }

    /// Marks the last step failed for `why`.
    fn fail_last(&mut self, why: &str) {
        if let Some((_, verdict)) = self.verdicts.last_mut() {
            *verdict = Err(why.to_owned());
        }
    }

    fn all_passed(&self) -> bool {
        self.verdicts.iter().all(|(_, verdict)| verdict.is_ok())
    }

    /// `what passed; what FAILED (why); …`.
    fn summary(&self) -> String {
        self.verdicts
            .iter()
            .map(|(what, verdict)| match verdict {
                Ok(()) => format!("{what} passed"),
                Err(why) => format!("{what} FAILED ({why})"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why a step's command failed: its status, and for a cross-target check the target.
fn failed(command: &Command, status: ExitStatus) -> String {
    let args: Vec<_> = command.get_args().collect();
    match args.iter().position(|arg| *arg == "--target") {
        Some(i) if i + 1 < args.len() => format!("{}: {status}", args[i + 1].to_string_lossy()),
        _ => status.to_string(),
    }
}

/// Cargo's target directory, wherever `CARGO_TARGET_DIR` or the configuration put it.
pub fn target_dir() -> Result<PathBuf> {
    let mut metadata = cmd::cargo()?;
    metadata.args(["metadata", "--format-version", "1", "--no-deps"]);
    let output = metadata
        .output()
        .with_context(|| format!("cannot run `{}`", cmd::display(&metadata)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed with {}: {}",
            cmd::display(&metadata),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cannot parse `cargo metadata` output")?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` output has no target_directory")
}

fn shown(args: &[OsString]) -> String {
    args.iter()
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_runs_and_the_summary_names_each_verdict() {
        let mut steps = Steps::new(3);
        assert!(!steps.run("first", &mut Command::new("false")).unwrap());
        let mut both = [Command::new("false"), Command::new("true")];
        both[0].args(["--target", "x86_64-apple-darwin"]);
        assert!(!steps.run_all("second", &mut both).unwrap());
        assert!(steps.run("third", &mut Command::new("true")).unwrap());
        assert_eq!(steps.done, 3);
        assert!(!steps.all_passed());
        assert_eq!(
            steps.summary(),
            "first FAILED (exit status: 1); second FAILED (x86_64-apple-darwin: exit status: 1); \
             third passed"
        );
        steps.fail_last("root-only tests did not run");
        assert!(steps
            .summary()
            .ends_with("third FAILED (root-only tests did not run)"));
    }
}
