//! `proctor export` (issue 21): snapshots of all three targets, the Kubernetes objects
//! validated against the OpenAPI schema of Kubernetes 1.30 (pip `kubernetes-validate`, in
//! a venv under `target/`), the units through `systemd-analyze verify`, and the compose
//! file read back by a YAML parser. The run under podman is in `export_podman.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{require, stderr, which, TestContext};

/// A project touching every mapping: a container with a named volume, persistent storage
/// (a StatefulSet), a one-shot job, roles, each probe kind, limits and ids.
const SPEC: &str = r#"
[project]
name = "shop"
roles = ["edge", "batch"]

[export]
image = "registry.example/shop:1.4"

[service.db]
backend = "container"
image = "postgres:16"
volumes = ["pgdata:/var/lib/postgresql/data"]
ports = ["5432:5432"]
env = { POSTGRES_PASSWORD = "secret" }
ready = { exec = ["pg_isready"], interval = "2s", deadline = "30s" }
stop_signal = "INT"
stop_timeout = "20s"

[service.api]
command = ["/srv/shop/api", "--listen", ":8080"]
cwd = "/tmp"
ports = ["8080:8080"]
ready = { http = "http://127.0.0.1:8080/health", interval = "500ms", timeout = "2s" }
live = { tcp = "127.0.0.1:8080", failures = 5, initial_delay = "10s" }
depends_on = { db = "ready", migrate = "completed" }
restart = "always"
user = "1000"
group = "web"
memory_max = "256MB"
cpu_max = "150%"
autostart = ["edge"]
storage = { path = "/srv/shop/state" }

[service.migrate]
command = "/srv/shop/api migrate"
image = "registry.example/shop-tools:1.4"
restart = "no"
depends_on = ["db"]

[service.mailer]
backend = "tmux"
command = ["/srv/shop/mailer"]
ready = { log = "listening" }
autostart = ["edge", "batch"]
nice = 5
rlimits = { nofile = 4096 }
reload_on = ["/srv/shop/mailer.toml"]
reload_signal = "HUP"

[service.report]
command = ["/srv/shop/report"]
schedule = "0 30 3 * * *"
depends_on = ["db"]
"#;

fn export(ctx: &TestContext, args: &[&str]) -> (String, String) {
    let out = ctx.run(&[&["export"], args].concat());
    assert!(out.status.success(), "export {args:?}: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text, stderr(&out))
}

#[test]
fn r21_kube_snapshot_and_warnings() {
    let ctx = TestContext::new(SPEC);
    let (yaml, warnings) = export(&ctx, &["kube", "--namespace", "shop"]);
    insta::assert_snapshot!("kube", yaml);
    // Everything the objects cannot hold is named on stderr.
    insta::assert_snapshot!("kube_warnings", warnings);
    // Deterministic: the same spec gives the same bytes.
    assert_eq!(export(&ctx, &["kube", "--namespace", "shop"]).0, yaml);
}

#[test]
fn r21_kube_needs_an_image_and_names_what_is_wrong() {
    let ctx = TestContext::new("[service.web]\ncommand = [\"/bin/web\"]\n");
    let out = ctx.run(&["export", "kube"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("service `web` has no image to run in"),
        "{}",
        stderr(&out)
    );
    let out = ctx.run(&["export", "kube", "--stateful", "nope"]);
    assert!(stderr(&out).contains("`nope`"), "{}", stderr(&out));
}

/// The `kubernetes-validate` venv (with PyYAML, which the compose test reads with), made
/// once under `target/` and shared by test runs through a lock.
fn venv() -> Option<PathBuf> {
    let python = require(
        "python3 with venv and pip",
        which("python3").and_then(|p| {
            let ok = Command::new(&p)
                .args(["-c", "import venv, ensurepip"])
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(p)
                .ok_or_else(|| "python3 lacks venv or ensurepip".to_string())
        }),
    )?;
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let venv = target.join("export-venv");
    let lock = target.join("export-venv.lock");
    let guard = std::fs::File::create(&lock).expect("venv lock");
    guard.lock().expect("lock the venv");
    let py = venv.join("bin").join("python");
    let ready = Command::new(&py)
        .args(["-c", "import kubernetes_validate, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        checked(Command::new(&python).arg("-m").arg("venv").arg(&venv));
        checked(Command::new(&py).args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "kubernetes-validate==1.37.0",
            "PyYAML>=5",
        ]));
    }
    Some(venv)
}

fn checked(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kubernetes-validate --strict` against Kubernetes 1.30 (the bundled schema); strict
/// rejects any field the schema does not know.
fn validate(venv: &Path, files: &[PathBuf]) -> Output {
    Command::new(venv.join("bin").join("kubernetes-validate"))
        .args(["--kubernetes-version", "1.30.0", "--strict", "--no-warn"])
        .args(files)
        .output()
        .expect("run kubernetes-validate")
}

#[test]
fn r21_kube_objects_match_the_kubernetes_schema() {
    let Some(venv) = venv() else { return };
    let ctx = TestContext::new(SPEC);
    let out = ctx.dir.path().join("k8s");
    let outs = out.to_str().expect("utf-8 path");
    export(&ctx, &["kube", "--out", outs, "--stateful", "mailer"]);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let kinds: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(String::from))
        .collect();
    assert_eq!(
        kinds,
        [
            "api.service.yaml",
            "api.statefulset.yaml",
            "db-env.configmap.yaml",
            "db-pgdata.persistentvolumeclaim.yaml",
            "db.deployment.yaml",
            "db.service.yaml",
            "mailer.service.yaml",
            "mailer.statefulset.yaml",
            "migrate.job.yaml",
            "report.cronjob.yaml",
        ]
    );
    let ok = validate(&venv, &files);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // The validator does reject what the schema does not allow.
    let bad = out.join("bad.yaml");
    let text = std::fs::read_to_string(out.join("db.deployment.yaml")).expect("read");
    std::fs::write(&bad, text.replace("containerPort", "containerPorts")).expect("write");
    assert!(!validate(&venv, &[bad]).status.success());
}

#[test]
fn r21_compose_reads_back() {
    let Some(venv) = venv() else { return };
    let ctx = TestContext::new(SPEC);
    let (yaml, warnings) = export(&ctx, &["compose"]);
    insta::assert_snapshot!("compose", yaml);
    assert!(warnings.contains("service `api`: live"), "{warnings}");
    // The coordinator adds the round trip through `proctor import`; until then a YAML
    // parser reads the file back and the fields are checked.
    let mut child = Command::new(venv.join("bin").join("python"))
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), yaml.as_bytes())
        .expect("feed yaml");
    let out = child.wait_with_output().expect("python");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = &doc["services"];
    assert_eq!(doc["name"], "shop");
    assert_eq!(s["db"]["image"], "postgres:16");
    assert_eq!(s["db"]["ports"][0], "5432:5432");
    assert_eq!(s["db"]["volumes"][0], "pgdata:/var/lib/postgresql/data");
    assert_eq!(s["db"]["environment"]["POSTGRES_PASSWORD"], "secret");
    assert_eq!(s["db"]["stop_signal"], "SIGINT");
    assert_eq!(s["db"]["stop_grace_period"], "20s");
    assert_eq!(s["db"]["healthcheck"]["test"][1], "pg_isready");
    assert_eq!(s["api"]["command"][2], ":8080");
    assert_eq!(s["api"]["image"], "registry.example/shop:1.4");
    assert_eq!(s["api"]["depends_on"]["db"]["condition"], "service_healthy");
    assert_eq!(
        s["api"]["depends_on"]["migrate"]["condition"],
        "service_completed_successfully"
    );
    assert_eq!(s["api"]["restart"], "always");
    assert_eq!(s["api"]["user"], "1000:web");
    assert_eq!(s["api"]["cpus"], 1.5);
    assert_eq!(s["api"]["profiles"][0], "edge");
    assert_eq!(s["migrate"]["restart"], "no");
    assert_eq!(s["migrate"]["image"], "registry.example/shop-tools:1.4");
    assert_eq!(s["migrate"]["command"][1], "migrate");
}

#[test]
fn r21_systemd_units_pass_verify() {
    let Some(analyze) = require(
        "systemd-analyze",
        which("systemd-analyze").map_err(|why| format!("{why}; CI installs the systemd package")),
    ) else {
        return;
    };
    // Programs that exist here: verify checks every ExecStart names an executable.
    let spec = r#"
[project]
name = "shop"
[service.db]
command = ["/bin/sleep", "3600"]
ready = { notify = true, deadline = "45s", watchdog = "10s" }
storage = "sandboxed"
[service.web]
command = ["/bin/sh", "-c", "exec sleep 3600 # 100% $HOME"]
depends_on = ["db"]
env = { GREETING = "hello world", PCT = "5%" }
restart = "always"
memory_max = "128MB"
cpu_max = "50%"
rlimits = { nofile = 1024 }
reload_signal = "HUP"
reload_on = ["proctor.toml"]
ready = { tcp = "127.0.0.1:80" }
"#;
    let ctx = TestContext::new(spec);
    let dir = ctx.dir.path().to_str().expect("utf-8").to_string();
    let (units, warnings) = export(&ctx, &["systemd"]);
    insta::assert_snapshot!("systemd", units.replace(&dir, "/PROJECT"));
    insta::assert_snapshot!("systemd_warnings", warnings.replace(&dir, "/PROJECT"));
    let out = ctx.dir.path().join("units");
    export(&ctx, &["systemd", "--out", out.to_str().expect("utf-8")]);
    let files = [out.join("shop-db.service"), out.join("shop-web.service")];
    let runtime = tempfile::tempdir().expect("tempdir");
    let run = Command::new(analyze)
        .arg("verify")
        .args(&files)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {}\n{err}\n{units}",
        run.status
    );
}

#[test]
fn r21_replicas_become_one_deployment() {
    let spec = r#"
[project]
name = "rp"
[export]
image = "img:1"
[service.web]
command = ["/bin/web", "--port", "${PORT}"]
replicas = 3
ports_from = 9000
ports = ["8080"]
[service.lb]
command = ["/bin/lb"]
depends_on = ["web"]
"#;
    let ctx = TestContext::new(spec);
    let (yaml, warnings) = export(&ctx, &["kube"]);
    // One Deployment for the group, none per replica; the dependent waits on the group.
    assert_eq!(yaml.matches("kind: Deployment").count(), 2, "{yaml}");
    assert!(yaml.contains("  name: web\n") && !yaml.contains("web.0") && !yaml.contains("web-0"));
    assert!(yaml.contains("  replicas: 3\n"), "{yaml}");
    assert!(yaml.contains("PROCTOR_REPLICAS: \"3\""), "{yaml}");
    assert!(!yaml.contains("PROCTOR_INSTANCE"), "{yaml}");
    assert!(yaml.contains("until nc -w 1 web 8080"), "{yaml}");
    assert!(
        warnings.contains("service `web`: replicas = 3: PROCTOR_INSTANCE is not set"),
        "{warnings}"
    );
    let (compose, _) = export(&ctx, &["compose"]);
    assert!(
        compose.contains("deploy:\n      replicas: 3\n"),
        "{compose}"
    );
    // systemd keeps one unit per replica, each with its own PORT.
    let (units, _) = export(&ctx, &["systemd"]);
    for i in 0..3 {
        let port = 9000 + i;
        assert!(units.contains(&format!("# rp-web.{i}.service")), "{units}");
        assert!(units.contains(&format!("--port {port}")), "{units}");
    }
}

/// `export compose` read back by `proctor import` (issue 21's round trip): the spec it
/// writes validates, and each service keeps what compose can carry — image, command,
/// ports, volumes, environment, dependencies with their conditions, restart, stop signal
/// and grace period, readiness, roles.
#[test]
fn r21_compose_round_trips_through_import() {
    let ctx = TestContext::new(SPEC);
    let (yaml, _) = export(&ctx, &["compose"]);
    let back = tempfile::tempdir().expect("tempdir");
    std::fs::write(back.path().join("compose.yaml"), &yaml).expect("write compose");
    let out = ctx
        .cmd()
        .current_dir(back.path())
        .args(["import", "compose.yaml"])
        .output()
        .expect("import");
    assert!(out.status.success(), "import: {}", stderr(&out));
    let spec_path = back.path().join("proctor.toml");
    let out = ctx
        .cmd()
        .args([
            "--file",
            spec_path.to_str().expect("utf-8"),
            "validate",
            "--print",
        ])
        .output()
        .expect("validate");
    assert!(out.status.success(), "validate: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: toml::Table = text.parse().expect("toml");
    let svc = |name: &str| doc["service"][name].as_table().expect(name).clone();

    let db = svc("db");
    assert_eq!(db["image"].as_str(), Some("postgres:16"));
    assert_eq!(db["ports"][0].as_str(), Some("5432:5432"));
    assert_eq!(
        db["volumes"][0].as_str(),
        Some("pgdata:/var/lib/postgresql/data")
    );
    assert_eq!(db["env"]["POSTGRES_PASSWORD"].as_str(), Some("secret"));
    assert_eq!(db["stop_timeout"].as_str(), Some("20s"));
    assert!(
        db["stop_signal"]
            .as_str()
            .is_some_and(|s| s.ends_with("INT")),
        "{db:?}"
    );
    assert!(
        db.contains_key("ready"),
        "the healthcheck is the readiness probe: {db:?}"
    );

    let api = svc("api");
    assert_eq!(api["image"].as_str(), Some("registry.example/shop:1.4"));
    let command: Vec<&str> = api["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(command, ["/srv/shop/api", "--listen", ":8080"]);
    assert_eq!(api["restart"].as_str(), Some("always"));
    let deps = format!("{}", api["depends_on"]);
    assert!(deps.contains("db") && deps.contains("ready"), "{deps}");
    assert!(
        deps.contains("migrate") && deps.contains("completed"),
        "{deps}"
    );
    assert_eq!(api["autostart"][0].as_str(), Some("edge"));

    let migrate = svc("migrate");
    assert_eq!(migrate["restart"].as_str(), Some("no"));
    assert_eq!(
        migrate["image"].as_str(),
        Some("registry.example/shop-tools:1.4")
    );
}
