//! Issue 19 (import): `proctor import FILE` on realistic files of each format; the spec it
//! writes passes `validate`, and the process-only ones run under `up -d`.

use std::path::Path;

use crate::support::{stderr, TestContext};

/// A project directory holding the fixture `name` (tests/it/fixtures/import/NAME), with
/// no proctor.toml yet.
fn fixture(name: &str) -> TestContext {
    let ctx = TestContext {
        dir: tempfile::tempdir().expect("tempdir"),
        home: tempfile::tempdir().expect("tempdir"),
    };
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/import")
        .join(name);
    copy_dir(&src, ctx.dir.path());
    ctx
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// Imports `file` in the project directory; returns the spec written (the temp dir
/// replaced by `[DIR]`, for snapshots) and the warnings.
fn import(ctx: &TestContext, file: &str, env: &[(&str, &str)]) -> (String, String) {
    let out = ctx
        .cmd()
        .args(["import", file])
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let err = stderr(&out);
    assert!(out.status.success(), "import {file} failed: {err}");
    assert!(err.contains("wrote "), "{err}");
    let text = std::fs::read_to_string(ctx.spec_path()).expect("proctor.toml written");
    let dir = ctx.dir.path().display().to_string();
    (text.replace(&dir, "[DIR]"), err)
}

/// Every `# not imported:` comment of `spec` is also a warning, and there is at least one.
fn warned_of_everything_skipped(spec: &str, warnings: &str) {
    let skipped: Vec<&str> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("# not imported: "))
        .collect();
    assert!(
        !skipped.is_empty(),
        "nothing reported as not imported:\n{spec}"
    );
    for s in skipped {
        let first = s.split(" (").next().unwrap_or(s);
        assert!(
            warnings.contains(first),
            "{first:?} is not among the warnings:\n{warnings}"
        );
    }
    assert!(warnings.contains("warning: "), "{warnings}");
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).expect("valid JSON")
}

/// `up -d` the imported spec (only `services` when given), check `status --json` shows
/// exactly `running` running and that each of `lines` is printed, then `down`.
fn runs(
    ctx: &TestContext,
    services: &[&str],
    env: &[(&str, &str)],
    running: &[&str],
    lines: &[&str],
) {
    let out = ctx
        .cmd()
        .args(["up", "-d", "--timeout", "30s"])
        .args(services)
        .envs(env.iter().copied())
        .output()
        .expect("up");
    assert!(out.status.success(), "up -d: {}", stderr(&out));
    let st = json(&ctx.ok(&["status", "--json"]));
    let mut up: Vec<String> = st["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["state"] == "running")
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect();
    up.sort();
    let mut want: Vec<String> = running.iter().map(|s| (*s).to_string()).collect();
    want.sort();
    assert_eq!(up, want, "{st}");
    for line in lines {
        printed(ctx, line);
    }
    ctx.ok(&["down"]);
}

/// Waits until a service has printed a line containing `text` (already, or within the
/// deadline of `follow_until`): following first, so a line is either in the log files
/// when they are read or arrives on the stream.
fn printed(ctx: &TestContext, text: &str) {
    let mut c = ctx.client();
    c.send(proctor::control::proto::Command::Follow { services: vec![] })
        .expect("follow");
    if ctx.ok(&["logs", "-n", "100"]).contains(text) {
        return;
    }
    crate::support::follow_until(&mut c, text);
}

#[test]
fn compose_file_becomes_container_services() {
    let ctx = fixture("compose");
    let (spec, warnings) = import(&ctx, "docker-compose.yml", &[]);
    insta::assert_snapshot!("compose", spec);
    warned_of_everything_skipped(&spec, &warnings);
    for w in [
        "api: not imported: build",
        "DEBUG",
        "networks",
        "deploy.resources",
    ] {
        assert!(warnings.contains(w), "{w:?} not in {warnings}");
    }
    let out = ctx.ok(&["validate"]);
    // worker has two replicas.
    assert!(out.contains("ok (6 services)"), "{out}");
}

#[test]
fn procfile_with_dotenv_runs() {
    let ctx = fixture("procfile");
    let (spec, _) = import(&ctx, "Procfile", &[]);
    insta::assert_snapshot!("procfile", spec);
    ctx.ok(&["validate"]);
    // The .env reached the processes, and PORT as foreman gives it.
    runs(
        &ctx,
        &[],
        &[],
        &["web", "worker", "clock"],
        &[
            "web listening on port 5000 as shop",
            "worker for mail,reports",
        ],
    );
}

#[test]
fn supervisord_conf_runs_and_reports_what_it_skipped() {
    let ctx = fixture("supervisord");
    let env = [("SHOP_OWNER", "alice")];
    let (spec, warnings) = import(&ctx, "app.conf", &env);
    insta::assert_snapshot!("supervisord", spec);
    warned_of_everything_skipped(&spec, &warnings);
    for w in [
        "[supervisord]",
        "[group:shop]",
        "stdout_logfile",
        "exitcodes = 0,2",
        "priority",
    ] {
        assert!(warnings.contains(w), "{w:?} not in {warnings}");
    }
    let valid = ctx
        .cmd()
        .arg("validate")
        .envs(env)
        .output()
        .expect("validate");
    assert!(valid.status.success(), "{}", stderr(&valid));
    // numprocs = 2: two replicas, each told its own instance.
    runs(
        &ctx,
        &[],
        &env,
        &["web.0", "web.1", "worker"],
        &["web 0 for alice", "web 1 for alice"],
    );
}

#[test]
fn pm2_ecosystem_runs() {
    let ctx = fixture("pm2");
    let (spec, warnings) = import(&ctx, "ecosystem.config.json", &[]);
    insta::assert_snapshot!("pm2", spec);
    warned_of_everything_skipped(&spec, &warnings);
    ctx.ok(&["validate"]);
    runs(
        &ctx,
        &[],
        &[],
        &["api.0", "api.1", "queue-worker"],
        &["api on port 3000 (production): --port 3000"],
    );
}

#[test]
fn ops_sessions_yaml_runs_its_process_sessions() {
    let ctx = fixture("sessions");
    let (spec, warnings) = import(&ctx, "ops.yml", &[]);
    insta::assert_snapshot!("sessions", spec);
    warned_of_everything_skipped(&spec, &warnings);
    ctx.ok(&["validate"]);
    // tmux and container sessions validate; the process ones run here.
    runs(
        &ctx,
        &["api", "poller"],
        &[],
        &["api", "poller"],
        &["api up as ops"],
    );
}

#[test]
fn print_out_force_and_from() {
    let ctx = fixture("procfile");
    std::fs::rename(
        ctx.dir.path().join("Procfile"),
        ctx.dir.path().join("processes.txt"),
    )
    .expect("rename");
    // Detected by content; printed, nothing written.
    let out = ctx.ok(&["import", "--print", "processes.txt"]);
    assert!(out.contains("[service.web]"), "{out}");
    assert!(!ctx.spec_path().exists());
    // An existing proctor.toml is kept unless --force.
    std::fs::write(ctx.spec_path(), "# mine\n").expect("write");
    let refused = ctx.run(&["import", "processes.txt"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(
        std::fs::read_to_string(ctx.spec_path()).expect("read"),
        "# mine\n"
    );
    ctx.ok(&["import", "--force", "processes.txt"]);
    assert!(std::fs::read_to_string(ctx.spec_path())
        .expect("read")
        .contains("[service.web]"));
    // --out elsewhere: relative paths follow the spec.
    let other = tempfile::tempdir().expect("tempdir");
    let out_dir = other.path().display().to_string();
    ctx.ok(&["import", "processes.txt", "--out", &out_dir]);
    let moved = std::fs::read_to_string(other.path().join("proctor.toml")).expect("read");
    let env_file = ctx.dir.path().join(".env").display().to_string();
    assert!(
        moved.contains(&format!("env_file = [\"{env_file}\"]")),
        "{moved}"
    );
    let cwd = ctx.dir.path().display().to_string();
    assert!(moved.contains(&format!("cwd = \"{cwd}\"")), "{moved}");
    // --file names the spec to write, as for every verb.
    ctx.ok(&["import", "processes.txt", "--file", "other.toml"]);
    assert!(ctx.dir.path().join("other.toml").is_file());
    // --from overrides detection; a file that is none of them is an error.
    let wrong = ctx.run(&["import", "--print", "--from", "compose", "processes.txt"]);
    assert!(!wrong.status.success());
    std::fs::write(ctx.dir.path().join("notes.txt"), "just some text\n").expect("write");
    let unknown = ctx.run(&["import", "--print", "notes.txt"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("--from"), "{}", stderr(&unknown));
}

#[test]
fn a_syntax_error_names_its_line() {
    let ctx = fixture("supervisord");
    std::fs::write(
        ctx.dir.path().join("bad.conf"),
        "[program:a]\ncommand=x\nthis is not ini\n",
    )
    .expect("write");
    let out = ctx.run(&["import", "--print", "--from", "supervisord", "bad.conf"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.conf:3:"), "{}", stderr(&out));
    std::fs::write(
        ctx.dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: [unclosed\n",
    )
    .expect("write");
    let out = ctx.run(&["import", "--print", "compose.yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("compose.yaml:"), "{}", stderr(&out));
}

#[test]
fn init_new_writes_a_starter_that_validates_and_runs() {
    let ctx = fixture("procfile");
    let out = ctx.run(&["init", "--new"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("wrote a starter"), "{err}");
    // A Procfile is here: the exact command that imports it is offered.
    assert!(
        err.contains("found Procfile") && err.contains("    proctor import --force Procfile"),
        "{err}"
    );
    let starter = std::fs::read_to_string(ctx.spec_path()).expect("starter written");
    assert!(
        starter.lines().filter(|l| l.starts_with('#')).count() > 10,
        "{starter}"
    );
    ctx.ok(&["validate"]);
    runs(&ctx, &[], &[], &["app"], &["hello from proctor"]);
    // Never over an existing spec.
    let again = ctx.run(&["init", "--new"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(ctx.spec_path()).expect("read"),
        starter
    );
    // The offered command does what it says.
    ctx.ok(&["import", "--force", "Procfile"]);
    assert!(std::fs::read_to_string(ctx.spec_path())
        .expect("read")
        .contains("[service.web]"));
}

#[test]
fn plain_init_without_a_spec_writes_the_starter() {
    let ctx = fixture("compose");
    let out = ctx.run(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no proctor.toml here"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("proctor import --force docker-compose.yml"),
        "{}",
        stderr(&out)
    );
    ctx.ok(&["validate"]);
    // With a spec, plain init is the container entrypoint again: it runs the spec's
    // (first) service and exits with its status.
    ctx.write_spec("[service.main]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"no\"\n");
    assert_eq!(ctx.run(&["init"]).status.code(), Some(3));
}

/// The imported healthcheck is a readiness probe that execs into the running container, and
/// a `service_healthy` dependent waits for it (needs podman and the test image).
#[test]
fn compose_healthcheck_gates_its_dependent_under_podman() {
    use crate::backends::{podman_usable, unique_project, IMAGE};
    if !podman_usable() {
        return;
    }
    let ctx = fixture("procfile");
    let project = unique_project();
    let compose = format!(
        "name: {project}\nservices:\n  web:\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait\"]\n    healthcheck:\n      test: [\"CMD-SHELL\", \"test -f /www/index.html && pidof httpd\"]\n      interval: 1s\n  app:\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n    depends_on:\n      web: {{condition: service_healthy}}\n"
    );
    std::fs::write(ctx.dir.path().join("compose.yaml"), compose).expect("write compose");
    let (spec, _) = import(&ctx, "compose.yaml", &[]);
    assert!(
        spec.contains(&format!("exec proctor-{project}-web sh -c")),
        "{spec}"
    );
    runs_keeping(&ctx, &["web", "app"]);
    let st = json(&ctx.ok(&["status", "--json"]));
    let web = st["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "web"))
        .expect("web in status");
    assert_eq!(web["ready"], true, "{st}");
    ctx.ok(&["down"]);
}

/// `up -d` and check that exactly `running` run (left running).
fn runs_keeping(ctx: &TestContext, running: &[&str]) {
    let out = ctx
        .cmd()
        .args(["up", "-d", "--timeout", "60s"])
        .output()
        .expect("up");
    assert!(out.status.success(), "up -d: {}", stderr(&out));
    let st = json(&ctx.ok(&["status", "--json"]));
    let mut up: Vec<&str> = st["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["state"] == "running")
        .filter_map(|s| s["name"].as_str())
        .collect();
    up.sort_unstable();
    let mut want = running.to_vec();
    want.sort_unstable();
    assert_eq!(up, want, "{st}");
}
