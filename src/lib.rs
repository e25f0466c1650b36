//! proctor: a daemon lifecycle manager.
//!
//! Declare services in `proctor.toml`, start each once and only once, prove it is ready,
//! keep it alive through crashes, capture its logs, stop it cleanly. The `proctor` command
//! does that for projects; [`Daemon`] does it for a program that ships a daemon of its own.
//!
//! # A tour
//! ```
//! use std::time::Duration;
//! use proctor::{Daemon, Probe, State, Storage};
//!
//! # fn main() -> Result<(), proctor::Error> {
//! let home = tempfile::tempdir().expect("temp dir"); // where locks and logs go
//! let daemon = Daemon::builder("worker")
//!     .command(["sh", "-c", "echo up and running; exec sleep 1000"])
//!     .ready(Probe::log("up and running").with_interval(Duration::from_millis(20)))
//!     .storage(Storage::Sandboxed) // a fresh PROCTOR_STATE_DIR, removed on stop
//!     .lock_dir(home.path())
//!     .build()?;
//! daemon.start()?; // spawned, supervised, and ready: its log line was seen
//! daemon.start()?; // idempotent
//! let status = daemon.status()?;
//! assert_eq!(status.state, State::Running);
//! assert!(status.ready && status.pid.is_some());
//! let answer = daemon.call_with_recovery(|| Ok::<_, std::io::Error>("talked to it"));
//! assert_eq!(answer.ok(), Some("talked to it"));
//! daemon.stop()?; // SIGTERM to its process group; dropping the handle does the same
//! assert!(!daemon.is_running());
//! # Ok(()) }
//! ```
//!
//! # The library's surface
//! - [`Daemon`] ([`DaemonBuilder`], [`DaemonStatus`], [`Events`]): one daemon embedded in
//!   your program, from start to stop, with recovery.
//! - [`spec`]: the types of `proctor.toml` ([`spec::Spec`], [`spec::Service`], probes,
//!   policies), as parsed and validated.
//! - [`lock`]: the lifecycle lock ([`lock::Lock`]) that makes a start happen once only.
//! - [`control`]: the blocking [`control::Client`] of a running supervisor and its wire
//!   protocol ([`control::proto`]).
//! - [`session`]: which backend holds a name, and the command that attaches to it.
//! - [`install`]: boot units (systemd, launchd, Windows) rendered and installed.
//! - [`export`]: a project rendered for Kubernetes, compose or systemd.
//! - [`logs`]: reading the records of a service's log file.
//! - `import` (feature `import`, on with `cli`): a `proctor.toml` from a compose file, a
//!   Procfile, a supervisord `.conf`, a pm2 ecosystem file or an `ops.sessions` YAML file.
//! - [`Error`] and each module's own error type.
//!
//! Everything else is the supervisor's machinery and stays inside the crate.
//!
//! # Layout
//! Modules follow the life of a service: `spec` → `lock` → `sys` → `backend` →
//! `supervise` → `probe` → `logs` → `control` → `install` → `daemon` → `cli`, with `state`
//! for where files live, `launch` for starting a supervisor in the background, and `error`
//! for the library's [`Error`].
//!
//! # Layering
//! Each layer uses only the ones below it; nothing below `supervise` knows it exists:
//! - `sys` (all `unsafe`), `util`, then `spec` and `lock`;
//! - `probe`, `logs`, `backend` (runs a process, a tmux session or a container, and carries
//!   out orders: it has no policy and no timer), and `control` (the wire protocol, which
//!   imports nothing else of the crate, its blocking client, and the connection server);
//! - `supervise`: the pure machine that owns every rule of a service's life, and the
//!   event loop that feeds it and carries out its actions;
//! - `launch`, `daemon`, `install` and `cli` on top.
//!
#![deny(missing_docs)]
// Built without the CLI, the library keeps helpers only the CLI calls (attach commands,
// backend detection, log tails); they are not dead, just unused in that build.
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

pub(crate) mod backend;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod control;
pub mod daemon;
pub mod error;
pub mod export;
#[cfg(feature = "import")]
pub mod import;
pub mod install;
pub(crate) mod launch;
pub mod lock;
pub mod logs;
pub(crate) mod probe;
pub mod session;
pub mod spec;
pub(crate) mod state;
pub(crate) mod supervise;
pub(crate) mod sys;
pub(crate) mod util;

pub use control::proto::Event;
pub use control::proto::State;
pub use daemon::{Daemon, DaemonBuilder, DaemonStatus, Events, RecoveryError};
pub use error::Error;
pub use spec::{Probe, RestartPolicy, Storage};
