//! Renderers: typed values (events, process rows, system records, stats) into the bytes the
//! CLI prints and the agent sends. Every output contract is rendered here and only here.

pub mod event_line;
pub mod events;
pub mod json;
pub mod rows;
pub mod stats;
#[cfg(native_linux)]
pub mod sys;
pub mod text;
