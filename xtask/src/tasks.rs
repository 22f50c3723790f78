//! `cargo xtask build`, `run` and `test`: each sets up first, then drives cargo. (`bench` is in
//! bench.rs; it builds with [`build`].)

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

/// Sets up, builds, then runs the unit tests, checks the portable build for macOS and Windows,
/// builds it for Linux, and runs the integration tests (against the real kernel, one at a
/// time; the portable binary's among them). Every step runs even when one fails; xtask then
/// exits with status 1.
///
/// `extra` goes to both `cargo test` invocations; what follows a `--` in it goes to the test
/// harness.
pub fn test(extra: &[OsString]) -> Result<ExitCode> {
    let binary = build(false)?;
    let (cargo_args, harness_args) = match extra.iter().position(|arg| arg == "--") {
        Some(dash) => (&extra[..dash], &extra[dash + 1..]),
        None => (extra, &[][..]),
    };

    let mut unit = cmd::cargo()?;
    unit.args([
        "test",
        "--workspace",
        "--exclude",
        "tracer-ebpf",
        "--exclude",
        "tracer-tests",
    ])
    .args(cargo_args);
    if !harness_args.is_empty() {
        unit.arg("--").args(harness_args);
    }

    say!("test 1/4: unit tests: `{}`", cmd::display(&unit));
    let unit_status = cmd::status(&mut unit)?;

    // The portable build (the sysinfo backend), as macOS and Windows compile it: `cargo check`
    // needs their standard libraries only (`cargo xtask setup` adds them).
    let mut cross_status = Ok(());
    for target in crate::setup::CROSS_TARGETS {
        let mut check = cmd::cargo()?;
        check.args(["check", "-p", "tracer", "--target", target]);
        say!("test 2/4: cross-target check: `{}`", cmd::display(&check));
        let status = cmd::status(&mut check)?;
        if !status.success() && cross_status.is_ok() {
            cross_status = Err(format!("{target}: {status}"));
        }
    }

    // The portable build for Linux, so that the integration tests run it here.
    let portable_dir = target_dir()?.join("portable");
    let mut portable = cmd::cargo()?;
    portable
        .args(["build", "--release", "-p", "tracer", "--target-dir"])
        .arg(&portable_dir)
        .env("TRACER_PORTABLE", "1");
    say!(
        "test 3/4: portable build (TRACER_PORTABLE=1): `{}`",
        cmd::display(&portable)
    );
    let portable_status = cmd::status(&mut portable)?;
    let portable_binary = portable_dir.join("release").join("tracer");

    let mut integration = cmd::cargo()?;
    integration
        .args(["test", "-p", "tracer-tests"])
        .args(cargo_args)
        .args(["--", "--test-threads=1"])
        .args(harness_args)
        .env("RUST_BACKTRACE", "1")
        .env("TRACER_BIN", &binary);
    if portable_status.success() {
        integration.env("TRACER_PORTABLE_BIN", &portable_binary);
    }

    if !cmd::is_root() {
        if std::env::var_os("CI").is_some() {
            say!("test 4/4: note: not root and CI is set, so privileged tests will fail");
        } else {
            say!("test 4/4: note: not root, so privileged tests will skip themselves");
        }
    }
    say!(
        "test 4/4: integration tests: `{}`",
        cmd::display(&integration)
    );
    let integration_status = cmd::status(&mut integration)?;

    let verdict = |status: ExitStatus| {
        if status.success() {
            "passed".to_owned()
        } else {
            format!("FAILED ({status})")
        }
    };
    say!(
        "test: unit tests {}; cross-target checks {}; portable build {}; integration tests {}",
        verdict(unit_status),
        match &cross_status {
            Ok(()) => "passed".to_owned(),
            Err(failed) => format!("FAILED ({failed})"),
        },
        verdict(portable_status),
        verdict(integration_status)
    );
    Ok(
        if unit_status.success()
            && cross_status.is_ok()
            && portable_status.success()
            && integration_status.success()
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
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
