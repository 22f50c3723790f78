//! Which events a consumer wants: by pid, parent, name, user and kind. Empty criteria match all.

use std::ffi::{OsStr, OsString};

use crate::event::{Event, EventKind};

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
    fn long_names_match_their_kernel_cut() {
        let filter = EventFilter {
            names: vec!["a-very-long-process-name".into()],
            ..Default::default()
        };
        assert!(filter.matches(&event("a-very-long-pro")));
        assert!(!filter.matches(&event("a-very-long")));
    }
}
