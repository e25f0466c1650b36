//! `proctor lock [SERVICE…] [--json]` and `proctor unlock SERVICE [--force]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::args::{LockArgs, UnlockArgs};
use crate::cli::{state_paths, Printer};
use crate::lock::{inspect, Lock, LockHealth, LockRecord, LockState};

fn health_name(h: LockHealth) -> &'static str {
    match h {
        LockHealth::Alive => "alive",
        LockHealth::Stale => "stale",
        LockHealth::Foreign => "foreign",
        LockHealth::Orphan => "orphan",
    }
}

fn holder(r: &LockRecord) -> String {
    format!(
        "pid {} on {} since {} (supervisor pid {})",
        r.pid, r.hostname, r.started_at, r.supervisor_pid
    )
}

pub(crate) fn list(file: Option<&Path>, a: LockArgs, p: &Printer) -> Result<ExitCode> {
    let (spec, paths) = state_paths(file)?;
    let names: Vec<String> = if a.services.is_empty() {
        let dir = paths.locks_dir();
        let mut v: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_str()?.to_string();
                    n.strip_suffix(".lock").map(str::to_owned)
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        v.sort();
        if let Some(spec) = &spec {
            v.sort_by_key(|n| {
                spec.services
                    .iter()
                    .position(|s| &s.name == n)
                    .unwrap_or(usize::MAX)
            });
        }
        v
    } else {
        a.services.clone()
    };
    let mut rows = Vec::new();
    let mut corrupt = Vec::new();
    for n in &names {
        let lock = Lock::for_service(&paths.root, n);
        match lock.state() {
            Ok(LockState::Held(r)) => rows.push((n.clone(), inspect(&r), r)),
            Ok(LockState::Corrupt { reason, witness }) => {
                // Shown, not hidden: the service may still run (its witness says who), and
                // the next start judges by that witness.
                p.warn(&format!(
                    "{n}: the lock file {} is corrupt ({reason})",
                    lock.path().display()
                ));
                corrupt.push((n.clone(), reason, witness));
            }
            Ok(LockState::Absent | LockState::Released) if !a.services.is_empty() => {
                p.note(&format!("{n}: no lock"));
            }
            Ok(_) => {}
            Err(e) => p.warn(&format!("{n}: {e}")),
        }
    }
    if a.json {
        let mut v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, h, r)| serde_json::json!({"service": n, "health": health_name(*h), "holder": r}))
            .collect();
        v.extend(corrupt.iter().map(|(n, reason, w)| {
            serde_json::json!({
                "service": n,
                "health": w.as_ref().map_or("corrupt", |w| health_name(inspect(w))),
                "corrupt": reason,
                "holder": w,
            })
        }));
        p.json(&serde_json::json!({ "locks": v }));
    } else if rows.is_empty() && corrupt.is_empty() {
        p.note("no locks");
    } else {
        for (n, h, r) in &rows {
            p.line(&format!("{n}: {} — {}", health_name(*h), holder(r)));
        }
        for (n, _, w) in &corrupt {
            match w {
                Some(w) => p.line(&format!(
                    "{n}: corrupt lock file; its witness: {} — {}",
                    health_name(inspect(w)),
                    holder(w)
                )),
                None => p.line(&format!("{n}: corrupt lock file, no witness")),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn unlock(file: Option<&Path>, a: UnlockArgs, p: &Printer) -> Result<ExitCode> {
    let (_, paths) = state_paths(file)?;
    crate::spec::check_name(&a.service)
        .map_err(|e| anyhow::anyhow!("invalid service name {:?}: {e}", a.service))?;
    let lock = Lock::for_service(&paths.root, &a.service);
    let record = match lock.state()? {
        LockState::Held(r)
        | LockState::Corrupt {
            witness: Some(r), ..
        } => r,
        LockState::Corrupt { witness: None, .. } => {
            lock.force_unlock()?;
            p.line(&format!(
                "removed the corrupt lock file of {} (no witness)",
                a.service
            ));
            return Ok(ExitCode::SUCCESS);
        }
        LockState::Absent | LockState::Released => {
            p.note(&format!("{}: no lock to remove", a.service));
            return Ok(ExitCode::SUCCESS);
        }
    };
    let health = inspect(&record);
    if matches!(health, LockHealth::Alive | LockHealth::Orphan) && !a.force {
        p.error(&format!(
            "{} is held by a live process: {}; stop it first, or use --force",
            a.service,
            holder(&record)
        ));
        return Ok(ExitCode::FAILURE);
    }
    let previous = lock.force_unlock()?;
    let who = previous.as_ref().map_or_else(|| holder(&record), holder);
    p.line(&format!(
        "removed the lock of {} ({}): held by {who}",
        a.service,
        health_name(health)
    ));
    Ok(ExitCode::SUCCESS)
}
