//! Issue 20: `proctor top` in a real terminal — a tmux pane of its own server — driven with
//! `send-keys` and read with `capture-pane`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::require::{require, which};
use crate::support::TestContext;

/// A tmux server of the test's own, killed when dropped.
struct Tmux {
    socket: PathBuf,
    conf: PathBuf,
}

impl Tmux {
    fn new(home: &Path) -> Self {
        let conf = home.join("top-tmux.conf");
        std::fs::write(&conf, "").expect("tmux conf");
        Self {
            socket: home.join("top-tmux.sock"),
            conf,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `proctor top` for `ctx` in a new 100×30 session `name`.
    fn top(&self, ctx: &TestContext, name: &str) {
        let cmd = format!(
            "env PROCTOR_HOME='{}' NO_COLOR=1 '{}' top; echo \"top exited $?\"; exec sleep 1000",
            ctx.home().display(),
            env!("CARGO_BIN_EXE_proctor")
        );
        let dir = ctx.spec_path();
        let dir = dir.parent().expect("project dir").to_string_lossy();
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            "-c",
            &dir,
            &cmd,
        ]);
    }

    fn screen(&self, name: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", name])
    }

    fn show(&self, name: &str, format: &str) -> String {
        self.ok(&["display-message", "-p", "-t", name, format])
            .trim()
            .to_string()
    }

    /// Waits until the pane `name` shows every one of `texts`.
    fn until_shown(&self, name: &str, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen(name);
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{texts:?} not shown within 20s:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `top` in pane `name` has ended (the shell after it says so); returns
    /// `alternate_on` of the pane then, and the screen.
    fn until_exited(&self, name: &str) -> (String, String) {
        let screen = self.until_shown(name, &["top exited"]);
        (self.show(name, "#{alternate_on}"), screen)
    }

    /// The pid of `top` in pane `name` (the child of the pane's shell).
    fn top_pid(&self, name: &str) -> i32 {
        let sh = self.show(name, "#{pane_pid}");
        let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children"))
            .expect("children of the pane's shell");
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("top runs under the pane's shell")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn top_offers_up_restarts_a_service_and_restores_the_terminal() {
    if require("tmux", which("tmux")).is_none() {
        return;
    }
    let ctx = TestContext::new(
        "[project]\nname = \"shop\"\n\n[service.web]\ncommand = [\"sh\", \"-c\", \"echo web says hello; exec sleep 1000\"]\n\n[service.worker]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let tmux = Tmux::new(ctx.home());
    tmux.top(&ctx, "one");
    tmux.until_shown(
        "one",
        &["No supervisor is running for project shop", "Press u"],
    );
    assert_eq!(
        tmux.show("one", "#{alternate_on}"),
        "1",
        "top is on the alternate screen"
    );

    // `u` starts the supervisor, and top connects to it by itself.
    tmux.ok(&["send-keys", "-t", "one", "u"]);
    tmux.until_shown("one", &["supervisor ", "web ", "worker ", "running"]);
    let old = ctx.service("web").pid.expect("web runs");
    tmux.until_shown("one", &[&old.to_string(), "web says hello"]);

    // `r` on the selected (first) service asks first; `y` restarts it.
    tmux.ok(&["send-keys", "-t", "one", "r"]);
    tmux.until_shown("one", &["restart web?"]);
    tmux.ok(&["send-keys", "-t", "one", "y"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let json: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["status", "--json", "web"])).expect("status --json");
        let s = &json["services"][0];
        match s["pid"].as_u64() {
            Some(pid) if pid != u64::from(old) && s["state"] == "running" => break pid,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "web's pid did not change: {json}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The table follows: the new pid shows, from the event stream.
    tmux.until_shown("one", &[&new.to_string()]);

    // The supervisor goes away: top says so, and reconnects when one is back.
    ctx.ok(&["down"]);
    tmux.until_shown("one", &["supervisor gone: reconnecting"]);
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid().to_string();
    tmux.until_shown("one", &[&format!("supervisor {sup}"), "running"]);

    tmux.ok(&["send-keys", "-t", "one", "q"]);
    let (modes, screen) = tmux.until_exited("one");
    assert_eq!(modes, "0", "after q: the normal screen:\n{screen}");
    assert!(screen.contains("top exited 0"), "{screen}");
    // What top drew was on the alternate screen: none of it is left behind.
    assert!(!screen.contains("worker"), "{screen}");

    // TERM restores the terminal too.
    tmux.top(&ctx, "two");
    tmux.until_shown("two", &["web ", "running"]);
    let pid = tmux.top_pid("two");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("TERM top");
    let (modes, screen) = tmux.until_exited("two");
    assert_eq!(modes, "0", "after TERM:\n{screen}");
    assert!(!screen.contains("worker"), "{screen}");
}
