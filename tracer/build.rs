//! Builds the kernel programs (`tracer-ebpf`) with the nightly toolchain and bpf-linker, and
//! puts the object where `src/ebpf/mod.rs` embeds it (`$OUT_DIR/tracer-ebpf`).
//!
//! Without the eBPF toolchain an empty object is embedded and the binary says at run time that
//! it was built without its programs; `TRACER_REQUIRE_EBPF=1` (set by `cargo xtask build`)
//! turns that into a build failure instead.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out_dir.join("tracer-ebpf");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("tracer/ sits in the workspace")
        .to_path_buf();
    for input in ["tracer-ebpf", "tracer-common/src", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=TRACER_REQUIRE_EBPF");
    println!("cargo:rerun-if-env-changed=TRACER_SKIP_EBPF");

    println!("cargo:rerun-if-env-changed=TRACER_PORTABLE");

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // `native_linux`: the Linux build with eBPF and /proc. `TRACER_PORTABLE=1` builds what
    // macOS and Windows run (the sysinfo backend and reader) on Linux, so it can be tested here.
    let portable = env::var_os("TRACER_PORTABLE").is_some_and(|v| v == "1");
    let required = env::var_os("TRACER_REQUIRE_EBPF").is_some_and(|v| v == "1") && !portable;
    println!("cargo::rustc-check-cfg=cfg(native_linux)");
    if target_os == "linux" && !portable {
        println!("cargo:rustc-cfg=native_linux");
    }
    let skip = target_os != "linux"
        || portable
        || env::var_os("TRACER_SKIP_EBPF").is_some_and(|v| v == "1");
    let result = if skip {
        Err("skipped (not a Linux target, or TRACER_SKIP_EBPF=1)".to_string())
    } else {
        build_ebpf(&workspace, &out_dir)
    };
    match result {
        Ok(built) => {
            fs::copy(&built, &object).expect("copy the eBPF object into OUT_DIR");
        }
        Err(reason) if required => {
            panic!("building the eBPF programs failed: {reason}");
        }
        Err(reason) => {
            if target_os == "linux" && !portable {
                println!("cargo:warning=eBPF programs not built ({reason}); the binary will report it. Run `cargo xtask build` for a complete build.");
            }
            fs::write(&object, []).expect("write the empty eBPF placeholder");
        }
    }
}

/// Runs `cargo +nightly build` for the BPF target in a target directory of its own.
fn build_ebpf(workspace: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let target_dir = out_dir.join("ebpf-target");
    let mut cmd = Command::new("rustup");
    cmd.current_dir(workspace)
        .args(["run", "nightly", "cargo", "build", "--release"])
        .args(["--package", "tracer-ebpf", "--bin", "tracer-ebpf"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's compiler settings (clippy's wrapper, the stable rustc) must not leak.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_")
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
            || key == "RUSTUP_TOOLCHAIN"
            || key == "RUSTDOCFLAGS"
        {
            cmd.env_remove(key);
        }
    }
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`cargo +nightly build -p tracer-ebpf` failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    Ok(target_dir.join("bpfel-unknown-none/release/tracer-ebpf"))
}
