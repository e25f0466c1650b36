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

const LIMITED: &str = r#"
[project]
containment = "CONTAINMENT"

[service.capped]
command = ["sleep", "1000"]
memory_max = "64MB"
pids_max = 50
restart = "no"
"#;

/// Where the failed start's reason shows: `up -d`'s output or the service's status.
fn start_failure(ctx: &TestContext) -> String {
    let out = ctx.run(&["up", "-d"]);
    let s = ctx.service("capped");
    format!(
        "{}{}{:?}",
        String::from_utf8_lossy(&out.stdout),
        crate::support::stderr(&out),
        s.last_exit
    )
}

#[test]
fn a_limit_without_a_cgroup_is_refused_not_ignored() {
    let ctx = TestContext::new(&LIMITED.replace("CONTAINMENT", "subreaper"));
    let text = start_failure(&ctx);
    assert!(ctx.service("capped").pid.is_none(), "{text}");
    assert!(
        text.contains("`memory_max` needs a cgroup") && text.contains("Delegate=yes"),
        "{text}"
    );
}

#[test]
fn memory_max_is_written_or_names_the_missing_controller() {
    if !crate::support::require::cgroup_writable() {
        return;
    }
    let ctx = TestContext::new(&LIMITED.replace("CONTAINMENT", "cgroup"));
    let out = ctx.run(&["up", "-d"]);
    let s = ctx.service("capped");
    match s.pid {
        // The controllers are there: the leaf holds the limits.
        Some(pid) => {
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
            let rel = cg.lines().find_map(|l| l.strip_prefix("0::")).expect("0::");
            let mount = proctor_cgroup_mount();
            let leaf = mount.join(rel.trim_start_matches('/'));
            let read = |f: &str| std::fs::read_to_string(leaf.join(f)).unwrap_or_default();
            assert_eq!(read("memory.max").trim(), "64000000");
            assert_eq!(read("pids.max").trim(), "50");
        }
        // Not enabled for our subtree (this machine's hybrid hierarchy has none): the
        // start fails and says which controller and how to delegate it.
        None => {
            let text = format!(
                "{}{}{:?}",
                String::from_utf8_lossy(&out.stdout),
                crate::support::stderr(&out),
                s.last_exit
            );
            assert!(
                text.contains("needs the cgroup `memory` controller") && text.contains("hint: "),
                "{text}"
            );
        }
    }
}

fn proctor_cgroup_mount() -> std::path::PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(std::path::PathBuf::from))?
        })
        .expect("cgroup2 mount")
}

#[test]
fn restart_on_memory_restarts_a_service_that_outgrows_it() {
    // The shell holds 60 MB of output in a variable, so the tree outgrows 20 MB.
    let ctx = TestContext::new(
        r#"
[service.hungry]
command = ["sh", "-c", "x=$(head -c 60000000 /dev/zero | tr '\\0' a); echo full; sleep 1000"]
restart_on_memory = "20MB"
restart = "on-failure"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let first = ctx.service("hungry").pid.expect("pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = ctx.service("hungry");
        if s.restarts >= 1 {
            assert_ne!(s.pid, Some(first), "a new run after the restart");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never restarted: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = ctx.ok(&["logs", "hungry"]);
    assert!(logs.contains("restart_on_memory (19 MiB)"), "{logs}");
}

#[test]
fn status_shows_each_services_cpu_and_memory() {
    let ctx = TestContext::new(
        r#"
[service.big]
command = ["sh", "-c", "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo full; sleep 1000"]
ready = { log = "full" }

[service.busy]
command = ["sh", "-c", "while :; do :; done"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    let big = ctx.service("big");
    assert!(big.memory_bytes.is_some_and(|m| m >= 40_000_000), "{big:?}");
    // CPU is measured between two status calls: it must agree with what the kernel counted
    // for the busy loop over the same span (however loaded this machine is).
    let pid = ctx.service("busy").pid.expect("busy runs");
    let ticks = || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("busy's stat");
        let f: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
            .split_whitespace()
            .collect();
        let t: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
        t as f64
    };
    let (t0, c0) = (std::time::Instant::now(), ticks());
    let first = ctx.service("busy").cpu_percent;
    // Within a second, a status call reuses the reading the last one took.
    assert_eq!(ctx.service("busy").cpu_percent, first);
    // Longer than the second for which one reading serves every status call.
    std::thread::sleep(Duration::from_millis(1200));
    let busy = ctx.service("busy");
    let (t1, c1) = (std::time::Instant::now(), ticks());
    // Clock ticks are 1/100 s: ticks per second of wall time is percent.
    let kernel = (c1 - c0) / (t1 - t0).as_secs_f64();
    let shown = busy
        .cpu_percent
        .expect("a running service has a CPU figure");
    assert!(kernel > 10.0, "the loop barely ran: {kernel}%");
    assert!(
        (shown - kernel).abs() < 15.0,
        "status says {shown}%, the kernel counted {kernel}%"
    );
    let table = ctx.ok(&["status"]);
    assert!(table.contains("CPU") && table.contains("MEM"), "{table}");
    let idle = ctx.service("big").cpu_percent;
    assert!(
        idle.is_some_and(|c| c < 5.0),
        "a sleeping service: {idle:?}"
    );
}

/// A service's next run is cloned straight into its cgroup leaf; a leaf emptied with
/// `cgroup.kill` (a stop past its grace period) must not kill that next run at birth.
#[test]
fn a_run_after_a_killed_one_lives_in_its_cgroup() {
    let ctx = TestContext::new(
        r#"
[project]
containment = "cgroup"

[service.stubborn]
command = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
stop_timeout = "200ms"
"#,
    );
    if !crate::support::require::cgroup_writable() {
        return;
    }
    ctx.ok(&["up", "-d"]);
    let first = ctx.service("stubborn").pid.expect("runs");
    // TERM is ignored: the grace period ends with cgroup.kill.
    ctx.ok(&["restart", "stubborn"]);
    let second = ctx.service("stubborn");
    assert_eq!(second.state, State::Running, "{second:?}");
    let pid = second.pid.expect("runs again");
    assert_ne!(pid, first);
    assert!(second
        .last_exit
        .is_some_and(|e| e.timed_out || e.signal == Some(9)));
    // Alive well past its birth (no state change in half a second), in its own leaf.
    let mut events = ctx.events();
    events
        .0
        .set_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    if let Ok(ev) = events.0.recv() {
        panic!("the new run did not stay up: {ev:?}");
    }
    assert_eq!(ctx.service("stubborn").pid, Some(pid));
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("alive");
    assert!(cgroup.contains("/svc.stubborn"), "{cgroup}");
}
