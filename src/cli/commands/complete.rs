//! `proctor completions SHELL` and `proctor man`: generated from the CLI's own definition,
//! so they always match the verbs and flags this binary has.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::args::Cli;

/// Writes the completion script for `shell` to stdout: one that asks `proctor` itself
/// (through `PROCTOR_COMPLETE=SHELL`), so it completes the service names of the spec at hand;
/// with `fixed`, clap's static script (verbs and flags only, no `proctor` run per TAB).
pub(crate) fn completions(shell: clap_complete::Shell, fixed: bool) -> Result<ExitCode> {
    let mut script = Vec::new();
    if fixed {
        clap_complete::generate(shell, &mut Cli::command(), "proctor", &mut script);
    } else {
        let name = shell.to_string();
        let shells = clap_complete::env::Shells::builtins();
        let completer = shells
            .completer(&name)
            .with_context(|| format!("no dynamic completion for {name}; try --static"))?;
        completer
            .write_registration(VAR, "proctor", "proctor", "proctor", &mut script)
            .context("writing the completion script")?;
    }
    emit(&script, "the completion script")
}

/// The variable that makes a run a completion request. Not clap's default `COMPLETE`: a
/// variable by that name left in the environment by something else would turn every run
/// into a failed completion request.
const VAR: &str = "PROCTOR_COMPLETE";

/// Answers a shell's completion request (`PROCTOR_COMPLETE=SHELL proctor -- WORDS…`) and
/// exits; returns at once on any other run.
pub(crate) fn answer_shell() {
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .complete();
}

/// The services of the spec found from the current directory, and the names of
/// replicated ones (which stand for all their replicas).
pub(crate) fn service_names() -> Vec<clap_complete::CompletionCandidate> {
    let Some(spec) = std::env::current_dir()
        .ok()
        .and_then(|d| crate::spec::find(&d))
        .and_then(|p| crate::spec::Spec::load(&p).ok())
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for s in &spec.services {
        if let Some(r) = &s.replica {
            if !names.contains(&r.group) {
                names.push(r.group.clone());
            }
        }
        names.push(s.name.clone());
    }
    names
        .into_iter()
        .map(clap_complete::CompletionCandidate::new)
        .collect()
}

/// Writes the manual page (roff) to stdout.
pub(crate) fn man() -> Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .context("rendering the manual page")?;
    emit(&page, "the manual page")
}

/// Writes `bytes` to stdout; a reader that stopped early (`| head`) is not an error.
fn emit(bytes: &[u8], what: &str) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).with_context(|| format!("writing {what}"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
