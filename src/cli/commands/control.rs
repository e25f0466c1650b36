//! `down`, `start`, `stop`, `restart`, `wait`: one request each, then report.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::cli::args::{DownArgs, NamesArgs, SignalArgs, StartArgs, StopArgs, WaitArgs};
use crate::cli::deadline::{self, stop_budget, Deadline, Goal};
use crate::cli::running::target;
use crate::cli::spawn::ensure_supervisor;
use crate::cli::{project, Printer};
use crate::control::proto::{Command, Reply, StartOverrides};
use crate::control::{Client, ControlError};
use crate::state::Paths;

fn millis(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Connects to the supervisor of `paths`; `None` when none runs.
pub(crate) fn try_connect(paths: &Paths) -> Result<Option<Client>> {
    match Client::connect(&paths.control_socket()) {
        Ok(c) => Ok(Some(c)),
        Err(ControlError::NotRunning { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Connects to the supervisor of `paths` or explains that none runs.
pub(crate) fn connect(paths: &Paths) -> Result<Client> {
    match Client::connect(&paths.control_socket()) {
        Ok(c) => Ok(c),
        Err(ControlError::NotRunning { .. }) => anyhow::bail!(
            "no supervisor is running for this project (state dir {}); start one with `proctor up -d`",
            paths.root.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// Prints each service's outcome; failure if any service failed.
pub(crate) fn report(reply: &Reply, p: &Printer, verb: &str) -> ExitCode {
    for s in &reply.services {
        if reply.failures.iter().any(|f| f.service == s.name) {
            continue;
        }
        let pid = s.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        p.line(&format!("{}: {}{pid}", s.name, s.state.as_str()));
    }
    for f in &reply.failures {
        p.error(&format!(
            "{} did not become {verb}: {}",
            f.service, f.reason
        ));
    }
    if reply.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub(crate) fn down(file: Option<&Path>, a: DownArgs, p: &Printer) -> Result<ExitCode> {
    let t = target(file, true)?;
    t.warn(p);
    let Some(mut client) = try_connect(&t.paths)? else {
        // As `docker compose down` and `systemctl stop` do: already down is success.
        p.note("no supervisor is running; nothing to stop");
        return Ok(ExitCode::SUCCESS);
    };
    // Hold a pidfd on the supervisor before asking it to stop, so that `down` returns only
    // once that very process is gone (and not a later one reusing its pid).
    let supervisor = client
        .peer_pid()
        .and_then(|pid| crate::sys::child::pidfd_open(pid).ok());
    let reply = deadline::request(
        &mut client,
        Command::Down {
            timeout_ms: millis(a.timeout),
        },
        stop_budget(t.spec.as_ref(), a.timeout),
        &[],
        Goal::Stopped,
    )?;
    if let Some(fd) = supervisor {
        // The supervisor closes our connection last thing before it exits. A supervisor
        // embedded in another program (`proctor::Daemon`) is a thread whose process lives
        // on, so once the connection closes its pid gets only a short grace.
        client.set_timeout(Some(Duration::from_secs(10)))?;
        while client.recv().is_ok() {}
        crate::sys::child::wait_exited(&fd, Duration::from_secs(1));
    }
    p.line(&format!(
        "stopped {} service{} and the supervisor",
        reply.services.len(),
        if reply.services.len() == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn start(file: Option<&Path>, a: StartArgs, p: &Printer) -> Result<ExitCode> {
    let within = Deadline::new(a.timeout);
    let overrides = if a.env.is_empty() && a.cwd.is_none() && a.args.is_empty() {
        None
    } else {
        if a.services.len() != 1 {
            anyhow::bail!("-e, --cwd and extra arguments apply to one service at a time");
        }
        let cwd = match a.cwd {
            Some(dir) => Some(
                std::path::absolute(&dir)
                    .map_err(|e| anyhow::anyhow!("--cwd {}: {e}", dir.display()))?,
            ),
            None => None,
        };
        Some(StartOverrides {
            env: a.env.into_iter().collect(),
            cwd,
            args: a.args,
        })
    };
    let (spec, paths) = project(file)?;
    let (mut client, spawned) = ensure_supervisor(&spec, &paths, None, within)?;
    if spawned {
        p.note("started a supervisor in the background");
    }
    let reply = deadline::request(
        &mut client,
        Command::Start {
            services: a.services.clone(),
            overrides,
        },
        within,
        &a.services,
        Goal::Ready,
    )?;
    let extra: Vec<&str> = reply
        .services
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !a.services.iter().any(|x| x == n))
        .collect();
    if !extra.is_empty() {
        p.note(&format!("also started dependencies: {}", extra.join(", ")));
    }
    Ok(report(&reply, p, "ready"))
}

pub(crate) fn stop(file: Option<&Path>, a: StopArgs, p: &Printer) -> Result<ExitCode> {
    let t = target(file, true)?;
    t.warn(p);
    let Some(mut client) = try_connect(&t.paths)? else {
        p.note("no supervisor is running; nothing to stop");
        return Ok(ExitCode::SUCCESS);
    };
    client.set_timeout(Some(deadline::ANSWER))?;
    let before = client.request(Command::Status {
        services: a.services.clone(),
    })?;
    for s in &before.services {
        if !s.state.is_active() && s.state != crate::control::proto::State::Backoff {
            p.note(&format!("{} is already {}", s.name, s.state.as_str()));
        }
    }
    let reply = deadline::request(
        &mut client,
        Command::Stop {
            services: a.services.clone(),
            timeout_ms: millis(a.timeout),
        },
        stop_budget(t.spec.as_ref(), a.timeout),
        &a.services,
        Goal::Stopped,
    )?;
    let extra: Vec<&str> = reply
        .services
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !a.services.iter().any(|x| x == n))
        .collect();
    if !extra.is_empty() {
        p.note(&format!(
            "also stopped dependents first: {}",
            extra.join(", ")
        ));
    }
    Ok(report(&reply, p, "stopped"))
}

pub(crate) fn restart(file: Option<&Path>, a: NamesArgs, p: &Printer) -> Result<ExitCode> {
    let t = target(file, false)?;
    // The supervisor reads the file for a restart and reports what is wrong with it.
    t.warn_renamed(p);
    let mut client = connect(&t.paths)?;
    let reply = deadline::request(
        &mut client,
        Command::Restart {
            services: a.services.clone(),
        },
        Deadline::new(a.timeout),
        &a.services,
        Goal::Ready,
    )?;
    Ok(report(&reply, p, "ready"))
}

pub(crate) fn wait(file: Option<&Path>, a: WaitArgs, p: &Printer) -> Result<ExitCode> {
    let t = target(file, false)?;
    t.warn(p);
    let mut client = connect(&t.paths)?;
    let reply = deadline::request(
        &mut client,
        Command::Wait {
            services: a.services.clone(),
        },
        Deadline::new(a.timeout),
        &a.services,
        Goal::Ready,
    )?;
    if a.json {
        p.json(&reply);
        return Ok(if reply.failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    Ok(report(&reply, p, "ready"))
}

/// `signal NAME… SIG`: the signal to each service's processes.
pub(crate) fn signal(file: Option<&Path>, a: &SignalArgs, p: &Printer) -> Result<ExitCode> {
    let Some((sig, names)) = a.words.split_last() else {
        anyhow::bail!("name at least one service, then the signal");
    };
    if crate::spec::signal_from_str(sig).is_none() {
        anyhow::bail!("unknown signal {sig:?} (examples: HUP, USR1, SIGTERM, 10)");
    }
    let t = target(file, false)?;
    t.warn(p);
    let mut client = connect(&t.paths)?;
    client.set_timeout(Some(deadline::ANSWER))?;
    let reply = client.request(Command::Signal {
        services: names.to_vec(),
        signal: sig.clone(),
    })?;
    for s in &reply.services {
        let pid = s.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        p.line(&format!("{}: sent {sig}{pid}", s.name));
    }
    Ok(ExitCode::SUCCESS)
}
