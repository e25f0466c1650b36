//! Which dependents a watched service's restart takes with it.

use super::*;

fn with_deps(name: &str, deps: Vec<(usize, Condition)>) -> Policy {
    Policy {
        deps,
        ..policy(name)
    }
}

#[test]
fn a_restart_takes_the_running_dependents_that_need_it() {
    let now = Instant::now();
    // db ← api (ready) ← web (started); migrate needs db completed; idle needs db but is
    // stopped.
    let mut m = Machine::new(
        vec![
            policy("db"),
            with_deps("api", vec![(0, Condition::Ready)]),
            with_deps("web", vec![(1, Condition::Started)]),
            with_deps("migrate", vec![(0, Condition::Completed)]),
            with_deps("idle", vec![(0, Condition::Ready)]),
        ],
        now,
    );
    for i in 0..4 {
        m.on(Input::Start(i), now);
        m.on(Input::Spawned(i, 100 + u32::try_from(i).unwrap_or(0)), now);
    }
    assert_eq!(m.units()[4].state, State::Stopped);
    assert_eq!(m.restart_closure(0), vec![0, 1, 2]);
    assert_eq!(m.restart_closure(1), vec![1, 2]);
    assert_eq!(m.restart_closure(2), vec![2]);
}
