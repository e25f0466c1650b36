//! What a child does between fork and exec: enter its cgroup, set its limits, nice value and
//! umask, and become its user. One `pre_exec` for all of it, installed only when a service
//! needs one (it costs a fork instead of posix_spawn's vfork).

use std::os::fd::RawFd;
use std::process::Command;

use rustix::process::Resource;

/// What to set in the child before it execs.
#[derive(Debug, Default, Clone)]
pub struct ExecSetup {
    /// `cgroup.procs` of the service's cgroup, open in the parent during the spawn.
    pub cgroup_procs: Option<RawFd>,
    /// Resource limits: (resource, soft, hard); `None` is unlimited.
    pub rlimits: Vec<(Resource, Option<u64>, Option<u64>)>,
    /// Nice value.
    pub nice: Option<i32>,
    /// File mode creation mask.
    pub umask: Option<u32>,
    /// (uid, gid, supplementary gids) to become, last of all.
    pub ids: Option<(u32, u32, Vec<rustix::process::Gid>)>,
}

impl ExecSetup {
    /// Whether there is nothing to do (the spawn can stay a vfork).
    pub fn is_empty(&self) -> bool {
        self.cgroup_procs.is_none()
            && self.rlimits.is_empty()
            && self.nice.is_none()
            && self.umask.is_none()
            && self.ids.is_none()
    }
}

/// The `Resource` named `name` in `rlimits`.
pub fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "cpu" => Resource::Cpu,
        "fsize" => Resource::Fsize,
        "data" => Resource::Data,
        "stack" => Resource::Stack,
        "core" => Resource::Core,
        "rss" => Resource::Rss,
        "nproc" => Resource::Nproc,
        "nofile" => Resource::Nofile,
        "memlock" => Resource::Memlock,
        "as" => Resource::As,
        "locks" => Resource::Locks,
        "sigpending" => Resource::Sigpending,
        "msgqueue" => Resource::Msgqueue,
        "nice" => Resource::Nice,
        "rtprio" => Resource::Rtprio,
        "rttime" => Resource::Rttime,
        _ => return None,
    })
}

/// `setup` with the open-file limit a supervisor that raised its own gives the child back
/// (the original), unless `setup` sets `nofile` itself.
pub fn with_child_nofile(mut setup: ExecSetup) -> ExecSetup {
    if let Some((soft, hard)) = super::limits::child_nofile() {
        if !setup.rlimits.iter().any(|(r, _, _)| *r == Resource::Nofile) {
            setup.rlimits.push((Resource::Nofile, soft, hard));
        }
    }
    setup
}

/// Applies `setup` to the calling process, except its cgroup: limits, nice value, umask,
/// then the user. Async-signal-safe (raw system calls, no allocation), for a child between
/// fork and exec.
pub fn apply(setup: &ExecSetup) -> std::io::Result<()> {
    // Limits first: raising a hard limit needs the privileges dropped below.
    for &(res, soft, hard) in &setup.rlimits {
        rustix::process::setrlimit(
            res,
            rustix::process::Rlimit {
                current: soft,
                maximum: hard,
            },
        )?;
    }
    if let Some(n) = setup.nice {
        rustix::process::setpriority_process(None, n)?;
    }
    if let Some(m) = setup.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(m));
    }
    if let Some((uid, gid, groups)) = &setup.ids {
        // The child has one thread, so the thread-level calls are the process's.
        rustix::thread::set_thread_groups(groups)?;
        let gid = rustix::process::Gid::from_raw(*gid);
        rustix::thread::set_thread_res_gid(gid, gid, gid)?;
        let uid = rustix::process::Uid::from_raw(*uid);
        rustix::thread::set_thread_res_uid(uid, uid, uid)?;
    }
    Ok(())
}

/// Installs `setup` on `cmd` (nothing when it is empty), with [`with_child_nofile`].
pub fn install(cmd: &mut Command, setup: ExecSetup) {
    use std::os::unix::process::CommandExt;
    let setup = with_child_nofile(setup);
    if setup.is_empty() {
        return;
    }
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes raw system calls through rustix on data
    // moved in beforehand, and allocates nothing. The cgroup descriptor stays open in the
    // parent for the duration of the spawn.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = setup.cgroup_procs {
                let fd = rustix::fd::BorrowedFd::borrow_raw(fd);
                rustix::io::write(fd, b"0")?;
            }
            apply(&setup)
        });
    }
}

/// The uid and primary gid of `user` (a name from `/etc/passwd`, or a number).
pub fn lookup_user(user: &str) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && (f[0] == user || f[2] == user) {
            if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                return Ok((uid, gid));
            }
        }
    }
    match user.parse::<u32>() {
        Ok(uid) => Ok((uid, uid)),
        Err(_) => Err(format!("no user {user:?} in /etc/passwd")),
    }
}

/// The gid of `group` (a name from `/etc/group`, or a number).
pub fn lookup_group(group: &str) -> Result<u32, String> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    for line in groups.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && (f[0] == group || f[2] == group) {
            if let Ok(gid) = f[2].parse() {
                return Ok(gid);
            }
        }
    }
    group
        .parse()
        .map_err(|_| format!("no group {group:?} in /etc/group"))
}
