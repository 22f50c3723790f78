//! A property test of [`ProcessTable`] as a state machine: random runs of forks, execs and
//! exits (some of whose events are lost, pids reused), resyncs against a fixture `/proc` root
//! that mirrors the simulated kernel, refreshes whose reads fail with EMFILE, ENFILE or EACCES,
//! and expiry. After every step:
//! - one live entry per pid (the entry under a pid is that pid's);
//! - the exited list within its cap;
//! - no parent cycle among the parent links the table shows, and the parent index agrees
//!   with them;
//! - no process still running is retired by a step that only read (resync, refresh): only
//!   ENOENT/ESRCH, or its pid found another process's, may end a live entry.
//!
//! The kernel side is a small model (pids 1..=MAX_PID, pid 1 never exits, orphans go to 1);
//! the table is the real one, reading the fixture root through the real [`Procfs`] reader.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::tests::fixture::{proc, Root};
use super::*;
use crate::event::{Backend, Exec, Exit};
use crate::host::procfs::Procfs;

const MAX_PID: u32 = 8;
const MAX_EXITED: usize = 5;
const RETENTION: f64 = 20.0;

/// A failure a read may meet that says nothing about the process.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Emfile,
    Enfile,
    Eacces,
}

#[derive(Debug, Clone)]
enum Op {
    /// The process at index `parent` (of the running ones) forks `pid` (if free).
    Fork { parent: usize, pid: u32, lost: bool },
    /// The process at `index` execs as `uid`.
    Exec { index: usize, uid: u32, lost: bool },
    /// The process at `index` (never pid 1) exits; its children go to pid 1.
    Exit { index: usize, lost: bool },
    /// The table re-reads `/proc`; with `fault`, one process's `stat` cannot be read (not as
    /// ENOENT); with `unlisted`, listing `/proc` fails.
    Resync {
        fault: Option<usize>,
        unlisted: bool,
    },
    /// The table settles its unsettled entries; the read of the process at `fault.0` fails.
    Refresh { fault: Option<(usize, Fault)> },
    /// Time passes; exited entries past their retention go.
    Expire { seconds: u8 },
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Emfile),
        Just(Fault::Enfile),
        Just(Fault::Eacces)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 2..=MAX_PID, prop::bool::weighted(0.2))
            .prop_map(|(parent, pid, lost)| Op::Fork { parent, pid, lost }),
        2 => (any::<usize>(), prop::sample::select(vec![0u32, 1000, 1001]), prop::bool::weighted(0.2))
            .prop_map(|(index, uid, lost)| Op::Exec { index, uid, lost }),
        3 => (any::<usize>(), prop::bool::weighted(0.2))
            .prop_map(|(index, lost)| Op::Exit { index, lost }),
        1 => (prop::option::of(any::<usize>()), prop::bool::weighted(0.2))
            .prop_map(|(fault, unlisted)| Op::Resync { fault, unlisted }),
        2 => prop::option::of((any::<usize>(), fault())).prop_map(|fault| Op::Refresh { fault }),
        1 => (0u8..30).prop_map(|seconds| Op::Expire { seconds }),
    ]
}

/// One running process of the model kernel.
#[derive(Debug, Clone)]
struct Running {
    start: u64,
    ppid: u32,
    uid: u32,
    argv: Vec<String>,
}

/// The model kernel: what runs, and the clock.
struct Kernel {
    running: BTreeMap<u32, Running>,
    next_start: u64,
    now: f64,
}

impl Kernel {
    fn new() -> Kernel {
        let mut running = BTreeMap::new();
        running.insert(
            1,
            Running {
                start: 1,
                ppid: 0,
                uid: 0,
                argv: vec!["/sbin/init".into()],
            },
        );
        Kernel {
            running,
            next_start: 10,
            now: 100.0,
        }
    }

    fn pick(&self, index: usize) -> u32 {
        let pids: Vec<u32> = self.running.keys().copied().collect();
        pids[index % pids.len()]
    }

    fn id(&self, pid: u32) -> ProcessId {
        ProcessId {
            pid,
            start_ticks: self.running[&pid].start,
        }
    }

    fn event(&self, pid: u32, details: Details) -> Event {
        let p = &self.running[&pid];
        Event {
            time: self.now,
            id: self.id(pid),
            create_time: 1_000.0 + p.start as f64 / 100.0,
            ppid: p.ppid,
            uid: p.uid,
            gid: p.uid + 1,
            name: p.argv[0].rsplit('/').next().unwrap_or("x").into(),
            backend: Backend::Ebpf,
            placement: None,
            details,
        }
    }

    /// A `/proc` root showing what runs now; `broken` has a `stat` that cannot be read.
    fn root(&self, broken: Option<u32>) -> Root {
        let root = Root::new("props");
        for (&pid, p) in &self.running {
            let argv: Vec<&str> = p.argv.iter().map(String::as_str).collect();
            root.add(&fixture::Proc {
                uid: p.uid,
                ..proc(pid, p.ppid, p.start, &argv)
            });
        }
        if let Some(pid) = broken {
            // A directory where the file should be: EISDIR, which is not "gone".
            let stat = root.host().root().join(format!("{pid}/stat"));
            std::fs::remove_file(&stat).expect("fixture stat exists");
            std::fs::create_dir(&stat).expect("fixture dir is creatable");
        }
        root
    }
}

use super::tests::fixture;

fn error(fault: Fault, pid: u32) -> ProcError {
    let errno = match fault {
        Fault::Emfile => libc::EMFILE,
        Fault::Enfile => libc::ENFILE,
        Fault::Eacces => {
            return ProcError::AccessDenied {
                pid,
                path: PathBuf::from(format!("/proc/{pid}/stat")),
            }
        }
    };
    ProcError::Io {
        path: PathBuf::from(format!("/proc/{pid}/stat")),
        source: io::Error::from_raw_os_error(errno),
    }
}

/// Runs one step on the model and the table. Returns whether the step only read (a process
/// it ended must then be gone from the model).
fn step(kernel: &mut Kernel, table: &mut ProcessTable, op: &Op) -> bool {
    kernel.now += 1.0;
    match *op {
        Op::Fork { parent, pid, lost } => {
            let parent = kernel.pick(parent);
            if kernel.running.contains_key(&pid) {
                return false;
            }
            let image = kernel.running[&parent].clone();
            kernel.running.insert(
                pid,
                Running {
                    start: kernel.next_start,
                    ppid: parent,
                    ..image
                },
            );
            kernel.next_start += 1;
            if !lost {
                table.apply(&kernel.event(pid, Details::Fork { parent_pid: parent }));
            }
            false
        }
        Op::Exec { index, uid, lost } => {
            let pid = kernel.pick(index);
            let p = kernel.running.get_mut(&pid).expect("picked");
            p.uid = uid;
            p.argv = vec![format!("/usr/bin/image{uid}"), format!("{pid}")];
            let exec = Exec {
                exe: Some(OsString::from(&p.argv[0])),
                cmdline: p.argv.iter().map(OsString::from).collect(),
                uids: [uid; 3],
                gids: [uid + 1; 3],
                cmdline_truncated: false,
                cmdline_bytes: 0,
                exe_truncated: false,
            };
            if !lost {
                table.apply(&kernel.event(pid, Details::Exec(Box::new(exec))));
            }
            false
        }
        Op::Exit { index, lost } => {
            let pid = kernel.pick(index);
            if pid == 1 {
                return false;
            }
            let event = kernel.event(pid, Details::Exit(Exit::from_wait_status(0, 1.0)));
            kernel.running.remove(&pid);
            for p in kernel.running.values_mut() {
                if p.ppid == pid {
                    p.ppid = 1;
                }
            }
            if !lost {
                table.apply(&event);
            }
            false
        }
        Op::Resync { fault, unlisted } => {
            let broken = fault.map(|i| kernel.pick(i)).filter(|&pid| pid != 1);
            let root = kernel.root(broken);
            let host = if unlisted {
                Procfs::with_root(root.host().root().join("missing"))
            } else {
                root.host()
            };
            let _ = table.resync(&host, kernel.now);
            true
        }
        Op::Refresh { fault } => {
            let root = kernel.root(None);
            let host = root.host();
            let faulty = fault.map(|(i, f)| (kernel.pick(i), f));
            let reads = table
                .unsettled()
                .into_iter()
                .map(|id| match faulty {
                    Some((pid, f)) if pid == id.pid => (id, Err(error(f, pid))),
                    _ => (id, host.stat(id.pid)),
                })
                .collect();
            table.settle(reads, kernel.now);
            true
        }
        Op::Expire { seconds } => {
            kernel.now += f64::from(seconds);
            table.expire(kernel.now);
            true
        }
    }
}

/// The invariants, after a step; `before` is the live identities before it.
fn check(
    kernel: &Kernel,
    table: &ProcessTable,
    before: &HashSet<ProcessId>,
    read_only: bool,
) -> Result<(), TestCaseError> {
    prop_assert!(
        table.index_is_consistent(),
        "the parent index disagrees with the live entries' ppid"
    );
    let mut pids = HashSet::new();
    for entry in table.live() {
        prop_assert!(
            pids.insert(entry.id.pid),
            "two live entries for pid {}",
            entry.id.pid
        );
        prop_assert_eq!(table.get(entry.id.pid).map(|e| e.id), Some(entry.id));
        prop_assert!(
            entry.exit.is_none(),
            "a live entry with an exit: {:?}",
            entry.id
        );
    }
    prop_assert!(
        table.exited().count() <= MAX_EXITED,
        "exited list over its cap"
    );
    for entry in table.exited() {
        prop_assert!(entry.exit.is_some());
    }
    // Parent links as the table shows them (tree, ppid): following them ends.
    let parents: HashMap<u32, u32> = table
        .live()
        .filter(|e| !e.ppid_stale)
        .map(|e| (e.id.pid, e.ppid))
        .collect();
    for &start in parents.keys() {
        let mut seen = HashSet::new();
        let mut pid = start;
        while let Some(&parent) = parents.get(&pid) {
            prop_assert!(seen.insert(pid), "parent cycle through pid {}", start);
            if parent == pid {
                break;
            }
            pid = parent;
        }
    }
    if read_only {
        for id in before {
            let running = kernel
                .running
                .get(&id.pid)
                .is_some_and(|p| p.start == id.start_ticks);
            if running {
                prop_assert!(
                    table.find(*id).is_some_and(|e| e.exit.is_none()),
                    "running process {:?} retired by a read",
                    id
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    })]

    #[test]
    fn table_invariants_hold_through_loss_reuse_and_read_errors(ops in prop::collection::vec(op(), 1..60)) {
        let mut kernel = Kernel::new();
        let mut table = ProcessTable::with_limits(Duration::from_secs_f64(RETENTION), MAX_EXITED);
        let root = kernel.root(None);
        table.seed(&root.host(), kernel.now).expect("fixture scan");
        drop(root);
        for op in &ops {
            let before: HashSet<ProcessId> = table.live().map(|e| e.id).collect();
            let read_only = step(&mut kernel, &mut table, op);
            check(&kernel, &table, &before, read_only)?;
        }
    }
}

/// The cycle the property test found: pid 3's exit is lost, its child 4 keeps its link to 3,
/// then 4 forks a new process that gets pid 3. The table must not show 3 → 4 → 3.
#[test]
fn a_pid_reused_by_a_descendant_after_a_lost_exit_closes_no_cycle() {
    let mut kernel = Kernel::new();
    let mut table = ProcessTable::with_limits(Duration::from_secs_f64(RETENTION), MAX_EXITED);
    let ops = [
        Op::Fork {
            parent: 0,
            pid: 3,
            lost: false,
        },
        Op::Fork {
            parent: 1,
            pid: 4,
            lost: false,
        },
        Op::Exit {
            index: 1,
            lost: true,
        },
        Op::Fork {
            parent: 1,
            pid: 3,
            lost: false,
        },
    ];
    for op in &ops {
        let before: HashSet<ProcessId> = table.live().map(|e| e.id).collect();
        let read_only = step(&mut kernel, &mut table, op);
        check(&kernel, &table, &before, read_only).expect("invariants hold");
    }
    let new3 = table.get(3).expect("the new 3");
    assert_eq!(new3.ppid, 4, "forked by 4");
    let four = table.get(4).expect("4 runs");
    assert_eq!(four.ppid, 3, "its link to the old 3 is kept…");
    assert!(four.ppid_stale, "…but marked for re-reading");
    // A refresh reads the kernel's answer: 4 was re-parented to 1.
    step(&mut kernel, &mut table, &Op::Refresh { fault: None });
    assert_eq!(
        table.get(4).map(|e| (e.ppid, e.ppid_stale)),
        Some((1, false))
    );
}
