//! The screen drawn on ratatui's `TestBackend`, snapshotted as text.

use std::time::{Duration, SystemTime};

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::{App, Link};
use super::render;
use crate::control::proto::{Event, LogLine, Reply, ServiceStatus, State};

fn at(secs: u64) -> SystemTime {
    // 2026-11-23T09:38:00Z, so the snapshots do not depend on today.
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_426_680 + secs)
}

/// A service's status, with resources while it has a pid. Built from the wire's JSON, so
/// that fields added to the protocol later take their defaults here.
pub(super) fn service(name: &str, state: State, pid: Option<u32>) -> ServiceStatus {
    let mut s: ServiceStatus = serde_json::from_value(serde_json::json!({
        "name": name,
        "state": state,
        "pid": pid,
        "ready": state == State::Running,
        "restarts": 0,
        "uptime_ms": if pid.is_some() { 83_000 } else { 0 },
        "last_exit": null,
        "since": crate::util::timestamp(at(0)),
        "backend": "process",
    }))
    .expect("a status");
    s.cpu_percent = pid.map(|_| 1.5);
    s.memory_bytes = pid.map(|_| 12 * 1024 * 1024);
    s
}

/// A shop: a web server, a worker in backoff, a failed mailer and a stopped cron.
fn shop() -> App {
    let mut app = App::new("shop".into(), false);
    let mut worker = service("worker", State::Backoff, None);
    worker.restarts = 3;
    worker.reason = Some("exited 1; restart in 2s".into());
    let mut mailer = service("mailer", State::Failed, None);
    mailer.reason = Some("start limit hit (5 in 10s)".into());
    let mut db = service("db", State::Starting, Some(4102));
    db.probe_error = Some("not ready: connection refused".into());
    db.ready = false;
    let mut web = service("web", State::Running, Some(4100));
    web.backend = "tmux".into();
    for (cpu, mem) in [(0.5, 10), (2.0, 11), (7.5, 12), (3.0, 12), (1.5, 12)] {
        web.cpu_percent = Some(cpu);
        web.memory_bytes = Some(mem * 1024 * 1024);
        app.on_status(Reply {
            project: "shop".into(),
            supervisor_pid: 4000,
            services: vec![
                web.clone(),
                db.clone(),
                worker.clone(),
                mailer.clone(),
                service("cron", State::Stopped, None),
            ],
            ..Reply::default()
        });
    }
    app.on_event(Event {
        at: at(5),
        service: "web".into(),
        state: State::Starting,
        pid: Some(4100),
        reason: None,
    });
    app.on_event(Event {
        at: at(6),
        service: "web".into(),
        state: State::Running,
        pid: Some(4100),
        reason: None,
    });
    for (i, (svc, stream, line)) in [
        ("web", "out", "listening on :8080"),
        ("db", "err", "waiting for the data directory lock"),
        ("web", "out", "GET / 200 1.2ms"),
        ("worker", "err", "panic: queue unreachable"),
        ("web", "err", "GET /missing 404 0.3ms"),
        (
            "web",
            "sys",
            "proctor: 3 lines lost while the log could not be written",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        app.on_log(&LogLine {
            service: svc.into(),
            record: format!("2026-11-23T09:38:1{i}.000000Z {stream} {line}\n"),
        });
    }
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| render::draw(f, app)).expect("draw");
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let row: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn table_and_log_pane_at_120x30() {
    insta::assert_snapshot!(screen(&shop(), 120, 30));
}

#[test]
fn narrow_80x24() {
    insta::assert_snapshot!(screen(&shop(), 80, 24));
}

#[test]
fn merged_logs_filtered_paused() {
    let mut app = shop();
    app.all_logs = true;
    app.streams = super::app::Streams::Err;
    app.toggle_pause();
    app.on_log(&LogLine {
        service: "db".into(),
        record: "2026-11-23T09:38:30.000000Z err not shown while paused\n".into(),
    });
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn search_keeps_matching_lines_only() {
    let mut app = shop();
    app.search = Some("get".into());
    let text = screen(&app, 80, 24);
    assert!(text.contains("GET / 200") && text.contains("GET /missing"));
    assert!(!text.contains("listening on"), "{text}");
}

#[test]
fn no_supervisor() {
    let mut app = App::new("shop".into(), false);
    app.on_down("Nothing listens on /run/user/1000/proctor/shop/control.sock.".into());
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn supervisor_gone_keeps_the_last_table_and_says_so() {
    let mut app = shop();
    app.on_down("The supervisor closed the connection.".into());
    assert!(matches!(app.link, Link::Down(_)));
    let text = screen(&app, 80, 24);
    assert!(text.contains("supervisor gone: reconnecting"), "{text}");
    assert!(text.contains("worker"), "{text}");
}

#[test]
fn help_lists_the_keys() {
    let mut app = shop();
    app.mode = super::app::Mode::Help;
    let text = screen(&app, 80, 24);
    for (key, _) in super::input::KEYS {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
}

#[test]
fn a_record_in_both_the_backlog_and_the_stream_shows_once() {
    let mut app = shop();
    let before = app.logs.len();
    let rec = |t: &str, line: &str| LogLine {
        service: "web".into(),
        record: format!("2026-11-23T09:38:{t}.000000Z out {line}\n"),
    };
    // Streamed first, then read back from the file; then one the file did not have yet.
    app.on_log(&rec("20", "late line"));
    app.on_log(&rec("12", "GET / 200 1.2ms"));
    app.on_log(&rec("20", "late line"));
    app.on_log(&rec("20", "same second, another line"));
    assert_eq!(app.logs.len(), before + 2);
}

#[test]
fn no_color_draws_without_colors() {
    let colors = |color: bool| {
        let mut app = shop();
        app.color = color;
        let mut term = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
        term.draw(|f| render::draw(f, &app)).expect("draw");
        term.backend()
            .buffer()
            .content()
            .iter()
            .filter(|c| {
                c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset
            })
            .count()
    };
    assert!(colors(true) > 0);
    assert_eq!(colors(false), 0);
}
