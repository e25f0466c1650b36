//! Reclaiming orphans: services whose supervisor died (e.g. by SIGKILL) but which live on.
//!
//! Their lock names a live process whose supervisor is gone. The new supervisor stops each
//! orphan's process group the way it stops its own services (stop signal, grace period,
//! SIGKILL) and only then starts the service afresh, so nothing runs twice.

use std::time::Duration;

use crate::lock::LockRecord;
use crate::spec::Signal;
use crate::sys::child::kill_group;
use crate::sys::pidfd::AsyncPidFd;
use crate::sys::proc::{group_members, probe};

/// Stops the orphan's whole process group: `signal`, up to `timeout`, then SIGKILL.
pub(super) async fn reclaim(
    orphan: LockRecord,
    service: String,
    signal: Signal,
    timeout: Duration,
) {
    // Only signal what is provably the orphan: its pid with the recorded start time.
    if probe(orphan.pid) != Some(orphan.start_time) {
        return;
    }
    let pgid = orphan.pgid;
    let members: Vec<AsyncPidFd> = group_members(pgid)
        .into_iter()
        .filter_map(|pid| AsyncPidFd::open(pid).ok())
        .collect();
    tracing::warn!(
        service,
        pid = orphan.pid,
        pgid,
        processes = members.len(),
        "stopping an orphan left by a dead supervisor"
    );
    let _ = kill_group(pgid, signal);
    let all_gone = async {
        for m in &members {
            let _ = m.exited().await;
        }
    };
    if tokio::time::timeout(timeout, all_gone).await.is_err() {
        // Group members still exist, so the group id is still theirs: safe to signal.
        let _ = kill_group(pgid, Signal::KILL);
        let all_gone = async {
            for m in &members {
                let _ = m.exited().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), all_gone).await;
    } else if crate::sys::child::group_alive(pgid) {
        // Something forked after we looked; the group still exists, so it is still theirs.
        let _ = kill_group(pgid, Signal::KILL);
    }
}
