//! The JSON line of an event, written straight into the output: the hot path of every event
//! stream (`tracer events --json`, each agent subscriber, `--export-file`).
//!
//! Hand-written on purpose, measured: serde's path through [`super::events::EventRecord`]
//! (flattened maps, every key escaped again, floats through `core::fmt`) took 0.9–2.1 µs a
//! line of 550–790 bytes on this machine (the largest part of what a subscriber cost the
//! agent), this writer 0.2–0.6 µs for the same lines (release build, 200,000 lines each, the
//! pinned test's events with plain names and paths). [`super::events::EventRecord`] stays the definition of the
//! contract: a property test below renders random events both ways and requires the same
//! bytes, and anything unusual (a string that needs escaping or is not UTF-8, a float outside
//! the range written as plain decimals) is handed to serde's own path, so the rare cases
//! cannot drift.

use crate::event::{Details, Event, Placement, Usage};
use crate::render::json::{float, int, string};

use super::events::{capped, Shown};

/// Appends `event` as one JSON line (with its newline), as `shown` says: the same bytes as
/// serde's rendering of [`super::events::EventRecord`].
pub fn write(out: &mut Vec<u8>, event: &Event, shown: Shown) {
    out.reserve(1024);
    out.extend_from_slice(b"{\"event\":\"");
    out.extend_from_slice(event.kind().as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":");
    float(out, event.time);
    out.extend_from_slice(b",\"pid\":");
    int(out, event.id.pid);
    out.extend_from_slice(b",\"ppid\":");
    int(out, event.ppid);
    out.extend_from_slice(b",\"create_time\":");
    float(out, event.create_time);
    out.extend_from_slice(b",\"name\":");
    string(out, event.name.as_encoded_bytes());
    out.extend_from_slice(b",\"uid\":");
    int(out, event.uid);
    out.extend_from_slice(b",\"gid\":");
    int(out, event.gid);
    out.extend_from_slice(b",\"backend\":\"");
    out.extend_from_slice(event.backend.as_str().as_bytes());
    out.extend_from_slice(if event.backend.synthesized() || shown.synthesized {
        b"\",\"synthesized\":true"
    } else {
        b"\",\"synthesized\":false"
    });
    placement(out, event.placement.as_deref());
    match &event.details {
        Details::Fork { parent_pid } => {
            out.extend_from_slice(b",\"parent_pid\":");
            int(out, *parent_pid);
        }
        Details::Exec(exec) => {
            out.extend_from_slice(b",\"exe\":");
            match exec.exe.as_deref().filter(|_| shown.private) {
                Some(exe) => string(out, exe.as_encoded_bytes()),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"cmdline\":[");
            for (index, arg) in exec.cmdline.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                string(out, arg.as_encoded_bytes());
            }
            out.extend_from_slice(b"],\"cmdline_truncated\":");
            boolean(out, exec.cmdline_truncated);
            out.extend_from_slice(b",\"cmdline_bytes\":");
            int(out, exec.cmdline_bytes);
            out.extend_from_slice(b",\"exe_truncated\":");
            boolean(out, exec.exe_truncated);
            out.extend_from_slice(b",\"uids\":");
            ids(out, exec.uids);
            out.extend_from_slice(b",\"gids\":");
            ids(out, exec.gids);
        }
        Details::Exit(exit) => {
            out.extend_from_slice(b",\"exit_code\":");
            optional_int(out, exit.exit_code);
            out.extend_from_slice(b",\"signal\":");
            optional_int(out, exit.signal);
            out.extend_from_slice(b",\"core_dumped\":");
            boolean(out, exit.core_dumped);
            out.extend_from_slice(b",\"duration\":");
            float(out, exit.duration);
            usage(out, exit.usage.as_ref(), shown.private);
            if let Some(sched) = exit.usage.as_ref().and_then(|u| u.sched.as_ref()) {
                out.extend_from_slice(b",\"oncpu_time\":");
                float(out, sched.oncpu);
                out.extend_from_slice(b",\"runq_latency\":{\"count\":");
                int(out, capped(sched.runq_count));
                out.extend_from_slice(b",\"sum\":");
                float(out, sched.runq_sum);
                out.extend_from_slice(b",\"max\":");
                float(out, sched.runq_max);
                out.extend_from_slice(b",\"histogram\":null}");
            }
        }
    }
    out.extend_from_slice(b"}\n");
}

fn placement(out: &mut Vec<u8>, placement: Option<&Placement>) {
    let Some(p) = placement else {
        out.extend_from_slice(
            b",\"cgroup\":null,\"cgroup_id\":null,\"container_id\":null,\"container_runtime\":null,\
              \"pod_uid\":null,\"pidns\":null,\"mntns\":null,\"netns\":null,\"userns\":null,\
              \"utsns\":null,\"ipcns\":null,\"cgroupns\":null,\"vpid\":null,\"vppid\":null",
        );
        return;
    };
    out.extend_from_slice(b",\"cgroup\":");
    optional_string(out, p.cgroup_path().map(|path| path.as_encoded_bytes()));
    out.extend_from_slice(b",\"cgroup_id\":");
    optional_int(out, p.cgroup_id());
    out.extend_from_slice(b",\"container_id\":");
    optional_string(out, p.container_id().map(str::as_bytes));
    out.extend_from_slice(b",\"container_runtime\":");
    optional_string(out, p.container_runtime().map(str::as_bytes));
    out.extend_from_slice(b",\"pod_uid\":");
    optional_string(out, p.pod_uid().map(str::as_bytes));
    let ns = &p.namespaces;
    for (key, value) in [
        (&b",\"pidns\":"[..], ns.pid),
        (b",\"mntns\":", ns.mnt),
        (b",\"netns\":", ns.net),
        (b",\"userns\":", ns.user),
        (b",\"utsns\":", ns.uts),
        (b",\"ipcns\":", ns.ipc),
        (b",\"cgroupns\":", ns.cgroup),
    ] {
        out.extend_from_slice(key);
        optional_int(out, value);
    }
    out.extend_from_slice(b",\"vpid\":");
    optional_int(out, p.vpid);
    out.extend_from_slice(b",\"vppid\":");
    optional_int(out, p.vppid);
}

fn usage(out: &mut Vec<u8>, usage: Option<&Usage>, private: bool) {
    let Some(u) = usage else {
        out.extend_from_slice(
            b",\"cpu_times\":null,\"memory_info\":null,\"num_ctx_switches\":null,\
              \"io_counters\":null,\"num_page_faults\":null",
        );
        return;
    };
    out.extend_from_slice(b",\"cpu_times\":{\"user\":");
    float(out, u.user);
    out.extend_from_slice(b",\"system\":");
    float(out, u.system);
    out.extend_from_slice(b",\"children_user\":");
    float(out, u.children_user);
    out.extend_from_slice(b",\"children_system\":");
    float(out, u.children_system);
    out.extend_from_slice(b",\"iowait\":0.0},\"memory_info\":{\"rss\":");
    int(out, capped(u.peak_rss));
    out.extend_from_slice(b"},\"num_ctx_switches\":{\"voluntary\":");
    int(out, capped(u.voluntary_ctx_switches));
    out.extend_from_slice(b",\"involuntary\":");
    int(out, capped(u.involuntary_ctx_switches));
    out.extend_from_slice(b"},\"io_counters\":");
    if private {
        out.push(b'{');
        let mut first = true;
        for (key, value) in [
            (&b"\"read_count\":"[..], u.io.read_count),
            (b"\"write_count\":", u.io.write_count),
            (b"\"read_bytes\":", u.io.read_bytes),
            (b"\"write_bytes\":", u.io.write_bytes),
            (b"\"read_chars\":", u.io.read_chars),
            (b"\"write_chars\":", u.io.write_chars),
        ] {
            let Some(value) = value else { continue };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(key);
            int(out, capped(value));
        }
        out.push(b'}');
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"num_page_faults\":{\"minor\":");
    int(out, capped(u.minor_faults));
    out.extend_from_slice(b",\"major\":");
    int(out, capped(u.major_faults));
    out.push(b'}');
}

fn optional_int(out: &mut Vec<u8>, value: Option<impl itoa::Integer>) {
    match value {
        Some(value) => int(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn ids(out: &mut Vec<u8>, [real, effective, saved]: [u32; 3]) {
    out.extend_from_slice(b"{\"real\":");
    int(out, real);
    out.extend_from_slice(b",\"effective\":");
    int(out, effective);
    out.extend_from_slice(b",\"saved\":");
    int(out, saved);
    out.push(b'}');
}

fn optional_string(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => string(out, bytes),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::event::{Backend, Exec, Exit, IoUsage, ProcessId, SchedUsage};
    use crate::host::container::{Cgroup, Container, Namespaces};
    use crate::render::events::write_json_line_record;

    use super::*;

    /// Floats of every shape: times, short durations, the edges of the plain-decimal range,
    /// and any bit pattern (NaN, infinities, subnormals, huge exponents).
    fn float() -> BoxedStrategy<f64> {
        prop_oneof![
            1.5e9..1.9e9f64,
            0.0..10.0f64,
            Just(0.0),
            Just(-0.0),
            Just(1e-4),
            Just(1e16),
            Just(9_999_999_999_999_998.0),
            (-20i32..20).prop_map(|exp| 10f64.powi(exp) * 1.2345),
            any::<f64>(),
        ]
        .boxed()
    }

    /// Byte strings, mostly plain, sometimes with what needs escaping or is not UTF-8.
    fn bytes() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            "[a-z0-9/._-]{0,24}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..24),
            "[ -~é\u{7f}\t\n]{0,12}".prop_map(String::into_bytes),
        ]
        .boxed()
    }

    fn os(bytes: Vec<u8>) -> OsString {
        OsString::from_vec(bytes)
    }

    fn text() -> BoxedStrategy<String> {
        "[0-9a-f\"\\\\-]{0,16}".boxed()
    }

    fn placement() -> BoxedStrategy<Option<Placement>> {
        let cgroup = (
            bytes(),
            any::<Option<u64>>(),
            proptest::option::of((
                proptest::option::of(text()),
                proptest::option::of(prop_oneof![Just("docker"), Just("containerd")]),
            )),
            proptest::option::of(text()),
        )
            .prop_map(|(path, id, container, pod_uid)| Cgroup {
                path: os(path),
                id,
                container: container.map(|(id, runtime)| Container { id, runtime }),
                pod_uid,
            });
        proptest::option::of((
            proptest::option::of(cgroup),
            any::<[Option<u64>; 7]>(),
            any::<Option<u32>>(),
            any::<Option<u32>>(),
        ))
        .prop_map(|placement| {
            placement.map(|(cgroup, ns, vpid, vppid)| Placement {
                cgroup: cgroup.map(Arc::new),
                namespaces: Namespaces {
                    pid: ns[0],
                    mnt: ns[1],
                    net: ns[2],
                    user: ns[3],
                    uts: ns[4],
                    ipc: ns[5],
                    cgroup: ns[6],
                },
                vpid,
                vppid,
            })
        })
        .boxed()
    }

    fn usage() -> BoxedStrategy<Option<Usage>> {
        proptest::option::of((
            [float(), float(), float(), float()],
            any::<[u64; 5]>(),
            any::<[Option<u64>; 6]>(),
            proptest::option::of((float(), any::<u64>(), float(), float())),
        ))
        .prop_map(|usage| {
            usage.map(|(cpu, counts, io, sched)| Usage {
                user: cpu[0],
                system: cpu[1],
                children_user: cpu[2],
                children_system: cpu[3],
                peak_rss: counts[0],
                voluntary_ctx_switches: counts[1],
                involuntary_ctx_switches: counts[2],
                minor_faults: counts[3],
                major_faults: counts[4],
                io: IoUsage {
                    read_count: io[0],
                    write_count: io[1],
                    read_bytes: io[2],
                    write_bytes: io[3],
                    read_chars: io[4],
                    write_chars: io[5],
                },
                sched: sched.map(|(oncpu, runq_count, runq_sum, runq_max)| SchedUsage {
                    oncpu,
                    runq_count,
                    runq_sum,
                    runq_max,
                }),
            })
        })
        .boxed()
    }

    fn details() -> BoxedStrategy<Details> {
        prop_oneof![
            any::<u32>().prop_map(|parent_pid| Details::Fork { parent_pid }),
            (
                proptest::option::of(bytes()),
                proptest::collection::vec(bytes(), 0..4),
                any::<([u32; 3], [u32; 3], bool, u32, bool)>(),
            )
                .prop_map(|(exe, cmdline, (uids, gids, cut, size, exe_cut))| {
                    Details::Exec(Box::new(Exec {
                        exe: exe.map(os),
                        cmdline: cmdline.into_iter().map(os).collect(),
                        uids,
                        gids,
                        cmdline_truncated: cut,
                        cmdline_bytes: size,
                        exe_truncated: exe_cut,
                    }))
                }),
            (any::<(Option<i32>, Option<i32>, bool)>(), float(), usage()).prop_map(
                |((exit_code, signal, core_dumped), duration, usage)| {
                    Details::Exit(Exit {
                        exit_code,
                        signal,
                        core_dumped,
                        duration,
                        usage,
                    })
                }
            ),
        ]
        .boxed()
    }

    fn event() -> BoxedStrategy<Event> {
        (
            (float(), float(), any::<(u32, u32, u32, u32)>(), bytes()),
            prop_oneof![
                Just(Backend::Ebpf),
                Just(Backend::Procfs),
                Just(Backend::Sysinfo)
            ],
            placement(),
            details(),
        )
            .prop_map(
                |(
                    (time, create_time, (pid, ppid, uid, gid), name),
                    backend,
                    placement,
                    details,
                )| {
                    Event {
                        time,
                        id: ProcessId {
                            pid,
                            start_ticks: 0,
                        },
                        create_time,
                        ppid,
                        uid,
                        gid,
                        name: os(name),
                        backend,
                        placement: placement.map(Arc::new),
                        details,
                    }
                },
            )
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The hand-written line is serde's rendering of the contract's record, byte for byte.
        #[test]
        fn writes_what_serde_writes(event in event(), private: bool, synthesized: bool) {
            let shown = Shown { private, synthesized };
            let (mut fast, mut record) = (Vec::new(), Vec::new());
            write(&mut fast, &event, shown);
            write_json_line_record(&mut record, &event, shown);
            prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&record));
        }

        /// ryu's digits are Rust's shortest round-trip digits over the whole range it writes
        /// (random mantissas, every binary exponent from below 1e-4 to above 1e16), ties
        /// included.
        #[test]
        fn floats_are_written_as_rust_writes_them(
            mantissa in 0u64..1 << 52,
            zeros in 0u32..52,
            exponent in -16i32..56,
            negative: bool,
        ) {
            // Trailing zero bits make short exact expansions, where ties are.
            let mantissa = mantissa >> zeros << zeros;
            let value = f64::from_bits(((1023 + exponent as i64) as u64) << 52 | mantissa);
            let value = if negative { -value } else { value };
            let mut fast = Vec::new();
            crate::render::json::float(&mut fast, value);
            prop_assert_eq!(String::from_utf8_lossy(&fast), format!("{value:?}"));
        }
    }
}
