//! Thin wrappers over the OS: process identity, signals, pidfds.
//!
//! This is the only module allowed `unsafe`; prefer rustix, which is safe, and put a
//! `// SAFETY:` comment on any block that cannot avoid it.

pub mod cgroup;
pub mod child;
pub mod children;
pub mod clone_into;
pub mod exec;
pub mod fd;
pub mod fs;
pub mod limits;
pub mod pidfd;
pub mod proc;
pub mod timer;
