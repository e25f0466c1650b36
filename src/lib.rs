//! proctor: a daemon lifecycle manager.
//!
//! Declare services in `proctor.toml`, start each once and only once, prove it is ready,
//! keep it alive through crashes, capture its logs, stop it cleanly.
//!
//! # Layout
//! Modules follow the life of a service: [`spec`] → [`lock`] → [`sys`] → [`backend`] →
//! [`supervise`] → [`logs`] → [`control`] → [`install`], with [`state`] for where files live.

pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod control;
pub mod install;
pub mod lock;
pub mod logs;
pub mod probe;
pub mod spec;
pub mod state;
pub mod supervise;
pub mod sys;
pub mod util;
