//! Turns the raw bytes of a ring-buffer record into an owned [`Event`].

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use tracer_common::{
    ExecRecord, ExitRecord, ExitSchedRecord, ForkRecord, PlacementIds, PlacementObjects,
    RecordHeader, RecordKind, ARGS_CAPTURE, EXEC_FIXED_LEN, EXE_CAPTURE, EXIT_FIXED_LEN,
    FLAG_ARGS_TRUNCATED, FLAG_EXE_AS_PASSED, FLAG_EXE_TRUNCATED, FLAG_INHERITED, FLAG_PLACED,
    FORK_INHERITED_LEN, USAGE_CORE, USAGE_IO_BYTES, USAGE_IO_CHARS, USAGE_PREV_CPUTIME,
    USAGE_SCHED,
};

use crate::event::{split_cmdline, Backend, Details, Event, Exec, Exit, IoUsage, ProcessId, Usage};
use crate::host::clock::Clock;

/// A record that does not match the layout shared with the kernel programs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// Reads a `T` from the start of `bytes`, which must be long enough.
fn read<T: Copy>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(DecodeError(format!(
            "record of {} bytes is shorter than {}",
            bytes.len(),
            std::any::type_name::<T>()
        )));
    }
    // SAFETY: length checked; `T` is a plain-data record for which any bytes are valid.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

fn cstr_bytes(bytes: &[u8]) -> OsString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    OsString::from_vec(bytes[..end].to_vec())
}

/// Builds a path from NUL-terminated components, leaf first. A walk that stopped short of the
/// root gives a path without the leading `/`: the tail of the real one.
fn path_from_components(bytes: &[u8], truncated: bool) -> OsString {
    let mut path = Vec::with_capacity(bytes.len() + 1);
    let components = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if !components.is_empty() {
        for (i, component) in components.rsplit(|&b| b == 0).enumerate() {
            if i > 0 || !truncated {
                path.push(b'/');
            }
            path.extend_from_slice(component);
        }
    } else if !truncated {
        path.push(b'/');
    }
    OsString::from_vec(path)
}

/// The usage an exit record carries, in psutil's units; `None` when the kernel read none.
fn usage(
    fields: u32,
    raw: &tracer_common::Usage,
    sched: &tracer_common::SchedSummary,
) -> Option<Usage> {
    if fields & USAGE_CORE == 0 {
        return None;
    }
    let (user_ns, system_ns) = if fields & USAGE_PREV_CPUTIME != 0 {
        cputime_adjust(
            raw.utime_ns,
            raw.stime_ns,
            raw.runtime_ns,
            raw.prev_utime_ns,
            raw.prev_stime_ns,
        )
    } else {
        // No prev_cputime: precise (native) accounting, the samples are the times.
        (raw.utime_ns, raw.stime_ns)
    };
    let seconds = |ns: u64| ns as f64 / 1e9;
    let chars = fields & USAGE_IO_CHARS != 0;
    let bytes = fields & USAGE_IO_BYTES != 0;
    Some(Usage {
        user: seconds(user_ns),
        system: seconds(system_ns),
        children_user: seconds(raw.cutime_ns),
        children_system: seconds(raw.cstime_ns),
        peak_rss: raw
            .maxrss_pages
            .saturating_mul(crate::platform::page_size()),
        voluntary_ctx_switches: raw.nvcsw,
        involuntary_ctx_switches: raw.nivcsw,
        minor_faults: raw.min_flt,
        major_faults: raw.maj_flt,
        io: IoUsage {
            read_count: chars.then_some(raw.syscr),
            write_count: chars.then_some(raw.syscw),
            read_bytes: bytes.then_some(raw.read_bytes),
            write_bytes: bytes.then_some(raw.write_bytes),
            read_chars: chars.then_some(raw.rchar),
            write_chars: chars.then_some(raw.wchar),
        },
        sched: (fields & USAGE_SCHED != 0).then(|| super::sched::summary(sched)),
    })
}

/// User and system time as the kernel reports them (`cputime_adjust`): the tick samples
/// `utime`/`stime` only give the ratio, the precise runtime is split in that ratio, and
/// neither may fall below what was reported before (`prev`). This is what `wait4(2)`,
/// `getrusage(2)` and `/proc/PID/stat` (so psutil) give for the same process.
fn cputime_adjust(utime: u64, stime: u64, rtime: u64, prev_u: u64, prev_s: u64) -> (u64, u64) {
    if prev_u.saturating_add(prev_s) >= rtime {
        return (prev_u, prev_s);
    }
    let mut stime = if stime == 0 {
        0
    } else if utime == 0 {
        rtime
    } else {
        let scaled = (stime as u128 * rtime as u128 / (stime as u128 + utime as u128)) as u64;
        scaled.min(rtime)
    };
    stime = stime.max(prev_s);
    let mut utime = rtime - stime;
    if utime < prev_u {
        utime = prev_u;
        stime = rtime - utime;
    }
    (utime, stime)
}

/// The fields of an [`ExecRecord`] before its tail.
struct ExecFixed {
    uids: [u32; 3],
    gids: [u32; 3],
    args_len: u32,
    args_total: u32,
    exe_len: u32,
    objects: PlacementObjects,
    placement: PlacementIds,
}

impl ExecFixed {
    /// Reads the fields from a record at least [`EXEC_FIXED_LEN`] bytes long.
    fn read(bytes: &[u8]) -> Self {
        let word = |offset: usize| {
            let raw = bytes[offset..offset + 4]
                .try_into()
                .expect("four bytes within the checked fixed part");
            u32::from_ne_bytes(raw)
        };
        let words = |offset: usize| [word(offset), word(offset + 4), word(offset + 8)];
        Self {
            uids: words(std::mem::offset_of!(ExecRecord, uids)),
            gids: words(std::mem::offset_of!(ExecRecord, gids)),
            args_len: word(std::mem::offset_of!(ExecRecord, args_len)),
            args_total: word(std::mem::offset_of!(ExecRecord, args_total)),
            exe_len: word(std::mem::offset_of!(ExecRecord, exe_len)),
            objects: read(&bytes[std::mem::offset_of!(ExecRecord, objects)..])
                .expect("the objects lie within the checked fixed part"),
            placement: read(&bytes[std::mem::offset_of!(ExecRecord, placement)..])
                .expect("the placement lies within the checked fixed part"),
        }
    }
}

/// What an exit record carries besides its event: enough to compute its CPU times again
/// once the process's final runtime is known ([`tracer_common::FinalRecord`]).
#[derive(Clone, Copy, Debug)]
pub struct ExitRaw {
    /// The process (tgid).
    pub pid: u32,
    /// Its `start_boottime`.
    pub start_boottime_ns: u64,
    /// When the exit record was written (CLOCK_BOOTTIME).
    pub time_ns: u64,
    fields: u32,
    usage: tracer_common::Usage,
    sched: tracer_common::SchedSummary,
}

impl ExitRaw {
    /// The usage with the group's runtime raised to `runtime_ns` (never lowered).
    pub fn usage_with_runtime(&self, runtime_ns: u64) -> Option<Usage> {
        let mut raw = self.usage;
        raw.runtime_ns = raw.runtime_ns.max(runtime_ns);
        usage(self.fields, &raw, &self.sched)
    }
}

/// The raw parts of an exit record that carries usage (`None` otherwise).
pub fn exit_raw(bytes: &[u8]) -> Option<ExitRaw> {
    let header: RecordHeader = read(bytes).ok()?;
    if header.kind != RecordKind::Exit as u8 || bytes.len() < size_of::<ExitRecord>() {
        return None;
    }
    let mut full = [0u8; size_of::<ExitSchedRecord>()];
    let len = bytes.len().min(full.len());
    full[..len].copy_from_slice(&bytes[..len]);
    let record: ExitSchedRecord = read(&full).ok()?;
    let mut fields = record.exit.usage_fields;
    if len < full.len() {
        fields &= !USAGE_SCHED;
    }
    (fields & USAGE_CORE != 0).then_some(ExitRaw {
        pid: header.pid,
        start_boottime_ns: header.start_boottime_ns,
        time_ns: header.time_ns,
        fields,
        usage: record.exit.usage,
        sched: record.sched,
    })
}

/// A [`tracer_common::FinalRecord`], when `bytes` is one.
pub fn final_record(bytes: &[u8]) -> Option<tracer_common::FinalRecord> {
    (bytes.first() == Some(&(RecordKind::Final as u8)))
        .then(|| read(bytes).ok())
        .flatten()
}

/// What a fork or exec record says of where its process runs. The token is a digest of the
/// record's [`PlacementObjects`]: equal tokens, the same placement (but for the ids in the PID
/// namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPlacement {
    /// The kernel read the ids ([`FLAG_PLACED`]).
    Read {
        /// The ids.
        ids: PlacementIds,
        /// Their token.
        token: u64,
    },
    /// A fork or an exec that runs where the process's parent (for a fork: the process that
    /// forked) does ([`FLAG_INHERITED`]).
    Inherited {
        /// Its token, to check against the one remembered with that process.
        token: u64,
    },
}

/// The token of a placement's kernel objects (never 0, which stands for none).
fn token(objects: &PlacementObjects) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(objects) | 1
}

/// Decodes one record, with where its process runs when the kernel read it (fork and exec
/// records flagged [`FLAG_PLACED`] or [`FLAG_INHERITED`]).
pub fn record(
    bytes: &[u8],
    clock: &Clock,
) -> Result<(Event, Option<KernelPlacement>), DecodeError> {
    let header: RecordHeader = read(bytes)?;
    let kind = RecordKind::from_u8(header.kind)
        .ok_or_else(|| DecodeError(format!("unknown record kind {}", header.kind)))?;
    let start_ticks = clock.ticks_from_boot_ns(header.start_boottime_ns);
    let placed = header.flags & FLAG_PLACED != 0;
    let mut placement = None;
    let details = match kind {
        RecordKind::Fork if header.flags & FLAG_INHERITED != 0 => {
            // The record ends before its placement.
            let mut full = [0u8; size_of::<ForkRecord>()];
            let head = bytes.get(..FORK_INHERITED_LEN).ok_or_else(|| {
                DecodeError(format!(
                    "inherited fork record of {} bytes is shorter than {FORK_INHERITED_LEN}",
                    bytes.len()
                ))
            })?;
            full[..FORK_INHERITED_LEN].copy_from_slice(head);
            let fork: ForkRecord = read(&full)?;
            placement = Some(KernelPlacement::Inherited {
                token: token(&fork.objects),
            });
            Details::Fork {
                parent_pid: fork.parent_pid,
            }
        }
        RecordKind::Fork => {
            let fork: ForkRecord = read(bytes)?;
            placement = placed.then(|| KernelPlacement::Read {
                ids: fork.placement,
                token: token(&fork.objects),
            });
            Details::Fork {
                parent_pid: fork.parent_pid,
            }
        }
        RecordKind::Final => {
            return Err(DecodeError(
                "a final CPU-time record is not an event (see `final_record`)".into(),
            ))
        }
        RecordKind::Exit => {
            // A kernel without the usage fields sends the record without its usage part.
            if bytes.len() < EXIT_FIXED_LEN {
                return Err(DecodeError(format!(
                    "exit record of {} bytes is shorter than its fixed part",
                    bytes.len()
                )));
            }
            // With scheduler accounting the record is followed by its summary.
            let mut full = [0u8; size_of::<ExitSchedRecord>()];
            let len = bytes.len().min(full.len());
            full[..len].copy_from_slice(&bytes[..len]);
            let mut record: ExitSchedRecord = read(&full)?;
            if len < size_of::<ExitRecord>() {
                record.exit.usage_fields = 0;
            } else if len < full.len() {
                record.exit.usage_fields &= !USAGE_SCHED;
            }
            let exit = record.exit;
            let duration =
                header.time_ns.saturating_sub(header.start_boottime_ns) as f64 / 1_000_000_000.0;
            let mut status = Exit::from_wait_status(exit.exit_code, duration);
            status.usage = usage(exit.usage_fields, &exit.usage, &record.sched);
            Details::Exit(status)
        }
        RecordKind::Exec => {
            if bytes.len() < EXEC_FIXED_LEN {
                return Err(DecodeError(format!(
                    "exec record of {} bytes is shorter than its fixed part",
                    bytes.len()
                )));
            }
            // Only the used part of the tail is in the ring: read the fixed fields, then take
            // the path and the arguments from the bytes that follow them.
            let exec = ExecFixed::read(bytes);
            placement = if header.flags & FLAG_INHERITED != 0 {
                Some(KernelPlacement::Inherited {
                    token: token(&exec.objects),
                })
            } else {
                placed.then(|| KernelPlacement::Read {
                    ids: exec.placement,
                    token: token(&exec.objects),
                })
            };
            let exe_len = (exec.exe_len as usize).min(EXE_CAPTURE);
            let args_len = (exec.args_len as usize).min(ARGS_CAPTURE);
            let tail = &bytes[EXEC_FIXED_LEN..];
            let (exe, args) = tail
                .get(..exe_len + args_len)
                .map(|packed| packed.split_at(exe_len))
                .ok_or_else(|| {
                    DecodeError(format!(
                        "exec record of {} bytes is shorter than its {exe_len} bytes of path \
                         and {args_len} bytes of argv",
                        bytes.len()
                    ))
                })?;
            let exe_truncated = header.flags & FLAG_EXE_TRUNCATED != 0;
            Details::Exec(Box::new(Exec {
                exe: Some(if header.flags & FLAG_EXE_AS_PASSED != 0 {
                    OsString::from_vec(exe.to_vec())
                } else {
                    path_from_components(exe, exe_truncated)
                }),
                cmdline: split_cmdline(args),
                uids: exec.uids,
                gids: exec.gids,
                cmdline_truncated: header.flags & FLAG_ARGS_TRUNCATED != 0,
                cmdline_bytes: exec.args_total,
                exe_truncated,
            }))
        }
    };
    let event = Event {
        time: clock.epoch_seconds(header.time_ns),
        id: ProcessId {
            pid: header.pid,
            start_ticks,
        },
        create_time: clock.create_time(start_ticks),
        ppid: header.ppid,
        uid: header.uid,
        gid: header.gid,
        name: cstr_bytes(&header.comm),
        backend: Backend::Ebpf,
        // Filled by the source from the ids, or from /proc (see `crate::source::place`).
        placement: None,
        details,
    };
    Ok((event, placement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_the_runtime_split_in_the_ratio_of_the_samples() {
        // 3 ticks user, 1 tick system, 1 s of runtime: 0.75 s user, 0.25 s system.
        assert_eq!(
            cputime_adjust(12_000_000, 4_000_000, 1_000_000_000, 0, 0),
            (750_000_000, 250_000_000)
        );
        // No system sample: all user; no user sample: all system.
        assert_eq!(cputime_adjust(8, 0, 100, 0, 0), (100, 0));
        assert_eq!(cputime_adjust(0, 8, 100, 0, 0), (0, 100));
        // Never below what was reported before.
        assert_eq!(cputime_adjust(12, 4, 100, 10, 40), (60, 40));
        assert_eq!(cputime_adjust(1, 99, 100, 30, 0), (30, 70));
        assert_eq!(cputime_adjust(12, 4, 100, 60, 50), (60, 50));
    }

    /// An exec record as the kernel program writes it: the fixed part, then `exe` and `args`
    /// packed in the tail, nothing after them.
    fn exec_bytes(flags: u8, exe: &[u8], args: &[u8], args_total: u32) -> Vec<u8> {
        let header = RecordHeader {
            kind: RecordKind::Exec as u8,
            flags,
            _pad: [0; 2],
            pid: 42,
            ppid: 1,
            tid: 43,
            uid: 1000,
            gid: 100,
            time_ns: 5_000_000_000,
            start_boottime_ns: 4_000_000_000,
            comm: *b"true\0\0\0\0\0\0\0\0\0\0\0\0",
        };
        // SAFETY: a plain #[repr(C)] record without padding holes, fully initialised.
        let header_bytes = unsafe {
            std::slice::from_raw_parts(
                (&header as *const RecordHeader).cast::<u8>(),
                size_of::<RecordHeader>(),
            )
        };
        let mut bytes = header_bytes.to_vec();
        for word in [1000u32, 1001, 1002, 100, 101, 102] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        for word in [args.len() as u32, args_total, exe.len() as u32, 0] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        for object in [1u64, 2, 3] {
            bytes.extend_from_slice(&object.to_ne_bytes());
        }
        bytes.extend_from_slice(&7u64.to_ne_bytes());
        for word in [11u32, 12, 13, 14, 15, 16, 17, 5, 4, 0] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        assert_eq!(bytes.len(), EXEC_FIXED_LEN);
        bytes.extend_from_slice(exe);
        bytes.extend_from_slice(args);
        bytes
    }

    #[test]
    fn exec_records_carry_path_and_argv_packed() {
        let clock = Clock::new_or_derived();
        let bytes = exec_bytes(0, b"true\0bin\0usr\0", b"/bin/true\0a b\0\xff\0", 17);
        let (event, ids) = record(&bytes, &clock).expect("a well-formed record");
        assert_eq!(ids, None, "not flagged as placed");
        let Details::Exec(exec) = event.details else {
            panic!("not an exec: {:?}", event.details);
        };
        assert_eq!(
            exec.exe.as_deref(),
            Some(std::ffi::OsStr::new("/usr/bin/true"))
        );
        let args: Vec<&[u8]> = exec.cmdline.iter().map(|a| a.as_encoded_bytes()).collect();
        assert_eq!(args, [&b"/bin/true"[..], b"a b", b"\xff"]);
        assert_eq!(exec.uids, [1000, 1001, 1002]);
        assert_eq!(exec.gids, [100, 101, 102]);
        assert_eq!(exec.cmdline_bytes, 17);
        assert!(!exec.cmdline_truncated && !exec.exe_truncated);
        assert_eq!(event.id.pid, 42);

        // Cut argv and a path as passed to execve, flagged.
        let flags = FLAG_ARGS_TRUNCATED | FLAG_EXE_AS_PASSED | FLAG_EXE_TRUNCATED | FLAG_PLACED;
        let bytes = exec_bytes(flags, b"./x", b"abc", 9000);
        let (event, ids) = record(&bytes, &clock).unwrap();
        assert_eq!(
            ids,
            Some(KernelPlacement::Read {
                ids: PlacementIds {
                    cgroup_id: 7,
                    namespaces: [11, 12, 13, 14, 15, 16, 17],
                    vpid: 5,
                    vppid: 4,
                    _pad: 0,
                },
                token: token(&[1, 2, 3]),
            })
        );
        let Details::Exec(exec) = event.details else {
            panic!("not an exec");
        };
        assert_eq!(exec.exe.as_deref(), Some(std::ffi::OsStr::new("./x")));
        assert_eq!(exec.cmdline, ["abc"]);
        assert!(exec.cmdline_truncated && exec.exe_truncated);
        assert_eq!(exec.cmdline_bytes, 9000);

        // No argv (unreadable), and a record shorter than its lengths say.
        let bytes = exec_bytes(0, b"sh\0", b"", 0);
        let Details::Exec(exec) = record(&bytes, &clock).unwrap().0.details else {
            panic!("not an exec");
        };
        assert!(exec.cmdline.is_empty());
        assert_eq!(exec.exe.as_deref(), Some(std::ffi::OsStr::new("/sh")));
        let bytes = exec_bytes(0, b"sh\0", b"abc\0", 4);
        assert!(record(&bytes[..bytes.len() - 1], &clock).is_err());
        assert!(record(&bytes[..EXEC_FIXED_LEN - 1], &clock).is_err());

        // An exec where its parent runs: only the token, whatever the ids' bytes hold.
        let bytes = exec_bytes(FLAG_INHERITED, b"true\0", b"true\0", 5);
        let (event, ids) = record(&bytes, &clock).unwrap();
        assert_eq!(
            ids,
            Some(KernelPlacement::Inherited {
                token: token(&[1, 2, 3])
            })
        );
        assert!(matches!(event.details, Details::Exec(_)));
    }

    #[test]
    fn inherited_forks_end_before_their_placement() {
        let clock = Clock::new_or_derived();
        let header = RecordHeader {
            kind: RecordKind::Fork as u8,
            flags: FLAG_INHERITED,
            _pad: [0; 2],
            pid: 42,
            ppid: 7,
            tid: 8,
            uid: 0,
            gid: 0,
            time_ns: 5_000_000_000,
            start_boottime_ns: 4_000_000_000,
            comm: *b"sh\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        };
        let fork = ForkRecord {
            header,
            parent_pid: 8,
            _pad: 0,
            objects: [1, 2, 3],
            placement: PlacementIds::default(),
        };
        // SAFETY: a plain #[repr(C)] record without padding holes, fully initialised.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&fork as *const ForkRecord).cast::<u8>(),
                FORK_INHERITED_LEN,
            )
        };
        let (event, ids) = record(bytes, &clock).expect("a well-formed record");
        assert_eq!(
            ids,
            Some(KernelPlacement::Inherited {
                token: token(&[1, 2, 3])
            })
        );
        assert_ne!(token(&[1, 2, 3]), token(&[1, 2, 4]));
        assert!(matches!(event.details, Details::Fork { parent_pid: 8 }));
        assert!(record(&bytes[..FORK_INHERITED_LEN - 1], &clock).is_err());
    }

    #[test]
    fn paths_are_built_from_leaf_first_components() {
        assert_eq!(
            path_from_components(b"true\0bin\0usr\0", false),
            "/usr/bin/true"
        );
        assert_eq!(path_from_components(b"init\0", false), "/init");
        assert_eq!(path_from_components(b"", false), "/");
        assert_eq!(path_from_components(b"c\0b\0", true), "b/c");
    }
}
