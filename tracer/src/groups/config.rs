//! process-exporter's YAML config, read unchanged: `process_names`, a list of rules tried in
//! order (the first that matches names the process), each with `comm`, `exe` and `cmdline`
//! matchers (all given must match) and a `name` template (`{{.ExeBase}}` when absent).
//!
//! The semantics are process-exporter's (`config/config.go`): `comm` is the kernel's 15-byte
//! name compared whole; `exe` compares the base name of `cmdline[0]` (not `/proc/PID/exe`),
//! and a rule holding a `/` must equal `cmdline[0]` itself; `cmdline` regexes (RE2 syntax, as
//! Go's `regexp`, here the `regex` crate) must all match the arguments joined by spaces, and
//! their named captures feed `{{.Matches.NAME}}`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::template::Template;
use crate::host::container::Cgroup;

/// Largest config file read: a rule list is a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Most rules in one config.
pub const MAX_RULES: usize = 1000;

/// A config that cannot be used: one line saying where and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The parsed config: rules in the order they are tried.
#[derive(Debug, Clone)]
pub struct GroupsConfig {
    rules: Vec<Rule>,
    /// Keys of the file that process-exporter ignores too (reported, not fatal).
    pub ignored_keys: Vec<String>,
}

/// One `process_names` entry.
#[derive(Debug, Clone)]
struct Rule {
    comm: Option<Vec<String>>,
    /// Base name → the full path it must be (`None`: any path), later rules overwriting
    /// earlier ones with the same base name, as process-exporter's map does.
    exe: Option<HashMap<String, Option<String>>>,
    cmdline: Option<Vec<regex::Regex>>,
    name: Template,
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    process_names: Option<Vec<RawRule>>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
struct RawRule {
    name: Option<String>,
    comm: Option<Vec<String>>,
    exe: Option<Vec<String>>,
    cmdline: Option<Vec<String>>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_norway::Value>,
}

/// What a rule sees of a process (process-exporter's `ProcAttributes`).
#[derive(Debug, Clone, Default)]
pub struct ProcAttrs {
    /// The kernel's name (`comm`).
    pub comm: String,
    /// The argument vector (bytes that are not UTF-8 replaced, as Go's regexp reads them).
    pub cmdline: Vec<String>,
    /// The effective uid (process-exporter names `{{.Username}}` after it).
    pub euid: u32,
    /// Its cgroup v2 (with the container and pod its path names), for `{{.Cgroup}}`,
    /// `{{.ContainerID}}` and `{{.PodUID}}`; shared with the event that brought it.
    pub cgroup: Option<Arc<Cgroup>>,
}

/// What a template may name besides the attributes.
#[derive(Debug, Clone, Copy)]
pub struct ProcIdentity {
    /// The pid.
    pub pid: u32,
    /// Start time, nanoseconds since the epoch (boot time in whole seconds + start ticks, as
    /// process-exporter computes it).
    pub start_time_ns: i64,
}

/// A rule matched: its index and the captures of its cmdline regexes.
#[derive(Debug, Clone)]
pub struct Matched {
    /// Which rule.
    pub rule: usize,
    /// Named (and unnamed, under "") captures, later regexes overwriting earlier ones.
    pub captures: BTreeMap<String, String>,
}

impl GroupsConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<GroupsConfig, ConfigError> {
        let fail = |why: String| ConfigError(format!("{}: {why}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
            &mut text,
        )
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(fail(format!(
                "larger than {} KiB: not a process-exporter config",
                MAX_CONFIG_BYTES >> 10
            )));
        }
        Self::parse(&text).map_err(|ConfigError(why)| fail(why))
    }

    /// Parses a config's text.
    pub fn parse(text: &str) -> Result<GroupsConfig, ConfigError> {
        let raw: RawConfig = serde_norway::from_str(text)
            .map_err(|e| ConfigError(format!("not a process-exporter config: {e}")))?;
        let mut ignored_keys: Vec<String> = raw.other.into_keys().collect();
        let raw_rules = raw.process_names.unwrap_or_default();
        if raw_rules.len() > MAX_RULES {
            return Err(ConfigError(format!(
                "{} rules under process_names, at most {MAX_RULES}",
                raw_rules.len()
            )));
        }
        let mut rules = Vec::with_capacity(raw_rules.len());
        for (i, raw) in raw_rules.into_iter().enumerate() {
            let at = |why: String| ConfigError(format!("process_names[{i}]: {why}"));
            ignored_keys.extend(
                raw.other
                    .into_keys()
                    .map(|k| format!("process_names[{i}].{k}")),
            );
            if raw.comm.is_none() && raw.exe.is_none() && raw.cmdline.is_none() {
                return Err(at("no matchers provided (comm, exe or cmdline)".into()));
            }
            let exe = raw.exe.map(|exes| {
                exes.into_iter()
                    .map(|e| {
                        if e.contains('/') {
                            (go_base(&e).to_string(), Some(e))
                        } else {
                            (e, None)
                        }
                    })
                    .collect()
            });
            let cmdline = raw
                .cmdline
                .map(|patterns| {
                    patterns
                        .iter()
                        .map(|p| {
                            regex::RegexBuilder::new(p)
                                .size_limit(1 << 20)
                                .build()
                                .map_err(|e| {
                                    // The crate's message draws a caret under the pattern
                                    // over several lines; its last line says why.
                                    let why = e.to_string();
                                    let why = why.lines().last().unwrap_or_default().trim();
                                    let why = why.strip_prefix("error: ").unwrap_or(why);
                                    at(format!("bad cmdline regex {p:?}: {why}"))
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            let source = raw.name.unwrap_or_else(|| "{{.ExeBase}}".to_string());
            let name = Template::parse(&source)
                .map_err(|e| at(format!("bad name template {source:?}: {e}")))?;
            rules.push(Rule {
                comm: raw.comm,
                exe,
                cmdline,
                name,
            });
        }
        Ok(GroupsConfig {
            rules,
            ignored_keys,
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule (nothing is grouped).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching `attrs`, with its captures (collected only for a rule whose
    /// name uses `{{.Matches}}`: the others only ask whether their regexes match). The
    /// command line is joined once, for the first rule that has cmdline regexes.
    pub fn find(&self, attrs: &ProcAttrs) -> Option<Matched> {
        let mut joined = None;
        self.rules.iter().enumerate().find_map(|(rule, r)| {
            r.matches(attrs, &mut joined)
                .map(|captures| Matched { rule, captures })
        })
    }

    /// The group name a matched rule gives the process.
    pub fn name(&self, matched: &Matched, attrs: &ProcAttrs, id: ProcIdentity) -> String {
        self.rules[matched.rule]
            .name
            .render(attrs, id, &matched.captures)
    }

    /// Whether a rule's name depends on the process's identity (`{{.PID}}`, `{{.StartTime}}`):
    /// a forked child that matches the same rule as its parent may then be named otherwise.
    pub fn names_by_identity(&self, rule: usize) -> bool {
        self.rules[rule].name.uses_identity()
    }

    /// [`GroupsConfig::find`] then [`GroupsConfig::name`].
    pub fn match_and_name(&self, attrs: &ProcAttrs, id: ProcIdentity) -> Option<(usize, String)> {
        let matched = self.find(attrs)?;
        let name = self.name(&matched, attrs, id);
        Some((matched.rule, name))
    }

    /// Whether any rule names groups after where the process runs (`{{.Cgroup}}`,
    /// `{{.ContainerID}}`, `{{.PodUID}}`).
    pub fn uses_placement(&self) -> bool {
        self.rules.iter().any(|r| r.name.uses_placement())
    }

    /// Whether any rule names groups after the user (a passwd lookup per match).
    pub fn uses_username(&self) -> bool {
        self.rules.iter().any(|r| r.name.uses_username())
    }
}

impl Rule {
    /// The captures when every matcher given matches, `None` otherwise; `joined` is the
    /// command line joined with spaces, made on first need.
    fn matches(
        &self,
        attrs: &ProcAttrs,
        joined: &mut Option<String>,
    ) -> Option<BTreeMap<String, String>> {
        if let Some(comms) = &self.comm {
            if !comms.contains(&attrs.comm) {
                return None;
            }
        }
        if let Some(exes) = &self.exe {
            let first = attrs.cmdline.first()?;
            match exes.get(go_base(first))? {
                None => {}
                Some(full) if full == first => {}
                Some(_) => return None,
            }
        }
        let mut captures = BTreeMap::new();
        if let Some(regexes) = &self.cmdline {
            let joined = joined.get_or_insert_with(|| attrs.cmdline.join(" "));
            if !self.name.uses_matches() {
                return regexes
                    .iter()
                    .all(|regex| regex.is_match(joined))
                    .then_some(captures);
            }
            for regex in regexes {
                let caps = regex.captures(joined)?;
                for (i, name) in regex.capture_names().enumerate() {
                    let value = caps.get(i).map_or("", |m| m.as_str());
                    captures.insert(name.unwrap_or("").to_string(), value.to_string());
                }
            }
        }
        Some(captures)
    }
}

/// Go's `filepath.Base`: the last element, trailing slashes dropped; "." for "", "/" for
/// slashes only.
pub fn go_base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(comm: &str, cmdline: &[&str]) -> ProcAttrs {
        ProcAttrs {
            comm: comm.into(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            euid: 0,
            cgroup: None,
        }
    }

    const ID: ProcIdentity = ProcIdentity {
        pid: 42,
        start_time_ns: 1_700_000_000_250_000_000,
    };

    #[test]
    fn process_exporters_sample_config() {
        // From process-exporter's README.
        let config = GroupsConfig::parse(
            r#"
process_names:
  - name: "{{.Comm}}"
    cmdline:
    - '.+'
"#,
        )
        .unwrap();
        assert_eq!(
            config.match_and_name(&attrs("bash", &["/bin/bash"]), ID),
            Some((0, "bash".into()))
        );
        let config = GroupsConfig::parse(
            r#"
process_names:
  - comm:
    - bash
  - exe:
    - postgres
    - /usr/local/bin/prometheus
  - name: "{{.Matches.Cfgfile}}"
    cmdline:
    - -config.path\s+(?P<Cfgfile>\S+)
  - name: "{{.ExeFull}}:{{.Matches.Cfgfile}}"
    exe:
    - /usr/local/bin/process-exporter
    cmdline:
    - -config.path\s+(?P<Cfgfile>\S+)
"#,
        )
        .unwrap();
        assert_eq!(config.len(), 4);
        let name = |a: ProcAttrs| config.match_and_name(&a, ID);
        assert_eq!(name(attrs("bash", &["-bash"])), Some((0, "-bash".into())));
        assert_eq!(
            name(attrs(
                "postgres",
                &["/usr/lib/postgresql/bin/postgres", "-D", "x"]
            )),
            Some((1, "postgres".into()))
        );
        assert_eq!(
            name(attrs("prometheus", &["/usr/local/bin/prometheus"])),
            Some((1, "prometheus".into()))
        );
        assert_eq!(name(attrs("prometheus", &["/opt/prometheus"])), None);
        assert_eq!(
            name(attrs("x", &["/opt/x", "-config.path", "/etc/x.yml"])),
            Some((2, "/etc/x.yml".into()))
        );
        assert_eq!(name(attrs("sh", &[])), None);
    }

    #[test]
    fn all_matchers_of_a_rule_must_match_and_the_first_rule_wins() {
        let config = GroupsConfig::parse(
            r#"
process_names:
  - name: "first-{{.Comm}}"
    comm: [python3]
    cmdline: ['burn', 'fast']
  - name: "second-{{.ExeBase}}"
    comm: [python3]
"#,
        )
        .unwrap();
        let a = attrs("python3", &["/usr/bin/python3", "burn.py", "--fast"]);
        assert_eq!(config.match_and_name(&a, ID).unwrap().1, "first-python3");
        let b = attrs("python3", &["/usr/bin/python3", "burn.py"]);
        assert_eq!(config.match_and_name(&b, ID).unwrap().1, "second-python3");
        assert!(config
            .match_and_name(&attrs("perl", &["perl"]), ID)
            .is_none());
    }

    #[test]
    fn empty_lists_match_nothing_and_missing_ones_are_not_matchers() {
        let config = GroupsConfig::parse("process_names:\n  - comm: []\n").unwrap();
        assert!(config.find(&attrs("x", &["x"])).is_none());
        let err = GroupsConfig::parse("process_names:\n  - name: x\n").unwrap_err();
        assert!(err.to_string().contains("no matchers provided"), "{err}");
    }

    #[test]
    fn bad_input_is_one_clear_error() {
        for (text, expect) in [
            ("process_names: 3", "not a process-exporter config"),
            ("process_names:\n  - cmdline: ['(']\n", "bad cmdline regex"),
            (
                "process_names:\n  - comm: [a]\n    name: '{{.Nope}}'\n",
                "bad name template",
            ),
            (
                "process_names:\n  - comm: [a]\n    name: '{{.Comm'\n",
                "bad name template",
            ),
        ] {
            let err = GroupsConfig::parse(text).unwrap_err().to_string();
            assert!(err.contains(expect), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{err:?}");
        }
    }

    #[test]
    fn unknown_keys_are_kept_for_a_warning() {
        let config =
            GroupsConfig::parse("process_names:\n  - comm: [a]\n    nmae: x\nextra: 1\n").unwrap();
        assert_eq!(config.ignored_keys, ["extra", "process_names[0].nmae"]);
        assert!(GroupsConfig::parse("").unwrap().is_empty());
    }

    #[test]
    fn go_base_is_filepath_base() {
        assert_eq!(go_base(""), ".");
        assert_eq!(go_base("/"), "/");
        assert_eq!(go_base("///"), "/");
        assert_eq!(go_base("/usr/bin/"), "bin");
        assert_eq!(go_base("a"), "a");
        assert_eq!(go_base("/a/b"), "b");
    }

    #[test]
    fn exe_rules_with_the_same_base_name_keep_the_last() {
        let config = GroupsConfig::parse("process_names:\n  - exe: [/a/x, /b/x]\n").unwrap();
        assert!(config.find(&attrs("x", &["/b/x"])).is_some());
        assert!(config.find(&attrs("x", &["/a/x"])).is_none());
        let config = GroupsConfig::parse("process_names:\n  - exe: [/a/x, x]\n").unwrap();
        assert!(config.find(&attrs("x", &["/c/x"])).is_some());
    }
}
