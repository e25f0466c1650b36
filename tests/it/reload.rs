//! Issue 14: a running project changed without stopping it — reload applies only the
//! difference; signals to the supervisor itself.

use std::collections::BTreeMap;
use std::time::Duration;

use proctor::State;

use crate::support::{alive, TestContext};

const THREE: &str = r#"
[service.a]
command = ["sleep", "1000"]
env = { VERSION = "1" }

[service.b]
command = ["sleep", "1001"]

[service.c]
command = ["sleep", "1002"]
"#;

/// Every service's pid and when its state last changed, in microseconds since the epoch.
fn snapshot(ctx: &TestContext) -> BTreeMap<String, (Option<u32>, u128)> {
    ctx.status()
        .services
        .into_iter()
        .map(|s| {
            let us = s
                .since
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            (s.name, (s.pid, us))
        })
        .collect()
}

/// Whether two snapshots show the same processes, unchanged since: `since` is derived from
/// the supervisor's monotonic clock at each status, so it may differ by a microsecond.
fn same(a: &(Option<u32>, u128), b: &(Option<u32>, u128)) -> bool {
    a.0 == b.0 && a.1.abs_diff(b.1) < 1000
}

#[track_caller]
fn assert_same(
    a: &BTreeMap<String, (Option<u32>, u128)>,
    b: &BTreeMap<String, (Option<u32>, u128)>,
) {
    assert!(
        a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w))),
        "changed:\n{a:?}\n{b:?}"
    );
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_changed_env_restarts_only_that_service() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    ctx.write_spec(&THREE.replace("VERSION = \"1\"", "VERSION = \"2\""));
    let plan = ctx.ok(&["reload", "--dry-run"]);
    assert_eq!(plan.trim(), "~ a  restart: env.VERSION changed");
    assert_same(&snapshot(&ctx), &before);
    ctx.ok(&["reload"]);
    let after = snapshot(&ctx);
    assert_ne!(after["a"].0, before["a"].0, "a was restarted");
    assert!(after["a"].0.is_some());
    assert!(
        same(&after["b"], &before["b"]),
        "b untouched: same pid, same uptime"
    );
    assert!(same(&after["c"], &before["c"]), "c untouched");
    assert!(!alive(before["a"].0.expect("pid")), "the old a is gone");
    // Nothing changed since: a second reload does nothing.
    let out = ctx.run(&["reload"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    assert_same(&snapshot(&ctx), &after);
}

#[test]
fn added_services_start_and_removed_ones_stop() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    let c_pid = before["c"].0.expect("pid");
    let spec = THREE.replace(
        "[service.c]\ncommand = [\"sleep\", \"1002\"]\n",
        "[service.d]\ncommand = [\"sleep\", \"1003\"]\n\n[service.e]\ncommand = [\"sleep\", \"1004\"]\nautostart = false\n",
    );
    ctx.write_spec(&spec);
    let json = ctx.ok(&["reload", "--dry-run", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        plan,
        serde_json::json!([
            {"service": "d", "action": "start"},
            {"service": "e", "action": "add"},
            {"service": "c", "action": "stop"}
        ])
    );
    let mut events = ctx.events();
    ctx.ok(&["reload"]);
    events.until(Duration::from_secs(10), |e| {
        e.service == "c" && e.state == State::Stopped
    });
    let after = snapshot(&ctx);
    assert!(!after.contains_key("c"), "c is forgotten: {after:?}");
    assert!(!alive(c_pid));
    assert!(after["d"].0.is_some(), "d started");
    assert_eq!(after["e"].0, None, "e is known, not started");
    assert!(same(&after["a"], &before["a"]));
    assert!(same(&after["b"], &before["b"]));
    // A service added since can be started by name.
    ctx.ok(&["start", "e"]);
    assert_eq!(ctx.service("e").state, State::Running);
}

#[test]
fn an_invalid_edit_changes_nothing_and_says_where() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    ctx.write_spec(&format!("{THREE}\n[service.d]\ncommand = 42\n"));
    let out = ctx.run(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("proctor.toml:") && err.contains("command"),
        "{err}"
    );
    assert!(err.contains("nothing changed"), "{err}");
    assert_same(&snapshot(&ctx), &before);
}

#[test]
fn sighup_reloads_a_detached_supervisor() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    let sup = ctx.supervisor_pid();
    ctx.write_spec(&THREE.replace("VERSION = \"1\"", "VERSION = \"2\""));
    let mut events = ctx.events();
    signal(sup, rustix::process::Signal::HUP);
    let running = events.until(Duration::from_secs(10), |e| {
        e.service == "a" && e.state == State::Running
    });
    assert_ne!(running.pid, before["a"].0);
    assert!(alive(sup), "the supervisor lives on");
    assert_eq!(ctx.supervisor_pid(), sup);
    let after = snapshot(&ctx);
    assert!(same(&after["b"], &before["b"]));
    assert!(same(&after["c"], &before["c"]));
}

#[test]
fn restart_takes_the_command_from_the_file_and_up_d_reloads() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    ctx.write_spec(&THREE.replace("\"sleep\", \"1001\"", "\"sleep\", \"2001\""));
    ctx.ok(&["restart", "b"]);
    let b = ctx.service("b").pid.expect("pid");
    let cmdline = std::fs::read(format!("/proc/{b}/cmdline")).expect("cmdline");
    assert_eq!(cmdline, b"sleep\x002001\x00");
    // `up -d` on a running project applies the file as it is now.
    let before = snapshot(&ctx);
    ctx.write_spec(&THREE.replace("\"sleep\", \"1002\"", "\"sleep\", \"2002\""));
    let out = ctx.run(&["up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("~ c  restart: command changed"),
        "{}",
        stderr(&out)
    );
    let after = snapshot(&ctx);
    assert_ne!(after["c"].0, before["c"].0);
    assert!(same(&after["a"], &before["a"]));
}

#[test]
fn a_dependent_of_a_recreated_dependency_keeps_running() {
    let spec = r#"
[service.db]
command = ["sh", "-c", "echo ready; exec sleep 1000"]
ready = { log = "ready" }
env = { V = "1" }

[service.web]
command = ["sleep", "1000"]
depends_on = { db = "ready" }
"#;
    let ctx = TestContext::new(spec);
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    ctx.write_spec(&spec.replace("V = \"1\"", "V = \"2\""));
    ctx.ok(&["reload"]);
    let after = snapshot(&ctx);
    assert_ne!(after["db"].0, before["db"].0, "db was recreated");
    assert!(
        same(&after["web"], &before["web"]),
        "web keeps running (documented rule)"
    );
    assert!(ctx.service("db").ready);
}

#[test]
fn supervisor_only_changes_apply_without_a_restart_and_ad_hoc_services_survive() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    ctx.ok(&["run", "job", "--", "sleep", "1000"]);
    let before = snapshot(&ctx);
    ctx.write_spec(&format!(
        "{}stop_timeout = \"3s\"\nlogs = {{ max_size = \"1MB\" }}\n",
        THREE.replace("[service.b]\n", "[service.b]\nrestart = \"always\"\n")
    ));
    let plan = ctx.ok(&["reload", "--dry-run"]);
    assert!(plan.contains("~ b  apply: restart changed"), "{plan}");
    assert!(
        plan.contains("~ c  apply: stop_timeout, logs changed"),
        "{plan}"
    );
    ctx.ok(&["reload"]);
    assert_same(&snapshot(&ctx), &before);
}

#[test]
fn a_new_project_name_is_refused() {
    let ctx = TestContext::new(THREE);
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    ctx.write_spec(&format!("[project]\nname = \"renamed\"\n{THREE}"));
    let out = ctx.run(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("project.name") && err.contains("proctor down"),
        "{err}"
    );
    assert_same(&snapshot(&ctx), &before);
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("pid"),
        sig,
    )
    .expect("signal");
}

#[test]
fn start_overrides_hold_for_restarts_until_a_reload() {
    let ctx = TestContext::new(
        "[service.job]\ncommand = [\"sleep\", \"1000\"]\nenv = { A = \"1\" }\nautostart = false\n",
    );
    ctx.ok(&["up", "-d"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_arg = dir.path().to_string_lossy().into_owned();
    ctx.ok(&[
        "start", "job", "-e", "X=42", "--cwd", &dir_arg, "--", "2000",
    ]);
    let look = |ctx: &TestContext| {
        let pid = ctx.service("job").pid.expect("pid");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        let env: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
        (cmdline, env, cwd)
    };
    let (cmdline, env, cwd) = look(&ctx);
    assert_eq!(cmdline, b"sleep\x001000\x002000\x00");
    assert!(env.iter().any(|v| v == "X=42") && env.iter().any(|v| v == "A=1"));
    assert_eq!(cwd, dir.path().canonicalize().expect("canonical"));
    ctx.ok(&["restart", "job"]);
    assert_eq!(
        look(&ctx).0,
        b"sleep\x001000\x002000\x00",
        "a restart keeps them"
    );
    let refused = ctx.run(&["start", "job", "-e", "X=1"]);
    assert_eq!(refused.status.code(), Some(1), "not while it runs");
    ctx.ok(&["reload"]);
    ctx.ok(&["restart", "job"]);
    let (cmdline, env, _) = look(&ctx);
    assert_eq!(cmdline, b"sleep\x001000\x00", "a reload drops them");
    assert!(!env.iter().any(|v| v == "X=42"));
}

/// Waits for a log line of the followed services containing `text`.
fn follow_until(c: &mut proctor::control::Client, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no log line with {text:?} within 10s");
        c.set_timeout(Some(left)).expect("timeout");
        let resp = c.recv().expect("log stream");
        if let proctor::control::proto::Body::Log(l) = resp.body {
            if l.record.contains(text) {
                return;
            }
        }
    }
}

#[test]
fn changed_config_files_get_the_reload_signal_or_a_restart() {
    let spec = r#"
[service.web]
command = ["sh", "-c", "trap 'echo reloaded $(cat app.conf)' HUP; while :; do echo tick; sleep 0.1; done"]
reload_on = ["app.conf"]
reload_signal = "HUP"

[service.plain]
command = ["sleep", "1000"]
reload_on = "plain.conf"
"#;
    let ctx = TestContext::new(spec);
    std::fs::write(ctx.dir.path().join("app.conf"), "v1").expect("write");
    std::fs::write(ctx.dir.path().join("plain.conf"), "v1").expect("write");
    ctx.ok(&["up", "-d"]);
    let before = snapshot(&ctx);
    let mut c = ctx.client();
    c.send(proctor::control::proto::Command::Follow {
        services: vec!["web".into()],
    })
    .expect("follow");
    // A line of its own proves the stream is live before anything happens.
    follow_until(&mut c, "tick");
    assert_eq!(
        ctx.ok(&["reload", "--dry-run"]).trim(),
        "",
        "nothing changed yet"
    );
    std::fs::write(ctx.dir.path().join("app.conf"), "v2").expect("write");
    std::fs::write(ctx.dir.path().join("plain.conf"), "v2").expect("write");
    let plan = ctx.ok(&["reload", "--dry-run"]);
    assert!(
        plan.contains("~ web    signal: reload_on files changed; sends SIGHUP"),
        "{plan}"
    );
    assert!(
        plan.contains("~ plain  restart: reload_on files changed"),
        "{plan}"
    );
    ctx.ok(&["reload"]);
    follow_until(&mut c, "reloaded v2");
    let after = snapshot(&ctx);
    assert!(
        same(&after["web"], &before["web"]),
        "web re-read its config in place"
    );
    assert_ne!(after["plain"].0, before["plain"].0, "plain was restarted");
    let out = ctx.run(&["reload"]);
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
}

#[test]
fn signal_reaches_the_whole_group_and_refuses_a_stopped_service() {
    let ctx = TestContext::new(
        r#"
[service.web]
command = ["sh", "-c", "trap 'echo parent-usr1' USR1; sh -c \"trap 'echo child-usr1' USR1; while :; do sleep 0.05; done\" & while :; do echo tick; sleep 0.05; done"]

[service.idle]
command = ["sleep", "1000"]
autostart = false
"#,
    );
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("web").pid;
    let mut c = ctx.client();
    c.send(proctor::control::proto::Command::Follow {
        services: vec!["web".into()],
    })
    .expect("follow");
    follow_until(&mut c, "tick");
    let out = ctx.ok(&["signal", "web", "USR1"]);
    assert!(out.contains("web: sent USR1"), "{out}");
    follow_until(&mut c, "parent-usr1");
    let mut c2 = ctx.client();
    c2.send(proctor::control::proto::Command::Follow {
        services: vec!["web".into()],
    })
    .expect("follow");
    follow_until(&mut c2, "tick");
    ctx.ok(&["signal", "web", "SIGUSR1"]);
    follow_until(&mut c2, "child-usr1");
    assert_eq!(ctx.service("web").pid, pid, "it keeps running");
    let out = ctx.run(&["signal", "idle", "HUP"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    let out = ctx.run(&["signal", "web", "NOPE"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("unknown signal"), "{}", stderr(&out));
}

/// A project run without `PROCTOR_HOME`: its state dir derives from the spec (name and
/// path), under a temp `XDG_STATE_HOME`.
fn without_home(ctx: &TestContext, xdg: &std::path::Path, args: &[&str]) -> std::process::Output {
    ctx.cmd()
        .env_remove("PROCTOR_HOME")
        .env("XDG_STATE_HOME", xdg)
        .args(args)
        .output()
        .expect("run proctor")
}

#[test]
fn an_invalid_or_renamed_spec_does_not_lock_anyone_out() {
    let ctx = TestContext::new(
        "[project]\nname = \"old\"\n\n[service.web]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let xdg = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| without_home(&ctx, xdg.path(), args);
    assert!(run(&["up", "-d"]).status.success());
    // A typo while it runs: status, logs and stop still reach the supervisor, with a warning.
    ctx.write_spec("[project]\nname = \"old\"\n\n[service.web]\ncommand = [\"sleep\", \"1000\"\n");
    let status = run(&["status", "--json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stderr(&status).contains("invalid spec"),
        "{}",
        stderr(&status)
    );
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(v["services"][0]["state"], "running");
    assert!(run(&["logs", "web"]).status.success());
    // Renamed: `up` refuses to start a second copy, naming the running one.
    ctx.write_spec("[project]\nname = \"new\"\n\n[service.web]\ncommand = [\"sleep\", \"1000\"]\n");
    let up = run(&["up", "-d"]);
    assert_eq!(up.status.code(), Some(1));
    let err = stderr(&up);
    assert!(
        err.contains("already runs") && err.contains("\"old\""),
        "{err}"
    );
    let start = run(&["start", "web"]);
    assert_eq!(start.status.code(), Some(1), "{}", stderr(&start));
    // `down` finds the old supervisor through the file, and then the new name can start.
    let down = run(&["down"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("old") || String::from_utf8_lossy(&down.stdout).contains("stopped")
    );
    assert!(run(&["up", "-d"]).status.success());
    let status = run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(v["project"], "new");
    assert!(run(&["down"]).status.success());
}
