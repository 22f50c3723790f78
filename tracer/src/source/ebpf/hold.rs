//! Exit events held a moment for their process's final CPU time. The exit program runs at
//! `sched_process_exit`, before the kernel charges the exiting task's last slice and the
//! exit's teardown — a quarter of a process of a few milliseconds. The final-time program
//! (on the dead task's last context switch) then writes the group's total runtime; the exit
//! event is held until that record arrives (usually in the same drain) or [`HOLD_NS`] have
//! passed, and its CPU times are computed again with it. Nothing is held while someone waits
//! for an exit (`wait` gets its event at once, with the CPU time read at the exit), and at
//! most [`MAX_HELD`] events are (the oldest go out first).

use std::collections::VecDeque;

use tracer_common::FinalRecord;

use super::decode::ExitRaw;
use crate::event::{Details, Event};

/// The longest an exit event waits for its final CPU time.
pub const HOLD_NS: u64 = 20_000_000;

/// Most exit events held at once.
pub const MAX_HELD: usize = 4096;

/// Exit events waiting for their final CPU time, oldest first.
#[derive(Default)]
pub struct Held {
    exits: VecDeque<(Event, ExitRaw)>,
    /// Exits completed with their final CPU time.
    pub completed: u64,
    /// Exits that went out without it (none came within [`HOLD_NS`], or too many were held).
    pub expired: u64,
}

impl Held {
    /// The boot time of the oldest held exit record: records from then on are not all out.
    pub fn oldest_ns(&self) -> Option<u64> {
        self.exits.front().map(|(_, raw)| raw.time_ns)
    }

    /// Holds an exit event.
    pub fn hold(&mut self, event: Event, raw: ExitRaw, out: &mut Vec<Event>) {
        if self.exits.len() >= MAX_HELD {
            if let Some((event, _)) = self.exits.pop_front() {
                self.expired += 1;
                out.push(event);
            }
        }
        self.exits.push_back((event, raw));
    }

    /// Completes the held exit `record` is for, and lets it go. A record for an exit not held
    /// (it went out already, or was never seen) changes nothing.
    pub fn complete(&mut self, record: &FinalRecord, out: &mut Vec<Event>) {
        let Some(index) = self.exits.iter().position(|(_, raw)| {
            raw.pid == record.pid && raw.start_boottime_ns == record.start_boottime_ns
        }) else {
            return;
        };
        let Some((mut event, raw)) = self.exits.remove(index) else {
            return;
        };
        if let Details::Exit(exit) = &mut event.details {
            if let Some(usage) = raw.usage_with_runtime(record.runtime_ns) {
                exit.usage = Some(usage);
            }
        }
        self.completed += 1;
        out.push(event);
    }

    /// Lets go of the exits held since before `now_ns - HOLD_NS` (all with `everything`).
    pub fn release(&mut self, now_ns: u64, everything: bool, out: &mut Vec<Event>) {
        while let Some((_, raw)) = self.exits.front() {
            if !everything && raw.time_ns.saturating_add(HOLD_NS) > now_ns {
                break;
            }
            let (event, _) = self.exits.pop_front().expect("looked at just above");
            self.expired += 1;
            out.push(event);
        }
    }
}
