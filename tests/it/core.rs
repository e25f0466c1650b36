//! Issue 13's regressions: requests that overlap a stop, a service that is never ready, and
//! one slow tool that must not hold up every other service.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proctor::control::proto::{Body, Command as Cmd, Reply};
use proctor::State;

use crate::support::{alive, TestContext};

/// Runs `proctor ARGS…`, failing the test if it has not finished within `limit`.
fn run_within(ctx: &TestContext, args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = ctx
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn proctor");
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(child.id() as i32).expect("pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd");
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec::try_from(limit).expect("limit");
    let n = rustix::event::poll(&mut fds, Some(&ts)).expect("poll");
    if n == 0 {
        let _ = child.kill();
        let _ = child.wait();
        panic!("proctor {args:?} did not finish within {limit:?}");
    }
    child.wait_with_output().expect("output")
}

fn reply_of(c: &mut proctor::control::Client, id: u64) -> Result<Reply, String> {
    loop {
        let resp = c.recv().map_err(|e| e.to_string())?;
        if resp.id != Some(id) {
            continue;
        }
        return match resp.body {
            Body::Ok(r) => Ok(r),
            Body::Error(e) => Err(e.message),
            _ => continue,
        };
    }
}

/// `start web; (stop web &); start web` with a ready probe used to leave the stop waiting
/// for ever: the start that came during the stop began a new process before the stop's
/// answer was decided. The stop is answered once the process it stopped has ended.
#[test]
fn r13_a_start_during_a_stop_answers_both_and_the_service_runs() {
    let ctx = TestContext::new(
        r#"
[service.web]
command = ["sh", "-c", "trap 'sleep 0.3; exit 0' TERM; echo up; while :; do sleep 0.05; done"]
ready = { log = "up" }

[service.marker]
command = ["sleep", "1000"]
autostart = false
"#,
    );
    ctx.ok(&["up", "-d"]);
    let first = ctx.service("web").pid.expect("pid");
    let mut stopper = ctx.client();
    let mut starter = ctx.client();
    for c in [&mut stopper, &mut starter] {
        c.set_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
    }
    let mut events = ctx.events();
    // An event of our own making proves the subscription is in place.
    ctx.ok(&["start", "marker"]);
    events.until(Duration::from_secs(10), |e| e.service == "marker");
    let stop = stopper
        .send(Cmd::Stop {
            services: vec!["web".into()],
            timeout_ms: None,
        })
        .expect("stop");
    events.until(Duration::from_secs(10), |e| {
        e.service == "web" && e.state == State::Stopping
    });
    let start = starter
        .send(Cmd::Start {
            services: vec!["web".into()],
            overrides: None,
        })
        .expect("start");
    reply_of(&mut stopper, stop).expect("the stop is answered");
    let started = reply_of(&mut starter, start).expect("the start is answered");
    assert!(started.failures.is_empty(), "{:?}", started.failures);
    let s = ctx.service("web");
    assert_eq!(s.state, State::Running);
    assert!(s.ready);
    assert_ne!(s.pid, Some(first), "a fresh process after the stop");
    assert!(!alive(first), "the stopped process is gone");
}

/// A readiness deadline equal to the start limit's window used to make a service that is
/// never ready retry for ever, and `up -d` wait for ever.
#[test]
fn r13_a_service_that_is_never_ready_fails_and_up_returns() {
    let ctx = TestContext::new(
        r#"
[service.never]
command = ["sleep", "1000"]
ready = { exec = ["false"], interval = "20ms", deadline = "300ms" }
backoff = { initial = "10ms" }
start_limit = { burst = 2, interval = "300ms" }
"#,
    );
    let out = run_within(&ctx, &["up", "-d"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("never") && err.contains("start limit"),
        "{err}"
    );
    let s = ctx.service("never");
    assert_eq!(s.state, State::Failed);
    assert_eq!(s.restarts, 2);
}

/// One slow tool must not hold up the rest: a tmux whose `new-session` takes 3 s does not
/// delay the restart of a process service, nor a status request.
#[test]
fn r13_a_slow_tmux_does_not_delay_a_process_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wrapper = dir.path().join("slow-tmux");
    let real = which_tmux();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = new-session ] && sleep 3 && break; done\nexec {real} \"$@\"\n"
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ctx = TestContext::new(&format!(
        r#"
[project]
tmux_binary = "{}"

[service.fast]
command = ["sleep", "1000"]
backoff = {{ initial = "0s" }}

[service.slow]
backend = "tmux"
command = ["sleep", "1000"]
autostart = false

[service.marker]
command = ["sleep", "1000"]
autostart = false
"#,
        wrapper.display()
    ));
    ctx.ok(&["up", "-d"]);
    let old = ctx.service("fast").pid.expect("pid");
    let mut events = ctx.events();
    // An event of our own making proves the subscription is in place.
    ctx.ok(&["start", "marker"]);
    events.until(Duration::from_secs(10), |e| e.service == "marker");
    let mut c = ctx.client();
    c.send(Cmd::Start {
        services: vec!["slow".into()],
        overrides: None,
    })
    .expect("start slow");
    events.until(Duration::from_secs(10), |e| {
        e.service == "slow" && e.state == State::Starting
    });
    let t0 = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(old as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill");
    let back = events.until(Duration::from_secs(10), |e| {
        e.service == "fast" && e.state == State::Running && e.pid != Some(old)
    });
    let restart = t0.elapsed();
    let status_t0 = Instant::now();
    let slow = ctx.service("slow");
    let status = status_t0.elapsed();
    eprintln!("restart of fast took {restart:?}, status {status:?}, while tmux was starting");
    assert!(back.pid.is_some());
    assert_eq!(
        slow.state,
        State::Starting,
        "the slow tmux start is still under way"
    );
    assert!(
        restart < Duration::from_millis(1500) && status < Duration::from_millis(1500),
        "restart {restart:?} / status {status:?} waited for tmux"
    );
    // And the slow start completes on its own.
    events.until(Duration::from_secs(20), |e| {
        e.service == "slow" && e.state == State::Running
    });
}

fn which_tmux() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v tmux"])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "tmux is needed (CI installs it)");
    path
}
