//! The keyboard: what the terminal sends, decoded into keys, and what each key does.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::App;
use super::SortKey;
use crate::platform::PollIn;
use crate::query::group::GroupBy;

/// What the keyboard gave.
pub(super) enum Input {
    Nothing,
    Keys(Vec<KeyEvent>),
    /// The terminal hung up.
    Closed,
}

/// The keyboard, read with poll(2) and read(2) rather than crossterm's reader, which spins
/// forever on a terminal that hung up (read returning 0) instead of reporting it.
pub(super) enum Keys {
    /// Standard input is the terminal.
    Stdin(std::io::Stdin),
    /// `/dev/tty`, when stdin is not the terminal (kept open).
    Tty(std::fs::File),
}

impl Keys {
    pub(super) fn open() -> anyhow::Result<Keys> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Ok(Keys::Stdin(stdin));
        }
        let tty = std::fs::File::open("/dev/tty")
            .context("cannot read the keyboard: stdin is not a terminal and /dev/tty is not")?;
        Ok(Keys::Tty(tty))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Keys::Stdin(stdin) => stdin.as_fd(),
            Keys::Tty(tty) => tty.as_fd(),
        }
    }

    /// Waits up to `timeout` for keys.
    pub(super) fn wait(&mut self, timeout: Duration) -> anyhow::Result<Input> {
        match crate::platform::poll_in(self.fd(), Some(timeout)) {
            Ok(PollIn::TimedOut) => return Ok(Input::Nothing),
            // POLLHUP, POLLERR or POLLNVAL without data.
            Ok(PollIn::Closed) => return Ok(Input::Closed),
            Ok(PollIn::Readable) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(Input::Nothing),
            Err(e) => return Err(e).context("reading the keyboard failed"),
        }
        let mut buffer = [0u8; 1024];
        match crate::platform::read(self.fd(), &mut buffer) {
            Ok(0) => Ok(Input::Closed),
            Ok(n) => Ok(Input::Keys(parse_keys(&buffer[..n]))),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(Input::Nothing)
            }
            // EIO: the terminal hung up.
            Err(_) => Ok(Input::Closed),
        }
    }
}

/// Decodes what a terminal in raw mode sends: characters, control keys, and the escape
/// sequences of arrows, Home/End and PgUp/PgDn (other sequences are skipped). A lone ESC is
/// the Escape key.
fn parse_keys(bytes: &[u8]) -> Vec<KeyEvent> {
    let plain = |code| KeyEvent::new(code, KeyModifiers::NONE);
    let mut keys = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        let key = match byte {
            0x1b if matches!(bytes.get(i), Some(b'[' | b'O')) => {
                // CSI or SS3: parameters, then a final byte in 0x40..=0x7e.
                let start = i + 1;
                let Some(end) = bytes[start.min(bytes.len())..]
                    .iter()
                    .position(|b| (0x40..=0x7e).contains(b))
                    .map(|at| start + at)
                else {
                    break;
                };
                i = end + 1;
                let params = &bytes[start..end];
                match (bytes[end], params) {
                    (b'A', _) => plain(KeyCode::Up),
                    (b'B', _) => plain(KeyCode::Down),
                    (b'C', _) => plain(KeyCode::Right),
                    (b'D', _) => plain(KeyCode::Left),
                    (b'H', _) | (b'~', b"1" | b"7") => plain(KeyCode::Home),
                    (b'F', _) | (b'~', b"4" | b"8") => plain(KeyCode::End),
                    (b'~', b"5") => plain(KeyCode::PageUp),
                    (b'~', b"6") => plain(KeyCode::PageDown),
                    _ => continue,
                }
            }
            0x1b => plain(KeyCode::Esc),
            b'\r' | b'\n' => plain(KeyCode::Enter),
            0x7f | 0x08 => plain(KeyCode::Backspace),
            b'\t' => plain(KeyCode::Tab),
            0x01..=0x1a => KeyEvent::new(
                KeyCode::Char(char::from(b'a' + byte - 1)),
                KeyModifiers::CONTROL,
            ),
            0x00..=0x1f => continue,
            _ => {
                // One UTF-8 character.
                let len = match byte {
                    0xf0..=0xf7 => 4,
                    0xe0..=0xef => 3,
                    0xc0..=0xdf => 2,
                    _ => 1,
                };
                let end = (i - 1 + len).min(bytes.len());
                let decoded = std::str::from_utf8(&bytes[i - 1..end])
                    .ok()
                    .and_then(|s| s.chars().next());
                i = end;
                match decoded {
                    Some(c) => plain(KeyCode::Char(c)),
                    None => continue,
                }
            }
        };
        keys.push(key);
    }
    keys
}

/// What a key asks of the main loop.
pub(super) enum Action {
    None,
    Quit,
    Refresh,
}

impl App {
    /// Applies one key.
    pub(super) fn key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
            return Action::Quit;
        }
        if self.editing {
            match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    self.editing = false;
                }
                KeyCode::Enter => self.editing = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) if !ctrl => self.filter.push(c),
                _ => {}
            }
            self.unpin();
            return Action::None;
        }
        let sort = |app: &mut App, key: SortKey| {
            if app.sort == key {
                app.reversed = !app.reversed;
            } else {
                app.sort = key;
                app.reversed = false;
            }
        };
        match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') => return Action::Quit,
            KeyCode::Char('c') | KeyCode::Char('P') => sort(self, SortKey::Cpu),
            KeyCode::Char('m') | KeyCode::Char('M') => sort(self, SortKey::Memory),
            KeyCode::Char('p') | KeyCode::Char('N') => sort(self, SortKey::Pid),
            KeyCode::Char('n') => sort(self, SortKey::Name),
            KeyCode::Char('t') | KeyCode::Char('T') => self.tree = !self.tree,
            KeyCode::Char('x') | KeyCode::Char('X') => self.failures_only = !self.failures_only,
            KeyCode::Char('/') => {
                self.editing = true;
                self.unpin();
            }
            KeyCode::Esc => {
                self.filter.clear();
                self.unpin();
            }
            KeyCode::Char('r') | KeyCode::Char(' ') => return Action::Refresh,
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(self.page as isize)),
            KeyCode::PageDown => self.move_by(self.page as isize),
            KeyCode::Char('g') => {
                self.grouped = !self.grouped;
                self.unpin();
            }
            KeyCode::Char('G') => {
                self.group_by = next_group(self.group_by);
                self.grouped = true;
                self.unpin();
            }
            KeyCode::Char('C') => self.containers = !self.containers,
            KeyCode::Home => self.unpin(),
            KeyCode::End => self.move_by(isize::MAX / 2),
            _ => {}
        }
        Action::None
    }
}

/// The group key after `by`, in `ps --group-by`'s order (wrapping around).
fn next_group(by: GroupBy) -> GroupBy {
    match by {
        GroupBy::Container => GroupBy::Cgroup,
        GroupBy::Cgroup => GroupBy::Pod,
        GroupBy::Pod => GroupBy::User,
        GroupBy::User => GroupBy::Name,
        GroupBy::Name => GroupBy::Container,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_bytes_decode_to_keys() {
        let codes = |bytes: &[u8]| -> Vec<(KeyCode, bool)> {
            parse_keys(bytes)
                .into_iter()
                .map(|k| (k.code, k.modifiers.contains(KeyModifiers::CONTROL)))
                .collect()
        };
        assert_eq!(
            codes(b"m\x1b[A\x1b[B\x1b[5~\x1bOH\r\x7f\x03"),
            [
                (KeyCode::Char('m'), false),
                (KeyCode::Up, false),
                (KeyCode::Down, false),
                (KeyCode::PageUp, false),
                (KeyCode::Home, false),
                (KeyCode::Enter, false),
                (KeyCode::Backspace, false),
                (KeyCode::Char('c'), true),
            ]
        );
        assert_eq!(codes(b"\x1b"), [(KeyCode::Esc, false)]);
        assert_eq!(
            codes("é/".as_bytes()),
            [(KeyCode::Char('é'), false), (KeyCode::Char('/'), false)]
        );
        // Unknown sequences (focus, mouse) are skipped.
        assert_eq!(codes(b"\x1b[I\x1b[?1;2cq"), [(KeyCode::Char('q'), false)]);
    }
}
