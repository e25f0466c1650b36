//! `proctor reload [--dry-run]`: the spec on disk applied to the running project.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::control::{connect, report};
use crate::cli::args::{ReloadArgs, ScaleArgs};
use crate::cli::deadline::{self, Deadline, Goal};
use crate::cli::Printer;
use crate::control::proto::{Command, Reply};
use crate::control::Client;

pub(crate) fn run(file: Option<&Path>, a: &ReloadArgs, p: &Printer) -> Result<ExitCode> {
    let t = crate::cli::running::target(file, false)?;
    // The supervisor reads the file itself and says what is wrong with it.
    t.warn_renamed(p);
    let mut client = connect(&t.paths)?;
    let reply = reload(&mut client, a.dry_run, Deadline::new(a.timeout))?;
    if a.json {
        p.json(&reply.plan);
        return Ok(json_outcome(&reply, p));
    }
    print_plan(&reply, p, a.dry_run);
    if a.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(report(&reply, p, "ready"))
}

/// `scale NAME N`: the new replicas started (and waited for), the surplus stopped.
pub(crate) fn scale(file: Option<&Path>, a: &ScaleArgs, p: &Printer) -> Result<ExitCode> {
    let t = crate::cli::running::target(file, false)?;
    t.warn_renamed(p);
    let mut client = connect(&t.paths)?;
    let reply = deadline::request(
        &mut client,
        Command::Scale {
            service: a.service.clone(),
            replicas: a.replicas,
        },
        Deadline::new(a.timeout),
        &[],
        Goal::Ready,
    )?;
    if a.json {
        p.json(&reply.plan);
        return Ok(json_outcome(&reply, p));
    }
    if reply.plan.is_empty() {
        p.note(&format!(
            "{} already runs {} replicas",
            a.service, a.replicas
        ));
        return Ok(ExitCode::SUCCESS);
    }
    print_plan(&reply, p, false);
    Ok(report(&reply, p, "ready"))
}

/// The exit code of a `--json` reload or scale, as without `--json`: what it started and
/// did not come up fails it (said on stderr; stdout keeps the plan alone).
fn json_outcome(reply: &Reply, p: &Printer) -> ExitCode {
    for f in &reply.failures {
        p.error(&format!("{} did not become ready: {}", f.service, f.reason));
    }
    if reply.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sends `reload` and waits (until `within`) for what it started to be up.
pub(crate) fn reload(client: &mut Client, dry_run: bool, within: Deadline) -> Result<Reply> {
    deadline::request(
        client,
        Command::Reload { dry_run },
        within,
        &[],
        Goal::Ready,
    )
}

/// The plan of a reload that changed something, as notes; nothing when nothing changed.
pub(crate) fn print_plan_if_any(reply: &Reply, p: &Printer) {
    if !reply.plan.is_empty() {
        print_plan(reply, p, false);
    }
}

/// `+ c  start`, `~ a  restart: env.VERSION changed`, `- b  stop`: one line a service.
pub(crate) fn print_plan(reply: &Reply, p: &Printer, dry_run: bool) {
    if reply.plan.is_empty() {
        p.note("the spec is unchanged: nothing to do");
        return;
    }
    let width = reply
        .plan
        .iter()
        .map(|s| s.service.len())
        .max()
        .unwrap_or(0);
    for s in &reply.plan {
        let why = s
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let line = format!(
            "{} {:<width$}  {}{why}",
            s.action.mark(),
            s.service,
            s.action.as_str()
        );
        if dry_run {
            p.line(&line);
        } else {
            p.note(&line);
        }
    }
}
