//! `proctor install` and `proctor uninstall`: a boot service that runs `proctor up`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};

use crate::cli::args::{InstallArgs, ScopeArgs, UninstallArgs};
use crate::cli::{load_spec, Printer};
use crate::install::{self, Boot, Host, InstallError, Request, Scope, Target};

/// Taken from the installing shell so the boot service finds the same programs and the
/// same state directory (and so `proctor status` there reaches its supervisor).
const CAPTURED_ENV: &[&str] = &["PATH", crate::state::HOME_VAR, "XDG_STATE_HOME"];

pub(crate) fn install(file: Option<&Path>, a: InstallArgs, p: &Printer) -> Result<ExitCode> {
    let spec = load_spec(file)?;
    let native = Target::native();
    let target = a.target.or(native).ok_or_else(|| {
        anyhow!("this OS has no init system proctor knows; pick one with --target")
    })?;
    let scope = scope(&a.scope, target);
    let mut env = BTreeMap::new();
    // Another OS's boot service has no use for this shell's PATH.
    if native == Some(target) {
        for key in CAPTURED_ENV {
            if let Some(v) = std::env::var(key).ok().filter(|v| !v.is_empty()) {
                env.insert((*key).to_string(), v);
            }
        }
    }
    env.extend(a.env);
    let host = Host::detect()?;
    let exe = std::env::current_exe().context("cannot find the proctor executable")?;
    let req = Request {
        target,
        scope,
        role: a.role,
        name: a.name,
        user_name: a.user_name,
        env,
    };
    let boot = Boot::new(&spec, req, exe, &host)?;
    if a.print && a.json {
        p.json(&serde_json::json!({
            "target": boot.target,
            "scope": boot.scope,
            "name": boot.name,
            "content": install::render(&boot)?,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    if a.print {
        p.raw(install::render(&boot)?.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = install::install(&boot, &host)?;
    for f in &out.files {
        p.line(&format!("wrote {}", f.display()));
    }
    for c in &out.ran {
        p.line(&format!("ran {c}"));
    }
    if !out.to_run.is_empty() {
        p.note(match target {
            Target::Systemd => "systemd is not running here; to start the service, run:",
            _ => "to load the service now, run:",
        });
        for c in &out.to_run {
            p.line(&format!("  {c}"));
        }
    }
    let exe = boot.exe.display().to_string();
    if exe.contains("/target/debug/") || exe.contains("/target/release/") {
        p.note(&format!(
            "hint: the service runs {exe}; a rebuild or `cargo clean` changes it (`cargo install` gives a stable path)"
        ));
    }
    if target == Target::Systemd && scope == Scope::User {
        p.note("hint: user services start at login; to start at boot without one: loginctl enable-linger $USER");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn uninstall(file: Option<&Path>, a: UninstallArgs, p: &Printer) -> Result<ExitCode> {
    let target = Target::native()
        .ok_or_else(|| anyhow!("this OS has no init system proctor can uninstall from"))?;
    let scope = scope(&a.scope, target);
    let host = Host::detect()?;
    let name = match a.name {
        Some(n) if target == Target::Systemd => {
            n.strip_suffix(".service").unwrap_or(&n).to_string()
        }
        Some(n) => n,
        None => {
            let spec = load_spec(file)
                .map_err(|e| anyhow!("{e:#}\nhint: or name the service with --name"))?;
            target.default_name(&spec.project.name, a.role.as_deref())
        }
    };
    let out = match install::uninstall(&name, scope, &host) {
        Err(e @ InstallError::NotInstalled { .. })
            if scope == Scope::User && host.manifest_file(Scope::System, &name).is_file() =>
        {
            return Err(anyhow!(
                "{e}\nhint: it is installed as a system service; add --system"
            ));
        }
        r => r?,
    };
    for f in &out.ran {
        p.line(&format!("ran {f}"));
    }
    for f in &out.files {
        p.line(&format!("removed {}", f.display()));
    }
    for f in &out.missing {
        p.note(&format!("{} was already gone", f.display()));
    }
    if !out.to_run.is_empty() {
        p.note(match target {
            Target::Systemd => {
                "systemd is not running here; if the service was enabled elsewhere, run:"
            }
            _ => "to unload the service, run:",
        });
        for c in &out.to_run {
            p.line(&format!("  {c}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--system`, `--user`, or the target's default: Windows services are system-wide, and
/// elsewhere the user's own service manager needs no root.
fn scope(a: &ScopeArgs, target: Target) -> Scope {
    if a.system || (!a.user && target == Target::Windows) {
        Scope::System
    } else {
        Scope::User
    }
}
