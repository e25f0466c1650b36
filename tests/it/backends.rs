//! The tmux and container backends, `attach`, `run`/`rm`, and backend auto-detection, with
//! real tmux and real podman. Container tests need podman and the busybox test image that
//! `.ci/containers.sh` builds; where podman cannot run containers they say so loudly and
//! skip, and under CI they fail.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proctor::control::proto::Command as Cmd;
use proctor::State;

use crate::support::{alive, free_port, require, TestContext};

pub(crate) const IMAGE: &str = "localhost/proctor-test:latest";

/// A project name no other test (or concurrent test run) uses: container names are global.
pub(crate) fn unique_project() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "bk{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether podman can run the test image here. Where podman or the image is missing the
/// test skips, loudly, and under CI it fails (`support::require`); an image that runs but
/// is not the one `.ci/containers.sh` builds fails it everywhere.
pub(crate) fn podman_usable() -> bool {
    static CONTENT: OnceLock<Result<String, String>> = OnceLock::new();
    let content = CONTENT.get_or_init(|| {
        // What the tests use: the page httpd serves, and busybox's httpd and sh (ash takes
        // applets for builtins, so `command -v` would not tell). It exits 0 whatever it
        // finds, so a failure is podman's.
        let script = "cat /www/index.html; for a in httpd sh; do \
                      [ -x /bin/$a ] && busybox --list | grep -qx $a && echo has $a; done; true";
        podman_run(&["sh", "-c", script])
            .map_err(|why| format!("podman cannot run {IMAGE} here ({why}); run .ci/containers.sh"))
    });
    let Some(found) = require("podman and its test image", content.clone()) else {
        return false;
    };
    let lines: Vec<&str> = found.lines().map(str::trim).collect();
    assert!(
        lines == ["<h1>proctor</h1>", "has httpd", "has sh"],
        "{IMAGE} is not the test image .ci/containers.sh builds (busybox with httpd, sh and \
         /www/index.html holding <h1>proctor</h1>); remove it and run .ci/containers.sh. \
         It showed:\n{found}"
    );
    true
}

/// The output of `argv` run in a throwaway container of the test image.
fn podman_run(argv: &[&str]) -> Result<String, String> {
    let out = Command::new("podman")
        .args(["run", "--rm", "--pull=never", IMAGE])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run podman: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn tmux(home: &Path) -> Command {
    let mut c = Command::new("tmux");
    c.arg("-f")
        .arg("/dev/null")
        .arg("-S")
        .arg(home.join("tmux.sock"))
        .env_remove("TMUX");
    c
}

fn has_session(home: &Path, session: &str) -> bool {
    tmux(home)
        .args(["has-session", "-t", &format!("={session}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn log_of(ctx: &TestContext, name: &str) -> String {
    std::fs::read_to_string(ctx.home().join("logs").join(format!("{name}.log"))).unwrap_or_default()
}

/// The log of `name` once `pred` holds for it: output is captured a moment after the
/// events that announce its service's state.
fn log_until(ctx: &TestContext, name: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = log_of(ctx, name);
        if pred(&log) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Containers of `project` that still exist, running or not.
fn containers_of(project: &str) -> String {
    let out = Command::new("podman")
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .args(["--filter", &format!("label=proctor.project={project}")])
        .output()
        .expect("podman ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn tmux_service_with_dots_and_dashes_starts_logs_and_stops() {
    let project = unique_project();
    let ctx = TestContext::new(&format!(
        r#"
[project]
name = "{project}"

[service."web.api-1"]
backend = "tmux"
command = ["sh", "-c", "echo \"hello from $GREETING\"; echo to-stderr >&2; exec sleep 1000"]
env = {{ GREETING = "tmux; it's 'quoted'" }}
ready = {{ log = "hello from tmux; it's 'quoted'" }}

[service.web_api-1]
backend = "tmux"
command = ["sleep", "1000"]
"#
    ));
    ctx.ok(&["up", "-d"]);
    let s = ctx.service("web.api-1");
    assert_eq!(s.state, State::Running);
    assert_eq!(s.backend, "tmux");
    let session = format!("proctor-{project}-web,api-1");
    assert_eq!(s.tmux_session.as_deref(), Some(session.as_str()));
    let pid = s.pid.expect("pid");
    assert!(alive(pid));
    // `.` and `_` stay distinct sessions although tmux would turn both into `_`.
    assert!(has_session(ctx.home(), &session));
    assert!(has_session(
        ctx.home(),
        &format!("proctor-{project}-web_api-1")
    ));
    assert_ne!(ctx.service("web_api-1").pid, Some(pid));
    let log = log_until(&ctx, "web.api-1", |l| l.contains("out hello from tmux"));
    assert!(
        log.contains("out hello from tmux; it's 'quoted'\n"),
        "{log}"
    );
    assert!(
        log.contains("out to-stderr\n"),
        "no \\r left, stderr shown: {log}"
    );
    let table = ctx.ok(&["status"]);
    assert!(
        table.contains(&format!("tmux session {session}")),
        "{table}"
    );

    ctx.ok(&["stop", "web.api-1"]);
    let s = ctx.service("web.api-1");
    assert_eq!(s.state, State::Stopped);
    assert_eq!(s.last_exit.expect("exit").signal, Some(15));
    assert!(!alive(pid));
    assert!(!has_session(ctx.home(), &session));
    ctx.ok(&["down"]);
    assert!(!has_session(
        ctx.home(),
        &format!("proctor-{project}-web_api-1")
    ));
}

#[test]
fn tmux_crash_is_restarted_with_its_exit_status() {
    let ctx = TestContext::new(
        r#"
[service.crashy]
backend = "tmux"
command = ["sh", "-c", "echo crashing; exit 3"]
autostart = false
restart = "on-failure"
backoff = { initial = "10ms" }
start_limit = { burst = 2, interval = "1m" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    ctx.ok(&["start", "crashy"]);
    events.until(Duration::from_secs(20), |e| {
        e.service == "crashy" && e.state == State::Failed
    });
    let s = ctx.service("crashy");
    assert_eq!(s.restarts, 2);
    let exit = s.last_exit.expect("exit");
    assert_eq!((exit.code, exit.signal), (Some(3), None));
    let log = log_until(&ctx, "crashy", |l| l.matches("out crashing").count() >= 3);
    assert_eq!(log.matches("out crashing").count(), 3);
}

#[test]
fn attach_shows_the_pane_and_detach_leaves_it_running() {
    let ctx = TestContext::new(
        r#"
[service.shell]
backend = "tmux"
command = ["sh", "-c", "echo attach-me-please; exec sleep 1000"]
ready = { log = "attach-me-please" }

[service.native]
command = ["sleep", "1000"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("shell").pid;

    let out = ctx.run(&["attach", "native"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only tmux and container services can be attached"),
        "{err}"
    );

    // A terminal for `proctor attach`: a pane of a tmux server of the test's own, watched
    // through a control-mode client, which streams everything the pane draws.
    let outer = tempfile::tempdir().expect("tempdir");
    let outer_sock = outer.path().join("outer.sock");
    let outer_tmux = || {
        let mut c = Command::new("tmux");
        c.arg("-f").arg("/dev/null").arg("-S").arg(&outer_sock);
        c
    };
    let script = format!(
        "read _; exec '{}' attach shell",
        env!("CARGO_BIN_EXE_proctor")
    );
    let ok = outer_tmux()
        .args(["new-session", "-d", "-s", "outer", "-x", "100", "-y", "30"])
        .args(["-e", &format!("PROCTOR_HOME={}", ctx.home().display())])
        .args(["-c", &ctx.dir.path().display().to_string()])
        .args(["sh", "-c", &script])
        .status()
        .expect("outer tmux");
    assert!(ok.success());
    let mut control = outer_tmux()
        .args(["-C", "attach-session", "-t", "=outer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("control client");
    let stdout = control.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait until the control client is attached, then let the pane run `proctor attach`.
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(e) => panic!("never saw {needle:?}: {e}"),
            }
        }
    };
    wait_for("%session-changed");
    outer_tmux()
        .args(["send-keys", "-t", "=outer:", "Enter"])
        .status()
        .expect("send-keys");
    wait_for("attach-me-please");

    // Detaching the attached client ends `proctor attach`, not the service.
    let session = ctx.service("shell").tmux_session.expect("session");
    let ok = tmux(ctx.home())
        .args(["detach-client", "-s", &format!("={session}")])
        .status()
        .expect("detach");
    assert!(ok.success());
    wait_for("%exit");
    let _ = control.wait();
    let _ = outer_tmux()
        .arg("kill-server")
        .stderr(Stdio::null())
        .status();
    let s = ctx.service("shell");
    assert_eq!((s.state, s.pid), (State::Running, pid));
}

#[test]
fn container_serves_a_mapped_port_mounts_a_volume_and_is_removed_by_down() {
    if !podman_usable() {
        return;
    }
    let project = unique_project();
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"
[project]
name = "{project}"

[service.web]
backend = "container"
image = "{IMAGE}"
command = ["sh", "-c", "cat /data/hello.txt; echo to-stderr >&2; exec httpd -f -p 80 -h /www"]
env = {{ MODE = "test" }}
volumes = ["./data:/data"]
ports = ["127.0.0.1:{port}:80"]
ready = {{ http = "http://127.0.0.1:{port}/", interval = "100ms" }}
stop_timeout = "1s"

[service.crashy]
backend = "container"
image = "{IMAGE}"
command = ["sh", "-c", "echo MODE=$MODE; exit 4"]
env = {{ MODE = "crash" }}
autostart = false
backoff = {{ initial = "10ms" }}
start_limit = {{ burst = 1, interval = "1m" }}
"#
    ));
    std::fs::create_dir(ctx.dir.path().join("data")).expect("mkdir");
    std::fs::write(ctx.dir.path().join("data/hello.txt"), "from-the-volume\n").expect("write");
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    ctx.ok(&["start", "crashy"]);
    let s = ctx.service("web");
    assert_eq!((s.state, s.ready), (State::Running, true));
    assert_eq!(s.backend, "container");
    assert_eq!(s.container, Some(format!("proctor-{project}-web")));
    assert_eq!(s.container_id.as_ref().map(String::len), Some(12));
    let log = log_until(&ctx, "web", |l| {
        l.contains("out from-the-volume\n") && l.contains("err to-stderr\n")
    });
    assert!(log.contains("out from-the-volume\n"), "{log}");
    assert!(log.contains("err to-stderr\n"), "{log}");

    // Crash → restart, with the container's exit status.
    events.until(Duration::from_secs(30), |e| {
        e.service == "crashy" && e.state == State::Failed
    });
    let c = ctx.service("crashy");
    assert_eq!(c.restarts, 1);
    assert_eq!(c.last_exit.as_ref().and_then(|e| e.code), Some(4));
    let log = log_until(&ctx, "crashy", |l| l.matches("out MODE=crash").count() >= 2);
    assert_eq!(log.matches("out MODE=crash").count(), 2);

    // busybox as PID 1 ignores SIGTERM: the stop escalates after stop_timeout.
    let started = Instant::now();
    ctx.ok(&["down"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = ctx.status_or_none("web");
    assert!(s.is_none(), "supervisor is gone");
    assert_eq!(containers_of(&project), "", "no container left after down");
}

#[test]
fn backends_are_detected_none_one_or_ambiguous() {
    let project = unique_project();
    let ctx = TestContext::new(&format!(
        r#"
[project]
name = "{project}"

[service."dual.svc"]
backend = "tmux"
command = ["sleep", "1000"]
"#
    ));
    let out = ctx.run(&["status", "--all-backends", "dual.svc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tmux session or container"));

    ctx.ok(&["up", "-d"]);
    let one = ctx.ok(&["status", "--all-backends", "dual.svc"]);
    assert!(
        one.contains(&format!("tmux session \"proctor-{project}-dual,svc\"")),
        "{one}"
    );
    let json = ctx.ok(&["status", "--all-backends", "--json", "dual.svc"]);
    assert!(json.contains("\"backend\":\"tmux\""), "{json}");
    let bad = ctx.run(&["status", "--all-backends", "no;such"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid name"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    if !podman_usable() {
        return;
    }
    // A container of the same name, as a stale one from another backend would be.
    let name = format!("proctor-{project}-dual.svc");
    let ok = Command::new("podman")
        .args(["run", "-d", "--rm", "--name", &name])
        .args(["--label", &format!("proctor.project={project}")])
        .args([IMAGE, "sleep", "1000"])
        .stdout(Stdio::null())
        .status()
        .expect("podman run");
    assert!(ok.success());
    let out = ctx.run(&["status", "--all-backends", "dual.svc"]);
    let _ = Command::new("podman")
        .args(["rm", "-f", "-t", "0", &name])
        .stdout(Stdio::null())
        .status();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(
        err.contains("tmux session") && err.contains("podman container"),
        "{err}"
    );
}

#[test]
fn run_and_rm_ad_hoc_services_in_the_default_project() {
    let ctx = TestContext::new("");
    std::fs::remove_file(ctx.spec_path()).expect("no spec: the default project");
    let out = ctx.run(&["run", "job", "--backend", "tmux"]);
    assert_eq!(out.status.code(), Some(1), "a command is needed");

    ctx.ok(&[
        "run",
        "job.1",
        "--backend",
        "tmux",
        "--restart",
        "no",
        "--env",
        "WHO=adhoc",
        "--",
        "sh",
        "-c",
        "echo hello $WHO; exec sleep 1000",
    ]);
    let s = ctx.service("job.1");
    assert_eq!((s.state, s.backend.as_str()), (State::Running, "tmux"));
    assert_eq!(ctx.status().project, "default");
    // It behaves like a declared service: stop and start by name.
    ctx.ok(&["stop", "job.1"]);
    ctx.ok(&["start", "job.1"]);
    assert_eq!(ctx.service("job.1").state, State::Running);
    let out = ctx.run(&["run", "job.1", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "already running");

    let pid = ctx.service("job.1").pid.expect("pid");
    ctx.ok(&["rm", "job.1"]);
    assert!(!alive(pid));
    assert!(ctx.status().services.is_empty());
    assert!(!ctx.home().join("adhoc.json").exists());
    let out = ctx.run(&["rm", "job.1"]);
    assert_eq!(out.status.code(), Some(1));

    // Remembered across supervisors until removed.
    ctx.ok(&["run", "again", "--", "sleep", "1000"]);
    ctx.ok(&["down"]);
    ctx.ok(&["up", "-d"]);
    assert_eq!(ctx.service("again").state, State::Running);
    ctx.ok(&["down"]);
    ctx.ok(&["rm", "again"]);
    assert!(!ctx.home().join("adhoc.json").exists());
}

#[test]
fn run_refuses_a_name_the_spec_declares() {
    let ctx = TestContext::new(
        r#"
[service.web]
command = ["sleep", "1000"]
autostart = false
"#,
    );
    let out = ctx.run(&["run", "web", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("declared in"));
}

impl TestContext {
    /// The status of `name`, or `None` when no supervisor answers.
    fn status_or_none(&self, name: &str) -> Option<proctor::control::proto::ServiceStatus> {
        let mut c = proctor::control::Client::connect(&self.socket()).ok()?;
        let r = c.request(Cmd::Status { services: vec![] }).ok()?;
        r.services.into_iter().find(|s| s.name == name)
    }
}

#[test]
fn missing_tmux_is_a_clear_error_naming_the_service() {
    let ctx = TestContext::new(
        r#"
[project]
tmux_binary = "/nonexistent/tmux"

[service.term]
backend = "tmux"
command = ["sleep", "1000"]
restart = "no"
"#,
    );
    let out = ctx.run(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let s = ctx.service("term");
    let why = s
        .last_exit
        .and_then(|e| e.spawn_error)
        .expect("spawn error");
    assert!(
        why.contains("\"term\" needs /nonexistent/tmux, which is not installed"),
        "{why}"
    );
    assert!(why.contains("apt-get install tmux"), "{why}");
}

#[test]
fn a_new_supervisor_clears_what_a_killed_one_left_in_tmux() {
    let ctx = TestContext::new(
        r#"
[service.term]
backend = "tmux"
command = ["sleep", "1000"]
stop_timeout = "1s"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let old = ctx.service("term").pid.expect("pid");
    let sup = rustix::process::Pid::from_raw(i32::try_from(ctx.supervisor_pid()).expect("pid"))
        .expect("pid");
    // Watch it through a pidfd, so the next `up` starts only once it is really gone.
    let pidfd =
        rustix::process::pidfd_open(sup, rustix::process::PidfdFlags::empty()).expect("pidfd");
    rustix::process::kill_process(sup, rustix::process::Signal::KILL).expect("kill supervisor");
    assert!(
        crate::support::exits_within(&pidfd, Duration::from_secs(10)),
        "the killed supervisor is gone within 10 s"
    );
    ctx.ok(&["up", "-d"]);
    let new = ctx.service("term").pid.expect("pid");
    assert_ne!(new, old);
    assert!(!alive(old), "the orphan was stopped");
    let out = tmux(ctx.home())
        .args(["list-sessions", "-F", "#{session_name}"])
        .output()
        .expect("tmux ls");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
