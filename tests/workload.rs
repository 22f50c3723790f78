//! Workloads for the integration tests, as a real process the tracer can watch:
//!
//! - `threads N`: starts N threads that each sleep 100 ms, joins them, exits 0.
//! - `exec-from-thread PROGRAM ARG…`: a non-leader thread calls execv(PROGRAM, ARG…).
//! - `sleep SECONDS [IGNORED…]`: sleeps, then exits 0. The ignored arguments may be anything,
//!   empty or not UTF-8: they are there to be seen in the process's cmdline.

use std::ffi::{CString, OsString};
use std::time::Duration;

fn main() {
    let args_os: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args_os.first().is_some_and(|mode| mode == "sleep") {
        let seconds: f64 = args_os
            .get(1)
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or(30.0);
        std::thread::sleep(Duration::from_secs_f64(seconds));
        return;
    }
    let args: Vec<String> = args_os
        .into_iter()
        .map(|a| a.into_string().expect("arguments are UTF-8"))
        .collect();
    match args.first().map(String::as_str) {
        Some("threads") => {
            let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(8);
            let threads: Vec<_> = (0..n)
                .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_millis(100))))
                .collect();
            for thread in threads {
                thread.join().expect("worker thread panicked");
            }
        }
        Some("exec-from-thread") if args.len() >= 3 => {
            let argv: Vec<CString> = args[1..]
                .iter()
                .map(|a| CString::new(a.as_str()).expect("no NUL in arguments"))
                .collect();
            let thread = std::thread::spawn(move || {
                let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
                ptrs.push(std::ptr::null());
                // SAFETY: NUL-terminated strings and a NULL-terminated array, alive for the call.
                unsafe { libc::execv(ptrs[0], ptrs[1..].as_ptr()) };
                panic!("execv failed: {}", std::io::Error::last_os_error());
            });
            thread.join().expect("exec thread panicked");
            std::process::exit(3);
        }
        _ => {
            eprintln!(
                "usage: tracer-test-workload threads N | exec-from-thread PROGRAM ARG… \
                 | sleep SECONDS [IGNORED…]"
            );
            std::process::exit(2);
        }
    }
}
