//! Logged-in users: the `USER_PROCESS` records of utmp (`/var/run/utmp`), read as psutil
//! reads them, through the C library's `getutxent` (in [`crate::platform`]) — psutil's
//! `users()`.

use std::path::Path;

use super::{Result, System, SystemError};
use crate::platform::{self, UtmpRecord};

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

/// psutil's user of one `USER_PROCESS` record.
fn user_of(record: UtmpRecord) -> User {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let terminal = text(&record.line);
    let host = text(&record.host);
    User {
        name: text(&record.user),
        terminal: (!terminal.is_empty()).then_some(terminal),
        host: if host.is_empty() || host == ":0" || host == ":0.0" {
            "localhost".to_string()
        } else {
            host
        },
        started: record.seconds as f64,
        pid: record.pid,
    }
}

impl System {
    /// psutil's `users()`: the sessions in utmp; none when the file does not exist (glibc's
    /// `getutxent` then finds no record either).
    pub fn users(&self) -> Result<Vec<User>> {
        read_users(&self.utmp)
    }
}

fn read_users(path: &Path) -> Result<Vec<User>> {
    let records = platform::utmp_records(path).map_err(|e| SystemError::io(path, e))?;
    Ok(records
        .into_iter()
        .filter(|r| r.kind == platform::USER_PROCESS)
        .map(user_of)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;

    fn record(kind: i16, pid: i32, line: &str, user: &str, host: &str, sec: i64) -> UtmpRecord {
        UtmpRecord {
            kind,
            pid,
            line: line.into(),
            user: user.into(),
            host: host.into(),
            seconds: sec,
        }
    }

    #[test]
    fn user_process_records_only() {
        let dir = TempDir::new("utmp");
        let path = dir.path().join("utmp");
        platform::write_utmp_records(
            &path,
            &[
                record(2, 0, "~", "reboot", "6.18", 1_700_000_000),
                record(7, 1234, "pts/0", "alice", "10.0.0.7", 1_700_000_100),
                record(7, 1300, "", "bob", ":0", 1_700_000_200),
                record(8, 1400, "pts/1", "", "", 1_700_000_300),
            ],
        )
        .unwrap();
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
