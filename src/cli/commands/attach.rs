//! `proctor attach SERVICE`: become a tmux client of the service's session, or a shell in
//! its container. The process is replaced (exec), so the terminal is the tool's alone.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};

use crate::backend::container::{self, ContainerBackend};
use crate::backend::tmux::{session_name, TmuxBackend};
use crate::cli::args::AttachArgs;
use crate::cli::project;
use crate::spec;

pub(crate) fn run(file: Option<&Path>, a: &AttachArgs) -> Result<ExitCode> {
    let (spec, paths) = project(file)?;
    let name = &a.service;
    let svc = spec.service(name).ok_or_else(|| {
        let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        anyhow!("no service named {name:?}; services: {}", known.join(", "))
    })?;
    let mut cmd = match &svc.backend {
        spec::Backend::Process => bail!(
            "{name} runs as a native process, which has no terminal to attach to: only tmux \
             and container services can be attached\n\
             hint: `proctor logs -f {name}` follows its output; set backend = \"tmux\" in \
             [service.{name}] to be able to attach"
        ),
        spec::Backend::Tmux => {
            let tmux = TmuxBackend::new(spec.project.tmux_binary.as_deref(), &paths.root);
            let session = session_name(&spec.project.name, name);
            if !tmux.installed() {
                bail!("tmux is not installed\nhint: install tmux (apt-get install tmux)");
            }
            if !tmux.has_session(&session) {
                bail!("{name} is not running (no tmux session {session:?}); start it with `proctor start {name}`");
            }
            tmux.attach_command(&session)
        }
        spec::Backend::Container(settings) => {
            let backend = ContainerBackend::new(spec.project.container_runtime, &paths.root);
            let rt = backend.runtime_for(name, settings)?;
            let cname = container::name_of(&spec.project.name, svc, settings);
            if !container::exists(rt, &cname) {
                bail!("{name} is not running (no container {cname:?}); start it with `proctor start {name}`");
            }
            container::attach_command(rt, &cname)
        }
    };
    let err = cmd.exec();
    Err(anyhow!(
        "cannot run {}: {err}",
        cmd.get_program().to_string_lossy()
    ))
}
