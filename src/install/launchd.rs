//! The launchd plist: a LaunchAgent (user) or LaunchDaemon (system), encoded by the plist
//! crate so quoting is never our problem.

use plist::{Dictionary, Value};

use super::{Boot, InstallError, Scope};

/// Renders the plist as XML. `boot` has been checked.
pub(super) fn render(boot: &Boot) -> Result<String, InstallError> {
    let mut d = Dictionary::new();
    d.insert("Label".into(), boot.name.clone().into());
    d.insert(
        "ProgramArguments".into(),
        Value::Array(boot.argv().into_iter().map(Value::from).collect()),
    );
    if !boot.env.is_empty() {
        let env: Dictionary = boot
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        d.insert("EnvironmentVariables".into(), Value::Dictionary(env));
    }
    d.insert(
        "WorkingDirectory".into(),
        boot.working_dir.display().to_string().into(),
    );
    if let Some(user) = &boot.user_name {
        d.insert("UserName".into(), user.clone().into());
    }
    d.insert("RunAtLoad".into(), true.into());
    // Like systemd's Restart=on-failure: restart the supervisor unless it exited cleanly.
    let mut keep_alive = Dictionary::new();
    keep_alive.insert("SuccessfulExit".into(), false.into());
    d.insert("KeepAlive".into(), Value::Dictionary(keep_alive));
    // launchd's grace period between SIGTERM and SIGKILL.
    d.insert(
        "ExitTimeOut".into(),
        Value::Integer(boot.stop_timeout.as_secs().max(1).into()),
    );
    // Standard, not Background: the services are the user's servers, not idle chores.
    d.insert("ProcessType".into(), "Standard".into());
    let log = log_file(boot).display().to_string();
    d.insert("StandardOutPath".into(), log.clone().into());
    d.insert("StandardErrorPath".into(), log.into());
    let mut out = Vec::new();
    Value::Dictionary(d).to_writer_xml(&mut out)?;
    out.push(b'\n');
    // The plist crate writes UTF-8 (our strings are UTF-8), so nothing is lost here.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Where the supervisor's own output goes.
pub(super) fn log_file(boot: &Boot) -> std::path::PathBuf {
    boot.log_dir.join(format!("{}.log", boot.name))
}

/// The launchctl domain: the user's GUI session, or the system.
pub(super) fn domain(scope: Scope, uid: u32) -> String {
    match scope {
        Scope::User => format!("gui/{uid}"),
        Scope::System => "system".into(),
    }
}
