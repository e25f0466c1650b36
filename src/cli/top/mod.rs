//! `proctor top`: a terminal dashboard over the control socket.
//!
//! # Layout
//! - `app`: what is shown, as plain data, updated by statuses, events and log lines;
//! - `input`: what each key does to it, and what it asks of the outside ([`input::Effect`]);
//! - `render`: drawing it with ratatui (tested on its `TestBackend`);
//! - `conn`: the threads that talk to the supervisor, read keys and catch signals;
//! - `term`: raw mode and the alternate screen, restored whatever happens.
//!
//! One loop owns the screen: it waits on one channel for whatever comes next, and redraws
//! at most every [`FRAME`], so a flood of log lines costs a redraw per frame, not per line.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

pub(crate) mod app;
mod conn;
pub(crate) mod input;
pub(crate) mod render;
mod term;

#[cfg(test)]
mod tests;

use app::App;
use conn::Msg;
use input::Effect;

/// The shortest time between two redraws.
const FRAME: Duration = Duration::from_millis(50);

/// Runs `top` until `q`, Ctrl-C or a signal.
pub(crate) fn run(file: Option<&Path>) -> Result<ExitCode> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!(
            "top needs a terminal; scripts can read `proctor status --json` and `proctor logs -f`"
        );
    }
    let t = crate::cli::running::target(file, false)?;
    let project = t
        .spec
        .as_ref()
        .map_or_else(|| "…".to_string(), |s| s.project.name.clone());
    // https://no-color.org: set and not empty.
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(project, color);
    let (tx, rx) = mpsc::channel();
    let socket = t.paths.control_socket();
    let refresh = conn::spawn(socket.clone(), t.paths.logs_dir(), &tx);
    let hold = Arc::new(AtomicBool::new(false));
    conn::spawn_keys(tx.clone(), hold.clone());
    conn::spawn_signals(tx.clone())?;
    let (guard, mut term) = term::Guard::enter()?;
    let mut dirty = true;
    let mut drawn: Option<Instant> = None;
    loop {
        let wait = drawn.map_or(Duration::ZERO, |d| FRAME.saturating_sub(d.elapsed()));
        if dirty && wait.is_zero() {
            term.draw(|f| render::draw(f, &app))?;
            dirty = false;
            drawn = Some(Instant::now());
        }
        let msg = if dirty {
            match rx.recv_timeout(wait) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        };
        dirty = true;
        match msg {
            Msg::Key(k) => {
                if app.mode == app::Mode::Normal {
                    app.message = None;
                }
                match app.on_key(k) {
                    None => {}
                    Some(Effect::Quit) => break,
                    Some(Effect::Act(verb, service)) => {
                        app.message = Some(format!("{} {service}…", verb.name()));
                        conn::act(socket.clone(), verb, service, tx.clone());
                    }
                    Some(Effect::Up) => {
                        app.message = Some("starting the supervisor (proctor up -d)…".into());
                        conn::up(file.map(Path::to_path_buf), tx.clone());
                    }
                    Some(Effect::Attach(service)) => {
                        app.message = Some(attach(&app, &service, file, &guard, &mut term, &hold)?);
                    }
                }
            }
            Msg::Resize => {}
            Msg::Status(reply) => app.on_status(reply),
            Msg::Event(ev) => app.on_event(ev),
            Msg::Log(l) => app.on_log(&l),
            Msg::Backlog(lines) => {
                for l in &lines {
                    app.on_log(l);
                }
            }
            Msg::Down(why) => app.on_down(why),
            Msg::Done(text) => {
                app.message = Some(text);
                let _ = refresh.send(());
            }
            Msg::Terminate => break,
        }
    }
    drop(guard);
    Ok(ExitCode::SUCCESS)
}

/// Hands the terminal to `proctor attach SERVICE` and takes it back once that returns;
/// what to tell the user.
fn attach(
    app: &App,
    service: &str,
    file: Option<&Path>,
    guard: &term::Guard,
    term: &mut term::Term,
    hold: &AtomicBool,
) -> Result<String> {
    let attachable = app
        .rows
        .iter()
        .find(|r| r.status.name == service)
        .is_some_and(|r| r.status.tmux_session.is_some() || r.status.container.is_some());
    if !attachable {
        return Ok(format!(
            "{service} has no terminal to attach to (only tmux and container services do); its output is in the log pane"
        ));
    }
    hold.store(true, Ordering::Release);
    // The key thread leaves its poll within KEYS_POLL: until then it could take a key
    // meant for the attached program.
    std::thread::sleep(conn::KEYS_POLL + Duration::from_millis(50));
    guard.suspend();
    let outcome = std::env::current_exe().and_then(|exe| {
        let mut cmd = std::process::Command::new(exe);
        if let Some(f) = file {
            cmd.arg("-f").arg(f);
        }
        cmd.args(["attach", service]).status()
    });
    guard.resume(term)?;
    hold.store(false, Ordering::Release);
    Ok(match outcome {
        Ok(s) if s.success() => format!("detached from {service}"),
        Ok(s) => format!("attach {service} failed ({s})"),
        Err(e) => format!("attach {service}: cannot run proctor: {e}"),
    })
}
