//! The takeover table: a pure function from (existing record, who I am, liveness probe) to
//! what acquisition must do. No IO here; the probe is injected so tests can fake it.
//!
//! | file | holder | decision |
//! |---|---|---|
//! | absent or corrupt | — | [`Decision::Fresh`] |
//! | present | other hostname | [`Decision::TakeOver`] ([`TakeoverReason::ForeignHost`], warn) |
//! | present | same host, pid dead | [`Decision::TakeOver`] ([`TakeoverReason::HolderDead`]) |
//! | present | same host, pid alive, other start time | [`Decision::TakeOver`] ([`TakeoverReason::PidReused`]) |
//! | present | same host, live, supervisor gone | [`Decision::Orphan`] |
//! | present | same host, live, supervisor live | [`Decision::Conflict`] |

use super::record::{HostInfo, LockRecord};

/// What acquisition must do with the record it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No (readable) record: write a fresh one.
    Fresh,
    /// The record names a holder that is not running here any more: overwrite it.
    TakeOver {
        /// The record being replaced.
        previous: LockRecord,
        /// Why the holder no longer counts.
        reason: TakeoverReason,
    },
    /// The holder is alive but its supervisor is gone: stop the holder's process group,
    /// then start afresh.
    Orphan {
        /// The orphan's record (its `pgid` is what to stop).
        orphan: LockRecord,
    },
    /// The holder is alive under a live supervisor: refuse.
    Conflict {
        /// The live holder.
        holder: LockRecord,
    },
}

/// Why a present record may be overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeoverReason {
    /// Written on another host: its pid cannot be checked from here (logged as a warning).
    ForeignHost,
    /// The holder's pid no longer exists.
    HolderDead,
    /// The holder's pid exists but with another start time: a different process reused it.
    PidReused,
}

/// The state of the holder a record names, as `proctor lock` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockHealth {
    /// The holder and its supervisor are running here.
    Alive,
    /// The holder is gone (dead pid or reused pid): the record is left over.
    Stale,
    /// Written on another host; cannot be checked from here.
    Foreign,
    /// The holder runs but its supervisor is gone.
    Orphan,
}

/// Applies the takeover table to `existing` (`None` when absent or corrupt), as seen by `me`.
///
/// `probe(pid)` returns `Some(start time)` when `pid` is alive, else `None`.
pub fn decide(
    existing: Option<&LockRecord>,
    me: &HostInfo,
    probe: impl Fn(u32) -> Option<u64>,
) -> Decision {
    let Some(record) = existing else {
        return Decision::Fresh;
    };
    let take_over = |reason| Decision::TakeOver {
        previous: record.clone(),
        reason,
    };
    match classify(record, me, probe) {
        Classified::Foreign => take_over(TakeoverReason::ForeignHost),
        Classified::Dead => take_over(TakeoverReason::HolderDead),
        Classified::Reused => take_over(TakeoverReason::PidReused),
        Classified::Orphan => Decision::Orphan {
            orphan: record.clone(),
        },
        Classified::Alive => Decision::Conflict {
            holder: record.clone(),
        },
    }
}

/// The health of the holder `record` names, as seen by `me`.
pub fn health(
    record: &LockRecord,
    me: &HostInfo,
    probe: impl Fn(u32) -> Option<u64>,
) -> LockHealth {
    match classify(record, me, probe) {
        Classified::Foreign => LockHealth::Foreign,
        Classified::Dead | Classified::Reused => LockHealth::Stale,
        Classified::Orphan => LockHealth::Orphan,
        Classified::Alive => LockHealth::Alive,
    }
}

enum Classified {
    Foreign,
    Dead,
    Reused,
    Orphan,
    Alive,
}

fn classify(record: &LockRecord, me: &HostInfo, probe: impl Fn(u32) -> Option<u64>) -> Classified {
    if record.hostname != me.hostname {
        return Classified::Foreign;
    }
    match probe(record.pid) {
        None => return Classified::Dead,
        Some(t) if t != record.start_time => return Classified::Reused,
        Some(_) => {}
    }
    let supervisor_alive = match probe(record.supervisor_pid) {
        None => false,
        Some(t) => record.supervisor_start_time.is_none_or(|want| want == t),
    };
    if supervisor_alive {
        Classified::Alive
    } else {
        Classified::Orphan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLDER: u32 = 4123;
    const HOLDER_START: u64 = 1000;
    const SUPERVISOR: u32 = 4100;
    const SUPERVISOR_START: u64 = 900;

    fn me() -> HostInfo {
        HostInfo {
            hostname: "host-a".into(),
            pid: 5000,
            pgid: 5000,
            start_time: 2000,
        }
    }

    fn record(hostname: &str) -> LockRecord {
        LockRecord {
            schema_version: 1,
            pid: HOLDER,
            pgid: HOLDER,
            start_time: HOLDER_START,
            hostname: hostname.into(),
            started_at: "2026-05-01T12:00:00Z".into(),
            supervisor_pid: SUPERVISOR,
            supervisor_start_time: Some(SUPERVISOR_START),
        }
    }

    /// A fake process table: `(pid, start time)` pairs that are alive.
    fn procs(alive: &'static [(u32, u64)]) -> impl Fn(u32) -> Option<u64> {
        move |pid| alive.iter().find(|(p, _)| *p == pid).map(|(_, t)| *t)
    }

    const BOTH_ALIVE: &[(u32, u64)] = &[(HOLDER, HOLDER_START), (SUPERVISOR, SUPERVISOR_START)];

    #[test]
    fn row_absent_or_corrupt_writes_fresh() {
        assert_eq!(decide(None, &me(), procs(BOTH_ALIVE)), Decision::Fresh);
    }

    #[test]
    fn row_other_hostname_takes_over_even_if_pids_look_alive() {
        let rec = record("host-b");
        let d = decide(Some(&rec), &me(), procs(BOTH_ALIVE));
        assert_eq!(
            d,
            Decision::TakeOver {
                previous: rec.clone(),
                reason: TakeoverReason::ForeignHost
            }
        );
        assert_eq!(health(&rec, &me(), procs(BOTH_ALIVE)), LockHealth::Foreign);
    }

    #[test]
    fn row_same_host_dead_pid_takes_over() {
        let rec = record("host-a");
        let alive = procs(&[(SUPERVISOR, SUPERVISOR_START)]);
        let d = decide(Some(&rec), &me(), &alive);
        assert_eq!(
            d,
            Decision::TakeOver {
                previous: rec.clone(),
                reason: TakeoverReason::HolderDead
            }
        );
        assert_eq!(health(&rec, &me(), alive), LockHealth::Stale);
    }

    #[test]
    fn row_same_host_dead_pid_and_dead_supervisor_takes_over() {
        let rec = record("host-a");
        let d = decide(Some(&rec), &me(), procs(&[]));
        assert!(matches!(
            d,
            Decision::TakeOver {
                reason: TakeoverReason::HolderDead,
                ..
            }
        ));
    }

    #[test]
    fn row_same_host_reused_pid_takes_over() {
        let rec = record("host-a");
        let alive = procs(&[(HOLDER, HOLDER_START + 1), (SUPERVISOR, SUPERVISOR_START)]);
        let d = decide(Some(&rec), &me(), &alive);
        assert_eq!(
            d,
            Decision::TakeOver {
                previous: rec.clone(),
                reason: TakeoverReason::PidReused
            }
        );
        assert_eq!(health(&rec, &me(), alive), LockHealth::Stale);
    }

    #[test]
    fn row_same_host_live_same_start_time_conflicts() {
        let rec = record("host-a");
        let d = decide(Some(&rec), &me(), procs(BOTH_ALIVE));
        assert_eq!(
            d,
            Decision::Conflict {
                holder: rec.clone()
            }
        );
        assert_eq!(health(&rec, &me(), procs(BOTH_ALIVE)), LockHealth::Alive);
    }

    #[test]
    fn live_holder_with_dead_supervisor_is_an_orphan() {
        let rec = record("host-a");
        let alive = procs(&[(HOLDER, HOLDER_START)]);
        assert_eq!(
            decide(Some(&rec), &me(), &alive),
            Decision::Orphan {
                orphan: rec.clone()
            }
        );
        assert_eq!(health(&rec, &me(), alive), LockHealth::Orphan);
    }

    #[test]
    fn live_holder_with_reused_supervisor_pid_is_an_orphan() {
        let rec = record("host-a");
        let alive = procs(&[(HOLDER, HOLDER_START), (SUPERVISOR, SUPERVISOR_START + 7)]);
        assert!(matches!(
            decide(Some(&rec), &me(), alive),
            Decision::Orphan { .. }
        ));
    }

    #[test]
    fn supervisor_without_start_time_is_checked_by_pid_only() {
        let mut rec = record("host-a");
        rec.supervisor_start_time = None;
        let alive = procs(&[(HOLDER, HOLDER_START), (SUPERVISOR, 12345)]);
        assert!(matches!(
            decide(Some(&rec), &me(), &alive),
            Decision::Conflict { .. }
        ));
        let alive = procs(&[(HOLDER, HOLDER_START)]);
        assert!(matches!(
            decide(Some(&rec), &me(), alive),
            Decision::Orphan { .. }
        ));
    }

    #[test]
    fn supervisor_holding_its_own_lock_before_spawning_conflicts_while_alive() {
        // Before `set_child`, the holder is the supervisor itself.
        let mut rec = record("host-a");
        rec.pid = SUPERVISOR;
        rec.start_time = SUPERVISOR_START;
        let d = decide(Some(&rec), &me(), procs(&[(SUPERVISOR, SUPERVISOR_START)]));
        assert!(matches!(d, Decision::Conflict { .. }));
        // Once it dies it is simply stale: never an orphan, so its group is never signalled.
        let d = decide(Some(&rec), &me(), procs(&[]));
        assert!(matches!(
            d,
            Decision::TakeOver {
                reason: TakeoverReason::HolderDead,
                ..
            }
        ));
    }
}
