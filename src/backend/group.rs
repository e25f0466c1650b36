//! Ending what is left of a process group after its leader exited.

use std::time::Duration;

use crate::spec::Signal;
use crate::sys::child::kill_group;
use crate::sys::pidfd::AsyncPidFd;
use crate::sys::proc::group_members;

/// Waits up to `grace` for the remaining members of group `pgid` to exit, then SIGKILLs
/// the group. Used where the leader is not our child (a tmux pane), so it cannot be kept
/// unreaped: members are signalled only while they exist, and a group id cannot be reused
/// while a member lives. Returns whether members outlived a non-zero grace period.
pub(crate) async fn drain(pgid: u32, grace: Duration) -> bool {
    let members: Vec<AsyncPidFd> = group_members(pgid)
        .into_iter()
        .filter_map(|pid| AsyncPidFd::open(pid).ok())
        .collect();
    if members.is_empty() {
        return false;
    }
    let all_gone = async {
        for m in &members {
            let _ = m.exited().await;
        }
    };
    if !grace.is_zero() && tokio::time::timeout(grace, all_gone).await.is_ok() {
        return false;
    }
    if crate::sys::child::group_alive(pgid) {
        let _ = kill_group(pgid, Signal::KILL);
        let all_gone = async {
            for m in &members {
                let _ = m.exited().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), all_gone).await;
    }
    !grace.is_zero()
}
