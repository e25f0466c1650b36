//! cgroup v2: one leaf per service, so every process a service starts stays countable and
//! killable, however it forks, double-forks or calls `setsid`.
//!
//! The hierarchy is found from `/proc/self/mountinfo` (the `cgroup2` mount, which may be
//! `/sys/fs/cgroup` or `/sys/fs/cgroup/unified` on a hybrid host) and our place in it from
//! `/proc/self/cgroup` (`0::/path`), never from a fixed path.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// The cgroup2 mount point, from `/proc/self/mountinfo`.
pub fn mount_point() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        // `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS… - FSTYPE SOURCE SUPER`
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(unescape)
    })
}

/// mountinfo escapes spaces and the like as `\040`.
fn unescape(s: &str) -> PathBuf {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&out),
    ))
}

/// This process's cgroup directory in the cgroup2 hierarchy.
pub fn own_cgroup() -> Option<PathBuf> {
    let mount = mount_point()?;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(rel.trim_start_matches('/')))
}

/// Moves process `pid` (0: this one) into the cgroup `dir`.
pub fn move_into(dir: &Path, pid: u32) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.procs"), format!("{pid}\n"))
}

/// Creates the cgroup `dir` if it does not exist; `true` if it made it.
pub fn create(dir: &Path) -> io::Result<bool> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        r => r.map(|()| true),
    }
}

/// Removes the (empty) cgroup `dir`; a cgroup is removed with `rmdir`, its files with it.
pub fn remove(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    if let Some(set) = killed().as_mut() {
        set.remove(dir);
    }
    Ok(())
}

/// Cgroups this process wrote `cgroup.kill` into. The kernel (seen on 6.18) kills at birth
/// a child cloned into a cgroup whose kill count differs from that of the parent's own
/// cgroup, so once killed a leaf takes no `CLONE_INTO_CGROUP` child until it is made anew.
static KILLED: std::sync::Mutex<Option<std::collections::HashSet<PathBuf>>> =
    std::sync::Mutex::new(None);

fn killed() -> std::sync::MutexGuard<'static, Option<std::collections::HashSet<PathBuf>>> {
    KILLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether this process ever wrote `cgroup.kill` of `dir` (since it was last made).
pub fn was_killed(dir: &Path) -> bool {
    killed().as_ref().is_some_and(|s| s.contains(dir))
}

/// Whether the cgroup `dir` still holds a process (`cgroup.events`: `populated 1`).
pub fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|t| t.lines().any(|l| l.trim() == "populated 1"))
        .unwrap_or(false)
}

/// SIGKILLs every process in the cgroup `dir` at once (`cgroup.kill`, Linux 5.14+); falls
/// back to signalling each listed pid.
pub fn kill_all(dir: &Path) -> io::Result<()> {
    match std::fs::write(dir.join("cgroup.kill"), "1") {
        Ok(()) => {
            killed()
                .get_or_insert_with(Default::default)
                .insert(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            signal_all(dir, rustix::process::Signal::KILL)
        }
        Err(e) => Err(e),
    }
}

/// Sends `sig` to every process listed in the cgroup `dir`. A pid listed there is a live
/// member (the kernel lists no zombie), so the signal reaches no stranger. `Err` when the
/// list cannot be read (out of descriptors, the cgroup gone): nothing was sent.
pub fn signal_all(dir: &Path, sig: rustix::process::Signal) -> io::Result<()> {
    let listed = std::fs::read_to_string(dir.join("cgroup.procs"))?;
    for pid in listed.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(p, sig);
        }
    }
    Ok(())
}

/// The controllers the cgroup `dir` may use (`cgroup.controllers`).
pub fn controllers(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Hands `controller` down to the children of `dir` (`+name` in `cgroup.subtree_control`).
pub fn enable(dir: &Path, controller: &str) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}"))
}

/// Writes `value` into the interface file `file` of the cgroup `dir` (e.g. `memory.max`).
pub fn set(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    std::fs::write(dir.join(file), value)
}

/// `cgroup.procs` of `dir`, opened for writing: a child that writes `0` into it moves
/// itself there.
pub fn open_procs(dir: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        dir.join("cgroup.procs"),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `cgroup.events` of `dir`, opened for reading: it turns "priority-readable" whenever the
/// cgroup's populated state changes, which [`crate::sys::cgroup::EventsFd`] waits for.
pub fn open_events(dir: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        dir.join("cgroup.events"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// A `cgroup.events` file registered with the runtime: resolves when the cgroup's state
/// changes.
#[derive(Debug)]
pub struct EventsFd(tokio::io::unix::AsyncFd<OwnedFd>);

impl EventsFd {
    /// Registers `fd` (from [`open_events`]). Must run inside a tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: `fd` is freshly opened and owned; the AsyncFd owns it from here on, so it
        // is neither closed nor replaced while registered.
        #[allow(unsafe_code)]
        let afd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                fd,
                tokio::io::Interest::PRIORITY | tokio::io::Interest::ERROR,
            )
        }?;
        Ok(Self(afd))
    }

    /// Resolves once the cgroup holds no process any more.
    pub async fn emptied(&self, dir: &Path) -> io::Result<()> {
        loop {
            if !populated(dir) {
                return Ok(());
            }
            let mut guard = self
                .0
                .ready(tokio::io::Interest::PRIORITY | tokio::io::Interest::ERROR)
                .await?;
            // kernfs reports a change once; re-read, then wait for the next one.
            guard.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape("/sys/fs/cgroup"), PathBuf::from("/sys/fs/cgroup"));
    }
}
