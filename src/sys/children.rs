//! Children of a subreaper supervisor: which it spawned itself, and which were re-parented
//! to it (orphans of its services' processes), so it can reap the latter without stealing
//! an exit status that a watcher or tokio waits for (the ECHILD trap).

use std::collections::HashSet;
use std::sync::Mutex;

use rustix::process::{Pid, WaitId, WaitIdOptions};

/// The variable every service's process gets, naming its service: an orphan re-parented to
/// the supervisor is attributed to its service by it (`setsid` changes the session and the
/// group, never the environment a process was started with).
pub const SERVICE_VAR: &str = "PROCTOR_SERVICE";

/// Pids this process spawned and waits for itself.
static OWN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn own() -> std::sync::MutexGuard<'static, Option<HashSet<u32>>> {
    OWN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Notes that `pid` is a child this process waits for itself (a service's leader, a tool).
pub fn track(pid: u32) {
    own().get_or_insert_with(HashSet::new).insert(pid);
}

/// Forgets `pid` (reaped by whoever spawned it).
pub fn untrack(pid: u32) {
    if let Some(set) = own().as_mut() {
        set.remove(&pid);
    }
}

/// Keeps a child tracked for as long as it lives (its waiter holds this).
#[derive(Debug)]
pub struct Tracked(u32);

impl Tracked {
    /// Tracks `pid` until dropped.
    pub fn new(pid: u32) -> Self {
        track(pid);
        Self(pid)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        untrack(self.0);
    }
}

/// This process's children, from `/proc/self/task/*/children`.
fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Children that were re-parented to us: not spawned by us.
pub fn adopted() -> Vec<u32> {
    let own = own();
    children()
        .into_iter()
        .filter(|p| !own.as_ref().is_some_and(|s| s.contains(p)))
        .collect()
}

/// Adopted children started (directly or not) by service `service`, by [`SERVICE_VAR`].
pub fn adopted_of(service: &str) -> Vec<u32> {
    let needle = format!("{SERVICE_VAR}={service}");
    adopted()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// Reaps every adopted child that has exited; returns how many.
pub fn reap_adopted() -> usize {
    let mut n = 0;
    for pid in adopted() {
        let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            continue;
        };
        // NOHANG: a live one stays; only the exited are collected.
        if let Ok(Some(_)) = rustix::process::waitid(
            WaitId::Pid(p),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            n += 1;
        }
    }
    n
}

/// Sends `sig` to adopted process `pid` and the group it leads, if it leads one. It is our
/// child (unreaped even if it exited), so neither id can be a stranger's.
pub fn signal_adopted(pid: u32, sig: rustix::process::Signal) {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let leads = rustix::process::getpgid(Some(p)).is_ok_and(|g| g == p);
    if leads {
        let _ = rustix::process::kill_process_group(p, sig);
    } else {
        let _ = rustix::process::kill_process(p, sig);
    }
}
