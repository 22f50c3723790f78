//! Drawing the screen: title, system summary, the process table, the exits pane and the key
//! help, from the state in [`super::state`].

use std::collections::BTreeMap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::state::{App, Exit, Exits};
use super::{SortKey, MIN_SIZE};
use crate::query::attrs::Value;
use crate::query::group::{Group, GroupBy};
use crate::render::text;

impl App {
    /// Draws the whole screen.
    pub(super) fn draw(&mut self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            let message = format!(
                "tracer top needs a terminal of at least {}×{} (this one is {}×{}); q quits",
                MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
            );
            frame.render_widget(
                Paragraph::new(message).wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        let [title, summary, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(3),
            Constraint::Min(6),
            Constraint::Length(1),
        ])
        .areas(area);
        let exits_height = (body.height / 3).clamp(4, 14);
        let [procs, exits] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(exits_height)]).areas(body);
        self.draw_title(frame, title);
        self.draw_summary(frame, summary);
        if self.grouped {
            self.draw_groups(frame, procs);
        } else {
            self.draw_procs(frame, procs);
        }
        self.draw_exits(frame, exits);
        self.draw_footer(frame, footer);
    }

    fn draw_title(&self, frame: &mut Frame, area: Rect) {
        let mode = self
            .snapshot
            .as_ref()
            .map_or(self.starting.as_str(), |s| s.mode.as_str());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let clock = text::time_of_day(now);
        let clock = clock.split('.').next().unwrap_or_default();
        let left = format!(
            " tracer top · {mode} · every {}",
            text::duration(self.interval.as_secs_f64())
        );
        let mut right = format!(" {clock} ");
        if left.chars().count() + right.len() > area.width as usize {
            right.clear();
        }
        let pad = (area.width as usize).saturating_sub(left.chars().count() + right.len());
        let line = Line::from(vec![
            Span::styled(left, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" ".repeat(pad)),
            Span::raw(right),
        ]);
        frame.render_widget(
            Paragraph::new(line).style(Style::new().bg(Color::Blue).fg(Color::White)),
            area,
        );
    }

    fn draw_summary(&self, frame: &mut Frame, area: Rect) {
        let Some(snapshot) = &self.snapshot else {
            frame.render_widget(Paragraph::new(format!(" {}", self.starting)), area);
            return;
        };
        let s = &snapshot.summary;
        let label = |l: &str| Span::styled(format!(" {l:<6}"), Style::new().fg(Color::Cyan));
        let mut cpu = vec![label("CPU")];
        match s.cpu_percent {
            Some(p) => {
                cpu.push(bar(p, 20));
                cpu.push(Span::styled(
                    format!(" {p:>5.1}%"),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
            }
            None => cpu.push(Span::raw("-")),
        }
        if !s.percpu.is_empty() && s.percpu.len() <= 16 {
            let each: Vec<String> = s.percpu.iter().map(|p| format!("{p:.0}%")).collect();
            cpu.push(Span::raw(format!("  per CPU {}", each.join(" "))));
        } else if !s.percpu.is_empty() {
            cpu.push(Span::raw(format!("  {} CPUs", s.percpu.len())));
        }
        if let Some([a, b, c]) = s.load {
            cpu.push(Span::raw(format!("   load {a:.2} {b:.2} {c:.2}")));
        }
        if let Some(boot) = s.boot_time {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            cpu.push(Span::raw(format!("   up {}", uptime(now - boot))));
        }
        let mut mem = vec![label("MEM")];
        match s.memory {
            Some((total, used, available, percent)) => {
                mem.push(bar(percent, 20));
                mem.push(Span::styled(
                    format!(" {percent:>5.1}%"),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
                mem.push(Span::raw(format!(
                    "  {} used of {}, {} available",
                    size(used),
                    size(total),
                    size(available)
                )));
            }
            None => mem.push(Span::raw("-")),
        }
        mem.push(Span::raw(match s.swap {
            Some((0, _, _)) => "   swap: none".to_string(),
            Some((total, used, percent)) => {
                format!("   swap {} of {} ({percent:.1}%)", size(used), size(total))
            }
            None => "   swap: -".to_string(),
        }));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut threads = 0;
        for p in &snapshot.procs {
            *counts.entry(p.status.as_str()).or_default() += 1;
            threads += p.threads.max(0);
        }
        let mut tasks = vec![
            label("TASKS"),
            Span::raw(format!(
                "{} processes, {threads} threads: ",
                snapshot.procs.len()
            )),
        ];
        let order = [
            "running",
            "sleeping",
            "disk-sleep",
            "idle",
            "stopped",
            "tracing-stop",
            "zombie",
            "dead",
        ];
        let mut parts: Vec<Span> = Vec::new();
        for status in order {
            let n = counts.remove(status).unwrap_or(0);
            if n == 0 && !matches!(status, "running" | "sleeping") {
                continue;
            }
            let style = match status {
                "zombie" | "dead" => Style::new().fg(Color::Red),
                "disk-sleep" | "stopped" | "tracing-stop" => Style::new().fg(Color::Yellow),
                "running" => Style::new().fg(Color::Green),
                _ => Style::new(),
            };
            parts.push(Span::styled(format!("{n} {status}"), style));
        }
        for (status, n) in counts {
            // No status: the process ended while it was being read.
            let status = if status.is_empty() { "gone" } else { status };
            parts.push(Span::raw(format!("{n} {status}")));
        }
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                tasks.push(Span::raw(", "));
            }
            tasks.push(part);
        }
        frame.render_widget(
            Paragraph::new(vec![Line::from(cpu), Line::from(mem), Line::from(tasks)]),
            area,
        );
    }

    /// A column header; `right` aligns it right over `width` cells (as the numbers below),
    /// and the sorted column gets an arrow.
    fn header_cell(
        &self,
        label: &str,
        key: Option<SortKey>,
        right: Option<usize>,
    ) -> Cell<'static> {
        let sorted = key.is_some_and(|key| key == self.sort);
        let mut label = label.to_string();
        if sorted {
            label.push_str(if self.shown_descending() {
                "▼"
            } else {
                "▲"
            });
        }
        if let Some(width) = right {
            label = format!("{label:>width$}");
        }
        let cell = Cell::from(label);
        if sorted {
            cell.style(
                Style::new()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            )
        } else {
            cell
        }
    }

    fn draw_procs(&mut self, frame: &mut Frame, area: Rect) {
        let rows = self.visible();
        let total = self.snapshot.as_ref().map_or(0, |s| s.procs.len());
        let selected = match self.pinned {
            Some(pid) => rows
                .iter()
                .position(|r| r.proc.pid == pid)
                .or(self.table.selected()),
            None => Some(0),
        }
        .map(|i| i.min(rows.len().saturating_sub(1)));
        let mut title = format!(" Processes: {} ", rows.len());
        if rows.len() != total {
            title = format!(" Processes: {} of {total} ", rows.len());
        }
        title.push_str(&format!(
            "· sorted by {} {}{} ",
            self.sort.label(),
            if self.shown_descending() {
                "▼"
            } else {
                "▲"
            },
            if self.tree { " · tree" } else { "" }
        ));
        if !self.filter.is_empty() {
            title.push_str(&format!("· name contains \"{}\" ", self.filter));
        }
        let mut header = vec![
            self.header_cell("PID", Some(SortKey::Pid), Some(7)),
            self.header_cell("USER", None, None),
            self.header_cell("S", None, None),
            self.header_cell("THR", None, Some(3)),
            self.header_cell("CPU%", Some(SortKey::Cpu), Some(5)),
            self.header_cell("MEM%", Some(SortKey::Memory), Some(5)),
            self.header_cell("RSS", None, Some(6)),
            self.header_cell("TIME", None, Some(9)),
        ];
        if self.containers {
            header.extend([
                self.header_cell("CONTAINER", None, None),
                self.header_cell("RUNTIME", None, None),
                self.header_cell("POD", None, None),
            ]);
        }
        header.extend([
            self.header_cell("NAME", Some(SortKey::Name), None),
            self.header_cell("COMMAND", None, None),
        ]);
        let name_width = rows
            .iter()
            .map(|r| r.prefix.chars().count() + r.proc.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(6, 28) as u16;
        let body: Vec<Row> = rows
            .iter()
            .map(|r| {
                let p = r.proc;
                let cpu_style = if p.cpu >= 90.0 {
                    Style::new().fg(Color::Red)
                } else if p.cpu >= 10.0 {
                    Style::new().fg(Color::Yellow)
                } else {
                    Style::new()
                };
                let status_style = match p.status.as_str() {
                    "running" => Style::new().fg(Color::Green),
                    "zombie" | "dead" => Style::new().fg(Color::Red),
                    "disk-sleep" | "stopped" | "tracing-stop" => Style::new().fg(Color::Yellow),
                    _ => Style::new(),
                };
                let mut cells = vec![
                    Cell::from(format!("{:>7}", p.pid)),
                    Cell::from(p.user.clone()),
                    Cell::from(status_letter(&p.status)).style(status_style),
                    Cell::from(format!("{:>3}", p.threads)),
                    Cell::from(format!("{:>5.1}", p.cpu)).style(cpu_style),
                    Cell::from(format!("{:>5.1}", p.mem)),
                    Cell::from(format!("{:>6}", size(p.rss))),
                    Cell::from(format!("{:>9}", cpu_time(p.cpu_time))),
                ];
                if self.containers {
                    cells.extend([
                        Cell::from(or_dash(short_id(&p.container_id))),
                        Cell::from(or_dash(&p.runtime)),
                        Cell::from(or_dash(&p.pod_uid)),
                    ]);
                }
                cells.extend([
                    Cell::from(Line::from(vec![
                        Span::styled(r.prefix.clone(), Style::new().fg(Color::DarkGray)),
                        Span::styled(p.name.clone(), Style::new().add_modifier(Modifier::BOLD)),
                    ])),
                    Cell::from(p.command.clone()).style(Style::new().fg(Color::Gray)),
                ]);
                Row::new(cells)
            })
            .collect();
        let empty = body.is_empty();
        let mut widths = vec![
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(1),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(9),
        ];
        if self.containers {
            let pod_width = rows
                .iter()
                .map(|r| r.proc.pod_uid.chars().count())
                .max()
                .unwrap_or(0)
                .clamp(3, 36) as u16;
            widths.extend([
                Constraint::Length(12),
                Constraint::Length(14),
                Constraint::Length(pod_width),
            ]);
        }
        widths.extend([Constraint::Length(name_width), Constraint::Fill(1)]);
        drop(rows);
        let message = if self.filter.is_empty() {
            "no processes".to_string()
        } else {
            format!("no process name contains \"{}\"", self.filter)
        };
        let selected = if empty { None } else { selected };
        self.render_list(
            frame,
            area,
            List {
                title,
                header,
                body,
                widths,
                selected,
                message,
            },
        );
    }

    /// The group view: one row per container, cgroup, pod, user or name, with the number of
    /// processes and their summed CPU%, resident memory, threads, CPU time and storage I/O.
    fn draw_groups(&mut self, frame: &mut Frame, area: Rect) {
        let groups = self.groups();
        let total = self.snapshot.as_ref().map_or(0, |s| s.procs.len());
        let members: u64 = groups.iter().map(|g| g.num_procs).sum();
        let by = self.group_by;
        let sort = match self.sort {
            SortKey::Pid => "processes",
            SortKey::Name => by.name(),
            other => other.label(),
        };
        let mut title = format!(
            " Groups by {}: {} · {members} of {total} processes · sorted by {sort} {} ",
            by.name(),
            groups.len(),
            if self.shown_descending() {
                "▼"
            } else {
                "▲"
            },
        );
        if !self.filter.is_empty() {
            title.push_str(&format!("· name contains \"{}\" ", self.filter));
        }
        let key_label = by.name().to_uppercase();
        let mut header = vec![
            self.header_cell("PROCS", Some(SortKey::Pid), Some(6)),
            self.header_cell("THR", None, Some(5)),
            self.header_cell("CPU%", Some(SortKey::Cpu), Some(6)),
            self.header_cell("RSS", Some(SortKey::Memory), Some(7)),
            self.header_cell("TIME", None, Some(9)),
            self.header_cell("READ", None, Some(7)),
            self.header_cell("WRITE", None, Some(7)),
        ];
        if by == GroupBy::Container {
            header.push(self.header_cell("RUNTIME", None, None));
        }
        header.push(self.header_cell(&key_label, Some(SortKey::Name), None));
        let io = |g: &Group, i: usize| {
            g.io_counters
                .map_or("-".to_string(), |c| text::bytes(c[i].max(0)))
        };
        let body: Vec<Row> = groups
            .iter()
            .map(|g| {
                let cpu = g.cpu_percent.unwrap_or(0.0);
                let mut cells = vec![
                    Cell::from(format!("{:>6}", g.num_procs)),
                    Cell::from(format!("{:>5}", g.num_threads.unwrap_or(0))),
                    Cell::from(format!("{cpu:>6.1}")),
                    Cell::from(format!(
                        "{:>7}",
                        g.rss.map_or("-".into(), |r| text::bytes(r.max(0)))
                    )),
                    Cell::from(format!(
                        "{:>9}",
                        g.cpu_times.map_or("-".into(), |t| cpu_time(t.iter().sum()))
                    )),
                    // Read and written bytes: the 3rd and 4th of psutil's pio fields.
                    Cell::from(format!("{:>7}", io(g, 2))),
                    Cell::from(format!("{:>7}", io(g, 3))),
                ];
                if by == GroupBy::Container {
                    cells.push(Cell::from(or_dash(&value_text(
                        g.runtime.as_ref().unwrap_or(&Value::Null),
                    ))));
                }
                let key = match (&g.key, by) {
                    (Value::Null, GroupBy::Container) => "(not in a container)".to_string(),
                    (Value::Null, GroupBy::Pod) => "(not in a pod)".to_string(),
                    (Value::Null, _) => "(unknown)".to_string(),
                    (key, GroupBy::Container) => short_id(&value_text(key)).to_string(),
                    (key, _) => value_text(key),
                };
                cells.push(Cell::from(key).style(Style::new().add_modifier(Modifier::BOLD)));
                Row::new(cells)
            })
            .collect();
        let empty = body.is_empty();
        let mut widths = vec![
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(7),
        ];
        if by == GroupBy::Container {
            widths.push(Constraint::Length(14));
        }
        widths.push(Constraint::Fill(1));
        let selected = self
            .table
            .selected()
            .map(|i| i.min(groups.len().saturating_sub(1)));
        let selected = if empty { None } else { selected.or(Some(0)) };
        let message = "no processes".to_string();
        self.render_list(
            frame,
            area,
            List {
                title,
                header,
                body,
                widths,
                selected,
                message,
            },
        );
    }

    /// Draws a list (the processes or the groups) with its header, selection and a message
    /// when it is empty.
    fn render_list(&mut self, frame: &mut Frame, area: Rect, list: List<'_>) {
        let empty = list.body.is_empty();
        let header = Row::new(list.header).style(
            Style::new()
                .add_modifier(Modifier::BOLD)
                .bg(Color::DarkGray),
        );
        let table = Table::new(list.body, list.widths)
            .header(header)
            .column_spacing(1)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .title(list.title)
                    .title_style(Style::new().add_modifier(Modifier::BOLD)),
            );
        self.page = (area.height as usize).saturating_sub(3).max(1);
        self.table.select(list.selected);
        frame.render_stateful_widget(table, area, &mut self.table);
        if empty && self.snapshot.is_some() && area.height > 3 {
            frame.render_widget(
                Paragraph::new(format!("  {}", list.message)),
                Rect {
                    y: area.y + 2,
                    height: 1,
                    ..area
                },
            );
        }
    }

    fn draw_exits(&self, frame: &mut Frame, area: Rect) {
        let block = |title: String| {
            Block::new()
                .borders(Borders::TOP)
                .title(title)
                .title_style(Style::new().add_modifier(Modifier::BOLD))
        };
        let exits = match self.snapshot.as_ref().map(|s| &s.exits) {
            None => return frame.render_widget(block(" Recent exits ".into()), area),
            Some(Exits::Unavailable(why)) => {
                let message = Paragraph::new(format!(" {why}"))
                    .style(Style::new().fg(Color::Yellow))
                    .block(block(" Recent exits ".into()));
                return frame.render_widget(message, area);
            }
            Some(Exits::Known(exits)) => exits,
        };
        let failed = |e: &Exit| e.signal.is_some() || e.exit_code.is_some_and(|c| c != 0);
        let shown: Vec<&Exit> = exits
            .iter()
            .filter(|e| self.matches(&e.name) && (!self.failures_only || failed(e)))
            .collect();
        let failures = exits.iter().filter(|e| failed(e)).count();
        let mut title = if self.failures_only {
            " Recent exits · failed or killed only (x: all) ".to_string()
        } else {
            format!(" Recent exits · {failures} failed or killed (x: only those) ")
        };
        if !self.filter.is_empty() {
            title.push_str(&format!("· name contains \"{}\" ", self.filter));
        }
        let header = Row::new([
            "ENDED", "    PID", "   PPID", "NAME", "RESULT", "   LIVED", "COMMAND",
        ])
        .style(
            Style::new()
                .add_modifier(Modifier::BOLD)
                .bg(Color::DarkGray),
        );
        let rows: Vec<Row> = shown
            .iter()
            .take(area.height as usize)
            .map(|e| {
                let (result, style) = match (e.exit_code, e.signal) {
                    (_, Some(signal)) => (
                        text::signal_name(signal as i32),
                        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                    ),
                    (Some(0), None) => ("exit 0".to_string(), Style::new().fg(Color::Green)),
                    (Some(code), None) => (
                        format!("exit {code}"),
                        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                    ),
                    (None, None) => ("unknown".to_string(), Style::new().fg(Color::DarkGray)),
                };
                Row::new(vec![
                    Cell::from(text::time_of_day(e.exit_time)),
                    Cell::from(format!("{:>7}", e.pid)),
                    Cell::from(format!("{:>7}", e.ppid)),
                    Cell::from(e.name.clone()).style(Style::new().add_modifier(Modifier::BOLD)),
                    Cell::from(result).style(style),
                    Cell::from(format!(
                        "{:>8}",
                        e.duration.map_or("-".into(), text::duration)
                    )),
                    Cell::from(e.command.clone()).style(Style::new().fg(Color::Gray)),
                ])
            })
            .collect();
        if rows.is_empty() {
            let message = if exits.is_empty() {
                " none yet".to_string()
            } else {
                " none of these".to_string()
            };
            return frame.render_widget(Paragraph::new(message).block(block(title)), area);
        }
        let widths = [
            Constraint::Length(12),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Fill(1),
        ];
        let table = Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block(title));
        frame.render_widget(table, area);
    }

    fn draw_footer(&self, frame: &mut Frame, area: Rect) {
        let key = |k: &'static str| Span::styled(k, Style::new().fg(Color::Black).bg(Color::Cyan));
        let line = if self.editing {
            Line::from(vec![
                key(" filter by name "),
                Span::raw(format!(" {}", self.filter)),
                Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
                Span::raw("   Enter keeps it · Esc clears it"),
            ])
        } else if let Some(error) = &self.error {
            Line::from(Span::styled(
                format!(" {error}"),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ))
        } else {
            let mut spans = Vec::new();
            for (k, what) in [
                ("c", "cpu"),
                ("m", "memory"),
                ("p", "pid"),
                ("n", "name"),
                ("/", "filter"),
                ("Esc", "clear"),
                ("t", "tree"),
                ("g", "groups"),
                ("G", "group by"),
                ("C", "containers"),
                ("x", "failures"),
                ("↑↓", "scroll"),
                ("q", "quit"),
            ] {
                spans.push(key(k));
                spans.push(Span::raw(format!(" {what}  ")));
            }
            Line::from(spans)
        };
        frame.render_widget(Paragraph::new(line), area);
    }
}

/// A container id as docker prints it: its first 12 hex digits.
fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `-` for what is not known.
fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

/// A group key (a string the view made from the rows) as text; empty when null.
fn value_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.to_string_lossy().into_owned(),
        _ => String::new(),
    }
}

/// A bar of `width` cells filled to `percent`.
fn bar(percent: f64, width: usize) -> Span<'static> {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    let color = if percent >= 90.0 {
        Color::Red
    } else if percent >= 60.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    Span::styled(
        format!("[{}{}]", "|".repeat(filled), " ".repeat(width - filled)),
        Style::new().fg(color),
    )
}

fn size(n: u64) -> String {
    text::bytes(i64::try_from(n).unwrap_or(i64::MAX))
}

/// psutil's status as `ps`'s one-letter state.
fn status_letter(status: &str) -> &'static str {
    match status {
        "running" => "R",
        "sleeping" => "S",
        "disk-sleep" => "D",
        "stopped" => "T",
        "tracing-stop" => "t",
        "zombie" => "Z",
        "dead" => "X",
        "idle" => "I",
        "parked" => "P",
        "waking" => "W",
        "wake-kill" => "K",
        _ => "?",
    }
}

/// CPU time as `top`'s TIME+: `M:SS.hh`, or `H:MM:SS` past an hour.
fn cpu_time(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 3600.0 {
        let whole = s as u64;
        format!(
            "{}:{:02}.{:02}",
            whole / 60,
            whole % 60,
            ((s.fract()) * 100.0) as u64
        )
    } else {
        let whole = s as u64;
        format!("{}:{:02}:{:02}", whole / 3600, whole / 60 % 60, whole % 60)
    }
}

/// Time since boot: `5m`, `3h07m`, `12d 4h`.
fn uptime(seconds: f64) -> String {
    let whole = seconds.max(0.0) as u64;
    let (d, h, m) = (whole / 86400, whole / 3600 % 24, whole / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else {
        format!("{m}m{:02}s", whole % 60)
    }
}

/// What [`App::render_list`] draws.
struct List<'a> {
    title: String,
    header: Vec<Cell<'a>>,
    body: Vec<Row<'a>>,
    widths: Vec<Constraint>,
    selected: Option<usize>,
    /// Shown when the list is empty.
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(cpu_time(75.5), "1:15.50");
        assert_eq!(cpu_time(7322.0), "2:02:02");
        assert_eq!(uptime(3.0 * 86400.0 + 7200.0), "3d 2h");
        assert_eq!(status_letter("disk-sleep"), "D");
    }
}
