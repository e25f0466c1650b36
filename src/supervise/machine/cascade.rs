//! What a restart of one unit pulls with it: the dependents that need it up.
//!
//! A watched service restarted because its files changed takes down what runs on top of
//! it: a dependent that needs it `started` or `ready` was started against the old process
//! and is restarted too (it then waits for the new one, as at any start). A dependent that
//! needed it `completed` ran after it once and is left alone, as are dependents that are
//! not running.

use crate::spec::Condition;

use super::{Machine, State};

impl Machine {
    /// `i` first, then every active unit that needs it (or one of those) `started` or
    /// `ready`, nearest first.
    pub(crate) fn restart_closure(&self, i: usize) -> Vec<usize> {
        let mut out = vec![i];
        let mut k = 0;
        while k < out.len() {
            let d = out[k];
            for (j, u) in self.units.iter().enumerate() {
                let needs = u
                    .policy
                    .deps
                    .iter()
                    .any(|&(x, c)| x == d && c != Condition::Completed);
                let active = u.state.is_active() || u.state == State::Backoff || u.run.is_some();
                if needs && active && !out.contains(&j) {
                    out.push(j);
                }
            }
            k += 1;
        }
        out
    }
}
