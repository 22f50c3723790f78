//! Which events a consumer wants: by pid, parent, name, user, kind and where the process runs
//! (cgroup subtree, container, pod, PID namespace). Empty criteria match all.

use std::ffi::{OsStr, OsString};

use crate::event::{Event, EventKind, Placement};

/// Length of the kernel's `comm` without its NUL: longer names are cut to this.
const COMM_MAX: usize = 15;

/// Event selection. Each non-empty list must match (any of its values); lists combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Process ids.
    pub pids: Vec<u32>,
    /// Parent process ids.
    pub ppids: Vec<u32>,
    /// Process names; a name longer than the kernel keeps also matches its 15-byte cut.
    pub names: Vec<OsString>,
    /// Real user ids.
    pub uids: Vec<u32>,
    /// Event kinds.
    pub kinds: Vec<EventKind>,
    /// Where the process runs.
    pub placement: PlacementFilter,
}

/// Selection by where a process runs. Each non-empty list must match (any of its values); a
/// process whose placement is unknown matches only when all are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementFilter {
    /// cgroup v2 subtrees: a path equal to one, or under it.
    pub cgroups: Vec<OsString>,
    /// Container id prefixes (lowercase hex; 12 digits are enough, as docker prints them).
    pub containers: Vec<String>,
    /// Kubernetes pod uids.
    pub pods: Vec<String>,
    /// PID namespace inodes.
    pub pidns: Vec<u64>,
}

impl PlacementFilter {
    /// Validates criteria as users type them: a cgroup gets its leading `/` (a trailing one
    /// is ignored), a container prefix must be 1 to 64 hex digits (case is ignored), a pod
    /// uid may have systemd's underscores.
    pub fn new(
        cgroups: &[OsString],
        containers: &[String],
        pods: &[String],
        pidns: &[u64],
    ) -> Result<PlacementFilter, String> {
        let cgroups = cgroups
            .iter()
            .map(|c| {
                let mut path = OsString::new();
                if !c.as_encoded_bytes().starts_with(b"/") {
                    path.push("/");
                }
                path.push(c);
                path
            })
            .collect();
        let containers = containers
            .iter()
            .map(|id| {
                let id = id.trim().to_ascii_lowercase();
                if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Err(format!(
                        "container id '{id}' is not 1 to 64 hex digits (12 are enough)"
                    ))
                } else {
                    Ok(id)
                }
            })
            .collect::<Result<_, _>>()?;
        let pods = pods
            .iter()
            .map(|uid| uid.trim().to_ascii_lowercase().replace('_', "-"))
            .collect();
        Ok(PlacementFilter {
            cgroups,
            containers,
            pods,
            pidns: pidns.to_vec(),
        })
    }

    /// Whether no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.cgroups.is_empty()
            && self.containers.is_empty()
            && self.pods.is_empty()
            && self.pidns.is_empty()
    }

    /// Whether a process running at `placement` passes.
    pub fn matches(&self, placement: Option<&Placement>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(p) = placement else {
            return false;
        };
        (self.cgroups.is_empty()
            || p.cgroup_path()
                .is_some_and(|path| self.cgroups.iter().any(|c| under(path, c))))
            && (self.containers.is_empty()
                || p.container_id()
                    .is_some_and(|id| self.containers.iter().any(|c| id.starts_with(c.as_str()))))
            && (self.pods.is_empty()
                || p.pod_uid()
                    .is_some_and(|uid| self.pods.iter().any(|u| u == uid)))
            && (self.pidns.is_empty()
                || p.namespaces.pid.is_some_and(|ns| self.pidns.contains(&ns)))
    }
}

/// Whether cgroup `path` is `subtree` or under it (`/` holds everything).
fn under(path: &OsStr, subtree: &OsStr) -> bool {
    let (path, subtree) = (path.as_encoded_bytes(), subtree.as_encoded_bytes());
    let subtree = subtree.strip_suffix(b"/").unwrap_or(subtree);
    path.strip_prefix(subtree)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

impl EventFilter {
    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        (self.pids.is_empty() || self.pids.contains(&event.id.pid))
            && (self.ppids.is_empty() || self.ppids.contains(&event.ppid))
            && (self.uids.is_empty() || self.uids.contains(&event.uid))
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind()))
            && (self.names.is_empty()
                || self
                    .names
                    .iter()
                    .any(|name| name_matches(name, &event.name)))
            && self.placement.matches(event.placement.as_deref())
    }
}

fn name_matches(wanted: &OsStr, comm: &OsStr) -> bool {
    let (wanted, comm) = (wanted.as_encoded_bytes(), comm.as_encoded_bytes());
    wanted == comm
        || (comm.len() == COMM_MAX && wanted.len() > COMM_MAX && wanted.starts_with(comm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Backend, Details, ProcessId};

    fn event(name: &str) -> Event {
        Event {
            time: 0.0,
            id: ProcessId {
                pid: 10,
                start_ticks: 5,
            },
            create_time: 0.0,
            ppid: 1,
            uid: 1000,
            gid: 1000,
            name: name.into(),
            backend: Backend::Ebpf,
            placement: None,
            details: Details::Fork { parent_pid: 1 },
        }
    }

    #[test]
    fn criteria_combine() {
        let all = EventFilter::default();
        assert!(all.matches(&event("sh")));
        let filter = EventFilter {
            pids: vec![10, 11],
            uids: vec![1000],
            kinds: vec![EventKind::Fork],
            ..Default::default()
        };
        assert!(filter.matches(&event("sh")));
        let wrong_kind = EventFilter {
            kinds: vec![EventKind::Exit],
            ..Default::default()
        };
        assert!(!wrong_kind.matches(&event("sh")));
    }

    #[test]
    fn placement_criteria() {
        let id = "0123456789abcdef".repeat(4);
        let uid = "5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8";
        let path = format!("/kubepods/burstable/pod{uid}/crio-{id}");
        let (container, pod_uid) = crate::host::container::parse_path(path.as_bytes());
        let placement = Placement {
            cgroup: Some(std::sync::Arc::new(crate::host::container::Cgroup {
                path: path.into(),
                id: Some(7),
                container,
                pod_uid,
            })),
            namespaces: crate::host::container::Namespaces {
                pid: Some(99),
                ..Default::default()
            },
            vpid: Some(1),
            vppid: Some(0),
        };
        let filter = |c: &[&str], k: &[&str], p: &[&str], n: &[u64]| {
            let c: Vec<OsString> = c.iter().map(OsString::from).collect();
            let k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            PlacementFilter::new(&c, &k, &p, n).unwrap()
        };
        let matches = |f: PlacementFilter| f.matches(Some(&placement));
        assert!(matches(filter(&[], &[], &[], &[])));
        assert!(matches(filter(&["/kubepods"], &[], &[], &[])));
        assert!(matches(filter(&["kubepods/burstable/"], &[], &[], &[])));
        assert!(matches(filter(&["/"], &[], &[], &[])));
        assert!(!matches(filter(&["/kube"], &[], &[], &[])));
        assert!(matches(filter(&[], &["0123456789AB"], &[], &[])));
        assert!(!matches(filter(&[], &["123456789abc"], &[], &[])));
        assert!(matches(filter(&[], &[], &[&uid.replace('-', "_")], &[])));
        assert!(matches(filter(&[], &[], &[], &[5, 99])));
        assert!(!matches(filter(&["/kubepods"], &[], &[], &[5])));
        // Unknown placement: only an empty filter lets it through.
        assert!(!filter(&["/"], &[], &[], &[]).matches(None));
        assert!(PlacementFilter::new(&[], &["xyz".into()], &[], &[]).is_err());
        assert!(PlacementFilter::new(&[], &["a".repeat(65)], &[], &[]).is_err());
    }

    #[test]
    fn long_names_match_their_kernel_cut() {
        let filter = EventFilter {
            names: vec!["a-very-long-process-name".into()],
            ..Default::default()
        };
        assert!(filter.matches(&event("a-very-long-pro")));
        assert!(!filter.matches(&event("a-very-long")));
    }
}
