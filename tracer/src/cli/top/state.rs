//! What `top` shows: the latest figures, and the view's state — sort order, filter, tree
//! mode, selection — with the visible rows derived from both.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use ratatui::widgets::TableState;

use super::{SortKey, TopArgs};
use crate::query::attrs::{Attr, Value};
use crate::query::group::{self, Group, GroupBy};
use crate::query::{Row, Rows};

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
    /// The container id (64 hex), runtime, cgroup v2 path and pod uid; empty when null.
    pub(super) container_id: String,
    pub(super) runtime: String,
    pub(super) cgroup: String,
    pub(super) pod_uid: String,
    /// Bytes read and written from storage, when readable.
    pub(super) io: Option<(i64, i64)>,
}

impl Proc {
    /// The row [`group::group`] sums, as `ps --group-by`'s query would give it for this
    /// process (`cpu_times` as one figure: user and system seconds together).
    fn group_row(&self, by: GroupBy) -> Row {
        let text = |s: &str| {
            if s.is_empty() {
                Value::Null
            } else {
                Value::Str(s.into())
            }
        };
        let key = match by {
            GroupBy::Container => text(&self.container_id),
            GroupBy::Cgroup => text(&self.cgroup),
            GroupBy::Pod => text(&self.pod_uid),
            GroupBy::User => text(&self.user),
            GroupBy::Name => text(&self.name),
        };
        let io = self.io.map_or(Value::Null, |(read, write)| {
            Value::Tuple(vec![
                ("read_bytes", Value::Int(read)),
                ("write_bytes", Value::Int(write)),
            ])
        });
        Row {
            pid: self.pid,
            values: vec![
                key,
                text(&self.runtime),
                Value::Tuple(vec![("user", Value::Float(self.cpu_time))]),
                Value::Tuple(vec![(
                    "rss",
                    Value::Int(i64::try_from(self.rss).unwrap_or(i64::MAX)),
                )]),
                Value::Int(self.threads),
                io,
                Value::Float(self.cpu),
            ],
        }
    }
}

/// The attributes of [`Proc::group_row`]'s values.
const GROUP_ATTRS: [Attr; 6] = [
    Attr::ContainerRuntime,
    Attr::CpuTimes,
    Attr::MemoryInfo,
    Attr::NumThreads,
    Attr::IoCounters,
    Attr::CpuPercent,
];

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
    /// The group view is shown instead of the processes.
    pub(super) grouped: bool,
    /// What the group view groups by.
    pub(super) group_by: GroupBy,
    /// The process list shows the container columns.
    pub(super) containers: bool,
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
            grouped: args.group_by.is_some(),
            group_by: args.group_by.unwrap_or(GroupBy::Container),
            containers: args.containers,
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

    /// Whether the rows shown are biggest first: in the group view the pid key sorts by the
    /// number of processes, most first.
    pub(super) fn shown_descending(&self) -> bool {
        self.descending() != (self.grouped && self.sort == SortKey::Pid)
    }

    pub(super) fn unpin(&mut self) {
        self.pinned = None;
        self.table.select(Some(0));
        *self.table.offset_mut() = 0;
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        if self.grouped {
            let len = self.groups().len();
            if len == 0 {
                return;
            }
            let current = self.table.selected().unwrap_or(0);
            let next = (current as isize)
                .saturating_add(delta)
                .clamp(0, len as isize - 1) as usize;
            self.table.select(Some(next));
            return;
        }
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

    /// The group view's rows: the processes whose name matches the filter, grouped by
    /// [`group::group`] (`ps --group-by`'s sums), in the sort order (CPU and memory by their
    /// sums, pid by the number of processes, name by the key).
    pub(super) fn groups(&self) -> Vec<Group> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let by = self.group_by;
        let mut attrs = vec![by.key()];
        attrs.extend(GROUP_ATTRS);
        let rows = Rows {
            attrs,
            rows: snapshot
                .procs
                .iter()
                .filter(|p| self.matches(&p.name))
                .map(|p| p.group_row(by))
                .collect(),
        };
        let mut groups = group::group(by, &rows).groups;
        groups.sort_by(|a, b| {
            let order = match self.sort {
                SortKey::Cpu => a
                    .cpu_percent
                    .unwrap_or(0.0)
                    .total_cmp(&b.cpu_percent.unwrap_or(0.0)),
                SortKey::Memory => a.rss.cmp(&b.rss),
                SortKey::Pid => a.num_procs.cmp(&b.num_procs),
                SortKey::Name => a.key.sort_cmp(&b.key),
            };
            let order = if self.shown_descending() {
                order.reverse()
            } else {
                order
            };
            order.then_with(|| a.key.sort_cmp(&b.key))
        });
        groups
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
            group_by: None,
            containers: false,
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

    #[test]
    fn groups_sum_their_members_and_cycle() {
        let id = "ab".repeat(32);
        let in_container = |pid, cpu, rss| Proc {
            container_id: id.clone(),
            runtime: "docker".into(),
            user: "root".into(),
            threads: 2,
            io: Some((10, 20)),
            cpu_time: 1.5,
            ..proc(pid, 1, "app", cpu, rss)
        };
        let mut app = app(vec![
            proc(1, 0, "init", 0.5, 10),
            in_container(20, 30.0, 100),
            in_container(21, 12.5, 50),
        ]);
        press(&mut app, 'g');
        assert!(app.grouped);
        let groups = app.groups();
        assert_eq!(groups.len(), 2);
        let busy = &groups[0];
        assert_eq!(busy.key, Value::Str(id.clone().into()), "busiest first");
        assert_eq!(busy.runtime, Some(Value::Str("docker".into())));
        assert_eq!((busy.num_procs, busy.pids.clone()), (2, vec![20, 21]));
        assert_eq!(
            (busy.cpu_percent, busy.rss, busy.num_threads),
            (Some(42.5), Some(150), Some(4))
        );
        assert_eq!(busy.cpu_times.map(|t| t.iter().sum::<f64>()), Some(3.0));
        assert_eq!(busy.io_counters.map(|c| (c[2], c[3])), Some((20, 40)));
        assert_eq!(
            (groups[1].key.clone(), groups[1].io_counters),
            (Value::Null, None)
        );
        press(&mut app, 'p');
        assert_eq!(
            app.groups()[0].num_procs,
            2,
            "pid sorts by processes, most first"
        );
        press(&mut app, 'G');
        assert_eq!(app.group_by, GroupBy::Cgroup);
        for _ in 0..2 {
            press(&mut app, 'G');
        }
        assert_eq!(app.group_by, GroupBy::User);
        let users: Vec<Value> = app.groups().into_iter().map(|g| g.key).collect();
        assert_eq!(users, [Value::Str("root".into()), Value::Null]);
        press(&mut app, 'g');
        assert!(!app.grouped, "g toggles the view back");
        press(&mut app, 'C');
        assert!(app.containers);
    }
}
