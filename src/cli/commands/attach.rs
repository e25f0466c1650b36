//! `proctor attach SERVICE`: become a tmux client of the service's session, or a shell in
//! its container. The process is replaced (exec), so the terminal is the tool's alone.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};

use crate::cli::args::AttachArgs;
use crate::cli::project;
use crate::session::{attach_command, AttachError};

pub(crate) fn run(file: Option<&Path>, a: &AttachArgs) -> Result<ExitCode> {
    let (spec, paths) = project(file)?;
    let name = &a.service;
    let mut cmd = match attach_command(&spec, &paths.root, name) {
        Ok(cmd) => cmd,
        Err(AttachError::UnknownService(_)) => {
            let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
            bail!("no service named {name:?}; services: {}", known.join(", "))
        }
        Err(e @ AttachError::NoTerminal(_)) => bail!(
            "{e}\nhint: `proctor logs -f {name}` follows its output; set backend = \"tmux\" in \
             [service.{name}] to be able to attach"
        ),
        Err(e @ AttachError::NotRunning { .. }) => {
            bail!("{e}; start it with `proctor start {name}`")
        }
        Err(e) => return Err(e.into()),
    };
    let err = cmd.exec();
    Err(anyhow!(
        "cannot run {}: {err}",
        cmd.get_program().to_string_lossy()
    ))
}
