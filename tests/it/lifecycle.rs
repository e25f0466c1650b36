//! Restarts, backoff, start limits, stop escalation, whole-group kill, reaping.

use std::time::Duration;

use crate::support::{alive, group_members, zombies_of, TestContext};
use proctor::State;

#[test]
fn crashing_service_restarts_with_growing_delays_then_fails() {
    let ctx = TestContext::new(
        r#"
[service.crash]
command = ["sh", "-c", "exit 3"]
backoff = { initial = "50ms", max = "5s", factor = 2.0 }
start_limit = { burst = 3, interval = "60s" }
"#,
    );
    ctx.ok(&["up", "-d", "--", "crash"]);
    let mut events = ctx.events();
    // `up -d` returned once it was up; now watch it crash and back off until it fails.
    let failed = events.until(Duration::from_secs(20), |e| e.state == State::Failed);
    assert!(
        failed
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("start limit"),
        "reason: {:?}",
        failed.reason
    );
    let s = ctx.service("crash");
    assert_eq!(s.state, State::Failed);
    assert_eq!(s.restarts, 3);
    assert_eq!(s.last_exit.as_ref().and_then(|e| e.code), Some(3));
}

#[test]
fn backoff_delays_grow() {
    let ctx = TestContext::new(
        r#"
[service.crash]
command = ["sh", "-c", "exit 1"]
backoff = { initial = "100ms", max = "5s", factor = 3.0 }
start_limit = { burst = 10, interval = "60s" }
autostart = false
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    ctx.client()
        .send(proctor::control::proto::Command::Start {
            services: vec!["crash".into()],
            overrides: None,
        })
        .expect("start");
    let mut starts = Vec::new();
    while starts.len() < 4 {
        let e = events.until(Duration::from_secs(20), |e| e.state == State::Running);
        starts.push(e.at);
    }
    let gaps: Vec<Duration> = starts
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).expect("ordered"))
        .collect();
    // 100ms, 300ms, 900ms: each gap at least the delay, and growing.
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(300), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(900), "{gaps:?}");
    assert!(gaps[0] < gaps[1] && gaps[1] < gaps[2], "{gaps:?}");
}

#[test]
fn stop_escalates_to_sigkill_and_kills_the_whole_group() {
    let ctx = TestContext::new(
        r#"
[service.stubborn]
command = ["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"]
stop_timeout = "300ms"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let s = ctx.service("stubborn");
    let pid = s.pid.expect("running");
    // The shell and its two sleeps share the group.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while group_members(pid).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "group never formed");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = ctx.ok(&["stop", "stubborn"]);
    assert!(out.contains("stubborn: stopped"), "{out}");
    assert!(group_members(pid).is_empty(), "group survived the stop");
    let s = ctx.service("stubborn");
    let exit = s.last_exit.expect("exit recorded");
    assert!(exit.timed_out, "{exit:?}");
    assert_eq!(exit.signal, Some(9));
    assert!(zombies_of(ctx.supervisor_pid()).is_empty());
}

#[test]
fn stop_kills_grandchildren_of_a_cooperative_service() {
    let ctx = TestContext::new(
        r#"
[service.tree]
command = "sh -c 'sleep 1000 & sleep 1000'"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("tree").pid.expect("running");
    ctx.ok(&["stop", "tree"]);
    assert!(group_members(pid).is_empty());
    assert!(!alive(pid));
    let exit = ctx.service("tree").last_exit.expect("exit");
    assert!(!exit.timed_out);
    assert_eq!(exit.signal, Some(15));
}

#[test]
fn crashed_children_are_reaped_and_their_group_is_cleaned() {
    let ctx = TestContext::new(
        r#"
[service.leaky]
command = ["sh", "-c", "echo $$$$ > pgid; sleep 1000 & exit 1"]
restart = "no"
"#,
    );
    let mut events = None;
    ctx.ok(&["up", "-d"]);
    if ctx.service("leaky").state != State::Failed {
        let ev = events.get_or_insert_with(|| ctx.events());
        if ctx.service("leaky").state != State::Failed {
            ev.until(Duration::from_secs(10), |e| e.state == State::Failed);
        }
    }
    let s = ctx.service("leaky");
    assert_eq!(s.last_exit.and_then(|e| e.code), Some(1));
    let pgid: u32 = std::fs::read_to_string(ctx.dir.path().join("pgid"))
        .expect("pgid file")
        .trim()
        .parse()
        .expect("pgid");
    assert!(
        group_members(pgid).is_empty(),
        "the background sleep survived"
    );
    assert!(zombies_of(ctx.supervisor_pid()).is_empty());
}

#[test]
fn programs_are_found_on_the_service_path_and_keep_their_argv0() {
    let ctx = TestContext::new(
        r#"
[service.aliased]
command = ["sleep-alias", "1000"]
env = { PATH = "bin:/usr/bin:/bin" }
"#,
    );
    // A relative `$PATH` entry is taken from the service's directory, as execvp would.
    let bin = ctx.dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a sleep binary");
    std::os::unix::fs::symlink(sleep, bin.join("sleep-alias")).expect("symlink");
    ctx.ok(&["up", "-d"]);
    let s = ctx.service("aliased");
    assert_eq!(s.state, State::Running);
    let pid = s.pid.expect("pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    assert_eq!(argv0, b"sleep-alias", "argv[0] is the name as written");
}
