//! What follows the end of a run: the restart policy, backoff and the start limit.

use std::time::Duration;

use tokio::time::Instant;

use super::{describe, set, Action, Machine, State};
use crate::spec::RestartPolicy;

impl Machine {
    /// Unit `i`'s run ended (`stopped`: after a stop signal; `ran`: for how long).
    pub(super) fn after_run(
        &mut self,
        i: usize,
        stopped: bool,
        ran: Option<Duration>,
        now: Instant,
        acts: &mut Vec<Action>,
    ) {
        let u = &mut self.units[i];
        let forced_failure = std::mem::take(&mut u.failure_pending);
        let restart_pending = std::mem::take(&mut u.restart_pending);
        if stopped && !forced_failure {
            if restart_pending && u.want_up {
                // A restart, or a start that arrived during the stop: a fresh start.
                u.history.clear();
                u.unready_starts = 0;
                u.delay = u.policy.backoff.initial;
                u.reason = None;
                self.launch(i, now, acts);
            } else {
                u.reason = None;
                set(u, State::Stopped, now);
            }
            return;
        }
        if !u.want_up {
            set(u, State::Stopped, now);
            return;
        }
        let success = !forced_failure && u.last_exit.as_ref().is_some_and(|e| e.success());
        let again = match u.policy.restart {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => !success,
            RestartPolicy::Always => true,
        };
        if !again {
            if success {
                u.reason = None;
                set(u, State::Exited, now);
            } else {
                if !forced_failure {
                    // Only `restart = "no"` leaves a failed run as it is.
                    u.reason = Some(format!(
                        "{} and restart = \"no\"",
                        describe(u.last_exit.as_ref())
                    ));
                }
                set(u, State::Failed, now);
            }
            return;
        }
        // A run longer than the largest delay means the service had recovered.
        if ran.is_some_and(|r| r > u.policy.backoff.max) {
            u.delay = u.policy.backoff.initial;
            u.history.clear();
        }
        let limit = u.policy.start_limit;
        while u
            .history
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > limit.interval)
        {
            u.history.pop_front();
        }
        if u.unready_starts > limit.burst {
            u.reason = Some(format!(
                "start limit hit: {} starts in a row never became ready",
                u.unready_starts
            ));
            set(u, State::Failed, now);
            return;
        }
        if u.history.len() >= limit.burst as usize {
            u.reason = Some(format!(
                "start limit hit: more than {} restarts within {:?}",
                limit.burst, limit.interval
            ));
            set(u, State::Failed, now);
            return;
        }
        u.history.push_back(now);
        let delay = u.delay;
        let grown = delay.as_secs_f64() * u.policy.backoff.factor;
        u.delay = Duration::from_secs_f64(grown.min(u.policy.backoff.max.as_secs_f64()));
        if !forced_failure {
            // A probe's failure keeps its own reason.
            u.reason = Some(describe(u.last_exit.as_ref()));
        }
        if delay.is_zero() {
            u.restarts += 1;
            self.launch(i, now, acts);
        } else {
            u.deadline = Some(now + delay);
            set(u, State::Backoff, now);
        }
    }
}
