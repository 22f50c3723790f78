//! Unit tests of [`ProcessTable`]: synthetic events for what the event path does, and fixture
//! `/proc` roots (directories written by the test, read through [`Procfs::with_root`]) for what
//! seeding, resynchronisation and settling do. None needs root or a live process.

use std::ffi::OsString;
use std::time::Duration;

use super::*;
use crate::event::{Backend, Exec};

/// A synthetic event about process `(pid, start)`, at `time`.
fn event(time: f64, pid: u32, start: u64, ppid: u32, name: &str, details: Details) -> Event {
    Event {
        time,
        id: ProcessId {
            pid,
            start_ticks: start,
        },
        create_time: 1_000.0 + start as f64 / 100.0,
        ppid,
        uid: 0,
        gid: 0,
        name: name.into(),
        backend: Backend::Ebpf,
        placement: None,
        details,
    }
}

fn fork(time: f64, pid: u32, start: u64, parent: u32) -> Event {
    event(
        time,
        pid,
        start,
        parent,
        "parent",
        Details::Fork { parent_pid: parent },
    )
}

fn exec(time: f64, pid: u32, start: u64, ppid: u32, argv: &[&str], uid: u32) -> Event {
    let name = argv[0].rsplit('/').next().expect("split yields one part");
    event(
        time,
        pid,
        start,
        ppid,
        name,
        Details::Exec(Box::new(Exec {
            exe: Some(argv[0].into()),
            cmdline: argv.iter().map(OsString::from).collect(),
            uids: [uid, uid, uid],
            gids: [uid + 1, uid + 1, uid + 1],
            cmdline_truncated: false,
            cmdline_bytes: 0,
            exe_truncated: false,
        })),
    )
}

fn exit(time: f64, pid: u32, start: u64, ppid: u32, code: i32) -> Event {
    event(
        time,
        pid,
        start,
        ppid,
        "gone",
        Details::Exit(Exit::from_wait_status((code as u32) << 8, 1.5)),
    )
}

fn id(pid: u32, start: u64) -> ProcessId {
    ProcessId {
        pid,
        start_ticks: start,
    }
}

fn os(s: &str) -> OsString {
    s.into()
}

fn argv(args: &[&str]) -> Option<Vec<OsString>> {
    Some(args.iter().map(OsString::from).collect())
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn fork_exec_exit_build_an_entry_and_retire_it_with_its_status() {
    let mut table = ProcessTable::new(HOUR);
    table.apply(&exec(10.0, 100, 50, 1, &["/bin/sh", "-c", "x"], 1000));
    table.apply(&fork(11.0, 101, 60, 100));

    // Until it execs, a forked child runs its parent's image.
    let child = table.get(101).expect("the fork made an entry");
    assert_eq!(child.id, id(101, 60));
    assert_eq!(child.ppid, 100);
    assert_eq!(child.origin, Origin::Event);
    assert_eq!(child.exe, Some(os("/bin/sh")));
    assert_eq!(child.cmdline, argv(&["/bin/sh", "-c", "x"]));
    assert_eq!(child.uids, Some([1000; 3]));
    assert!(!child.pending);
    assert_eq!(child.create_time, 1_000.6);

    table.apply(&exec(12.0, 101, 60, 100, &["/usr/bin/sleep", "5"], 1000));
    let child = table.get(101).expect("exec keeps the entry");
    assert_eq!(child.comm, os("sleep"));
    assert_eq!(child.exe, Some(os("/usr/bin/sleep")));
    assert_eq!(child.cmdline, argv(&["/usr/bin/sleep", "5"]));
    assert_eq!(child.gids, Some([1001; 3]));
    assert_eq!(child.updated, 12.0);
    assert_eq!(
        table
            .children(100, false)
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![id(101, 60)]
    );

    table.apply(&exit(13.0, 101, 60, 100, 3));
    assert!(table.get(101).is_none());
    assert_eq!(table.len(), 1);
    let gone = table
        .find(id(101, 60))
        .expect("an exited process stays findable");
    let info = gone
        .exit
        .as_deref()
        .copied()
        .expect("retired with its exit");
    assert_eq!(info.time, 13.0);
    let status = info.status.expect("the exit was seen");
    assert_eq!(status.exit_code, Some(3));
    assert_eq!(status.signal, None);
    // What exec told stays on the exited entry.
    assert_eq!(gone.cmdline, argv(&["/usr/bin/sleep", "5"]));
    assert_eq!(table.find_exited(101).map(|e| e.id), Some(id(101, 60)));
    assert_eq!(
        exit_event(gone).map(|e| (e.time, e.uid, e.gid)),
        Some((13.0, 1000, 1001))
    );

    let stats = table.stats();
    assert_eq!((stats.forks, stats.execs, stats.exits), (1, 2, 1));
    assert_eq!(stats.pid_reuse_unseen_exit, 0);
}

#[test]
fn an_exit_of_a_process_never_seen_alive_is_kept_from_the_event() {
    let mut table = ProcessTable::new(HOUR);
    table.apply(&exit(5.0, 77, 9, 1, 0));
    assert!(table.is_empty());
    let entry = table.find(id(77, 9)).expect("kept as exited");
    assert_eq!(entry.comm, os("gone"));
    assert_eq!(entry.ppid, 1);
    assert_eq!(
        entry
            .exit
            .as_deref()
            .copied()
            .and_then(|e| e.status)
            .and_then(|s| s.exit_code),
        Some(0)
    );
    // A fork from an unknown parent knows nothing beyond identity: its fields stay pending.
    table.apply(&fork(6.0, 78, 10, 4242));
    assert_eq!(table.pending(), vec![id(78, 10)]);
    assert_eq!(table.get(78).and_then(|e| e.exe.clone()), None);
}

#[test]
fn a_reused_pid_is_a_new_process_and_the_old_one_is_retired() {
    let mut table = ProcessTable::new(HOUR);
    table.apply(&exec(10.0, 200, 50, 1, &["/bin/old"], 0));
    // The old process's exit was never seen; the pid now belongs to a process started later.
    table.apply(&exec(20.0, 200, 90, 1, &["/bin/new"], 0));

    assert_eq!(table.len(), 1);
    let new = table.get(200).expect("the new process is live");
    assert_eq!(new.id, id(200, 90));
    assert_eq!(new.exe, Some(os("/bin/new")));
    let old = table
        .find(id(200, 50))
        .expect("the old process is kept as exited");
    assert_eq!(old.exe, Some(os("/bin/old")));
    let info = old.exit.as_deref().copied().expect("retired");
    assert_eq!(info.time, 20.0);
    assert_eq!(info.status, None, "its end was inferred, not seen");
    assert_eq!(table.stats().pid_reuse_unseen_exit, 1);

    // A late exit of the old identity does not end the new process.
    table.apply(&exit(21.0, 200, 50, 1, 0));
    assert_eq!(table.get(200).map(|e| e.id), Some(id(200, 90)));
}

#[test]
fn exits_older_than_the_retention_time_expire() {
    let mut table = ProcessTable::new(Duration::from_secs(10));
    for (pid, time) in [(1, 100.0), (2, 105.0), (3, 112.0)] {
        table.apply(&exec(time - 1.0, pid, 7, 0, &["/x"], 0));
        table.apply(&exit(time, pid, 7, 0, 0));
    }
    table.expire(110.0); // horizon 100: nothing is older
    assert_eq!(table.exited().count(), 3);
    table.expire(114.0); // horizon 104: the exit at 100 goes
    let left: Vec<u32> = table.exited().map(|e| e.id.pid).collect();
    assert_eq!(left, vec![2, 3]);
    assert_eq!(table.stats().expired, 1);
    assert!(table.find(id(1, 7)).is_none());
    table.expire(1_000.0);
    assert_eq!(table.exited().count(), 0);
    assert_eq!(table.stats().expired, 3);
}

#[test]
fn past_max_exited_the_oldest_exits_go_first() {
    let mut table = ProcessTable::with_limits(HOUR, 3);
    for pid in 1..=5u32 {
        table.apply(&exit(pid as f64, pid, 1, 0, pid as i32));
    }
    let left: Vec<u32> = table.exited().map(|e| e.id.pid).collect();
    assert_eq!(left, vec![3, 4, 5], "the newest, oldest first");
    assert_eq!(table.stats().expired, 2);
    // Within the retention time nothing else goes.
    table.expire(10.0);
    assert_eq!(table.exited().count(), 3);
}

#[test]
fn an_event_older_than_the_entry_fills_only_what_it_lacks() {
    let mut table = ProcessTable::new(HOUR);
    table.apply(&exec(50.0, 300, 5, 1, &["/bin/newer"], 0));
    // An exec that happened before the entry's data (a scan read it later) changes nothing.
    table.apply(&exec(40.0, 300, 5, 2, &["/bin/older"], 0));
    let entry = table.get(300).expect("live");
    assert_eq!(entry.exe, Some(os("/bin/newer")));
    assert_eq!(entry.ppid, 1);
    assert_eq!(entry.updated, 50.0);
    // Nor does a stale fork's parent.
    table.apply(&fork(45.0, 300, 5, 9));
    assert_eq!(table.get(300).map(|e| e.ppid), Some(1));
    // An exit always applies.
    table.apply(&exit(30.0, 300, 5, 1, 4));
    assert!(table.get(300).is_none());
    assert_eq!(
        table
            .find(id(300, 5))
            .and_then(|e| e.exit.as_deref().copied())
            .map(|e| e.time),
        Some(30.0)
    );
}

#[test]
fn fill_stores_reads_only_for_the_same_pending_process() {
    let mut table = ProcessTable::new(HOUR);
    table.apply(&fork(1.0, 10, 3, 999));
    let read = Missing {
        exe: Some(os("/bin/read")),
        cmdline: argv(&["read"]),
        uids: Some([5; 3]),
        gids: Some([6; 3]),
    };
    // Another identity under the same pid: ignored.
    table.fill(id(10, 4), read.clone());
    assert!(table.get(10).is_some_and(|e| e.pending && e.exe.is_none()));
    table.fill(id(10, 3), read);
    let entry = table.get(10).expect("live");
    assert!(!entry.pending);
    assert_eq!(entry.exe, Some(os("/bin/read")));
    assert_eq!(entry.uids, Some([5; 3]));
}

#[test]
fn name_extends_a_cut_comm_from_the_first_argument() {
    let mut table = ProcessTable::new(HOUR);
    table.apply(&exec(
        1.0,
        5,
        1,
        0,
        &["/opt/a-very-long-program-name", "-v"],
        0,
    ));
    let mut entry = table.get(5).expect("live").clone();
    entry.comm = os("a-very-long-pro");
    assert_eq!(entry.name(), os("a-very-long-program-name"));
    entry.comm = os("other-long-name");
    assert_eq!(entry.name(), os("other-long-name"));
}

/// Fixture `/proc` roots: what the table reads of a process (stat, status, cmdline, exe),
/// written by the test. Linux only: the portable build's host reads the live system.
#[cfg(native_linux)]
pub(super) mod fixture {
    use crate::host::procfs::testutil::TempDir;
    use crate::host::procfs::Procfs;

    /// The fixture's boot time (`btime` in its `stat`).
    pub const BTIME: f64 = 1_700_000_000.0;

    /// One process of a fixture root.
    pub struct Proc<'a> {
        pub pid: u32,
        pub ppid: u32,
        pub comm: &'a str,
        pub state: char,
        pub start: u64,
        pub argv: &'a [&'a str],
        pub uid: u32,
    }

    /// A fixture `/proc` root, removed on drop.
    pub struct Root {
        dir: TempDir,
    }

    impl Root {
        pub fn new(tag: &str) -> Root {
            let dir = TempDir::new(tag);
            dir.write("stat", b"cpu  1 2 3 4\nbtime 1700000000\nprocesses 9\n");
            Root { dir }
        }

        /// A reader of this root.
        pub fn host(&self) -> Procfs {
            Procfs::with_root(self.dir.path())
        }

        /// Writes (or rewrites) the files of `p`.
        pub fn add(&self, p: &Proc) {
            let pid = p.pid;
            // Fields after `(comm)`: index i is field i + 3 of stat(5).
            let mut fields = vec!["0".to_owned(); 41];
            fields[0] = p.state.to_string();
            fields[1] = p.ppid.to_string();
            fields[17] = "1".into(); // num_threads
            fields[19] = p.start.to_string();
            let stat = format!("{pid} ({}) {}\n", p.comm, fields.join(" "));
            self.dir.write(&format!("{pid}/stat"), stat.as_bytes());
            let (u, g) = (p.uid, p.uid + 1);
            let status = format!(
                "Name:\t{}\nState:\t{} (x)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{}\n\
                 Uid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\nThreads:\t1\n",
                p.comm, p.state, p.ppid
            );
            self.dir.write(&format!("{pid}/status"), status.as_bytes());
            let mut cmdline = Vec::new();
            for arg in p.argv {
                cmdline.extend_from_slice(arg.as_bytes());
                cmdline.push(0);
            }
            self.dir.write(&format!("{pid}/cmdline"), &cmdline);
            let link = self.dir.path().join(format!("{pid}/exe"));
            let _ = std::fs::remove_file(&link);
            if let Some(exe) = p.argv.first() {
                std::os::unix::fs::symlink(exe, &link).expect("fixture link is creatable");
            }
        }

        /// Removes process `pid` (it ended, or was reaped).
        pub fn remove(&self, pid: u32) {
            std::fs::remove_dir_all(self.dir.path().join(pid.to_string()))
                .expect("fixture process exists");
        }
    }

    pub fn proc<'a>(pid: u32, ppid: u32, start: u64, argv: &'a [&'a str]) -> Proc<'a> {
        let comm = argv
            .first()
            .map_or("proc", |exe| exe.rsplit('/').next().unwrap_or(exe));
        Proc {
            pid,
            ppid,
            comm,
            state: 'S',
            start,
            argv,
            uid: 1000,
        }
    }
}

#[cfg(native_linux)]
use fixture::{proc, Proc, Root, BTIME};

#[cfg(native_linux)]
#[test]
fn seed_reads_every_process_of_a_fixture_root() {
    let root = Root::new("table-seed");
    root.add(&proc(1, 0, 1, &["/sbin/init"]));
    root.add(&proc(40, 1, 250, &["/usr/bin/python3", "app.py"]));
    root.add(&Proc {
        comm: "worker",
        state: 'Z',
        argv: &[],
        ..proc(41, 40, 300, &[])
    });
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    assert_eq!(table.seed(&host, 500.0).expect("fixture scan"), 3);

    let app = table.get(40).expect("seeded");
    assert_eq!(app.id, id(40, 250));
    assert_eq!(app.create_time, BTIME + 2.5);
    assert_eq!(app.ppid, 1);
    assert_eq!(app.comm, os("python3"));
    assert_eq!(app.exe, Some(os("/usr/bin/python3")));
    assert_eq!(app.cmdline, argv(&["/usr/bin/python3", "app.py"]));
    assert_eq!(app.uids, Some([1000; 3]));
    assert_eq!(app.gids, Some([1001; 3]));
    assert_eq!(app.origin, Origin::Seeded);
    assert_eq!(app.updated, 500.0);
    assert!(!app.pending && !app.zombie && app.exit.is_none());
    let zombie = table.get(41).expect("a zombie is listed");
    assert!(zombie.zombie);
    // A zombie's cmdline and exe cannot be read (psutil's ZombieProcess): absent, not empty.
    assert_eq!((zombie.cmdline.clone(), zombie.exe.clone()), (None, None));
    assert_eq!(
        table
            .children(1, true)
            .iter()
            .map(|e| e.id.pid)
            .collect::<Vec<_>>(),
        vec![40, 41]
    );

    // A second scan refreshes and adds only what is new; an entry built from events keeps its
    // origin while taking the newer data.
    root.add(&proc(42, 40, 400, &["/bin/late", "b"]));
    table.apply(&exec(600.0, 42, 400, 40, &["/bin/late", "a"], 1000));
    root.add(&proc(43, 1, 410, &["/bin/new"]));
    assert_eq!(table.seed(&host, 700.0).expect("fixture scan"), 1);
    assert_eq!(table.len(), 5);
    assert_eq!(table.stats().seeded, 4);
    let late = table.get(42).expect("from the event");
    assert_eq!(
        (late.origin, late.updated, late.cmdline.clone()),
        (Origin::Event, 700.0, argv(&["/bin/late", "b"]))
    );
    assert_eq!(table.get(40).map(|e| e.updated), Some(700.0));
}

#[cfg(native_linux)]
#[test]
fn a_partial_seed_leaves_entries_pending_until_completed() {
    let root = Root::new("table-pending");
    root.add(&proc(7, 1, 70, &["/bin/bash", "-l"]));
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    let fields = SeedFields {
        exe: false,
        cmdline: false,
        ids: false,
    };
    assert_eq!(
        table.seed_with(&host, 1.0, fields).expect("fixture scan"),
        1
    );
    let entry = table.get(7).expect("seeded");
    assert!(entry.pending);
    assert_eq!((entry.exe.clone(), entry.uids), (None, None));
    assert_eq!(table.pending(), vec![id(7, 70)]);

    table.complete(&host);
    let entry = table.get(7).expect("still there");
    assert!(!entry.pending);
    assert_eq!(entry.exe, Some(os("/bin/bash")));
    assert_eq!(entry.cmdline, argv(&["/bin/bash", "-l"]));
    assert_eq!(entry.uids, Some([1000; 3]));

    // What a pending entry lacks is not read when the pid is now another process.
    root.add(&proc(7, 1, 71, &["/bin/other"]));
    let missing = read_missing(&host, id(7, 70));
    assert_eq!(missing.exe, None);
    assert_eq!(read_missing(&host, id(7, 71)).exe, Some(os("/bin/other")));
}

#[cfg(native_linux)]
#[test]
fn resync_after_lost_events_retires_the_vanished_and_adds_the_unseen() {
    let root = Root::new("table-resync");
    root.add(&proc(1, 0, 1, &["/sbin/init"]));
    root.add(&proc(50, 1, 100, &["/bin/a"]));
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    table.seed(&host, 10.0).expect("fixture scan");

    // Events lost meanwhile: 50 exited and 51 started; the source reports the loss.
    root.remove(50);
    root.add(&proc(51, 1, 200, &["/bin/b", "--flag"]));
    table.resync(&host, 20.0).expect("fixture scan");

    assert!(table.get(50).is_none());
    let gone = table.find(id(50, 100)).expect("kept as exited");
    assert_eq!(
        gone.exit.as_deref().copied(),
        Some(ExitInfo {
            time: 20.0,
            status: None
        })
    );
    let new = table.get(51).expect("added by the resync");
    assert_eq!(new.origin, Origin::Seeded);
    assert_eq!(new.cmdline, argv(&["/bin/b", "--flag"]));
    let stats = table.stats();
    assert_eq!(
        (stats.resyncs, stats.vanished, stats.seeded),
        (1, 1, 3),
        "{stats:?}"
    );
    // A late exit event for the vanished process (it was only delayed) is kept too: the
    // seen status then stands next to the inferred one.
    table.apply(&exit(19.0, 50, 100, 1, 2));
    assert_eq!(
        table
            .find_exited(50)
            .and_then(|e| e.exit.as_deref().copied())
            .and_then(|e| e.status)
            .and_then(|s| s.exit_code),
        Some(2)
    );
}

#[cfg(native_linux)]
#[test]
fn a_scan_finding_a_reused_pid_replaces_the_old_process() {
    let root = Root::new("table-reuse");
    root.add(&proc(60, 1, 100, &["/bin/first"]));
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    table.seed(&host, 10.0).expect("fixture scan");

    root.add(&proc(60, 1, 400, &["/bin/second"]));
    table.resync(&host, 20.0).expect("fixture scan");
    let live = table.get(60).expect("the new process");
    assert_eq!(live.id, id(60, 400));
    assert_eq!(live.exe, Some(os("/bin/second")));
    let old = table.find(id(60, 100)).expect("the old one exited");
    assert_eq!(old.exe, Some(os("/bin/first")));
    assert_eq!(
        old.exit.as_deref().copied().map(|e| (e.time, e.status)),
        Some((20.0, None))
    );
    let stats = table.stats();
    assert_eq!((stats.pid_reuse_unseen_exit, stats.vanished), (1, 0));
}

#[cfg(native_linux)]
#[test]
fn orphans_are_reparented_when_their_parent_exits() {
    let root = Root::new("table-orphans");
    root.add(&proc(1, 0, 1, &["/sbin/init"]));
    root.add(&proc(70, 1, 100, &["/bin/parent"]));
    root.add(&proc(71, 70, 110, &["/bin/child"]));
    root.add(&proc(72, 70, 120, &["/bin/child"]));
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    table.seed(&host, 10.0).expect("fixture scan");
    assert_eq!(table.children(70, false).len(), 2);

    table.apply(&exit(11.0, 70, 100, 1, 0));
    for pid in [71, 72] {
        let child = table.get(pid).expect("the children live on");
        assert!(child.ppid_stale, "pid {pid} must be re-read");
    }
    assert!(!table.get(1).expect("init").ppid_stale);

    // The kernel gave 71 to init and 72 to a subreaper, and 72 then exited unseen.
    root.add(&proc(71, 1, 110, &["/bin/child"]));
    root.remove(72);
    table.refresh_unsettled(&host, 12.0);
    let child = table.get(71).expect("still alive");
    assert_eq!((child.ppid, child.ppid_stale), (1, false));
    assert!(table.get(72).is_none());
    assert_eq!(
        table
            .find(id(72, 120))
            .and_then(|e| e.exit.as_deref().copied())
            .map(|e| e.status),
        Some(None)
    );
    assert_eq!(
        table
            .children(1, false)
            .iter()
            .map(|e| e.id.pid)
            .collect::<Vec<_>>(),
        vec![71]
    );
    assert!(table.children(70, true).is_empty());
}

#[cfg(native_linux)]
#[test]
fn a_zombie_found_by_a_scan_leaves_when_it_is_reaped() {
    let root = Root::new("table-zombie");
    root.add(&proc(80, 1, 100, &["/bin/parent"]));
    root.add(&Proc {
        state: 'Z',
        comm: "defunct",
        argv: &[],
        ..proc(81, 80, 150, &[])
    });
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    table.seed(&host, 10.0).expect("fixture scan");
    assert!(table.get(81).is_some_and(|e| e.zombie));

    // Not reaped yet: it stays (no exit event will ever come for it).
    table.refresh_unsettled(&host, 11.0);
    assert!(table.get(81).is_some_and(|e| e.zombie && e.exit.is_none()));
    assert_eq!(table.stats().vanished, 0);

    root.remove(81);
    table.refresh_unsettled(&host, 12.0);
    assert!(table.get(81).is_none());
    let reaped = table.find(id(81, 150)).expect("kept as exited");
    assert_eq!(
        reaped.exit.as_deref().copied(),
        Some(ExitInfo {
            time: 12.0,
            status: None
        })
    );
    assert_eq!(table.stats().vanished, 1);
    assert!(table.get(80).is_some(), "the parent is untouched");
}

#[cfg(native_linux)]
#[test]
fn an_exit_reparents_its_children_through_the_parent_index() {
    let root = Root::new("table-reparent-index");
    root.add(&proc(1, 0, 1, &["/sbin/init"]));
    root.add(&proc(50, 1, 50, &["/bin/subreaper"]));
    root.add(&proc(60, 50, 60, &["/bin/parent"]));
    for pid in 61..=64 {
        root.add(&proc(pid, 60, u64::from(pid), &["/bin/child"]));
    }
    root.add(&proc(65, 61, 65, &["/bin/grandchild"]));
    let host = root.host();
    let mut table = ProcessTable::new(HOUR);
    table.seed(&host, 10.0).expect("fixture scan");
    assert!(table.index_is_consistent());
    let pids = |entries: Vec<&Entry>| entries.iter().map(|e| e.id.pid).collect::<Vec<_>>();
    assert_eq!(pids(table.children(60, false)), vec![61, 62, 63, 64]);
    assert_eq!(pids(table.children(50, true)), vec![60, 61, 62, 63, 64, 65]);

    // 60 exits: exactly its children are marked, found through the index.
    table.apply(&exit(11.0, 60, 60, 50, 0));
    assert!(table.index_is_consistent());
    let stale: Vec<u32> = table
        .live()
        .filter(|e| e.ppid_stale)
        .map(|e| e.id.pid)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(stale, vec![61, 62, 63, 64]);

    // The kernel gave 61 and 62 to the subreaper, 63 to init; 64 ended unseen.
    root.remove(60);
    root.add(&proc(61, 50, 61, &["/bin/child"]));
    root.add(&proc(62, 50, 62, &["/bin/child"]));
    root.add(&proc(63, 1, 63, &["/bin/child"]));
    root.remove(64);
    table.refresh_unsettled(&host, 12.0);
    assert!(table.index_is_consistent());
    assert!(table.live().all(|e| !e.ppid_stale));
    assert_eq!(pids(table.children(50, false)), vec![61, 62]);
    assert_eq!(pids(table.children(50, true)), vec![61, 62, 65]);
    assert_eq!(pids(table.children(1, false)), vec![50, 63]);
    assert!(table.children(60, true).is_empty());
    assert!(table.get(64).is_none());

    // A new process on the exited parent's pid has no children of the old one.
    table.apply(&fork(13.0, 60, 130, 1));
    assert!(table.index_is_consistent());
    assert!(table.children(60, true).is_empty());
    assert_eq!(pids(table.children(1, false)), vec![50, 60, 63]);
}

#[test]
fn the_parent_index_follows_every_event_and_an_exit_touches_only_children() {
    // A deterministic mix of forks, execs (under a new parent too), exits, exits of
    // processes never seen alive and reused pids; the index must agree with the entries
    // after each event.
    let mut table = ProcessTable::new(HOUR);
    let mut seed = 0x2545_f491_u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    let mut start = 1_000u64;
    for step in 0..5_000 {
        let time = 10.0 + f64::from(step) / 100.0;
        let pid = 2 + next(300) as u32;
        let parent = 1 + next(300) as u32;
        start += 1;
        let event = match next(4) {
            0 | 1 => fork(time, pid, start, parent),
            2 => exec(time, pid, start, parent, &["/bin/x"], 0),
            _ => exit(time, pid, start, parent, 0),
        };
        table.apply(&event);
        assert!(table.index_is_consistent(), "after step {step}: {event:?}");
    }

    // One parent with many children among many unrelated processes: its exit marks its
    // children and nothing else.
    let mut table = ProcessTable::new(HOUR);
    table.apply(&fork(1.0, 10, 10, 1));
    for pid in 100..2_100 {
        table.apply(&fork(2.0, pid, u64::from(pid), 10));
    }
    for pid in 3_000..13_000 {
        table.apply(&fork(2.0, pid, u64::from(pid), 1));
    }
    table.apply(&exit(3.0, 10, 10, 1, 0));
    assert!(table.index_is_consistent());
    let stale = table.live().filter(|e| e.ppid_stale).count();
    assert_eq!(stale, 2_000);
    assert!(table
        .live()
        .filter(|e| e.ppid_stale)
        .all(|e| e.ppid == 10 && (100..2_100).contains(&e.id.pid)));
}

#[test]
fn retaining_live_entries_keeps_the_parent_index() {
    // Scoped tracing forgets the processes outside the scope: the index must forget them too,
    // or an exit would later mark a forgotten pid's successor as an orphan.
    let mut table = ProcessTable::new(HOUR);
    for pid in 2..40 {
        table.apply(&fork(1.0, pid, u64::from(pid), 1 + pid % 3));
    }
    table.retain_live(|pid| pid % 2 == 0);
    assert!(table.index_is_consistent());
    assert!(table.get(3).is_none() && table.get(4).is_some());
}

#[test]
fn a_live_entry_carries_no_exit_inline() {
    // Every live process costs an entry (50,000 on a big host, issue 17) and a hash table
    // slot of its size: an exit's usage alone is larger than the rest, so it is boxed.
    assert!(
        std::mem::size_of::<ExitInfo>() > std::mem::size_of::<Entry>(),
        "ExitInfo {} bytes, Entry {}",
        std::mem::size_of::<ExitInfo>(),
        std::mem::size_of::<Entry>()
    );
    assert!(
        std::mem::size_of::<Entry>() <= 160,
        "Entry {} bytes",
        std::mem::size_of::<Entry>()
    );
}

#[test]
fn entries_keep_no_spare_capacity() {
    let mut table = ProcessTable::new(Duration::from_secs(60));
    let mut event = exec(10.0, 100, 50, 1, &["/bin/app", "--flag"], 1000);
    if let Details::Exec(exec) = &mut event.details {
        exec.cmdline.reserve(32);
        exec.cmdline[0].reserve(100);
        if let Some(exe) = &mut exec.exe {
            exe.reserve(100);
        }
    }
    event.name.reserve(100);
    table.apply(&event);
    let entry = table.get(100).expect("added by its exec");
    let cmdline = entry.cmdline.as_ref().expect("from the exec");
    assert_eq!(cmdline, &argv(&["/bin/app", "--flag"]).unwrap());
    assert_eq!(cmdline.capacity(), 2);
    assert_eq!(cmdline[0].capacity(), "/bin/app".len());
    assert_eq!(
        entry.exe.as_ref().map(|e| e.capacity()),
        Some("/bin/app".len())
    );
    assert_eq!(entry.comm.capacity(), "app".len());

    let pending = id(200, 60);
    table.apply(&fork(11.0, 200, 60, 999));
    let mut read = vec![os("/bin/other")];
    read.reserve(40);
    table.fill(
        pending,
        Missing {
            cmdline: Some(read),
            ..Missing::default()
        },
    );
    let filled = table.get(200).expect("forked");
    assert_eq!(filled.cmdline.as_ref().map(Vec::capacity), Some(1));
}
