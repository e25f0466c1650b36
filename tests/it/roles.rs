//! Roles: `autostart = true | false | ["role", …]`, `[project] roles`, `up --role`, and
//! the role in `status`; plus what a boot unit relies on: `READY=1` to `NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::TestContext;

const ROLES: &str = r#"
[project]
roles = ["master", "worker", "leecher"]

[service.always]
command = ["sleep", "1000"]

[service.never]
command = ["sleep", "1000"]
autostart = false

[service.boss]
command = ["sleep", "1000"]
autostart = ["master"]

[service.hand]
command = ["sleep", "1000"]
autostart = ["worker"]
depends_on = ["helper"]

[service.helper]
command = ["sleep", "1000"]
autostart = false

[service.both]
command = ["sleep", "1000"]
autostart = ["master", "worker"]
"#;

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).expect("valid JSON")
}

/// Names of the services `status --json` shows running.
fn running(ctx: &TestContext) -> Vec<String> {
    let st = json(&ctx.ok(&["status", "--json"]));
    st["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["state"] == "running")
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

#[test]
fn without_a_role_only_autostart_true_services_start() {
    let ctx = TestContext::new(ROLES);
    ctx.ok(&["up", "-d"]);
    assert_eq!(running(&ctx), ["always"]);
    let st = json(&ctx.ok(&["status", "--json"]));
    assert_eq!(st["role"], serde_json::Value::Null);
}

#[test]
fn a_role_starts_its_services_their_dependencies_and_autostart_true() {
    let ctx = TestContext::new(ROLES);
    ctx.ok(&["up", "-d", "--role", "worker"]);
    assert_eq!(running(&ctx), ["always", "hand", "helper", "both"]);
    let st = json(&ctx.ok(&["status", "--json"]));
    assert_eq!(st["role"], "worker");
    let table = ctx.ok(&["status"]);
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|l| l.contains("(role worker)")),
        "{table}"
    );
}

#[test]
fn a_declared_role_that_autostarts_nothing_starts_only_autostart_true() {
    let ctx = TestContext::new(ROLES);
    ctx.ok(&["up", "-d", "--role", "leecher"]);
    assert_eq!(running(&ctx), ["always"]);
}

#[test]
fn an_undeclared_role_is_refused() {
    let ctx = TestContext::new(ROLES);
    let out = ctx.run(&["up", "-d", "--role", "boss"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown role \"boss\"") && err.contains("master, worker, leecher"),
        "{err}"
    );
    assert!(!ctx.socket().exists(), "no supervisor may start");
}

#[test]
fn a_service_naming_an_undeclared_role_is_a_spec_error() {
    let ctx = TestContext::new(
        "[project]\nroles = [\"master\"]\n\n[service.a]\ncommand = [\"true\"]\nautostart = [\"mastr\"]\n",
    );
    let out = ctx.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("proctor.toml:6:") && err.contains("\"mastr\"") && err.contains("master"),
        "{err}"
    );
    // Without `[project] roles` every role is undeclared.
    ctx.write_spec("[service.a]\ncommand = [\"true\"]\nautostart = [\"x\"]\n");
    let err = String::from_utf8_lossy(&ctx.run(&["validate"]).stderr).into_owned();
    assert!(err.contains("roles = [\"x\"]"), "{err}");
}

/// Binds a datagram socket standing in for systemd's `NOTIFY_SOCKET`.
fn manager_socket(ctx: &TestContext) -> (UnixDatagram, std::path::PathBuf) {
    let path = ctx.home().join("manager.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    (sock, path)
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("a notification");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn sigterm(child: &std::process::Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM");
}

/// What a boot unit runs: `proctor up --file SPEC --role R` in the foreground, with
/// `Type=notify`. READY=1 must wait for the role's services, not just `autostart = true`.
#[test]
fn foreground_up_with_a_role_is_ready_once_the_roles_services_are() {
    let ctx = TestContext::new(
        r#"
[project]
roles = ["worker"]

[service.plain]
command = ["sleep", "1000"]

[service.slow]
command = ["sh", "-c", "sleep 0.3; echo up; exec sleep 1000"]
autostart = ["worker"]
ready = { log = "up" }
"#,
    );
    let (sock, path) = manager_socket(&ctx);
    let spec = ctx.spec_path();
    let mut child = ctx
        .cmd()
        .args(["up", "--file"])
        .arg(&spec)
        .args(["--role", "worker"])
        .env("NOTIFY_SOCKET", &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn up");
    assert_eq!(recv(&sock), "READY=1");
    assert!(ctx.service("slow").ready);
    assert_eq!(ctx.status().role.as_deref(), Some("worker"));
    sigterm(&child);
    assert_eq!(recv(&sock), "STOPPING=1");
    assert!(child.wait().expect("wait").success());
}

/// A project whose role starts nothing must still tell systemd it is up, or a
/// `Type=notify` unit would hang until its start timeout and be killed.
#[test]
fn foreground_up_with_nothing_to_start_is_ready_at_once() {
    let ctx =
        TestContext::new("[service.manual]\ncommand = [\"sleep\", \"1000\"]\nautostart = false\n");
    let (sock, path) = manager_socket(&ctx);
    let mut child = ctx
        .cmd()
        .arg("up")
        .env("NOTIFY_SOCKET", &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn up");
    assert_eq!(recv(&sock), "READY=1");
    sigterm(&child);
    assert_eq!(recv(&sock), "STOPPING=1");
    assert!(child.wait().expect("wait").success());
}
