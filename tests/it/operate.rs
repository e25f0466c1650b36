//! Issue 14: operating a running project from the command line — per-start overrides and
//! bounded waits. Signals to services are in `signal.rs`; commands that keep working when
//! the spec is broken or renamed in `spec_on_disk.rs`.

use std::time::Duration;

use crate::support::{stderr, TestContext};

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

/// Issue 18: the exec's verdict is read after the loop has gone on (a service cloned into
/// its cgroup as root): a program that cannot be executed still fails its start with the
/// reason, among services that start, and leaves no zombie behind.
#[test]
fn a_program_that_cannot_exec_fails_its_start_with_why_beside_ones_that_run() {
    let ctx = TestContext::new(
        "[service.a]\ncommand = [\"sleep\", \"1000\"]\n\n[service.gone]\ncommand = [\"/nonexistent/program\"]\nrestart = \"no\"\n\n[service.b]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let out = ctx.run(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("gone") && err.contains("No such file"),
        "{err}"
    );
    let out = ctx.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let state = |name: &str| {
        status["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .map(|s| s["state"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(state("a").as_deref(), Some("running"));
    assert_eq!(state("b").as_deref(), Some("running"));
    assert_eq!(state("gone").as_deref(), Some("failed"));
    // The failed child was reaped: no zombie of the supervisor's.
    let sup = status["supervisor_pid"].as_u64().expect("supervisor pid");
    let zombies: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&sup.to_string().as_str())
        })
        .collect();
    assert!(zombies.is_empty(), "{zombies:?}");
}
