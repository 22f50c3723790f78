//! The accounting's rules on events made here: membership at fork, exec and exit, counters
//! that add exited members' final usage and never go backwards.

use super::*;
use crate::event::{Backend, Exec, Exit};
use crate::table::live::TracerConfig;

fn inner(config: &str) -> Inner {
    let tracer = Tracer::start(TracerConfig::snapshot()).expect("a snapshot table starts");
    Inner {
        config: GroupsConfig::parse(config).unwrap(),
        host: tracer.host().clone(),
        tracer,
        boot_time: 1_700_000_000,
        ticks_per_second: 100,
        started_ticks: 1_000,
        state: Mutex::new(State::default()),
        scraping: Mutex::new(()),
        up: AtomicBool::new(true),
        lost_events: AtomicU64::new(0),
    }
}

fn id(pid: u32) -> ProcessId {
    ProcessId {
        pid,
        start_ticks: 2_000 + u64::from(pid),
    }
}

fn event(pid: u32, ppid: u32, name: &str, details: Details) -> Event {
    Event {
        time: 0.0,
        id: id(pid),
        create_time: 0.0,
        ppid,
        uid: 0,
        gid: 0,
        name: name.into(),
        backend: Backend::Ebpf,
        placement: None,
        details,
    }
}

fn fork(pid: u32, parent: u32, name: &str) -> Event {
    event(pid, parent, name, Details::Fork { parent_pid: parent })
}

fn exec(pid: u32, ppid: u32, name: &str, argv: &[&str]) -> Event {
    event(
        pid,
        ppid,
        name,
        Details::Exec(Box::new(Exec {
            exe: None,
            cmdline: argv.iter().map(Into::into).collect(),
            uids: [0; 3],
            gids: [0; 3],
            cmdline_truncated: false,
            cmdline_bytes: 0,
            exe_truncated: false,
        })),
    )
}

fn exit(pid: u32, name: &str, user: f64, system: f64) -> Event {
    event(
        pid,
        1,
        name,
        Details::Exit(Exit {
            usage: Some(Usage {
                user,
                system,
                minor_faults: 10,
                ..Usage::default()
            }),
            ..Exit::from_wait_status(0, 0.01)
        }),
    )
}

fn totals(inner: &Inner) -> Vec<(String, Counts, u64)> {
    let state = inner.lock();
    let mut out: Vec<_> = state
        .groups
        .iter()
        .map(|g| (g.name.to_string(), g.totals, g.members))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn short_lived_members_count_in_full_at_exit() {
    let inner = inner("process_names:\n  - name: '{{.Comm}}'\n    cmdline: ['.+']\n");
    let mut state = inner.lock();
    inner.apply(&mut state, &exec(100, 1, "driver", &["driver"]));
    for pid in 200..210 {
        inner.apply(&mut state, &fork(pid, 100, "driver"));
        inner.apply(&mut state, &exec(pid, 100, "burn", &["burn", "5ms"]));
        inner.apply(&mut state, &exit(pid, "burn", 0.004, 0.001));
    }
    drop(state);
    let groups = totals(&inner);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let (name, counts, members) = &groups[0];
    assert_eq!((name.as_str(), *members), ("burn", 0));
    assert!((counts.cpu_user - 0.04).abs() < 1e-9, "{counts:?}");
    assert!((counts.cpu_system - 0.01).abs() < 1e-9, "{counts:?}");
    assert_eq!(counts.minor_faults, 100);
    assert_eq!((groups[1].0.as_str(), groups[1].2), ("driver", 1));
}

#[test]
fn forked_children_follow_their_parent_until_they_exec() {
    let inner = inner(
        "process_names:\n  - name: web\n    comm: [nginx]\n  - name: 'pid-{{.PID}}'\n    comm: [worker]\n",
    );
    let mut state = inner.lock();
    inner.apply(&mut state, &exec(10, 1, "nginx", &["nginx"]));
    inner.apply(&mut state, &fork(11, 10, "nginx"));
    // A child that execs something no rule matches stays in its parent's group.
    inner.apply(&mut state, &fork(12, 10, "nginx"));
    inner.apply(&mut state, &exec(12, 10, "sh", &["/bin/sh", "-c", "x"]));
    // Named by identity: a forked worker gets its own group.
    inner.apply(&mut state, &exec(20, 1, "worker", &["worker"]));
    inner.apply(&mut state, &fork(21, 20, "worker"));
    // No rule and no member parent: not a member.
    inner.apply(&mut state, &exec(30, 1, "cron", &["cron"]));
    inner.apply(&mut state, &fork(31, 30, "cron"));
    let group_of = |state: &State, pid: u32| {
        state.procs[&pid]
            .member
            .as_ref()
            .map(|m| state.groups[m.group].name.to_string())
    };
    assert_eq!(group_of(&state, 11).as_deref(), Some("web"));
    assert_eq!(group_of(&state, 12).as_deref(), Some("web"));
    assert_eq!(group_of(&state, 20).as_deref(), Some("pid-20"));
    assert_eq!(group_of(&state, 21).as_deref(), Some("pid-21"));
    assert_eq!(group_of(&state, 31), None);
    assert_eq!(state.groups[state.by_name["web"]].members, 3);
    // Exec into another group's image moves it; its old group keeps what it had counted.
    inner.apply(&mut state, &exec(11, 10, "worker", &["worker"]));
    assert_eq!(group_of(&state, 11).as_deref(), Some("pid-11"));
    assert_eq!(state.groups[state.by_name["web"]].members, 2);
}

#[test]
fn counters_never_go_backwards_and_count_only_what_is_new() {
    let inner = inner("process_names:\n  - comm: [app]\n");
    let mut state = inner.lock();
    inner.apply(&mut state, &exec(10, 1, "app", &["app"]));
    let group = state.by_name["app"];
    // A scrape saw 1.0 s; the exit reports 1.5 s in all: 0.5 s more.
    let seen = Counts {
        cpu_user: 1.0,
        ..Counts::default()
    };
    {
        let State { procs, groups, .. } = &mut *state;
        let member = procs.get_mut(&10).unwrap().member.as_mut().unwrap();
        groups[group]
            .totals
            .credit(member.seen.as_mut().unwrap(), &seen);
    }
    assert_eq!(state.groups[group].totals.cpu_user, 1.0);
    inner.apply(&mut state, &exit(10, "app", 1.5, 0.0));
    assert_eq!(state.groups[group].totals.cpu_user, 1.5);
    // A later figure below one counted adds nothing.
    let mut total = Counts {
        cpu_user: 2.0,
        ..Counts::default()
    };
    let mut seen = Counts {
        cpu_user: 3.0,
        minor_faults: 5,
        ..Counts::default()
    };
    total.credit(
        &mut seen,
        &Counts {
            cpu_user: 2.5,
            minor_faults: 7,
            ..Counts::default()
        },
    );
    assert_eq!((total.cpu_user, total.minor_faults), (2.0, 2));
    assert_eq!((seen.cpu_user, seen.minor_faults), (3.0, 7));
}

#[test]
fn processes_older_than_the_accounting_count_from_the_first_look() {
    let inner = inner("process_names:\n  - comm: [old]\n");
    let mut state = inner.lock();
    let old = ProcessId {
        pid: 5,
        start_ticks: 10,
    };
    let mut e = exec(5, 1, "old", &["old"]);
    e.id = old;
    inner.apply(&mut state, &e);
    let mut end = exit(5, "old", 100.0, 0.0);
    end.id = old;
    inner.apply(&mut state, &end);
    let group = state.by_name["old"];
    assert_eq!(state.groups[group].totals.cpu_user, 0.0);
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let inner = inner("process_names:\n  - comm: [a, b]\n");
    let mut state = inner.lock();
    inner.apply(&mut state, &exec(7, 1, "a", &["a"]));
    let mut reused = exec(7, 1, "b", &["b"]);
    reused.id.start_ticks += 50;
    inner.apply(&mut state, &reused);
    assert_eq!(state.groups[state.by_name["a"]].members, 0);
    assert_eq!(state.groups[state.by_name["b"]].members, 1);
    // The old process's exit, arriving late, is not the new one's.
    inner.apply(&mut state, &exit(7, "a", 1.0, 0.0));
    assert_eq!(state.groups[state.by_name["b"]].members, 1);
    assert_eq!(state.unknown_exits, 1);
}

#[test]
fn the_group_limit_evicts_the_longest_empty_group() {
    let inner = inner("process_names:\n  - name: 'p{{.PID}}'\n    comm: [x]\n");
    let mut state = inner.lock();
    for pid in 0..MAX_GROUPS as u32 {
        inner.apply(&mut state, &exec(pid + 10, 1, "x", &["x"]));
    }
    assert_eq!(state.groups.len(), MAX_GROUPS);
    // All in use: a new one is refused and counted.
    inner.apply(&mut state, &exec(20_000, 1, "x", &["x"]));
    assert_eq!(state.untracked, 1);
    inner.apply(&mut state, &exit(10, "x", 0.0, 0.0));
    inner.apply(&mut state, &exec(20_001, 1, "x", &["x"]));
    assert_eq!(state.evicted_groups, 1);
    assert!(state.by_name.contains_key("p20001") && !state.by_name.contains_key("p10"));
    assert_eq!(state.groups.len(), MAX_GROUPS);
}

#[test]
fn a_scrape_reads_live_members_and_keeps_exited_groups() {
    let inner =
        inner("process_names:\n  - name: me\n    comm: [me]\n  - name: gone\n    comm: [gone]\n");
    let host = Host::new();
    let me = std::process::id();
    let stat = host.stat(me).unwrap();
    let mut e = exec(me, 1, "me", &["me"]);
    e.id = ProcessId {
        pid: me,
        start_ticks: stat.starttime,
    };
    {
        let mut state = inner.lock();
        inner.apply(&mut state, &e);
        inner.apply(&mut state, &exec(4_000_000, 1, "gone", &["gone"]));
        inner.apply(&mut state, &exit(4_000_000, "gone", 0.5, 0.0));
    }
    let snapshot = inner.scrape();
    let names: Vec<&str> = snapshot.groups.iter().map(|g| &*g.name).collect();
    assert_eq!(names, ["gone", "me"]);
    let gone = &snapshot.groups[0];
    assert_eq!((gone.procs, gone.counts.cpu_user), (0, 0.5));
    let mine = &snapshot.groups[1];
    assert_eq!(mine.procs, 1);
    assert!(mine.resident > 0 && mine.threads >= 1 && mine.open_fds >= 3);
    assert!(mine.oldest_start_time >= 1_700_000_000.0);
    assert_eq!(snapshot.counters.tracked, 1);
}
