//! Child-process primitives: pidfds, reaping, and group signals.
//!
//! A child is watched through its pidfd and reaped only after its process group has been
//! signalled, so its pid (and with it the group id) cannot be reused while we still aim
//! signals at it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

/// How a process ended, as reported by `waitid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It called exit with this code.
    Code(i32),
    /// A signal with this number killed it.
    Signal(i32),
}

fn pid_of(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid pid {pid}")))
}

/// Opens a pidfd for our child `pid`; it becomes readable when the child exits.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_open(
        pid_of(pid)?,
        PidfdFlags::empty(),
    )?)
}

/// Reaps the child behind `pidfd`, blocking until it exits; call it once the pidfd is
/// readable. `None` only if the kernel reports no status.
pub fn reap(pidfd: &impl AsFd) -> io::Result<Option<Ended>> {
    let status = rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED)?;
    Ok(status.and_then(|s| {
        if let Some(sig) = s.terminating_signal() {
            Some(Ended::Signal(sig))
        } else {
            s.exit_status().map(Ended::Code)
        }
    }))
}

/// Reaps the child behind `pidfd` if it has exited; `Ok(None)` if it has not (yet).
pub fn try_reap(pidfd: &impl AsFd) -> io::Result<Option<Option<Ended>>> {
    let status = rustix::process::waitid(
        WaitId::PidFd(pidfd.as_fd()),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    )?;
    // With NOHANG, no status means the child has not exited yet.
    Ok(status.map(|s| {
        if let Some(sig) = s.terminating_signal() {
            Some(Ended::Signal(sig))
        } else {
            s.exit_status().map(Ended::Code)
        }
    }))
}

/// Sends `sig` to the process group `pgid`; returns false if the group is already empty.
///
/// Groups 0 and 1 and the caller's own group are refused (`PermissionDenied`) whoever asks:
/// to the kernel group 0 means the caller's group, and group 1 holds init; no service ever
/// runs in any of them (each gets a group of its own), so a request for one can only come
/// from a corrupted or forged record, and obeying it would stop proctor or the machine.
pub fn kill_group(pgid: u32, sig: Signal) -> io::Result<bool> {
    if !signallable_group(pgid) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to signal process group {pgid}: it is never a service's"),
        ));
    }
    match rustix::process::kill_process_group(pid_of(pgid)?, sig) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether group `pgid` may be signalled at all: not 0, not 1, not our own.
pub fn signallable_group(pgid: u32) -> bool {
    pgid > 1 && pgid != super::proc::current_pgid()
}

/// Sends `sig` to the single process `pid`; returns false if it no longer exists.
pub fn signal_process(pid: u32, sig: Signal) -> io::Result<bool> {
    match rustix::process::kill_process(pid_of(pid)?, sig) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Waits until `pidfd` is readable, i.e. its process exited, or `limit` passes; returns
/// whether it exited.
pub fn wait_exited(pidfd: &impl AsFd, limit: std::time::Duration) -> bool {
    super::fd::wait_readable(pidfd, limit)
}

/// Detaches this process from its controlling terminal into a session of its own.
pub fn detach_session() -> io::Result<()> {
    rustix::process::setsid()?;
    Ok(())
}

/// Clears close-on-exec on `fd` so a child we spawn inherits it.
pub fn set_inheritable(fd: &impl AsFd, inheritable: bool) -> io::Result<()> {
    let flags = if inheritable {
        rustix::io::FdFlags::empty()
    } else {
        rustix::io::FdFlags::CLOEXEC
    };
    rustix::io::fcntl_setfd(fd, flags)?;
    Ok(())
}

/// The conventional name of signal `n` (`"TERM"` for 15), or its number.
pub fn signal_name(n: i32) -> String {
    const NAMES: &[(Signal, &str)] = &[
        (Signal::HUP, "HUP"),
        (Signal::INT, "INT"),
        (Signal::QUIT, "QUIT"),
        (Signal::ILL, "ILL"),
        (Signal::TRAP, "TRAP"),
        (Signal::ABORT, "ABRT"),
        (Signal::BUS, "BUS"),
        (Signal::FPE, "FPE"),
        (Signal::KILL, "KILL"),
        (Signal::USR1, "USR1"),
        (Signal::SEGV, "SEGV"),
        (Signal::USR2, "USR2"),
        (Signal::PIPE, "PIPE"),
        (Signal::ALARM, "ALRM"),
        (Signal::TERM, "TERM"),
        (Signal::CHILD, "CHLD"),
        (Signal::CONT, "CONT"),
        (Signal::STOP, "STOP"),
        (Signal::TSTP, "TSTP"),
        (Signal::WINCH, "WINCH"),
        (Signal::XCPU, "XCPU"),
        (Signal::XFSZ, "XFSZ"),
        (Signal::SYS, "SYS"),
    ];
    NAMES
        .iter()
        .find(|(s, _)| s.as_raw() == n)
        .map_or_else(|| n.to_string(), |(_, name)| (*name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGCONT harms nothing if the guard ever fails; the point is that nothing is sent.
    #[test]
    fn groups_zero_one_and_our_own_are_refused() {
        let own = super::super::proc::current_pgid();
        for pgid in [0, 1, own] {
            let err = kill_group(pgid, Signal::CONT).expect_err("refused");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "group {pgid}");
        }
    }
}
