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

use std::ffi::OsString;

use std::str::FromStr;

use clap::ValueEnum;
use serde_json::Value as JsonValue;

use crate::event::EventKind;
use crate::filter::EventFilter;
use crate::host::os::signals;
use crate::query::{Format, Query};

/// Protocol version spoken by this build.
pub const VERSION: u64 = 1;

/// Longest request line accepted.
pub const MAX_REQUEST: usize = 64 * 1024;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
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

/// A request with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Echoed in the answer.
    pub id: u64,
    /// What is asked.
    pub request: Request,
}

/// Parses one request line. On error, the id (when readable) comes with it.
pub fn parse(line: &[u8]) -> Result<Envelope, (u64, ProtocolError)> {
    let value: JsonValue = serde_json::from_slice(line)
        .map_err(|e| (0, ProtocolError::bad_request(format!("not JSON: {e}"))))?;
    let object = value
        .as_object()
        .ok_or_else(|| (0, ProtocolError::bad_request("a request is a JSON object")))?;
    let id = object.get("id").and_then(JsonValue::as_u64).unwrap_or(0);
    let fail = |error: ProtocolError| (id, error);
    match object.get("v").and_then(JsonValue::as_u64) {
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
    let op = object
        .get("op")
        .and_then(JsonValue::as_str)
        .ok_or_else(|| fail(ProtocolError::bad_request("missing \"op\"")))?;
    let request = match op {
        "query" => {
            let attrs = strings(object.get("attrs")).map_err(fail)?;
            let sort = optional_str(object.get("sort"), "sort").map_err(fail)?;
            let exited = boolean(object.get("exited"), "exited").map_err(fail)?;
            let mut query = Query::new(&attrs, sort.as_deref(), exited)
                .map_err(|e| fail(ProtocolError::bad_request(e)))?;
            query.pids = numbers(object.get("pids"), "pids").map_err(fail)?;
            query.ppids = numbers(object.get("ppids"), "ppids").map_err(fail)?;
            query.uids = numbers(object.get("uids"), "uids").map_err(fail)?;
            query.names = strings(object.get("names"))
                .map_err(fail)?
                .into_iter()
                .map(OsString::from)
                .collect();
            query.format = format(object.get("format")).map_err(fail)?;
            query.limit = (object.get("limit").filter(|v| !v.is_null()))
                .map(|v| number(v, "limit").map(|n| n as usize))
                .transpose()
                .map_err(fail)?;
            Request::Query(query)
        }
        "tree" => Request::Tree {
            pid: match object.get("pid") {
                None | Some(JsonValue::Null) => None,
                Some(v) => Some(number(v, "pid").map_err(fail)?),
            },
            format: format(object.get("format")).map_err(fail)?,
        },
        "subscribe" => Request::Subscribe {
            filter: EventFilter {
                pids: numbers(object.get("pids"), "pids").map_err(fail)?,
                ppids: numbers(object.get("ppids"), "ppids").map_err(fail)?,
                uids: numbers(object.get("uids"), "uids").map_err(fail)?,
                names: strings(object.get("names"))
                    .map_err(fail)?
                    .into_iter()
                    .map(OsString::from)
                    .collect(),
                kinds: strings(object.get("kinds"))
                    .map_err(fail)?
                    .iter()
                    .map(|k| k.parse::<EventKind>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| fail(ProtocolError::bad_request(e)))?,
            },
            replay_exited: boolean(object.get("replay_exited"), "replay_exited").map_err(fail)?,
            format: format(object.get("format")).map_err(fail)?,
        },
        "wait" => {
            let pids = numbers(object.get("pids"), "pids").map_err(fail)?;
            if pids.is_empty() {
                return Err(fail(ProtocolError::bad_request("wait needs \"pids\"")));
            }
            let timeout = match object.get("timeout") {
                None | Some(JsonValue::Null) => None,
                Some(v) => match v.as_f64() {
                    Some(t) if t.is_finite() && t >= 0.0 => Some(t),
                    _ => {
                        return Err(fail(ProtocolError::bad_request(
                            "\"timeout\" is a number of seconds ≥ 0",
                        )))
                    }
                },
            };
            Request::Wait { pids, timeout }
        }
        "signal" => {
            let pids = numbers(object.get("pids"), "pids").map_err(fail)?;
            if pids.is_empty() {
                return Err(fail(ProtocolError::bad_request("signal needs \"pids\"")));
            }
            let signal = match object.get("signal").and_then(JsonValue::as_str) {
                Some("kill") => SignalOp::Kill,
                Some("terminate") => SignalOp::Terminate,
                Some("suspend") => SignalOp::Suspend,
                Some("resume") => SignalOp::Resume,
                _ => {
                    return Err(fail(ProtocolError::bad_request(
                        "\"signal\" is one of kill, terminate, suspend, resume",
                    )))
                }
            };
            Request::Signal { pids, signal }
        }
        "stats" => Request::Stats,
        "sys" => Request::Sys {
            sections: strings(object.get("sections"))
                .map_err(fail)?
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, String>>()
                .map_err(|e| fail(ProtocolError::bad_request(e)))?,
            format: format(object.get("format")).map_err(fail)?,
        },
        other => {
            return Err(fail(ProtocolError::bad_request(format!(
                "unknown op '{other}' (query, tree, subscribe, wait, signal, stats, sys)"
            ))))
        }
    };
    Ok(Envelope { id, request })
}

fn strings(value: Option<&JsonValue>) -> Result<Vec<String>, ProtocolError> {
    match value {
        None | Some(JsonValue::Null) => Ok(Vec::new()),
        Some(JsonValue::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ProtocolError::bad_request("expected an array of strings"))
            })
            .collect(),
        Some(_) => Err(ProtocolError::bad_request("expected an array of strings")),
    }
}

fn number(value: &JsonValue, field: &str) -> Result<u32, ProtocolError> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            ProtocolError::bad_request(format!("\"{field}\" holds 32-bit unsigned integers"))
        })
}

fn numbers(value: Option<&JsonValue>, field: &str) -> Result<Vec<u32>, ProtocolError> {
    match value {
        None | Some(JsonValue::Null) => Ok(Vec::new()),
        Some(JsonValue::Array(items)) => items.iter().map(|v| number(v, field)).collect(),
        Some(_) => Err(ProtocolError::bad_request(format!(
            "\"{field}\" is an array"
        ))),
    }
}

fn boolean(value: Option<&JsonValue>, field: &str) -> Result<bool, ProtocolError> {
    match value {
        None | Some(JsonValue::Null) => Ok(false),
        Some(JsonValue::Bool(b)) => Ok(*b),
        Some(_) => Err(ProtocolError::bad_request(format!(
            "\"{field}\" is true or false"
        ))),
    }
}

fn optional_str(value: Option<&JsonValue>, field: &str) -> Result<Option<String>, ProtocolError> {
    match value {
        None | Some(JsonValue::Null) => Ok(None),
        Some(JsonValue::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ProtocolError::bad_request(format!(
            "\"{field}\" is a string"
        ))),
    }
}

fn format(value: Option<&JsonValue>) -> Result<Format, ProtocolError> {
    match value.and_then(JsonValue::as_str) {
        None | Some("json") => Ok(Format::Json),
        Some("text") => Ok(Format::Text),
        Some(other) => Err(ProtocolError::bad_request(format!(
            "unknown format '{other}' (json or text)"
        ))),
    }
}

/// The header line of a successful answer with a payload of `len` bytes.
pub fn ok_header(id: u64, len: usize) -> String {
    format!("{{\"v\":{VERSION},\"id\":{id},\"ok\":true,\"len\":{len}}}\n")
}

/// The header line that starts a stream.
pub fn stream_header(id: u64) -> String {
    format!("{{\"v\":{VERSION},\"id\":{id},\"ok\":true,\"stream\":true}}\n")
}

/// The line of a failed request.
pub fn error_line(id: u64, error: &ProtocolError) -> String {
    let mut json = crate::json::Json::new();
    json.begin_object();
    json.key("v").uint(VERSION);
    json.key("id").uint(id);
    json.key("ok").bool(false);
    json.key("error").str(error.kind);
    json.key("message").str(&error.message);
    json.end_object();
    let mut line = json.finish();
    line.push('\n');
    line
}

/// A group of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
mod tests {
    use super::*;

    #[test]
    fn parses_each_op() {
        let q = parse(
            br#"{"v":1,"id":3,"op":"query","attrs":["pid","name"],"sort":"-pid","format":"text"}"#,
        )
        .unwrap();
        assert_eq!(q.id, 3);
        match q.request {
            Request::Query(query) => {
                assert_eq!(query.format, Format::Text);
                assert_eq!(query.sort, Some((crate::attrs::Attr::Pid, true)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(br#"{"v":1,"op":"signal","pids":[5],"signal":"kill"}"#)
                .unwrap()
                .request,
            Request::Signal {
                signal: SignalOp::Kill,
                ..
            }
        ));
        assert!(matches!(
            parse(br#"{"v":1,"op":"subscribe","kinds":["exit"]}"#)
                .unwrap()
                .request,
            Request::Subscribe { .. }
        ));
    }

    #[test]
    fn parses_sys_and_query_limit() {
        use Section;
        match parse(br#"{"v":1,"op":"sys","sections":["cpu","memory"],"format":"text"}"#)
            .unwrap()
            .request
        {
            Request::Sys { sections, format } => {
                assert_eq!(sections, [Section::Cpu, Section::Memory]);
                assert_eq!(format, Format::Text);
            }
            other => panic!("{other:?}"),
        }
        let (id, error) = parse(br#"{"v":1,"id":4,"op":"sys","sections":["cpux"]}"#).unwrap_err();
        assert_eq!((id, error.kind), (4, "bad_request"));
        assert!(error.message.contains("unknown section 'cpux'"), "{error}");
        match parse(br#"{"v":1,"op":"query","exited":true,"limit":3}"#)
            .unwrap()
            .request
        {
            Request::Query(query) => assert_eq!(query.limit, Some(3)),
            other => panic!("{other:?}"),
        }
        assert!(parse(br#"{"v":1,"op":"query","limit":-3}"#).is_err());
    }

    #[test]
    fn refuses_bad_requests_with_their_id() {
        for (line, kind) in [
            (&b"not json"[..], "bad_request"),
            (br#"[1,2]"#, "bad_request"),
            (br#"{"v":2,"id":9,"op":"stats"}"#, "unsupported_version"),
            (br#"{"v":1,"id":9,"op":"dance"}"#, "bad_request"),
            (
                br#"{"v":1,"id":9,"op":"query","attrs":["nope"]}"#,
                "bad_request",
            ),
            (br#"{"v":1,"id":9,"op":"wait","pids":[]}"#, "bad_request"),
            (
                br#"{"v":1,"id":9,"op":"signal","pids":[1],"signal":"hug"}"#,
                "bad_request",
            ),
            (br#"{"v":1,"id":9,"op":"query","pids":[-1]}"#, "bad_request"),
        ] {
            let (id, error) = parse(line).unwrap_err();
            assert_eq!(error.kind, kind, "{}", String::from_utf8_lossy(line));
            if line.starts_with(b"{") && line.windows(6).any(|w| w == b"\"id\":9") {
                assert_eq!(id, 9);
            }
        }
    }
}
