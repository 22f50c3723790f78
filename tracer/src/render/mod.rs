//! Renderers: typed values (events, process rows, system records, stats) into the bytes the
//! CLI prints and the agent sends. Every output contract is rendered here and only here.

pub mod json;
#[cfg(native_linux)]
pub mod sys;
