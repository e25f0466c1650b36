//! Feeding the machine its inputs, carrying out the actions it decides, and answering
//! whoever asked.

use tokio::time::Instant;

use super::driver::{release, Asker, Driver};
use super::machine::{Action, Answer, Input, State};

impl Driver {
    /// Feeds inputs to the machine and carries out the resulting actions until quiet.
    pub(super) fn apply_all(&mut self, inputs: Vec<Input>) {
        self.prelock_for(&inputs);
        let mut queue: std::collections::VecDeque<Input> = inputs.into();
        let mut changed = Vec::new();
        let mut answers = Vec::new();
        while let Some(input) = queue.pop_front() {
            let now = Instant::now();
            for action in self.machine.on(input, now) {
                match action {
                    Action::Spawn(i) => queue.extend(self.spawn(i)),
                    Action::Signal(i, sig, grace) => {
                        self.order(i, crate::backend::Ctl::Signal(sig, grace));
                    }
                    Action::Kill(i) => self.order(i, crate::backend::Ctl::Kill),
                    Action::Reap(i) => self.order(i, crate::backend::Ctl::Reap),
                    Action::Ended(i) => self.ended(i),
                    Action::Changed(i) => {
                        if !changed.contains(&i) {
                            changed.push(i);
                        }
                        if matches!(
                            self.machine.units()[i].state,
                            State::Stopped | State::Exited | State::Failed
                        ) && self.machine.units()[i].run.is_none()
                        {
                            release(&mut self.slots[i].lock);
                            self.remove_storage(i, true);
                        }
                    }
                    Action::Answer(a) => answers.push(a),
                }
            }
        }
        // A batch's locks whose services did not spawn yet (they wait for others) are held
        // from here, as when the batch was taken in one go.
        self.take_prelocked(None);
        for &i in &changed {
            self.publish(i);
            self.sync_watch(i);
        }
        let overdue = self.overdue_jobs(&changed);
        for a in answers {
            self.answer(a);
        }
        // Requests whose asker left are forgotten, so they hold nothing.
        let machine = &mut self.machine;
        self.askers.retain(|&id, asker| match asker {
            Asker::Client(tx) | Asker::Reload(tx, _) if tx.is_closed() => {
                machine.cancel(id);
                false
            }
            _ => true,
        });
        if !overdue.is_empty() {
            self.apply_all(overdue);
        }
    }

    /// Sends the machine's answer to whoever asked.
    fn answer(&mut self, a: Answer) {
        match self.askers.remove(&a.id) {
            Some(asker @ (Asker::Client(_) | Asker::Reload(..))) => {
                let mut reply = self.reply(&a.units);
                reply.failures = a
                    .failures
                    .into_iter()
                    .map(|(i, reason)| crate::control::proto::Failure {
                        service: self.service(i).name.clone(),
                        reason,
                    })
                    .collect();
                let tx = match asker {
                    Asker::Client(tx) => tx,
                    Asker::Reload(tx, plan) => {
                        reply.plan = plan;
                        tx
                    }
                    Asker::Manager(_) => return,
                };
                let _ = tx.send(Ok(reply));
            }
            Some(Asker::Manager(sock)) => {
                if let Err(e) = crate::probe::notify::send_to_manager(&sock, "READY=1") {
                    tracing::warn!("cannot notify the service manager: {e}");
                }
            }
            None => {}
        }
    }
}
