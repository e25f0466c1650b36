//! Issue 14: a running project changed without stopping it — reload applies only the
//! difference; signals to the supervisor itself.

use std::collections::BTreeMap;
use std::time::Duration;

use proctor::State;

use crate::support::{alive, stderr, TestContext};

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
    crate::support::follow_until(&mut c, "tick");
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
    crate::support::follow_until(&mut c, "reloaded v2");
    let after = snapshot(&ctx);
    assert!(
        same(&after["web"], &before["web"]),
        "web re-read its config in place"
    );
    assert_ne!(after["plain"].0, before["plain"].0, "plain was restarted");
    let out = ctx.run(&["reload"]);
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
}
