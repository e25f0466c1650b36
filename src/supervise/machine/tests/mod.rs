//! Unit tests of the pure machine: a fake clock and fake children, no processes, no sleeps.
//!
//! A fake child is just the inputs a backend would report (`Spawned`, `Exited`,
//! `OutputClosed`, `Drained`, `Reaped`), fed in the orders real children produce them.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Action, Answer, Input, Machine, Phase, Policy, Request, State};
use crate::backend::Exit;
use crate::spec::{Backoff, Condition, RestartPolicy, Signal, StartLimit};

mod cascade;
mod policy;
mod requests;
mod stop;

fn policy(name: &str) -> Policy {
    Policy {
        name: name.into(),
        restart: RestartPolicy::OnFailure,
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
        },
        start_limit: StartLimit {
            burst: 3,
            interval: Duration::from_secs(60),
        },
        has_ready: false,
        deps: Vec::new(),
        stop_signal: Signal::TERM,
        stop_timeout: Duration::from_secs(5),
    }
}

fn exit(code: i32) -> Exit {
    Exit {
        code: Some(code),
        signal: None,
        timed_out: false,
        spawn_error: None,
        at: SystemTime::UNIX_EPOCH,
    }
}

fn killed_by(sig: i32) -> Exit {
    Exit {
        code: None,
        signal: Some(sig),
        ..exit(0)
    }
}

fn spawns(acts: &[Action]) -> Vec<usize> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Spawn(i) => Some(*i),
            _ => None,
        })
        .collect()
}

fn signals(acts: &[Action]) -> Vec<usize> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Signal(i, _, _) => Some(*i),
            _ => None,
        })
        .collect()
}

fn answers(acts: &[Action]) -> Vec<Answer> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Answer(ans) => Some(ans.clone()),
            _ => None,
        })
        .collect()
}

/// A child's end as a plain process reports it: the exit, its pipes closing, the reap.
fn end(m: &mut Machine, i: usize, how: Exit, now: Instant) -> Vec<Action> {
    let mut acts = m.on(Input::Exited(i), now);
    acts.extend(m.on(Input::OutputClosed(i), now));
    assert!(
        acts.contains(&Action::Reap(i)),
        "the exit is reaped: {acts:?}"
    );
    acts.extend(m.on(Input::Reaped(i, how), now));
    acts
}

/// Starts unit `i` and has it spawned as `pid`.
fn up(m: &mut Machine, i: usize, pid: u32, now: Instant) {
    assert_eq!(spawns(&m.on(Input::Start(i), now)), vec![i]);
    m.on(Input::Spawned(i, pid), now);
}
