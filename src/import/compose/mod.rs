//! docker compose files (`docker-compose.yml`, `compose.yaml`): every service becomes a
//! container service; healthchecks become readiness probes run through the runtime.

use super::draft::{service_name, Draft, Svc, Val};
use super::node::Node;
use super::{compose_str, Cx, ImportError};

mod health;
#[cfg(test)]
mod tests;

pub(super) fn read(cx: &Cx, doc: &Node) -> Result<Draft, ImportError> {
    if !matches!(doc.get("services"), Some(Node::Map(m)) if !m.is_empty()) {
        return Err(cx.error(0, "no `services` map: nothing to import"));
    }
    let mut draft = Draft::default();
    let project = doc
        .get("name")
        .and_then(Node::scalar)
        .and_then(|n| service_name(&n))
        .or_else(|| {
            cx.out_dir
                .file_name()
                .and_then(|n| service_name(&n.to_string_lossy()))
        })
        .unwrap_or_else(|| "project".into());
    // Named, so the container names a healthcheck's probe execs into stay the same.
    draft
        .project
        .push(("name".into(), Val::str(project.clone())));
    for (k, v) in doc.entries() {
        match k.as_str() {
            "name" | "services" => {}
            "version" => draft.skip("version (obsolete in compose too)"),
            "volumes" | "networks" | "secrets" | "configs" => {
                let names: Vec<&str> = v.entries().iter().map(|(n, _)| n.as_str()).collect();
                let why = if k == "volumes" {
                    "the runtime creates a named volume on first use, with its defaults"
                } else {
                    "proctor has no equivalent"
                };
                draft.skip(format!("top-level {k} {} ({why})", names.join(", ")));
            }
            x if x.starts_with("x-") => {
                draft.skip(format!(
                    "{x} (an extension field: only where its anchors are used)"
                ));
            }
            other => draft.skip(format!("top-level {other} (no proctor equivalent)")),
        }
    }
    let mut roles: Vec<String> = Vec::new();
    for (name, def) in doc.get("services").map(Node::entries).unwrap_or_default() {
        let Some(svc_name) = service_name(name) else {
            draft.skip(format!("service {name:?} (not usable as a service name)"));
            continue;
        };
        let mut svc = Svc::new(svc_name);
        service(cx, &project, def, &mut svc, &mut roles);
        draft.services.push(svc);
    }
    if !roles.is_empty() {
        draft.project.push(("roles".into(), Val::strs(roles)));
    }
    Ok(draft)
}

fn service(cx: &Cx, project: &str, def: &Node, svc: &mut Svc, roles: &mut Vec<String>) {
    svc.set("backend", Val::str("container"));
    let image = match (def.get("image").and_then(Node::scalar), def.get("build")) {
        (Some(image), build) => {
            if build.is_some() {
                svc.skip(format!(
                    "build (proctor runs images, it does not build them: build {image} first)"
                ));
            }
            image
        }
        (None, Some(_)) => {
            let image = format!("{project}-{}", svc.name);
            svc.skip(format!(
                "build (proctor does not build images: `docker compose build` tags it {image}, which is used here)"
            ));
            image
        }
        (None, None) => {
            svc.skip("no `image` or `build`: set `image`".to_string());
            "REPLACE-ME".into()
        }
    };
    svc.set("image", Val::str(compose_str(&image)));
    for (k, v) in def.entries() {
        match k.as_str() {
            "image" | "build" => {}
            "command" => command(v, svc),
            "environment" => environment(v, svc),
            "env_file" => env_file(cx, v, svc),
            "depends_on" => depends_on(v, svc),
            "healthcheck" => health::healthcheck(project, def, v, svc),
            "ports" => ports(v, svc),
            "volumes" => volumes(cx, v, svc),
            "restart" => restart(v, svc),
            "container_name" => {
                if let Some(n) = v.scalar() {
                    svc.set("container_name", Val::str(compose_str(&n)));
                }
            }
            "stop_signal" => match v.scalar() {
                Some(s) if crate::spec::signal_from_str(&s).is_some() => {
                    svc.set("stop_signal", Val::str(s));
                }
                _ => svc.skip(format!("stop_signal {v:?} (not a signal proctor knows)")),
            },
            "stop_grace_period" => {
                match v.scalar().filter(|s| humantime::parse_duration(s).is_ok()) {
                    Some(d) => svc.set("stop_timeout", Val::str(d)),
                    None => svc.skip(format!("stop_grace_period {v:?} (not a duration)")),
                }
            }
            "profiles" => {
                let names = v.strings().unwrap_or_default();
                for r in &names {
                    if !roles.contains(r) {
                        roles.push(r.clone());
                    }
                }
                svc.comments
                    .push("compose profiles are proctor roles: `proctor up --role NAME`".into());
                svc.set("autostart", Val::strs(names));
            }
            "scale" => replicas(v, svc),
            "deploy" => deploy(v, svc),
            "entrypoint" => svc.skip(format!(
                "entrypoint {} (proctor passes `command` to the image's own entrypoint)",
                v.strings().unwrap_or_default().join(" ")
            )),
            other => svc.skip(format!("{other} (no proctor equivalent)")),
        }
    }
    if !svc.has("restart") {
        // compose's default; proctor's own is on-failure.
        svc.set("restart", Val::str("no"));
    }
}

fn command(v: &Node, svc: &mut Svc) {
    let argv = match v {
        Node::Str(s) => match shell_words::split(s) {
            Ok(w) => w,
            Err(e) => {
                svc.skip(format!("command {s:?} (cannot be split into words: {e})"));
                return;
            }
        },
        other => match other.strings() {
            Some(w) => w,
            None => {
                svc.skip(format!(
                    "command (expected a string or a list, got {})",
                    other.kind()
                ));
                return;
            }
        },
    };
    svc.set("command", Val::strs(argv.iter().map(|a| compose_str(a))));
}

fn environment(v: &Node, svc: &mut Svc) {
    let mut env: Vec<(String, Val)> = Vec::new();
    let mut passed = Vec::new();
    let mut put = |k: String, val: Option<String>| match val {
        Some(val) => env.push((k, Val::str(compose_str(&val)))),
        None => passed.push(k),
    };
    match v {
        Node::Map(entries) => {
            for (k, val) in entries {
                put(k.clone(), val.scalar());
            }
        }
        Node::Seq(items) => {
            for item in items {
                let Some(s) = item.scalar() else { continue };
                match s.split_once('=') {
                    Some((k, val)) => put(k.to_string(), Some(val.to_string())),
                    None => put(s, None),
                }
            }
        }
        other => svc.skip(format!(
            "environment (expected a map or a list, got {})",
            other.kind()
        )),
    }
    if !passed.is_empty() {
        svc.skip(format!(
            "environment {} (taken from the host's environment by compose; set them in env)",
            passed.join(", ")
        ));
    }
    if !env.is_empty() {
        svc.set("env", Val::Table(env));
    }
}

fn env_file(cx: &Cx, v: &Node, svc: &mut Svc) {
    let items: Vec<(String, bool)> = match v {
        Node::Seq(items) => items
            .iter()
            .filter_map(|i| match i {
                Node::Map(_) => Some((
                    i.get("path").and_then(Node::scalar)?,
                    !matches!(i.get("required"), Some(Node::Bool(false))),
                )),
                other => other.scalar().map(|p| (p, true)),
            })
            .collect(),
        other => other.scalar().map(|p| vec![(p, true)]).unwrap_or_default(),
    };
    let mut files = Vec::new();
    for (path, required) in items {
        let full = cx.resolve(&path);
        if !full.is_file() {
            let why = if required {
                "missing"
            } else {
                "optional, and missing"
            };
            svc.skip(format!(
                "env_file {path} ({why}: proctor reads every env_file it names)"
            ));
            continue;
        }
        if let Err(e) =
            dotenvy::from_path_iter(&full).and_then(|i| i.collect::<Result<Vec<_>, _>>())
        {
            svc.skip(format!("env_file {path} (proctor cannot read it: {e})"));
            continue;
        }
        files.push(cx.rebase(&path));
    }
    if !files.is_empty() {
        svc.set("env_file", Val::strs(files));
    }
}

fn depends_on(v: &Node, svc: &mut Svc) {
    let mut deps: Vec<(String, Val)> = Vec::new();
    let mut add = |name: &str, cond: &'static str| {
        if let Some(n) = service_name(name) {
            deps.push((n, Val::str(cond)));
        }
    };
    match v {
        Node::Seq(items) => {
            for name in items.iter().filter_map(Node::scalar) {
                add(&name, "started");
            }
        }
        Node::Map(entries) => {
            for (name, spec) in entries {
                let cond = spec.get("condition").and_then(Node::scalar);
                let cond = match cond.as_deref() {
                    None | Some("service_started") => "started",
                    Some("service_healthy") => "ready",
                    Some("service_completed_successfully") => "completed",
                    Some(other) => {
                        svc.skip(format!(
                            "depends_on {name}: condition {other:?} (read as service_started)"
                        ));
                        "started"
                    }
                };
                add(name, cond);
                if matches!(spec.get("restart"), Some(Node::Bool(true))) {
                    svc.skip(format!(
                        "depends_on {name}: restart: true (proctor does not restart dependents)"
                    ));
                }
                if matches!(spec.get("required"), Some(Node::Bool(false))) {
                    svc.skip(format!(
                        "depends_on {name}: required: false (proctor requires it)"
                    ));
                }
            }
        }
        other => svc.skip(format!(
            "depends_on (expected a list or a map, got {})",
            other.kind()
        )),
    }
    if !deps.is_empty() {
        svc.set("depends_on", Val::Table(deps));
    }
}

fn ports(v: &Node, svc: &mut Svc) {
    let mut out = Vec::new();
    for item in match v {
        Node::Seq(items) => items.as_slice(),
        _ => std::slice::from_ref(v),
    } {
        match item {
            Node::Map(_) => {
                let Some(target) = item.get("target").and_then(Node::scalar) else {
                    svc.skip("a port without `target`");
                    continue;
                };
                let mut s = String::new();
                if let Some(ip) = item.get("host_ip").and_then(Node::scalar) {
                    s.push_str(&ip);
                    s.push(':');
                }
                if let Some(p) = item.get("published").and_then(Node::scalar) {
                    s.push_str(&p);
                    s.push(':');
                }
                s.push_str(&target);
                if let Some(proto) = item.get("protocol").and_then(Node::scalar) {
                    s.push('/');
                    s.push_str(&proto);
                }
                out.push(s);
            }
            other => match other.scalar() {
                Some(s) => out.push(s),
                None => svc.skip(format!("a port ({})", other.kind())),
            },
        }
    }
    if !out.is_empty() {
        svc.set("ports", Val::strs(out.iter().map(|p| compose_str(p))));
    }
}

fn volumes(cx: &Cx, v: &Node, svc: &mut Svc) {
    let mut out = Vec::new();
    for item in v.as_seq() {
        let (source, rest) = match item {
            Node::Map(_) => {
                let kind = item.get("type").and_then(Node::scalar).unwrap_or_default();
                let source = item.get("source").and_then(Node::scalar);
                let target = item.get("target").and_then(Node::scalar);
                match (kind.as_str(), source, target) {
                    ("bind" | "volume", Some(s), Some(t)) => {
                        let ro = matches!(item.get("read_only"), Some(Node::Bool(true)));
                        (s, if ro { format!("{t}:ro") } else { t })
                    }
                    _ => {
                        svc.skip(format!(
                            "volume {} (only bind mounts and named volumes with a source)",
                            brief(item)
                        ));
                        continue;
                    }
                }
            }
            other => {
                let Some(s) = other.scalar() else { continue };
                match s.split_once(':') {
                    Some((h, r)) if !h.is_empty() && !r.is_empty() => {
                        (h.to_string(), r.to_string())
                    }
                    _ => {
                        svc.skip(format!(
                            "volume {s:?} (an anonymous volume: proctor needs host:container)"
                        ));
                        continue;
                    }
                }
            }
        };
        let source = if source.starts_with('.') {
            cx.rebase(&source)
        } else {
            source
        };
        out.push(format!("{source}:{rest}"));
    }
    if !out.is_empty() {
        svc.set("volumes", Val::strs(out.iter().map(|v| compose_str(v))));
    }
}

fn brief(v: &Node) -> String {
    let keys: Vec<String> = v
        .entries()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.scalar().unwrap_or_default()))
        .collect();
    format!("{{{}}}", keys.join(", "))
}

fn restart(v: &Node, svc: &mut Svc) {
    let s = v.scalar().unwrap_or_default();
    let policy = match s.as_str() {
        "no" | "false" => "no",
        "always" => "always",
        "unless-stopped" => "always",
        p if p == "on-failure" || p.starts_with("on-failure:") => {
            if let Some(n) = p.strip_prefix("on-failure:") {
                svc.skip(format!("restart on-failure:{n} (proctor's start_limit bounds restarts per interval instead)"));
            }
            "on-failure"
        }
        other => {
            svc.skip(format!("restart {other:?} (unknown policy)"));
            return;
        }
    };
    svc.set("restart", Val::str(policy));
}

fn replicas(v: &Node, svc: &mut Svc) {
    match v {
        Node::Int(n) if *n >= 0 => svc.replicas = u32::try_from(*n).ok(),
        other => svc.skip(format!(
            "replicas {} (not a count)",
            other.scalar().unwrap_or_default()
        )),
    }
}

fn deploy(v: &Node, svc: &mut Svc) {
    for (k, val) in v.entries() {
        match k.as_str() {
            "replicas" => replicas(val, svc),
            other => svc.skip(format!(
                "deploy.{other} (swarm and resource settings are not imported)"
            )),
        }
    }
}

impl Node {
    /// A list's items, or this value alone.
    fn as_seq(&self) -> &[Node] {
        match self {
            Node::Seq(items) => items,
            other => std::slice::from_ref(other),
        }
    }
}
