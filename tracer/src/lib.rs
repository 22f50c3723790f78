//! `tracer`: an eBPF-accelerated Linux process tracer with a live, psutil-style process table.
//!
//! Data flows one way, one folder per stage:
//!
//! ```text
//! kernel hook ──▶ ring ──▶ source ──▶ Event ──▶ table ──▶ query ──▶ render ──▶ CLI, agent
//! (tracer-ebpf)           (source/)  (event)   (table/)  (query/)  (render/)  (cli/, agent/)
//!                            ▲                    ▲
//!                          host/ (the platform's process reader: /proc, or sysinfo)
//! ```
//!
//! - [`source`]: where events come from — [`source::ebpf`] (kernel programs on the sched
//!   tracepoints) or [`source::polling`] (two scans of the host, diffed) — all emitting one
//!   [`Event`] type.
//! - [`host`]: the [`host::ProcessReader`] trait and its two implementations, [`host::procfs`]
//!   (Linux, exact to psutil) and [`host::sysinfo`] (everywhere else).
//! - [`table`]: the process table keyed by [`ProcessId`], and [`Tracer`], the table fed by a
//!   source on its own thread.
//! - `query`, `render`: one query over the table (attributes, filters, sorting) and the one
//!   place each output contract is written (JSON through serde, aligned text).
//! - [`process`]: psutil's process API ([`Process`], [`process_iter`], [`wait_procs`]);
//!   [`system`]: psutil's system API (Linux).
//! - [`agent`]: the daemon serving one live table over a Unix socket, its protocol and client.
//!
//! The library loads kernel programs only when asked ([`Tracer::start`] with a source, or
//! [`Tracer::configure_global`]); the free functions otherwise read `/proc` snapshots.
#![deny(missing_docs)]

pub mod agent;
pub mod bytes;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod event;
#[cfg(native_linux)]
pub mod export;
#[cfg(all(feature = "fuzzing", native_linux))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(native_linux)]
pub mod groups;
pub mod host;
pub(crate) mod platform;
pub mod process;
pub(crate) mod query;
pub mod render;
pub mod source;
pub mod stats;
#[cfg(native_linux)]
pub mod system;
pub mod table;

pub use event::{Backend, Details, Event, EventKind, Exec, Exit, ProcessId};
pub use host::clock::Clock;
pub use host::{Host, ProcError, ProcessReader};
pub use process::{pid_exists, pids, process_iter, wait_procs, Error, Process};
pub use query::attrs::{Attr, Value};
pub use query::filter::EventFilter;
pub use source::{SourceConfig, SourceStats};
pub use table::live::{Feed, Tracer, TracerConfig};
