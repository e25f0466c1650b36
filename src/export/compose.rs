//! `proctor export compose`: the project as one compose file (the Compose Specification,
//! as `docker compose` and `podman-compose` read it).

use serde_json::{json, Map, Value};

use super::{image, ordered, seconds, signal_name, target_names, yaml, Export, ExportError};
use super::{File, Options, Warnings};
use crate::spec::{Autostart, Backend, Condition, ProbeKind, RestartPolicy, Service, Spec};

/// The file name compose looks for.
pub const FILE_NAME: &str = "compose.yaml";

/// The project as a compose file.
pub fn compose(spec: &Spec, opts: &Options) -> Result<Export, ExportError> {
    let mut w = Warnings::default();
    let (folded, counts) = super::groups::fold(spec, &mut w);
    let spec = &folded;
    let names = target_names(spec, &opts.name_prefix, &mut w)?;
    let mut services = Map::new();
    for s in ordered(spec) {
        let mut v = service(spec, s, &mut w)?;
        let deps: Map<String, Value> = s
            .depends_on
            .iter()
            .map(|d| {
                let healthy = spec.service(&d.name).is_some_and(has_check);
                let condition = match d.condition {
                    Condition::Ready if healthy => "service_healthy",
                    Condition::Ready | Condition::Started => "service_started",
                    Condition::Completed => "service_completed_successfully",
                };
                (names[&d.name].clone(), json!({"condition": condition}))
            })
            .collect();
        if !deps.is_empty() {
            v["depends_on"] = Value::Object(deps);
        }
        if let Some(n) = counts.get(&s.name) {
            v["deploy"] = json!({"replicas": n});
        }
        services.insert(names[&s.name].clone(), v);
    }
    let mut doc = json!({"name": super::dns_label(&spec.project.name), "services": services});
    // A named volume (not a path) must be declared at the top level.
    let named: Map<String, Value> = spec
        .services
        .iter()
        .filter_map(|s| match &s.backend {
            Backend::Container(c) => Some(c.volumes.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|v| v.split_once(':').map(|(host, _)| host))
        .filter(|host| !host.starts_with('/'))
        .map(|host| (host.to_string(), json!({})))
        .collect();
    if !named.is_empty() {
        doc["volumes"] = Value::Object(named);
    }
    let text = yaml::to_string(&doc);
    Ok(Export {
        files: vec![File {
            name: FILE_NAME.into(),
            text: text.clone(),
        }],
        stream: text,
        warnings: w.0,
    })
}

/// Whether the service's readiness probe becomes a healthcheck.
fn has_check(s: &Service) -> bool {
    s.ready.as_ref().is_some_and(|p| {
        matches!(
            p.kind,
            ProbeKind::Tcp(_) | ProbeKind::Http { .. } | ProbeKind::Exec(_)
        )
    })
}

fn service(spec: &Spec, s: &Service, w: &mut Warnings) -> Result<Value, ExportError> {
    let name = &s.name;
    let mut v = json!({"image": image(spec, s)?});
    if !s.command.is_empty() {
        v["command"] = json!(s.command);
    }
    // A process service's argv names no entrypoint of the image: run it as is.
    if !matches!(s.backend, Backend::Container(_)) {
        v["entrypoint"] = json!([]);
    }
    if matches!(s.backend, Backend::Tmux) {
        w.service(
            name,
            "tmux: runs as the container's process; there is no session to attach to",
        );
    }
    if s.cwd != spec.dir {
        v["working_dir"] = json!(s.cwd.display().to_string());
    }
    if !s.env.is_empty() {
        v["environment"] = json!(s.env);
    }
    if !s.ports().is_empty() {
        v["ports"] = json!(s.ports());
    }
    if let Backend::Container(c) = &s.backend {
        if !c.volumes.is_empty() {
            v["volumes"] = json!(c.volumes);
        }
        if let Some(n) = &c.container_name {
            v["container_name"] = json!(n);
        }
    }
    v["restart"] = json!(match s.restart {
        RestartPolicy::No => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    });
    v["stop_signal"] = json!(format!("SIG{}", signal_name(s.stop_signal)));
    v["stop_grace_period"] = json!(format!("{}s", seconds(s.stop_timeout)));
    if let Some(p) = &s.ready {
        let test = match &p.kind {
            ProbeKind::Exec(argv) => Some(json!(["CMD"]
                .into_iter()
                .map(String::from)
                .chain(argv.iter().cloned())
                .collect::<Vec<_>>())),
            ProbeKind::Tcp(addr) => addr
                .rsplit_once(':')
                .map(|(h, port)| json!(["CMD-SHELL", format!("nc -w 1 {h} {port} </dev/null")])),
            ProbeKind::Http { url, .. } => {
                Some(json!(["CMD-SHELL", format!("wget -q -O /dev/null {url}")]))
            }
            _ => None,
        };
        match test {
            Some(test) => {
                v["healthcheck"] = json!({
                    "test": test,
                    "interval": format!("{}s", seconds(p.interval).max(1)),
                    "timeout": format!("{}s", seconds(p.timeout).max(1)),
                    "start_period": format!("{}s", seconds(p.deadline)),
                    "retries": 3,
                });
                if !matches!(p.kind, ProbeKind::Exec(_)) {
                    w.service(
                        name,
                        "ready: the healthcheck runs nc or wget, which the image must have",
                    );
                }
            }
            None => w.service(
                name,
                "ready: log, notify and unix probes have no healthcheck; left out",
            ),
        }
    }
    if s.live.is_some() {
        w.service(
            name,
            "live: compose restarts on exit only, not on a failed check; left out",
        );
    }
    resources(s, &mut v, w);
    match &s.autostart {
        Autostart::Always(true) => {}
        Autostart::Always(false) => v["profiles"] = json!(["manual"]),
        Autostart::Roles(roles) => v["profiles"] = json!(roles),
    }
    if !s.reload_on.is_empty() || s.reload_signal.is_some() {
        w.service(
            name,
            "reload_on, reload_signal: compose does not watch files; left out",
        );
    }
    if s.watch.is_some() {
        w.service(name, "watch: compose does not watch files; left out");
    }
    if s.schedule.is_some() {
        // Scheduled services are not started by `up`; nor by `compose up`.
        v["profiles"] = json!(["scheduled"]);
        w.service(
            name,
            "schedule: compose has no schedules; run it from cron with `compose run`",
        );
    }
    if s.storage.is_some() {
        w.service(
            name,
            "storage: no PROCTOR_STATE_DIR is made; mount a volume instead",
        );
    }
    Ok(v)
}

fn resources(s: &Service, v: &mut Value, w: &mut Warnings) {
    let id = &s.identity;
    match (&id.user, &id.group) {
        (Some(u), Some(g)) => v["user"] = json!(format!("{u}:{g}")),
        (Some(u), None) => v["user"] = json!(u),
        (None, Some(_)) => w.service(&s.name, "group without user: compose sets both or neither"),
        (None, None) => {}
    }
    if !id.supplementary_groups.is_empty() {
        v["group_add"] = json!(id.supplementary_groups);
    }
    if let Some(m) = id.memory_max {
        v["mem_limit"] = json!(m);
    }
    if let Some(pct) = id.cpu_max {
        v["cpus"] = json!(f64::from(pct) / 100.0);
    }
    if let Some(p) = id.pids_max {
        v["pids_limit"] = json!(p);
    }
    if !id.rlimits.is_empty() {
        let mut u = Map::new();
        for r in &id.rlimits {
            let n = |x: Option<u64>| x.map_or(json!(-1), |x| json!(x));
            u.insert(
                r.resource.to_string(),
                json!({"soft": n(r.soft), "hard": n(r.hard)}),
            );
        }
        v["ulimits"] = Value::Object(u);
    }
    for (key, set) in [
        ("umask", id.umask.is_some()),
        ("nice", id.nice.is_some()),
        ("io_weight", id.io_weight.is_some()),
        ("restart_on_memory", id.restart_on_memory.is_some()),
    ] {
        if set {
            w.service(
                &s.name,
                format!("{key}: compose has no such setting; left out"),
            );
        }
    }
}
