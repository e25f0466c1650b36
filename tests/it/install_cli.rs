//! `proctor install` / `uninstall` end to end, into a temp `HOME` and `XDG_CONFIG_HOME`,
//! with systemd forced absent or replaced by a recording fake: never the real one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::TestContext;

const SPEC: &str = r#"
[project]
name = "shop"
roles = ["web", "jobs"]

[service.web]
command = ["sleep", "1000"]
autostart = ["web"]
stop_timeout = "20s"
"#;

/// A project plus a fake home; `systemctl` is the path of a recording fake, if any.
struct Install {
    ctx: TestContext,
    home: tempfile::TempDir,
    systemctl: Option<PathBuf>,
}

impl Install {
    fn new() -> Self {
        Self {
            ctx: TestContext::new(SPEC),
            home: tempfile::tempdir().expect("tempdir"),
            systemctl: None,
        }
    }

    /// Installs a fake `systemctl` that appends its arguments to `calls` and exits `code`.
    fn with_fake_systemctl(mut self, code: i32) -> Self {
        let path = self.home.path().join("fake-systemctl");
        let log = self.calls_path();
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\necho 'fake failure' >&2\nexit {code}\n",
            log.display()
        );
        std::fs::write(&path, script).expect("write fake");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        self.systemctl = Some(path);
        self
    }

    fn calls_path(&self) -> PathBuf {
        self.home.path().join("calls")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.calls_path())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c: Command = self.ctx.cmd();
        c.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env("PATH", "/usr/bin:/bin");
        match &self.systemctl {
            Some(fake) => c
                .env("PROCTOR_SYSTEMD_RUNNING", "1")
                .env("PROCTOR_SYSTEMCTL", fake),
            None => c.env("PROCTOR_SYSTEMD_RUNNING", "0"),
        };
        c.args(args).output().expect("run proctor")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "proctor {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "proctor {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Every file under the fake home except the fake systemctl and its log.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.home(), &mut out);
        out.retain(|p| !p.ends_with("fake-systemctl") && !p.ends_with("calls"));
        out.sort();
        out
    }

    fn unit(&self, name: &str) -> PathBuf {
        self.home()
            .join("config/systemd/user")
            .join(format!("{name}.service"))
    }

    fn manifest(&self, name: &str) -> PathBuf {
        self.home()
            .join("config/proctor/installed")
            .join(format!("{name}.json"))
    }
}

#[test]
fn round_trip_without_systemd_writes_prints_and_removes_exactly_its_files() {
    let t = Install::new();
    let out = t.ok(&["install", "--role", "web", "--env", "RUST_LOG=debug"]);
    let unit = t.unit("proctor-shop-web");
    let manifest = t.manifest("proctor-shop-web");
    assert_eq!(t.files(), [manifest.clone(), unit.clone()]);
    assert!(out.contains(&format!("wrote {}", unit.display())), "{out}");
    assert!(out.contains("systemctl --user daemon-reload"), "{out}");
    assert!(
        out.contains("systemctl --user enable --now proctor-shop-web.service"),
        "{out}"
    );

    let text = std::fs::read_to_string(&unit).expect("unit");
    let spec = t.ctx.spec_path();
    assert!(
        text.contains(&format!(
            "ExecStart={} up --file {} --role web",
            env!("CARGO_BIN_EXE_proctor"),
            spec.display()
        )),
        "{text}"
    );
    assert!(text.contains("Environment=\"RUST_LOG=debug\""), "{text}");
    assert!(
        text.contains("Environment=\"PATH=/usr/bin:/bin\""),
        "{text}"
    );
    // The boot supervisor must find the same state dir as this shell's CLI.
    let home = format!("Environment=\"PROCTOR_HOME={}\"", t.ctx.home().display());
    assert!(text.contains(&home), "{text}");
    assert!(text.contains("TimeoutStopSec=25s"), "{text}");

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("manifest")).expect("json");
    assert_eq!(m["name"], "proctor-shop-web");
    assert_eq!(m["target"], "systemd");
    assert_eq!(m["scope"], "user");
    assert_eq!(m["role"], "web");
    assert_eq!(m["files"], serde_json::json!([unit]));

    // Installing again replaces its own file.
    t.ok(&["install", "--role", "web"]);
    assert_eq!(t.files(), [manifest.clone(), unit.clone()]);

    // A file the user put beside ours survives the uninstall.
    let other = t.unit("hand-written");
    std::fs::write(&other, "[Service]\n").expect("write");
    let out = t.ok(&["uninstall", "--role", "web"]);
    assert!(
        out.contains(&format!("removed {}", unit.display())),
        "{out}"
    );
    assert!(
        out.contains("systemctl --user disable --now proctor-shop-web.service"),
        "{out}"
    );
    assert_eq!(t.files(), [other]);
    let err = t.fails(&["uninstall", "--role", "web"]);
    assert!(
        err.contains("no user boot service named \"proctor-shop-web\""),
        "{err}"
    );
}

#[test]
fn with_systemd_running_install_reloads_and_enables_and_uninstall_disables() {
    let t = Install::new().with_fake_systemctl(0);
    let out = t.ok(&["install", "--name", "shop"]);
    assert!(out.contains("ran "), "{out}");
    assert_eq!(
        t.calls(),
        ["--user daemon-reload", "--user enable --now shop.service"]
    );
    t.ok(&["install", "--name", "shop.service"]);
    assert_eq!(
        t.calls()[2..],
        [
            "--user daemon-reload",
            "--user enable --now shop.service",
            "--user restart shop.service"
        ]
    );
    t.ok(&["uninstall", "--name", "shop"]);
    assert_eq!(
        t.calls()[5..],
        ["--user disable --now shop.service", "--user daemon-reload"]
    );
    assert!(t.files().is_empty(), "{:?}", t.files());
}

#[test]
fn a_failing_systemctl_is_reported_and_leaves_an_uninstallable_record() {
    let t = Install::new().with_fake_systemctl(1);
    let err = t.fails(&["install"]);
    assert!(
        err.contains("daemon-reload` failed") && err.contains("fake failure"),
        "{err}"
    );
    assert!(t.unit("proctor-shop").is_file());
    assert!(t.manifest("proctor-shop").is_file());
}

#[test]
fn print_touches_nothing() {
    let t = Install::new().with_fake_systemctl(0);
    let out = t.ok(&["install", "--print", "--role", "jobs"]);
    assert!(out.starts_with("# Written by `proctor install`"), "{out}");
    assert!(out.contains("--role jobs"), "{out}");
    let plist = t.ok(&["install", "--print", "--target", "launchd"]);
    assert!(plist.contains("<key>Label</key>"), "{plist}");
    let ps1 = t.ok(&["install", "--print", "--target", "windows"]);
    assert!(ps1.contains("New-Service @Params"), "{ps1}");
    assert!(t.files().is_empty(), "{:?}", t.files());
    assert!(t.calls().is_empty());
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let t = Install::new().with_fake_systemctl(0);
    let cases: &[(&[&str], &str)] = &[
        (&["install", "--role", "nope"], "unknown role \"nope\""),
        (
            &["install", "--name", "a/b"],
            "invalid systemd service name \"a/b\"",
        ),
        (&["install", "--name=-x"], "must not start with"),
        (&["install", "--target", "launchd"], "use --print"),
        (&["install", "--target", "windows"], "use --print"),
        (
            &["install", "--user-name", "bob"],
            "--user-name needs --system",
        ),
        (
            &["install", "--env", "1X=y"],
            "invalid environment variable",
        ),
        (
            &["-f", "missing/proctor.toml", "install"],
            "cannot read the spec",
        ),
    ];
    for (args, want) in cases {
        let err = t.fails(args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = t.run(&["install", "--env", "novalue"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed --env is a usage error"
    );
    assert!(t.files().is_empty(), "{:?}", t.files());
    assert!(t.calls().is_empty());
}

#[test]
fn a_file_proctor_did_not_write_is_never_replaced() {
    let t = Install::new();
    let unit = t.unit("proctor-shop");
    std::fs::create_dir_all(unit.parent().expect("parent")).expect("mkdir");
    std::fs::write(&unit, "mine\n").expect("write");
    let err = t.fails(&["install"]);
    assert!(err.contains("was not installed by proctor"), "{err}");
    assert_eq!(std::fs::read_to_string(&unit).expect("read"), "mine\n");
    assert_eq!(t.files(), [unit]);
}

#[test]
fn a_relative_spec_path_is_made_absolute() {
    let t = Install::new();
    let out = t.ok(&["-f", "proctor.toml", "install", "--print"]);
    let spec = t.ctx.spec_path();
    assert!(out.contains(&format!("--file {}", spec.display())), "{out}");
}
