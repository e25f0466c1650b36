//! The members of a process group whose leader is not (or no longer) our child to hold.
//!
//! A group id can only be reused once every member is gone. Where we cannot keep the leader
//! unreaped (a tmux pane's process, an orphan of a dead supervisor), the group is watched
//! through a pidfd per member, taken when we look; a signal to the group goes out only while
//! one of them still lives, so it can never reach a stranger that later got the same id.

use crate::spec::Signal;
use crate::sys::child::kill_group;
use crate::sys::pidfd::AsyncPidFd;
use crate::sys::proc::group_members;

/// The members of group `pgid` as seen when [`Members::of`] looked.
#[derive(Debug)]
pub(crate) struct Members {
    pgid: u32,
    members: Vec<AsyncPidFd>,
}

impl Members {
    /// The live members of group `pgid` right now.
    pub(crate) fn of(pgid: u32) -> Self {
        Self {
            pgid,
            members: group_members(pgid)
                .into_iter()
                .filter_map(|pid| AsyncPidFd::open(pid).ok())
                .collect(),
        }
    }

    /// Sends `sig` to the group while a member seen still lives (processes forked since
    /// are in the group too, and get it as well). Returns whether it was sent.
    pub(crate) fn signal(&self, sig: Signal) -> bool {
        if self.members.iter().all(AsyncPidFd::has_exited) {
            return false;
        }
        match kill_group(self.pgid, sig) {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(pgid = self.pgid, "signalling the group failed: {e}");
                false
            }
        }
    }

    /// Resolves once every member seen has exited.
    pub(crate) async fn all_gone(&self) {
        for m in &self.members {
            let _ = m.exited().await;
        }
    }
}
