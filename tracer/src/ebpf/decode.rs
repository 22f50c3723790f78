//! Turns the raw bytes of a ring-buffer record into an owned [`Event`].

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use tracer_common::{
    ExecRecord, ExitRecord, ForkRecord, RecordHeader, RecordKind, ARGS_CAPTURE, EXEC_FIXED_LEN,
    EXE_CAPTURE, FLAG_ARGS_TRUNCATED, FLAG_EXE_AS_PASSED, FLAG_EXE_TRUNCATED,
};

use crate::clock::Clock;
use crate::event::{split_cmdline, Backend, Details, Event, Exec, Exit, ProcessId};

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

/// Decodes one record.
pub fn record(bytes: &[u8], clock: &Clock) -> Result<Event, DecodeError> {
    let header: RecordHeader = read(bytes)?;
    let kind = RecordKind::from_u8(header.kind)
        .ok_or_else(|| DecodeError(format!("unknown record kind {}", header.kind)))?;
    let start_ticks = clock.ticks_from_boot_ns(header.start_boottime_ns);
    let details = match kind {
        RecordKind::Fork => {
            let fork: ForkRecord = read(bytes)?;
            Details::Fork {
                parent_pid: fork.parent_pid,
            }
        }
        RecordKind::Exit => {
            let exit: ExitRecord = read(bytes)?;
            let duration =
                header.time_ns.saturating_sub(header.start_boottime_ns) as f64 / 1_000_000_000.0;
            Details::Exit(Exit::from_wait_status(exit.exit_code, duration))
        }
        RecordKind::Exec => {
            if bytes.len() < EXEC_FIXED_LEN {
                return Err(DecodeError(format!(
                    "exec record of {} bytes is shorter than its fixed part",
                    bytes.len()
                )));
            }
            // Only the used part of `args` is in the ring: read the fixed part into a full
            // record, then take the arguments from the bytes that follow it.
            let mut fixed = [0u8; size_of::<ExecRecord>()];
            fixed[..EXEC_FIXED_LEN].copy_from_slice(&bytes[..EXEC_FIXED_LEN]);
            let exec: ExecRecord = read(&fixed)?;
            let args_len = (exec.args_len as usize).min(ARGS_CAPTURE);
            let args = bytes
                .get(EXEC_FIXED_LEN..EXEC_FIXED_LEN + args_len)
                .ok_or_else(|| {
                    DecodeError(format!(
                        "exec record of {} bytes is shorter than its {args_len} bytes of argv",
                        bytes.len()
                    ))
                })?;
            let exe_len = (exec.exe_len as usize).min(EXE_CAPTURE);
            let exe = &exec.exe[..exe_len];
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
    Ok(Event {
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
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
