//! Issue 19: `schedule` runs a job at its cron times, skips a time that comes while a run
//! is still going, and `start` runs it now.

use std::time::{Duration, Instant, SystemTime};

use proctor::State;

use crate::support::TestContext;

fn log(ctx: &TestContext, service: &str) -> String {
    ctx.ok(&["logs", service, "-n", "1000"])
}

#[test]
fn a_job_with_seconds_runs_every_second() {
    let ctx = TestContext::new(
        r#"
[service.job]
command = ["sh", "-c", "echo ran"]
schedule = "* * * * * *"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    let next = ctx.service("job").next_run.expect("next run in status");
    assert!(
        next > SystemTime::now() - Duration::from_secs(1),
        "{next:?}"
    );
    let text = ctx.ok(&["status"]);
    assert!(text.contains("next run"), "{text}");
    let t0 = Instant::now();
    let mut pids = Vec::new();
    while pids.len() < 2 {
        let ev = events.until(Duration::from_secs(3).saturating_sub(t0.elapsed()), |e| {
            e.service == "job" && e.state == State::Exited
        });
        pids.push(ev.pid);
    }
    eprintln!("schedule: two runs in {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(3));
    let runs = log(&ctx, "job").matches("ran").count();
    assert!(runs >= 2, "{runs} runs logged");
    // A job is not restarted after exit 0: it waits for its next time.
    assert_eq!(ctx.service("job").restarts, 0);
}

#[test]
fn a_run_still_going_at_the_next_time_is_skipped_and_logged() {
    let ctx = TestContext::new(
        r#"
[service.job]
command = ["sleep", "2.5"]
schedule = "* * * * * *"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    let ev = events.until(Duration::from_secs(3), |e| {
        e.service == "job" && e.state == State::Running
    });
    let pid = ev.pid.expect("pid");
    let mut c = ctx.client();
    c.send(proctor::control::proto::Command::Follow {
        services: vec!["job".into()],
    })
    .expect("follow");
    crate::support::follow_until(&mut c, "skipped the run due at");
    // The same run goes on: no second process was started beside it.
    let s = ctx.service("job");
    assert_eq!((s.state, s.pid), (State::Running, Some(pid)));
    let ended = events.until(Duration::from_secs(5), |e| {
        e.service == "job" && e.state != State::Running
    });
    assert_eq!(ended.state, State::Exited, "{ended:?}");
    assert!(!crate::support::alive(pid));
    let text = log(&ctx, "job");
    assert!(
        text.contains(&format!("the previous run (pid {pid}) is still going")),
        "{text}"
    );
}

#[test]
fn overlap_runs_the_waiting_time_once_the_run_ends() {
    let ctx = TestContext::new(
        r#"
[service.job]
command = ["sleep", "1.5"]
schedule = "* * * * * *"
overlap = true
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut events = ctx.events();
    let first = events
        .until(Duration::from_secs(3), |e| {
            e.service == "job" && e.state == State::Running
        })
        .pid
        .expect("pid");
    // The time that came during the run starts the next as soon as it ended: its exit
    // and the next start come together, not at a second boundary.
    events.until(Duration::from_secs(4), |e| {
        e.service == "job" && e.state == State::Exited
    });
    let ended = Instant::now();
    let second = events
        .until(Duration::from_secs(3), |e| {
            e.service == "job" && e.state == State::Running
        })
        .pid
        .expect("pid");
    assert_ne!(first, second);
    assert!(
        ended.elapsed() < Duration::from_millis(500),
        "{:?}",
        ended.elapsed()
    );
    assert!(log(&ctx, "job").contains("starting the run that waited"));
}

#[test]
fn start_runs_a_job_now_and_stop_drops_its_schedule() {
    let ctx = TestContext::new(
        r#"
[service.job]
command = ["sh", "-c", "echo now"]
schedule = "0 0 1 1 *"

[service.web]
command = ["sleep", "1000"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    // `up` keeps the schedule but does not run the job.
    let s = ctx.service("job");
    assert_eq!(s.state, State::Stopped);
    assert!(s.next_run.is_some());
    let mut events = ctx.events();
    ctx.ok(&["start", "job"]);
    events.until(Duration::from_secs(5), |e| {
        e.service == "job" && e.state == State::Exited
    });
    assert!(ctx.service("job").next_run.is_some());
    assert!(log(&ctx, "job").contains("now"));
    ctx.ok(&["stop", "job"]);
    assert_eq!(ctx.service("job").next_run, None);
    let text = ctx.ok(&["status", "--json"]);
    assert!(!text.contains("next_run"), "{text}");
}

#[test]
fn a_reload_takes_a_new_schedule_and_a_new_watch_without_restarting() {
    const SPEC: &str = r#"
[service.job]
command = ["sh", "-c", "echo ran"]
schedule = "0 0 1 1 *"

[service.web]
command = ["sleep", "1000"]
"#;
    let ctx = TestContext::new(SPEC);
    std::fs::create_dir(ctx.dir.path().join("src")).expect("mkdir");
    ctx.ok(&["up", "-d"]);
    let web = ctx.service("web").pid.expect("pid");
    let yearly = ctx.service("job").next_run.expect("next run");
    ctx.write_spec(
        &SPEC
            .replace("0 0 1 1 *", "* * * * * *")
            .replace("\"1000\"]", "\"1000\"]\nwatch = \"src\""),
    );
    let plan = ctx.ok(&["reload", "--dry-run"]);
    assert!(plan.contains("schedule"), "{plan}");
    assert!(plan.contains("watch"), "{plan}");
    let mut events = ctx.events();
    ctx.ok(&["reload"]);
    assert_eq!(ctx.service("web").pid, Some(web), "web was not restarted");
    let next = ctx.service("job").next_run.expect("next run");
    assert!(next < yearly, "{next:?} vs {yearly:?}");
    events.until(Duration::from_secs(3), |e| {
        e.service == "job" && e.state == State::Exited
    });
    std::fs::write(ctx.dir.path().join("src/a.txt"), "x").expect("write");
    events.until(Duration::from_secs(10), |e| {
        e.service == "web" && e.state == State::Running && e.pid != Some(web)
    });
}

#[test]
fn start_of_a_job_new_in_the_file_keeps_its_schedule() {
    let ctx = TestContext::new("[service.web]\ncommand = [\"sleep\", \"1000\"]\n");
    ctx.ok(&["up", "-d"]);
    // Added while the project runs, and not selected by `autostart`: `start job` is what
    // keeps its schedule, as it is for a job the supervisor knew already.
    ctx.write_spec(
        "[service.web]\ncommand = [\"sleep\", \"1000\"]\n\n\
         [service.job]\ncommand = [\"true\"]\nschedule = \"0 0 1 1 *\"\nautostart = false\n",
    );
    let mut events = ctx.events();
    ctx.ok(&["start", "job"]);
    events.until(Duration::from_secs(5), |e| {
        e.service == "job" && e.state == State::Exited
    });
    assert!(
        ctx.service("job").next_run.is_some(),
        "the schedule is kept"
    );
    ctx.ok(&["down"]);
}
