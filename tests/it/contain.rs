//! Issue 16: a service owns every process it starts — `setsid` and double forks included —
//! with a cgroup per service, and with the subreaper fallback.

use std::time::Duration;

use proctor::State;

use crate::support::{alive, zombies_of, TestContext};

/// Pids of live `sleep SECS` processes.
fn sleeping(secs: u32) -> Vec<u32> {
    let want = format!("sleep\0{secs}\0");
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
                && alive(*pid)
        })
        .collect()
}

/// A service that leaves its group twice: a `setsid` child and a double-forked daemon.
fn escaping(containment: &str, n: u32) -> String {
    format!(
        r#"
[project]
containment = "{containment}"

[service.escape]
command = ["sh", "-c", "setsid sleep {a} & (sh -c 'sleep {b} &' &); echo started; exec sleep 1000"]
ready = {{ log = "started" }}
stop_timeout = "2s"
"#,
        a = n,
        b = n + 1
    )
}

fn escapes_are_stopped(containment: &str, n: u32) {
    let ctx = TestContext::new(&escaping(containment, n));
    ctx.ok(&["up", "-d"]);
    let s = ctx.service("escape");
    assert_eq!(s.containment.as_deref(), Some(containment));
    // Both escapees are up once the service is (they started before its ready line).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sleeping(n).is_empty() || sleeping(n + 1).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the escapees never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let escaped: Vec<u32> = sleeping(n).into_iter().chain(sleeping(n + 1)).collect();
    let sup = ctx.supervisor_pid();
    ctx.ok(&["stop", "escape"]);
    assert_eq!(ctx.service("escape").state, State::Stopped);
    for pid in &escaped {
        assert!(
            !alive(*pid),
            "escaped pid {pid} outlived its service ({containment})"
        );
    }
    assert!(
        zombies_of(sup).is_empty(),
        "no zombie left with the supervisor"
    );
}

#[test]
fn a_cgroup_holds_setsid_and_double_forked_processes() {
    if !crate::support::require::cgroup_writable() {
        return;
    }
    escapes_are_stopped("cgroup", 31_001 + std::process::id() % 1000 * 2);
}

#[test]
fn the_subreaper_fallback_stops_escaped_processes_too() {
    escapes_are_stopped("subreaper", 33_001 + std::process::id() % 1000 * 2);
}

#[test]
fn an_orphan_that_exits_is_reaped_by_the_subreaper() {
    let n = 35_001 + std::process::id() % 1000;
    let ctx = TestContext::new(&format!(
        r#"
[project]
containment = "subreaper"

[service.parent]
command = ["sh", "-c", "(sh -c 'sleep 0.2; exit 3' &); echo started; exec sleep {n}"]
ready = {{ log = "started" }}
"#
    ));
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    // The grandchild exits after 0.2 s as our adopted child; it must not stay a zombie.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{sup}/task/{sup}/children")).unwrap_or_default();
        let others: Vec<&str> = kids
            .split_whitespace()
            .filter(|p| !sleeping(n).iter().any(|s| s.to_string() == *p))
            .collect();
        if others.is_empty() && zombies_of(sup).is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "adopted children left: {others:?}, zombies: {:?}",
            zombies_of(sup)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A field of `/proc/PID/status`.
fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn user_umask_nice_and_rlimits_are_what_the_process_runs_with() {
    if crate::support::require::require(
        "root (to change user)",
        if rustix::process::getuid().is_root() {
            Ok(())
        } else {
            Err("not root".to_string())
        },
    )
    .is_none()
    {
        return;
    }
    let ctx = TestContext::new(
        r#"
[service.limited]
command = ["sleep", "1000"]
cwd = "/"
user = "nobody"
umask = "027"
nice = 5
rlimits = { nofile = 4096, core = "unlimited", stack = ["8MB", "16MB"] }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("limited").pid.expect("pid");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let row = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(row("Max open files").contains("4096 4096"), "{limits}");
    assert!(
        row("Max core file size").contains("unlimited unlimited"),
        "{limits}"
    );
    assert!(
        row("Max stack size").contains("8000000 16000000"),
        "{limits}"
    );
    assert_eq!(status_field(pid, "Umask"), "0027");
    let uid = status_field(pid, "Uid");
    assert!(uid.starts_with("65534"), "runs as nobody: {uid}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let nice: i32 = stat[stat.rfind(')').expect(")") + 2..]
        .split_whitespace()
        .nth(16)
        .and_then(|n| n.parse().ok())
        .expect("nice");
    assert_eq!(nice, 5);
}
