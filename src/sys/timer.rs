//! A timer finer than tokio's, whose wheel ticks in whole milliseconds: a `timerfd` that
//! wakes the loop at the microsecond asked. For the first readiness attempts of a starting
//! service, where a millisecond of rounding was most of the time to see it ready.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

/// A one-shot timer on the monotonic clock, reusable for one sleep after another.
#[derive(Debug)]
pub struct FineTimer(AsyncFd<OwnedFd>);

impl FineTimer {
    /// A new timer, registered with the loop. Must run inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: a freshly made, owned timerfd, owned by the AsyncFd from here on, so it is
        // neither closed nor replaced while registered.
        #[allow(unsafe_code)]
        let afd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Self(afd))
    }

    /// Waits until `deadline`, to the microsecond.
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let value = Itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: timespec(left),
        };
        timerfd_settime(self.0.get_ref(), TimerfdTimerFlags::empty(), &value)?;
        let mut expirations = [0u8; 8];
        loop {
            let mut guard = self.0.readable().await?;
            match rustix::io::read(self.0.get_ref(), &mut expirations) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point of it: a 200 µs sleep can end before the next millisecond (tokio rounds a
    /// sleep up to whole milliseconds, so its fastest would be 1 ms), and never ends early.
    #[tokio::test]
    async fn sleeps_to_the_microsecond_not_the_millisecond() {
        let timer = FineTimer::new().expect("timerfd");
        let mut took = Vec::new();
        for _ in 0..20 {
            let t0 = Instant::now();
            timer
                .sleep_until(t0 + Duration::from_micros(200))
                .await
                .expect("sleep");
            took.push(t0.elapsed());
        }
        took.sort();
        assert!(took[0] >= Duration::from_micros(200), "{took:?}");
        assert!(
            took[0] < Duration::from_micros(900),
            "fastest {:?}",
            took[0]
        );
    }
}
