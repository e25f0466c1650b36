//! The control socket: the CLI, the library and scripts all talk to a supervisor through it.
//!
//! A unix socket `control.sock` in the project state directory (0600 in a 0700 directory,
//! peer uid checked), speaking the newline-delimited JSON of [`proto`]. [`Client`] is the
//! blocking client the CLI uses (no runtime needed); `server` is the supervisor's side.

mod client;
pub mod proto;
pub(crate) mod server;

pub use client::{Client, ControlError};
