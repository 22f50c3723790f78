//! What `top` shows: the latest figures, and the view's state — sort order, filter, tree
//! mode, selection — with the visible rows derived from both.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use ratatui::widgets::TableState;

use super::{SortKey, TopArgs};

/// One process row.
#[derive(Debug, Clone, Default)]
pub(super) struct Proc {
    pub(super) pid: u32,
    pub(super) ppid: u32,
    pub(super) user: String,
    pub(super) status: String,
    pub(super) threads: i64,
    pub(super) cpu: f64,
    pub(super) mem: f64,
    pub(super) rss: u64,
    pub(super) cpu_time: f64,
    pub(super) name: String,
    pub(super) command: String,
}

/// One recently exited process.
#[derive(Debug, Clone, Default)]
pub(super) struct Exit {
    pub(super) pid: u32,
    pub(super) ppid: u32,
    pub(super) name: String,
    pub(super) exit_code: Option<i64>,
    pub(super) signal: Option<i64>,
    pub(super) duration: Option<f64>,
    pub(super) exit_time: f64,
    pub(super) command: String,
}

/// System-wide figures of the summary.
#[derive(Debug, Clone, Default)]
pub(super) struct Summary {
    pub(super) cpu_percent: Option<f64>,
    pub(super) percpu: Vec<f64>,
    pub(super) load: Option<[f64; 3]>,
    /// total, used, available, percent
    pub(super) memory: Option<(u64, u64, u64, f64)>,
    /// total, used, percent
    pub(super) swap: Option<(u64, u64, f64)>,
    pub(super) boot_time: Option<f64>,
}

/// What the exits pane can show.
#[derive(Debug, Clone)]
pub(super) enum Exits {
    Known(Vec<Exit>),
    /// Why there are none to show.
    Unavailable(String),
}

/// One refresh.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub(super) summary: Summary,
    pub(super) procs: Vec<Proc>,
    pub(super) exits: Exits,
    /// Where the figures came from.
    pub(super) mode: String,
}

/// What the refresh thread sends.
pub(super) enum Update {
    /// Said while starting (direct mode may load eBPF programs first).
    Starting(String),
    Snapshot(Box<Snapshot>),
    /// A refresh failed; the last snapshot stays on screen.
    Failed(String),
}

pub(super) struct App {
    pub(super) interval: Duration,
    pub(super) snapshot: Option<Snapshot>,
    /// When the snapshot came.
    pub(super) updated: Option<Instant>,
    /// Said while there is no snapshot yet.
    pub(super) starting: String,
    /// The last refresh failed.
    pub(super) error: Option<String>,
    pub(super) sort: SortKey,
    /// The sort order is the key's natural one reversed.
    pub(super) reversed: bool,
    pub(super) tree: bool,
    /// The exits pane shows only non-zero exits and signals.
    pub(super) failures_only: bool,
    pub(super) filter: String,
    pub(super) editing: bool,
    /// The selected process, once the user moved; otherwise the first row is selected.
    pub(super) pinned: Option<u32>,
    pub(super) table: TableState,
    /// Rows that fit the process pane (for page up/down).
    pub(super) page: usize,
}

/// A visible process row: the process and its tree prefix.
pub(super) struct Shown<'a> {
    pub(super) proc: &'a Proc,
    pub(super) prefix: String,
}

impl App {
    pub(super) fn new(args: &TopArgs) -> App {
        App {
            interval: Duration::from_secs_f64(args.interval),
            snapshot: None,
            updated: None,
            starting: "connecting…".into(),
            error: None,
            sort: args.sort,
            reversed: false,
            tree: args.tree,
            failures_only: false,
            filter: String::new(),
            editing: false,
            pinned: None,
            table: TableState::default().with_selected(0),
            page: 10,
        }
    }

    pub(super) fn apply(&mut self, update: Update) {
        match update {
            Update::Starting(what) => self.starting = what,
            Update::Snapshot(snapshot) => {
                self.snapshot = Some(*snapshot);
                self.updated = Some(Instant::now());
                self.error = None;
            }
            Update::Failed(error) => self.error = Some(error),
        }
    }

    pub(super) fn descending(&self) -> bool {
        self.sort.descending() != self.reversed
    }

    pub(super) fn unpin(&mut self) {
        self.pinned = None;
        self.table.select(Some(0));
        *self.table.offset_mut() = 0;
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        let rows = self.visible();
        if rows.is_empty() {
            return;
        }
        let current = self
            .pinned
            .and_then(|pid| rows.iter().position(|r| r.proc.pid == pid))
            .or(self.table.selected())
            .unwrap_or(0);
        let next = (current as isize)
            .saturating_add(delta)
            .clamp(0, rows.len() as isize - 1) as usize;
        let pid = rows[next].proc.pid;
        drop(rows);
        if next == 0 {
            self.unpin();
        } else {
            self.pinned = Some(pid);
            self.table.select(Some(next));
        }
    }

    pub(super) fn matches(&self, name: &str) -> bool {
        self.filter.is_empty() || name.to_lowercase().contains(&self.filter.to_lowercase())
    }

    pub(super) fn compare(&self, a: &Proc, b: &Proc) -> std::cmp::Ordering {
        let order = match self.sort {
            SortKey::Cpu => a.cpu.total_cmp(&b.cpu),
            SortKey::Memory => a.rss.cmp(&b.rss),
            SortKey::Pid => a.pid.cmp(&b.pid),
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        let order = if self.descending() {
            order.reverse()
        } else {
            order
        };
        order.then(a.pid.cmp(&b.pid))
    }

    /// The process rows to show: filtered, sorted, and in tree mode nested under their parents
    /// (with a filter, the matches' ancestors stay to keep the tree whole).
    pub(super) fn visible(&self) -> Vec<Shown<'_>> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        if !self.tree {
            let mut rows: Vec<&Proc> = snapshot
                .procs
                .iter()
                .filter(|p| self.matches(&p.name))
                .collect();
            rows.sort_by(|a, b| self.compare(a, b));
            return rows
                .into_iter()
                .map(|proc| Shown {
                    proc,
                    prefix: String::new(),
                })
                .collect();
        }
        let by_pid: HashMap<u32, &Proc> = snapshot.procs.iter().map(|p| (p.pid, p)).collect();
        let mut keep: HashSet<u32> = HashSet::new();
        for p in snapshot.procs.iter().filter(|p| self.matches(&p.name)) {
            let mut pid = p.pid;
            // Walk up to the root, stopping at what is already kept (or a loop).
            while keep.insert(pid) {
                match by_pid.get(&pid) {
                    Some(proc) if proc.ppid != pid && by_pid.contains_key(&proc.ppid) => {
                        pid = proc.ppid;
                    }
                    _ => break,
                }
            }
        }
        let mut children: BTreeMap<u32, Vec<&Proc>> = BTreeMap::new();
        let mut roots = Vec::new();
        for p in snapshot.procs.iter().filter(|p| keep.contains(&p.pid)) {
            if p.ppid != p.pid && keep.contains(&p.ppid) {
                children.entry(p.ppid).or_default().push(p);
            } else {
                roots.push(p);
            }
        }
        roots.sort_by(|a, b| self.compare(a, b));
        for list in children.values_mut() {
            list.sort_by(|a, b| self.compare(a, b));
        }
        let mut out = Vec::with_capacity(keep.len());
        let mut stack: Vec<(&Proc, String, String)> = roots
            .into_iter()
            .rev()
            .map(|p| (p, String::new(), String::new()))
            .collect();
        while let Some((proc, prefix, continuation)) = stack.pop() {
            if let Some(kids) = children.get(&proc.pid) {
                let last = kids.len().saturating_sub(1);
                for (i, kid) in kids.iter().enumerate().rev() {
                    let (branch, more) = if i == last {
                        ("└─ ", "   ")
                    } else {
                        ("├─ ", "│  ")
                    };
                    stack.push((
                        kid,
                        format!("{continuation}{branch}"),
                        format!("{continuation}{more}"),
                    ));
                }
            }
            out.push(Shown { proc, prefix });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::top::keys::Action;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn proc(pid: u32, ppid: u32, name: &str, cpu: f64, rss: u64) -> Proc {
        Proc {
            pid,
            ppid,
            name: name.into(),
            cpu,
            rss,
            ..Proc::default()
        }
    }

    fn app(procs: Vec<Proc>) -> App {
        let mut app = App::new(&TopArgs {
            interval: 1.0,
            sort: SortKey::Cpu,
            tree: false,
        });
        app.apply(Update::Snapshot(Box::new(Snapshot {
            summary: Summary::default(),
            procs,
            exits: Exits::Known(Vec::new()),
            mode: "test".into(),
        })));
        app
    }

    fn pids(app: &App) -> Vec<u32> {
        app.visible().iter().map(|r| r.proc.pid).collect()
    }

    fn press(app: &mut App, c: char) {
        app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }

    #[test]
    fn sorts_filters_and_nests() {
        let mut app = app(vec![
            proc(1, 0, "init", 0.5, 10),
            proc(20, 1, "busy", 90.0, 5),
            proc(30, 1, "fat", 1.0, 900),
            proc(40, 30, "Fatkid", 2.0, 1),
        ]);
        assert_eq!(pids(&app), [20, 40, 30, 1]);
        press(&mut app, 'm');
        assert_eq!(pids(&app), [30, 1, 20, 40]);
        press(&mut app, 'm');
        assert_eq!(pids(&app), [40, 20, 1, 30], "the same key again reverses");
        press(&mut app, 'p');
        assert_eq!(pids(&app), [1, 20, 30, 40]);
        press(&mut app, '/');
        for c in "fat".chars() {
            press(&mut app, c);
        }
        app.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(pids(&app), [30, 40], "name substring, any case");
        press(&mut app, 't');
        let rows = app.visible();
        let shown: Vec<(u32, &str)> = rows
            .iter()
            .map(|r| (r.proc.pid, r.prefix.as_str()))
            .collect();
        assert_eq!(
            shown,
            [(1, ""), (30, "└─ "), (40, "   └─ ")],
            "ancestors kept"
        );
        drop(rows);
        app.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(pids(&app).len(), 4);
        assert!(matches!(
            app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        ));
    }
}
