//! The threads that talk for `top`: the status refresh, the event and log streams, keys,
//! signals, and one thread per action. Each sends what it learns to the screen's loop as a
//! [`Msg`]; the blocking control client needs no runtime.
//!
//! The supervisor is asked for `status` once a second only while `top` runs (that is what
//! makes it read CPU and memory); events and log lines arrive as they happen. When the
//! supervisor goes away, each thread tries again once a second until one answers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind};

use super::app::Verb;
use crate::control::proto::{Body, Command, Event, LogLine, Reply};
use crate::control::{Client, ControlError};

/// How often resources are refreshed, and how soon a lost supervisor is looked for again.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);
/// How long an action may take to be answered (a restart waits for readiness).
const ACTION_DEADLINE: Duration = Duration::from_secs(120);
/// Log records read back from each service's file when the log stream is (re)subscribed.
const BACKLOG: usize = 200;
/// How often the key thread looks up while it is told to keep off the terminal.
pub(crate) const KEYS_POLL: Duration = Duration::from_millis(250);

/// What the screen's loop hears.
pub(crate) enum Msg {
    /// A key.
    Key(KeyEvent),
    /// The terminal changed size.
    Resize,
    /// A fresh status.
    Status(Reply),
    /// A state change.
    Event(Event),
    /// A log record.
    Log(LogLine),
    /// The last records of every service's file, oldest first, read once the log stream
    /// is subscribed (so nothing falls between the two).
    Backlog(Vec<LogLine>),
    /// No supervisor answers, and why.
    Down(String),
    /// An action finished: what to tell the user.
    Done(String),
    /// TERM, HUP or INT arrived: leave cleanly.
    Terminate,
}

/// Starts the status, event and log threads for the supervisor at `socket`. Sending on
/// the returned channel asks for a status now (after an action).
pub(crate) fn spawn(socket: PathBuf, logs_dir: PathBuf, tx: &Sender<Msg>) -> Sender<()> {
    let (refresh_tx, refresh_rx) = std::sync::mpsc::channel();
    let (s, t) = (socket.clone(), tx.clone());
    std::thread::spawn(move || status_loop(&s, &t, &refresh_rx));
    let (s, t) = (socket.clone(), tx.clone());
    std::thread::spawn(move || stream_loop(&s, &t, Command::Events, None));
    let t = tx.clone();
    std::thread::spawn(move || {
        let follow = Command::Follow {
            services: Vec::new(),
        };
        stream_loop(&socket, &t, follow, Some(&logs_dir));
    });
    refresh_tx
}

fn describe(e: &ControlError) -> String {
    match e {
        ControlError::NotRunning { socket } => {
            format!("Nothing listens on {}.", socket.display())
        }
        ControlError::Closed => "The supervisor closed the connection.".into(),
        e => e.to_string(),
    }
}

/// Asks for `status` every [`REFRESH`] (or when told to), reconnecting as needed.
fn status_loop(socket: &Path, tx: &Sender<Msg>, refresh: &Receiver<()>) {
    loop {
        match Client::connect(socket) {
            Ok(mut c) => loop {
                let answer = c
                    .set_timeout(Some(crate::cli::deadline::ANSWER))
                    .and_then(|()| {
                        c.request(Command::Status {
                            services: Vec::new(),
                        })
                    });
                match answer {
                    Ok(reply) => {
                        if tx.send(Msg::Status(reply)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        if tx.send(Msg::Down(describe(&e))).is_err() {
                            return;
                        }
                        break;
                    }
                }
                if let Err(RecvTimeoutError::Disconnected) = refresh.recv_timeout(REFRESH) {
                    return;
                }
            },
            Err(e) => {
                if tx.send(Msg::Down(describe(&e))).is_err() {
                    return;
                }
            }
        }
        if let Err(RecvTimeoutError::Disconnected) = refresh.recv_timeout(REFRESH) {
            return;
        }
    }
}

/// Subscribes to `cmd` (events or logs) and forwards what comes, resubscribing once a
/// second after the supervisor goes away. With `backlog`, the log files there are read
/// once each subscription is answered.
fn stream_loop(socket: &Path, tx: &Sender<Msg>, cmd: Command, backlog: Option<&Path>) {
    loop {
        if let Ok(mut c) = Client::connect(socket) {
            let subscribed = c.send(cmd.clone()).is_ok()
                && c.set_timeout(Some(crate::cli::deadline::ANSWER)).is_ok()
                && c.hello().is_ok()
                && c.set_timeout(None).is_ok();
            if subscribed {
                if let Some(dir) = backlog {
                    if tx.send(Msg::Backlog(read_backlog(dir))).is_err() {
                        return;
                    }
                }
                while let Ok(resp) = c.recv() {
                    let msg = match resp.body {
                        Body::Event(e) => Msg::Event(e),
                        Body::Log(l) => Msg::Log(l),
                        _ => continue,
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
            }
        }
        std::thread::park_timeout(REFRESH);
    }
}

/// The last [`BACKLOG`] records of each service's log file in `dir`, merged by time.
fn read_backlog(dir: &Path) -> Vec<LogLine> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log").map(str::to_owned)
        })
        .collect();
    let mut records: Vec<LogLine> = Vec::new();
    for name in names {
        if let Ok(lines) = crate::logs::tail(dir, &name, BACKLOG, None, |_| true) {
            records.extend(lines.into_iter().map(|r| LogLine {
                service: name.clone(),
                record: String::from_utf8_lossy(&r).into_owned(),
            }));
        }
    }
    // Records start with their RFC 3339 stamp, which sorts as text.
    records.sort_by(|a, b| a.record.get(..27).cmp(&b.record.get(..27)));
    records
}

/// Reads keys and resizes. While `hold` is set (another program has the terminal) it keeps
/// off the terminal, looking up every [`KEYS_POLL`].
pub(crate) fn spawn_keys(tx: Sender<Msg>, hold: Arc<AtomicBool>) {
    std::thread::spawn(move || loop {
        if hold.load(Ordering::Acquire) {
            std::thread::park_timeout(KEYS_POLL);
            continue;
        }
        // Polled, not read, so that an attach can take the terminal within KEYS_POLL.
        match event::poll(KEYS_POLL) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => return,
        }
        if hold.load(Ordering::Acquire) {
            continue;
        }
        let msg = match event::read() {
            Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
            Ok(TermEvent::Resize(..)) => Msg::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(msg).is_err() {
            return;
        }
    });
}

/// Turns TERM, HUP and INT into [`Msg::Terminate`], so the terminal is restored first.
pub(crate) fn spawn_signals(tx: Sender<Msg>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(Msg::Terminate);
        }
    });
    Ok(())
}

/// Carries out `verb` on `service` on a thread of its own; the outcome comes back as
/// [`Msg::Done`].
pub(crate) fn act(socket: PathBuf, verb: Verb, service: String, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let services = vec![service.clone()];
        let name = verb.name().to_string();
        let cmd = match verb {
            Verb::Start => Command::Start {
                services,
                overrides: None,
            },
            Verb::Stop => Command::Stop {
                services,
                timeout_ms: None,
            },
            Verb::Restart => Command::Restart { services },
            Verb::Signal(signal) => Command::Signal { services, signal },
        };
        let outcome = Client::connect(&socket).and_then(|mut c| {
            c.set_timeout(Some(ACTION_DEADLINE))?;
            c.request(cmd)
        });
        let text = match outcome {
            Ok(reply) => match (reply.failures.first(), reply.services.first()) {
                (Some(f), _) => format!("{name} {service}: {}", f.reason),
                (None, Some(s)) => format!(
                    "{name} {service}: {}{}",
                    s.state,
                    s.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ),
                (None, None) => format!("{name} {service}: done"),
            },
            Err(e) => format!("{name} {service}: {e}"),
        };
        let _ = tx.send(Msg::Done(text));
    });
}

/// Runs `proctor [-f FILE] up -d` on a thread; its outcome comes back as [`Msg::Done`].
pub(crate) fn up(file: Option<PathBuf>, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let text = match std::env::current_exe().and_then(|exe| {
            let mut cmd = std::process::Command::new(exe);
            if let Some(f) = &file {
                cmd.arg("-f").arg(f);
            }
            cmd.args(["up", "-d"])
                .stdin(std::process::Stdio::null())
                .output()
        }) {
            Ok(out) if out.status.success() => "up -d: the supervisor is running".to_string(),
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                format!("up -d failed: {}", err.lines().next().unwrap_or_default())
            }
            Err(e) => format!("up -d: cannot run proctor: {e}"),
        };
        let _ = tx.send(Msg::Done(text));
    });
}
