//! Event lines rendered once and shared by every subscriber that shows them.
//!
//! Each subscriber decides for itself what it may see of an event ([`Access`], per
//! subscriber), but the line that decision selects depends only on the format and on whether
//! private fields are shown: three variants. The first subscriber to need a variant renders
//! it; the others copy the same bytes (`Arc<[u8]>`) into their batch. Events are keyed by
//! their sequence number in the table's broadcast ([`Batch::first`](crate::table::live::Batch)
//! plus their index), which names one event for as long as the feed runs. Bounded to [`KEPT`]
//! events, oldest out first: a subscriber further behind than that renders its own line again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::event::Event;
use crate::query::access::Access;
use crate::query::Format;
use crate::render::events::{self, Shown};

/// Most events whose lines are kept.
pub const KEPT: usize = 1024;

/// Which line of an event a subscriber shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// JSON with the private fields (`exe`, `io_counters`).
    JsonPrivate,
    /// JSON without them.
    JsonPublic,
    /// The aligned text line (it shows no private field).
    Text,
}

impl Variant {
    /// The line `access` selects in `format` (`None`: the event is hidden).
    pub fn of(format: Format, access: Access) -> Option<Variant> {
        if !access.visible {
            return None;
        }
        Some(match format {
            Format::Json if access.read => Variant::JsonPrivate,
            Format::Json => Variant::JsonPublic,
            Format::Text => Variant::Text,
        })
    }

    fn slot(self) -> usize {
        self as usize
    }

    /// Appends the line of `event`, rendered now.
    pub fn render(self, out: &mut Vec<u8>, event: &Event, synthesized: bool) {
        match self {
            Variant::JsonPrivate | Variant::JsonPublic => events::write_json_line_shown(
                out,
                event,
                Shown {
                    private: self == Variant::JsonPrivate,
                    synthesized,
                },
            ),
            Variant::Text => events::write_text_line(out, event),
        }
    }
}

type Lines = [Option<Arc<[u8]>>; 3];

#[derive(Default)]
struct Cache {
    /// The keyed events' sequence numbers, oldest first.
    order: VecDeque<u64>,
    lines: HashMap<u64, Lines>,
}

/// The agent's shared lines.
#[derive(Default)]
pub struct RenderedLines {
    cache: Mutex<Cache>,
}

impl RenderedLines {
    /// The `variant` line of `event`: the one already rendered for another subscriber, else
    /// rendered now and kept for the others. Says whether it was reused.
    pub fn line(&self, key: u64, event: &Event, variant: Variant) -> (Arc<[u8]>, bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(line) = cache
            .lines
            .get(&key)
            .and_then(|l| l[variant.slot()].clone())
        {
            return (line, true);
        }
        // Rendered under the lock: a subscriber wanting the same line waits for it rather
        // than rendering it too.
        let mut rendered = Vec::with_capacity(512);
        variant.render(&mut rendered, event, false);
        let line: Arc<[u8]> = rendered.into();
        let cache = &mut *cache;
        let lines = cache.lines.entry(key).or_insert_with(|| {
            cache.order.push_back(key);
            Lines::default()
        });
        lines[variant.slot()] = Some(Arc::clone(&line));
        while cache.order.len() > KEPT {
            if let Some(old) = cache.order.pop_front() {
                cache.lines.remove(&old);
            }
        }
        (line, false)
    }

    /// Events whose lines are kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .order
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Backend, Details, Exec, ProcessId};

    fn exec(pid: u32) -> Event {
        Event {
            time: 1.0,
            id: ProcessId {
                pid,
                start_ticks: 42,
            },
            create_time: 1.0,
            ppid: 1,
            uid: 0,
            gid: 0,
            name: "true".into(),
            backend: Backend::Ebpf,
            placement: None,
            details: Details::Exec(Box::new(Exec {
                exe: Some("/bin/secret-path".into()),
                cmdline: vec!["/bin/true".into()],
                uids: [0; 3],
                gids: [0; 3],
                cmdline_truncated: false,
                cmdline_bytes: 0,
                exe_truncated: false,
            })),
        }
    }

    const SEES: Access = Access {
        visible: true,
        read: false,
    };

    #[test]
    fn each_variant_is_rendered_once_and_shared() {
        let shared = RenderedLines::default();
        let event = exec(100);
        let private = Variant::of(Format::Json, Access::FULL).expect("visible");
        let public = Variant::of(Format::Json, SEES).expect("visible");
        let (first, reused) = shared.line(7, &event, private);
        assert!(!reused);
        let (again, reused) = shared.line(7, &event, private);
        assert!(
            reused && Arc::ptr_eq(&first, &again),
            "the same bytes, not a copy"
        );
        let (public_line, reused) = shared.line(7, &event, public);
        assert!(!reused, "another variant is another line");
        // The variants differ by the private field only, and each is what rendering gives.
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
        assert!(text(&first).contains("/bin/secret-path"));
        assert!(!text(&public_line).contains("/bin/secret-path"));
        let mut direct = Vec::new();
        events::write_json_line_shown(
            &mut direct,
            &event,
            Shown {
                private: false,
                synthesized: false,
            },
        );
        assert_eq!(&*public_line, &direct[..]);
        assert_eq!(
            Variant::of(
                Format::Text,
                Access {
                    visible: false,
                    read: false
                }
            ),
            None
        );
    }

    #[test]
    fn the_cache_is_bounded_and_an_evicted_event_is_rendered_again() {
        let shared = RenderedLines::default();
        let first = exec(1);
        let _ = shared.line(1, &first, Variant::Text);
        for pid in 2..(KEPT as u32 + 50) {
            let _ = shared.line(u64::from(pid), &exec(pid), Variant::Text);
        }
        assert_eq!(shared.len(), KEPT);
        let (_, reused) = shared.line(1, &first, Variant::Text);
        assert!(!reused, "evicted: rendered again");
        // Equal events with different sequence numbers are different keys.
        let (a, b) = (exec(7_000), exec(7_000));
        let _ = shared.line(10_000, &a, Variant::Text);
        assert!(!shared.line(10_001, &b, Variant::Text).1);
        assert!(shared.line(10_000, &a, Variant::Text).1);
    }
}
