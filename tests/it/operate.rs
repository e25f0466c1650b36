//! Issue 14: operating a running project from the command line — signals to services,
//! per-start overrides, and commands that keep working when the spec is broken or renamed.

use std::time::Duration;

use crate::support::{follow_until, stderr, TestContext};

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

#[test]
fn up_d_of_a_service_never_ready_returns_within_its_timeout_naming_it() {
    let ctx = TestContext::new(
        "[service.ok]\ncommand = [\"sleep\", \"1000\"]\n\n[service.never]\ncommand = [\"sleep\", \"1000\"]\nready = { exec = [\"false\"], interval = \"50ms\" }\n",
    );
    let t0 = std::time::Instant::now();
    let out = ctx.run(&["up", "-d", "--timeout", "1s"]);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("timed out after 1s waiting for never: starting (not ready: exec"),
        "{err}"
    );
    assert!(!err.contains("ok:"), "the ready one is not named: {err}");
}
