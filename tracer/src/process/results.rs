//! What `wait` and the signal operations answer, as typed values: the same for the library,
//! the CLI's JSON and the agent's protocol.

use serde::{Deserialize, Serialize};

use crate::render::events::{PlacementFields, UsageRecord};

/// The answer to `wait` (and `tracer wait --json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitAnswer {
    /// The processes that ended, with what they consumed.
    pub gone: Vec<Gone>,
    /// The ones still running at the timeout.
    pub alive: Vec<Alive>,
}

/// A process that ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gone {
    /// Its pid.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Its exit code (null when unknown or a signal ended it).
    pub returncode: Option<i32>,
    /// What it consumed in all (null where its exit was not seen with usage).
    #[serde(flatten)]
    pub usage: UsageRecord,
    /// Where it ran (read when the wait began).
    #[serde(flatten)]
    pub placement: PlacementFields,
}

/// A process still running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alive {
    /// Its pid.
    pub pid: u32,
    /// Its name.
    pub name: String,
}

/// One process's result of `signal` (the answer is an array of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalResult {
    /// The pid.
    pub pid: u32,
    /// Sent.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}
