//! `tracer`: an eBPF-accelerated Linux process tracer.
//!
//! Data flows one way: kernel programs on the sched tracepoints write records into a ring
//! buffer; a source ([`ebpf::EbpfSource`]) decodes them into [`Event`]s; the
//! [`table::ProcessTable`] applies them (seeded from `/proc`); queries — the psutil-style API
//! ([`Process`], [`process_iter`], [`wait_procs`]) and the CLI — read the table.
#![deny(missing_docs)]

pub mod agent;
pub mod attrs;
pub mod bytes;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod cpu_samples;
#[cfg(native_linux)]
pub mod ebpf;
pub mod event;
pub mod filter;
pub mod host;
pub mod latency;
pub mod live;
pub mod ops;
pub mod parallel;
pub(crate) mod platform;
pub mod polling;
pub mod process;
#[cfg(native_linux)]
pub mod procfs;
pub mod query;
pub mod render;
pub mod source;
pub mod sysinfo_host;
#[cfg(native_linux)]
pub mod system;
pub mod table;

pub use attrs::{Attr, Value};
pub use event::{Backend, Details, Event, EventKind, Exec, Exit, ProcessId};
pub use filter::EventFilter;
pub use live::{Tracer, TracerConfig};
pub use process::{pid_exists, pids, process_iter, wait_procs, Error, Process};
pub use source::SourceStats;
