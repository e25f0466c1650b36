//! Orphans: processes of a service whose supervisor died (e.g. by SIGKILL) but which live on.
//!
//! The new supervisor adopts such a process group as the service's current run and stops it
//! the way it stops its own (stop signal, grace period, SIGKILL), so nothing runs twice.
//! Only what is provably the orphan is adopted: the recorded pid, alive with the recorded
//! start time, in the recorded group, which is neither group 0 or 1 nor our own.

use tokio::sync::mpsc;

use super::group::Members;
use super::{Control, Ctl, Exit, Reporter, RunEvent};
use crate::lock::LockRecord;
use crate::spec::Signal;
use crate::sys::child::signallable_group;
use crate::sys::proc::probe;

/// An adopted orphan's watcher; `None` when the record does not describe a live orphan.
pub(crate) fn adopt(
    orphan: &LockRecord,
    report: Reporter,
) -> Option<(Control, impl std::future::Future<Output = ()>)> {
    let pgid = orphan.pgid;
    if !signallable_group(pgid) || probe(orphan.pid) != Some(orphan.start_time) {
        return None;
    }
    let in_group = rustix::process::Pid::from_raw(i32::try_from(orphan.pid).ok()?)
        .and_then(|p| rustix::process::getpgid(Some(p)).ok())
        .is_some_and(|g| u32::try_from(g.as_raw_pid()).ok() == Some(pgid));
    if !in_group {
        tracing::warn!(
            pid = orphan.pid,
            pgid,
            "a lock record names a process outside its recorded group; not touching it"
        );
        return None;
    }
    let members = Members::of(pgid);
    let (control, rx) = Control::new();
    Some((control, watch(members, rx, report)))
}

async fn watch(members: Members, mut ctl: mpsc::UnboundedReceiver<Ctl>, report: Reporter) {
    let mut gone = false;
    loop {
        tokio::select! {
            () = members.all_gone(), if !gone => {
                gone = true;
                report.report(RunEvent::Exited);
            }
            c = ctl.recv() => match c {
                Some(Ctl::Signal(sig, _)) => {
                    members.signal(sig);
                }
                Some(Ctl::Kill) => {
                    members.signal(Signal::KILL);
                }
                Some(Ctl::AdoptMain(_) | Ctl::Deliver(_)) => {}
                Some(Ctl::Reap) | None => break,
            },
        }
    }
    // Something forked after we looked may still hold the group: it is still theirs.
    members.signal(Signal::KILL);
    // Not our child: its exit status is unknown.
    report.report(RunEvent::Reaped(Exit::from_ended(None, false)));
}
