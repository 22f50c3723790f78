//! The privileged agent (`tracer agent`) and its clients: one live process table served over
//! a Unix socket, with a versioned JSON-lines protocol.

pub mod client;
#[cfg(native_linux)]
mod listen;
#[cfg(native_linux)]
mod metrics;
pub mod protocol;
#[cfg(native_linux)]
mod rendered;
#[cfg(native_linux)]
pub mod sampling;
#[cfg(native_linux)]
pub mod server;
#[cfg(native_linux)]
mod stream_socket;

pub use client::{socket_path, Client, ClientError, DEFAULT_SOCKET};
#[cfg(native_linux)]
pub use server::AgentConfig;
