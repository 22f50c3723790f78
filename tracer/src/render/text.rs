//! Text for a terminal: strings made safe to show, shell-quoted arguments, signal names,
//! short durations, byte counts and times of day, shared by every text output.

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
