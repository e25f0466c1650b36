//! What `top` shows, as plain data: the services, their recent history, the log pane and
//! the mode the keys are in. Everything here is pure, so rendering and keys are tested
//! without a terminal or a supervisor.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::control::proto::{Event, LogLine, Reply, ServiceStatus, State};
use crate::logs::{parse_record, RecordStream};

/// Resource samples kept per service: ten minutes at one a second.
pub(crate) const HISTORY: usize = 600;
/// State changes kept per service.
const CHANGES: usize = 50;
/// Log records kept for the pane, over all services.
pub(crate) const LOG_LINES: usize = 5_000;

/// Where the connection to the supervisor stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Link {
    /// Not known yet.
    Connecting,
    /// Talking to the supervisor with this pid.
    Up(u32),
    /// No supervisor runs for the project (none ever answered, or it went away): `why`.
    Down(String),
}

/// One service's row and what is remembered about it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The last status (updated by events in between).
    pub(crate) status: ServiceStatus,
    /// CPU in tenths of a percent, one sample per refresh, oldest first.
    pub(crate) cpu: VecDeque<u64>,
    /// Memory in bytes, one sample per refresh, oldest first.
    pub(crate) memory: VecDeque<u64>,
    /// State changes, oldest first: when, and what (`running pid 12`, `backoff: exited 1`).
    pub(crate) changes: VecDeque<(SystemTime, String)>,
}

impl Row {
    fn new(status: ServiceStatus) -> Self {
        Self {
            status,
            cpu: VecDeque::new(),
            memory: VecDeque::new(),
            changes: VecDeque::new(),
        }
    }
}

/// One log record in the pane.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    /// The service's name.
    pub(crate) service: String,
    /// The record's whole timestamp, which orders records as text.
    pub(crate) stamp: String,
    /// `HH:MM:SS` (UTC) of the record.
    pub(crate) time: String,
    /// Which stream it came from.
    pub(crate) stream: RecordStream,
    /// The line.
    pub(crate) line: String,
}

/// Which streams the log pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Streams {
    /// stdout, stderr and proctor's notes.
    All,
    /// stdout only.
    Out,
    /// stderr only.
    Err,
}

impl Streams {
    fn next(self) -> Self {
        match self {
            Streams::All => Streams::Out,
            Streams::Out => Streams::Err,
            Streams::Err => Streams::All,
        }
    }

    /// Its name in the pane's title.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Streams::All => "out+err",
            Streams::Out => "out",
            Streams::Err => "err",
        }
    }

    fn keeps(self, s: RecordStream) -> bool {
        match self {
            Streams::All => true,
            Streams::Out => s == RecordStream::Out,
            Streams::Err => s == RecordStream::Err,
        }
    }
}

/// What an action key asks of the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verb {
    /// `start`.
    Start,
    /// `stop`.
    Stop,
    /// `restart`.
    Restart,
    /// `signal` with this signal.
    Signal(String),
}

impl Verb {
    /// The verb as `proctor` names it.
    pub(crate) fn name(&self) -> &str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
            Verb::Signal(_) => "signal",
        }
    }
}

/// The mode keys are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Moving around, acting.
    Normal,
    /// The key list.
    Help,
    /// Asking `y` before `verb` on `service`.
    Confirm(Verb, String),
    /// Typing a search (`/`).
    Search(String),
    /// Typing the signal to send to `service`.
    Signal(String, String),
}

/// Everything `top` shows.
#[derive(Debug)]
pub(crate) struct App {
    /// The project's name, once known.
    pub(crate) project: String,
    /// The connection.
    pub(crate) link: Link,
    /// The services, in the supervisor's order.
    pub(crate) rows: Vec<Row>,
    /// The selected row.
    pub(crate) selected: usize,
    /// The log pane's records, oldest first.
    pub(crate) logs: VecDeque<LogEntry>,
    /// The pane shows every service merged, not only the selected one.
    pub(crate) all_logs: bool,
    /// Lines scrolled back from the newest (0: following).
    pub(crate) scroll: usize,
    /// New records are not shown while paused (they are kept).
    pub(crate) paused: Option<usize>,
    /// Which streams the pane shows.
    pub(crate) streams: Streams,
    /// Only lines containing this (case-insensitive) are shown.
    pub(crate) search: Option<String>,
    /// The key mode.
    pub(crate) mode: Mode,
    /// The outcome of the last action, for the footer.
    pub(crate) message: Option<String>,
    /// Colors (off with `NO_COLOR`).
    pub(crate) color: bool,
}

impl App {
    /// An empty screen, waiting for the supervisor.
    pub(crate) fn new(project: String, color: bool) -> Self {
        Self {
            project,
            link: Link::Connecting,
            rows: Vec::new(),
            selected: 0,
            logs: VecDeque::new(),
            all_logs: false,
            scroll: 0,
            paused: None,
            streams: Streams::All,
            search: None,
            mode: Mode::Normal,
            message: None,
            color,
        }
    }

    /// The selected service's name.
    pub(crate) fn selected_name(&self) -> Option<&str> {
        self.rows.get(self.selected).map(|r| r.status.name.as_str())
    }

    /// Takes a fresh status: rows added, removed and updated, and one resource sample each.
    pub(crate) fn on_status(&mut self, reply: Reply) {
        let selected = self.selected_name().map(str::to_owned);
        self.project = reply.project;
        self.link = Link::Up(reply.supervisor_pid);
        let mut old = std::mem::take(&mut self.rows);
        for s in reply.services {
            let mut row = match old.iter().position(|r| r.status.name == s.name) {
                Some(i) => old.swap_remove(i),
                None => Row::new(s.clone()),
            };
            push(
                &mut row.cpu,
                s.cpu_percent.map_or(0, |c| (c * 10.0) as u64),
                HISTORY,
            );
            push(&mut row.memory, s.memory_bytes.unwrap_or(0), HISTORY);
            row.status = s;
            self.rows.push(row);
        }
        self.selected = selected
            .and_then(|n| self.rows.iter().position(|r| r.status.name == n))
            .unwrap_or(self.selected)
            .min(self.rows.len().saturating_sub(1));
    }

    /// Takes a state change as it happens, before the next status.
    pub(crate) fn on_event(&mut self, ev: Event) {
        let Some(row) = self.rows.iter_mut().find(|r| r.status.name == ev.service) else {
            return;
        };
        let what = match (&ev.pid, &ev.reason) {
            // `running` is what passing the readiness probe leads to.
            (Some(pid), _) if ev.state == State::Running => format!("ready, pid {pid}"),
            (Some(pid), _) if ev.state.is_active() => format!("{} pid {pid}", ev.state),
            (_, Some(why)) => format!("{}: {why}", ev.state),
            _ => ev.state.to_string(),
        };
        push(&mut row.changes, (ev.at, what), CHANGES);
        let s = &mut row.status;
        if s.pid != ev.pid {
            s.uptime_ms = 0;
            s.cpu_percent = None;
            s.memory_bytes = None;
        }
        s.state = ev.state;
        s.pid = ev.pid;
        s.reason = ev.reason;
        s.since = ev.at;
        if !ev.state.is_active() {
            s.ready = false;
        }
    }

    /// Takes a log record from the follow stream.
    pub(crate) fn on_log(&mut self, l: &LogLine) {
        let Some(r) = parse_record(l.record.as_bytes()) else {
            return;
        };
        let stamp = String::from_utf8_lossy(r.stamp).into_owned();
        let time = stamp.get(11..19).unwrap_or_default().to_string();
        let line = String::from_utf8_lossy(r.line).trim_end().to_string();
        // The backlog read from the files at (re)connection and the live stream overlap by a
        // moment: a record already shown is not shown twice.
        if self.logs.back().is_some_and(|b| b.stamp >= stamp)
            && self
                .logs
                .iter()
                .rev()
                .take_while(|e| e.stamp >= stamp)
                .any(|e| {
                    e.stamp == stamp
                        && e.service == l.service
                        && e.stream == r.stream
                        && e.line == line
                })
        {
            return;
        }
        if self.logs.len() == LOG_LINES {
            self.logs.pop_front();
            // A paused or scrolled view stays on the same lines as the oldest go.
            if let Some(p) = &mut self.paused {
                *p = p.saturating_sub(1);
            }
        }
        self.logs.push_back(LogEntry {
            service: l.service.clone(),
            stamp,
            time,
            stream: r.stream,
            line,
        });
    }

    /// The supervisor went away (or was never there).
    pub(crate) fn on_down(&mut self, why: String) {
        if !matches!(&self.link, Link::Down(w) if *w == why) {
            self.link = Link::Down(why);
        }
    }

    /// The log records the pane shows now, oldest first: selected service (or all),
    /// streams, search, and the pause.
    pub(crate) fn visible_logs(&self) -> Vec<&LogEntry> {
        let end = self.paused.unwrap_or(self.logs.len()).min(self.logs.len());
        let name = self.selected_name();
        let needle = self.search.as_deref().map(str::to_lowercase);
        self.logs
            .range(..end)
            .filter(|e| self.all_logs || Some(e.service.as_str()) == name)
            .filter(|e| self.streams.keeps(e.stream))
            .filter(|e| {
                needle
                    .as_deref()
                    .is_none_or(|n| e.line.to_lowercase().contains(n))
            })
            .collect()
    }

    /// Cycles the stream filter.
    pub(crate) fn next_streams(&mut self) {
        self.streams = self.streams.next();
    }

    /// Pauses the pane at what it shows now, or resumes it.
    pub(crate) fn toggle_pause(&mut self) {
        self.paused = match self.paused {
            Some(_) => None,
            None => Some(self.logs.len()),
        };
    }
}

/// Appends `v` to `q`, keeping at most `max`.
fn push<T>(q: &mut VecDeque<T>, v: T, max: usize) {
    if q.len() == max {
        q.pop_front();
    }
    q.push_back(v);
}
