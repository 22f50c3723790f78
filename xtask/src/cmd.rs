//! Child processes and the environment they run in.
//!
//! Every child that xtask starts goes through [`new`], which puts cargo's `bin` directory on
//! `PATH`: `cargo install bpf-linker` installs there, and tracer's build script must find the
//! linker even when the user's shell does not list that directory.

use std::env;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};

/// Prints one progress line to stderr, prefixed so it stands out from the children's output.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("[xtask] {}", format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> Result<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask's manifest directory has no parent directory")
}

/// Cargo's home (`$CARGO_HOME`, else `~/.cargo`), where `cargo install` puts binaries.
fn cargo_home() -> Option<PathBuf> {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
}

/// The directories to search for programs: `$PATH`, then cargo's `bin` if `$PATH` lacks it.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(bin) = cargo_home().map(|home| home.join("bin")) {
        if !dirs.contains(&bin) {
            dirs.push(bin);
        }
    }
    dirs
}

/// The full path of executable `name` in [`search_dirs`], like `command -v`.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    search_dirs()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// A command for `program` whose `PATH` includes cargo's `bin` directory.
pub fn new(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    if let Ok(path) = env::join_paths(search_dirs()) {
        cmd.env("PATH", path);
    }
    cmd
}

/// A command for the cargo that runs xtask (`$CARGO`), in the workspace root.
pub fn cargo() -> Result<Command> {
    let mut cmd = new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    cmd.current_dir(workspace_root()?);
    Ok(cmd)
}

/// Runs `cmd` with its output streaming through and fails unless it exits with status 0.
///
/// The child's stdout goes to xtask's stderr, so that stdout stays clean for what the caller
/// prints there (the binary's path from `build`, the tracer's own output from `run`).
pub fn run(cmd: &mut Command) -> Result<()> {
    cmd.stdout(Stdio::from(io::stderr()));
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed with {status}", display(cmd));
    }
    Ok(())
}

/// Runs `cmd`, its output streaming through, and returns how it exited.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))
}

/// Runs `cmd` quietly and returns its stdout when it exits with status 0, `None` otherwise
/// (including when the program does not exist). For presence checks.
pub fn probe(cmd: &mut Command) -> Option<String> {
    let output = cmd.stdin(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `cmd` as a user would type it: explicitly set variables first, then the program and its
/// arguments, quoted where a shell would need it. `PATH` is left out; [`new`] sets it on all.
pub fn display(cmd: &Command) -> String {
    let vars = cmd
        .get_envs()
        .filter(|(key, _)| *key != "PATH")
        .filter_map(|(key, value)| {
            value.map(|value| format!("{}={}", key.to_string_lossy(), quote(value)))
        });
    let program = Path::new(cmd.get_program())
        .file_name()
        .map_or_else(|| quote(cmd.get_program()), quote);
    let args = cmd.get_args().map(quote);
    vars.chain([program])
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Whether xtask runs as root (effective UID 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
