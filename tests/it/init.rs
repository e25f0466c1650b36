//! Issue 16: `proctor init`, proctor as a container's entrypoint.

use std::process::Command;

use crate::backends::{podman_usable, IMAGE};
use crate::support::{stderr, TestContext};

#[test]
fn init_runs_the_command_and_exits_with_its_status() {
    let ctx = TestContext::new("[service.unused]\ncommand = [\"true\"]\n");
    let out = ctx.run(&["init", "--", "sh", "-c", "echo hello; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello"));
    let out = ctx.run(&["init", "--", "/nonexistent/program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

/// As PID 1 of a podman container (the busybox test image, proctor mounted in): an orphan
/// re-parented to it is reaped, and the main service's status is the container's.
#[test]
fn init_as_pid_1_reaps_orphans_and_passes_the_status() {
    if !podman_usable() {
        return;
    }
    let exe = env!("CARGO_BIN_EXE_proctor");
    let mut cmd = Command::new("podman");
    cmd.args(["run", "--rm", "--pull=never"])
        .arg("-v")
        .arg(format!("{exe}:/proctor:ro"));
    // A debug build links glibc dynamically; the busybox image has none of its own.
    for (host, inside) in [
        ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"),
        ("/usr/lib64", "/lib64"),
    ] {
        if std::path::Path::new(host).exists() {
            cmd.arg("-v").arg(format!("{host}:{inside}:ro"));
        }
    }
    // The subshell exits at once, so its child becomes PID 1's; when that child exits,
    // only PID 1 can reap it. `ps` then counts zombies.
    let out = cmd
        .args([IMAGE, "/proctor", "init", "--", "sh", "-c"])
        .arg("(sh -c 'sleep 0.2; exit 0' &); sleep 1; echo zombies: $(ps -o stat | grep -c Z); echo pid1: $(cat /proc/1/comm); exit 5")
        .output()
        .expect("podman run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{}", stderr(&out));
    assert!(stdout.contains("pid1: proctor"), "{stdout}");
    assert!(stdout.contains("zombies: 0"), "{stdout}");
}
