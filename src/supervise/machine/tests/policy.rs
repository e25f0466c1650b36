//! The restart policy, backoff, start limit, readiness and dependencies.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[test]
fn crash_restarts_with_growing_delays_then_fails_at_the_start_limit() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    assert_eq!(spawns(&m.on(Input::Start(0), t0)), vec![0]);
    m.on(Input::Spawned(0, 10), t0);
    assert_eq!(m.units()[0].state, State::Running);

    let mut now = t0;
    let mut delays = Vec::new();
    for pid in 11..14 {
        end(&mut m, 0, exit(1), now);
        assert_eq!(m.units()[0].state, State::Backoff);
        let due = m.next_deadline().expect("a restart is scheduled");
        delays.push(due - now);
        // Nothing happens before the deadline.
        assert!(spawns(&m.on(Input::Tick, due - Duration::from_millis(1))).is_empty());
        assert_eq!(spawns(&m.on(Input::Tick, due)), vec![0]);
        m.on(Input::Spawned(0, pid), due);
        now = due + Duration::from_millis(10);
    }
    assert_eq!(
        delays,
        vec![
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ]
    );
    assert_eq!(m.units()[0].restarts, 3);
    // The fourth crash within the window exceeds burst = 3.
    end(&mut m, 0, exit(1), now);
    assert_eq!(m.units()[0].state, State::Failed);
    assert!(m.units()[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("start limit"));
    assert_eq!(
        m.next_deadline(),
        None,
        "a failed service schedules nothing"
    );
}

#[test]
fn backoff_resets_after_a_long_run() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 1), t0);
    end(&mut m, 0, exit(1), t0);
    let due = m.next_deadline().expect("deadline");
    m.on(Input::Tick, due);
    m.on(Input::Spawned(0, 2), due);
    // Ran longer than backoff.max: the next delay is the initial one again.
    let later = due + Duration::from_secs(5);
    end(&mut m, 0, exit(1), later);
    assert_eq!(m.next_deadline(), Some(later + Duration::from_millis(100)));
}

#[test]
fn on_failure_does_not_restart_a_clean_exit_and_no_never_restarts() {
    let t0 = Instant::now();
    let mut p2 = policy("once");
    p2.restart = RestartPolicy::No;
    let mut m = Machine::new(vec![policy("web"), p2], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Start(1), t0);
    m.on(Input::Spawned(0, 1), t0);
    m.on(Input::Spawned(1, 2), t0);
    end(&mut m, 0, exit(0), t0);
    assert_eq!(m.units()[0].state, State::Exited);
    end(&mut m, 1, exit(3), t0);
    assert_eq!(m.units()[1].state, State::Failed);
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn always_restarts_and_zero_backoff_restarts_at_once() {
    let t0 = Instant::now();
    let mut p = policy("web");
    p.restart = RestartPolicy::Always;
    p.backoff.initial = Duration::ZERO;
    let mut m = Machine::new(vec![p], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 1), t0);
    assert_eq!(spawns(&end(&mut m, 0, exit(0), t0)), vec![0]);
    assert_eq!(m.units()[0].restarts, 1);
}

#[test]
fn requested_stop_is_not_restarted_and_restart_respawns() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 1), t0);
    let acts = m.on(Input::Stop(0, None), t0);
    assert!(signals(&acts).contains(&0));
    assert_eq!(m.units()[0].state, State::Stopping);
    end(&mut m, 0, exit(143), t0);
    assert_eq!(m.units()[0].state, State::Stopped);

    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 2), t0);
    let acts = m.on(Input::Restart(0), t0);
    assert!(signals(&acts).contains(&0));
    assert_eq!(spawns(&end(&mut m, 0, exit(143), t0)), vec![0]);
    assert_eq!(
        m.units()[0].restarts,
        0,
        "a requested restart is not counted"
    );
}

#[test]
fn readiness_gates_running_and_dependents() {
    let t0 = Instant::now();
    let mut db = policy("db");
    db.has_ready = true;
    let mut web = policy("web");
    web.deps = vec![(0, Condition::Ready)];
    let mut m = Machine::new(vec![db, web], t0);
    assert_eq!(spawns(&m.on(Input::Start(0), t0)), vec![0]);
    assert!(spawns(&m.on(Input::Start(1), t0)).is_empty());
    assert_eq!(m.units()[1].state, State::Waiting);
    m.on(Input::Spawned(0, 1), t0);
    assert_eq!(m.units()[0].state, State::Starting);
    assert!(!m.units()[0].ready);
    assert_eq!(spawns(&m.on(Input::Ready(0), t0)), vec![1]);
    assert_eq!(m.units()[0].state, State::Running);
}

#[test]
fn a_failed_dependency_fails_its_waiting_dependents() {
    let t0 = Instant::now();
    let mut db = policy("db");
    db.restart = RestartPolicy::No;
    db.has_ready = true;
    let mut web = policy("web");
    web.deps = vec![(0, Condition::Ready)];
    let mut m = Machine::new(vec![db, web], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Start(1), t0);
    m.on(Input::Spawned(0, 1), t0);
    end(&mut m, 0, exit(1), t0);
    assert_eq!(m.units()[1].state, State::Failed);
    assert!(m.units()[1].reason.as_deref().unwrap_or("").contains("db"));
}

#[test]
fn completed_condition_waits_for_a_clean_exit() {
    let t0 = Instant::now();
    let mut migrate = policy("migrate");
    migrate.restart = RestartPolicy::No;
    let mut web = policy("web");
    web.deps = vec![(0, Condition::Completed)];
    let mut m = Machine::new(vec![migrate, web], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Start(1), t0);
    m.on(Input::Spawned(0, 1), t0);
    assert_eq!(m.units()[1].state, State::Waiting);
    assert_eq!(spawns(&end(&mut m, 0, exit(0), t0)), vec![1]);
}

#[test]
fn stop_waits_for_dependents_to_stop_first() {
    let t0 = Instant::now();
    let db = policy("db");
    let mut web = policy("web");
    web.deps = vec![(0, Condition::Started)];
    let mut m = Machine::new(vec![db, web], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 1), t0);
    m.on(Input::Start(1), t0);
    m.on(Input::Spawned(1, 2), t0);
    let acts = m.on(Input::Stop(0, None), t0);
    assert!(!signals(&acts).contains(&0), "db waits for web");
    let acts = m.on(Input::Stop(1, None), t0);
    assert!(signals(&acts).contains(&1));
    assert!(!signals(&acts).contains(&0));
    let acts = end(&mut m, 1, exit(0), t0);
    assert!(signals(&acts).contains(&0), "db stops once web is down");
}

#[test]
fn unhealthy_service_is_restarted_as_a_failure() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 1), t0);
    let acts = m.on(Input::Unhealthy(0, "liveness failed".into()), t0);
    assert!(signals(&acts).contains(&0));
    // Even a clean exit after the stop counts as a failure and is restarted.
    end(&mut m, 0, exit(0), t0);
    assert_eq!(m.units()[0].state, State::Backoff);
    assert_eq!(m.units()[0].reason.as_deref(), Some("liveness failed"));
}

#[test]
fn a_respawned_service_drops_the_reason_it_last_exited() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 10), t0);
    end(&mut m, 0, exit(1), t0);
    assert_eq!(m.units()[0].reason.as_deref(), Some("exited 1"));
    let later = t0 + Duration::from_secs(1);
    assert_eq!(spawns(&m.on(Input::Tick, later)), vec![0]);
    m.on(Input::Spawned(0, 11), later);
    assert_eq!(m.units()[0].state, State::Running);
    assert_eq!(m.units()[0].reason, None);
    assert_eq!(
        m.units()[0].last_exit.as_ref().and_then(|e| e.code),
        Some(1)
    );
}
