//! One file per verb.

use std::process::ExitCode;

use anyhow::Result;

use super::args::{Cli, Cmd};
use super::Printer;

mod attach;
mod complete;
mod control;
pub(crate) mod export;
mod import;
mod init;
mod install;
mod lock;
mod logs;
mod reload;
mod run;
mod starter;
mod status;
mod supervise;
mod up;
mod validate;

pub(crate) use complete::{answer_shell, service_names};
pub(crate) use status::{human_bytes, short_duration};

/// Runs the chosen verb.
pub(crate) fn dispatch(cli: Cli, p: &Printer) -> Result<ExitCode> {
    let file = cli.file.as_deref().or(cli.file_short.as_deref());
    match cli.command {
        Cmd::Up(a) => up::run(file, a, p),
        Cmd::Down(a) => control::down(file, a, p),
        Cmd::Start(a) => control::start(file, a, p),
        Cmd::Stop(a) => control::stop(file, a, p),
        Cmd::Restart(a) => control::restart(file, a, p),
        Cmd::Wait(a) => control::wait(file, a, p),
        Cmd::Status(a) => status::run(file, a, p),
        Cmd::Logs(a) => logs::run(file, a, p),
        Cmd::Lock(a) => lock::list(file, a, p),
        Cmd::Unlock(a) => lock::unlock(file, a, p),
        Cmd::Attach(a) => attach::run(file, &a),
        Cmd::Run(a) => run::run(file, a, p),
        Cmd::Rm(a) => run::rm(file, &a, p),
        Cmd::Reload(a) => reload::run(file, &a, p),
        Cmd::Scale(a) => reload::scale(file, &a, p),
        Cmd::Signal(a) => control::signal(file, &a, p),
        Cmd::Validate(a) => validate::run(file, &a, p),
        Cmd::Top => crate::cli::top::run(file),
        Cmd::Init(a) => init::run(file, a, p),
        Cmd::Import(a) => import::run(file, &a, p),
        Cmd::Install(a) => install::install(file, a, p),
        Cmd::Uninstall(a) => install::uninstall(file, a, p),
        Cmd::Supervise(a) => supervise::run(file, a),
        Cmd::Completions { shell, fixed } => complete::completions(shell, fixed),
        Cmd::Man => complete::man(),
        Cmd::Export(a) => export::run(file, a, p),
    }
}
