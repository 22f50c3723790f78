//! `cargo xtask setup`: installs what a fresh machine lacks to build, run and test tracer.
//!
//! Each step checks first and installs only what is missing, so a second run takes well under a
//! second. Debian packages need root; when they are missing and xtask is not root, setup stops
//! before changing anything and prints the one command to run as root.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::cmd::{self, say};

/// `llvm-config` of the LLVM that rustc and bpf-linker share (rustc 1.95 and nightly use LLVM 22).
const LLVM_CONFIG: &str = "/usr/lib/llvm-22/bin/llvm-config";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const LLVM_PACKAGE: &str = "llvm-22-dev";
/// Tools the benchmark and the tests use (peers compared against, tmux, the terminal that
/// drives `tracer top` in tests/top.rs, and the Prometheus server and process-exporter that
/// tests/groups.rs runs beside `agent --groups`, and systemd-analyze, which tests/unit.rs
/// checks the hardened unit with, and openssl, which makes tests/otlp_grpc.rs's TLS
/// collector its certificate), with the Debian packages holding them.
const PEERS: [(&str, &str); 7] = [
    ("bpftrace", "bpftrace"),
    ("forkstat", "forkstat"),
    ("tmux", "tmux"),
    ("prometheus", "prometheus"),
    ("prometheus-process-exporter", "prometheus-process-exporter"),
    ("systemd-analyze", "systemd"),
    ("openssl", "openssl"),
];
/// Debian's psutil, for when `python3` is the system interpreter (PEP 668 forbids pip there).
const PSUTIL_PACKAGE: &str = "python3-psutil";

/// The steps in order: LLVM comes before bpf-linker, which links against it.
const STEPS: [(&str, StepFn); 8] = [
    ("LLVM 22 (llvm-22-dev)", llvm),
    ("the nightly toolchain and cargo-fuzz", fuzz_tools),
    ("rust-src for nightly", rust_src),
    ("bpf-linker", bpf_linker),
    ("psutil for python3", psutil),
    (
        "maturin, pytest and venv for the Python package",
        python_tools,
    ),
    (
        "bpftrace, forkstat, tmux, prometheus, process-exporter and systemd-analyze",
        peers,
    ),
    ("the macOS and Windows standard libraries", cross_targets),
];

/// The targets the portable build is checked for (`cargo xtask test`): their standard
/// libraries are enough for `cargo check`, no linker is needed.
pub const CROSS_TARGETS: [&str; 2] = ["x86_64-apple-darwin", "x86_64-pc-windows-gnu"];

type StepFn = fn(&Step, &mut Apt) -> Result<Outcome>;

/// What a step found.
enum Outcome {
    AlreadyPresent,
    Installed,
}

/// One step's place in the sequence, for its progress lines.
struct Step {
    number: usize,
    name: &'static str,
}

impl Step {
    fn say(&self, message: impl std::fmt::Display) {
        say!(
            "setup {}/{}: {} … {message}",
            self.number,
            STEPS.len(),
            self.name
        );
    }

    /// Reports the step's result and passes it on.
    fn present(&self, detail: impl std::fmt::Display) -> Result<Outcome> {
        self.say(format_args!("already installed ({detail})"));
        Ok(Outcome::AlreadyPresent)
    }

    fn installed(&self, detail: impl std::fmt::Display) -> Result<Outcome> {
        self.say(format_args!("installed ({detail})"));
        Ok(Outcome::Installed)
    }
}

/// Runs every step; fails with the step's number and name when one fails.
pub fn setup() -> Result<()> {
    let started = Instant::now();
    require_root_for(&missing_debian_packages())?;

    let mut apt = Apt::default();
    let mut installed = Vec::new();
    for (index, (name, run)) in STEPS.into_iter().enumerate() {
        let step = Step {
            number: index + 1,
            name,
        };
        let outcome = run(&step, &mut apt)
            .with_context(|| format!("setup {}/{} ({name}) failed", step.number, STEPS.len()))?;
        if let Outcome::Installed = outcome {
            installed.push(name);
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    if installed.is_empty() {
        say!("setup: everything was already present ({elapsed:.2} s)");
    } else {
        say!(
            "setup: done in {elapsed:.0} s, installed {}",
            installed.join(", ")
        );
    }
    Ok(())
}

/// Step a: LLVM 22's development package, which bpf-linker is built against.
fn llvm(step: &Step, apt: &mut Apt) -> Result<Outcome> {
    if llvm_present() {
        return step.present(LLVM_PREFIX);
    }
    step.say(format_args!(
        "missing, installing {LLVM_PACKAGE} with apt-get"
    ));
    apt.install(&[LLVM_PACKAGE])?;
    if !llvm_present() {
        bail!("{LLVM_PACKAGE} is installed but {LLVM_CONFIG} does not exist");
    }
    step.installed(LLVM_PREFIX)
}

fn llvm_present() -> bool {
    Path::new(LLVM_CONFIG).is_file()
}

/// The nightly toolchain (the eBPF programs and the fuzz targets build with it) and cargo-fuzz
/// (`cargo xtask fuzz`, and the fuzz smoke of `cargo xtask test`).
fn fuzz_tools(step: &Step, _: &mut Apt) -> Result<Outcome> {
    let nightly = || {
        cmd::probe(cmd::new("rustup").args(["run", "nightly", "rustc", "--version"]))
            .map(|v| v.trim().to_string())
    };
    let fuzz = || {
        cmd::which("cargo-fuzz")
            .and_then(|path| cmd::probe(cmd::new(path).args(["fuzz", "--version"])))
            .map(|v| v.trim().to_string())
    };
    if let (Some(rustc), Some(fuzz)) = (nightly(), fuzz()) {
        return step.present(format_args!("{rustc}; {fuzz}"));
    }
    if nightly().is_none() {
        let mut install = cmd::new("rustup");
        install.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        step.say(format_args!(
            "nightly missing, running `{}`",
            cmd::display(&install)
        ));
        cmd::run(&mut install)?;
    }
    if fuzz().is_none() {
        let mut install = cmd::cargo()?;
        install.args(["install", "cargo-fuzz", "--locked"]);
        step.say(format_args!(
            "cargo-fuzz missing, running `{}` (takes about a minute)",
            cmd::display(&install)
        ));
        cmd::run(&mut install)?;
    }
    match (nightly(), fuzz()) {
        (Some(rustc), Some(fuzz)) => step.installed(format_args!("{rustc}; {fuzz}")),
        _ => bail!("installed, but `rustup run nightly rustc` or `cargo fuzz` still does not run"),
    }
}

/// Step b: the standard library's source for nightly, which `-Z build-std=core` compiles for
/// the eBPF target (the step before installs the nightly toolchain).
fn rust_src(step: &Step, _: &mut Apt) -> Result<Outcome> {
    if rust_src_present()? {
        return step.present("nightly toolchain");
    }
    let mut add = cmd::new("rustup");
    add.args(["component", "add", "rust-src", "--toolchain", "nightly"]);
    step.say(format_args!("missing, running `{}`", cmd::display(&add)));
    cmd::run(&mut add)?;
    if !rust_src_present()? {
        bail!(
            "`{}` succeeded but rust-src is still not listed",
            cmd::display(&add)
        );
    }
    step.installed("nightly toolchain")
}

/// Step g: the standard libraries of [`CROSS_TARGETS`] for the toolchain cargo uses here.
fn cross_targets(step: &Step, _: &mut Apt) -> Result<Outcome> {
    let missing = missing_targets()?;
    if missing.is_empty() {
        return step.present(CROSS_TARGETS.join(", "));
    }
    let mut add = cmd::new("rustup");
    add.args(["target", "add"]).args(&missing);
    step.say(format_args!("missing, running `{}`", cmd::display(&add)));
    cmd::run(&mut add)?;
    let still = missing_targets()?;
    if !still.is_empty() {
        bail!(
            "`{}` succeeded but {} still missing",
            cmd::display(&add),
            still.join(", ")
        );
    }
    step.installed(missing.join(", "))
}

/// Which of [`CROSS_TARGETS`] the active toolchain lacks.
fn missing_targets() -> Result<Vec<&'static str>> {
    let mut list = cmd::new("rustup");
    list.args(["target", "list", "--installed"]);
    let output = list
        .output()
        .with_context(|| format!("cannot run `{}`: is rustup installed?", cmd::display(&list)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed with {}: {}",
            cmd::display(&list),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let installed = String::from_utf8_lossy(&output.stdout).into_owned();
    Ok(CROSS_TARGETS
        .into_iter()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect())
}

/// Whether nightly has rust-src; fails clearly when rustup or the nightly toolchain is missing.
fn rust_src_present() -> Result<bool> {
    let mut list = cmd::new("rustup");
    list.args(["component", "list", "--toolchain", "nightly", "--installed"])
        // Newer rustup would otherwise install a missing toolchain here, unasked.
        .env("RUSTUP_AUTO_INSTALL", "0");
    let output = list
        .output()
        .with_context(|| format!("cannot run `{}`: is rustup installed?", cmd::display(&list)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("not installed") {
            bail!(
                "the nightly toolchain is not installed (the eBPF programs need it); \
                 run `rustup toolchain install nightly --component rust-src`"
            );
        }
        bail!(
            "`{}` failed with {}: {}",
            cmd::display(&list),
            output.status,
            stderr.trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.split_whitespace().next() == Some("rust-src")))
}

/// Step c: bpf-linker, which links the eBPF object; built from source against LLVM 22.
fn bpf_linker(step: &Step, _: &mut Apt) -> Result<Outcome> {
    if let Some(version) = bpf_linker_version() {
        return step.present(version);
    }
    let mut install = cmd::cargo()?;
    install
        .args([
            "install",
            "bpf-linker",
            "--no-default-features",
            "--features",
            "llvm-22",
        ])
        .env("LLVM_PREFIX", LLVM_PREFIX);
    step.say(format_args!(
        "missing, running `{}` (takes about 90 s)",
        cmd::display(&install)
    ));
    cmd::run(&mut install)?;
    let version = bpf_linker_version()
        .context("`cargo install bpf-linker` succeeded but `bpf-linker --version` does not run")?;
    step.installed(version)
}

/// `bpf-linker --version`'s first line, if bpf-linker is on PATH or in cargo's `bin` and runs.
fn bpf_linker_version() -> Option<String> {
    let linker = cmd::which("bpf-linker")?;
    let stdout = cmd::probe(Command::new(linker).arg("--version"))?;
    Some(stdout.lines().next().unwrap_or_default().trim().to_owned())
}

/// Step d: psutil, the reference the differential tests compare tracer's answers with.
fn psutil(step: &Step, apt: &mut Apt) -> Result<Outcome> {
    if let Some(version) = psutil_version() {
        return step.present(format_args!("psutil {version}"));
    }
    if cmd::which("python3").is_none() {
        bail!("python3 is not installed; run as root: apt-get install -y python3 {PSUTIL_PACKAGE}");
    }
    if externally_managed()? {
        step.say(format_args!(
            "missing, python3 is the system's (PEP 668), installing {PSUTIL_PACKAGE} with apt-get"
        ));
        apt.install(&[PSUTIL_PACKAGE])?;
    } else {
        let mut pip = cmd::new("python3");
        pip.args(["-m", "pip", "install", "--quiet", "psutil"]);
        step.say(format_args!("missing, running `{}`", cmd::display(&pip)));
        cmd::run(&mut pip)?;
    }
    let version = psutil_version().context("psutil was installed but python3 cannot import it")?;
    step.installed(format_args!("psutil {version}"))
}

/// Python modules the Python package's build and tests run (`python3 -m NAME`), as pip names
/// them.
const PYTHON_TOOLS: [&str; 2] = ["maturin", "pytest"];

/// Step e: maturin (builds `python/` into a venv), pytest (runs its tests) and the venv module
/// (Debian's python3-venv where the system's python3 lacks it).
fn python_tools(step: &Step, apt: &mut Apt) -> Result<Outcome> {
    let missing = missing_python_tools();
    let venv = python_has("venv") && python_has("ensurepip");
    if missing.is_empty() && venv {
        return step.present(python_tool_versions());
    }
    if !venv {
        step.say("the venv module is missing, installing python3-venv with apt-get");
        apt.install(&["python3-venv"])?;
    }
    if !missing.is_empty() {
        if externally_managed()? {
            bail!(
                "python3 is the system's (PEP 668): pip may not install {} there; \
                 use a python3 of your own (pyenv) or install them with pipx",
                missing.join(" ")
            );
        }
        let mut pip = cmd::new("python3");
        pip.args(["-m", "pip", "install", "--quiet"]).args(&missing);
        step.say(format_args!("missing, running `{}`", cmd::display(&pip)));
        cmd::run(&mut pip)?;
    }
    let still = missing_python_tools();
    if !still.is_empty() {
        bail!("pip succeeded but python3 cannot run {}", still.join(", "));
    }
    step.installed(python_tool_versions())
}

fn missing_python_tools() -> Vec<&'static str> {
    PYTHON_TOOLS
        .into_iter()
        .filter(|tool| python_tool_version(tool).is_none())
        .collect()
}

fn python_tool_version(tool: &str) -> Option<String> {
    let mut probe = cmd::new("python3");
    probe.args(["-m", tool, "--version"]);
    cmd::probe(&mut probe).map(|out| out.lines().next().unwrap_or_default().trim().to_owned())
}

fn python_tool_versions() -> String {
    PYTHON_TOOLS
        .iter()
        .filter_map(|tool| python_tool_version(tool))
        .collect::<Vec<_>>()
        .join(", ")
}

fn python_has(module: &str) -> bool {
    let mut import = cmd::new("python3");
    import.args(["-c", &format!("import {module}")]);
    cmd::probe(&mut import).is_some()
}

/// psutil's version if `python3` can import it.
fn psutil_version() -> Option<String> {
    let mut import = cmd::new("python3");
    import.args(["-c", "import psutil; print(psutil.__version__)"]);
    cmd::probe(&mut import).map(|stdout| stdout.trim().to_owned())
}

/// Whether `python3` is an interpreter whose packages the distribution manages (PEP 668).
fn externally_managed() -> Result<bool> {
    let mut check = cmd::new("python3");
    check.args([
        "-c",
        "import os, sysconfig; \
         print(os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))",
    ]);
    let stdout =
        cmd::probe(&mut check).with_context(|| format!("`{}` failed", cmd::display(&check)))?;
    Ok(stdout.trim() == "True")
}

/// Step f: bpftrace, forkstat and process-exporter, the peers that the benchmark and tests
/// compare against, tmux, the pseudo-terminal the `tracer top` tests drive, and the
/// Prometheus server that scrapes the agent in tests/groups.rs.
fn peers(step: &Step, apt: &mut Apt) -> Result<Outcome> {
    let missing = missing_peers();
    if missing.is_empty() {
        return step.present(
            PEERS
                .iter()
                .filter_map(|(program, _)| cmd::which(program))
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    step.say(format_args!(
        "missing, installing {} with apt-get",
        missing.join(" ")
    ));
    apt.install(&missing)?;
    let still_missing = missing_peers();
    if !still_missing.is_empty() {
        bail!(
            "installed {} but cannot find {} on PATH",
            missing.join(" "),
            still_missing.join(", ")
        );
    }
    step.installed(missing.join(", "))
}

/// The Debian packages of the peers whose programs are not on PATH.
fn missing_peers() -> Vec<&'static str> {
    PEERS
        .iter()
        .filter(|(program, _)| cmd::which(program).is_none())
        .map(|&(_, package)| package)
        .collect()
}

/// Every Debian package setup will install: checked up front so that a user who is not root
/// learns the one command to run before anything else happens.
fn missing_debian_packages() -> Vec<&'static str> {
    let mut packages = Vec::new();
    if !llvm_present() {
        packages.push(LLVM_PACKAGE);
    }
    packages.extend(missing_peers());
    packages
}

/// Fails with the command to run as root when `packages` must be installed and xtask is not root.
fn require_root_for(packages: &[&str]) -> Result<()> {
    if packages.is_empty() || cmd::is_root() {
        return Ok(());
    }
    let packages = packages.join(" ");
    bail!(
        "setup must install Debian packages ({packages}) and is not running as root; \
         run as root: apt-get update && apt-get install -y {packages}"
    )
}

/// apt-get, refreshing the package lists at most once per setup.
#[derive(Default)]
struct Apt {
    updated: bool,
}

impl Apt {
    fn install(&mut self, packages: &[&str]) -> Result<()> {
        require_root_for(packages)?;
        if !self.updated {
            cmd::run(&mut apt_get(&["update"]))?;
            self.updated = true;
        }
        let mut install = apt_get(&["install", "-y"]);
        install.args(packages);
        cmd::run(&mut install)
    }
}

fn apt_get(args: &[&str]) -> Command {
    let mut apt = cmd::new("apt-get");
    apt.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    apt
}
