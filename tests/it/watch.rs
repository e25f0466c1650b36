//! Issue 19: `watch` restarts a service (and the dependents that need it) when a watched
//! file changes, and not when an ignored one does.

use std::time::{Duration, Instant};

use proctor::State;

use crate::support::TestContext;

const SPEC: &str = r#"
[service.app]
command = ["sleep", "1000"]
watch = { paths = ["src", "config/*.toml"], ignore = ["*.tmp"], debounce = "150ms" }

[service.web]
command = ["sleep", "1001"]
depends_on = ["app"]
"#;

/// The notes the supervisor wrote into `service`'s log about watched changes.
fn restart_notes(ctx: &TestContext, service: &str) -> Vec<String> {
    ctx.ok(&["logs", service, "-n", "1000"])
        .lines()
        .filter(|l| l.contains("changed: restarting"))
        .map(str::to_string)
        .collect()
}

/// Waits for `app` to be running with a pid other than `old`; returns the new one.
fn new_pid(events: &mut crate::support::Events, name: &str, old: u32) -> u32 {
    let ev = events.until(Duration::from_secs(10), |e| {
        e.service == name && e.state == State::Running && e.pid.is_some_and(|p| p != old)
    });
    ev.pid.expect("pid")
}

#[test]
fn a_watched_change_restarts_and_an_ignored_one_does_not() {
    let ctx = TestContext::new(SPEC);
    let dir = ctx.dir.path();
    std::fs::create_dir_all(dir.join("src/build")).expect("mkdir");
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(dir.join(".gitignore"), "build/\n").expect("gitignore");
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").expect("write");
    ctx.ok(&["up", "-d"]);
    let app = ctx.service("app").pid.expect("app pid");
    let web = ctx.service("web").pid.expect("web pid");
    let mut events = ctx.events();

    // Ignored three ways: by `ignore`, by `.gitignore`, and by not being watched at all
    // (`config/*.toml` does not take `config/notes.txt`). Written before the change that
    // counts, so that if any of them counted, it would be named first in the restart's
    // note, or cost a restart of its own.
    std::fs::write(dir.join("src/scratch.tmp"), "x").expect("write");
    std::fs::write(dir.join("src/build/out.o"), "x").expect("write");
    std::fs::write(dir.join("config/notes.txt"), "x").expect("write");
    std::fs::write(dir.join("README"), "x").expect("write");
    let touched = Instant::now();
    std::fs::write(dir.join("src/main.rs"), "fn main() { }\n").expect("write");
    let app2 = new_pid(&mut events, "app", app);
    let took = touched.elapsed();
    eprintln!("watch: touched to restarted (running again) in {took:?} (debounce 150ms)");
    assert!(
        took >= Duration::from_millis(150),
        "restarted before the debounce was over: {took:?}"
    );
    // web needs app started: it is restarted with it, against the new process.
    let web2 = new_pid(&mut events, "web", web);
    assert!(!crate::support::alive(app) && !crate::support::alive(web));

    // A second change that counts (a glob this time) proves the watcher is still there,
    // and bounds what could have happened in between: exactly one restart before it.
    std::fs::write(dir.join("config/app.toml"), "x = 1\n").expect("write");
    let app3 = new_pid(&mut events, "app", app2);
    new_pid(&mut events, "web", web2);
    assert_ne!(app3, app);
    let notes = restart_notes(&ctx, "app");
    assert_eq!(notes.len(), 2, "two restarts, no more: {notes:#?}");
    assert!(notes[0].contains("src/main.rs"), "{notes:#?}");
    assert!(notes[0].contains("(with web)"), "{notes:#?}");
    assert!(notes[1].contains("config/app.toml"), "{notes:#?}");
}

/// How many inotify instances process `pid` holds open.
fn inotify_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("inotify"))
        })
        .count()
}

#[test]
fn a_stopped_service_has_no_watcher() {
    let ctx = TestContext::new(
        r#"
[service.app]
command = ["sleep", "1000"]
watch = { paths = ["."], ignore = ["proctor.toml"], debounce = "50ms" }

[service.other]
command = ["sleep", "1000"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    let pid = ctx.supervisor_pid();
    assert_eq!(inotify_fds(pid), 1, "app's watcher");
    ctx.ok(&["stop", "app"]);
    assert_eq!(ctx.service("app").state, State::Stopped);
    // The watcher's thread closes its inotify instance as it ends, just after the stop.
    let deadline = Instant::now() + Duration::from_secs(5);
    while inotify_fds(pid) != 0 {
        assert!(Instant::now() < deadline, "the watcher outlived the stop");
        std::thread::yield_now();
    }
    let mut events = ctx.events();
    std::fs::write(ctx.dir.path().join("x.txt"), "x").expect("write");
    // Nothing restarts app: a later start of `other` is the next event about anything.
    ctx.ok(&["restart", "other"]);
    let ev = events.until(Duration::from_secs(10), |e| {
        e.service == "app" || (e.service == "other" && e.state == State::Running)
    });
    assert_eq!(
        ev.service, "other",
        "app was not started by the change: {ev:?}"
    );
    assert_eq!(ctx.service("app").state, State::Stopped);
}
