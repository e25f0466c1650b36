//! Issue 14: `proctor signal NAME… SIG` reaches every process of a service (its process
//! group; a container's main process), which keeps running.

use std::time::{Duration, Instant};

use proctor::control::proto::{Body, Command};
use proctor::control::Client;

use crate::backends::{podman_usable, unique_project, IMAGE};
use crate::support::{require, stderr, which, TestContext};

/// A shell that traps USR1 and a child shell of its group that does too; each says so.
/// Each ticks only once its trap is set, so a signal sent after both ticks cannot find
/// either one still without its trap (under load the child used to be killed by the
/// default action, its `child-usr1` never came).
const TRAPS: &str = r#"trap 'echo parent-usr1' USR1; sh -c "trap 'echo child-usr1' USR1; while :; do echo child-tick; sleep 0.05; done" & while :; do echo parent-tick; sleep 0.05; done"#;

/// Follows `service`'s log lines, once every one of `ticks` is seen to flow, so that
/// nothing caused after this returns can be missed.
fn follow(ctx: &TestContext, service: &str, ticks: &[&str]) -> Client {
    let mut c = ctx.client();
    c.send(Command::Follow {
        services: vec![service.into()],
    })
    .expect("follow");
    until_all(&mut c, ticks);
    c
}

/// What `TRAPS` prints once both its shells have their traps set.
const BOTH_TICKS: &[&str] = &["parent-tick", "child-tick"];

/// Reads log lines until each of `texts` has been in one, in any order (10 s at most).
fn until_all(c: &mut Client, texts: &[&str]) {
    let mut missing: Vec<&str> = texts.to_vec();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no log line with {missing:?} within 10s");
        c.set_timeout(Some(left)).expect("timeout");
        if let Body::Log(l) = c.recv().expect("log stream").body {
            missing.retain(|t| !l.record.contains(t));
        }
    }
}

#[test]
fn signal_reaches_the_whole_group_and_refuses_a_stopped_service() {
    let ctx = TestContext::new(&format!(
        r#"
[service.web]
command = ["sh", "-c", {TRAPS:?}]

[service.idle]
command = ["sleep", "1000"]
autostart = false
"#
    ));
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("web").pid;
    let mut c = follow(&ctx, "web", BOTH_TICKS);
    let out = ctx.ok(&["signal", "web", "USR1"]);
    assert!(out.contains("web: sent USR1"), "{out}");
    until_all(&mut c, &["parent-usr1", "child-usr1"]);
    // The same by its full name and by number (USR1 is 10 on Linux but on a few CPUs).
    ctx.ok(&["signal", "web", "SIGUSR1"]);
    until_all(&mut c, &["parent-usr1", "child-usr1"]);
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        ctx.ok(&["signal", "web", "10"]);
        until_all(&mut c, &["parent-usr1", "child-usr1"]);
    }
    assert_eq!(ctx.service("web").pid, pid, "it keeps running");

    let out = ctx.run(&["signal", "web", "idle", "HUP"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not running, so not signalled: idle"),
        "{}",
        stderr(&out)
    );
    let out = ctx.run(&["signal", "nope", "HUP"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    let out = ctx.run(&["signal", "web", "NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown signal"), "{}", stderr(&out));
    let out = ctx.run(&["signal", "web"]);
    assert_eq!(out.status.code(), Some(2), "a name and a signal are needed");
}

#[test]
fn signal_reaches_a_tmux_panes_group() {
    if require("tmux", which("tmux")).is_none() {
        return;
    }
    let ctx = TestContext::new(&format!(
        r#"
[project]
name = "{}"

[service.web]
backend = "tmux"
command = ["sh", "-c", {TRAPS:?}]
"#,
        unique_project()
    ));
    ctx.ok(&["up", "-d"]);
    let mut c = follow(&ctx, "web", BOTH_TICKS);
    ctx.ok(&["signal", "web", "USR1"]);
    until_all(&mut c, &["parent-usr1", "child-usr1"]);
    ctx.ok(&["down"]);
}

/// A container gets the signal through its runtime (`kill --signal`), which hands it to
/// the container's main process.
#[test]
fn signal_reaches_a_containers_main_process() {
    if !podman_usable() {
        return;
    }
    let ctx = TestContext::new(&format!(
        r#"
[project]
name = "{}"

[service.web]
backend = "container"
image = "{IMAGE}"
command = ["sh", "-c", "trap 'echo parent-usr1' USR1; while :; do echo tick; sleep 0.05; done"]
stop_timeout = "1s"
"#,
        unique_project()
    ));
    ctx.ok(&["up", "-d"]);
    let mut c = follow(&ctx, "web", &["tick"]);
    ctx.ok(&["signal", "web", "USR1"]);
    until_all(&mut c, &["parent-usr1"]);
    ctx.ok(&["down"]);
}
