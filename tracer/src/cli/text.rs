//! Human-readable rendering helpers shared by the commands.

use std::ffi::OsStr;

/// Local wall-clock time of day, `HH:MM:SS.mmm`, for an epoch timestamp.
pub fn time_of_day(epoch_seconds: f64) -> String {
    let millis = ((epoch_seconds - epoch_seconds.floor()) * 1000.0) as u32;
    match crate::host::os::time_of_day(epoch_seconds.floor() as i64) {
        Some((hour, minute, second)) => format!("{hour:02}:{minute:02}:{second:02}.{millis:03}"),
        None => format!("{epoch_seconds:.3}"),
    }
}

/// A string for a terminal: invalid UTF-8 and control characters are shown escaped.
pub fn display(value: &OsStr) -> String {
    let mut out = String::new();
    for chunk in value.as_encoded_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// An argument as a shell would need it: quoted when it is empty or has special characters.
pub fn shell_word(arg: &OsStr) -> String {
    let shown = display(arg);
    let plain = !shown.is_empty()
        && shown
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        shown
    } else {
        format!("'{}'", shown.replace('\'', r"'\''"))
    }
}

/// The conventional name of a signal number (Linux numbering), e.g. `SIGKILL`.
pub fn signal_name(signal: i32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(signal as usize) {
        Some(name) if signal > 0 => (*name).to_string(),
        _ => format!("SIG{signal}"),
    }
}

/// A duration in seconds, short: `850us`, `12.3ms`, `4.20s`, `3m07s`.
pub fn duration(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.0}us", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.1}ms", seconds * 1e3)
    } else if seconds < 60.0 {
        format!("{seconds:.2}s")
    } else {
        let whole = seconds as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// A byte count, short: `512B`, `12.3K`, `4.0M`, `1.2G`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// The column header of an attribute.
pub fn header(attr: crate::attrs::Attr) -> String {
    use crate::attrs::Attr;
    match attr {
        Attr::Pid => "PID".into(),
        Attr::Ppid => "PPID".into(),
        Attr::Username => "USER".into(),
        Attr::Status => "STATUS".into(),
        Attr::NumThreads => "THR".into(),
        Attr::MemoryInfo => "RSS".into(),
        Attr::CreateTime => "STARTED".into(),
        Attr::CpuTimes => "CPUTIME".into(),
        Attr::CpuPercent => "%CPU".into(),
        Attr::MemoryPercent => "%MEM".into(),
        Attr::ExitTime => "ENDED".into(),
        Attr::ExitCode => "CODE".into(),
        Attr::OncpuTime => "ONCPU".into(),
        Attr::RunqLatency => "RUNQ".into(),
        other => other.name().to_uppercase(),
    }
}

/// Whether a column is numeric (right-aligned).
pub fn right_aligned(attr: crate::attrs::Attr) -> bool {
    use crate::attrs::Attr;
    matches!(
        attr,
        Attr::Pid
            | Attr::Ppid
            | Attr::NumThreads
            | Attr::MemoryInfo
            | Attr::MemoryFullInfo
            | Attr::CpuTimes
            | Attr::CpuPercent
            | Attr::MemoryPercent
            | Attr::Nice
            | Attr::NumFds
            | Attr::CpuNum
            | Attr::ExitCode
            | Attr::Signal
            | Attr::Duration
            | Attr::OncpuTime
    )
}

/// A value in a table cell, shaped for the attribute.
pub fn cell(attr: crate::attrs::Attr, value: &crate::attrs::Value) -> String {
    use crate::attrs::{Attr, Value};
    match (attr, value) {
        (_, Value::Null) => "-".into(),
        (Attr::MemoryInfo | Attr::MemoryFullInfo, Value::Tuple(fields)) => match fields.first() {
            Some((_, Value::Int(rss))) => bytes(*rss),
            _ => value_text(value),
        },
        (Attr::CpuTimes, Value::Tuple(fields)) => {
            let total: f64 = fields
                .iter()
                .take(2)
                .filter_map(|(_, v)| v.sort_key())
                .sum();
            duration(total)
        }
        (Attr::Uids | Attr::Gids, Value::Tuple(fields)) => match fields.first() {
            Some((_, first)) => value_text(first),
            None => "-".into(),
        },
        (Attr::CreateTime | Attr::ExitTime, Value::Float(t)) => time_of_day(*t),
        (Attr::Duration | Attr::OncpuTime, Value::Float(d)) => duration(*d),
        // Waits, mean and longest: `120 waits, avg 35us, max 1.2ms`.
        (Attr::RunqLatency, Value::Tuple(fields)) => {
            let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
            match (get("count"), get("sum"), get("max")) {
                (Some(Value::Int(n)), Some(Value::Float(sum)), Some(Value::Float(max))) => {
                    let mean = if *n > 0 { sum / *n as f64 } else { 0.0 };
                    format!("{n} waits, avg {}, max {}", duration(mean), duration(*max))
                }
                _ => value_text(value),
            }
        }
        (Attr::Signal, Value::Int(s)) => signal_name(*s as i32),
        (Attr::CpuPercent | Attr::MemoryPercent, Value::Float(p)) => format!("{p:.1}"),
        (Attr::Cmdline, Value::List(args)) => args
            .iter()
            .map(|a| match a {
                Value::Str(s) => shell_word(s),
                other => value_text(other),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => value_text(value),
    }
}

/// Any value as plain text (also the sort key of non-numeric values).
pub fn value(value: &crate::attrs::Value) -> String {
    value_text(value)
}

fn value_text(value: &crate::attrs::Value) -> String {
    use crate::attrs::Value;
    match value {
        Value::Null => "-".into(),
        Value::Int(v) => v.to_string(),
        Value::Float(v) => format!("{v:.2}"),
        Value::Str(s) => display(s),
        Value::List(items) => items.iter().map(value_text).collect::<Vec<_>>().join(","),
        Value::Tuple(fields) => fields
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Dict(fields) => fields
            .iter()
            .map(|(k, v)| format!("{}={}", display(k), value_text(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(shell_word(OsStr::new("ls")), "ls");
        assert_eq!(shell_word(OsStr::new("")), "''");
        assert_eq!(shell_word(OsStr::new("it's")), r"'it'\''s'");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            assert_eq!(shell_word(OsStr::from_bytes(b"a\xffb")), r"'a\xffb'");
        }
    }

    #[test]
    fn signals_and_durations() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(40), "SIG40");
        assert_eq!(duration(0.0005), "500us");
        assert_eq!(duration(2.5), "2.50s");
        assert_eq!(duration(187.0), "3m07s");
    }
}
