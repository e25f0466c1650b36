//! The CLI end to end: up -d, status --json, stop, start, restart, down, validate.

use crate::support::{alive, stderr, TestContext};

const TWO: &str = r#"
[service.ticker]
command = ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]

[service.idle]
command = ["sleep", "1000"]
"#;

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).expect("valid JSON")
}

#[test]
fn up_status_stop_start_restart_down() {
    let ctx = TestContext::new(TWO);
    let out = ctx.ok(&["up", "-d"]);
    assert!(out.contains("ticker: running"), "{out}");

    let st = json(&ctx.ok(&["status", "--json"]));
    let dir_name = ctx
        .dir
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("dir name");
    // The default name is the directory's, made a valid name (no leading '.').
    assert_eq!(st["project"], dir_name.trim_start_matches('.'));
    let services = st["services"].as_array().expect("services");
    assert_eq!(services.len(), 2);
    for s in services {
        for key in ["name", "state", "pid", "restarts", "uptime_ms", "last_exit"] {
            assert!(s.get(key).is_some(), "status --json lacks {key}: {s}");
        }
        assert_eq!(s["state"], "running");
    }
    let idle_pid = services[1]["pid"].as_u64().expect("pid") as u32;

    ctx.ok(&["stop", "idle"]);
    assert!(!alive(idle_pid));
    let st = json(&ctx.ok(&["status", "--json", "idle"]));
    assert_eq!(st["services"][0]["state"], "stopped");
    assert_eq!(st["services"][0]["pid"], serde_json::Value::Null);

    ctx.ok(&["start", "idle"]);
    let st = json(&ctx.ok(&["status", "--json", "idle"]));
    assert_eq!(st["services"][0]["state"], "running");
    let pid2 = st["services"][0]["pid"].as_u64().expect("pid") as u32;

    ctx.ok(&["restart", "idle"]);
    let st = json(&ctx.ok(&["status", "--json", "idle"]));
    let pid3 = st["services"][0]["pid"].as_u64().expect("pid") as u32;
    assert_ne!(pid2, pid3);
    assert!(!alive(pid2));

    let table = ctx.ok(&["status"]);
    assert!(
        table.contains("NAME") && table.contains("ticker"),
        "{table}"
    );

    let sup = ctx.supervisor_pid();
    ctx.ok(&["down"]);
    assert!(!alive(pid3));
    assert!(!alive(sup), "supervisor still alive after down");
    // Without a supervisor every service is stopped, with exit 3 (issue 14).
    let out = ctx.run(&["status"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no supervisor is running"), "{err}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("ticker")
            && table.contains("stopped")
            && table.contains(", no supervisor running"),
        "{table}"
    );
}

#[test]
fn second_up_attaches_to_the_running_supervisor() {
    let ctx = TestContext::new(TWO);
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    let out = ctx.run(&["up", "-d"]);
    assert!(out.status.success());
    assert_eq!(ctx.supervisor_pid(), sup);
}

#[test]
fn unknown_service_lists_the_known_ones() {
    let ctx = TestContext::new(TWO);
    ctx.ok(&["up", "-d"]);
    let out = ctx.run(&["stop", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope") && err.contains("ticker, idle"),
        "{err}"
    );
}

#[test]
fn commands_without_a_supervisor_say_so() {
    let ctx = TestContext::new(TWO);
    // Already down is success for what stops (issue 14), as in compose and systemctl;
    // `status` reads every service as stopped (exit 3); the rest needs a supervisor.
    for (verb, code) in [
        (&["stop", "idle"][..], 0),
        (&["stop", "--all"], 0),
        (&["down"], 0),
        (&["down"], 0),
        (&["status"], 3),
        (&["restart", "idle"], 1),
    ] {
        let out = ctx.run(verb);
        assert_eq!(out.status.code(), Some(code), "{verb:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no supervisor is running"));
    }
    let json = ctx.run(&["status", "--json"]);
    assert_eq!(json.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["supervisor_pid"], 0);
    assert_eq!(v["services"][0]["state"], "stopped");
    assert_eq!(v["services"][1]["name"], "idle");
}

#[test]
fn stop_of_a_stopped_service_succeeds_and_all_acts_on_every_service() {
    let ctx = TestContext::new(TWO);
    ctx.ok(&["up", "-d"]);
    ctx.ok(&["stop", "idle"]);
    let out = ctx.run(&["stop", "idle"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("idle is already stopped"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = ctx.service("ticker").pid;
    ctx.ok(&["restart", "--all"]);
    assert_ne!(ctx.service("ticker").pid, before);
    assert_eq!(ctx.service("idle").state, proctor::State::Running);
    ctx.ok(&["stop", "--all"]);
    assert!(ctx
        .status()
        .services
        .iter()
        .all(|s| s.state == proctor::State::Stopped));
    let both = ctx.run(&["stop", "--all", "idle"]);
    assert_eq!(both.status.code(), Some(2), "names and --all are exclusive");
}

#[test]
fn start_spawns_a_supervisor_when_none_runs() {
    let ctx = TestContext::new(TWO);
    let out = ctx.ok(&["start", "idle"]);
    assert!(out.contains("idle: running"), "{out}");
    let st = ctx.status();
    let ticker = st
        .services
        .iter()
        .find(|s| s.name == "ticker")
        .expect("ticker");
    assert_eq!(ticker.state, proctor::State::Stopped);
}

#[test]
fn validate_reports_errors_with_positions() {
    let ctx = TestContext::new("[service.web]\ncommand = []\n");
    let out = ctx.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("proctor.toml:2:"), "{err}");
    ctx.write_spec(TWO);
    let out = ctx.ok(&["validate"]);
    assert!(out.contains("ok (2 services)"), "{out}");
}

#[test]
fn spec_is_found_in_a_parent_directory() {
    let ctx = TestContext::new(TWO);
    let sub = ctx.dir.path().join("a/b");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let out = ctx
        .cmd()
        .arg("validate")
        .current_dir(&sub)
        .output()
        .expect("run");
    assert!(out.status.success());
}

#[test]
fn foreground_up_notifies_its_manager_and_stops_on_sigterm() {
    let ctx = TestContext::new(
        r#"
[service.slow]
command = ["sh", "-c", "sleep 0.5; echo up; exec sleep 1000"]
ready = { log = "up" }
"#,
    );
    let sock_path = ctx.home().join("manager.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let mut child = ctx
        .cmd()
        .arg("up")
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn up");
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 from the supervisor");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means the service is ready, not merely spawned.
    assert!(ctx.service("slow").ready);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM");
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
        .expect("read");
    assert!(out.contains("slow") && out.contains("| up"), "{out}");
}

/// Completion scripts and the manual page come from the CLI's own definition: every verb is
/// in them, and the bash script is valid bash.
#[test]
fn completions_and_the_manual_page_name_every_verb() {
    let ctx = TestContext::new(
        "[service.web]\nreplicas = 2\ncommand = [\"sleep\", \"1\"]\n\n[service.db]\ncommand = [\"sleep\", \"1\"]\n",
    );
    let verbs = [
        "up", "down", "status", "logs", "signal", "reload", "install", "scale",
    ];
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = ctx.ok(&["completions", shell, "--static"]);
        for verb in verbs {
            assert!(script.contains(verb), "{shell} script lacks {verb}");
        }
        // The default script asks proctor itself, which knows the spec's services.
        let script = ctx.ok(&["completions", shell]);
        assert!(
            script.contains("COMPLETE") && script.contains("proctor"),
            "{script}"
        );
    }

    // bash: source the script, and ask it what follows `proctor stop `.
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_proctor"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |words: &str, cword: usize| -> Vec<String> {
        let script = format!(
            "source <(proctor completions bash) || exit 9\n\
             COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_TYPE=9\n\
             _clap_complete_proctor proctor \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(ctx.dir.path())
            .env("PATH", &path)
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let names = complete("proctor stop ''", 2);
    for name in ["web", "web.0", "web.1", "db"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    let names = complete("proctor logs w", 2);
    assert_eq!(
        names,
        ["web", "web.0", "web.1"],
        "a prefix narrows the names"
    );
    let verbs_offered = complete("proctor sc", 1);
    assert_eq!(verbs_offered, ["scale"]);

    let static_bash = ctx.ok(&["completions", "bash", "--static"]);
    let script_path = ctx.dir.path().join("proctor.bash");
    std::fs::write(&script_path, &static_bash).expect("write script");
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script_path)
        .output()
        .expect("run bash -n");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let page = ctx.ok(&["man"]);
    assert!(page.contains(".TH proctor 1"), "{page}");
    for verb in verbs {
        assert!(page.contains(verb), "the manual lacks {verb}");
    }
    // The page renders with man itself.
    if crate::support::require("man", crate::support::which("man")).is_some() {
        let file = ctx.dir.path().join("proctor.1");
        std::fs::write(&file, &page).expect("write page");
        let out = std::process::Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .expect("run man -l");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("proctor"), "{text}");
        assert!(text.contains("scale"), "{text}");
    }
    let bad = ctx.run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));

    // A `COMPLETE` some other tool left in the environment is not a completion request.
    let out = ctx
        .cmd()
        .arg("validate")
        .env("COMPLETE", "1")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
}

#[test]
fn every_reporting_verb_speaks_json_and_fails_in_one_shape() {
    let ctx = TestContext::new(
        "[service.ok]\ncommand = [\"sleep\", \"1000\"]\n\n[service.bad]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"no\"\nautostart = false\n",
    );
    // No supervisor yet: the failure comes as JSON on stdout, and as text on stderr.
    let out = ctx.run(&["wait", "ok", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json error");
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no supervisor is running")),
        "{v}"
    );
    assert!(stderr(&out).contains("error: no supervisor is running"));

    ctx.ok(&["up", "-d"]);
    let v = json(&ctx.ok(&["wait", "ok", "--json"]));
    assert_eq!(v["services"][0]["name"], "ok");
    assert_eq!(v["services"][0]["state"], "running");
    assert!(
        v.get("failures")
            .is_none_or(|f| f == &serde_json::json!([])),
        "{v}"
    );

    let _ = ctx.run(&["start", "bad"]);
    let out = ctx.run(&["wait", "bad", "--json", "--timeout", "10s"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["failures"][0]["service"], "bad", "{v}");

    let v = json(&ctx.ok(&["lock", "--json"]));
    assert!(v.is_array() || v.is_object(), "{v}");
    let v = json(&ctx.ok(&["reload", "--dry-run", "--json"]));
    assert_eq!(v, serde_json::json!([]));
    let v = json(&ctx.ok(&["validate", "--json"]));
    assert_eq!(v["ok"], true);
    let v = json(&ctx.ok(&[
        "install", "--print", "--json", "--target", "systemd", "--user",
    ]));
    assert_eq!(v["target"], "systemd");
    assert!(
        v["content"]
            .as_str()
            .is_some_and(|c| c.contains("[Service]")),
        "{v}"
    );

    let out = ctx.run(&["scale", "ok", "2", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json error");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("replicas")),
        "{v}"
    );
    ctx.ok(&["down"]);
}
