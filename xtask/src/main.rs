//! Project automation for tracer, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`).
//!
//! Every command but `setup` first runs `setup`, which installs what a fresh machine
//! lacks (LLVM 22, nightly's rust-src, bpf-linker, psutil, bpftrace, forkstat and tmux) and
//! returns in well under a second when everything is there. Progress goes to stderr as `[xtask] …` lines.

mod bench;
mod cmd;
mod fuzz;
mod setup;
mod tasks;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Set up the toolchain, build, run and test tracer.
///
/// Typical use on a fresh machine (as root, since setup installs Debian packages):
/// `cargo xtask run -- --version`, then `cargo xtask test`.
#[derive(Parser)]
#[command(bin_name = "cargo xtask", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what is missing to build and test tracer; skip what is present
    ///
    /// Steps, each checked first:
    ///   1. LLVM 22: `apt-get install llvm-22-dev`
    ///   2. the nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
    ///      (`cargo install cargo-fuzz`)
    ///   3. rust-src for nightly: `rustup component add`
    ///   4. bpf-linker: `cargo install`, built against LLVM 22 (about 90 s)
    ///   5. psutil: `pip install`, or `apt-get install python3-psutil` for Debian's python3
    ///   6. bpftrace, forkstat and tmux: `apt-get install`
    ///
    /// Debian packages need root: without it, setup names the command to run as root.
    #[command(verbatim_doc_comment)]
    Setup,

    /// Set up, then build tracer with its eBPF programs embedded.
    ///
    /// Runs `cargo build --release -p tracer` with `TRACER_REQUIRE_EBPF=1`, so that a failure to
    /// compile the eBPF programs fails the build. Prints the binary's path on stdout.
    Build {
        /// Build the debug profile (target/debug/tracer) instead of release.
        #[arg(long)]
        debug: bool,
    },

    /// Set up, build (release), then run tracer with the given arguments.
    ///
    /// xtask replaces itself with tracer, so Ctrl-C reaches tracer and its exit status is
    /// xtask's. Example: `cargo xtask run -- events --json`.
    Run {
        /// Arguments for tracer, after `--`.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<OsString>,
    },

    /// Set up, build (release), then run the gates, the unit tests and the integration tests.
    ///
    /// Steps, each run even when one before it fails:
    ///   1. `cargo fmt --all --check`
    ///   2. `cargo clippy --workspace --all-targets --exclude tracer-ebpf -- -D warnings`
    ///   3. the same clippy with `TRACER_PORTABLE=1`, but for the integration tests (which drive
    ///      the Linux library), in the portable build's target directory
    ///   4. `RUSTDOCFLAGS='-D warnings' cargo doc -p tracer --no-deps`
    ///   5. unit tests: `cargo test --workspace --exclude tracer-ebpf --exclude tracer-tests`
    ///   6. `cargo check -p tracer` for macOS and Windows
    ///   7. the portable build for Linux (`TRACER_PORTABLE=1`)
    ///   8. integration tests, against the real kernel: `cargo test -p tracer-tests --
    ///      --test-threads=1` with `TRACER_BIN` set to the release binary
    ///   9. fuzz smoke: each cargo-fuzz target over its committed corpus, then 10 s more
    ///
    /// Root-only tests are `#[ignore]`d with their reason; as root they run (`--include-ignored`),
    /// otherwise they show as ignored, and with `CI` set the integration step fails. Exits
    /// non-zero when any step fails.
    #[command(verbatim_doc_comment)]
    Test {
        /// Extra arguments for both `cargo test` runs, after `--`; arguments after a second `--`
        /// go to the test harness. Example: `cargo xtask test -- --release -- --nocapture`.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<OsString>,
    },

    /// Set up, then run the cargo-fuzz targets of fuzz/ (nightly, libFuzzer).
    ///
    /// Targets: protocol (an agent request line, parsed and answered against a fixture table),
    /// ring_record (a kernel ring record decoded), proc_file (the /proc parsers), btf (the
    /// kernel's BTF). Each runs over its committed corpus (fuzz/corpus/TARGET) and what earlier
    /// runs found (target/fuzz/corpus/TARGET); a crash's input lands in fuzz/artifacts/TARGET/
    /// and the command exits non-zero.
    #[command(verbatim_doc_comment)]
    Fuzz {
        /// One target (all four when left out).
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },

    /// Set up, build (release), then benchmark tracer against bpftrace, forkstat, psutil and ps.
    ///
    /// Needs root. Runs every measurement in one run, subjects interleaved, each repeated 5 times
    /// (3 with --quick; the backends 2), and reports medians and ratios against a baseline from
    /// the same run:
    ///   1. exec storm: posix_spawn + waitpid of /bin/true for 10 s (3 s with --quick), serial
    ///      and with 2 spawners, with nothing attached, `tracer events --json`, bpftrace and
    ///      `forkstat -e exec,exit`: throughput, and the fraction of the storm each one saw
    ///   2. kernel cost: ns per run of each BPF program (`tracer events --kernel-stats`)
    ///   3. ps query over at least 2,000 processes: `tracer ps --json`, psutil's process_iter,
    ///      `ps -eo …`, with 6 and with 10 attributes
    ///   4. the agent: storm throughput with it attached and its CPU per process lifecycle;
    ///      `ps` through it over 2,000 and 10,000 processes; RSS and start-up with 10,000
    ///   5. wait latency: a process's exit to the arrival of the waiter's answer (`tracer wait
    ///      --json`'s line), via the agent and direct; the target's parent's waitpid is the floor
    ///   6. backends: `tracer events --backend` ebpf, procfs and sysinfo (every 1 s) and procfs
    ///      every 0.1 s, all at once: CPU per second at idle (10 s, 3 with --quick) and under a
    ///      serial storm with 20 × `sleep 2.5` over it, and the fraction of the storm's short
    ///      and longer-lived processes each sees
    ///   7. procfs crate: tracer's per-process reader against the `procfs` crate, reading stat,
    ///      status, cmdline, exe and statm of at least 2,000 processes: CPU per full pass
    ///
    /// Prints one markdown table (with issue 7's targets, met or missed) on stdout and writes
    /// the same data as JSON to target/bench/latest.json and target/bench/<date>.json. About 13
    /// minutes (4 with --quick) on a quiet 2-core host.
    #[command(verbatim_doc_comment)]
    Bench {
        /// 3 repetitions (2 for the backends) and 3 s storms instead of 5 and 10 s.
        #[arg(long)]
        quick: bool,
        /// Run only the measurements whose name contains one of these words (`exec storm`,
        /// `kernel cost`, `ps query`, `agent at scale`, `wait latency`, `backends`, `procfs
        /// crate`), e.g.
        /// `--only wait,ps`.
        #[arg(long, value_delimiter = ',', value_name = "WORD")]
        only: Vec<String>,
    },
}

impl Task {
    fn run(self) -> Result<ExitCode> {
        match self {
            Task::Setup => setup::setup()?,
            Task::Build { debug } => println!("{}", tasks::build(debug)?.display()),
            Task::Run { args } => tasks::run(&args)?,
            Task::Test { args } => return tasks::test(&args),
            Task::Bench { quick, only } => return bench::bench(quick, &only),
            Task::Fuzz { target, seconds } => return fuzz::fuzz(target.as_deref(), seconds),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn main() -> ExitCode {
    match Cli::parse().command.run() {
        Ok(code) => code,
        Err(error) => {
            cmd::say!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
