//! Every way a stop can go: graceful, timed out, ignored signals, deaths during the stop,
//! restarts and stops that overlap, orphans, and a crash's last output.

use super::*;

const GRACE: Duration = Duration::from_secs(5);

/// A running unit 0 with its stop signal just sent at `t0`.
fn stopping(t0: Instant) -> Machine {
    let mut m = Machine::new(vec![policy("web")], t0);
    up(&mut m, 0, 10, t0);
    let acts = m.on(Input::Stop(0, None), t0);
    assert!(acts.contains(&Action::Signal(0, Signal::TERM, GRACE)));
    assert_eq!(m.units()[0].state, State::Stopping);
    assert_eq!(m.next_deadline(), Some(t0 + GRACE));
    m
}

#[test]
fn a_graceful_stop_waits_for_the_group_then_reaps() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    let t1 = t0 + Duration::from_millis(5);
    // The main process is gone, but its group still holds the pipes: it drains.
    assert!(m.on(Input::Exited(0), t1).is_empty());
    assert!(matches!(m.units()[0].phase(), Some(Phase::Draining { .. })));
    assert_eq!(m.units()[0].state, State::Stopping);
    assert_eq!(
        m.on(Input::OutputClosed(0), t1),
        vec![Action::Reap(0)],
        "once the group let go, the backend reaps"
    );
    let acts = m.on(Input::Reaped(0, killed_by(15)), t1);
    assert!(acts.contains(&Action::Ended(0)));
    assert!(
        spawns(&acts).is_empty(),
        "a requested stop is not restarted"
    );
    let u = &m.units()[0];
    assert_eq!(u.state, State::Stopped);
    assert_eq!(u.pid, None);
    assert!(!u.last_exit.as_ref().is_some_and(|e| e.timed_out));
    assert_eq!(m.next_deadline(), None, "nothing left to wake up for");
    assert!(m.all_down());
}

#[test]
fn a_service_that_ignores_the_stop_signal_is_killed_at_the_deadline() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    assert!(
        m.on(Input::Tick, t0 + GRACE - Duration::from_millis(1))
            .is_empty(),
        "nothing before the grace period ends"
    );
    assert_eq!(m.on(Input::Tick, t0 + GRACE), vec![Action::Kill(0)]);
    assert_eq!(m.units()[0].phase(), Some(Phase::Killed));
    assert_eq!(m.next_deadline(), None, "SIGKILL needs no timer");
    let t1 = t0 + GRACE;
    let acts = end(&mut m, 0, killed_by(9), t1);
    assert!(acts.contains(&Action::Ended(0)));
    let u = &m.units()[0];
    assert_eq!(u.state, State::Stopped);
    assert!(u.last_exit.as_ref().is_some_and(|e| e.timed_out));
    assert_eq!(
        u.last_exit.as_ref().map(Exit::describe).as_deref(),
        Some("stop timed out, killed by SIGKILL")
    );
}

#[test]
fn group_members_that_outlive_the_grace_period_are_killed_and_count_as_timed_out() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    m.on(Input::Exited(0), t0 + Duration::from_secs(1));
    assert_eq!(m.next_deadline(), Some(t0 + GRACE), "the same grace period");
    assert_eq!(m.on(Input::Tick, t0 + GRACE), vec![Action::Reap(0)]);
    m.on(Input::OutputClosed(0), t0 + GRACE);
    m.on(Input::Reaped(0, exit(0)), t0 + GRACE);
    assert!(m.units()[0]
        .last_exit
        .as_ref()
        .is_some_and(|e| e.timed_out && !e.success()));
    assert_eq!(m.units()[0].state, State::Stopped);
}

#[test]
fn a_backend_that_sees_the_group_go_ends_the_drain() {
    // tmux: the pane's output stays open until the session is gone, so the backend says
    // when the group has emptied.
    let t0 = Instant::now();
    let mut m = stopping(t0);
    m.on(Input::Exited(0), t0);
    assert_eq!(m.on(Input::Drained(0), t0), vec![Action::Reap(0)]);
    m.on(Input::Reaped(0, exit(0)), t0);
    assert!(matches!(m.units()[0].phase(), Some(Phase::Flushing { .. })));
    let acts = m.on(Input::OutputClosed(0), t0);
    assert!(acts.contains(&Action::Ended(0)));
    assert_eq!(m.units()[0].state, State::Stopped);
}

#[test]
fn dying_on_its_own_during_a_stop_is_still_a_stop() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    let acts = end(&mut m, 0, exit(1), t0 + Duration::from_millis(3));
    assert!(spawns(&acts).is_empty());
    assert_eq!(m.units()[0].state, State::Stopped);
    assert_eq!(m.units()[0].reason, None);
}

#[test]
fn a_second_stop_with_a_shorter_timeout_brings_the_kill_forward() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    let t1 = t0 + Duration::from_secs(1);
    assert!(m.on(Input::Stop(0, Some(Duration::ZERO)), t1).is_empty());
    assert_eq!(m.next_deadline(), Some(t1));
    assert_eq!(m.on(Input::Tick, t1), vec![Action::Kill(0)]);
    // A longer one never extends it.
    let mut m = stopping(t0);
    m.on(Input::Stop(0, Some(Duration::from_secs(60))), t1);
    assert_eq!(m.next_deadline(), Some(t0 + GRACE));
}

#[test]
fn a_restart_during_a_stop_starts_afresh_once_the_old_process_is_gone() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    let acts = m.on(Input::Restart(0), t0);
    assert!(
        spawns(&acts).is_empty() && signals(&acts).is_empty(),
        "nothing new while the old process lives: {acts:?}"
    );
    let acts = end(&mut m, 0, killed_by(15), t0);
    let ended = acts.iter().position(|a| *a == Action::Ended(0));
    let spawn = acts.iter().position(|a| *a == Action::Spawn(0));
    assert!(
        ended.is_some() && spawn > ended,
        "the old run is closed before the new one: {acts:?}"
    );
    assert_eq!(m.units()[0].state, State::Starting);
    assert_eq!(
        m.units()[0].restarts,
        0,
        "a requested restart is not counted"
    );
}

#[test]
fn a_start_during_a_stop_is_queued_after_it() {
    let t0 = Instant::now();
    let mut m = stopping(t0);
    assert!(spawns(&m.on(Input::Start(0), t0)).is_empty());
    assert_eq!(
        m.units()[0].state,
        State::Stopping,
        "the stop runs its course"
    );
    assert_eq!(spawns(&end(&mut m, 0, killed_by(15), t0)), vec![0]);
}

#[test]
fn a_stop_during_backoff_cancels_the_restart() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    up(&mut m, 0, 10, t0);
    end(&mut m, 0, exit(1), t0);
    assert_eq!(m.units()[0].state, State::Backoff);
    let acts = m.on(Input::Stop(0, None), t0);
    assert!(signals(&acts).is_empty(), "there is no process to signal");
    assert_eq!(m.units()[0].state, State::Stopped);
    assert_eq!(m.next_deadline(), None, "the restart is off");
    assert!(spawns(&m.on(Input::Tick, t0 + Duration::from_secs(1))).is_empty());
}

#[test]
fn a_stop_during_the_spawn_is_sent_once_the_process_exists() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    assert_eq!(spawns(&m.on(Input::Start(0), t0)), vec![0]);
    assert_eq!(m.units()[0].phase(), Some(Phase::Spawning));
    assert!(signals(&m.on(Input::Stop(0, None), t0)).is_empty());
    let acts = m.on(Input::Spawned(0, 10), t0);
    assert_eq!(signals(&acts), vec![0], "signalled as soon as it has a pid");
    assert_eq!(m.units()[0].state, State::Stopping);
}

#[test]
fn a_spawn_that_fails_during_a_stop_ends_stopped() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Stop(0, None), t0);
    let acts = m.on(
        Input::SpawnFailed(0, Exit::spawn_failed("no such program".into())),
        t0,
    );
    assert!(acts.contains(&Action::Ended(0)));
    assert_eq!(m.units()[0].state, State::Stopped);
}

#[test]
fn a_crash_waits_briefly_for_the_last_output_then_restarts() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    up(&mut m, 0, 10, t0);
    assert_eq!(m.on(Input::Exited(0), t0), vec![Action::Reap(0)]);
    assert!(
        m.on(Input::Reaped(0, exit(1)), t0).is_empty(),
        "its output is still coming"
    );
    let limit = t0 + super::super::run::FLUSH_LIMIT;
    assert_eq!(m.next_deadline(), Some(limit));
    let acts = m.on(Input::Tick, limit);
    assert!(acts.contains(&Action::Ended(0)));
    assert_eq!(m.units()[0].state, State::Backoff);
}

#[test]
fn an_unhealthy_service_is_stopped_and_late_verdicts_are_ignored() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    up(&mut m, 0, 10, t0);
    let acts = m.on(Input::Unhealthy(0, "liveness failed".into()), t0);
    assert_eq!(signals(&acts), vec![0]);
    assert!(
        m.on(Input::Unhealthy(0, "again".into()), t0).is_empty(),
        "one stop is enough"
    );
    assert!(m.on(Input::Ready(0), t0).is_empty());
    assert_eq!(m.units()[0].reason.as_deref(), Some("liveness failed"));
}

#[test]
fn an_orphan_is_stopped_and_a_queued_start_follows() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    let acts = m.on(Input::Adopted(0, 77), t0);
    assert_eq!(signals(&acts), vec![0]);
    assert_eq!(m.units()[0].state, State::Stopping);
    assert!(spawns(&m.on(Input::Start(0), t0)).is_empty());
    // The orphan's pipes went with its supervisor: its exit ends the drain at once.
    assert_eq!(m.on(Input::Exited(0), t0), vec![Action::Reap(0)]);
    let acts = m.on(Input::Reaped(0, exit(0)), t0);
    assert!(acts.contains(&Action::Ended(0)));
    assert_eq!(spawns(&acts), vec![0]);
}

#[test]
fn a_stopped_dependency_waits_for_its_dependent_even_when_both_are_asked() {
    let t0 = Instant::now();
    let mut web = policy("web");
    web.deps = vec![(0, Condition::Started)];
    let mut m = Machine::new(vec![policy("db"), web], t0);
    up(&mut m, 0, 10, t0);
    up(&mut m, 1, 11, t0);
    let acts = m.on(Input::Request(1, Request::Stop(vec![0], None)), t0);
    assert_eq!(signals(&acts), vec![1], "web first, db waits");
    let acts = end(&mut m, 1, killed_by(15), t0);
    assert_eq!(signals(&acts), vec![0]);
    let acts = end(&mut m, 0, killed_by(15), t0);
    assert_eq!(
        answers(&acts),
        vec![Answer {
            id: 1,
            units: vec![0, 1],
            failures: vec![]
        }]
    );
}

#[test]
fn with_a_watched_group_only_its_end_ends_the_drain() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.watch_group(0);
    m.on(Input::Spawned(0, 10), t0);
    m.on(Input::Stop(0, None), t0);
    m.on(Input::Exited(0), t0);
    assert!(
        m.on(Input::OutputClosed(0), t0).is_empty(),
        "a daemon that closed its output may still be stopping"
    );
    assert_eq!(m.on(Input::Drained(0), t0), vec![Action::Reap(0)]);
}
