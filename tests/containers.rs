//! Containers, cgroups and namespaces against the real kernel: the test makes cgroups on the
//! v2 hierarchy (found from the mounts) named as docker, containerd, CRI-O and the kubelet
//! name theirs with the systemd and the cgroupfs drivers, starts processes in them (the pid
//! written to `cgroup.procs`, then exec), and checks the fields `tracer events` and `tracer
//! ps` show, the filters, `ps --group-by`, and namespaces made with `unshare`.
//!
//! Every cgroup the test makes is removed when its guard drops, also when the test fails: the
//! guard kills what is still inside, then removes the directories deepest first.

mod common;

use common::TestCgroups as Cgroups;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{tracer_bin, Agent, Tracer};
use serde_json::Value;

const DOCKER: &str = "d0c4e7000000000000000000000000000000000000000000000000000000d0c1";
const DOCKER_FS: &str = "d0c4e7f5000000000000000000000000000000000000000000000000000000c2";
const CONTAINERD: &str = "c0417a1d00000000000000000000000000000000000000000000000000000c01";
const CONTAINERD_FS: &str = "c0417a1df5000000000000000000000000000000000000000000000000000c02";
const KUBE_FS: &str = "cafe000000000000000000000000000000000000000000000000000000000c03";
const POD: &str = "5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8";
const POD_FS: &str = "0badcafe-0000-4000-8000-000000000001";

/// The ids differ in their first 12 digits, as docker prints them.
#[test]
fn ids_differ_in_their_short_form() {
    let ids = [DOCKER, DOCKER_FS, CONTAINERD, CONTAINERD_FS, KUBE_FS];
    let short: BTreeSet<&str> = ids.iter().map(|id| &id[..12]).collect();
    assert_eq!(short.len(), ids.len());
    assert!(ids.iter().all(|id| id.len() == 64));
}

/// Starts `argv` in the cgroup `relative` (made if needed) and waits until it runs `argv[0]`.
fn spawn_in(cgroups: &mut Cgroups, relative: &str, argv: &str) -> Child {
    let child = cgroups.spawn(relative, argv);
    let name = argv.split(' ').next().unwrap().rsplit('/').next().unwrap();
    wait_for(|| comm(child.id()).as_deref() == Some(name), "the exec");
    child
}

/// Kills and reaps children when dropped (also when a test fails).
struct Reaped(Vec<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The inode of `/proc/PID/ns/KIND`.
fn ns(pid: u32, kind: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .ino()
}

/// `tracer ARGS… --json` (direct), parsed.
fn tracer_json(args: &[&str]) -> Value {
    let out = Command::new(tracer_bin())
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tracer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const PLACEMENT: &str = "pid,ppid,cgroup,cgroup_id,container_id,container_runtime,pod_uid,\
pidns,mntns,netns,userns,utsns,ipcns,cgroupns,vpid,vppid";

/// `tracer ps` rows of these pids by pid.
fn rows(extra: &[&str], pids: &[u32]) -> BTreeMap<u64, Value> {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let mut args = vec!["ps", "--attrs", PLACEMENT, "--pid"];
    let joined = pids.join(",");
    args.push(&joined);
    args.extend(extra);
    let rows = tracer_json(&args);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["pid"].as_u64().unwrap(), r.clone()))
        .collect()
}

/// A cgroup the test makes: its path under the test's root, and the container id, runtime
/// and pod uid it names.
type Shape = (
    String,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// Every shape the test makes.
fn shapes() -> Vec<Shape> {
    let pod_systemd = POD.replace('-', "_");
    vec![
        (
            format!("system.slice/docker-{DOCKER}.scope"),
            Some(DOCKER),
            Some("docker"),
            None,
        ),
        (format!("docker/{DOCKER_FS}"), Some(DOCKER_FS), Some("docker"), None),
        (
            format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod_systemd}.slice/cri-containerd-{CONTAINERD}.scope"
            ),
            Some(CONTAINERD),
            Some("containerd"),
            Some(POD),
        ),
        (
            format!("k8s.io/{CONTAINERD_FS}"),
            Some(CONTAINERD_FS),
            Some("containerd"),
            None,
        ),
        (
            format!("kubepods/besteffort/pod{POD_FS}/{KUBE_FS}"),
            Some(KUBE_FS),
            None,
            Some(POD_FS),
        ),
        ("plain.slice/app.service".into(), None, None, None),
    ]
}

/// Checks a record's placement; namespaces against `/proc` while the process lives, else
/// against the row read while it lived.
fn check_placement(
    what: &str,
    record: &Value,
    path: &str,
    id: u64,
    shape: (Option<&str>, Option<&str>, Option<&str>),
    lived: Option<&Value>,
) {
    assert_eq!(record["cgroup"], path, "{what}: {record}");
    assert_eq!(record["cgroup_id"], id, "{what}: {record}");
    let (container, runtime, pod) = shape;
    assert_eq!(
        record["container_id"].as_str(),
        container,
        "{what}: {record}"
    );
    assert_eq!(
        record["container_runtime"].as_str(),
        runtime,
        "{what}: {record}"
    );
    assert_eq!(record["pod_uid"].as_str(), pod, "{what}: {record}");
    let pid = record["pid"].as_u64().unwrap() as u32;
    for (field, kind) in [
        ("pidns", "pid"),
        ("mntns", "mnt"),
        ("netns", "net"),
        ("userns", "user"),
        ("utsns", "uts"),
        ("ipcns", "ipc"),
        ("cgroupns", "cgroup"),
    ] {
        let want = match lived {
            Some(row) => row[field].clone(),
            None => ns(pid, kind).into(),
        };
        assert!(want.is_u64(), "{what} {field}: {want}");
        assert_eq!(record[field], want, "{what} {field}: {record}");
    }
    assert_eq!(record["vpid"], pid, "{what}: {record}");
}

#[test]
#[ignore = "needs root: makes cgroups and loads eBPF programs"]
fn every_runtime_shape_in_events_rows_and_filters() {
    let mut cgroups = Cgroups::new("shapes");
    let shapes = shapes();
    for (relative, ..) in &shapes {
        cgroups.dir(relative);
    }
    let docker_prefix = &DOCKER[..12];
    let tracer = Tracer::start(&[]);
    let by_container = Tracer::start(&["--container", docker_prefix]);
    let by_cgroup = Tracer::start(&["--cgroup", &cgroups.path("kubepods.slice")]);
    let by_pod = Tracer::start(&["--pod", POD_FS]);
    let mut children = Reaped(Vec::new());
    let outside = Command::new("sleep").arg("0.1").spawn().unwrap();
    children.0.push(outside);
    let mut pids = Vec::new();
    for (relative, ..) in &shapes {
        let child = spawn_in(&mut cgroups, relative, "sleep 30");
        pids.push(child.id());
        children.0.push(child);
    }
    let outside_pid = children.0[0].id();

    // Rows, read now: every field as /proc tells it.
    let live = rows(&[], &pids);
    for ((relative, container, runtime, pod), pid) in shapes.iter().zip(&pids) {
        let path = cgroups.path(relative);
        let id = cgroups.id(relative);
        check_placement(
            "row",
            &live[&u64::from(*pid)],
            &path,
            id,
            (*container, *runtime, *pod),
            None,
        );
    }
    // ps filters select exactly the processes there.
    let selected = |args: &[&str]| -> BTreeSet<u64> {
        let mut all = vec!["ps", "--attrs", "pid"];
        all.extend(args);
        tracer_json(&all)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["pid"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        selected(&["--container", docker_prefix]),
        BTreeSet::from([u64::from(pids[0])])
    );
    assert_eq!(
        selected(&["--container", &CONTAINERD[..12], "--container", KUBE_FS]),
        BTreeSet::from([u64::from(pids[2]), u64::from(pids[4])])
    );
    assert_eq!(
        selected(&["--cgroup", &cgroups.path("kubepods")]),
        BTreeSet::from([u64::from(pids[4])])
    );
    assert_eq!(
        selected(&["--cgroup", cgroups.root()]),
        pids.iter().map(|&p| u64::from(p)).collect()
    );
    assert_eq!(
        selected(&["--pod", POD]),
        BTreeSet::from([u64::from(pids[2])])
    );

    drop(children);
    let out = tracer.stop();
    assert!(out.status.success(), "tracer failed: {}", out.stderr);
    for ((relative, container, runtime, pod), pid) in shapes.iter().zip(&pids) {
        let path = cgroups.path(relative);
        let id = cgroups.id(relative);
        let shape = (*container, *runtime, *pod);
        let exec = out
            .of("exec", *pid)
            .into_iter()
            .find(|e| e["name"] == "sleep")
            .unwrap_or_else(|| panic!("no exec of sleep for {pid}"));
        check_placement(
            "exec",
            exec,
            &path,
            id,
            shape,
            Some(&live[&u64::from(*pid)]),
        );
        // The exit carries where it ran (its namespaces are gone by then in /proc).
        let exit = out.one("exit", *pid);
        assert_eq!(exit["cgroup"], path.as_str(), "{exit}");
        assert_eq!(exit["container_id"].as_str(), *container, "{exit}");
        assert_eq!(exit["pod_uid"].as_str(), *pod, "{exit}");
    }
    let seen = |out: &common::Output| -> BTreeSet<u64> {
        out.records
            .iter()
            .filter(|r| r["event"] == "exec" || r["event"] == "exit")
            .map(|r| r["pid"].as_u64().unwrap())
            .collect()
    };
    let wanted = |indices: &[usize]| -> BTreeSet<u64> {
        indices.iter().map(|&i| u64::from(pids[i])).collect()
    };
    // The filtered streams let through exactly the events of the processes there (and none of
    // the process outside, nor of the test's shells before they joined).
    let by_container = by_container.stop();
    assert_eq!(seen(&by_container), wanted(&[0]), "{}", by_container.stderr);
    let by_cgroup = by_cgroup.stop();
    assert_eq!(seen(&by_cgroup), wanted(&[2]));
    let by_pod = by_pod.stop();
    assert_eq!(seen(&by_pod), wanted(&[4]));
    for out in [&by_container, &by_cgroup, &by_pod] {
        assert!(!seen(out).contains(&u64::from(outside_pid)));
        let lifecycle = ["fork", "exec", "exit"];
        assert!(out
            .records
            .iter()
            .filter(|r| lifecycle.iter().any(|e| r["event"] == *e))
            .all(|r| r["cgroup"]
                .as_str()
                .is_some_and(|c| c.starts_with(cgroups.root()))));
    }
}

#[test]
#[ignore = "needs root: makes cgroups and runs an agent"]
fn a_process_moved_after_exec_shows_its_new_cgroup() {
    let mut cgroups = Cgroups::new("moved");
    let from = format!("system.slice/docker-{DOCKER}.scope");
    let to = format!("docker/{DOCKER_FS}");
    let agent = Agent::start("containers-moved", &[]);
    let child = spawn_in(&mut cgroups, &from, "sleep 30");
    let pid = child.id();
    let _children = Reaped(vec![child]);
    let row = |direct: bool| -> Value {
        if direct {
            return rows(&[], &[pid])[&u64::from(pid)].clone();
        }
        let answer = agent.json(&[
            "ps",
            "--json",
            "--attrs",
            PLACEMENT,
            "--pid",
            &pid.to_string(),
        ]);
        answer[0].clone()
    };
    assert_eq!(row(false)["container_id"], DOCKER);
    cgroups.move_to(&to, pid);
    let id = cgroups.id(&to);
    for direct in [true, false] {
        let now = row(direct);
        check_placement(
            if direct { "direct" } else { "agent" },
            &now,
            &cgroups.path(&to),
            id,
            (Some(DOCKER_FS), Some("docker"), None),
            None,
        );
    }
}

#[test]
#[ignore = "needs root: makes cgroups"]
fn group_by_sums_equal_the_per_process_sums() {
    let mut cgroups = Cgroups::new("groups");
    let mut children = Reaped(Vec::new());
    let shapes = [
        (format!("system.slice/docker-{DOCKER}.scope"), 3),
        (format!("docker/{DOCKER_FS}"), 2),
    ];
    for (relative, count) in &shapes {
        for _ in 0..*count {
            children
                .0
                .push(spawn_in(&mut cgroups, relative, "sleep 30"));
        }
    }
    let attrs = "pid,container_id,cgroup,pod_uid,cpu_times,memory_info,num_threads,io_counters";
    let rows = tracer_json(&["ps", "--attrs", attrs, "--cgroup", cgroups.root()]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for by in ["container", "cgroup"] {
        let groups = tracer_json(&["ps", "--group-by", by, "--cgroup", cgroups.root()]);
        let groups = groups.as_array().unwrap();
        assert_eq!(groups.len(), 2, "{groups:?}");
        for group in groups {
            let key = &group[by];
            let field = if by == "container" {
                "container_id"
            } else {
                by
            };
            let members: Vec<&Value> = rows.iter().filter(|r| &r[field] == key).collect();
            assert_eq!(group["num_procs"], members.len(), "{group}");
            let pids: Vec<u64> = members.iter().map(|r| r["pid"].as_u64().unwrap()).collect();
            let mut sorted = pids.clone();
            sorted.sort_unstable();
            assert_eq!(group["pids"], serde_json::json!(sorted));
            let sum = |f: &dyn Fn(&Value) -> f64| -> f64 { members.iter().map(|r| f(r)).sum() };
            let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
            assert!(close(
                group["memory_info"]["rss"].as_f64().unwrap(),
                sum(&|r| r["memory_info"]["rss"].as_f64().unwrap())
            ));
            assert!(close(
                group["num_threads"].as_f64().unwrap(),
                sum(&|r| r["num_threads"].as_f64().unwrap())
            ));
            for key in ["user", "system", "children_user", "children_system"] {
                assert!(close(
                    group["cpu_times"][key].as_f64().unwrap(),
                    sum(&|r| r["cpu_times"][key].as_f64().unwrap())
                ));
            }
            for key in ["read_count", "write_count", "read_bytes", "write_chars"] {
                assert!(close(
                    group["io_counters"][key].as_f64().unwrap(),
                    sum(&|r| r["io_counters"][key].as_f64().unwrap())
                ));
            }
            if by == "container" {
                assert_eq!(group["container_runtime"], "docker");
            }
        }
    }
    // The text view has a line per group.
    let out = Command::new(tracer_bin())
        .args(["ps", "--group-by", "container", "--cgroup", cgroups.root()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("CONTAINER"), "{text}");
    assert!(
        text.contains(&DOCKER[..12]) && text.contains(&DOCKER_FS[..12]),
        "{text}"
    );
}

/// The host pid of the only child of `parent`.
fn only_child(parent: u32) -> u32 {
    let mut found = None;
    wait_for(
        || {
            found = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
                .ok()
                .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()));
            found.is_some()
        },
        "a child",
    );
    found.unwrap()
}

#[test]
#[ignore = "needs root: unshare(1) and eBPF programs"]
fn namespaces_and_ids_in_the_own_pid_namespace() {
    let me = std::process::id();
    let tracer = Tracer::start(&[]);
    let mut children = Reaped(Vec::new());
    // A new PID and mount namespace: sh is its init (vpid 1), sleep its child (vpid 2).
    let unshare = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            "sleep 30; true",
        ])
        .spawn()
        .unwrap();
    let init = only_child(unshare.id());
    let sleeper = only_child(init);
    wait_for(|| comm(sleeper).as_deref() == Some("sleep"), "sleep");
    children.0.push(unshare);
    // New network, UTS and IPC namespaces, the PID namespace of the host.
    let netted = Command::new("unshare")
        .args(["--net", "--uts", "--ipc", "sleep", "30"])
        .spawn()
        .unwrap();
    let netted_pid = netted.id();
    wait_for(|| comm(netted_pid).as_deref() == Some("sleep"), "sleep");
    children.0.push(netted);

    let live = rows(&[], &[init, sleeper, netted_pid]);
    let (init_row, sleeper_row, netted_row) = (
        &live[&u64::from(init)],
        &live[&u64::from(sleeper)],
        &live[&u64::from(netted_pid)],
    );
    assert_eq!(
        (init_row["vpid"].as_u64(), init_row["vppid"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (sleeper_row["vpid"].as_u64(), sleeper_row["vppid"].as_u64()),
        (Some(2), Some(1))
    );
    for row in [init_row, sleeper_row] {
        assert_eq!(row["pidns"], ns(init, "pid"));
        assert_ne!(row["pidns"], ns(me, "pid"));
        assert_eq!(row["mntns"], ns(init, "mnt"));
        assert_ne!(row["mntns"], ns(me, "mnt"));
        assert_eq!(row["netns"], ns(me, "net"));
    }
    assert_eq!(netted_row["vpid"], netted_pid);
    assert_eq!(netted_row["pidns"], ns(me, "pid"));
    for (field, kind) in [("netns", "net"), ("utsns", "uts"), ("ipcns", "ipc")] {
        assert_eq!(netted_row[field], ns(netted_pid, kind));
        assert_ne!(netted_row[field], ns(me, kind), "{field}");
    }
    // ps --pidns selects the namespace's processes.
    let pidns = ns(init, "pid").to_string();
    let selected = tracer_json(&["ps", "--attrs", "pid", "--pidns", &pidns]);
    let selected: BTreeSet<u64> = selected
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(
        selected,
        BTreeSet::from([u64::from(init), u64::from(sleeper)])
    );

    drop(children);
    let out = tracer.stop();
    let exec = out
        .of("exec", sleeper)
        .into_iter()
        .find(|e| e["name"] == "sleep")
        .expect("the exec of sleep");
    assert_eq!(
        (exec["vpid"].as_u64(), exec["vppid"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(exec["pidns"], pidns.parse::<u64>().unwrap());
    let exec = out
        .of("exec", netted_pid)
        .into_iter()
        .find(|e| e["name"] == "sleep")
        .expect("the exec of sleep");
    assert_ne!(exec["netns"], ns(me, "net"));
    assert_eq!(exec["vpid"], netted_pid);
}

/// An exec where its parent runs sends the kernel's token of the placement only (no ids
/// read): its placement is the one its fork had, or its parent's. Inside a container-shaped
/// cgroup and new network/UTS namespaces, a shell's children exec'd there carry the shell's
/// cgroup and namespaces; a child that joins another cgroup before its exec carries that one.
#[test]
#[ignore = "needs root: makes cgroups, unshare(1) and eBPF programs"]
fn execs_where_the_parent_runs_carry_its_placement() {
    let me = std::process::id();
    let mut cgroups = Cgroups::new("inherit");
    let inner = format!("system.slice/docker-{DOCKER}.scope");
    let other = format!("docker/{DOCKER_FS}");
    cgroups.dir(&inner);
    let other_procs = cgroups.dir(&other).join("cgroup.procs");
    let tracer = Tracer::start(&[]);
    // The shell joins the cgroup, then the namespaces; its children run where it does but
    // the last, which joins `other` first.
    let script = format!(
        "/bin/true; /bin/sleep 0.05; sh -c 'echo \\$\\$ > {}; exec /bin/sleep 0.05'",
        other_procs.display()
    );
    let mut shell = cgroups.spawn(&inner, &format!("unshare --net --uts sh -c \"{script}\""));
    assert!(shell.wait().unwrap().success());
    let out = tracer.stop();
    assert!(out.status.success(), "tracer failed: {}", out.stderr);

    let execs: Vec<&Value> = out
        .records
        .iter()
        .filter(|r| r["event"] == "exec" && r["ppid"].as_u64().is_some())
        .collect();
    let named = |name: &str| -> Vec<&Value> {
        execs
            .iter()
            .copied()
            .filter(|e| {
                e["name"] == name && e["cgroup"].as_str().is_some_and(|c| c.contains(DOCKER))
            })
            .collect()
    };
    let inner_path = cgroups.path(&inner);
    let (true_exec, sleeps) = (named("true"), named("sleep"));
    assert_eq!(true_exec.len(), 1, "{execs:#?}");
    assert_eq!(sleeps.len(), 1, "{execs:#?}");
    let shell_exec = execs
        .iter()
        .find(|e| e["name"] == "sh" && e["cgroup"] == inner_path.as_str())
        .expect("the exec of the shell in its cgroup");
    for exec in [true_exec[0], sleeps[0]] {
        assert_eq!(exec["cgroup"], inner_path.as_str(), "{exec}");
        assert_eq!(exec["cgroup_id"], cgroups.id(&inner), "{exec}");
        assert_eq!(exec["container_id"], DOCKER, "{exec}");
        assert_eq!(exec["vpid"], exec["pid"], "{exec}");
        for field in ["netns", "utsns", "mntns", "pidns"] {
            assert_eq!(exec[field], shell_exec[field], "{field}: {exec}");
        }
        assert_ne!(exec["netns"], ns(me, "net"), "{exec}");
        assert_eq!(exec["mntns"], ns(me, "mnt"), "{exec}");
    }
    let moved = execs
        .iter()
        .find(|e| e["name"] == "sleep" && e["cgroup"] == cgroups.path(&other).as_str())
        .expect("the exec of the child that joined the other cgroup");
    assert_eq!(moved["container_id"], DOCKER_FS, "{moved}");
    assert_eq!(moved["netns"], shell_exec["netns"], "{moved}");
}

/// The fields exist, null, where nothing tells them: the sysinfo backend.
#[test]
fn sysinfo_backend_leaves_the_fields_null() {
    let out = Command::new(tracer_bin())
        .args([
            "ps",
            "--json",
            "--attrs",
            PLACEMENT,
            "--pid",
            &std::process::id().to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    // procfs (the direct reader on Linux) fills them all.
    let row = &rows[0];
    assert_eq!(row["vpid"], std::process::id());
    assert_eq!(row["netns"], ns(std::process::id(), "net"));
    let tracer = Tracer::start(&["--backend", "sysinfo", "--interval", "0.05"]);
    // Long enough to be seen by a poll every 50 ms on a loaded host.
    let mut child = Command::new("sleep").arg("1.5").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = tracer.stop();
    let fork = out.one("fork", pid);
    for field in PLACEMENT.split(',').skip(2) {
        assert!(fork[field].is_null(), "{field}: {fork}");
    }
}
