//! An async pidfd: readable once the process has exited.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::child::{pidfd_open, reap, try_reap, Ended};

/// A pidfd registered with the tokio reactor.
#[derive(Debug)]
pub struct AsyncPidFd(AsyncFd<OwnedFd>);

impl std::os::fd::AsFd for AsyncPidFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

impl AsyncPidFd {
    /// Opens and registers a pidfd for our child `pid`. Must run inside a tokio runtime.
    pub fn open(pid: u32) -> io::Result<Self> {
        let fd = pidfd_open(pid)?;
        // SAFETY: `fd` is a freshly opened, owned pidfd; the AsyncFd owns it from here on,
        // so it is neither closed nor replaced while registered.
        #[allow(unsafe_code)]
        let afd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Self(afd))
    }

    /// Registers `fd`, a pidfd for our child. Must run inside a tokio runtime.
    pub fn from_owned(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: as in `open`: an owned pidfd, owned by the AsyncFd from here on.
        #[allow(unsafe_code)]
        let afd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Self(afd))
    }

    /// Resolves once the process has exited (it is then a zombie until [`Self::reap`]).
    pub async fn exited(&self) -> io::Result<()> {
        let _guard = self.0.readable().await?;
        Ok(())
    }

    /// Whether the process has exited already (without waiting).
    pub fn has_exited(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(self.0.get_ref(), PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
    }

    /// Reaps the process without blocking the runtime: at once when it is already a zombie
    /// (the usual case), else on the blocking pool. A pidfd can turn readable a moment
    /// before the kernel lets the parent reap, and a blocking wait here would stall every
    /// other service on the supervisor thread.
    pub async fn reap_async(self) -> io::Result<Option<Ended>> {
        let fd = self.0.into_inner();
        if let Some(ended) = try_reap(&fd)? {
            return Ok(ended);
        }
        tokio::task::spawn_blocking(move || reap(&fd))
            .await
            .map_err(io::Error::other)?
    }
}

/// Resolves when the process behind `fd` exits; never when there is none (for `select!`
/// arms that watch a process only once there is one).
pub async fn exited_of(fd: Option<&AsyncPidFd>) -> io::Result<()> {
    match fd {
        Some(fd) => fd.exited().await,
        None => std::future::pending().await,
    }
}
