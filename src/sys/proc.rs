//! Process identity: is a pid alive, when did it start, which host are we on.
//!
//! A pid alone does not name a process: pids are reused. A pid plus its kernel start time
//! does, which is what the lifecycle lock records and checks before trusting a pid.

use rustix::process::Pid;

/// The calling process's pid.
pub fn current_pid() -> u32 {
    std::process::id()
}

/// The calling process's process group id.
pub fn current_pgid() -> u32 {
    pid_to_u32(rustix::process::getpgrp())
}

/// The machine's host name (`uname -n`), lossily decoded as UTF-8.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Whether a process with this pid exists (zombies included).
///
/// Sends signal 0: success or `EPERM` (it exists but belongs to someone else) mean alive,
/// anything else (`ESRCH`) means dead. Pid 0 and pids beyond `i32::MAX` are never alive.
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = to_pid(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// The kernel start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`),
/// or `None` when the process does not exist, is a zombie (dead, not yet reaped by a parent
/// that may never reap it), or the platform has no `/proc`.
pub fn process_start_time(pid: u32) -> Option<u64> {
    to_pid(pid)?;
    let stat = read_stat(pid)?;
    let state = stat.rsplit_once(')')?.1.split_ascii_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    parse_stat_start_time(&stat)
}

/// `/proc/PID/stat` in one read: the supervisor reads it at every spawn, and `read_to_string`
/// (which cannot size a procfs file) took six calls.
fn read_stat(pid: u32) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    // 52 numeric fields and a command name of at most 64 bytes fit well within this.
    let mut buf = Vec::with_capacity(1024);
    file.by_ref().take(4096).read_to_end(&mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// The identity probe the lock uses: `Some(start time)` when `pid` is alive, else `None`.
///
/// Where `/proc` is missing (not Linux) a live pid reports start time 0, which is also what
/// the lock records there, so identity degrades to "pid is alive" instead of failing.
pub fn probe(pid: u32) -> Option<u64> {
    match process_start_time(pid) {
        Some(t) => Some(t),
        None if !cfg!(target_os = "linux") && pid_alive(pid) => Some(0),
        None => None,
    }
}

/// Extracts the start time (field 22) from the text of a `/proc/PID/stat` file.
///
/// The second field is the command name in parentheses; it may hold spaces and `)`, so the
/// fields are counted from the *last* `)`, after which none can appear.
pub fn parse_stat_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state), so field 22 is the 20th item.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

fn to_pid(pid: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(pid).ok()?)
}

fn pid_to_u32(pid: Pid) -> u32 {
    // Pids are positive `i32`s, so this never falls back.
    u32::try_from(pid.as_raw_pid()).unwrap_or(0)
}

/// Pids of the live (non-zombie) processes in process group `pgid`, from /proc.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.get(s.rfind(')')? + 2..)?;
                    let mut f = rest.split_whitespace();
                    let state = f.next()?;
                    let pgrp: u32 = f.nth(1)?.parse().ok()?;
                    Some(state != "Z" && pgrp == pgid)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// `leader`, the members of its group and session, and every descendant of those.
pub fn service_tree(leader: u32) -> Vec<u32> {
    // (pid, ppid, pgrp, session) of every process.
    let all: Vec<(u32, u32, u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After `(comm)`: state ppid pgrp session …
            let mut f = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().skip(1);
            let mut next = || f.next()?.parse::<u32>().ok();
            Some((pid, next()?, next()?, next()?))
        })
        .collect();
    let mut members: Vec<u32> = all
        .iter()
        .filter(|(pid, _, pgrp, sid)| *pid == leader || *pgrp == leader || *sid == leader)
        .map(|(pid, ..)| *pid)
        .collect();
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        for (pid, ppid, ..) in &all {
            if *ppid == parent && !members.contains(pid) {
                members.push(*pid);
            }
        }
        i += 1;
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4123 (web) S 1 4123 4123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \
                        987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0";

    #[test]
    fn parses_plain_stat() {
        assert_eq!(parse_stat_start_time(STAT), Some(987_654));
    }

    #[test]
    fn parses_comm_with_spaces_and_parens() {
        let stat = STAT.replace("(web)", "(my ) (weird) proc)");
        assert_eq!(parse_stat_start_time(&stat), Some(987_654));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_stat_start_time(""), None);
        assert_eq!(parse_stat_start_time("4123 (web"), None);
        assert_eq!(parse_stat_start_time("4123 (web) S 1 2"), None);
        assert_eq!(parse_stat_start_time(&STAT.replace("987654", "x")), None);
    }

    #[test]
    fn knows_itself() {
        let me = current_pid();
        assert!(pid_alive(me));
        assert!(process_start_time(me).is_some());
        assert_eq!(probe(me), process_start_time(me));
        assert!(current_pgid() > 0);
        assert!(!hostname().is_empty());
    }

    #[test]
    fn dead_and_invalid_pids_are_not_alive() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait true");
        // Reaped: the pid is free (reuse within this test is vanishingly unlikely).
        assert!(!pid_alive(pid));
        assert_eq!(probe(pid), None);
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        assert_eq!(process_start_time(0), None);
    }
}
