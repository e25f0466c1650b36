//! `proctor run NAME … -- CMD…` and `proctor rm NAME…`: ad-hoc services.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};

use super::control::report;
use crate::cli::args::{BackendArg, RestartArg, RmArgs, RunArgs};
use crate::cli::deadline::{self, Deadline, Goal};
use crate::cli::spawn::ensure_supervisor;
use crate::cli::{project, project_or_default, Printer};
use crate::control::proto::Command;
use crate::control::{Client, ControlError};
use crate::spec::adhoc::{self, AdHoc};
use crate::spec::{BackendKind, RestartPolicy};

pub(crate) fn run(file: Option<&Path>, a: RunArgs, p: &Printer) -> Result<ExitCode> {
    let (spec, paths) = project_or_default(file)?;
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let mut env = std::collections::BTreeMap::new();
    for kv in &a.env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--env {kv:?} must be KEY=VALUE"))?;
        env.insert(k.to_string(), v.to_string());
    }
    let def = AdHoc {
        name: a.name.clone(),
        command: a.command,
        backend: a.backend.map(|b| match b {
            BackendArg::Process => BackendKind::Process,
            BackendArg::Tmux => BackendKind::Tmux,
            BackendArg::Container => BackendKind::Container,
        }),
        image: a.image,
        restart: a.restart.map(|r| match r {
            RestartArg::No => RestartPolicy::No,
            RestartArg::OnFailure => RestartPolicy::OnFailure,
            RestartArg::Always => RestartPolicy::Always,
        }),
        env,
        cwd: a.cwd.map_or_else(|| here.clone(), |c| here.join(c)),
    };
    def.check(&spec.project)
        .map_err(|why| anyhow!("cannot run {:?}: {why}", def.name))?;
    let within = Deadline::new(a.timeout);
    let (mut client, _) = ensure_supervisor(&spec, &paths, None, within)?;
    let name = vec![def.name.clone()];
    let reply = deadline::request(
        &mut client,
        Command::Run {
            service: def.into(),
        },
        within,
        &name,
        Goal::Ready,
    )?;
    Ok(report(&reply, p, "ready"))
}

pub(crate) fn rm(file: Option<&Path>, a: &RmArgs, p: &Printer) -> Result<ExitCode> {
    let (spec, paths) = project(file)?;
    match Client::connect(&paths.control_socket()) {
        Ok(mut client) => {
            let reply = deadline::request(
                &mut client,
                Command::Rm {
                    services: a.services.clone(),
                },
                deadline::stop_budget(Some(&spec), None),
                &a.services,
                Goal::Stopped,
            )?;
            if !reply.failures.is_empty() {
                return Ok(report(&reply, p, "stopped"));
            }
        }
        Err(ControlError::NotRunning { .. }) => {
            // No supervisor, so nothing runs and nobody else writes the file.
            let mut list = adhoc::load(&paths.root);
            if let Some(n) = a
                .services
                .iter()
                .find(|n| !list.iter().any(|d| &d.name == *n))
            {
                bail!("no ad-hoc service named {n:?}");
            }
            list.retain(|d| !a.services.contains(&d.name));
            adhoc::save(&paths.root, &list)
                .with_context(|| format!("cannot update {}", paths.root.display()))?;
        }
        Err(e) => return Err(e.into()),
    }
    for n in &a.services {
        p.line(&format!("{n}: removed"));
    }
    Ok(ExitCode::SUCCESS)
}
