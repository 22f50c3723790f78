//! Logged-in users: the `USER_PROCESS` records of utmp (`/var/run/utmp`), which psutil reads
//! through glibc's `getutxent` — psutil's `users()`.

use std::path::Path;

use super::{Result, System, SystemError};

/// psutil's `suser`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The terminal (`pts/0`), `None` when the record has none.
    pub terminal: Option<String>,
    /// The remote host; `localhost` for local sessions (empty, `:0` or `:0.0`).
    pub host: String,
    /// When the session started, in seconds since the epoch.
    pub started: f64,
    /// The session's process.
    pub pid: i32,
}

/// glibc's `struct utmp` on 64-bit Linux: 384 bytes.
const RECORD: usize = 384;
const USER_PROCESS: i16 = 7;

/// A NUL-padded field up to its first NUL.
fn c_field(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Parses utmp records into psutil's users (only `USER_PROCESS` records).
pub(crate) fn parse_utmp(data: &[u8]) -> Vec<User> {
    let i16_at = |r: &[u8], at: usize| i16::from_ne_bytes([r[at], r[at + 1]]);
    let i32_at = |r: &[u8], at: usize| i32::from_ne_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]]);
    data.chunks_exact(RECORD)
        .filter(|r| i16_at(r, 0) == USER_PROCESS)
        .map(|r| {
            let terminal = c_field(&r[8..40]);
            let host = c_field(&r[76..332]);
            User {
                name: c_field(&r[44..76]),
                terminal: (!terminal.is_empty()).then_some(terminal),
                host: if host.is_empty() || host == ":0" || host == ":0.0" {
                    "localhost".to_string()
                } else {
                    host
                },
                started: f64::from(i32_at(r, 340)),
                pid: i32_at(r, 4),
            }
        })
        .collect()
}

impl System {
    /// psutil's `users()`: the sessions in utmp; none when the file does not exist (glibc's
    /// `getutxent` then finds no record either).
    pub fn users(&self) -> Result<Vec<User>> {
        read_users(&self.utmp)
    }
}

fn read_users(path: &Path) -> Result<Vec<User>> {
    match std::fs::read(path) {
        Ok(data) => Ok(parse_utmp(&data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(SystemError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;

    fn record(kind: i16, pid: i32, line: &str, user: &str, host: &str, sec: i32) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[0..2].copy_from_slice(&kind.to_ne_bytes());
        r[4..8].copy_from_slice(&pid.to_ne_bytes());
        r[8..8 + line.len()].copy_from_slice(line.as_bytes());
        r[44..44 + user.len()].copy_from_slice(user.as_bytes());
        r[76..76 + host.len()].copy_from_slice(host.as_bytes());
        r[340..344].copy_from_slice(&sec.to_ne_bytes());
        r
    }

    #[test]
    fn user_process_records_only() {
        let dir = TempDir::new("utmp");
        let mut data = record(2, 0, "~", "reboot", "6.18", 1_700_000_000);
        data.extend(record(7, 1234, "pts/0", "alice", "10.0.0.7", 1_700_000_100));
        data.extend(record(7, 1300, "", "bob", ":0", 1_700_000_200));
        data.extend(record(8, 1400, "pts/1", "", "", 1_700_000_300));
        let path = dir.write("utmp", &data);
        let users = System::new().with_utmp(&path).users().unwrap();
        assert_eq!(
            users,
            vec![
                User {
                    name: "alice".into(),
                    terminal: Some("pts/0".into()),
                    host: "10.0.0.7".into(),
                    started: 1_700_000_100.0,
                    pid: 1234,
                },
                User {
                    name: "bob".into(),
                    terminal: None,
                    host: "localhost".into(),
                    started: 1_700_000_200.0,
                    pid: 1300,
                },
            ]
        );
        let none = System::new().with_utmp(dir.path().join("missing"));
        assert_eq!(none.users().unwrap(), vec![]);
    }
}
