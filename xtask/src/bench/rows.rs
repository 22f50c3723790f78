//! Rows and the table: what a measurement returns, how a row compares with its baseline
//! and with issue 7's target, and the markdown table they make.

use super::*;

/// What a row's median counts.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    SpawnsPerSecond,
    Seconds,
    NsPerRun,
    /// CPU time per process, in µs.
    MicrosPerProcess,
    Bytes,
    /// CPU time per second of wall time, in ms.
    CpuMsPerSecond,
    /// A part of a whole, 0 to 1.
    Fraction,
}

impl Unit {
    pub(super) fn name(self) -> &'static str {
        match self {
            Unit::SpawnsPerSecond => "spawns/s",
            Unit::Seconds => "s",
            Unit::NsPerRun => "ns/run",
            Unit::MicrosPerProcess => "µs/process",
            Unit::Bytes => "bytes",
            Unit::CpuMsPerSecond => "CPU ms/s",
            Unit::Fraction => "fraction",
        }
    }

    pub(super) fn show(self, value: f64) -> String {
        match self {
            Unit::SpawnsPerSecond => format!("{} spawns/s", thousands(value.round() as u64)),
            Unit::Seconds if value < 1e-3 => format!("{:.0} µs", value * 1e6),
            Unit::Seconds if value < 1.0 => format!("{:.1} ms", value * 1e3),
            Unit::Seconds => format!("{value:.2} s"),
            Unit::NsPerRun => format!("{} ns/run", thousands(value.round() as u64)),
            Unit::MicrosPerProcess => format!("{value:.2} µs/process"),
            Unit::Bytes => format!("{:.1} MB", value / 1e6),
            Unit::CpuMsPerSecond if value < 10.0 => format!("{value:.2} CPU ms/s"),
            Unit::CpuMsPerSecond => format!("{value:.1} CPU ms/s"),
            Unit::Fraction => format!("{:.2}%", value * 100.0),
        }
    }
}

/// A target of issue 7 that a row is held to: what it says, and whether the median met it
/// (`None` when there is no median).
pub(super) struct Target {
    pub(super) text: String,
    pub(super) met: Option<bool>,
}

impl Target {
    pub(super) fn new(text: impl Into<String>, met: Option<bool>) -> Target {
        Target {
            text: text.into(),
            met,
        }
    }

    /// `value ≤ limit` (nothing known when `value` is missing).
    pub(super) fn at_most(text: impl Into<String>, value: Option<f64>, limit: f64) -> Target {
        Target::new(text, value.map(|value| value <= limit))
    }

    /// `value ≥ limit` (nothing known when `value` is missing).
    pub(super) fn at_least(text: impl Into<String>, value: Option<f64>, limit: f64) -> Target {
        Target::new(text, value.map(|value| value >= limit))
    }

    pub(super) fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "unknown",
        }
    }
}

/// How a row compares with its measurement's baseline.
pub(super) enum Ratio {
    /// This row is the baseline.
    Baseline,
    /// `value` of what `meaning` says (e.g. "throughput", "psutil / tracer").
    Of { value: f64, meaning: &'static str },
    /// The baseline or this row has no median.
    Unknown,
    /// Nothing to compare with.
    None,
}

/// One line of the table.
pub(super) struct Row {
    pub(super) measurement: String,
    pub(super) subject: String,
    pub(super) unit: Unit,
    pub(super) samples: Vec<f64>,
    pub(super) ratio: Ratio,
    /// Short text for the table's last column.
    pub(super) extra: String,
    /// Issue 7's targets for this row.
    pub(super) targets: Vec<Target>,
    /// Everything else worth keeping, for the JSON.
    pub(super) details: Value,
    /// Why the subject could not be measured (the median is then missing).
    pub(super) error: Option<String>,
}

impl Row {
    pub(super) fn unavailable(measurement: &str, subject: &str, error: &anyhow::Error) -> Row {
        Row {
            measurement: measurement.to_owned(),
            subject: subject.to_owned(),
            unit: Unit::Seconds,
            samples: Vec::new(),
            ratio: Ratio::None,
            extra: String::new(),
            targets: Vec::new(),
            details: Value::Null,
            error: Some(format!("{error:#}")),
        }
    }

    pub(super) fn median(&self) -> Option<f64> {
        median(&self.samples)
    }

    pub(super) fn to_json(&self) -> Value {
        let (ratio, meaning) = match self.ratio {
            Ratio::Baseline => (Some(1.0), "baseline"),
            Ratio::Of { value, meaning } => (Some(value), meaning),
            Ratio::Unknown | Ratio::None => (None, ""),
        };
        json!({
            "measurement": self.measurement,
            "subject": self.subject,
            "unit": self.unit.name(),
            "median": self.median(),
            "samples": self.samples,
            "ratio": ratio,
            "ratio_meaning": meaning,
            "extra": self.extra,
            "targets": self.targets.iter().map(|target| json!({
                "target": target.text,
                "met": target.met,
            })).collect::<Vec<_>>(),
            "details": self.details,
            "error": self.error,
        })
    }

    pub(super) fn cells(&self) -> [String; 6] {
        let median = match (&self.error, self.median()) {
            (Some(error), _) => format!("unavailable: {}", shorten(error, 240)),
            (None, Some(median)) => self.unit.show(median),
            (None, None) => "unavailable: no sample".to_owned(),
        };
        let ratio = match self.ratio {
            Ratio::Baseline => "1.00 (baseline)".to_owned(),
            Ratio::Of { value, meaning } => format!("{value:.2}× ({meaning})"),
            Ratio::Unknown if self.error.is_some() => "—".to_owned(),
            Ratio::Unknown => "?".to_owned(),
            Ratio::None => "—".to_owned(),
        };
        [
            self.measurement.clone(),
            self.subject.clone(),
            median,
            ratio,
            self.targets
                .iter()
                .map(|target| format!("{}: {}", target.text, target.verdict()))
                .collect::<Vec<_>>()
                .join("; "),
            self.extra.clone(),
        ]
    }
}

/// The header line and the markdown table.
pub(super) fn table(host: &Host, ctx: &Ctx, quick: bool, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tracer bench — {} · kernel {} · {} CPUs × {} · commit {}{} · {} ({} repetitions, {} s \
         exec storms; backends {} repetitions)",
        host.date,
        host.kernel,
        host.cpus,
        host.cpu_model,
        host.commit,
        if host.dirty { " (dirty)" } else { "" },
        if quick { "--quick" } else { "full" },
        ctx.reps,
        ctx.storm.as_secs(),
        ctx.backend_reps
    );
    out.push('\n');
    out.push_str("| measurement | subject | median | ratio vs baseline | target | extra |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for row in rows {
        let cells = row
            .cells()
            .map(|cell| cell.replace('|', "\\|").replace('\n', " "));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// Gives each row its ratio `this / baseline` against `baseline` (an index into `rows`).
pub(super) fn compare(rows: &mut [Row], baseline: usize, meaning: &'static str) {
    let base = rows[baseline].median();
    for (index, row) in rows.iter_mut().enumerate() {
        row.ratio = if index == baseline {
            Ratio::Baseline
        } else {
            match (base, row.median()) {
                (Some(base), Some(this)) if base > 0.0 && this > 0.0 => Ratio::Of {
                    value: this / base,
                    meaning,
                },
                _ => Ratio::Unknown,
            }
        };
    }
}
