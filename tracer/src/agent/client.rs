//! The client side of the agent protocol: connect, send one request, read the answer.

use std::io::{BufRead, BufReader, Read, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{Envelope, Header, Request, VERSION};

/// Where there are no Unix sockets in std (Windows) there is no agent: a stream that cannot
/// be made, so every connection attempt answers [`ClientError::NoAgent`].
#[cfg(not(unix))]
pub enum UnixStream {}

#[cfg(not(unix))]
impl UnixStream {
    fn connect(_: &Path) -> std::io::Result<UnixStream> {
        Err(std::io::ErrorKind::NotFound.into())
    }

    /// Clones the handle.
    pub fn try_clone(&self) -> std::io::Result<UnixStream> {
        match *self {}
    }

    /// Shuts the connection down.
    pub fn shutdown(&self, _: std::net::Shutdown) -> std::io::Result<()> {
        match *self {}
    }
}

#[cfg(not(unix))]
impl Read for UnixStream {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match *self {}
    }
}

#[cfg(not(unix))]
impl Write for UnixStream {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        match *self {}
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match *self {}
    }
}

/// Where the agent listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/tracer/tracer.sock";

/// The socket to use: `--socket`, else `TRACER_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn socket_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("TRACER_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Why the agent could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No agent listens there (no socket, or a stale one).
    #[error("no agent at {0}")]
    NoAgent(PathBuf),
    /// The socket exists but this user may not connect.
    #[error("not allowed to use the agent at {0} (ask to be added to its socket group)")]
    NotAllowed(PathBuf),
    /// The agent refused the request.
    #[error("{message}")]
    Refused {
        /// The protocol's error kind.
        kind: String,
        /// Its message.
        message: String,
    },
    /// The connection failed mid-way.
    #[error("talking to the agent failed: {0}")]
    Io(#[from] std::io::Error),
    /// The process listening on the socket is not root, nor the user the agent is expected to
    /// run as: its answers are not trusted.
    #[error(
        "the process listening on {path} runs as uid {uid}, not root{expected}: not trusting it"
    )]
    Untrusted {
        /// The socket.
        path: PathBuf,
        /// The listener's uid.
        uid: u32,
        /// Which other uid would have been trusted, said for the message.
        expected: String,
    },
    /// The agent answered something that is not the protocol.
    #[error("the agent's answer is not understood: {0}")]
    Protocol(String),
}

/// Longest answer a client accepts (bytes): an answer announcing more is refused before
/// anything is allocated for it.
pub const MAX_ANSWER: u64 = 1 << 30;

/// Most of an answer's announced length allocated before its bytes arrive.
const PREALLOCATED_ANSWER: u64 = 16 << 20;

/// The uid besides root whose agent a client trusts: `TRACER_AGENT_UID`, else none.
fn trusted_uid() -> Option<u32> {
    std::env::var("TRACER_AGENT_UID").ok()?.trim().parse().ok()
}

/// Refuses a listener that is neither root nor the trusted uid (SO_PEERCRED).
#[cfg(target_os = "linux")]
fn check_server(stream: &UnixStream, path: &Path) -> Result<(), ClientError> {
    let (_, uid, _) = crate::platform::peer_credentials(stream)?;
    let trusted = trusted_uid();
    if uid == 0 || Some(uid) == trusted {
        return Ok(());
    }
    Err(ClientError::Untrusted {
        path: path.to_path_buf(),
        uid,
        expected: trusted
            .map(|t| format!(" or uid {t} (TRACER_AGENT_UID)"))
            .unwrap_or_default(),
    })
}

#[cfg(not(target_os = "linux"))]
fn check_server(_: &UnixStream, _: &Path) -> Result<(), ClientError> {
    Ok(())
}

/// A connection to the agent.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connects. `NoAgent` when nobody listens (the caller may fall back to direct mode).
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NoAgent(path.to_path_buf())
            }
            std::io::ErrorKind::PermissionDenied => ClientError::NotAllowed(path.to_path_buf()),
            _ => ClientError::Io(e),
        })?;
        check_server(&stream, path)?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            next_id: 1,
        })
    }

    /// Sends one request line: `request` with the version and a fresh id.
    fn send(&mut self, request: &Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = crate::render::json::to_vec(&Envelope {
            v: VERSION,
            id,
            request,
        });
        line.push(b'\n');
        self.writer.write_all(&line)?;
        Ok(id)
    }

    fn header(&mut self) -> Result<Header, ClientError> {
        let mut line = Vec::new();
        // A header is a short line: at most 64 KiB of it is read.
        if (&mut self.reader)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)?
            == 0
        {
            return Err(ClientError::Protocol(
                "the agent closed the connection".into(),
            ));
        }
        let header: Header =
            serde_json::from_slice(&line).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if header.ok {
            Ok(header)
        } else {
            Err(ClientError::Refused {
                kind: header.error.unwrap_or_else(|| "unknown".into()),
                message: header.message.unwrap_or_else(|| "refused".into()),
            })
        }
    }

    /// Sends a request and returns the answer's payload, as the agent rendered it.
    pub fn request(&mut self, request: &Request) -> Result<Vec<u8>, ClientError> {
        self.send(request)?;
        let len = self
            .header()?
            .len
            .ok_or_else(|| ClientError::Protocol("answer without \"len\"".into()))?;
        if len > MAX_ANSWER {
            return Err(ClientError::Protocol(format!(
                "the agent announced an answer of {len} bytes, more than the {MAX_ANSWER} accepted"
            )));
        }
        read_payload(&mut self.reader, len)
    }

    /// Sends a `subscribe` request and returns the stream of event lines.
    pub fn subscribe(mut self, request: &Request) -> Result<BufReader<UnixStream>, ClientError> {
        self.send(request)?;
        self.header()?;
        Ok(self.reader)
    }
}

/// Reads an answer's payload into its type ([`super::protocol::WaitAnswer`], …): the one
/// place a client reads the agent's JSON.
pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(payload).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Reads an answer's payload of `len` bytes (at most [`MAX_ANSWER`], checked before).
fn read_payload<R: Read>(reader: &mut R, len: u64) -> Result<Vec<u8>, ClientError> {
    let short = |sent: usize| {
        ClientError::Protocol(format!("the agent announced {len} bytes and sent {sent}"))
    };
    // Up to a bound, the announced length is allocated at once and filled (an answer of
    // 10,000 rows in one buffer, read in as few calls as the socket allows); past it, the
    // buffer grows as the bytes come, so that no length the server announces is
    // allocated before it is sent.
    if len <= PREALLOCATED_ANSWER {
        let mut payload = vec![0; len as usize];
        let mut filled = 0;
        while filled < payload.len() {
            match reader.read(&mut payload[filled..]) {
                Ok(0) => return Err(short(filled)),
                Ok(read) => filled += read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(payload);
    }
    let mut payload = Vec::with_capacity(PREALLOCATED_ANSWER as usize);
    reader.take(len).read_to_end(&mut payload)?;
    if payload.len() as u64 != len {
        return Err(short(payload.len()));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes a read, as a socket does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_payload_is_read_whole_or_refused_as_short() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        for (len, step) in [(0, 7), (1, 1), (100_000, 4096), (99_999, 65_536)] {
            let mut reader = Trickle { data: &data, step };
            let payload = read_payload(&mut reader, len as u64).unwrap();
            assert_eq!(payload, data[..len]);
            // What followed the payload is left for the next answer.
            assert_eq!(reader.data, &data[len..]);
        }
        let mut reader = Trickle {
            data: &data[..10],
            step: 3,
        };
        let error = read_payload(&mut reader, 11).unwrap_err().to_string();
        assert!(error.contains("announced 11 bytes and sent 10"), "{error}");
        // Past the bound the buffer grows with what comes: a lie costs what was sent.
        let mut reader = Trickle {
            data: &data,
            step: 8192,
        };
        let error = read_payload(&mut reader, PREALLOCATED_ANSWER + 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("and sent 100000"), "{error}");
    }
}
