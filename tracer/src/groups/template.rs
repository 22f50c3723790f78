//! The group name templates of process-exporter's config: Go `text/template` text with
//! `{{.Comm}}`, `{{.ExeBase}}`, `{{.ExeFull}}`, `{{.Username}}`, `{{.PID}}`, `{{.StartTime}}`,
//! `{{.Matches}}` and `{{.Matches.NAME}}` actions (and `{{-`/`-}}` trimming), and tracer's
//! `{{.Cgroup}}` (the cgroup v2 path), `{{.ContainerID}}` (64 hex) and `{{.PodUID}}`, each the
//! empty string when the process has none (as process-exporter prints a field it does not
//! know).
//!
//! Written here rather than with a template crate: the configs use these field references
//! only, Rust's Go-template crates (gtmpl) bring a whole interpreter for them, and what must be
//! exact is Go's printing of the values (a time as `Time.String()`, a map as `map[k:v]`, a
//! missing key as `<no value>`), which no crate does for us. Any other action is refused when
//! the config is read, so a name never silently differs from process-exporter's.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::config::{go_base, ProcAttrs, ProcIdentity};

/// A parsed name template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Comm,
    ExeBase,
    ExeFull,
    Username,
    Pid,
    StartTime,
    Matches,
    Match(String),
    Cgroup,
    ContainerId,
    PodUid,
}

impl Template {
    /// Parses a template; the error says what is not supported.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut trim_next = false;
        loop {
            let Some(open) = rest.find("{{") else {
                push_text(&mut parts, rest, trim_next, false);
                break;
            };
            let after = &rest[open + 2..];
            let trim_before = after.starts_with("- ");
            push_text(&mut parts, &rest[..open], trim_next, trim_before);
            let close = after
                .find("}}")
                .ok_or_else(|| "an action is not closed with }}".to_string())?;
            let mut action = &after[..close];
            trim_next = action.ends_with(" -");
            if trim_before {
                action = &action[2..];
            }
            if trim_next {
                action = &action[..action.len() - 2];
            }
            parts.push(Part::Field(field(action.trim())?));
            rest = &after[close + 2..];
        }
        Ok(Template { parts })
    }

    /// The name for a process.
    pub fn render(
        &self,
        attrs: &ProcAttrs,
        id: ProcIdentity,
        captures: &BTreeMap<String, String>,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(field) => match field {
                    Field::Comm => out.push_str(&attrs.comm),
                    Field::ExeBase => match attrs.cmdline.first() {
                        Some(first) => out.push_str(go_base(first)),
                        None => out.push_str(&attrs.comm),
                    },
                    Field::ExeFull => match attrs.cmdline.first() {
                        Some(first) => out.push_str(first),
                        None => out.push_str(&attrs.comm),
                    },
                    Field::Username => out.push_str(&username(attrs.euid)),
                    Field::Pid => {
                        let _ = write!(out, "{}", id.pid);
                    }
                    Field::StartTime => out.push_str(&go_time_string(id.start_time_ns)),
                    Field::Matches => {
                        out.push_str("map[");
                        for (i, (k, v)) in captures.iter().enumerate() {
                            if i > 0 {
                                out.push(' ');
                            }
                            let _ = write!(out, "{k}:{v}");
                        }
                        out.push(']');
                    }
                    Field::Match(key) => match captures.get(key) {
                        Some(value) => out.push_str(value),
                        None => out.push_str("<no value>"),
                    },
                    Field::Cgroup => {
                        if let Some(cgroup) = &attrs.cgroup {
                            out.push_str(&cgroup.path.to_string_lossy());
                        }
                    }
                    Field::ContainerId => {
                        let id = attrs.cgroup.as_ref().and_then(|c| c.container.as_ref());
                        if let Some(id) = id.and_then(|c| c.id.as_deref()) {
                            out.push_str(id);
                        }
                    }
                    Field::PodUid => {
                        if let Some(uid) = attrs.cgroup.as_ref().and_then(|c| c.pod_uid.as_deref())
                        {
                            out.push_str(uid);
                        }
                    }
                },
            }
        }
        out
    }

    /// Whether the name depends on the process's pid or start time.
    pub fn uses_identity(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Field(Field::Pid | Field::StartTime)))
    }

    /// Whether the name holds the cmdline regexes' captures (`{{.Matches}}`, `{{.Matches.X}}`).
    pub fn uses_matches(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Field(Field::Matches | Field::Match(_))))
    }

    /// Whether the name holds where the process runs.
    pub fn uses_placement(&self) -> bool {
        self.parts.iter().any(|p| {
            matches!(
                p,
                Part::Field(Field::Cgroup | Field::ContainerId | Field::PodUid)
            )
        })
    }

    /// Whether the name holds the user name.
    pub fn uses_username(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Field(Field::Username)))
    }
}

fn push_text(parts: &mut Vec<Part>, text: &str, trim_start: bool, trim_end: bool) {
    let mut text = text;
    if trim_start {
        text = text.trim_start();
    }
    if trim_end {
        text = text.trim_end();
    }
    if !text.is_empty() {
        parts.push(Part::Text(text.to_string()));
    }
}

fn field(action: &str) -> Result<Field, String> {
    Ok(match action {
        ".Comm" => Field::Comm,
        ".ExeBase" => Field::ExeBase,
        ".ExeFull" => Field::ExeFull,
        ".Username" => Field::Username,
        ".PID" => Field::Pid,
        ".StartTime" => Field::StartTime,
        ".Matches" => Field::Matches,
        ".Cgroup" => Field::Cgroup,
        ".ContainerID" => Field::ContainerId,
        ".PodUID" => Field::PodUid,
        ".Cgroups" => {
            return Err(
                "{{.Cgroups}} (cgroup v1 paths) is not supported by tracer: use {{.Cgroup}}, \
                 the cgroup v2 path"
                    .to_string(),
            );
        }
        other => match other.strip_prefix(".Matches.") {
            Some(key)
                if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_') =>
            {
                Field::Match(key.to_string())
            }
            _ => {
                return Err(format!(
                    "unsupported action {{{{{other}}}}} (the fields are .Comm, .ExeBase, .ExeFull, \
                     .Username, .PID, .StartTime, .Matches, .Matches.NAME, .Cgroup, \
                     .ContainerID and .PodUID)"
                ))
            }
        },
    })
}

/// The user name of a uid, or the uid in decimal when it has none (process-exporter's rule).
fn username(uid: u32) -> String {
    crate::platform::user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// Go's `Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`, the
/// fraction without trailing zeros and absent when zero. The civil date is Howard Hinnant's
/// `civil_from_days`, a few lines where a date crate would be a dependency for one format.
pub fn go_time_string(epoch_ns: i64) -> String {
    let secs = epoch_ns.div_euclid(1_000_000_000);
    let nanos = epoch_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, cmdline: &[&str], captures: &[(&str, &str)]) -> String {
        let attrs = ProcAttrs {
            comm: "kworker".into(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            euid: 0,
            cgroup: None,
        };
        let captures = captures
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let id = ProcIdentity {
            pid: 1234,
            start_time_ns: 1_700_000_000_250_000_000,
        };
        Template::parse(source)
            .unwrap()
            .render(&attrs, id, &captures)
    }

    #[test]
    fn fields() {
        let cmd = ["/usr/bin/python3", "x.py"];
        assert_eq!(render("{{.Comm}}", &cmd, &[]), "kworker");
        assert_eq!(render("{{.ExeBase}}", &cmd, &[]), "python3");
        assert_eq!(render("{{ .ExeFull }}", &cmd, &[]), "/usr/bin/python3");
        assert_eq!(render("{{.ExeBase}}", &[], &[]), "kworker");
        assert_eq!(render("{{.ExeFull}}", &[], &[]), "kworker");
        assert_eq!(render("{{.Username}}", &cmd, &[]), "root");
        assert_eq!(render("p{{.PID}}", &cmd, &[]), "p1234");
        assert_eq!(
            render("{{.StartTime}}", &cmd, &[]),
            "2023-11-14 22:13:20.25 +0000 UTC"
        );
        assert_eq!(
            render("{{.Matches}}", &cmd, &[("x", "1"), ("", "all")]),
            "map[:all x:1]"
        );
        assert_eq!(render("{{.Matches.x}}", &cmd, &[("x", "1")]), "1");
        assert_eq!(render("{{.Matches.y}}", &cmd, &[("x", "1")]), "<no value>");
        assert_eq!(render("a {{- .Comm -}} b", &cmd, &[]), "akworkerb");
        assert_eq!(render("a-{{.Comm}}-b", &cmd, &[]), "a-kworker-b");
        assert_eq!(render("plain", &cmd, &[]), "plain");
    }

    #[test]
    fn placement_fields() {
        use crate::host::container::{Cgroup, Container};
        let id = "ab".repeat(32);
        let mut attrs = ProcAttrs {
            comm: "app".into(),
            ..ProcAttrs::default()
        };
        let t = Template::parse("{{.Comm}}:{{.ContainerID}}:{{.PodUID}}:{{.Cgroup}}").unwrap();
        let none = ProcIdentity {
            pid: 1,
            start_time_ns: 0,
        };
        assert_eq!(
            t.render(&attrs, none, &BTreeMap::new()),
            "app:::",
            "empty when null"
        );
        attrs.cgroup = Some(std::sync::Arc::new(Cgroup {
            path: "/kubepods/pod1-2/x".into(),
            id: Some(7),
            container: Some(Container {
                id: Some(id.clone()),
                runtime: Some("docker"),
            }),
            pod_uid: Some("1-2".into()),
        }));
        assert_eq!(
            t.render(&attrs, none, &BTreeMap::new()),
            format!("app:{id}:1-2:/kubepods/pod1-2/x")
        );
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            go_time_string(951_782_400_010_000_000),
            "2000-02-29 00:00:00.01 +0000 UTC"
        );
        assert_eq!(
            go_time_string(4_102_444_799_000_000_001),
            "2099-12-31 23:59:59.000000001 +0000 UTC"
        );
    }

    #[test]
    fn unsupported_actions_are_refused() {
        for bad in [
            "{{.Nope}}",
            "{{.Cgroups}}",
            "{{if .Comm}}x{{end}}",
            "{{.Comm",
            "{{.Matches.}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        assert!(Template::parse("{{.PID}}").unwrap().uses_identity());
        assert!(!Template::parse("{{.Comm}}").unwrap().uses_identity());
    }
}
