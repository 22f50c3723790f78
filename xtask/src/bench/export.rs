//! Measurement: what the exporters cost the agent (issue 15). The same serial exec storm under
//! `tracer agent` with its exporters off, with OTLP to a receiver on 127.0.0.1 in this
//! process, with the JSON-lines file, and with both; interleaved, the order rotated each
//! repetition. Each row: the agent's CPU (user + system) per process lifecycle it applied,
//! with the ratio against exporters off in the same run, and what the exporters delivered.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::*;

/// The conditions: a label and whether OTLP and the file are on.
const CONDITIONS: [(&str, bool, bool); 4] = [
    ("tracer agent, exporters off", false, false),
    ("tracer agent --otlp-endpoint (local receiver)", true, false),
    ("tracer agent --export-file", false, true),
    ("tracer agent, OTLP + file", true, true),
];

/// An OTLP/HTTP sink on 127.0.0.1: reads each request whole and answers 200, counting them.
struct Sink {
    port: u16,
    requests: Arc<AtomicU64>,
}

impl Sink {
    fn start() -> Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the OTLP sink")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().map_while(std::result::Result::ok) {
                let counter = Arc::clone(&counter);
                thread::spawn(move || serve(stream, &counter));
            }
        });
        Ok(Sink { port, requests })
    }
}

/// HTTP/1.1 with keep-alive: headers, then Content-Length bytes of body, then 200.
fn serve(mut stream: TcpStream, requests: &AtomicU64) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        let total = end + 4 + length;
        while buffer.len() < total {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..total);
        requests.fetch_add(1, Ordering::Relaxed);
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

pub(super) fn export_cost(ctx: &Ctx) -> Result<Vec<Row>> {
    let python = ctx.python.clone().map_err(|error| anyhow!(error))?;
    let sink = Sink::start()?;
    let endpoint = format!("http://127.0.0.1:{}", sink.port);
    let file = ctx.work.join("export.jsonl");
    let mut results: Vec<Vec<std::result::Result<StormRep, String>>> =
        CONDITIONS.iter().map(|_| Vec::new()).collect();
    for rep in 0..ctx.reps {
        for turn in 0..CONDITIONS.len() {
            let index = (turn + rep) % CONDITIONS.len();
            let (label, otlp, to_file) = CONDITIONS[index];
            say!("export {}/{}: {label} …", rep + 1, ctx.reps);
            let mut extra = vec!["--max-exited", STORM_MAX_EXITED];
            if otlp {
                extra.extend(["--otlp-endpoint", endpoint.as_str()]);
            }
            let file_arg = file.to_string_lossy().into_owned();
            if to_file {
                extra.extend(["--export-file", file_arg.as_str(), "--export-keep", "1"]);
            }
            let tag = format!("export-{rep}-{index}");
            let outcome = storm_under(ctx, &python, Peer::Agent, 1, ctx.storm, &extra, &tag);
            for path in [file.clone(), PathBuf::from(format!("{}.1", file.display()))] {
                let _ = fs::remove_file(path);
            }
            match &outcome {
                Ok(rep) => say!("  {}", rep_summary(rep)),
                Err(error) => say!("  failed: {error:#}"),
            }
            results[index].push(outcome.map_err(|error| format!("{error:#}")));
        }
    }
    let mut rows: Vec<Row> = CONDITIONS
        .iter()
        .zip(&results)
        .map(|((label, _, _), reps)| export_row(label, reps))
        .collect();
    compare(&mut rows, 0, "agent CPU vs exporters off");
    say!(
        "export: the OTLP sink received {} requests",
        sink.requests.load(Ordering::Relaxed)
    );
    Ok(rows)
}

fn export_row(label: &str, reps: &[std::result::Result<StormRep, String>]) -> Row {
    let good: Vec<&StormRep> = reps.iter().filter_map(|rep| rep.as_ref().ok()).collect();
    let per_lifecycle: Vec<f64> = good
        .iter()
        .filter_map(|rep| match (rep.cpu, rep.traced) {
            (Some(cpu), Some(traced)) if traced > 0 => Some(cpu * 1e6 / traced as f64),
            _ => None,
        })
        .collect();
    let precise: Vec<f64> = good
        .iter()
        .filter_map(|rep| match (rep.run_time, rep.traced) {
            (Some(run_time), Some(traced)) if traced > 0 => Some(run_time * 1e6 / traced as f64),
            _ => None,
        })
        .collect();
    // What the exporters delivered and dropped, from the agent's stats after each storm.
    let exporters: Vec<Value> = good
        .iter()
        .filter_map(|rep| rep.stats.as_ref())
        .map(|stats| stats["exporters"].clone())
        .collect();
    let mut extra = Vec::new();
    if let Some(precise) = median(&precise) {
        extra.push(format!("{precise:.2} µs from schedstat run time"));
    }
    let sum = |name: &str, field: &str| -> u64 {
        exporters
            .iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter(|e| e["name"] == name)
            .filter_map(|e| e[field].as_u64())
            .sum()
    };
    for name in ["otlp", "file"] {
        let exported = sum(name, "exported");
        if exported > 0 || sum(name, "dropped") > 0 {
            extra.push(format!(
                "{name}: {} events exported, {} dropped, {} errors over the storms",
                thousands(exported),
                thousands(sum(name, "dropped")),
                sum(name, "errors")
            ));
        }
    }
    let error = per_lifecycle.is_empty().then(|| {
        reps.iter()
            .find_map(|rep| rep.as_ref().err().cloned())
            .unwrap_or_else(|| "no CPU figures".to_owned())
    });
    Row {
        measurement: "export cost: agent CPU per process lifecycle (serial storm)".to_owned(),
        subject: label.to_owned(),
        unit: Unit::MicrosPerProcess,
        samples: per_lifecycle.clone(),
        ratio: Ratio::None,
        extra: extra.join("; "),
        targets: Vec::new(),
        details: json!({
            "us_per_lifecycle": per_lifecycle,
            "us_per_lifecycle_schedstat": precise,
            "lifecycles_applied": good.iter().map(|rep| rep.traced).collect::<Vec<_>>(),
            "exporters": exporters,
        }),
        error,
    }
}
