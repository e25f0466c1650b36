//! Requests that wait for an outcome, and every interleaving of start, stop and restart.

use super::*;

fn ready_policy(name: &str) -> Policy {
    let mut p = policy(name);
    p.has_ready = true;
    p
}

#[test]
fn start_pulls_in_dependencies_and_answers_once_all_are_ready() {
    let t0 = Instant::now();
    let mut web = ready_policy("web");
    web.deps = vec![(0, Condition::Ready)];
    let mut m = Machine::new(vec![ready_policy("db"), web], t0);
    let acts = m.on(Input::Request(7, Request::Start(vec![1])), t0);
    assert_eq!(spawns(&acts), vec![0], "db first");
    m.on(Input::Spawned(0, 10), t0);
    assert_eq!(spawns(&m.on(Input::Ready(0), t0)), vec![1]);
    m.on(Input::Spawned(1, 11), t0);
    let acts = m.on(Input::Ready(1), t0);
    assert_eq!(
        answers(&acts),
        vec![Answer {
            id: 7,
            units: vec![0, 1],
            failures: vec![]
        }]
    );
}

#[test]
fn a_failed_dependency_fails_the_start_request_with_why() {
    let t0 = Instant::now();
    let mut db = ready_policy("db");
    db.restart = RestartPolicy::No;
    let mut web = policy("web");
    web.deps = vec![(0, Condition::Ready)];
    let mut m = Machine::new(vec![db, web], t0);
    m.on(Input::Request(1, Request::Start(vec![1])), t0);
    m.on(Input::Spawned(0, 10), t0);
    let acts = end(&mut m, 0, exit(2), t0);
    let ans = answers(&acts);
    assert_eq!(ans.len(), 1);
    let reasons: Vec<&str> = ans[0].failures.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "exited 2 and restart = \"no\"",
            "not started: dependency db is failed (needed ready)"
        ]
    );
}

/// The reported hang: `start web; (stop web &); start web` with a ready probe. The stop
/// must be answered once the process it stopped has ended, even though the start that
/// came meanwhile already runs a new one.
#[test]
fn start_stop_start_answers_every_request() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![ready_policy("web")], t0);
    m.on(Input::Request(1, Request::Start(vec![0])), t0);
    m.on(Input::Spawned(0, 10), t0);
    assert_eq!(answers(&m.on(Input::Ready(0), t0)).len(), 1);
    let acts = m.on(Input::Request(2, Request::Stop(vec![0], None)), t0);
    assert_eq!(signals(&acts), vec![0]);
    let acts = m.on(Input::Request(3, Request::Start(vec![0])), t0);
    assert!(answers(&acts).is_empty() && spawns(&acts).is_empty());
    let acts = end(&mut m, 0, killed_by(15), t0);
    assert_eq!(spawns(&acts), vec![0], "the queued start follows the stop");
    assert_eq!(
        answers(&acts).iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![2],
        "the stop is answered: its process has ended"
    );
    m.on(Input::Spawned(0, 11), t0);
    let acts = m.on(Input::Ready(0), t0);
    assert_eq!(
        answers(&acts).iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(m.units()[0].state, State::Running);
}

#[test]
fn a_stop_during_a_queued_start_cancels_it_and_answers_both() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![ready_policy("web")], t0);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 10), t0);
    m.on(Input::Ready(0), t0);
    m.on(Input::Request(1, Request::Stop(vec![0], None)), t0);
    m.on(Input::Request(2, Request::Start(vec![0])), t0);
    m.on(Input::Request(3, Request::Stop(vec![0], None)), t0);
    let acts = end(&mut m, 0, killed_by(15), t0);
    assert!(spawns(&acts).is_empty(), "the last word was stop");
    let mut got = answers(&acts);
    got.sort_by_key(|a| a.id);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].failures, vec![]);
    assert_eq!(got[1].failures, vec![(0, "stopped".to_string())]);
    assert_eq!(got[2].failures, vec![]);
    assert_eq!(m.units()[0].state, State::Stopped);
}

#[test]
fn restart_during_a_spawn_stops_the_new_process_and_spawns_again() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    m.on(Input::Start(0), t0);
    let acts = m.on(Input::Request(4, Request::Restart(vec![0])), t0);
    assert!(spawns(&acts).is_empty() && signals(&acts).is_empty());
    assert_eq!(signals(&m.on(Input::Spawned(0, 10), t0)), vec![0]);
    let acts = end(&mut m, 0, killed_by(15), t0);
    assert_eq!(spawns(&acts), vec![0]);
    let acts = m.on(Input::Spawned(0, 11), t0);
    assert_eq!(
        answers(&acts).iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![4]
    );
}

#[test]
fn stop_of_a_stopped_service_is_answered_at_once() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![policy("web")], t0);
    let acts = m.on(Input::Request(9, Request::Stop(vec![0], None)), t0);
    assert_eq!(answers(&acts).len(), 1);
}

#[test]
fn a_cancelled_request_is_never_answered() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![ready_policy("web")], t0);
    m.on(Input::Request(5, Request::Wait(vec![0])), t0);
    m.cancel(5);
    m.on(Input::Start(0), t0);
    m.on(Input::Spawned(0, 10), t0);
    assert!(answers(&m.on(Input::Ready(0), t0)).is_empty());
}

/// A service whose readiness never passes used to retry for ever: its readiness deadline
/// equalled the start limit's window, so old attempts left the window before the limit
/// was reached. A start that never became ready counts whatever the window.
#[test]
fn a_service_that_is_never_ready_fails_at_the_start_limit() {
    let t0 = Instant::now();
    let mut m = Machine::new(vec![ready_policy("web")], t0);
    m.on(Input::Request(1, Request::Start(vec![0])), t0);
    let mut now = t0;
    let mut attempts = 0;
    let answer = loop {
        attempts += 1;
        assert!(attempts < 20, "never gave up");
        m.on(Input::Spawned(0, 100 + attempts), now);
        now += Duration::from_secs(60);
        let acts = m.on(Input::Unhealthy(0, "not ready within 60s".into()), now);
        assert_eq!(signals(&acts), vec![0]);
        let acts = end(&mut m, 0, killed_by(15), now);
        if let Some(a) = answers(&acts).pop() {
            break a;
        }
        let due = m.next_deadline().expect("a restart is scheduled");
        now = due;
        assert_eq!(spawns(&m.on(Input::Tick, now)), vec![0]);
    };
    assert_eq!(attempts, 4, "burst = 3 restarts, then it gives up");
    assert_eq!(m.units()[0].state, State::Failed);
    assert!(answer.failures[0].1.contains("start limit"), "{answer:?}");
}
