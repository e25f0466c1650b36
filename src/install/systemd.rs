//! The systemd unit: `Type=notify`, so `systemctl start` returns once proctor's supervisor
//! reports its autostart services ready.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Boot, Scope};

/// Renders the unit file. `boot` has been checked.
pub(super) fn render(boot: &Boot) -> String {
    let mut u = String::new();
    let scope_flag = match boot.scope {
        Scope::User => "",
        Scope::System => " --system",
    };
    // `writeln!` into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        u,
        "# Written by `proctor install`; `proctor uninstall{scope_flag} --name {}` removes it.",
        boot.name
    );
    u.push_str("[Unit]\n");
    let _ = writeln!(u, "Description={}", specifiers(&boot.description()));
    // Services often need the network; the ordering is harmless when they do not.
    u.push_str("After=network-online.target\nWants=network-online.target\n");
    u.push_str("\n[Service]\n");
    // The supervisor sends READY=1 itself, from its main process, once the autostart
    // services are ready, and STOPPING=1 when it begins to stop them.
    u.push_str("Type=notify\nNotifyAccess=main\n");
    let exec: Vec<String> = boot.argv().iter().map(|a| exec_word(a)).collect();
    let _ = writeln!(u, "ExecStart={}", exec.join(" "));
    let _ = writeln!(
        u,
        "WorkingDirectory={}",
        specifiers(&boot.working_dir.display().to_string())
    );
    for (k, v) in &boot.env {
        let _ = writeln!(u, "Environment={}", quote(&format!("{k}={v}"), false));
    }
    if let Some(user) = &boot.user_name {
        let _ = writeln!(u, "User={user}");
    }
    // The supervisor restarts its services itself; systemd restarts the supervisor.
    u.push_str("Restart=on-failure\nRestartSec=5s\n");
    // SIGTERM to the supervisor alone, which stops each service's process group in
    // dependency order; only what is left after TimeoutStopSec gets SIGKILL.
    u.push_str("KillMode=mixed\n");
    let _ = writeln!(u, "TimeoutStartSec={}", seconds(boot.start_timeout));
    let _ = writeln!(u, "TimeoutStopSec={}", seconds(boot.stop_timeout));
    u.push_str("\n[Install]\n");
    let wanted_by = match boot.scope {
        Scope::User => "default.target",
        Scope::System => "multi-user.target",
    };
    let _ = writeln!(u, "WantedBy={wanted_by}");
    u
}

/// The unit's file name.
pub(super) fn unit_name(name: &str) -> String {
    format!("{name}.service")
}

/// `systemctl [--user] ARGS…` as an argv without the program.
pub(super) fn systemctl_args(scope: Scope, args: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    if scope == Scope::User {
        v.push("--user".to_string());
    }
    v.extend(args.iter().map(|a| (*a).to_string()));
    v
}

/// Whole seconds, rounded up, as systemd's time span syntax.
fn seconds(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{s}s")
}

/// Escapes `%` specifiers, which systemd expands in most settings.
fn specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// One word of a command line: bare when it is plainly safe, else double-quoted. `$` is
/// doubled because systemd expands `$VAR` in command lines (and only there).
pub(crate) fn exec_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.,:+=@-".contains(c));
    if safe {
        s.to_string()
    } else {
        quote(s, true)
    }
}

/// A double-quoted string with C-style escapes, `%` doubled, and `$` doubled if `dollar`.
pub(crate) fn quote(s: &str, dollar: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' if dollar => out.push_str("$$"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(exec_word("/usr/bin/proctor"), "/usr/bin/proctor");
        assert_eq!(exec_word("--file"), "--file");
        assert_eq!(exec_word("/a b/c"), "\"/a b/c\"");
        assert_eq!(exec_word("100%$HOME"), "\"100%%$$HOME\"");
        assert_eq!(exec_word("q\"\\"), "\"q\\\"\\\\\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word(";"), "\";\"");
    }

    #[test]
    fn environment_keeps_dollars_and_escapes_the_rest() {
        assert_eq!(quote("A=$x 5% \"y\"\n", false), "\"A=$x 5%% \\\"y\\\"\\n\"");
        assert_eq!(quote("\u{1}", false), "\"\\x01\"");
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(seconds(Duration::from_millis(10_500)), "11s");
        assert_eq!(seconds(Duration::from_secs(15)), "15s");
    }
}
