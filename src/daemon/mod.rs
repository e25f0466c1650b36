//! The embedded face of proctor: start a daemon of your own from code, know when it is
//! ready, keep it alive, stop it when you are done.
//!
//! ```no_run
//! use std::time::Duration;
//! use proctor::{Daemon, Probe, RestartPolicy, Storage};
//!
//! # fn main() -> Result<(), proctor::Error> {
//! let daemon = Daemon::builder("cache")
//!     .command(["redis-server", "--port", "6400"])
//!     .ready(Probe::tcp("127.0.0.1:6400").with_interval(Duration::from_millis(50)))
//!     .restart(RestartPolicy::OnFailure)
//!     .storage(Storage::Sandboxed)
//!     .build()?;
//! daemon.start()?; // returns once the port answers
//! let answer = daemon.call_with_recovery(|| talk_to("127.0.0.1:6400"));
//! # let _ = answer;
//! // dropping `daemon` stops it (SIGTERM to its process group, SIGKILL after 10s)
//! # Ok(()) }
//! # fn talk_to(_: &str) -> std::io::Result<()> { Ok(()) }
//! ```
//!
//! # Theory of operation
//! A started [`Daemon`] runs a supervisor (`supervise::run`, the same code as
//! `proctor up`) for its one service and talks to it through the control socket in
//! [`Daemon::state_dir`], like the CLI does. Where that supervisor runs is a choice
//! ([`DaemonBuilder::supervisor`]):
//! - [`Supervisor::Thread`] (default): a **background thread with its own current-thread
//!   runtime**. Nothing else is needed, and the blocking API works the same inside and
//!   outside an async runtime (it never calls `block_on` on yours).
//! - [`Supervisor::Process`]: a process of its own, running an executable that calls
//!   [`serve_if_requested`] first thing in `main` (the `proctor` binary, or your own
//!   program via `std::env::current_exe()`). It watches a pipe from this process and stops
//!   the daemon when this process dies, however it dies, unless the daemon was detached.
//!
//! The `_async` methods run the same blocking steps on a helper thread and await the
//! answer, which works under any executor.
//!
//! Exactly once: the supervisor takes the daemon's lifecycle lock
//! (`STATE_DIR/locks/NAME.lock`) before spawning it. [`Daemon::start`] checks that lock
//! first and fails with [`Error::AlreadyRunning`] (naming the holder) when another live
//! process runs the daemon: a `proctor up` on the same state dir, or another program.
//! One state dir holds one supervisor, so two daemons need two state dirs.
//!
//! Lifetimes:
//! - dropping a started `Daemon` stops it (graceful signal, grace period, SIGKILL, whole
//!   process group), releases the lock, removes sandboxed storage, ends the supervisor;
//! - [`Daemon::detach`] gives up the handle and leaves the daemon supervised. The CLI sees
//!   it (`PROCTOR_HOME=STATE_DIR proctor status|lock|down`; `unlock` refuses while it
//!   lives) and `proctor down` stops it. With [`Supervisor::Process`] it stays supervised
//!   after this process exits. With [`Supervisor::Thread`] it is supervised only while this
//!   process lives: if the process exits first, the daemon keeps running unsupervised, its
//!   lock names a dead supervisor (`proctor lock` reports an orphan), and the next
//!   supervisor of that state dir stops it before starting afresh — it never runs twice.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::error::Error;
use crate::spec::Spec;
use crate::state::Paths;

mod builder;
mod inner;
mod process;
mod recovery;
mod render;
mod status;
mod thread;

pub use builder::DaemonBuilder;
pub use process::{launch_supervisor, serve_if_requested, Supervisor};
pub use recovery::RecoveryError;
pub use status::{DaemonStatus, Events};

use inner::Inner;

/// A daemon managed from code; see the [module docs](self) for how it works.
///
/// All methods take `&self` and serialize on an internal lock, so a `Daemon` can be shared
/// between threads (e.g. in an `Arc`). Blocking methods block the calling thread only.
pub struct Daemon {
    name: String,
    state_dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("name", &self.name)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Starts declaring a daemon called `name` (letters, digits, `_`, `.`, `-`).
    pub fn builder(name: impl Into<String>) -> DaemonBuilder {
        DaemonBuilder::new(name)
    }

    /// The daemon declared as `[service.NAME]` in the spec at `path`, with its settings
    /// unchanged. Use [`DaemonBuilder::from_spec`] to override some.
    pub fn from_spec(path: impl AsRef<Path>, name: &str) -> Result<Self, Error> {
        DaemonBuilder::from_spec(path, name)?.build()
    }

    pub(crate) fn new(name: String, spec: Spec, paths: Paths, supervisor: Supervisor) -> Self {
        Self {
            state_dir: paths.root.clone(),
            inner: Arc::new(Mutex::new(Inner::new(
                name.clone(),
                spec,
                paths,
                supervisor,
            ))),
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-updated in a way that matters: every
        // field is replaced whole, so carry on with the poisoned value.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The daemon's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its supervisor keeps the lifecycle lock, the control socket and the logs.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Starts the daemon and returns once it is ready. Idempotent: a no-op while this
    /// handle's supervisor runs (use [`ensure_running`](Self::ensure_running) to bring
    /// back a daemon that died or was stopped from outside).
    ///
    /// Fails with [`Error::AlreadyRunning`] when another live process holds its lock,
    /// [`Error::SpawnFailed`] when it cannot be started or gives up, and
    /// [`Error::ReadyTimeout`] when its readiness probe does not pass within the probe's
    /// deadline. A failed start leaves nothing running.
    pub fn start(&self) -> Result<(), Error> {
        self.lock().start()
    }

    /// Stops the daemon (graceful signal, then SIGKILL after its stop timeout, whole
    /// process group), releases its lock, cleans its storage, and ends the supervisor.
    /// Idempotent.
    pub fn stop(&self) -> Result<(), Error> {
        self.lock().stop()
    }

    /// [`stop`](Self::stop), giving the daemon `grace` (instead of its stop timeout)
    /// between the stop signal and SIGKILL. Idempotent.
    pub fn stop_within(&self, grace: Duration) -> Result<(), Error> {
        self.lock().stop_within(Some(grace))
    }

    /// Lets the daemon outlive this handle, still supervised: until this process exits
    /// with [`Supervisor::Thread`], for good with [`Supervisor::Process`] (see the
    /// [module docs](self)). Stop it with `PROCTOR_HOME=STATE_DIR proctor down`.
    pub fn detach(self) {
        self.lock().detach();
    }

    /// Takes charge of this daemon when a supervisor already runs it in
    /// [`state_dir`](Self::state_dir): one that an earlier [`detach`](Self::detach) left
    /// behind (perhaps by a previous run of this program), or a `proctor up -d`. From then
    /// on this handle manages it as if it had started it: dropping it stops that supervisor
    /// and everything it runs.
    /// [`Error::NotStarted`] when no supervisor there runs it. A no-op once started.
    pub fn attach(&self) -> Result<(), Error> {
        self.lock().attach()
    }

    /// The daemon's current state; [`crate::State::Stopped`] when not started.
    pub fn status(&self) -> Result<DaemonStatus, Error> {
        self.lock().status()
    }

    /// Whether its process is up (starting or running). False on any error.
    pub fn is_running(&self) -> bool {
        self.status().is_ok_and(|s| s.is_running())
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.status().ok().and_then(|s| s.pid)
    }

    /// Makes sure the daemon runs and is ready: starts it if never started or stopped,
    /// restarts it if it died or is failing its liveness probe, waits while it starts.
    pub fn ensure_running(&self) -> Result<(), Error> {
        self.lock().ensure_running()
    }

    /// State changes from now on (starting, running = ready, backoff, exited, failed,
    /// stopping, stopped). Needs a started daemon.
    pub fn events(&self) -> Result<Events, Error> {
        self.lock().events()
    }

    /// Calls `f` with each state change from now on, on a thread of its own, until the
    /// supervisor stops. Needs a started daemon.
    pub fn on_event(&self, mut f: impl FnMut(crate::Event) + Send + 'static) -> Result<(), Error> {
        let events = self.events()?;
        std::thread::Builder::new()
            .name(format!("proctor-{}-events", self.name))
            .spawn(move || events.for_each(&mut f))
            .map_err(|e| Error::io("cannot start the event thread", e))?;
        Ok(())
    }

    /// Runs `f`, a call to the daemon. If it fails, checks the daemon: if it died, is
    /// failing its liveness probe, or was restarted since last seen healthy, brings it back
    /// (restart, wait until ready) and runs `f` once more. If the daemon is healthy the
    /// failure is not its doing: `f`'s error is returned without a retry.
    pub fn call_with_recovery<T, E>(
        &self,
        mut f: impl FnMut() -> Result<T, E>,
    ) -> Result<T, RecoveryError<E>> {
        let first = match f() {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        // The lock is not held while `f` runs, so `f` may use the daemon itself.
        match self.lock().recover() {
            Ok(true) => f().map_err(RecoveryError::Call),
            Ok(false) => Err(RecoveryError::Call(first)),
            Err(error) => Err(RecoveryError::Recover { first, error }),
        }
    }

    /// [`call_with_recovery`](Self::call_with_recovery) for async calls: `f` returns a
    /// future. The recovery steps run on a helper thread, so no executor thread blocks.
    pub async fn call_with_recovery_async<T, E, F, Fut>(
        &self,
        mut f: F,
    ) -> Result<T, RecoveryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let first = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match self.off_thread(Inner::recover).await {
            Ok(true) => f().await.map_err(RecoveryError::Call),
            Ok(false) => Err(RecoveryError::Call(first)),
            Err(error) => Err(RecoveryError::Recover { first, error }),
        }
    }

    /// [`start`](Self::start) without blocking an executor thread.
    pub async fn start_async(&self) -> Result<(), Error> {
        self.off_thread(Inner::start).await
    }

    /// [`stop`](Self::stop) without blocking an executor thread.
    pub async fn stop_async(&self) -> Result<(), Error> {
        self.off_thread(Inner::stop).await
    }

    /// [`ensure_running`](Self::ensure_running) without blocking an executor thread.
    pub async fn ensure_running_async(&self) -> Result<(), Error> {
        self.off_thread(Inner::ensure_running).await
    }

    /// [`status`](Self::status) without blocking an executor thread.
    pub async fn status_async(&self) -> Result<DaemonStatus, Error> {
        self.off_thread(Inner::status).await
    }

    /// Runs `op` on a helper thread and awaits its result; any executor can await it.
    async fn off_thread<T: Send + 'static>(
        &self,
        op: fn(&mut Inner) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = self.inner.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("proctor-{}-op", self.name))
            .spawn(move || {
                let mut guard = inner.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = tx.send(op(&mut guard));
            })
            .map_err(|e| Error::io("cannot start a helper thread", e))?;
        rx.await.unwrap_or_else(|_| {
            Err(Error::io(
                "the helper thread",
                std::io::Error::other("it panicked"),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Daemon>();
        shareable::<Error>();
    }

    #[test]
    fn builder_errors_are_all_reported_at_once() {
        let err = Daemon::builder("-bad")
            .live(crate::Probe::log("x"))
            .ready(crate::Probe::tcp("no-port"))
            .build();
        match err {
            Err(Error::Spec(errs)) => {
                let text = errs.to_string();
                for want in [
                    "must not start",
                    "no command",
                    "host:port",
                    "readiness only",
                ] {
                    assert!(text.contains(want), "{want:?} missing from:\n{text}");
                }
            }
            other => panic!("expected spec errors, got {other:?}"),
        }
    }
}
