//! A subscriber's socket, registered with the runtime for reading only.
//!
//! tokio's `UnixStream` registers for reading and writing, and the kernel signals room to
//! write each time the client reads: under a storm that woke the agent once more per batch,
//! for nothing (issue 17's bench; on this kind of VM a thread's wake-up costs tens of µs of
//! CPU). Here a write is tried at once, and only when the socket is full does a second
//! registration (of a duplicate of the socket, for writing) wait for room, for as long as the
//! client is behind.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The socket of a subscriber, non-blocking, registered for reading.
pub(super) struct StreamSocket {
    socket: AsyncFd<UnixStream>,
}

impl StreamSocket {
    /// Takes over a connection (its requests were read; what else it sends is dropped).
    pub(super) fn new(stream: tokio::net::UnixStream) -> io::Result<StreamSocket> {
        // Deregistered from tokio's reactor, still non-blocking.
        let stream = stream.into_std()?;
        // SAFETY: the UnixStream owns its fd and is moved into the AsyncFd: the fd stays open
        // and the same until the AsyncFd drops.
        let socket = unsafe { AsyncFd::register_with_interest(stream, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(StreamSocket { socket })
    }

    /// Waits for the client to hang up (`true`: end of input or an error) or to send
    /// something (`false`; what it sent is read and dropped).
    pub(super) async fn hung_up(&self) -> bool {
        let mut dropped = [0u8; 4096];
        loop {
            let Ok(mut guard) = self.socket.readable().await else {
                return true;
            };
            match guard.try_io(|socket| socket.get_ref().read(&mut dropped)) {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => return false,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `bytes` within `timeout`; `Err` when the client is gone or too slow.
    pub(super) async fn write(&self, bytes: &[u8], timeout: Duration) -> Result<(), ()> {
        match tokio::time::timeout(timeout, self.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    async fn write_all(&self, mut rest: &[u8]) -> io::Result<()> {
        // Registered for writing only while the socket is full.
        let mut room: Option<AsyncFd<OwnedFd>> = None;
        while !rest.is_empty() {
            let written = match self.socket.get_ref().write(rest) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let room = match &room {
                        Some(room) => room,
                        None => room.insert(self.room()?),
                    };
                    // Registration reports a socket that has room already, so a client that
                    // read in between is not missed; a readiness that finds no room is
                    // cleared and waited for again.
                    let mut guard = room.writable().await?;
                    match guard.try_io(|_| self.socket.get_ref().write(rest)) {
                        Ok(written) => written,
                        Err(_would_block) => continue,
                    }
                }
                written => written,
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A duplicate of the socket registered for writing (epoll tells registrations apart by
    /// their descriptor).
    fn room(&self) -> io::Result<AsyncFd<OwnedFd>> {
        let duplicate = std::os::fd::AsFd::as_fd(self.socket.get_ref()).try_clone_to_owned()?;
        // SAFETY: the OwnedFd is moved into the AsyncFd: it stays open and the same until the
        // AsyncFd drops.
        unsafe { AsyncFd::register_with_interest(duplicate, Interest::WRITABLE) }
            .map_err(|e| e.into_parts().1)
    }
}
