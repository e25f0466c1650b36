//! [`install`] and [`uninstall`]: write or remove the service file, keep the manifest, and
//! tell the service manager (only systemd, only when it runs; launchd commands are printed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use super::manifest::{write_file, SCHEMA_VERSION};
use super::{launchd, systemd, Boot, Host, InstallError, Manifest, Scope, Target};

/// What [`install`] or [`uninstall`] did, and what is left for the user to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files written (install) or removed (uninstall).
    pub files: Vec<PathBuf>,
    /// Uninstall: files the manifest listed that were already gone.
    pub missing: Vec<PathBuf>,
    /// The manifest written (install) or removed (uninstall).
    pub manifest: PathBuf,
    /// Service manager commands that were run, as shell text.
    pub ran: Vec<String>,
    /// Commands for the user to run: the service manager is not running here, or (launchd)
    /// proctor leaves loading the job to the user.
    pub to_run: Vec<String>,
}

/// Renders `boot`, writes it where the host's service manager looks, records a manifest,
/// and with systemd running, runs `daemon-reload` and `enable --now` (which waits for
/// the supervisor's `READY=1`). Everything is checked before the first file is written.
pub fn install(boot: &Boot, host: &Host) -> Result<Outcome, InstallError> {
    let text = super::render(boot)?;
    let not_native = || InstallError::NotNative {
        target: boot.target,
    };
    if host.native != Some(boot.target) {
        return Err(not_native());
    }
    let file = host
        .service_file(boot.target, boot.scope, &boot.name)
        .ok_or_else(not_native)?;
    let manifest_path = host.manifest_file(boot.scope, &boot.name);
    let previous = Manifest::load(&manifest_path)?;
    let ours = previous.as_ref().is_some_and(|m| m.files.contains(&file));
    if file.exists() && !ours {
        return Err(InstallError::Exists(file));
    }

    write_file(&file, text.as_bytes(), 0o644)?;
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        name: boot.name.clone(),
        target: boot.target,
        scope: boot.scope,
        spec: boot.spec_path.clone(),
        role: boot.role.clone(),
        files: vec![file.clone()],
        installed_at: SystemTime::now(),
    };
    manifest.save(&manifest_path)?;
    let mut out = Outcome {
        files: vec![file.clone()],
        manifest: manifest_path,
        ..Outcome::default()
    };

    match boot.target {
        Target::Systemd => {
            let unit = systemd::unit_name(&boot.name);
            let mut steps = vec![
                systemd::systemctl_args(boot.scope, &["daemon-reload"]),
                systemd::systemctl_args(boot.scope, &["enable", "--now", &unit]),
            ];
            // A reinstall changes the unit; `enable --now` would leave the old one running.
            if previous.is_some() {
                steps.push(systemd::systemctl_args(boot.scope, &["restart", &unit]));
            }
            systemctl(host, &steps, &mut out)?;
        }
        Target::Launchd => {
            // launchd opens the log file but does not create its directory.
            let logs = match boot.scope {
                Scope::User => boot.log_dir.clone(),
                Scope::System => host.system_path(&boot.log_dir),
            };
            std::fs::create_dir_all(&logs).map_err(InstallError::io(&logs))?;
            let domain = launchd::domain(boot.scope, host.uid);
            if previous.is_some() {
                out.to_run.push(shell(&[
                    "launchctl",
                    "bootout",
                    &format!("{domain}/{}", boot.name),
                ]));
            }
            out.to_run.push(shell(&[
                "launchctl",
                "bootstrap",
                &domain,
                &file.display().to_string(),
            ]));
        }
        Target::Windows => return Err(not_native()),
    }
    Ok(out)
}

/// Stops and disables the boot service `name` that [`install`] recorded in `scope`, then
/// removes exactly the files its manifest lists, and the manifest.
pub fn uninstall(name: &str, scope: Scope, host: &Host) -> Result<Outcome, InstallError> {
    let manifest_path = host.manifest_file(scope, name);
    let Some(m) = Manifest::load(&manifest_path)? else {
        return Err(InstallError::NotInstalled {
            name: name.to_string(),
            scope: scope.as_str(),
            manifest: manifest_path,
        });
    };
    let mut out = Outcome {
        manifest: manifest_path.clone(),
        ..Outcome::default()
    };
    let unit = systemd::unit_name(&m.name);
    match m.target {
        Target::Systemd => {
            // `disable` of a unit whose file is gone fails; there is nothing to stop then.
            if m.files.iter().any(|f| f.exists()) {
                let stop = systemd::systemctl_args(m.scope, &["disable", "--now", &unit]);
                systemctl(host, &[stop], &mut out)?;
            }
        }
        Target::Launchd => {
            let domain = launchd::domain(m.scope, host.uid);
            out.to_run.push(shell(&[
                "launchctl",
                "bootout",
                &format!("{domain}/{}", m.name),
            ]));
        }
        Target::Windows => {}
    }
    for f in &m.files {
        match std::fs::remove_file(f) {
            Ok(()) => out.files.push(f.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.missing.push(f.clone()),
            Err(e) => return Err(InstallError::io(f)(e)),
        }
    }
    if m.target == Target::Systemd {
        let reload = systemd::systemctl_args(m.scope, &["daemon-reload"]);
        systemctl(host, &[reload], &mut out)?;
    }
    std::fs::remove_file(&manifest_path).map_err(InstallError::io(&manifest_path))?;
    Ok(out)
}

/// Runs each `systemctl` argv in turn when systemd runs; otherwise lists them to be run.
fn systemctl(host: &Host, steps: &[Vec<String>], out: &mut Outcome) -> Result<(), InstallError> {
    for args in steps {
        let mut words = vec![host.systemctl.display().to_string()];
        words.extend(args.iter().cloned());
        let text = shell_words::join(&words);
        if !host.systemd_running {
            out.to_run.push(text);
            continue;
        }
        run(&host.systemctl, args, &text)?;
        out.ran.push(text);
    }
    Ok(())
}

fn run(program: &Path, args: &[String], text: &str) -> Result<(), InstallError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| InstallError::Command {
            command: text.to_string(),
            detail: e.to_string(),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(InstallError::Command {
        command: text.to_string(),
        detail: format!("{}: {}", output.status, stderr.trim()),
    })
}

fn shell(words: &[&str]) -> String {
    shell_words::join(words)
}
