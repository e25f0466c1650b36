//! The one rule for tests that need something the machine may lack (podman and its test
//! image, root, systemd-analyze): on a developer's machine they say loudly that they skip;
//! under CI, which installs all of it, they fail, so no test passes there by not running.

use std::path::PathBuf;

/// Whether this run is CI's: `CI` is set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// What `found` holds, if the test may go on. `what` names the prerequisite and an `Err`
/// says why it is missing and how to get it. Under CI the test fails right here; elsewhere
/// it is told to skip (`None`), after a banner no one can miss.
pub fn require<T>(what: &str, found: Result<T, String>) -> Option<T> {
    let why = match found {
        Ok(it) => return Some(it),
        Err(why) => why,
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    assert!(
        !in_ci(),
        "{test} needs {what}, which CI provides (.ci/run): {why}"
    );
    eprintln!("\n!!!!! SKIPPING {test}: it needs {what}: {why} !!!!!\n");
    None
}

/// `program` as found on `PATH`.
pub fn which(program: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| format!("{program} is not on PATH"))
}

/// Whether this process can write a cgroup v2 subtree (root on a cgroup2 host): the
/// supervisor's cgroup containment needs it.
pub fn cgroup_writable() -> bool {
    let probe = || -> Result<(), String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let mount = info
            .lines()
            .find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                (right.split_whitespace().next()? == "cgroup2")
                    .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
            })
            .ok_or("no cgroup2 hierarchy is mounted")?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let rel = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("not in a cgroup2 hierarchy")?;
        let dir = mount
            .join(rel.trim_start_matches('/'))
            .join(format!("proctor-probe-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let _ = std::fs::remove_dir(&dir);
        Ok(())
    };
    require("a writable cgroup2 subtree (root)", probe()).is_some()
}
