//! Descriptors handed to us by a parent process.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// Takes ownership of descriptor `raw`, which our parent passed for us alone; `None` if it
/// is not an open descriptor above stdio. Close-on-exec is set on it so it does not leak
/// into the processes we spawn.
pub fn take_inherited(raw: i32) -> Option<OwnedFd> {
    if raw < 3 || !Path::new(&format!("/proc/self/fd/{raw}")).exists() {
        return None;
    }
    // SAFETY: the descriptor is open (checked above), our parent opened it for us alone,
    // and callers take it once, so nothing else in this process owns or closes it.
    #[allow(unsafe_code)]
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let _ = super::child::set_inheritable(&fd, false);
    Some(fd)
}

/// Waits until `fd` is readable (data, end of file or an error to read) or `limit`
/// passes; returns whether it became readable.
pub fn wait_readable(fd: &impl std::os::fd::AsFd, limit: std::time::Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let ts = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        });
        match poll(&mut fds, Some(&ts)) {
            Err(rustix::io::Errno::INTR) => continue,
            Ok(n) => return n > 0,
            Err(_) => return false,
        }
    }
}
