//! `proctor status [SERVICE…] [--json]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::args::StatusArgs;
use crate::cli::deadline::ANSWER;
use crate::cli::Printer;
use crate::control::proto::{Command, Reply, ServiceStatus, State};

pub(crate) fn run(file: Option<&Path>, a: StatusArgs, p: &Printer) -> Result<ExitCode> {
    if a.all_backends {
        return all_backends(file, &a, p);
    }
    let t = crate::cli::running::target(file, false)?;
    let Some(mut client) = super::control::try_connect(&t.paths)? else {
        return not_running(file, t.spec, &a, p);
    };
    t.warn(p);
    client.set_timeout(Some(ANSWER))?;
    let cmd = Command::Status {
        services: a.services,
    };
    if a.json && !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        // Passed through as the supervisor wrote it: the same document, without decoding it.
        p.document(client.request_raw(cmd)?);
    } else if a.json {
        p.json(&client.request(cmd)?);
    } else {
        p.line(&table(&client.request(cmd)?));
    }
    Ok(ExitCode::SUCCESS)
}

/// Status without a supervisor: every service of the spec is stopped, and
/// `supervisor_pid` is 0 (no process has that pid). Exit 3, as `systemctl is-active` says
/// "inactive", so scripts can always read the state. This needs a valid spec (`spec`, else
/// the file is read for its errors).
fn not_running(
    file: Option<&Path>,
    spec: Option<crate::spec::Spec>,
    a: &StatusArgs,
    p: &Printer,
) -> Result<ExitCode> {
    let spec = match spec {
        Some(spec) => spec,
        None => crate::cli::project(file)?.0,
    };
    if let Some(unknown) = a
        .services
        .iter()
        .find(|n| spec.service(n).is_none() && spec.group(n).is_empty())
    {
        anyhow::bail!("no service named {unknown:?} in {}", spec.path.display());
    }
    let now = std::time::SystemTime::now();
    let services = spec
        .services
        .iter()
        .filter(|s| {
            a.services.is_empty() || a.services.iter().any(|n| crate::spec::names(n, &s.name))
        })
        .map(|s| ServiceStatus {
            name: s.name.clone(),
            group: s.replica.as_ref().map(|r| r.group.clone()),
            state: State::Stopped,
            pid: None,
            ready: false,
            restarts: 0,
            uptime_ms: 0,
            last_exit: None,
            since: now,
            reason: Some("no supervisor is running".into()),
            next_restart_ms: None,
            next_run: None,
            backend: s.backend.name().into(),
            log_error: None,
            probe_error: None,
            status_text: None,
            main_pid: None,
            storage_dir: None,
            containment: None,
            cpu_percent: None,
            memory_bytes: None,
            tmux_session: None,
            container: None,
            container_id: None,
        })
        .collect();
    let reply = Reply {
        project: spec.project.name.clone(),
        role: None,
        supervisor_pid: 0,
        services,
        failures: Vec::new(),
        plan: Vec::new(),
    };
    if a.json {
        p.json(&reply);
    } else {
        p.line(&table(&reply));
        p.note("no supervisor is running for this project");
    }
    Ok(ExitCode::from(3))
}

/// `status --all-backends NAME`: which backends hold a session or container of that name.
fn all_backends(file: Option<&Path>, a: &StatusArgs, p: &Printer) -> Result<ExitCode> {
    let [name] = a.services.as_slice() else {
        anyhow::bail!("--all-backends looks up exactly one NAME");
    };
    let (spec, paths) = crate::cli::project(file)?;
    let found = crate::backend::detect::find_all(&spec, &paths.root, name)?;
    if a.json {
        p.json(&found);
    } else {
        for f in &found {
            p.line(&format!("{name}: {f}"));
        }
    }
    match found.len() {
        0 => {
            p.error(&format!(
                "{name}: no tmux session or container of that name"
            ));
            Ok(ExitCode::FAILURE)
        }
        1 => Ok(ExitCode::SUCCESS),
        _ => {
            let err = crate::backend::BackendError::Ambiguous {
                name: name.clone(),
                found,
            };
            p.error(&err.to_string());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Formats `ms` as a short duration: `850ms`, `42s`, `5m12s`, `3h4m`, `2d5h`.
pub(crate) fn short_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn detail(s: &ServiceStatus) -> String {
    let mut parts = Vec::new();
    if s.state == State::Starting && !s.ready {
        let since = humantime::format_rfc3339_seconds(s.since);
        match &s.probe_error {
            Some(e) => parts.push(format!("not ready since {since}: {e}")),
            None => parts.push(format!("not ready since {since}")),
        }
    } else if let Some(e) = &s.probe_error {
        parts.push(format!("probe failing: {e}"));
    }
    if let Some(t) = &s.tmux_session {
        parts.push(format!("tmux session {t}"));
    }
    match (&s.container, &s.container_id) {
        (Some(n), Some(id)) => parts.push(format!("container {n} ({id})")),
        (Some(n), None) => parts.push(format!("container {n}")),
        _ => {}
    }
    if let Some(t) = &s.status_text {
        parts.push(format!("status: {t}"));
    }
    if let Some(ms) = s.next_restart_ms {
        parts.push(format!("restart in {}", short_duration(ms)));
    }
    if let Some(t) = s.next_run {
        parts.push(next_run(t));
    }
    if let Some(r) = &s.reason {
        parts.push(r.clone());
    }
    if let Some(e) = &s.log_error {
        parts.push(format!("log error: {e}"));
    }
    parts.join("; ")
}

/// `next run 2026-12-02T07:05:00Z (in 4m12s)`.
fn next_run(t: std::time::SystemTime) -> String {
    let ms = t
        .duration_since(std::time::SystemTime::now())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    format!(
        "next run {} (in {})",
        humantime::format_rfc3339_seconds(t),
        short_duration(ms)
    )
}

/// `5.3M`, `812K`, `1.2G`: a size compact enough for a table cell.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.0}{}", UNITS[unit])
    }
}

fn table(reply: &Reply) -> String {
    let header = [
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "CPU",
        "MEM",
        "LAST EXIT",
        "DETAIL",
    ];
    let rows: Vec<[String; 9]> = reply
        .services
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                if s.state == State::Starting && !s.ready {
                    "starting".into()
                } else {
                    s.state.as_str().to_string()
                },
                s.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                if s.pid.is_some() {
                    short_duration(s.uptime_ms)
                } else {
                    "-".into()
                },
                s.restarts.to_string(),
                s.cpu_percent
                    .map_or_else(|| "-".into(), |c| format!("{c:.1}%")),
                s.memory_bytes.map_or_else(|| "-".into(), human_bytes),
                s.last_exit.as_ref().map_or_else(
                    || "-".into(),
                    |e| e.describe_with(crate::sys::child::signal_name),
                ),
                detail(s),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = format!("project {}", reply.project);
    if let Some(role) = &reply.role {
        out.push_str(&format!(" (role {role})"));
    }
    if reply.supervisor_pid == 0 {
        out.push_str(", no supervisor running\n");
    } else {
        out.push_str(&format!(", supervisor pid {}\n", reply.supervisor_pid));
    }
    let fmt_row = |cells: Vec<&str>| {
        let mut line = String::new();
        for (k, c) in cells.iter().enumerate() {
            if k + 1 == cells.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[k]));
            }
        }
        line.trim_end().to_string()
    };
    out.push_str(&fmt_row(header.to_vec()));
    for r in &rows {
        out.push('\n');
        out.push_str(&fmt_row(r.iter().map(String::as_str).collect()));
    }
    out
}
