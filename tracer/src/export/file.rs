//! `tracer agent --export-file PATH`: every event as one JSON line — exactly the line `tracer
//! events --json` prints ([`crate::render::events::write_json_line`]) — appended to PATH, for
//! log shippers (Fluent Bit, Vector, Filebeat, the OpenTelemetry collector's filelog).
//!
//! Rotation is by size and only ever between two lines: when the next line would take PATH
//! past `max_bytes`, PATH is fsynced and renamed PATH.1 (PATH.1 to PATH.2, …, the oldest
//! beyond `keep` removed) and a new PATH is started, so no line is split across files and none
//! is lost in the move (a shipper that follows by name, as they all can, reads PATH.1 to its
//! end). A single line longer than `max_bytes` gets a file of its own.
//!
//! Durability: lines are written (`write(2)`) as soon as the exporter has drained what is
//! queued — within milliseconds — and fsynced at most [`FSYNC_INTERVAL`] later, at every
//! rotation and when the agent stops. A crash of the agent loses nothing written; a crash of
//! the host may lose the last second. A failed write is counted and logged, and retried with
//! backoff from where it stopped (the file reopened, so a deleted or replaced PATH is
//! recreated); meanwhile events wait in memory up to [`MAX_PENDING`] bytes, past which they
//! are dropped and counted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{ExporterCounters, Next, RateLimited, Receiver};

/// How long written lines may wait for an fsync.
pub const FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes of lines held while the file cannot be written, before new ones are dropped.
pub const MAX_PENDING: usize = 16 << 20;
/// Bytes gathered before a write while events keep coming.
const WRITE_CHUNK: usize = 256 << 10;

/// Settings of the file exporter.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// The file the lines are appended to.
    pub path: PathBuf,
    /// Size at which the file is rotated.
    pub max_bytes: u64,
    /// Rotated files kept (PATH.1 … PATH.keep); 0 keeps none.
    pub keep: u32,
}

/// Starts the exporter's thread.
pub(crate) fn start(config: FileConfig, receiver: Receiver) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tracer-export-file".into())
        .spawn(move || {
            let counters = Arc::clone(receiver.counters());
            super::guarded(Arc::clone(&counters), || {
                Writer::new(config, counters).run(receiver)
            })
        })
}

/// The file and what is not written to it yet.
struct Writer {
    config: FileConfig,
    counters: Arc<ExporterCounters>,
    file: Option<File>,
    /// Bytes in the current file, written or pending.
    size: u64,
    /// Whole lines not written yet.
    pending: Vec<u8>,
    /// Lines in `pending`, and where each ends (to count what a write delivered).
    pending_ends: std::collections::VecDeque<usize>,
    /// Bytes of `pending` already written (a write that stopped mid-way).
    written: usize,
    /// Lines written since the last fsync.
    unsynced: bool,
    last_sync: Instant,
    /// While writes fail: when to try again, and the delay after that.
    retry_at: Option<Instant>,
    backoff: Duration,
    warning: RateLimited,
}

impl Writer {
    fn new(config: FileConfig, counters: Arc<ExporterCounters>) -> Writer {
        Writer {
            config,
            counters,
            file: None,
            size: 0,
            pending: Vec::with_capacity(WRITE_CHUNK),
            pending_ends: std::collections::VecDeque::new(),
            written: 0,
            unsynced: false,
            last_sync: Instant::now(),
            retry_at: None,
            backoff: Duration::from_millis(100),
            warning: RateLimited::default(),
        }
    }

    fn run(mut self, mut receiver: Receiver) {
        self.open();
        let mut line = Vec::with_capacity(1024);
        loop {
            match receiver.next(FSYNC_INTERVAL) {
                Next::Event(event) => {
                    line.clear();
                    crate::render::events::write_json_line(&mut line, event);
                    self.push(&line);
                    if self.pending.len() - self.written >= WRITE_CHUNK {
                        self.write();
                    }
                    continue;
                }
                Next::Idle => {}
                Next::Stop => {
                    self.write();
                    self.sync();
                    return;
                }
            }
            // Nothing more queued: write what is held, and fsync when due.
            self.write();
            if self.last_sync.elapsed() >= FSYNC_INTERVAL {
                self.sync();
            }
        }
    }

    /// Takes one line: rotating first when it would not fit, dropping it when the file has
    /// been failing for so long that [`MAX_PENDING`] is held.
    fn push(&mut self, line: &[u8]) {
        if self.pending.len() + line.len() > MAX_PENDING {
            ExporterCounters::add(&self.counters.dropped, 1);
            return;
        }
        if self.size > 0 && self.size + line.len() as u64 > self.config.max_bytes {
            self.write();
            // A rotation needs everything before it written, so that no line goes to the
            // wrong file: while writes fail the file just grows past its size.
            if self.pending.is_empty() {
                self.rotate();
            }
        }
        self.pending.extend_from_slice(line);
        self.pending_ends.push_back(self.pending.len());
        self.size += line.len() as u64;
        self.counters
            .queued
            .store(self.pending_ends.len() as u64, Ordering::Relaxed);
    }

    /// Writes what is pending, from where the last write stopped.
    fn write(&mut self) {
        if self.pending.len() == self.written {
            return;
        }
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return;
            }
            ExporterCounters::add(&self.counters.retries, 1);
            if self.file.is_none() {
                // A failure to open is counted and rescheduled there.
                self.open();
            }
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut result = Ok(());
        while self.written < self.pending.len() {
            match file.write(&self.pending[self.written..]) {
                Ok(0) => {
                    result = Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Count the lines that are now wholly written.
        let mut done = 0;
        while self
            .pending_ends
            .front()
            .is_some_and(|&end| end <= self.written)
        {
            self.pending_ends.pop_front();
            done += 1;
        }
        ExporterCounters::add(&self.counters.exported, done);
        if done > 0 {
            self.unsynced = true;
        }
        if self.written == self.pending.len() {
            self.pending.clear();
            self.written = 0;
        }
        self.counters
            .queued
            .store(self.pending_ends.len() as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                if self.retry_at.take().is_some() {
                    tracing::info!("writing {} works again", self.config.path.display());
                    self.warning.reset();
                }
                self.backoff = Duration::from_millis(100);
            }
            Err(e) => {
                // Reopened at the retry: the file may have been removed or replaced.
                self.file = None;
                self.failed(format!("cannot write {}: {e}", self.config.path.display()));
            }
        }
    }

    fn failed(&mut self, error: String) {
        if self.warning.ready() {
            tracing::warn!(
                "{error} ({} lines held, retrying in {:.1}s)",
                self.pending_ends.len(),
                self.backoff.as_secs_f64()
            );
        }
        self.counters.failed(error);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
    }

    /// Opens (or creates) the file for appending, readable by root and its group only: the
    /// events hold every user's command lines.
    fn open(&mut self) {
        match open_append(&self.config.path) {
            Ok((file, size)) => {
                // What is pending stays counted in the size it will add.
                self.size = size + (self.pending.len() - self.written) as u64;
                self.file = Some(file);
            }
            Err(e) => self.failed(format!("cannot open {}: {e}", self.config.path.display())),
        }
    }

    fn sync(&mut self) {
        self.last_sync = Instant::now();
        if !std::mem::take(&mut self.unsynced) {
            return;
        }
        if let Some(file) = &self.file {
            if let Err(e) = file.sync_data() {
                self.failed(format!("cannot fsync {}: {e}", self.config.path.display()));
            }
        }
    }

    /// PATH → PATH.1 → … → PATH.keep (the oldest removed), then a new PATH.
    fn rotate(&mut self) {
        self.sync();
        self.file = None;
        let path = self.config.path.clone();
        let path = &path;
        let result = (|| -> std::io::Result<()> {
            if self.config.keep == 0 {
                return std::fs::remove_file(path);
            }
            let _ = std::fs::remove_file(numbered(path, self.config.keep));
            for n in (1..self.config.keep).rev() {
                match std::fs::rename(numbered(path, n), numbered(path, n + 1)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(path, numbered(path, 1))
        })();
        if let Err(e) = result {
            // Keep appending to the same file rather than lose lines.
            self.failed(format!("cannot rotate {}: {e}", path.display()));
        }
        self.open();
        if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
            // The renames themselves are durable once the directory is.
            let _ = dir.sync_all();
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// `PATH.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &Path, max_bytes: u64, keep: u32) -> Writer {
        let counters = ExporterCounters::new("file", "test".into());
        let mut writer = Writer::new(
            FileConfig {
                path: dir.join("events.jsonl"),
                max_bytes,
                keep,
            },
            counters,
        );
        writer.open();
        writer
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tracer-export-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn rotation_keeps_every_line_whole_and_the_newest_files() {
        let dir = temp_dir("rotate");
        let mut w = writer(&dir, 100, 3);
        for i in 0..40 {
            let line = format!("{{\"n\":{i:02},\"pad\":\"{}\"}}\n", "x".repeat(i % 7));
            w.push(line.as_bytes());
        }
        w.write();
        let mut lines = Vec::new();
        for name in [
            "events.jsonl.3",
            "events.jsonl.2",
            "events.jsonl.1",
            "events.jsonl",
        ] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.len() <= 100, "{name} has {} bytes", text.len());
            assert!(text.ends_with('\n'), "{name} ends mid-line: {text:?}");
            lines.extend(text.lines().map(str::to_owned));
        }
        assert!(!dir.join("events.jsonl.4").exists());
        // The newest lines, in order, none split.
        let numbers: Vec<u32> = lines
            .iter()
            .map(|l| l[5..7].parse().expect("a whole line"))
            .collect();
        let first = numbers[0];
        assert_eq!(numbers, (first..40).collect::<Vec<_>>());
        assert_eq!(w.counters.exported.load(Ordering::Relaxed), 40);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
        let dir = temp_dir("long");
        let mut w = writer(&dir, 10, 2);
        w.push(b"short\n");
        w.push(b"a line that is longer than ten bytes\n");
        w.push(b"next\n");
        w.write();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(read("events.jsonl.2"), "short\n");
        assert_eq!(
            read("events.jsonl.1"),
            "a line that is longer than ten bytes\n"
        );
        assert_eq!(read("events.jsonl"), "next\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_is_counted_and_retried_into_a_recreated_file() {
        let dir = temp_dir("retry");
        let mut w = writer(&dir, 1 << 20, 1);
        w.push(b"one\n");
        w.write();
        // The directory disappears: the file cannot be reopened.
        std::fs::remove_dir_all(&dir).unwrap();
        w.file = None;
        w.retry_at = Some(Instant::now());
        w.push(b"two\n");
        w.write();
        assert!(w.counters.errors.load(Ordering::Relaxed) >= 1);
        assert_eq!(w.pending_ends.len(), 1, "the line is held, not lost");
        std::fs::create_dir_all(&dir).unwrap();
        w.retry_at = Some(Instant::now());
        w.write();
        assert_eq!(
            std::fs::read_to_string(dir.join("events.jsonl")).unwrap(),
            "two\n"
        );
        assert_eq!(w.counters.exported.load(Ordering::Relaxed), 2);
        assert!(w.counters.retries.load(Ordering::Relaxed) >= 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
