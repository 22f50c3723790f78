//! Where the processes of kernel events run, read from `/proc` as the events are decoded: the
//! kernel programs do not read cgroups and namespaces yet, so a fork or exec event's placement
//! is the process's when its record is decoded (a few milliseconds after), and an exit's is
//! the one its fork or exec had (a process gone cannot be read).
//!
//! The processes seen are remembered by pid (bounded: past [`MAX_KNOWN`] the memory starts
//! over) so that an exit, or an event whose process is gone already, gets the placement it had.

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::{Details, Event, ProcessId};
use crate::host::container::{Placement, PlacementReader};

/// Most processes remembered.
pub const MAX_KNOWN: usize = 65_536;

/// Fills events' placements.
#[derive(Debug, Default)]
pub struct Placer {
    reader: PlacementReader,
    known: HashMap<u32, (u64, Arc<Placement>)>,
    /// Times the memory of processes started over.
    pub resets: u64,
}

impl Placer {
    /// A placer reading `/proc`, with the cgroup hierarchies found from the mounts.
    pub fn new() -> Self {
        Self::default()
    }

    /// One line when the cgroup fields cannot be filled on this host.
    pub fn notice(&self) -> Option<&'static str> {
        self.reader.hierarchy().notice()
    }

    /// Fills the placement of every event that has none.
    pub fn place(&mut self, events: &mut [Event]) {
        for event in events.iter_mut().filter(|e| e.placement.is_none()) {
            event.placement = self.placement(event);
        }
    }

    fn remembered(&self, id: ProcessId) -> Option<Arc<Placement>> {
        match self.known.get(&id.pid) {
            Some((start, placement)) if *start == id.start_ticks => Some(Arc::clone(placement)),
            _ => None,
        }
    }

    fn placement(&mut self, event: &Event) -> Option<Arc<Placement>> {
        let id = event.id;
        let placement = match &event.details {
            Details::Exit(_) => {
                return match self.known.remove(&id.pid) {
                    Some((start, placement)) if start == id.start_ticks => Some(placement),
                    _ => self.reader.read(id.pid).map(Arc::new),
                };
            }
            Details::Fork { parent_pid } => self.reader.read(id.pid).map(Arc::new).or_else(|| {
                // Gone already: it ran where its parent did (its own ids are unknown).
                let (_, parent) = self.known.get(parent_pid)?;
                Some(Arc::new(Placement {
                    vpid: None,
                    vppid: None,
                    ..Placement::clone(parent)
                }))
            }),
            Details::Exec(_) => self
                .reader
                .read(id.pid)
                .map(Arc::new)
                .or_else(|| self.remembered(id)),
        }?;
        if self.known.len() >= MAX_KNOWN && !self.known.contains_key(&id.pid) {
            self.known.clear();
            self.resets += 1;
        }
        // Share an unchanged placement with the one remembered (an exec in place).
        let placement = match self.remembered(id) {
            Some(old) if *old == *placement => old,
            _ => placement,
        };
        self.known
            .insert(id.pid, (id.start_ticks, Arc::clone(&placement)));
        Some(placement)
    }
}
