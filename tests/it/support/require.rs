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
