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
//! # Layout
//! Modules follow the life of a service: [`spec`] → [`lock`] → [`sys`] → [`backend`] →
//! [`supervise`] → [`probe`] → [`logs`] → [`control`] → [`install`] → [`daemon`], with
//! [`state`] for where files live and [`error`] for the library's [`Error`].

#![deny(missing_docs)]

pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod control;
pub mod daemon;
pub mod error;
pub mod install;
pub(crate) mod launch;
pub mod lock;
pub mod logs;
pub mod probe;
pub mod spec;
pub mod state;
pub mod supervise;
pub mod sys;
pub mod util;

pub use control::proto::Event;
pub use control::proto::State;
pub use daemon::{Daemon, DaemonBuilder, DaemonStatus, Events, RecoveryError};
pub use error::Error;
pub use spec::{Probe, RestartPolicy, Storage};
