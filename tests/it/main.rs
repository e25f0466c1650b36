//! Integration tests: real processes, signals and sockets under a temp `PROCTOR_HOME`.
//! Tests wait on events and replies with deadlines; none sleeps and hopes.

mod support;

mod backends;
mod cli;
mod contain;
mod control;
mod core;
mod daemon;
mod export;
mod export_podman;
mod harden;
mod import;
mod init;
mod install;
mod install_cli;
mod interpolate;
mod lifecycle;
mod locks;
mod logs;
mod metrics;
mod operate;
mod probes;
mod props;
mod python;
mod reload;
mod replicas;
mod roles;
mod schedule;
mod signal;
mod spec_on_disk;
mod supervisor_signals;
mod top;
mod watch;
