//! The agent's wire protocol, version 1: JSON lines over a Unix stream socket.
//!
//! A client writes one request per line: `{"v":1,"id":7,"op":"query",…}` (at most
//! [`MAX_REQUEST`] bytes). The agent answers each with a header line, then a payload:
//!
//! - `{"v":1,"id":7,"ok":true,"len":N}` and N bytes: the answer, rendered as the CLI prints
//!   it (JSON or text), so a client copies it to its output untouched;
//! - `{"v":1,"id":7,"ok":true,"stream":true}` and then one line per event (`subscribe`) until
//!   the connection closes; a subscriber that falls behind gets
//!   `{"event":"dropped","count":N}` in place of the events it lost;
//! - `{"v":1,"id":7,"ok":false,"error":KIND,"message":"…"}` and no payload. KIND is one of
//!   `bad_request`, `too_large`, `unsupported_version`, `access_denied`, `no_such_process`,
//!   `unavailable`, `busy` (too many `wait`s in progress; try again), `internal`.
//!
//! Operations: `query` (attrs, sort, pids, ppids, names, uids, exited, limit, format), `tree` (pid,
//! format), `subscribe` (pids, ppids, names, uids, kinds, replay_exited, format), `wait` (pids,
//! timeout), `signal` (pids, signal: kill|terminate|suspend|resume), `stats`, `sys` (sections:
//! cpu|memory|disk|net|sensors|all, format: `tracer sys` output from the agent's sampling).
//!
//! Both ends share the types here: the client serializes a [`Request`] in an [`Envelope`], the
//! agent deserializes it (keeping the protocol's own error messages: each field's deserializer
//! says what it expects) and validates it into a [`Command`]; headers are [`Header`]s, and the
//! answers of `wait`, `signal` and `stats` are [`WaitAnswer`], [`SignalResult`] and [`Stats`].

use std::ffi::OsString;
use std::str::FromStr;

use serde::de::{Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::process::results::{Alive, Gone, SignalResult, WaitAnswer};
pub use crate::stats::{ExporterStats, Stats, TableCounters};

use crate::event::EventKind;
use crate::host::os::signals;
use crate::query::filter::{EventFilter, PlacementFilter};
use crate::query::{Format, Query};

/// Protocol version spoken by this build.
pub const VERSION: u64 = 1;

/// Longest request line accepted.
pub const MAX_REQUEST: usize = 64 * 1024;

/// Most entries of any list in a request (`pids`, `ppids`, `names`, `uids`, `attrs`, `kinds`,
/// `sections`): what a request may cost is bounded by what it may ask.
pub const MAX_LIST: usize = 4096;

pub use crate::process::MAX_TIMEOUT;

/// `bad_request` when `list` is longer than [`MAX_LIST`].
fn capped<T>(field: &str, list: &[T]) -> Result<(), ProtocolError> {
    if list.len() > MAX_LIST {
        return Err(ProtocolError::bad_request(format!(
            "\"{field}\" holds at most {MAX_LIST} entries, not {}",
            list.len()
        )));
    }
    Ok(())
}

/// A request that could not be served, with the error kind sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// Machine-readable kind (see the module documentation).
    pub kind: &'static str,
    /// One line for a human.
    pub message: String,
}

impl ProtocolError {
    /// A malformed or invalid request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            kind: "bad_request",
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

/// Which signal a `signal` request sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalOp {
    /// SIGKILL.
    Kill,
    /// SIGTERM.
    Terminate,
    /// SIGSTOP.
    Suspend,
    /// SIGCONT.
    Resume,
}

impl SignalOp {
    /// The protocol's name.
    pub fn name(self) -> &'static str {
        match self {
            SignalOp::Kill => "kill",
            SignalOp::Terminate => "terminate",
            SignalOp::Suspend => "suspend",
            SignalOp::Resume => "resume",
        }
    }

    /// The signal number.
    pub fn signal(self) -> i32 {
        match self {
            SignalOp::Kill => signals::SIGKILL,
            SignalOp::Terminate => signals::SIGTERM,
            SignalOp::Suspend => signals::SIGSTOP,
            SignalOp::Resume => signals::SIGCONT,
        }
    }
}

/// What a client asks, tagged by `op`. Absent and `null` fields mean "none" (empty lists,
/// false, the JSON format); unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// The process table.
    Query(QueryRequest),
    /// The process tree.
    Tree(TreeRequest),
    /// The event stream.
    Subscribe(SubscribeRequest),
    /// Wait for processes to end.
    Wait(WaitRequest),
    /// Signal processes.
    Signal(SignalRequest),
    /// The agent's counters.
    Stats {},
    /// System-wide figures (`tracer sys`), compared with the agent's own samples.
    Sys(SysRequest),
}

/// The operations, as `op` names them.
const OPS: [&str; 7] = [
    "query",
    "tree",
    "subscribe",
    "wait",
    "signal",
    "stats",
    "sys",
];

/// `query`: rows of the table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// Attribute names (the defaults when empty).
    #[serde(default, deserialize_with = "strings")]
    pub attrs: Vec<String>,
    /// Sort key, `-` first for descending.
    #[serde(default, deserialize_with = "sort")]
    pub sort: Option<String>,
    /// Only these pids.
    #[serde(default, deserialize_with = "pids")]
    pub pids: Vec<u32>,
    /// Only children of these.
    #[serde(default, deserialize_with = "ppids")]
    pub ppids: Vec<u32>,
    /// Only these names.
    #[serde(default, deserialize_with = "strings")]
    pub names: Vec<String>,
    /// Only these real uids.
    #[serde(default, deserialize_with = "uids")]
    pub uids: Vec<u32>,
    /// The exited processes instead of the live ones.
    #[serde(default, deserialize_with = "exited")]
    pub exited: bool,
    /// At most this many rows.
    #[serde(default, deserialize_with = "limit")]
    pub limit: Option<u32>,
    /// Output shape.
    #[serde(default = "json", with = "format")]
    pub format: Format,
    /// Where the processes run.
    #[serde(flatten)]
    pub placement: PlacementRequest,
    /// One row per group instead of per process: `container`, `cgroup`, `pod`, `user` or
    /// `name`.
    #[serde(
        default,
        deserialize_with = "group_by",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_by: Option<String>,
}

/// Selection by where processes run, in `query` and `subscribe`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlacementRequest {
    /// Only processes in these cgroup v2 subtrees.
    #[serde(
        default,
        deserialize_with = "strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cgroups: Vec<String>,
    /// Only processes in containers whose id starts with one of these.
    #[serde(
        default,
        deserialize_with = "strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub containers: Vec<String>,
    /// Only processes in these Kubernetes pods.
    #[serde(
        default,
        deserialize_with = "strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pods: Vec<String>,
    /// Only processes in these PID namespaces (inode numbers).
    #[serde(
        default,
        deserialize_with = "pidns",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pidns: Vec<u64>,
}

impl PlacementRequest {
    /// The validated filter.
    pub fn filter(&self) -> Result<PlacementFilter, ProtocolError> {
        let cgroups: Vec<OsString> = self.cgroups.iter().map(OsString::from).collect();
        PlacementFilter::new(&cgroups, &self.containers, &self.pods, &self.pidns)
            .map_err(ProtocolError::bad_request)
    }
}

/// `tree`: the process tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TreeRequest {
    /// Root pid, or every parentless process.
    #[serde(default, deserialize_with = "pid")]
    pub pid: Option<u32>,
    /// Output shape.
    #[serde(default = "json", with = "format")]
    pub format: Format,
}

/// `subscribe`: the event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribeRequest {
    /// Only these pids.
    #[serde(default, deserialize_with = "pids")]
    pub pids: Vec<u32>,
    /// Only children of these.
    #[serde(default, deserialize_with = "ppids")]
    pub ppids: Vec<u32>,
    /// Only these real uids.
    #[serde(default, deserialize_with = "uids")]
    pub uids: Vec<u32>,
    /// Only these names.
    #[serde(default, deserialize_with = "strings")]
    pub names: Vec<String>,
    /// Only these kinds (`fork`, `exec`, `exit`).
    #[serde(default, deserialize_with = "strings")]
    pub kinds: Vec<String>,
    /// Start with the recently exited processes' exit events.
    #[serde(default, deserialize_with = "replay_exited")]
    pub replay_exited: bool,
    /// Output shape.
    #[serde(default = "json", with = "format")]
    pub format: Format,
    /// Where the processes run.
    #[serde(flatten)]
    pub placement: PlacementRequest,
}

/// `wait`: until processes end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitRequest {
    /// The processes (at least one).
    #[serde(default, deserialize_with = "pids")]
    pub pids: Vec<u32>,
    /// Seconds, or forever.
    #[serde(default, deserialize_with = "timeout")]
    pub timeout: Option<f64>,
}

/// `signal`: send a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRequest {
    /// The processes (at least one).
    #[serde(default, deserialize_with = "pids")]
    pub pids: Vec<u32>,
    /// What to send (required).
    #[serde(default, deserialize_with = "signal_op")]
    pub signal: Option<SignalOp>,
}

/// `sys`: system-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SysRequest {
    /// Section names (all when empty).
    #[serde(default, deserialize_with = "strings")]
    pub sections: Vec<String>,
    /// Output shape.
    #[serde(default = "json", with = "format")]
    pub format: Format,
}

/// A request line: the request with the protocol version and its id, echoed in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<R = Request> {
    /// [`VERSION`].
    pub v: u64,
    /// Echoed in the answer.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub request: R,
}

/// A request the agent validated: what it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// The process table.
    Query(Query),
    /// The process tree.
    Tree {
        /// Root pid, or every parentless process.
        pid: Option<u32>,
        /// Output shape.
        format: Format,
    },
    /// The event stream.
    Subscribe {
        /// Which events.
        filter: EventFilter,
        /// Start with the recently exited processes' exit events.
        replay_exited: bool,
        /// Output shape.
        format: Format,
    },
    /// Wait for processes to end.
    Wait {
        /// The processes.
        pids: Vec<u32>,
        /// Seconds, or forever.
        timeout: Option<f64>,
    },
    /// Signal processes.
    Signal {
        /// The processes.
        pids: Vec<u32>,
        /// What to send.
        signal: SignalOp,
    },
    /// The agent's counters.
    Stats,
    /// System-wide figures (`tracer sys`), compared with the agent's own samples.
    Sys {
        /// Which groups of figures (all when empty).
        sections: Vec<Section>,
        /// Output shape.
        format: Format,
    },
}

impl Request {
    /// Checks what the types cannot: attribute and kind names, required fields, ranges.
    pub fn validate(self) -> Result<Command, ProtocolError> {
        match &self {
            Request::Query(q) => {
                capped("attrs", &q.attrs)?;
                capped("pids", &q.pids)?;
                capped("ppids", &q.ppids)?;
                capped("names", &q.names)?;
                capped("uids", &q.uids)?;
            }
            Request::Subscribe(s) => {
                capped("pids", &s.pids)?;
                capped("ppids", &s.ppids)?;
                capped("names", &s.names)?;
                capped("uids", &s.uids)?;
                capped("kinds", &s.kinds)?;
            }
            Request::Wait(w) => capped("pids", &w.pids)?,
            Request::Signal(s) => capped("pids", &s.pids)?,
            Request::Sys(s) => capped("sections", &s.sections)?,
            Request::Tree(_) | Request::Stats {} => {}
        }
        Ok(match self {
            Request::Query(q) => {
                let mut query = Query::new(&q.attrs, q.sort.as_deref(), q.exited)
                    .map_err(ProtocolError::bad_request)?;
                query.pids = q.pids;
                query.ppids = q.ppids;
                query.uids = q.uids;
                query.names = q.names.into_iter().map(OsString::from).collect();
                query.format = q.format;
                query.limit = q.limit.map(|n| n as usize);
                query.placement = q.placement.filter()?;
                query.group_by = q
                    .group_by
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(ProtocolError::bad_request)?;
                Command::Query(query)
            }
            Request::Tree(t) => Command::Tree {
                pid: t.pid,
                format: t.format,
            },
            Request::Subscribe(s) => Command::Subscribe {
                filter: EventFilter {
                    pids: s.pids,
                    ppids: s.ppids,
                    uids: s.uids,
                    names: s.names.into_iter().map(OsString::from).collect(),
                    kinds: s
                        .kinds
                        .iter()
                        .map(|k| k.parse::<EventKind>())
                        .collect::<Result<_, _>>()
                        .map_err(ProtocolError::bad_request)?,
                    placement: s.placement.filter()?,
                },
                replay_exited: s.replay_exited,
                format: s.format,
            },
            Request::Wait(w) => {
                if w.pids.is_empty() {
                    return Err(ProtocolError::bad_request("wait needs \"pids\""));
                }
                if w.timeout.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
                    return Err(ProtocolError::bad_request(TIMEOUT));
                }
                if let Some(t) = w.timeout.filter(|&t| t > MAX_TIMEOUT) {
                    return Err(ProtocolError::bad_request(format!(
                        "\"timeout\" is at most {MAX_TIMEOUT} seconds (a day), not {t}"
                    )));
                }
                Command::Wait {
                    pids: w.pids,
                    timeout: w.timeout,
                }
            }
            Request::Signal(s) => {
                if s.pids.is_empty() {
                    return Err(ProtocolError::bad_request("signal needs \"pids\""));
                }
                Command::Signal {
                    pids: s.pids,
                    signal: s.signal.ok_or_else(|| ProtocolError::bad_request(SIGNAL))?,
                }
            }
            Request::Stats {} => Command::Stats,
            Request::Sys(s) => Command::Sys {
                sections: s
                    .sections
                    .iter()
                    .map(|s| s.parse())
                    .collect::<Result<_, String>>()
                    .map_err(ProtocolError::bad_request)?,
                format: s.format,
            },
        })
    }
}

/// A request line the agent validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Echoed in the answer.
    pub id: u64,
    /// What to run.
    pub command: Command,
}

/// What is read of a line before its operation: lenient, so that the id of a bad request is
/// echoed and a missing or odd `v`/`op` gets its own message.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    v: Option<Loose<u64>>,
    #[serde(default)]
    id: Option<Loose<u64>>,
    #[serde(default)]
    op: Option<Loose<String>>,
}

/// A value of the expected type, or anything else (told apart after reading).
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose<T> {
    Is(T),
    Other(IgnoredAny),
}

impl<T> Loose<T> {
    fn ok(self) -> Option<T> {
        match self {
            Loose::Is(value) => Some(value),
            Loose::Other(_) => None,
        }
    }
}

/// Parses and validates one request line. On error, the id (when readable) comes with it.
pub fn parse(line: &[u8]) -> Result<Parsed, (u64, ProtocolError)> {
    let head: Head = serde_json::from_slice(line).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => "a request is a JSON object".to_string(),
            _ => format!("not JSON: {e}"),
        };
        (0, ProtocolError::bad_request(message))
    })?;
    // serde reads a struct from an array too: only an object is a request.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err((0, ProtocolError::bad_request("a request is a JSON object")));
    }
    let id = head.id.and_then(Loose::ok).unwrap_or(0);
    let fail = |error: ProtocolError| (id, error);
    match head.v.and_then(Loose::ok) {
        Some(VERSION) => {}
        Some(other) => {
            return Err(fail(ProtocolError {
                kind: "unsupported_version",
                message: format!(
                    "protocol version {other} is not supported (this agent speaks {VERSION})"
                ),
            }))
        }
        None => {
            return Err(fail(ProtocolError::bad_request(
                "missing \"v\" (protocol version)",
            )))
        }
    }
    let op = head
        .op
        .and_then(Loose::ok)
        .ok_or_else(|| fail(ProtocolError::bad_request("missing \"op\"")))?;
    if !OPS.contains(&op.as_str()) {
        return Err(fail(ProtocolError::bad_request(format!(
            "unknown op '{op}' ({})",
            OPS.join(", ")
        ))));
    }
    let request: Request = serde_json::from_slice(line).map_err(|e| {
        // The fields' own messages, without serde_json's position.
        let text = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        let message = text.strip_suffix(&position).unwrap_or(&text).to_string();
        fail(ProtocolError::bad_request(message))
    })?;
    let command = request.validate().map_err(fail)?;
    Ok(Parsed { id, command })
}

const TIMEOUT: &str = "\"timeout\" is a number of seconds ≥ 0";
const SIGNAL: &str = "\"signal\" is one of kill, terminate, suspend, resume";

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Option::<Loose<Vec<String>>>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(Loose::Is(items)) => Ok(items),
        Some(Loose::Other(_)) => Err(D::Error::custom("expected an array of strings")),
    }
}

fn u32_list<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Vec<u32>, D::Error> {
    match Option::<Loose<Vec<Loose<u32>>>>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(Loose::Is(items)) => items
            .into_iter()
            .map(|item| item.ok().ok_or_else(|| u32_error::<D::Error>(field)))
            .collect(),
        Some(Loose::Other(_)) => Err(D::Error::custom(format!("\"{field}\" is an array"))),
    }
}

fn u32_error<E: serde::de::Error>(field: &str) -> E {
    E::custom(format!("\"{field}\" holds 32-bit unsigned integers"))
}

fn optional_u32<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<u32>, D::Error> {
    match Option::<Loose<u32>>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Is(n)) => Ok(Some(n)),
        Some(Loose::Other(_)) => Err(u32_error(field)),
    }
}

fn boolean<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<bool, D::Error> {
    match Option::<Loose<bool>>::deserialize(d)? {
        None => Ok(false),
        Some(Loose::Is(b)) => Ok(b),
        Some(Loose::Other(_)) => Err(D::Error::custom(format!("\"{field}\" is true or false"))),
    }
}

macro_rules! field_deserializers {
    ($($name:ident: $helper:ident -> $type:ty;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$type, D::Error> {
            $helper(d, stringify!($name))
        }
    )*};
}

field_deserializers! {
    pids: u32_list -> Vec<u32>;
    ppids: u32_list -> Vec<u32>;
    uids: u32_list -> Vec<u32>;
    pid: optional_u32 -> Option<u32>;
    limit: optional_u32 -> Option<u32>;
    exited: boolean -> bool;
    replay_exited: boolean -> bool;
}

fn pidns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    match Option::<Loose<Vec<Loose<u64>>>>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(Loose::Is(items)) => items
            .into_iter()
            .map(|item| {
                item.ok()
                    .ok_or_else(|| D::Error::custom("\"pidns\" holds namespace inode numbers"))
            })
            .collect(),
        Some(Loose::Other(_)) => Err(D::Error::custom("\"pidns\" is an array")),
    }
}

fn group_by<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Loose<String>>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Is(s)) => Ok(Some(s)),
        Some(Loose::Other(_)) => Err(D::Error::custom("\"group_by\" is a string")),
    }
}

fn sort<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Loose<String>>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Is(s)) => Ok(Some(s)),
        Some(Loose::Other(_)) => Err(D::Error::custom("\"sort\" is a string")),
    }
}

fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<Loose<f64>>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Is(t)) => Ok(Some(t)),
        Some(Loose::Other(_)) => Err(D::Error::custom(TIMEOUT)),
    }
}

fn signal_op<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SignalOp>, D::Error> {
    let name = Option::<Loose<String>>::deserialize(d)?.and_then(Loose::ok);
    match name.as_deref() {
        Some("kill") => Ok(Some(SignalOp::Kill)),
        Some("terminate") => Ok(Some(SignalOp::Terminate)),
        Some("suspend") => Ok(Some(SignalOp::Suspend)),
        Some("resume") => Ok(Some(SignalOp::Resume)),
        _ => Err(D::Error::custom(SIGNAL)),
    }
}

fn json() -> Format {
    Format::Json
}

/// `format`: `"json"` (also when absent, null or not a string) or `"text"`.
mod format {
    use super::*;

    pub fn serialize<S: Serializer>(format: &Format, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match format {
            Format::Json => "json",
            Format::Text => "text",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        match Option::<Loose<String>>::deserialize(d)?
            .and_then(Loose::ok)
            .as_deref()
        {
            None | Some("json") => Ok(Format::Json),
            Some("text") => Ok(Format::Text),
            Some(other) => Err(D::Error::custom(format!(
                "unknown format '{other}' (json or text)"
            ))),
        }
    }
}

/// The header line of every answer: `{"v":1,"id":7,"ok":true,"len":N}` before a payload of N
/// bytes, `{"v":1,"id":7,"ok":true,"stream":true}` before a stream of lines,
/// `{"v":1,"id":7,"ok":false,"error":KIND,"message":"…"}` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`VERSION`].
    pub v: u64,
    /// The request's id.
    pub id: u64,
    /// Served, or refused.
    pub ok: bool,
    /// Bytes of payload that follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// Lines follow until the connection closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// The error kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error, for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Header {
    fn line(&self) -> Vec<u8> {
        let mut line = crate::render::json::to_vec(self);
        line.push(b'\n');
        line
    }
}

/// The header line of a successful answer with a payload of `len` bytes.
pub fn ok_header(id: u64, len: usize) -> Vec<u8> {
    Header {
        v: VERSION,
        id,
        ok: true,
        len: Some(len as u64),
        stream: None,
        error: None,
        message: None,
    }
    .line()
}

/// The header line that starts a stream.
pub fn stream_header(id: u64) -> Vec<u8> {
    Header {
        v: VERSION,
        id,
        ok: true,
        len: None,
        stream: Some(true),
        error: None,
        message: None,
    }
    .line()
}

/// The line of a failed request.
pub fn error_line(id: u64, error: &ProtocolError) -> Vec<u8> {
    Header {
        v: VERSION,
        id,
        ok: false,
        len: None,
        stream: None,
        error: Some(error.kind.to_string()),
        message: Some(error.message.clone()),
    }
    .line()
}

/// A group of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Section {
    /// cpu_count, cpu_count_cores, cpu_percent(_percpu), cpu_times_percent, cpu_times(_percpu),
    /// cpu_stats, cpu_freq(_percpu), getloadavg.
    Cpu,
    /// virtual_memory, swap_memory.
    Memory,
    /// disk_partitions, disk_usage (per mountpoint), disk_io_counters(_perdisk).
    Disk,
    /// net_io_counters(_pernic), net_if_addrs, net_if_stats, net_connections (kind inet).
    Net,
    /// sensors_temperatures, sensors_fans, sensors_battery.
    Sensors,
    /// Everything above, plus boot_time and users.
    All,
}

impl Section {
    const NAMES: [(&'static str, Section); 6] = [
        ("cpu", Section::Cpu),
        ("memory", Section::Memory),
        ("disk", Section::Disk),
        ("net", Section::Net),
        ("sensors", Section::Sensors),
        ("all", Section::All),
    ];

    /// The name on the command line and in the protocol.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("all", |(n, _)| n)
    }
}

impl FromStr for Section {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, section)| *section)
            .ok_or_else(|| {
                format!("unknown section '{s}' (cpu, memory, disk, net, sensors or all)")
            })
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
