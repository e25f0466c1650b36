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
    // 52 numeric fields and a command name of at most 64 bytes fit well within this, and
    // procfs hands the whole file to the first read: a short read is the end.
    let mut buf = vec![0; 1024];
    let n = file.read(&mut buf).ok()?;
    if n == buf.len() {
        file.by_ref().take(4096).read_to_end(&mut buf).ok()?;
    } else {
        buf.truncate(n);
    }
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
    ProcTable::scan().tree(leader).map(|p| p.pid).collect()
}

/// One process as `/proc/PID/stat` showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcEntry {
    /// Its pid.
    pub pid: u32,
    ppid: u32,
    pgrp: u32,
    session: u32,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// Every live process, read once: asking for many services' trees from one table costs one
/// walk of `/proc`, not one per service (2,000 services made a status call take minutes).
#[derive(Debug)]
pub struct ProcTable {
    taken: std::time::Instant,
    procs: Vec<ProcEntry>,
    /// Indices into `procs` by parent pid, process group and session.
    children: std::collections::HashMap<u32, Vec<usize>>,
    groups: std::collections::HashMap<u32, Vec<usize>>,
}

impl ProcTable {
    /// Reads every process's `stat` (zombies left out).
    pub fn scan() -> Self {
        let procs: Vec<ProcEntry> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| parse_entry(pid, &read_stat(pid)?))
            .collect();
        Self::from_entries(procs)
    }

    fn from_entries(mut procs: Vec<ProcEntry>) -> Self {
        // By pid, so that a service's leader is found by bisection: `status` looks up every
        // service's, and a scan of the whole table each was its supervisor's largest cost.
        procs.sort_unstable_by_key(|p| p.pid);
        let mut table = Self {
            taken: std::time::Instant::now(),
            procs,
            children: std::collections::HashMap::new(),
            groups: std::collections::HashMap::new(),
        };
        for (i, p) in table.procs.iter().enumerate() {
            table.children.entry(p.ppid).or_default().push(i);
            table.groups.entry(p.pgrp).or_default().push(i);
            if p.session != p.pgrp {
                table.groups.entry(p.session).or_default().push(i);
            }
        }
        table
    }

    /// When the table was read.
    pub fn taken(&self) -> std::time::Instant {
        self.taken
    }

    /// `leader`, the members of its group and session, and every descendant of those.
    pub fn tree(&self, leader: u32) -> impl Iterator<Item = &ProcEntry> {
        let mut seen = vec![false; self.procs.len()];
        let mut queue: Vec<usize> = self
            .procs
            .binary_search_by_key(&leader, |p| p.pid)
            .ok()
            .into_iter()
            .chain(self.groups.get(&leader).into_iter().flatten().copied())
            .collect();
        let mut members = Vec::new();
        while let Some(i) = queue.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            members.push(i);
            queue.extend(self.children.get(&self.procs[i].pid).into_iter().flatten());
        }
        members.into_iter().map(|i| &self.procs[i])
    }
}

/// The fields a [`ProcEntry`] keeps, from the text of `/proc/PID/stat`; `None` for a zombie.
fn parse_entry(pid: u32, stat: &str) -> Option<ProcEntry> {
    // After `(comm)`: state(3) ppid pgrp session … utime(14) stime(15) … rss(24).
    let f: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    if matches!(*f.first()?, "Z" | "X") {
        return None;
    }
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(ProcEntry {
        pid,
        ppid: u32::try_from(num(4)?).ok()?,
        pgrp: u32::try_from(num(5)?).ok()?,
        session: u32::try_from(num(6)?).ok()?,
        cpu_ticks: num(14)? + num(15)?,
        rss_pages: num(24)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4123 (web) S 1 4123 4123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \
                        987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0";

    #[test]
    fn a_tree_holds_the_group_the_session_and_their_descendants() {
        let e = |pid, ppid, pgrp, session| ProcEntry {
            pid,
            ppid,
            pgrp,
            session,
            cpu_ticks: u64::from(pid),
            rss_pages: 1,
        };
        // Out of pid order, as /proc may list them.
        let table = ProcTable::from_entries(vec![
            e(21, 20, 20, 20),
            e(10, 1, 10, 10),  // the leader
            e(11, 10, 10, 10), // its child
            e(12, 1, 10, 10),  // reparented member of its group
            e(13, 11, 13, 13), // a grandchild in a session of its own (setsid)
            e(14, 13, 13, 13), // that one's child
            e(15, 1, 15, 10),  // a member of its session in another group
            e(20, 1, 20, 20),  // a stranger
        ]);
        let mut pids: Vec<u32> = table.tree(10).map(|p| p.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, [10, 11, 12, 13, 14, 15]);
        assert_eq!(table.tree(99).count(), 0);
    }

    #[test]
    fn an_entry_reads_its_fields_after_a_command_with_spaces() {
        let stat = "4123 (a ) b) S 7 4123 4100 0 -1 4194560 1 0 0 0 25 5 0 0 20 0 1 0 \
                    987654 1000 321 18446744073709551615 0 0";
        let p = parse_entry(4123, stat).expect("parses");
        assert_eq!((p.ppid, p.pgrp, p.session), (7, 4123, 4100));
        assert_eq!((p.cpu_ticks, p.rss_pages), (30, 321));
        assert_eq!(parse_entry(1, &stat.replace(") S", ") Z")), None);
    }

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
