//! Issue 14: signals to the supervisor itself — a foreground `up` that loses its terminal,
//! a second Ctrl-C, and QUIT leaving the services to the next supervisor.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::Duration;

use proctor::State;
use rustix::process::Signal;

use crate::support::{alive, TestContext};

fn signal(pid: u32, sig: Signal) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("pid"),
        sig,
    )
    .expect("signal");
}

/// Waits for `child` to exit within `limit`; fails the test otherwise.
fn exits_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
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
        panic!("the supervisor did not exit within {limit:?}");
    }
    child.wait().expect("wait")
}

/// A foreground `up` of `spec`, returned once its services are up (it tells a stand-in
/// for systemd's notify socket), with the services' pids.
fn foreground_up(ctx: &TestContext) -> (Child, Vec<u32>) {
    let path = ctx.home().join("manager.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let child = ctx
        .cmd()
        .arg("up")
        .env("NOTIFY_SOCKET", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).expect("READY=1");
    assert_eq!(&buf[..n], b"READY=1");
    let pids = ctx.status().services.iter().filter_map(|s| s.pid).collect();
    (child, pids)
}

#[test]
fn a_foreground_up_that_loses_its_terminal_stops_everything() {
    let ctx = TestContext::new("[service.web]\ncommand = [\"sleep\", \"1000\"]\n");
    let (mut up, pids) = foreground_up(&ctx);
    assert_eq!(pids.len(), 1);
    signal(up.id(), Signal::HUP);
    let status = exits_within(&mut up, Duration::from_secs(20));
    assert!(status.success(), "{status}");
    assert!(!alive(pids[0]), "the service was stopped, not orphaned");
}

#[test]
fn a_second_ctrl_c_kills_now() {
    let ctx = TestContext::new(
        r#"
[service.stubborn]
command = ["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]
stop_timeout = "120s"

[service.marker]
command = ["sleep", "1000"]
autostart = false
"#,
    );
    let (mut up, pids) = foreground_up(&ctx);
    let mut events = ctx.events();
    // An event of our own making proves the subscription is in place.
    ctx.ok(&["start", "marker"]);
    events.until(Duration::from_secs(10), |e| e.service == "marker");
    signal(up.id(), Signal::INT);
    // The first Ctrl-C is taken (two signals in a row could arrive as one).
    events.until(Duration::from_secs(10), |e| {
        e.service == "stubborn" && e.state == State::Stopping
    });
    signal(up.id(), Signal::INT);
    let status = exits_within(&mut up, Duration::from_secs(20));
    assert!(status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut up.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    assert!(err.contains("second Ctrl-C"), "{err}");
    assert!(!alive(pids[0]));
}

#[test]
fn quit_leaves_the_services_to_the_next_supervisor() {
    let ctx = TestContext::new("[service.web]\ncommand = [\"sleep\", \"1000\"]\n");
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    let web = ctx.service("web").pid.expect("pid");
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(sup as i32).expect("pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd");
    signal(sup, Signal::QUIT);
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec::try_from(Duration::from_secs(20)).expect("limit");
    assert_eq!(
        rustix::event::poll(&mut fds, Some(&ts)).expect("poll"),
        1,
        "the supervisor exits on QUIT"
    );
    assert!(alive(web), "the service was left running");
    // The next supervisor finds it as an orphan and replaces it.
    ctx.ok(&["up", "-d"]);
    assert!(!alive(web), "the orphan was stopped");
    let now = ctx.service("web");
    assert_eq!(now.state, State::Running);
    assert_ne!(now.pid, Some(web));
}
