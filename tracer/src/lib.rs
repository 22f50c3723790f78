//! `tracer`: an eBPF-accelerated Linux process tracer.
//!
//! Data flows one way: kernel programs on the sched tracepoints write records into a ring
//! buffer; a source ([`ebpf::EbpfSource`]) decodes them into [`Event`]s; consumers (the CLI,
//! and later the process table and the agent) take the events from there.
#![deny(missing_docs)]

pub mod cli;
pub mod clock;
pub mod ebpf;
pub mod event;
pub mod filter;
pub mod json;
pub mod source;

pub use event::{Backend, Details, Event, EventKind, Exec, Exit, ProcessId};
pub use filter::EventFilter;
pub use source::SourceStats;
