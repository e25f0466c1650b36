//! Exactly once: concurrent `up -d`, orphans after a SIGKILLed supervisor, lock CLI, storage.

use std::time::Duration;

use crate::support::{alive, group_members, TestContext};
use proctor::State;

#[test]
fn twenty_concurrent_up_d_make_one_supervisor() {
    let ctx = TestContext::new(
        r#"
[service.a]
command = ["sleep", "1000"]

[service.b]
command = ["sleep", "1000"]
"#,
    );
    let children: Vec<_> = (0..20)
        .map(|_| ctx.cmd().args(["up", "-d"]).spawn().expect("spawn"))
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let st = ctx.status();
    let sup = st.supervisor_pid;
    // Exactly one supervisor: every process running `proctor supervise` for this home.
    let home = ctx.home().to_string_lossy().into_owned();
    let supervisors: Vec<u32> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains("supervise")
                && String::from_utf8_lossy(&env).contains(&home)
                && alive(*pid)
        })
        .collect();
    assert_eq!(supervisors, vec![sup]);
    for s in &st.services {
        assert_eq!(s.state, State::Running);
        assert_eq!(s.restarts, 0);
    }
    // One instance of each service: one `sleep` child per service.
    let kids: Vec<u32> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            crate::support::stat(*pid).is_some_and(|(s, ppid, _)| ppid == sup && s != 'Z')
        })
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
}

#[test]
fn orphans_of_a_killed_supervisor_are_stopped_and_replaced() {
    let ctx = TestContext::new(
        r#"
[service.tree]
command = ["sh", "-c", "sleep 1000 & exec sleep 1001"]
stop_timeout = "2s"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let old = ctx.service("tree").pid.expect("pid");
    let sup = ctx.supervisor_pid();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while group_members(old).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "grandchild never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let old_group = group_members(old);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(sup as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill supervisor");
    // The service lives on without its supervisor.
    assert!(alive(old));
    let out = ctx.run(&["lock", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut health = v["locks"][0]["health"].as_str().unwrap_or("").to_string();
    while health != "orphan" {
        assert!(
            std::time::Instant::now() < deadline,
            "lock never showed the orphan: {health}"
        );
        std::thread::sleep(Duration::from_millis(20));
        let out = ctx.run(&["lock", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        health = v["locks"][0]["health"].as_str().unwrap_or("").to_string();
    }
    ctx.ok(&["up", "-d"]);
    let new = ctx.service("tree").pid.expect("pid");
    assert_ne!(new, old);
    for pid in old_group {
        assert!(!alive(pid), "old-generation process {pid} survived");
    }
    // Exactly one instance now: the new group grows to its two processes, no more.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while group_members(new).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "new grandchild never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(group_members(new).len(), 2);
}

#[test]
fn lock_and_unlock_cli() {
    let ctx = TestContext::new("[service.web]\ncommand = [\"sleep\", \"1000\"]\n");
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("web").pid.expect("pid");
    let out = ctx.ok(&["lock"]);
    assert!(
        out.contains("web: alive") && out.contains(&format!("pid {pid}")),
        "{out}"
    );
    let refused = ctx.run(&["unlock", "web"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("live process"));
    ctx.ok(&["stop", "web"]);
    // A stopped service releases its lock.
    let out = ctx.run(&["lock", "web"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lock"));
}

#[test]
fn sandboxed_storage_is_fresh_and_removed() {
    let ctx = TestContext::new(
        r#"
[service.box]
command = ["sh", "-c", "echo $PROCTOR_STATE_DIR > where; touch $PROCTOR_STATE_DIR/data; ln -s $HOME $PROCTOR_STATE_DIR/escape; touch done; exec sleep 1000"]
storage = "sandboxed"
ready = { exec = ["test", "-e", "done"], interval = "10ms" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let dir = ctx.service("box").storage_dir.expect("storage dir");
    let written = std::fs::read_to_string(ctx.dir.path().join("where")).expect("where");
    assert_eq!(written.trim(), dir.to_string_lossy());
    ctx.ok(&["stop", "box"]);
    assert!(!dir.exists(), "sandbox left behind");
    let home = std::env::var("HOME").expect("HOME");
    assert!(
        std::path::Path::new(&home).exists(),
        "removal followed the symlink out"
    );
}

#[test]
fn persistent_storage_kept_or_removed() {
    let ctx = TestContext::new(
        r#"
[service.keep]
command = ["sh", "-c", "touch $PROCTOR_STATE_DIR/data; exec sleep 1000"]
storage = { path = "data/keep" }
ready = { exec = ["sh", "-c", "test -e $PROCTOR_STATE_DIR/data"], interval = "10ms" }

[service.drop]
command = ["sh", "-c", "touch $PROCTOR_STATE_DIR/data; exec sleep 1000"]
storage = { path = "data/drop", keep_on_exit = false }
ready = { exec = ["sh", "-c", "test -e $PROCTOR_STATE_DIR/data"], interval = "10ms" }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let keep = ctx.dir.path().join("data/keep");
    let drop_dir = ctx.dir.path().join("data/drop");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&keep).expect("keep").permissions().mode() & 0o777,
        0o700
    );
    ctx.ok(&["down"]);
    assert!(keep.join("data").exists());
    assert!(!drop_dir.exists());
}
