//! `restart_on_memory` (pm2's `max_memory_restart`): a service whose processes together
//! use more memory than the spec allows is restarted, as a liveness failure.
//!
//! Only a service that sets the key gets a watch, once a second while it runs; every other
//! service (and an idle project without such a service) costs no wake-up at all.

use std::path::Path;
use std::time::Duration;

use tokio::task::AbortHandle;

use super::driver::{Driver, Msg};
use super::probes::ProbeMsg;
use crate::probe::Report;
use crate::sys::proc::ProcTable;

/// How often a watched service's memory is read.
const EVERY: Duration = Duration::from_secs(1);

impl Driver {
    /// Starts the memory watch of run `gen` of service `i` (main pid `pid`), if it has one.
    pub(super) fn watch_memory(&self, i: usize, gen: u64, pid: u32) -> Option<AbortHandle> {
        let limit = self.service(i).identity.restart_on_memory?;
        let tx = self.tx.clone();
        let file = self.contain.memory_file(self.service(i));
        let task = tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let used = tree_memory(pid, file.as_deref());
                if used > limit {
                    let why = format!(
                        "using {} MiB, more than restart_on_memory ({} MiB)",
                        used >> 20,
                        limit >> 20
                    );
                    let _ = tx.send(Msg::Probe {
                        unit: i,
                        gen,
                        msg: ProbeMsg::Report {
                            live: true,
                            report: Report::Unhealthy(why),
                        },
                    });
                    return;
                }
            }
        });
        Some(task.abort_handle())
    }
}

/// The memory the service led by `leader` uses: its cgroup leaf's `memory.current` (`file`)
/// when it has one that accounts memory, else the summed RSS of its process group, its
/// session and their descendants (so `setsid` and double forks still count).
pub(crate) fn tree_memory(leader: u32, file: Option<&Path>) -> u64 {
    file.and_then(read_bytes)
        .unwrap_or_else(|| tree_rss(leader, &ProcTable::scan()))
}

/// The summed RSS of the service led by `leader`, in bytes, from the table `procs`.
pub(crate) fn tree_rss(leader: u32, procs: &ProcTable) -> u64 {
    let page = rustix::param::page_size() as u64;
    procs.tree(leader).map(|p| p.rss_pages).sum::<u64>() * page
}

/// A cgroup counter file such as `memory.current`: one number of bytes.
pub(crate) fn read_bytes(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_this_process() {
        // The test process leads no group of its own, but its own pid is always counted.
        assert!(super::tree_memory(std::process::id(), None) > 0);
    }
}
