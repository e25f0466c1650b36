//! Issue 14: the spec file may change under a running project without locking anyone out.
//! An invalid edit leaves `status`, `logs`, `stop` and `down` working against the running
//! supervisor (with a warning that names `file:line:col`); a new `[project] name` is not a
//! second project beside the first.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use proctor::control::proto::Command as Cmd;
use proctor::control::Client;
use proctor::State;

use crate::support::{alive, stderr, TestContext};

const TWO: &str = r#"
[service.web]
command = ["sh", "-c", "echo hello from web; exec sleep 1000"]

[service.db]
command = ["sleep", "1000"]
"#;

/// `TWO` with a typo on line 7, column 1.
const TYPO: &str = r#"
[service.web]
command = ["sh", "-c", "echo hello from web; exec sleep 1000"]

[service.db]
command = ["sleep", "1000"]
comand = "oops"
"#;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `proctor logs ARGS…` once its output has `text` (a line reaches its file a moment after
/// the service wrote it), within 10 s.
fn logs_until(run: impl Fn() -> Output, text: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run();
        if stdout(&out).contains(text) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_invalid_spec_still_lets_status_logs_stop_and_down_reach_the_supervisor() {
    let ctx = TestContext::new(TWO);
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    let db = ctx.service("db").pid.expect("db pid");
    ctx.write_spec(TYPO);
    let spec = ctx.spec_path();
    let where_ = format!("{}:7:1", spec.display());

    let out = ctx.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("supervisor pid {sup}")),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("warning: the spec on disk is invalid"));
    assert!(stderr(&out).contains(&where_), "{}", stderr(&out));
    let out = ctx.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["services"][0]["state"], "running");
    assert_eq!(v["services"][1]["pid"], db);

    let out = logs_until(|| ctx.run(&["logs", "web"]), "hello from web");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("hello from web"), "{}", stdout(&out));
    assert!(stderr(&out).contains(&where_), "{}", stderr(&out));

    let out = ctx.run(&["stop", "db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(&where_), "{}", stderr(&out));
    assert_eq!(ctx.service("db").state, State::Stopped);
    assert!(!alive(db));
    // The supervisor kept the spec it loaded, and says what is wrong with the file's.
    let out = ctx.run(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&where_), "{}", stderr(&out));

    let out = ctx.run(&["down"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(&where_), "{}", stderr(&out));
    assert!(!alive(sup), "the supervisor is gone");
    let out = ctx.run(&["down"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("nothing to stop"), "{}", stderr(&out));
    // Without a supervisor the file is all there is: its errors, exit 1.
    let out = ctx.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&where_), "{}", stderr(&out));
}

/// A project under the default state directory (`$XDG_STATE_HOME/proctor/<name>-<hash>`),
/// where the spec decides the directory: no `PROCTOR_HOME`.
struct XdgProject {
    ctx: TestContext,
    xdg: tempfile::TempDir,
}

impl XdgProject {
    fn new(spec: &str) -> Self {
        Self {
            ctx: TestContext::new(spec),
            xdg: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c: Command = self.ctx.cmd();
        c.env_remove("PROCTOR_HOME")
            .env("XDG_STATE_HOME", self.xdg.path())
            .args(args);
        c.output().expect("run proctor")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "proctor {args:?}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).expect("status --json")
    }

    /// The control sockets of the supervisors under this state home.
    fn sockets(&self) -> Vec<std::path::PathBuf> {
        let base = self.xdg.path().join("proctor");
        let mut found: Vec<_> = std::fs::read_dir(&base)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("control.sock"))
            .filter(|s| Client::connect(s).is_ok())
            .collect();
        found.sort();
        found
    }
}

impl Drop for XdgProject {
    fn drop(&mut self) {
        for sock in self.sockets() {
            down(&sock);
        }
    }
}

fn down(sock: &Path) {
    if let Ok(mut c) = Client::connect(sock) {
        let _ = c.set_timeout(Some(Duration::from_secs(20)));
        if c.request(Cmd::Down {
            timeout_ms: Some(2000),
        })
        .is_ok()
        {
            while c.recv().is_ok() {}
        }
    }
}

#[test]
fn a_new_project_name_finds_the_running_supervisor_and_starts_no_second_copy() {
    let spec = |name: &str| format!("[project]\nname = \"{name}\"\n{TWO}");
    let p = XdgProject::new(&spec("shop"));
    p.ok(&["up", "-d"]);
    let before = p.status();
    let sup = u32::try_from(before["supervisor_pid"].as_u64().expect("pid")).expect("u32");
    assert_eq!(before["project"], "shop");
    assert_eq!(p.sockets().len(), 1);

    p.ctx.write_spec(&spec("store"));
    for verb in [&["up", "-d"][..], &["start", "web"], &["up"]] {
        let out = p.run(verb);
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("a supervisor (pid {sup}) already runs"))
                && err.contains("as project \"shop\"")
                && err.contains("now names the project \"store\"")
                && err.contains("`proctor down`"),
            "{verb:?}: {err}"
        );
    }
    assert_eq!(p.sockets().len(), 1, "no second supervisor");
    // The verbs that talk to a supervisor find the one that runs this file.
    let out = p.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("project shop"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("changed its [project] name"),
        "{}",
        stderr(&out)
    );
    // Found through the file's path even when it no longer parses.
    p.ctx.write_spec(&format!("{}\nbogus = 1\n", spec("store")));
    let out = p.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("project shop"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("{}:10:1", p.ctx.spec_path().display())),
        "{}",
        stderr(&out)
    );

    // What the refusal says to do works: down stops "shop", up starts "store".
    p.ctx.write_spec(&spec("store"));
    p.ok(&["down"]);
    assert!(!alive(sup));
    assert!(p.sockets().is_empty());
    p.ok(&["up", "-d"]);
    let after = p.status();
    assert_eq!(after["project"], "store");
    assert_eq!(after["services"][0]["state"], "running");
    assert_eq!(p.sockets().len(), 1);
    p.ok(&["down"]);
}
