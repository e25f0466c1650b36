//! Boot service renderings: snapshots of all three, every systemd variant through
//! `systemd-analyze verify`, and the plist read back with the plist crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proctor::install::{render, Boot, Scope, Target};

use crate::support::{require, which};

/// A boot service with fixed paths, so snapshots do not depend on the machine.
fn fixed(target: Target, scope: Scope) -> Boot {
    Boot {
        target,
        scope,
        name: target.default_name("shop", None),
        project: "shop".into(),
        exe: PathBuf::from("/usr/local/bin/proctor"),
        spec_path: PathBuf::from("/srv/shop/proctor.toml"),
        working_dir: PathBuf::from("/srv/shop"),
        role: None,
        env: BTreeMap::new(),
        user_name: None,
        stop_timeout: Duration::from_secs(15),
        start_timeout: Duration::from_secs(90),
        log_dir: PathBuf::from("/Users/ann/Library/Logs/proctor"),
    }
}

/// `fixed` with a role, environment that needs escaping, and (system) an account.
fn full(target: Target, scope: Scope) -> Boot {
    let mut b = fixed(target, scope);
    b.role = Some("worker".into());
    b.name = target.default_name("shop", Some("worker"));
    b.spec_path = PathBuf::from("/srv/my shop/proctor.toml");
    b.working_dir = PathBuf::from("/srv/my shop");
    b.env = env();
    if scope == Scope::System {
        b.user_name = Some("deploy".into());
        b.log_dir = PathBuf::from("/Library/Logs/proctor");
    }
    b
}

fn env() -> BTreeMap<String, String> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("GREETING", "it's \"100%\" $HOME \\o/"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn snapshots_of_every_target() {
    let cases = [
        ("systemd_user", fixed(Target::Systemd, Scope::User)),
        (
            "systemd_system_role_env_user",
            full(Target::Systemd, Scope::System),
        ),
        ("launchd_agent", fixed(Target::Launchd, Scope::User)),
        (
            "launchd_daemon_role_env_user",
            full(Target::Launchd, Scope::System),
        ),
        ("windows", fixed(Target::Windows, Scope::System)),
        (
            "windows_role_env_user",
            full(Target::Windows, Scope::System),
        ),
    ];
    for (name, boot) in cases {
        let text = render(&boot).expect("render");
        insta::assert_snapshot!(name, text);
    }
}

/// `systemd-analyze`, which the tests below need: their skip (or, under CI, failure) is
/// `support::require`'s.
fn systemd_analyze() -> Option<PathBuf> {
    require(
        "systemd-analyze",
        which("systemd-analyze").map_err(|why| format!("{why}; CI installs the systemd package")),
    )
}

/// Runs `analyze verify` on `text` saved as `<name>.service` and insists on a clean
/// stderr: verify exits 0 even when it warns.
fn verify(analyze: &Path, scope: Scope, name: &str, text: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let unit = tmp.path().join(format!("{name}.service"));
    std::fs::write(&unit, text).expect("write unit");
    // The user manager wants a runtime directory of its own; give it a private one.
    let runtime = tmp.path().join("runtime");
    std::fs::create_dir(&runtime).expect("mkdir");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let mut cmd = Command::new(analyze);
    if scope == Scope::User {
        cmd.arg("--user");
    }
    let out = cmd
        .arg("verify")
        .arg(&unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {scope:?} {name}: {}\n{stderr}\n--- unit:\n{text}",
        out.status
    );
}

#[test]
fn every_systemd_rendering_passes_systemd_analyze_verify() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    // verify checks that ExecStart's program exists, so use the real one; the spec lives in
    // a directory whose name needs quoting and escaping.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("my shop 100%");
    std::fs::create_dir(&dir).expect("mkdir");
    let spec = dir.join("proctor.toml");
    std::fs::write(&spec, "[service.a]\ncommand = [\"true\"]\n").expect("write");
    for scope in [Scope::User, Scope::System] {
        for role in [None, Some("worker")] {
            for with_env in [false, true] {
                let mut b = fixed(Target::Systemd, scope);
                b.exe = PathBuf::from(env!("CARGO_BIN_EXE_proctor"));
                b.spec_path = spec.clone();
                b.working_dir = dir.clone();
                b.role = role.map(String::from);
                b.name = Target::Systemd.default_name("shop", role);
                if with_env {
                    b.env = env();
                    b.env
                        .insert("MULTI".into(), "line one\nline two\ttab".into());
                }
                if scope == Scope::System && with_env {
                    b.user_name = Some("deploy".into());
                }
                let text = render(&b).expect("render");
                verify(&analyze, scope, &b.name, &text);
            }
        }
    }
}

#[test]
fn verify_catches_a_broken_unit() {
    // Guards the check above: a unit systemd rejects must fail `verify`.
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let mut b = fixed(Target::Systemd, Scope::System);
    b.exe = PathBuf::from(env!("CARGO_BIN_EXE_proctor"));
    let text = render(&b)
        .expect("render")
        .replace("KillMode=mixed", "KillMode=bogus");
    let result = std::panic::catch_unwind(|| verify(&analyze, Scope::System, "broken", &text));
    assert!(result.is_err(), "verify accepted KillMode=bogus");
}

#[test]
fn the_plist_parses_back_into_the_expected_keys() {
    let b = full(Target::Launchd, Scope::System);
    let text = render(&b).expect("render");
    let v: plist::Value =
        plist::Value::from_reader(std::io::Cursor::new(text.as_bytes())).expect("valid plist");
    let d = v.as_dictionary().expect("a dictionary");
    let s = |k: &str| {
        d.get(k)
            .and_then(plist::Value::as_string)
            .map(str::to_string)
    };
    assert_eq!(s("Label").as_deref(), Some("proctor.shop.worker"));
    let argv: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(plist::Value::as_string)
        .collect();
    assert_eq!(
        argv,
        [
            "/usr/local/bin/proctor",
            "up",
            "--file",
            "/srv/my shop/proctor.toml",
            "--role",
            "worker"
        ]
    );
    let envd = d["EnvironmentVariables"].as_dictionary().expect("env");
    for (k, v) in env() {
        assert_eq!(
            envd.get(&k).and_then(plist::Value::as_string),
            Some(v.as_str())
        );
    }
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    let keep_alive = d["KeepAlive"].as_dictionary().expect("KeepAlive dict");
    assert_eq!(keep_alive["SuccessfulExit"].as_boolean(), Some(false));
    assert_eq!(s("WorkingDirectory").as_deref(), Some("/srv/my shop"));
    assert_eq!(s("ProcessType").as_deref(), Some("Standard"));
    assert_eq!(s("UserName").as_deref(), Some("deploy"));
    let log = "/Library/Logs/proctor/proctor.shop.worker.log";
    assert_eq!(s("StandardOutPath").as_deref(), Some(log));
    assert_eq!(s("StandardErrorPath").as_deref(), Some(log));
    assert_eq!(d["ExitTimeOut"].as_unsigned_integer(), Some(15));
}

#[test]
fn a_user_agent_has_no_account_and_no_environment_when_none_is_given() {
    let text = render(&fixed(Target::Launchd, Scope::User)).expect("render");
    let v: plist::Value =
        plist::Value::from_reader(std::io::Cursor::new(text.as_bytes())).expect("valid plist");
    let d = v.as_dictionary().expect("dict");
    assert!(d.get("UserName").is_none());
    assert!(d.get("EnvironmentVariables").is_none());
    assert!(Path::new(d["StandardOutPath"].as_string().expect("path")).is_absolute());
}
