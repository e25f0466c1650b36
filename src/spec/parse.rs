//! Parsing of `proctor.toml`: the document and the `[project]` table.
//!
//! The file is parsed once into spanned values so that every error, including those found
//! after parsing (unknown dependency, cycle, unknown role), names `file:line:col`.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::service;
use super::validate;
use super::values::{Ctx, Value};
use super::{BackendKind, Project, Runtime, Spec, SpecError, SpecErrors};

const TOP_KEYS: &[&str] = &["project", "service"];
const PROJECT_KEYS: &[&str] = &[
    "name",
    "state_dir",
    "roles",
    "backend",
    "tmux_binary",
    "container_runtime",
    "containment",
    "metrics",
];

pub(super) fn load(path: &Path) -> Result<Spec, SpecErrors> {
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
    parse_str(&text, &path)
}

pub(super) fn parse_str(text: &str, path: &Path) -> Result<Spec, SpecErrors> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let mut ctx = Ctx::new(path.to_path_buf(), dir, text);

    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            let message = format!("invalid TOML: {}", e.message().trim());
            ctx.error(span, message);
        }
        return Err(SpecErrors(ctx.errors));
    }
    let doc = doc.get_ref();
    ctx.check_keys(doc, TOP_KEYS, "the top level");

    let project = match doc.get("project") {
        Some(v) => project(&mut ctx, v),
        None => default_project(&ctx.dir),
    };

    let mut services = Vec::new();
    let mut written = Vec::new();
    match doc.get("service") {
        Some(v) => {
            if let Some(table) = ctx.table("service", v) {
                for (key, value) in table.iter() {
                    if let Some((s, w)) = service::parse(&mut ctx, &project, key, value) {
                        services.push(s);
                        written.push(w);
                    }
                }
            }
        }
        None => ctx.error_help(
            0..0,
            "no services declared",
            Some("add one: [service.web] with command = [\"…\"]"),
        ),
    }

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
        })
    } else {
        ctx.errors.sort_by_key(|e| (e.line, e.col));
        Err(SpecErrors(ctx.errors))
    }
}

fn default_project(dir: &Path) -> Project {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A directory name may hold characters that names may not; keep it usable.
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(['.', '-'])
        .chars()
        .take(64)
        .collect();
    if name.is_empty() {
        name = "project".into();
    }
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
