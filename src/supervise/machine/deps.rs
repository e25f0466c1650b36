//! Dependencies: which conditions hold, what a start or stop pulls in, and the order.
//!
//! A unit starts once each dependency meets its condition (`started`, `ready`,
//! `completed`), and fails if a dependency can no longer meet it. A unit stops only once
//! no dependent is still up, so stops run in reverse dependency order.

use tokio::time::Instant;

use super::{Action, Machine, Phase, State};
use crate::backend::Exit;
use crate::spec::Condition;

pub(super) enum DepStatus {
    Met,
    Pending(String),
    Failed(String),
}

impl Machine {
    /// `units` plus everything they depend on, dependencies first.
    pub(crate) fn with_dependencies(&self, units: &[usize]) -> Vec<usize> {
        fn visit(m: &Machine, i: usize, out: &mut Vec<usize>, depth: usize) {
            // A cycle is a spec error; the depth bound keeps a bad unit from recursing.
            if out.contains(&i) || depth > m.units.len() {
                return;
            }
            for &(d, _) in &m.units[i].policy.deps {
                visit(m, d, out, depth + 1);
            }
            out.push(i);
        }
        let mut out = Vec::new();
        for &i in units {
            visit(self, i, &mut out, 0);
        }
        out
    }

    /// `units` plus everything that depends on them.
    pub(crate) fn with_dependents(&self, units: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = units.to_vec();
        let mut k = 0;
        while k < out.len() {
            let i = out[k];
            for (j, u) in self.units.iter().enumerate() {
                if !out.contains(&j) && u.policy.deps.iter().any(|&(d, _)| d == i) {
                    out.push(j);
                }
            }
            k += 1;
        }
        out
    }

    /// Moves units whose dependencies or dependents changed: waiting units start (or fail),
    /// pending stops proceed once no dependent is still up. Repeats until nothing moves.
    pub(super) fn settle(&mut self, now: Instant, acts: &mut Vec<Action>) {
        loop {
            let mut moved = false;
            for i in 0..self.units.len() {
                let u = &self.units[i];
                if u.state == State::Waiting && u.want_up && u.run.is_none() {
                    let before = (u.state, u.reason.clone());
                    self.launch(i, now, acts);
                    let u = &self.units[i];
                    if (u.state, u.reason.clone()) != before {
                        moved = true;
                    } else {
                        acts.pop(); // no change: drop the Changed just pushed
                    }
                }
                let u = &self.units[i];
                if let Some(timeout) = u.stop_pending {
                    match u.phase() {
                        Some(Phase::Up) if !self.has_active_dependents(i) => {
                            self.signal(i, timeout, now, acts);
                            moved = true;
                        }
                        // Signalled once the backend has started it.
                        Some(Phase::Spawning | Phase::Up) => {}
                        _ => self.units[i].stop_pending = None,
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn has_active_dependents(&self, i: usize) -> bool {
        self.units.iter().any(|u| {
            u.policy.deps.iter().any(|(d, _)| *d == i)
                && (u.state.is_active() || u.state == State::Backoff || u.run.is_some())
        })
    }

    pub(super) fn deps_status(&self, i: usize) -> DepStatus {
        let mut pending = Vec::new();
        for &(d, cond) in &self.units[i].policy.deps {
            let dep = &self.units[d];
            let ok = match cond {
                Condition::Started => dep.state.is_active() && dep.pid.is_some(),
                Condition::Ready => dep.state == State::Running && dep.ready,
                Condition::Completed => {
                    dep.state == State::Exited && dep.last_exit.as_ref().is_some_and(Exit::success)
                }
            };
            if ok {
                continue;
            }
            let dead = match dep.state {
                State::Failed | State::Exited => true,
                State::Stopped => !dep.want_up,
                _ => false,
            };
            let cond = match cond {
                Condition::Started => "started",
                Condition::Ready => "ready",
                Condition::Completed => "completed",
            };
            if dead {
                return DepStatus::Failed(format!(
                    "not started: dependency {} is {} (needed {cond})",
                    dep.policy.name,
                    dep.state.as_str()
                ));
            }
            pending.push(format!("{} ({cond})", dep.policy.name));
        }
        if pending.is_empty() {
            DepStatus::Met
        } else {
            DepStatus::Pending(format!("waiting for {}", pending.join(", ")))
        }
    }
}
