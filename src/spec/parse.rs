//! Parsing of `proctor.toml`: the document and the `[project]` table.
//!
//! The file is parsed once into spanned values so that every error, including those found
//! after parsing (unknown dependency, cycle, unknown role), names `file:line:col`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::expand;
use super::service;
use super::validate;
use super::values::{Ctx, Value};
use super::{BackendKind, Project, Runtime, Spec, SpecError, SpecErrors};

const TOP_KEYS: &[&str] = &["project", "service", "template", "export"];
const PROJECT_KEYS: &[&str] = &[
    "name",
    "state_dir",
    "roles",
    "backend",
    "tmux_binary",
    "container_runtime",
    "containment",
    "env_file",
    "metrics",
];

pub(super) fn read(path: &Path) -> Result<(PathBuf, String), SpecErrors> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SpecErrors(vec![SpecError {
            file: path.clone(),
            line: 0,
            col: 0,
            message: format!("cannot read the spec: {e}"),
            help: (e.kind() == std::io::ErrorKind::NotFound)
                .then(|| "create it, or point at another file with --file".into()),
        }])
    })?;
    Ok((path, text))
}

pub(super) fn load(path: &Path, replicas: &BTreeMap<String, u32>) -> Result<Spec, SpecErrors> {
    let (path, text) = read(path)?;
    parse_str(&text, &path, replicas)
}

pub(super) fn spec_dir(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    std::path::absolute(&dir).unwrap_or(dir)
}

pub(super) fn parse_str(
    text: &str,
    path: &Path,
    replicas: &BTreeMap<String, u32>,
) -> Result<Spec, SpecErrors> {
    let dir = spec_dir(path);
    let mut ctx = Ctx::new(path.to_path_buf(), dir, text);

    let (mut doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            let message = format!("invalid TOML: {}", e.message().trim());
            ctx.error(span, message);
        }
        return Err(SpecErrors(ctx.errors));
    }
    let doc = doc.get_mut();
    ctx.check_keys(doc, TOP_KEYS, "the top level");
    let vars = expand::variables(&mut ctx, doc);

    let project = match doc.get_mut("project") {
        Some(v) => {
            expand::interpolate_value(&mut ctx, v, &vars);
            project(&mut ctx, v)
        }
        None => default_project(&ctx.dir),
    };
    let templates = expand::templates(&mut ctx, doc);

    let export = match doc.get_mut("export") {
        Some(v) => {
            expand::interpolate_value(&mut ctx, v, &vars);
            super::export::settings(&mut ctx, v)
        }
        None => super::ExportSettings::default(),
    };

    let mut services = Vec::new();
    let mut written = Vec::new();
    let units = match doc.get("service") {
        Some(v) => match ctx.table("service", v) {
            Some(table) => expand::units(&mut ctx, table, &templates, &vars, replicas),
            None => Vec::new(),
        },
        None => {
            ctx.error_help(
                0..0,
                "no services declared",
                Some("add one: [service.web] with command = [\"…\"]"),
            );
            Vec::new()
        }
    };
    for unit in &units {
        if let Some((mut s, w)) = service::parse(&mut ctx, &project, &unit.key, &unit.table) {
            if let Some(r) = &unit.replica {
                s.env.insert("PROCTOR_INSTANCE".into(), r.index.to_string());
                s.env.insert("PROCTOR_REPLICAS".into(), r.count.to_string());
            }
            if let Some(p) = unit.port {
                s.env.entry("PORT".into()).or_insert_with(|| p.to_string());
            }
            s.replica = unit.replica.clone();
            if services
                .iter()
                .any(|o: &crate::spec::Service| o.name == s.name)
            {
                ctx.error_help(
                    unit.key.span(),
                    format!("service `{}` is declared twice", s.name),
                    unit.replica.as_ref().map(|r| {
                        format!(
                            "`{}` is a replica of `{}`; rename one of them",
                            s.name, r.group
                        )
                    }),
                );
            }
            services.push(s);
            written.push(w);
        }
    }
    groups_in_depends_on(&mut services);

    // The rules every service follows however it was made, placed at what they name.
    for (i, problem) in validate::problems(&project, &services) {
        written[i].report(&mut ctx, problem);
    }

    if ctx.errors.is_empty() {
        Ok(Spec {
            path: ctx.file,
            dir: ctx.dir,
            project,
            services,
            export,
        })
    } else {
        ctx.errors.sort_by_key(|e| (e.line, e.col));
        // The replicas of one table share its mistakes: say each once.
        ctx.errors.dedup();
        Err(SpecErrors(ctx.errors))
    }
}

/// A `depends_on` entry naming a `replicas = N` service depends on each replica: the
/// entry becomes the first, the others are added at the end (so entries keep their index,
/// which is how their errors find their place).
fn groups_in_depends_on(services: &mut [crate::spec::Service]) {
    let groups: BTreeMap<String, Vec<String>> =
        services.iter().fold(BTreeMap::new(), |mut m, s| {
            if let Some(r) = &s.replica {
                m.entry(r.group.clone())
                    .or_insert_with(Vec::new)
                    .push(s.name.clone());
            }
            m
        });
    if groups.is_empty() {
        return;
    }
    for s in services.iter_mut() {
        let mut extra: Vec<crate::spec::Dependency> = Vec::new();
        for k in 0..s.depends_on.len() {
            let d = &s.depends_on[k];
            if services_named(&groups, &d.name) {
                continue;
            }
            let Some(members) = groups.get(&d.name) else {
                continue;
            };
            // A replica listed on its own keeps its own entry (and condition); a name
            // listed twice is still reported as such.
            let listed = |m: &String| {
                s.depends_on.iter().any(|o| &o.name == m) || extra.iter().any(|o| &o.name == m)
            };
            let mut todo: Vec<&String> = members.iter().filter(|m| !listed(m)).collect();
            if todo.is_empty() {
                todo.push(&members[0]);
            }
            let condition = d.condition;
            let first = todo[0].clone();
            extra.extend(todo[1..].iter().map(|m| crate::spec::Dependency {
                name: (*m).clone(),
                condition,
            }));
            s.depends_on[k].name = first;
        }
        s.depends_on.extend(extra);
    }
}

/// Whether `name` is a replica's own name (then it names that one service).
fn services_named(groups: &BTreeMap<String, Vec<String>>, name: &str) -> bool {
    groups.values().any(|m| m.iter().any(|n| n == name))
}

fn default_project(dir: &Path) -> Project {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A directory name may hold characters that names may not; keep it usable.
    let name = super::usable_name(&base).unwrap_or_else(|| "project".into());
    Project {
        name,
        state_dir: None,
        roles: Vec::new(),
        backend: BackendKind::Process,
        tmux_binary: None,
        container_runtime: None,
        containment: super::Containment::Auto,
        metrics: None,
    }
}

fn project(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Project {
    let mut p = default_project(&ctx.dir);
    let Some(table) = ctx.table("project", v) else {
        return p;
    };
    ctx.check_keys(table, PROJECT_KEYS, "[project]");
    if let Some(v) = table.get("name") {
        if let Some(name) = ctx.string("name", v) {
            match super::check_name(&name) {
                Ok(()) => p.name = name,
                Err(why) => ctx.error(v.span(), format!("project name {name:?} {why}")),
            }
        }
    }
    if let Some(v) = table.get("state_dir") {
        p.state_dir = ctx.path("state_dir", v);
    }
    if let Some(v) = table.get("roles") {
        if let Some(roles) = ctx.strings("roles", v) {
            for (i, role) in roles.iter().enumerate() {
                if let Err(why) = super::check_name(role) {
                    ctx.error(v.span(), format!("role {role:?} {why}"));
                } else if roles[..i].contains(role) {
                    ctx.error(v.span(), format!("role {role:?} is listed twice"));
                }
            }
            p.roles = roles;
        }
    }
    if let Some(v) = table.get("backend") {
        if let Some(kind) = backend_kind(ctx, v) {
            p.backend = kind;
        }
    }
    if let Some(v) = table.get("tmux_binary") {
        p.tmux_binary = ctx.nonempty("tmux_binary", v);
    }
    if let Some(v) = table.get("container_runtime") {
        p.container_runtime = runtime(ctx, "container_runtime", v);
    }
    if let Some(v) = table.get("containment") {
        use super::Containment as C;
        let choices = [C::Auto, C::Cgroup, C::Subreaper, C::ProcessGroup];
        if let Some(s) = ctx.string("containment", v) {
            match choices.iter().find(|c| c.as_str() == s) {
                Some(c) => p.containment = *c,
                None => ctx.error(
                    v.span(),
                    format!("unknown containment {s:?}: expected \"auto\", \"cgroup\", \"subreaper\" or \"process-group\""),
                ),
            }
        }
    }
    if let Some(v) = table.get("metrics") {
        p.metrics = metrics_addr(ctx, v);
    }
    p
}

/// `metrics = "HOST:PORT"`: where the supervisor serves Prometheus metrics.
fn metrics_addr(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<std::net::SocketAddr> {
    let s = ctx.string("metrics", v)?;
    match s.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            ctx.error_help(
                v.span(),
                format!("metrics address {s:?} is not an IP address and port"),
                Some("write it as \"127.0.0.1:9464\" or \"[::1]:9464\""),
            );
            None
        }
    }
}

/// `backend = "process" | "tmux" | "container"`.
pub(super) fn backend_kind(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<BackendKind> {
    match v.get_ref() {
        DeValue::String(s) => match s.as_ref() {
            "process" => Some(BackendKind::Process),
            "tmux" => Some(BackendKind::Tmux),
            "container" => Some(BackendKind::Container),
            other => {
                ctx.error(
                    v.span(),
                    format!("unknown backend {other:?}: expected \"process\", \"tmux\" or \"container\""),
                );
                None
            }
        },
        _ => {
            ctx.expected("backend", v, "\"process\", \"tmux\" or \"container\"");
            None
        }
    }
}

/// `runtime = "podman" | "docker"`.
pub(super) fn runtime(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<Runtime> {
    let s = ctx.string(key, v)?;
    match s.as_str() {
        "podman" => Some(Runtime::Podman),
        "docker" => Some(Runtime::Docker),
        other => {
            ctx.error(
                v.span(),
                format!("unknown container runtime {other:?}: expected \"podman\" or \"docker\""),
            );
            None
        }
    }
}
