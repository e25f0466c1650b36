//! The supervisor thread: a current-thread runtime running [`supervise::run`] for one
//! daemon, and how to start it, wait until it listens, and stop it.

use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::control::proto::Ready;
use crate::error::Error;
use crate::supervise::{self, Options, SuperviseError};

/// A running supervisor thread.
pub(super) struct SupervisorThread {
    thread: Option<JoinHandle<Result<(), SuperviseError>>>,
    /// Resolves the supervisor's shutdown future; dropping it unsent means "never", which is
    /// what a detached daemon needs.
    shutdown: Option<oneshot::Sender<()>>,
}

impl SupervisorThread {
    /// Starts a supervisor for `opts` on a thread of its own and returns once it listens on
    /// its control socket (or has failed to start).
    pub(super) fn spawn(name: &str, mut opts: Options) -> Result<Self, Error> {
        let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::io("cannot create the supervisor's readiness pipe", e.into()))?;
        opts.ready_fd = Some(wr);
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("proctor-{name}"))
            .spawn(move || run(opts, rx))
            .map_err(|e| Error::io("cannot start the supervisor thread", e))?;
        let mut me = Self {
            thread: Some(thread),
            shutdown: Some(tx),
        };
        // The supervisor reports once it listens, or why it could not; the write end
        // closes with it either way, so this read cannot hang on a dead thread.
        let report = crate::launch::read_report(rd, None).ok().flatten();
        if let Some(Ready::Listening { .. }) = report {
            return Ok(me);
        }
        // It failed: its own error says best why.
        me.shutdown();
        match me.join() {
            Err(e) => Err(e),
            Ok(()) => Err(Error::io(
                "the supervisor thread ended during start-up",
                std::io::Error::other(match report {
                    Some(Ready::Failed { error }) => error,
                    _ => "without a report".into(),
                }),
            )),
        }
    }

    /// Whether the thread still runs (a `proctor down` from outside may have ended it).
    pub(super) fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Asks the supervisor to stop every service and exit (a no-op if it already exited).
    pub(super) fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the thread to end and returns how the supervisor ended.
    pub(super) fn join(&mut self) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        match thread.join() {
            Ok(r) => r.map_err(Error::from),
            Err(_) => Err(Error::io(
                "the supervisor thread",
                std::io::Error::other("it panicked"),
            )),
        }
    }

    /// Lets the thread run on with no handle: it supervises for as long as the process
    /// lives, and only a `down` request over the control socket stops it.
    pub(super) fn detach(mut self) {
        self.thread.take();
        // Dropped unsent: the shutdown future then never resolves.
        self.shutdown.take();
    }
}

/// The thread's body: its own runtime, so the blocking API works inside and outside any
/// runtime of the caller's.
fn run(opts: Options, shutdown: oneshot::Receiver<()>) -> Result<(), SuperviseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SuperviseError::Io {
            path: opts.paths.root.clone(),
            source,
        })?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let shutdown = async move {
            if shutdown.await.is_err() {
                // The handle let go without asking (detached): run until a `down` request.
                std::future::pending::<()>().await;
            }
        };
        supervise::run(opts, shutdown).await
    })
}
