//! `proctor up [-d] [SERVICE…]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::control::report;
use crate::cli::args::UpArgs;
use crate::cli::deadline::{self, Deadline, Goal};
use crate::cli::spawn::ensure_supervisor;
use crate::cli::{init_tracing, project, Printer};
use crate::control::proto::Command;
use crate::control::{Client, ControlError};
use crate::supervise::{run_blocking, Echo, Options, SuperviseError};

pub(crate) fn run(file: Option<&Path>, a: UpArgs, p: &Printer) -> Result<ExitCode> {
    let (spec, paths) = project(file)?;
    if let Some(unknown) = a
        .services
        .iter()
        .find(|n| spec.service(n).is_none() && spec.group(n).is_empty())
    {
        let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!(
            "no service named {unknown:?}; services: {}",
            known.join(", ")
        );
    }
    if let Some(role) = &a.role {
        if !spec.project.roles.iter().any(|r| r == role) {
            anyhow::bail!(
                "unknown role {role:?}; roles declared in [project] roles: {}",
                if spec.project.roles.is_empty() {
                    "(none)".to_string()
                } else {
                    spec.project.roles.join(", ")
                }
            );
        }
    }
    let up = Command::Up {
        services: a.services.clone(),
        role: a.role.clone(),
    };
    if a.detach {
        let within = Deadline::new(a.timeout);
        let (mut client, started) = ensure_supervisor(&spec, &paths, a.role.as_deref(), within)?;
        if !started {
            // A running project takes the spec as it is now first, as compose's `up -d` does.
            let plan = super::reload::reload(&mut client, false, within)?;
            super::reload::print_plan_if_any(&plan, p);
        }
        let reply = deadline::request(&mut client, up, within, &a.services, Goal::Ready)?;
        return Ok(report(&reply, p, "ready"));
    }
    match Client::connect(&paths.control_socket()) {
        Ok(mut client) => {
            let within = Deadline::new(a.timeout);
            let plan = super::reload::reload(&mut client, false, within)?;
            super::reload::print_plan_if_any(&plan, p);
            let reply = deadline::request(&mut client, up, within, &a.services, Goal::Ready)?;
            p.note(&format!(
                "a supervisor already runs for {} (pid {}); follow its output with `proctor logs -f`",
                reply.project, reply.supervisor_pid
            ));
            return Ok(report(&reply, p, "ready"));
        }
        Err(ControlError::NotRunning { .. }) => {
            crate::cli::running::refuse_second_copy(&spec, &paths)?;
        }
        Err(e) => return Err(e.into()),
    }
    init_tracing("warn");
    let opts = Options {
        spec,
        paths,
        role: a.role,
        start: a.services,
        echo: Some(Echo::for_stdout()),
        ready_fd: None,
        autostart: true,
        manager_socket: crate::supervise::take_manager_socket(),
        init: None,
    };
    match run_blocking(opts) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ SuperviseError::AlreadyRunning { .. }) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}
