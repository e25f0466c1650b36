//! Readiness and liveness probes, the notify protocol, dependencies and `wait`.

use std::time::{Duration, Instant};

use crate::support::{free_port, TestContext};
use proctor::State;

fn py_http(port: u16, delay: &str) -> String {
    format!(r#"["sh", "-c", "sleep {delay}; exec python3 -m http.server {port} --bind 127.0.0.1"]"#)
}

#[test]
fn tcp_ready_only_after_the_port_opens() {
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"
[service.slow]
command = {}
ready = {{ tcp = "127.0.0.1:{port}", interval = "100ms" }}
"#,
        py_http(port, "2")
    ));
    let t0 = Instant::now();
    ctx.ok(&["up", "-d"]);
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(2), "ready too early: {took:?}");
    let s = ctx.service("slow");
    assert_eq!(s.state, State::Running);
    assert!(s.ready);
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("really listening");
}

/// A starting service is probed on a fast schedule, not once per `interval`: with a 10 s
/// interval, a port that opens a moment after the spawn is still seen at once.
#[test]
fn readiness_is_seen_long_before_the_interval() {
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"
[service.web]
command = {}
ready = {{ tcp = "127.0.0.1:{port}", interval = "10s", deadline = "30s" }}
"#,
        py_http(port, "0.2")
    ));
    let t0 = Instant::now();
    ctx.ok(&["up", "-d"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "ready seen only after {took:?}"
    );
    assert!(ctx.service("web").ready);
}

#[test]
fn http_probe_checks_the_status() {
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"
[service.web]
command = {}
ready = {{ http = "http://127.0.0.1:{port}/", interval = "100ms" }}

[service.picky]
command = ["sleep", "1000"]
ready = {{ http = "http://127.0.0.1:{port}/missing", status = [200], interval = "100ms", timeout = "2s", deadline = "5s" }}
depends_on = {{ web = "ready" }}
restart = "no"
"#,
        py_http(port, "0"),
    ));
    // `picky` probes web's server for a path that answers 404: never ready.
    let out = ctx.run(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("picky") && err.contains("status 404"), "{err}");
    assert!(ctx.service("web").ready);
}

#[test]
fn unix_and_exec_probes() {
    let ctx = TestContext::new(
        r#"
[service.sock]
command = ["python3", "-c", "import socket,time; time.sleep(0.5); s=socket.socket(socket.AF_UNIX); s.bind('app.sock'); s.listen(); time.sleep(1000)"]
ready = { unix = "app.sock", interval = "50ms" }

[service.marker]
command = ["sh", "-c", "sleep 0.3; touch marker; exec sleep 1000"]
ready = { exec = ["test", "-f", "marker"], interval = "50ms" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    assert!(ctx.service("sock").ready);
    assert!(ctx.service("marker").ready);
    assert!(ctx.dir.path().join("marker").exists());
}

#[test]
fn missed_deadline_fails_the_start_and_the_policy_applies() {
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"
[service.never]
command = ["sleep", "1000"]
ready = {{ tcp = "127.0.0.1:{port}", interval = "50ms", deadline = "500ms" }}
restart = "on-failure"
backoff = {{ initial = "10ms" }}
start_limit = {{ burst = 1, interval = "60s" }}
"#
    ));
    let out = ctx.run(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let s = ctx.service("never");
    assert_eq!(s.state, State::Failed);
    assert_eq!(
        s.restarts, 1,
        "restarted once per the policy, then the limit"
    );
    assert!(s.probe_error.is_some() || s.reason.is_some());
}

#[test]
fn log_line_readiness() {
    let ctx = TestContext::new(
        r#"
[service.db]
command = ["sh", "-c", "echo booting; sleep 1; echo 'database system is ready'; exec sleep 1000"]
ready = { log = "system is ready" }
"#,
    );
    let t0 = Instant::now();
    ctx.ok(&["up", "-d"]);
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert!(ctx.service("db").ready);
}

#[test]
fn liveness_failure_restarts_the_service() {
    let ctx = TestContext::new(
        r#"
[service.zombie]
command = ["sh", "-c", "touch alive; exec sleep 1000"]
ready = { exec = ["test", "-f", "alive"], interval = "10ms" }
live = { exec = ["test", "-f", "alive"], interval = "100ms", failures = 2 }
backoff = { initial = "10ms" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let first = ctx.service("zombie").pid.expect("pid");
    let mut events = ctx.events();
    std::fs::remove_file(ctx.dir.path().join("alive")).expect("rm");
    let ev = events.until(Duration::from_secs(10), |e| {
        e.reason.as_deref().unwrap_or("").contains("liveness")
    });
    assert!(ev.reason.unwrap_or_default().contains("2 times"));
    let ev = events.until(Duration::from_secs(10), |e| e.state == State::Running);
    assert_ne!(ev.pid, Some(first));
}

#[test]
fn notify_with_systemd_notify_and_a_plain_datagram() {
    let ctx = TestContext::new(
        r#"
[service.sdnotify]
command = ["sh", "-c", "sleep 0.3; systemd-notify --ready --status='serving 3 clients'; exec sleep 1000"]
ready = { notify = true, deadline = "20s" }

[service.script]
command = ["python3", "-c", "import os,socket,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'STATUS=warming up\\nREADY=1', os.environ['NOTIFY_SOCKET']); time.sleep(1000)"]
ready = { notify = true, deadline = "20s" }
"#,
    );
    let t0 = Instant::now();
    ctx.ok(&["up", "-d"]);
    // systemd-notify waits for the barrier; without barrier support it would take ~5 s.
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    let s = ctx.service("sdnotify");
    assert!(s.ready);
    assert_eq!(s.status_text.as_deref(), Some("serving 3 clients"));
    let s = ctx.service("script");
    assert!(s.ready);
    assert_eq!(s.status_text.as_deref(), Some("warming up"));
    let table = ctx.ok(&["status"]);
    assert!(table.contains("status: serving 3 clients"), "{table}");
}

#[test]
fn watchdog_expiry_restarts() {
    let ctx = TestContext::new(
        r#"
[service.wd]
command = ["python3", "-c", "import os,socket,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET']); [s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET']) or time.sleep(0.05) for _ in range(10)]; time.sleep(1000)"]
ready = { notify = true, watchdog = "300ms" }
backoff = { initial = "10ms" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    let ev = events.until(Duration::from_secs(10), |e| {
        e.reason.as_deref().unwrap_or("").contains("watchdog")
    });
    assert_eq!(ev.service, "wd");
}

#[test]
fn dependencies_start_in_order_and_stop_in_reverse() {
    let ctx = TestContext::new(
        r#"
[service.web]
command = ["sh", "-c", "date +%s%N > web.start; echo started; exec sleep 1000"]
depends_on = { db = "ready", migrate = "completed" }
# Ready once web.start is written, so `up` never returns before the file is complete.
ready = { log = "^started$" }

[service.migrate]
command = ["sh", "-c", "date +%s%N > migrate.start; sleep 0.3; date +%s%N > migrate.end"]
restart = "no"
depends_on = ["db"]

[service.db]
command = ["sh", "-c", "sleep 0.3; date +%s%N > db.ready; echo ready; exec sleep 1000"]
ready = { log = "^ready$" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let read = |f: &str| -> u128 {
        std::fs::read_to_string(ctx.dir.path().join(f))
            .expect(f)
            .trim()
            .parse()
            .expect("ns")
    };
    assert!(read("db.ready") <= read("migrate.start"));
    assert!(read("migrate.end") <= read("web.start"));
    assert_eq!(ctx.service("migrate").state, State::Exited);
    // Stopping db stops web first.
    let out = ctx.run(&["stop", "db"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("web"));
    assert_eq!(ctx.service("web").state, State::Stopped);
    // Starting web starts db again.
    let out = ctx.run(&["start", "web"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(ctx.service("db").state, State::Running);
}

#[test]
fn wait_returns_when_ready_or_times_out() {
    let ctx = TestContext::new(
        r#"
[service.slow]
command = ["sh", "-c", "sleep 1; echo up; exec sleep 1000"]
ready = { log = "up" }
autostart = false

[service.never]
command = ["sleep", "1000"]
ready = { log = "never printed" }
autostart = false
"#,
    );
    ctx.ok(&["up", "-d"]);
    ctx.client()
        .send(proctor::control::proto::Command::Start {
            services: vec!["slow".into(), "never".into()],
            overrides: None,
        })
        .expect("start");
    ctx.ok(&["wait", "slow", "--timeout", "10s"]);
    let out = ctx.run(&["wait", "never", "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn probes_do_not_leak_descriptors() {
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"
[service.idle]
command = ["sleep", "1000"]

[service.refused]
command = ["sleep", "1000"]
ready = {{ tcp = "127.0.0.1:{port}", interval = "1ms", deadline = "1500ms" }}
restart = "no"
autostart = false
"#
    ));
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    let fds = || {
        std::fs::read_dir(format!("/proc/{sup}/fd"))
            .expect("fds")
            .count()
    };
    // The first start opens the service's log file, which stays open; count after it.
    let out = ctx.run(&["start", "refused"]);
    assert_eq!(out.status.code(), Some(1), "the probe never passes");
    let before = fds();
    let out = ctx.run(&["start", "refused"]);
    assert_eq!(out.status.code(), Some(1), "the probe never passes");
    assert_eq!(ctx.service("refused").state, State::Failed);
    // The status connection just closed may take a moment to be dropped by the supervisor.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut after = fds();
    while after > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        after = fds();
    }
    // Fewer is fine: `before` may still count a connection the supervisor was dropping.
    assert!(
        after <= before,
        "descriptors leaked over ~1000 probe rounds: {before} → {after}"
    );
}

#[test]
fn mainpid_hand_over_keeps_a_forking_daemon_supervised() {
    // The leader starts the real daemon in the background, names it with MAINPID= and
    // READY=1, then exits 0, as forking daemons under systemd do.
    let ctx = TestContext::new(
        r#"
[service.forker]
command = ["sh", "-c", "sleep 1000 & systemd-notify --ready --pid=$! ; exit 0"]
ready = { notify = true, deadline = "20s" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let s = ctx.service("forker");
    let main = s.main_pid.expect("MAINPID recorded");
    assert_eq!(s.pid, Some(main), "status shows the main process");
    // Wait for the leader (the group's first process) to exit and be reaped: the service
    // must still be running.
    let (_, _, leader) = crate::support::stat(main).expect("main runs");
    assert_ne!(leader, main);
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::support::stat(leader).is_some() {
        assert!(Instant::now() < deadline, "the leader was never reaped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = ctx.service("forker");
    assert_eq!(s.state, State::Running, "{s:?}");
    assert_eq!(s.restarts, 0);
    // Killing the main process ends the service and the policy restarts it.
    let mut events = ctx.events();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(main as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill");
    let ev = events.until(Duration::from_secs(10), |e| e.state == State::Backoff);
    assert_eq!(ev.reason.as_deref(), Some("ended"));
    ctx.ok(&["stop", "forker"]);
    assert!(!crate::support::alive(main));
}

#[test]
fn a_port_held_by_another_program_is_not_the_service_being_ready() {
    // This test process holds the port; the service never listens on it.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let ctx = TestContext::new(&format!(
        r#"
[service.impostor]
command = ["sleep", "1000"]
ready = {{ tcp = "127.0.0.1:{port}", interval = "20ms", deadline = "20s" }}

[service.dependent]
command = ["sleep", "1000"]
depends_on = ["impostor"]
"#
    ));
    let _ = ctx.run(&["up", "-d", "--timeout", "1s"]);
    let want = format!("port {port} is held by pid {}", std::process::id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = ctx.service("impostor");
        assert!(!s.ready, "ready on a port it does not hold");
        if s.probe_error.as_deref().is_some_and(|e| e.contains(&want)) {
            assert!(s
                .probe_error
                .as_deref()
                .is_some_and(|e| e.contains("not by this service")));
            break;
        }
        assert!(Instant::now() < deadline, "no port-held reason: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        ctx.service("dependent").pid.is_none(),
        "the dependent waits"
    );
    drop(holder);
}
