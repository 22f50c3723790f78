//! The privileged agent (`tracer agent`) and its clients: one live process table served over
//! a Unix socket, with a versioned JSON-lines protocol.

pub mod client;
pub mod protocol;
#[cfg(target_os = "linux")]
pub mod sampling;
#[cfg(target_os = "linux")]
pub mod server;

pub use client::{socket_path, Client, ClientError, DEFAULT_SOCKET};
#[cfg(target_os = "linux")]
pub use server::AgentConfig;
