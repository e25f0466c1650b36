//! Checks of [`Boot`] built from a spec: names, roles, timeouts, bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::spec::Spec;

const SPEC: &str = r#"
[project]
name = "shop"
roles = ["web", "jobs"]

[service.db]
command = ["db"]
stop_timeout = "20s"
ready = { tcp = "127.0.0.1:5432", deadline = "40s", initial_delay = "5s" }

[service.web]
command = ["web"]
autostart = ["web"]
stop_timeout = "3s"
depends_on = ["db"]
ready = { tcp = "127.0.0.1:80", deadline = "50s" }

[service.mail]
command = ["mail"]
stop_timeout = "30s"
"#;

fn spec(dir: &Path) -> Spec {
    let path = dir.join("proctor.toml");
    std::fs::write(&path, SPEC).expect("write spec");
    Spec::load(&path).expect("valid spec")
}

fn host(dir: &Path) -> Host {
    Host {
        home: dir.join("home"),
        config_home: dir.join("home/.config"),
        root: dir.join("root"),
        native: Some(Target::Systemd),
        systemd_running: false,
        systemctl: PathBuf::from("systemctl"),
        uid: 1000,
    }
}

fn request(target: Target) -> Request {
    Request {
        target,
        scope: Scope::User,
        role: None,
        name: None,
        user_name: None,
        env: BTreeMap::new(),
    }
}

fn boot(req: Request) -> Result<Boot, InstallError> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = spec(tmp.path());
    Boot::new(
        &spec,
        req,
        PathBuf::from("/usr/bin/proctor"),
        &host(tmp.path()),
    )
}

#[test]
fn default_names_follow_the_target_and_role() {
    assert_eq!(
        boot(request(Target::Systemd)).expect("boot").name,
        "proctor-shop"
    );
    let mut req = request(Target::Launchd);
    req.role = Some("web".into());
    assert_eq!(boot(req).expect("boot").name, "proctor.shop.web");
    let mut req = request(Target::Systemd);
    req.name = Some("shop.service".into());
    assert_eq!(boot(req).expect("boot").name, "shop");
}

#[test]
fn timeouts_follow_the_slowest_dependency_chain() {
    let b = boot(request(Target::Systemd)).expect("boot");
    // mail alone (30s) outweighs web then db (3s + 20s); plus the margin.
    assert_eq!(b.stop_timeout, Duration::from_secs(35));
    // web waits for db: 45s + 50s, plus the margin.
    assert_eq!(b.start_timeout, Duration::from_secs(125));
}

#[test]
fn bad_input_is_refused() {
    let mut req = request(Target::Systemd);
    req.role = Some("nope".into());
    let e = boot(req).expect_err("unknown role");
    assert!(e.to_string().contains("web, jobs"), "{e}");

    let mut req = request(Target::Systemd);
    req.name = Some("my unit".into());
    assert!(matches!(boot(req), Err(InstallError::InvalidName { .. })));
    let mut req = request(Target::Launchd);
    req.name = Some("a:b".into());
    assert!(matches!(boot(req), Err(InstallError::InvalidName { .. })));

    let mut req = request(Target::Systemd);
    req.user_name = Some("deploy".into());
    assert!(matches!(boot(req), Err(InstallError::UserNameNeedsSystem)));
    let mut req = request(Target::Systemd);
    req.scope = Scope::System;
    req.user_name = Some("de ploy".into());
    assert!(matches!(boot(req), Err(InstallError::InvalidUserName(_))));

    let mut req = request(Target::Systemd);
    req.env.insert("1X".into(), "v".into());
    assert!(matches!(boot(req), Err(InstallError::InvalidEnv { .. })));
    assert!(matches!(
        boot(request(Target::Windows)),
        Err(InstallError::WindowsIsSystemWide)
    ));
}

#[test]
fn a_spec_without_a_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spec = spec(tmp.path());
    let h = host(tmp.path());
    let exe = PathBuf::from("/usr/bin/proctor");
    spec.path = PathBuf::from("proctor.toml");
    let e = Boot::new(&spec, request(Target::Systemd), exe.clone(), &h).expect_err("relative");
    assert!(
        matches!(e, InstallError::RelativePath { what: "spec", .. }),
        "{e}"
    );
    spec.path = tmp.path().join("gone.toml");
    let e = Boot::new(&spec, request(Target::Systemd), exe, &h).expect_err("missing");
    assert!(matches!(e, InstallError::MissingSpec(_)), "{e}");
}

#[test]
fn a_relative_executable_is_refused_by_render() {
    let mut b = boot(request(Target::Systemd)).expect("boot");
    b.exe = PathBuf::from("proctor");
    assert!(matches!(render(&b), Err(InstallError::RelativePath { .. })));
    b.exe = PathBuf::from("/usr/bin/pro\nctor");
    assert!(matches!(render(&b), Err(InstallError::BadPath { .. })));
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn system_installs_stay_under_the_host_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = spec(tmp.path());
    let h = host(tmp.path());
    let mut req = request(Target::Systemd);
    req.scope = Scope::System;
    req.user_name = Some("deploy".into());
    let b = Boot::new(&spec, req, PathBuf::from("/usr/bin/proctor"), &h).expect("boot");
    let out = install(&b, &h).expect("install");
    let unit = h.root.join("etc/systemd/system/proctor-shop.service");
    assert_eq!(out.files, std::slice::from_ref(&unit));
    assert_eq!(
        out.manifest,
        h.root.join("var/lib/proctor/installed/proctor-shop.json")
    );
    assert_eq!(
        out.to_run,
        [
            "systemctl daemon-reload",
            "systemctl enable --now proctor-shop.service"
        ]
    );
    assert!(std::fs::read_to_string(&unit)
        .expect("unit")
        .contains("User=deploy\n"));
    // A user-scope uninstall does not see a system installation.
    assert!(matches!(
        uninstall("proctor-shop", Scope::User, &h),
        Err(InstallError::NotInstalled { .. })
    ));
    let out = uninstall("proctor-shop", Scope::System, &h).expect("uninstall");
    assert_eq!(out.files, [unit]);
    assert_eq!(
        out.to_run,
        [
            "systemctl disable --now proctor-shop.service",
            "systemctl daemon-reload"
        ]
    );
    assert_eq!(files(&h.root), Vec::<PathBuf>::new());
}

#[test]
fn launchd_installs_write_the_agent_and_print_launchctl() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = spec(tmp.path());
    let mut h = host(tmp.path());
    h.native = Some(Target::Launchd);
    // Even with systemd "running", a launchd install never calls systemctl.
    h.systemd_running = true;
    h.systemctl = PathBuf::from("/nonexistent/systemctl");
    let b = Boot::new(
        &spec,
        request(Target::Launchd),
        "/usr/bin/proctor".into(),
        &h,
    )
    .expect("boot");
    let out = install(&b, &h).expect("install");
    let agent = h.home.join("Library/LaunchAgents/proctor.shop.plist");
    assert_eq!(out.files, std::slice::from_ref(&agent));
    assert_eq!(
        out.to_run,
        [format!("launchctl bootstrap gui/1000 {}", agent.display())]
    );
    assert!(h.home.join("Library/Logs/proctor").is_dir());
    let out = uninstall("proctor.shop", Scope::User, &h).expect("uninstall");
    assert_eq!(out.to_run, ["launchctl bootout gui/1000/proctor.shop"]);
    assert!(!agent.exists());
    assert_eq!(files(&h.home), Vec::<PathBuf>::new());
}

#[test]
fn a_missing_file_is_reported_not_fatal_on_uninstall() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec = spec(tmp.path());
    let h = host(tmp.path());
    let b = Boot::new(
        &spec,
        request(Target::Systemd),
        "/usr/bin/proctor".into(),
        &h,
    )
    .expect("boot");
    let out = install(&b, &h).expect("install");
    std::fs::remove_file(&out.files[0]).expect("rm");
    let gone = uninstall("proctor-shop", Scope::User, &h).expect("uninstall");
    assert_eq!(gone.missing, out.files);
    assert!(gone.files.is_empty());
    // Nothing to disable once the unit file is gone; the reload still tidies up.
    assert_eq!(gone.to_run, ["systemctl --user daemon-reload"]);
    assert!(!out.manifest.exists());
}
