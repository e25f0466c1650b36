//! `proctor export systemd`: one unit per service, for hosts where each service should be
//! a unit of its own rather than a child of proctor's supervisor.

use std::fmt::Write as _;

use super::{ordered, seconds, signal_name, Export, ExportError, File, Options, Warnings};
use crate::install::systemd::{exec_word, quote};
use crate::spec::{
    Autostart, Backend, Condition, ProbeKind, RestartPolicy, Runtime, Service, Spec, Storage,
};

/// The project as systemd units, named `PREFIX` + service + `.service`; the prefix is
/// `--name-prefix`, else `PROJECT-`.
pub fn systemd(spec: &Spec, opts: &Options) -> Result<Export, ExportError> {
    let mut w = Warnings::default();
    let prefix = if opts.name_prefix.is_empty() {
        format!("{}-", spec.project.name)
    } else {
        opts.name_prefix.clone()
    };
    let unit = |name: &str| format!("{prefix}{name}.service");
    let mut out = Export::default();
    for s in ordered(spec) {
        let text = render(spec, s, &unit, &prefix, &mut w);
        let name = unit(&s.name);
        if !out.stream.is_empty() {
            out.stream.push('\n');
        }
        let _ = writeln!(out.stream, "# {name}");
        out.stream.push_str(&text);
        out.files.push(File { name, text });
    }
    out.warnings = w.0;
    Ok(out)
}

fn render(
    spec: &Spec,
    s: &Service,
    unit: &dyn Fn(&str) -> String,
    prefix: &str,
    w: &mut Warnings,
) -> String {
    let name = &s.name;
    let mut u = String::new();
    let _ = writeln!(u, "[Unit]");
    let _ = writeln!(
        u,
        "Description=service {name} of proctor project {}",
        spec.project.name
    );
    for d in &s.depends_on {
        let dep = unit(&d.name);
        let _ = writeln!(u, "After={dep}");
        let _ = writeln!(u, "Requires={dep}");
        if d.condition == Condition::Completed {
            w.service(
                name,
                format!(
                    "depends_on {} = completed: starts after it has started, not after it exits",
                    d.name
                ),
            );
        }
    }
    let _ = writeln!(u, "StartLimitBurst={}", s.start_limit.burst);
    let _ = writeln!(
        u,
        "StartLimitIntervalSec={}s",
        seconds(s.start_limit.interval)
    );
    let _ = writeln!(u, "\n[Service]");
    let notify = s
        .ready
        .as_ref()
        .is_some_and(|p| p.kind == ProbeKind::Notify);
    let kind = if notify { "notify" } else { "exec" };
    let _ = writeln!(u, "Type={kind}");
    let argv = exec_start(spec, s, prefix, w);
    let line: Vec<String> = argv.iter().map(|a| exec_word(a)).collect();
    let _ = writeln!(u, "ExecStart={}", line.join(" "));
    if let Some(sig) = s.reload_signal {
        let _ = writeln!(u, "ExecReload=/bin/kill -s {} $MAINPID", signal_name(sig));
    }
    let _ = writeln!(
        u,
        "WorkingDirectory={}",
        exec_word(&s.cwd.display().to_string())
    );
    for (k, v) in &s.env {
        let _ = writeln!(u, "Environment={}", quote(&format!("{k}={v}"), false));
    }
    match &s.storage {
        Some(Storage::Persistent { path, .. }) => {
            let _ = writeln!(
                u,
                "Environment={}",
                quote(&format!("PROCTOR_STATE_DIR={}", path.display()), false)
            );
        }
        Some(Storage::Sandboxed) => {
            let dir = format!("{prefix}{name}");
            let _ = writeln!(u, "RuntimeDirectory={dir}");
            let _ = writeln!(u, "Environment=PROCTOR_STATE_DIR=%t/{dir}");
        }
        None => {}
    }
    let restart = match s.restart {
        RestartPolicy::No => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    };
    let _ = writeln!(u, "Restart={restart}");
    let _ = writeln!(u, "RestartSec={}ms", s.backoff.initial.as_millis().max(1));
    if s.restart != RestartPolicy::No && s.backoff.factor > 1.0 && s.backoff.max > s.backoff.initial
    {
        // RestartSteps= and RestartMaxDelaySec= came with systemd 254; units stay loadable
        // by older ones (Debian 12 has 252).
        w.service(
            name,
            "backoff: the delay stays at `initial`; it does not grow to `max`",
        );
    }
    let _ = writeln!(u, "KillSignal=SIG{}", signal_name(s.stop_signal));
    let _ = writeln!(u, "TimeoutStopSec={}s", seconds(s.stop_timeout));
    probes(s, &mut u, w);
    identity(s, &mut u);
    if s.identity.restart_on_memory.is_some() {
        w.service(
            name,
            "restart_on_memory: systemd has no such setting; left out",
        );
    }
    if !s.reload_on.is_empty() {
        w.service(name, "reload_on: systemd does not watch files; left out");
    }
    if s.watch.is_some() {
        w.service(
            name,
            "watch: systemd does not restart on file changes; left out",
        );
    }
    if let Some(sch) = &s.schedule {
        // A scheduled service is not started by `up`, so the unit is not enabled either.
        w.service(name, format!("schedule {:?}: no timer unit is written; start it from a .timer (OnCalendar=) or cron", sch.expr));
    }
    match &s.autostart {
        _ if s.schedule.is_some() => {}
        Autostart::Always(true) => {
            let _ = writeln!(u, "\n[Install]\nWantedBy=multi-user.target");
        }
        Autostart::Always(false) => {}
        Autostart::Roles(_) => w.service(
            name,
            "autostart roles: the unit is not enabled; enable it on the hosts of its roles",
        ),
    }
    u
}

fn exec_start(spec: &Spec, s: &Service, prefix: &str, w: &mut Warnings) -> Vec<String> {
    match &s.backend {
        Backend::Process => s.command.clone(),
        Backend::Tmux => {
            w.service(
                &s.name,
                "tmux: runs as the unit's process; there is no session to attach to",
            );
            s.command.clone()
        }
        Backend::Container(c) => {
            let runtime = match c.runtime.or(spec.project.container_runtime) {
                Some(Runtime::Docker) => "/usr/bin/docker",
                _ => "/usr/bin/podman",
            };
            let name = c
                .container_name
                .clone()
                .unwrap_or_else(|| format!("{prefix}{}", s.name));
            let mut argv: Vec<String> = vec![
                runtime.into(),
                "run".into(),
                "--rm".into(),
                "--name".into(),
                name,
            ];
            for p in &c.ports {
                argv.extend(["-p".into(), p.clone()]);
            }
            for v in &c.volumes {
                argv.extend(["-v".into(), v.clone()]);
            }
            argv.push(c.image.clone());
            argv.extend(s.command.iter().cloned());
            argv
        }
    }
}

fn probes(s: &Service, u: &mut String, w: &mut Warnings) {
    if let Some(p) = &s.ready {
        match p.kind {
            ProbeKind::Notify => {
                let _ = writeln!(u, "TimeoutStartSec={}s", seconds(p.deadline));
                if let Some(d) = p.watchdog {
                    let _ = writeln!(u, "WatchdogSec={}s", seconds(d));
                }
            }
            _ => w.service(
                &s.name,
                "ready: systemd knows readiness by notify only; dependents start once it runs",
            ),
        }
    }
    if s.live.is_some() {
        w.service(&s.name, "live: systemd has no liveness probe; left out");
    }
}

fn identity(s: &Service, u: &mut String) {
    let id = &s.identity;
    if let Some(x) = &id.user {
        let _ = writeln!(u, "User={x}");
    }
    if let Some(x) = &id.group {
        let _ = writeln!(u, "Group={x}");
    }
    if !id.supplementary_groups.is_empty() {
        let _ = writeln!(
            u,
            "SupplementaryGroups={}",
            id.supplementary_groups.join(" ")
        );
    }
    if let Some(m) = id.umask {
        let _ = writeln!(u, "UMask={m:04o}");
    }
    if let Some(n) = id.nice {
        let _ = writeln!(u, "Nice={n}");
    }
    for r in &id.rlimits {
        let n = |x: Option<u64>| x.map_or_else(|| "infinity".to_string(), |x| x.to_string());
        let key = match r.resource {
            "as" => "AS".to_string(),
            other => other.to_ascii_uppercase(),
        };
        let _ = writeln!(u, "Limit{key}={}:{}", n(r.soft), n(r.hard));
    }
    if let Some(m) = id.memory_max {
        let _ = writeln!(u, "MemoryMax={m}");
    }
    if let Some(c) = id.cpu_max {
        let _ = writeln!(u, "CPUQuota={c}%");
    }
    if let Some(p) = id.pids_max {
        let _ = writeln!(u, "TasksMax={p}");
    }
    if let Some(io) = id.io_weight {
        let _ = writeln!(u, "IOWeight={io}");
    }
}
