//! Where the processes of kernel events run. The fork and exec programs read the cgroup v2
//! id, the namespaces' inode numbers and the ids in the process's own PID namespace in the
//! kernel ([`PlacementIds`]); the cgroup's path is resolved here from its id through a cache
//! (see [`PlacementReader::cgroup_by_id`]), so the common case reads nothing per event. An
//! exit's placement is the one its fork or exec had (a process gone cannot be read). Only on a
//! kernel whose BTF lacks a field the ids come from are they read from `/proc` as the records
//! are decoded.
//!
//! A fork that runs where the process that forked runs (the usual case: same cgroup set,
//! namespaces and user namespace) carries only a token of those kernel objects; its placement
//! is copied from that process's when the token remembered with it is the same (otherwise the
//! process moved or unshared since its last record, and `/proc` is read). An exec that runs
//! where its parent does carries the token too: the process keeps the placement remembered
//! with it under that token, or takes its parent's as a fork would.
//!
//! The processes seen are remembered by pid (bounded: past [`MAX_KNOWN`] the memory starts
//! over) so that an exit gets the placement it had and a fork its parent's.

use std::collections::HashMap;
use std::sync::Arc;

use tracer_common::PlacementIds;

use crate::event::{Details, Event, ProcessId};
use crate::host::container::{Namespaces, Placement, PlacementReader};
use crate::source::ebpf::KernelPlacement;

/// Most processes remembered.
pub const MAX_KNOWN: usize = 65_536;

/// The start of a process remembered only as a parent that forked (read from `/proc`): it
/// matches no exit, and its forks are checked by token alone.
const ANY_START: u64 = u64::MAX;

/// Fills events' placements.
#[derive(Debug, Default)]
pub struct Placer {
    reader: PlacementReader,
    /// By pid: the process's start (or [`ANY_START`]), its placement token (0: none) and its
    /// placement.
    known: HashMap<u32, (u64, u64, Arc<Placement>)>,
    /// Times the memory of processes started over.
    pub resets: u64,
}

/// The placement the kernel read: the namespaces and ids as they are, the cgroup resolved
/// from its id.
fn from_ids(reader: &mut PlacementReader, pid: u32, ids: &PlacementIds) -> Placement {
    let ns = |i: usize| Some(u64::from(ids.namespaces[i])).filter(|&inode| inode != 0);
    Placement {
        cgroup: reader.cgroup_by_id(ids.cgroup_id, pid),
        namespaces: Namespaces {
            pid: ns(0),
            mnt: ns(1),
            net: ns(2),
            user: ns(3),
            uts: ns(4),
            ipc: ns(5),
            cgroup: ns(6),
        },
        vpid: Some(ids.vpid),
        vppid: Some(ids.vppid),
    }
}

impl Placer {
    /// A placer with the cgroup hierarchies found from the mounts.
    pub fn new() -> Self {
        Self::default()
    }

    /// One line when the cgroup fields cannot be filled on this host.
    pub fn notice(&self) -> Option<&'static str> {
        self.reader.hierarchy().notice()
    }

    /// Fills the placement of an event that has none, from the ids its record carried when
    /// the kernel read them.
    pub fn place(&mut self, event: &mut Event, ids: Option<KernelPlacement>) {
        if event.placement.is_none() {
            event.placement = self.placement(event, ids);
        }
    }

    fn remembered(&self, id: ProcessId) -> Option<Arc<Placement>> {
        match self.known.get(&id.pid) {
            Some((start, _, placement)) if *start == id.start_ticks => Some(Arc::clone(placement)),
            _ => None,
        }
    }

    /// Remembers a process's placement, bounded by [`MAX_KNOWN`].
    fn remember(&mut self, pid: u32, start: u64, token: u64, placement: Arc<Placement>) {
        if self.known.len() >= MAX_KNOWN && !self.known.contains_key(&pid) {
            self.known.clear();
            self.resets += 1;
        }
        self.known.insert(pid, (start, token, placement));
    }

    /// A fork's placement when the kernel saw it run where `parent_pid` does, under `token`.
    fn inherited(&mut self, event: &Event, parent_pid: u32, token: u64) -> Option<Placement> {
        let own_ids = |parent: &Placement| Placement {
            // The initial PID namespace: the ids are the global ones.
            vpid: Some(event.id.pid),
            vppid: Some(event.ppid),
            ..parent.clone()
        };
        if let Some((_, known_token, parent)) = self.known.get(&parent_pid) {
            if *known_token == token {
                return Some(own_ids(parent));
            }
        }
        // Not seen yet (it ran before us), or moved since its last record: /proc, now, and
        // the parent remembered by its token for its next forks (a long-lived forker that
        // predates the tracer would otherwise cost a full /proc read for every fork).
        if let Some(placement) = self.reader.read(event.id.pid) {
            // The child ran where its forker does: the forker's placement, with the forker's
            // own ids kept when it is known (`own_ids` never copies them to a child).
            let forker = |vpid, vppid| Placement {
                vpid,
                vppid,
                ..placement.clone()
            };
            match self.known.get_mut(&parent_pid) {
                Some((_, known_token, known)) => {
                    *known = Arc::new(forker(known.vpid, known.vppid));
                    *known_token = token;
                }
                None => self.remember(parent_pid, ANY_START, token, Arc::new(forker(None, None))),
            }
            return Some(placement);
        }
        let parent = self.reader.read(parent_pid)?;
        let placement = own_ids(&parent);
        self.remember(parent_pid, ANY_START, token, Arc::new(parent));
        Some(placement)
    }

    fn placement(&mut self, event: &Event, ids: Option<KernelPlacement>) -> Option<Arc<Placement>> {
        let id = event.id;
        let mut token = 0;
        let placement = match (&event.details, ids) {
            (Details::Exit(_), _) => {
                return match self.known.remove(&id.pid) {
                    Some((start, _, placement)) if start == id.start_ticks => Some(placement),
                    _ => self.reader.read(id.pid).map(Arc::new),
                };
            }
            (_, Some(KernelPlacement::Read { ids, token: t })) => {
                token = t;
                Arc::new(from_ids(&mut self.reader, id.pid, &ids))
            }
            (Details::Fork { parent_pid }, Some(KernelPlacement::Inherited { token: t })) => {
                token = t;
                Arc::new(self.inherited(event, *parent_pid, t)?)
            }
            (Details::Exec(_), Some(KernelPlacement::Inherited { token: t })) => {
                token = t;
                // Unmoved since its fork (or last exec) under the same token: as it was.
                // Otherwise it runs where its parent does.
                match self.known.get(&id.pid) {
                    Some((start, known_token, placement))
                        if *start == id.start_ticks && *known_token == t =>
                    {
                        Arc::clone(placement)
                    }
                    _ => Arc::new(self.inherited(event, event.ppid, t)?),
                }
            }
            // The kernel did not read them: /proc, now.
            (Details::Fork { parent_pid }, _) => {
                self.reader.read(id.pid).map(Arc::new).or_else(|| {
                    // Gone already: it ran where its parent did (its own ids are unknown).
                    let (_, _, parent) = self.known.get(parent_pid)?;
                    Some(Arc::new(Placement {
                        vpid: None,
                        vppid: None,
                        ..Placement::clone(parent)
                    }))
                })?
            }
            (Details::Exec(_), _) => self
                .reader
                .read(id.pid)
                .map(Arc::new)
                .or_else(|| self.remembered(id))?,
        };
        // Share an unchanged placement with the one remembered (an exec in place).
        let placement = match self.remembered(id) {
            Some(old) if *old == *placement => old,
            _ => placement,
        };
        self.remember(id.pid, id.start_ticks, token, Arc::clone(&placement));
        Some(placement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Backend;

    /// A pid no process has (above the kernel's pid_max limit).
    const NO_PID: u32 = 1 << 23;

    fn event(pid: u32, ppid: u32, details: Details) -> Event {
        Event {
            time: 1.0,
            id: ProcessId {
                pid,
                start_ticks: 7,
            },
            create_time: 1.0,
            ppid,
            uid: 0,
            gid: 0,
            name: "x".into(),
            backend: Backend::Ebpf,
            placement: None,
            details,
        }
    }

    fn ids() -> PlacementIds {
        PlacementIds {
            cgroup_id: 0,
            namespaces: [11, 12, 13, 14, 15, 16, 17],
            vpid: NO_PID,
            vppid: NO_PID - 1,
            _pad: 0,
        }
    }

    /// A forker that predates the placer is read once (through its first child), not for
    /// every fork.
    #[test]
    fn an_unknown_forker_is_remembered_through_its_first_child() {
        let mut placer = Placer::new();
        // The first child is this process (readable in /proc); its forker is unknown and
        // unreadable.
        let me = std::process::id();
        let mut first = event(me, NO_PID, Details::Fork { parent_pid: NO_PID });
        placer.place(&mut first, Some(KernelPlacement::Inherited { token: 9 }));
        let first = first.placement.expect("read from /proc");
        // A second child /proc has nothing of: the forker's placement, remembered.
        let mut second = event(NO_PID + 1, NO_PID, Details::Fork { parent_pid: NO_PID });
        placer.place(&mut second, Some(KernelPlacement::Inherited { token: 9 }));
        let second = second
            .placement
            .expect("inherited from the remembered forker");
        assert_eq!(second.cgroup, first.cgroup);
        assert_eq!(second.namespaces, first.namespaces);
        assert_eq!(second.vpid, Some(NO_PID + 1));
        // Under another token (the forker moved since) nothing is copied.
        let mut third = event(NO_PID + 2, NO_PID, Details::Fork { parent_pid: NO_PID });
        placer.place(&mut third, Some(KernelPlacement::Inherited { token: 10 }));
        assert_eq!(third.placement, None);
    }

    #[test]
    fn a_fork_inherits_its_forkers_placement_only_under_the_same_token() {
        let mut placer = Placer::new();
        let mut parent = event(
            NO_PID,
            NO_PID - 1,
            Details::Fork {
                parent_pid: NO_PID - 1,
            },
        );
        placer.place(
            &mut parent,
            Some(KernelPlacement::Read {
                ids: ids(),
                token: 5,
            }),
        );
        let parent_placement = parent.placement.clone().expect("placed from the ids");

        // Same objects: the forker's placement, with the child's own ids.
        let mut child = event(NO_PID + 1, NO_PID, Details::Fork { parent_pid: NO_PID });
        placer.place(&mut child, Some(KernelPlacement::Inherited { token: 5 }));
        let placement = child.placement.expect("inherited");
        assert_eq!(placement.namespaces, parent_placement.namespaces);
        assert_eq!(placement.vpid, Some(NO_PID + 1));
        assert_eq!(placement.vppid, Some(NO_PID));

        // The forker moved or unshared since its record: not copied (and /proc has nothing of
        // these pids).
        let mut other = event(NO_PID + 2, NO_PID, Details::Fork { parent_pid: NO_PID });
        placer.place(&mut other, Some(KernelPlacement::Inherited { token: 6 }));
        assert_eq!(other.placement, None);

        // The inheriting child is remembered under its token, for its own forks.
        let mut grandchild = event(
            NO_PID + 3,
            NO_PID + 1,
            Details::Fork {
                parent_pid: NO_PID + 1,
            },
        );
        placer.place(
            &mut grandchild,
            Some(KernelPlacement::Inherited { token: 5 }),
        );
        assert_eq!(
            grandchild.placement.expect("inherited").vpid,
            Some(NO_PID + 3)
        );
    }

    fn exec(pid: u32, ppid: u32) -> Event {
        event(
            pid,
            ppid,
            Details::Exec(Box::new(crate::event::Exec {
                exe: None,
                cmdline: Vec::new(),
                uids: [0; 3],
                gids: [0; 3],
                cmdline_truncated: false,
                cmdline_bytes: 0,
                exe_truncated: false,
            })),
        )
    }

    #[test]
    fn an_exec_keeps_its_own_placement_or_takes_its_parents_under_the_same_token() {
        let mut placer = Placer::new();
        let mut own = ids();
        own.cgroup_id = 1;
        let mut forked = event(NO_PID, 1, Details::Fork { parent_pid: 1 });
        let read = |ids| Some(KernelPlacement::Read { ids, token: 5 });
        placer.place(&mut forked, read(own));
        let forked = forked.placement.expect("placed from the ids");

        // Its exec under the token it forked with: the same placement, shared.
        let mut exec_event = exec(NO_PID, 1);
        placer.place(
            &mut exec_event,
            Some(KernelPlacement::Inherited { token: 5 }),
        );
        let placement = exec_event.placement.expect("its own, remembered");
        assert!(Arc::ptr_eq(&placement, &forked));

        // A process the placer does not know (or that moved) under its parent's token: the
        // parent's placement with the process's own ids.
        let mut child = exec(NO_PID + 1, NO_PID);
        placer.place(&mut child, Some(KernelPlacement::Inherited { token: 5 }));
        let placement = child.placement.expect("the parent's");
        assert_eq!(placement.namespaces, forked.namespaces);
        assert_eq!(placement.vpid, Some(NO_PID + 1));
        assert_eq!(placement.vppid, Some(NO_PID));

        // Under a token neither has (and /proc has nothing of these pids): nothing.
        let mut moved = exec(NO_PID + 2, NO_PID);
        placer.place(&mut moved, Some(KernelPlacement::Inherited { token: 6 }));
        assert_eq!(moved.placement, None);
    }
}
