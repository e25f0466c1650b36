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
