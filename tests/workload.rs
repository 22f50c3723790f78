//! Workloads for the integration tests, as a real process the tracer can watch:
//!
//! - `threads N`: starts N threads that each sleep 100 ms, joins them, exits 0.
//! - `exec-from-thread PROGRAM ARG…`: a non-leader thread calls execv(PROGRAM, ARG…).
//! - `sleep SECONDS [IGNORED…]`: sleeps, then exits 0. The ignored arguments may be anything,
//!   empty or not UTF-8: they are there to be seen in the process's cmdline.
//! - `burn SECONDS`: spins until it has used SECONDS of CPU time, then exits 0.
//! - `burn-threads N SECONDS`: N threads each spin for SECONDS of their own CPU time; all
//!   are joined (gone, their counters folded into the process's) before it exits 0.
//! - `burn-then-leave SECONDS`: the main thread burns SECONDS of CPU, starts a thread that
//!   burns SECONDS more, and ends itself first (exit(2), not exit_group): the process ends
//!   with that thread, its leader a zombie until then.
//! - `alloc MIB`: allocates MIB mebibytes, touches every page, exits 0.
//! - `read PATH`: drops PATH's cached pages (posix_fadvise DONTNEED), reads it to the end
//!   with read(2), prints the bytes read, exits 0.
//! - `pingpong ROUNDS`: a parent and a child pass one byte back and forth through two pipes
//!   ROUNDS times (two context switches per round when they share a CPU, a wakeup each way
//!   in any case) and the parent prints the rounds per second: a context-switch-heavy load.
//! - `sleep-wake COUNT MILLIS [BURN_MILLIS [HOLD_SECONDS]]`: sleeps MILLIS COUNT times (each
//!   wake-up a trip through the run queue), burning BURN_MILLIS of CPU after each; with
//!   HOLD_SECONDS it then prints `done` and sleeps that long before it exits 0.

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
    let number = |i: usize| -> f64 {
        args.get(i)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("argument {i} must be a number: {args:?}"))
    };
    match args.first().map(String::as_str) {
        Some("burn") => burn(number(1)),
        Some("burn-threads") => {
            let seconds = number(2);
            let threads: Vec<_> = (0..number(1) as usize)
                .map(|_| std::thread::spawn(move || while spin_thread(seconds) {}))
                .collect();
            for thread in threads {
                thread.join().expect("burning thread panicked");
            }
        }
        Some("burn-then-leave") => {
            let seconds = number(1);
            burn(seconds);
            // The new thread's CPU clock starts at zero: it burns its own share.
            std::thread::spawn(move || while spin_thread(seconds) {});
            // SAFETY: ends this thread only; the process lives on in the spawned one.
            unsafe { libc::syscall(libc::SYS_exit, 0) };
            unreachable!("exit(2) returned");
        }
        Some("alloc") => {
            let bytes = (number(1) * 1024.0 * 1024.0) as usize;
            let mut memory = vec![0u8; bytes];
            for page in memory.chunks_mut(4096) {
                page[0] = 1;
            }
            std::hint::black_box(&memory);
        }
        Some("read") if args.len() == 2 => {
            use std::io::Read;
            use std::os::fd::AsRawFd;
            let mut file = std::fs::File::open(&args[1]).expect("open the file to read");
            // SAFETY: a valid fd; advice only.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            let mut buffer = vec![0u8; 1 << 20];
            let mut total = 0usize;
            loop {
                match file.read(&mut buffer).expect("read") {
                    0 => break,
                    n => total += n,
                }
            }
            println!("{total}");
        }
        Some("sleep-wake") => {
            let count = number(1) as u64;
            let pause = Duration::from_secs_f64(number(2) / 1000.0);
            let burn_each = if args.len() > 3 {
                number(3) / 1000.0
            } else {
                0.0
            };
            for _ in 0..count {
                std::thread::sleep(pause);
                if burn_each > 0.0 {
                    burn(burn_each);
                }
            }
            if args.len() > 4 {
                use std::io::Write;
                println!("done");
                std::io::stdout().flush().expect("flush stdout");
                std::thread::sleep(Duration::from_secs_f64(number(4)));
            }
        }
        Some("pingpong") => {
            let rounds = number(1) as u64;
            let (per_second, _) = pingpong(rounds);
            println!("{per_second:.0}");
        }
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
                 | sleep SECONDS [IGNORED…] | burn SECONDS | burn-threads N SECONDS | burn-then-leave SECONDS \
                 | alloc MIB | read PATH | pingpong ROUNDS | sleep-wake COUNT MILLIS [BURN_MILLIS [HOLD_SECONDS]]"
            );
            std::process::exit(2);
        }
    }
}

/// CPU seconds used by the calling thread.
fn thread_cpu_seconds() -> f64 {
    cpu_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_seconds(clock: libc::clockid_t) -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer.
    unsafe { libc::clock_gettime(clock, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Spins until the process has used `seconds` of CPU time.
fn burn(seconds: f64) {
    let start = cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID);
    let mut x = 0u64;
    while cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID) - start < seconds {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

/// One step of spinning in this thread; `false` once it has used `seconds` of CPU time.
fn spin_thread(seconds: f64) -> bool {
    let mut x = 0u64;
    for i in 0..10_000u64 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    thread_cpu_seconds() < seconds
}

/// Passes a byte back and forth between this process and a forked child `rounds` times.
/// Returns rounds per second and the elapsed seconds.
fn pingpong(rounds: u64) -> (f64, f64) {
    let mut there = [0i32; 2];
    let mut back = [0i32; 2];
    // SAFETY: valid arrays of two fds.
    unsafe {
        assert_eq!(libc::pipe(there.as_mut_ptr()), 0);
        assert_eq!(libc::pipe(back.as_mut_ptr()), 0);
    }
    let mut byte = [0u8; 1];
    // SAFETY: the child only uses raw syscalls on its own fds, then _exit.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        for _ in 0..rounds {
            // SAFETY: valid fds and a one-byte buffer.
            unsafe {
                if libc::read(there[0], byte.as_mut_ptr().cast(), 1) != 1 {
                    libc::_exit(1);
                }
                libc::write(back[1], byte.as_ptr().cast(), 1);
            }
        }
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(0) };
    }
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        // SAFETY: valid fds and a one-byte buffer.
        unsafe {
            libc::write(there[1], byte.as_ptr().cast(), 1);
            assert_eq!(libc::read(back[0], byte.as_mut_ptr().cast(), 1), 1);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    (rounds as f64 / elapsed, elapsed)
}
