//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` (libFuzzer, nightly), each over
//! its committed corpus (`fuzz/corpus/TARGET`, read only) and a working corpus of what the runs
//! found (`target/fuzz/corpus/TARGET`, kept between runs). A crash leaves its input in
//! `fuzz/artifacts/TARGET/` and fails the command; `cargo fuzz run TARGET FILE` in `fuzz/`
//! replays it.
//!
//! The targets build with debug assertions and overflow checks (`-a`) and without a sanitizer
//! (`-s none`): what they exercise is safe Rust (the one `unsafe` read checks its length
//! first), so a sanitizer would only slow the build and the runs.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Result};

use crate::cmd::{self, say};

/// The fuzz targets (`fuzz/fuzz_targets/NAME.rs`).
pub const TARGETS: [&str; 4] = ["protocol", "ring_record", "proc_file", "btf"];

/// Seconds each target runs in `cargo xtask test`'s smoke (its corpus, then new inputs).
pub const SMOKE_SECONDS: u64 = 10;

/// The command that fuzzes `target` for `seconds`.
pub fn command(target: &str, seconds: u64) -> Result<Command> {
    let root = cmd::workspace_root()?;
    let target_dir = crate::tasks::target_dir()?.join("fuzz");
    let scratch = target_dir.join("corpus").join(target);
    std::fs::create_dir_all(&scratch)?;
    let mut fuzz = cmd::new("rustup");
    fuzz.current_dir(root.join("fuzz"))
        .args(["run", "nightly", "cargo", "fuzz", "run", "-s", "none", "-a"])
        .arg("--target-dir")
        .arg(&target_dir)
        .arg(target)
        // New inputs go to the first directory; the committed corpus is only read.
        .arg(&scratch)
        .arg(root.join("fuzz").join("corpus").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        // The kernel programs are not what is fuzzed: no eBPF build.
        .env("TRACER_SKIP_EBPF", "1");
    // The outer cargo's settings (stable rustc, its flags) must not reach nightly's build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_")
            || key.starts_with("RUSTC")
            || key == "CARGO"
            || key == "RUSTFLAGS"
            || key == "RUSTUP_TOOLCHAIN"
            || key == "RUSTDOCFLAGS"
        {
            fuzz.env_remove(key);
        }
    }
    Ok(fuzz)
}

/// Fuzzes `target` (every target when `None`) for `seconds` each; fails when one crashes.
pub fn fuzz(target: Option<&str>, seconds: u64) -> Result<ExitCode> {
    crate::setup::setup()?;
    let targets: Vec<&str> = match target {
        Some(name) if TARGETS.contains(&name) => vec![name],
        Some(name) => bail!("no fuzz target '{name}' (targets: {})", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let mut failed = Vec::new();
    for (n, name) in targets.iter().enumerate() {
        let mut run = command(name, seconds)?;
        say!(
            "fuzz {}/{}: {name} for {seconds} s: `{}`",
            n + 1,
            targets.len(),
            cmd::display(&run)
        );
        if !cmd::status(&mut run)?.success() {
            failed.push(*name);
        }
    }
    if failed.is_empty() {
        say!("fuzz: no target failed");
        return Ok(ExitCode::SUCCESS);
    }
    let artifacts: PathBuf = cmd::workspace_root()?.join("fuzz").join("artifacts");
    say!(
        "fuzz: {} failed; their inputs are in {}",
        failed.join(", "),
        artifacts.display()
    );
    Ok(ExitCode::FAILURE)
}
