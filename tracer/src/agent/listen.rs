//! The agent's listening socket: bound with its final mode and owner from its first moment,
//! removed when the agent ends, and accept errors that back off instead of spinning.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixListener;

use super::server::{AgentError, Because};

/// Removes the socket file when the agent ends, if it is still this agent's (same inode).
pub(super) struct RemoveOnDrop(pub(super) PathBuf, pub(super) u64);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.0).is_ok_and(|m| m.ino() == self.1) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Failed `accept`s back off (10 ms, doubling to 1 s) instead of spinning: out of
/// descriptors, the next try would fail the same way at once.
#[derive(Default)]
pub(super) struct Backoff(Duration);

impl Backoff {
    pub(super) fn reset(&mut self) {
        self.0 = Duration::ZERO;
    }

    pub(super) async fn wait(&mut self, error: &std::io::Error, what: &str) {
        self.0 = (self.0 * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        tracing::warn!(
            "accepting a client on {what} failed: {error}; retrying in {:?}",
            self.0
        );
        tokio::time::sleep(self.0).await;
    }
}

/// Binds the socket with its final mode and owner from its first moment: created under a
/// umask of 0117 in a fresh directory only root can enter, given to `root:group` there
/// (without following symlinks), then renamed into place. A stale socket left by a crash is
/// replaced only if it is a socket nobody answers on; anything else at the path (a file, a
/// symlink, a live agent) is left alone with an error. Returns the socket's inode.
pub(super) fn bind(path: &Path, group: Option<u32>) -> Result<(UnixListener, u64), AgentError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).because(|| format!("cannot create {}", dir.display()))?;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AgentError::new(format!(
                "cannot check {}: {e}",
                path.display()
            )))
        }
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(AgentError::new(format!(
                "{} exists and is not a socket; remove it or use --socket",
                path.display()
            )))
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(AgentError::new(format!(
                    "another agent is already listening on {} (stop it first, or use --socket)",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::info!("replacing the stale socket {}", path.display());
            }
            Err(e) => {
                return Err(AgentError::new(format!(
                    "{} exists and is not a usable socket ({e}); remove it or use --socket",
                    path.display()
                )))
            }
        },
    }
    let private = private_dir(dir)?;
    let _cleanup = RemoveDir(private.clone());
    let staged = private.join("sock");
    let listener = crate::platform::with_umask(0o117, || UnixListener::bind(&staged))
        .because(|| format!("cannot listen on {}", path.display()))?;
    let gid = group.unwrap_or(0);
    // uid 0 (root) owns it, `gid` may connect.
    crate::platform::chown_nofollow(&staged, 0, gid)
        .because(|| format!("cannot give {} to group {gid}", path.display()))?;
    let inode = std::fs::symlink_metadata(&staged)
        .because(|| format!("cannot check {}", staged.display()))?
        .ino();
    std::fs::rename(&staged, path)
        .because(|| format!("cannot move the socket into place at {}", path.display()))?;
    Ok((listener, inode))
}

/// A new directory next to the socket, mode 0700 (root only), for the socket's first moments.
fn private_dir(parent: &Path) -> Result<PathBuf, AgentError> {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = parent.join(format!(
            ".tracer-bind.{}.{nanos:x}.{attempt}",
            std::process::id()
        ));
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(AgentError::new(format!(
                    "cannot create a private directory in {}: {e}",
                    parent.display()
                )))
            }
        }
    }
    Err(AgentError::new(format!(
        "cannot create a private directory in {}",
        parent.display()
    )))
}

/// Removes the private bind directory (and what is left in it).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0.join("sock"));
        let _ = std::fs::remove_dir(&self.0);
    }
}
