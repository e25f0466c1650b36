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

fn read(path: &Path) -> Result<(PathBuf, String), SpecErrors> {
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

/// The spec as read: the document after templates, replicas and interpolation, as TOML.
pub(super) fn resolved(path: &Path) -> Result<String, SpecErrors> {
    let (path, text) = read(path)?;
    // Refuse what `load` refuses: a resolved view of a broken spec would mislead.
    parse_str(&text, &path, &BTreeMap::new())?;
    let mut out = String::new();
    let mut ctx = Ctx::new(path.clone(), spec_dir(&path), &text);
    let (mut doc, _) = DeTable::parse_recoverable(&text);
    let doc = doc.get_mut();
    let vars = expand::variables(&mut ctx, doc);
    let mut top = toml::Table::new();
    if let Some(p) = doc.get_mut("project") {
        expand::interpolate_value(&mut ctx, p, &vars);
        top.insert("project".into(), plain(p.get_ref()));
    }
    if let Some(e) = doc.get_mut("export") {
        expand::interpolate_value(&mut ctx, e, &vars);
        top.insert("export".into(), plain(e.get_ref()));
    }
    let templates = expand::templates(&mut ctx, doc);
    let mut services = toml::Table::new();
    if let Some(DeValue::Table(t)) = doc.get("service").map(|v| v.get_ref()) {
        for unit in expand::units(&mut ctx, t, &templates, &vars, &BTreeMap::new()) {
            let mut table = plain(unit.table.get_ref());
            // `ports_from` is gone from the table: without replicas too, its PORT must stay.
            if let (true, toml::Value::Table(t)) =
                (unit.replica.is_some() || unit.port.is_some(), &mut table)
            {
                let env = t
                    .entry("env")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(env) = env {
                    if let Some(r) = &unit.replica {
                        env.insert("PROCTOR_INSTANCE".into(), r.index.to_string().into());
                        env.insert("PROCTOR_REPLICAS".into(), r.count.to_string().into());
                    }
                    if let Some(p) = unit.port {
                        env.entry("PORT").or_insert(p.to_string().into());
                    }
                }
            }
            services.insert(unit.key.get_ref().to_string(), table);
        }
    }
    depends_on_members(&mut services);
    top.insert("service".into(), toml::Value::Table(services));
    out.push_str(&format!(
        "# {} as proctor reads it: templates merged, replicas split, ${{VAR}} interpolated\n",
        path.display()
    ));
    out.push_str(&toml::to_string_pretty(&top).unwrap_or_default());
    Ok(out)
}

/// `depends_on` entries naming a replicated service name its replicas instead (as
/// [`groups_in_depends_on`] reads them), so the printed spec reads back the same.
fn depends_on_members(services: &mut toml::Table) {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in services.keys() {
        if let Some((group, i)) = name.rsplit_once('.') {
            if i.parse::<u32>().is_ok() && !services.contains_key(group) {
                groups
                    .entry(group.to_string())
                    .or_default()
                    .push(name.clone());
            }
        }
    }
    for (_, s) in services.iter_mut() {
        match s.get_mut("depends_on") {
            // A replica also listed on its own is named once, with its own condition.
            Some(toml::Value::Array(a)) => {
                let items = std::mem::take(a);
                for d in &items {
                    let Some(members) = d.as_str().and_then(|n| groups.get(n)) else {
                        a.push(d.clone());
                        continue;
                    };
                    for m in members {
                        let named = |o: &toml::Value| o.as_str() == Some(m.as_str());
                        if !items.iter().any(named) && !a.iter().any(named) {
                            a.push(m.as_str().into());
                        }
                    }
                }
            }
            Some(toml::Value::Table(t)) => {
                let items = std::mem::take(t);
                for (n, c) in &items {
                    match groups.get(n) {
                        Some(members) => {
                            for m in members.iter().filter(|m| !items.contains_key(m.as_str())) {
                                t.entry(m.clone()).or_insert_with(|| c.clone());
                            }
                        }
                        None => {
                            t.insert(n.clone(), c.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// `s` written so that reading it back interpolates to `s` again: a `$` that starts `$$`
/// or `${` is doubled (a bare `$VAR` is never interpolated, so it stays as it is).
fn escape_dollars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('$' | '{')) {
            out.push('$');
        }
    }
    out
}

/// A parsed value as a plain TOML value, its strings escaped to read back the same.
fn plain(v: &DeValue<'_>) -> toml::Value {
    match v {
        DeValue::String(s) => toml::Value::String(escape_dollars(s)),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(i.as_str().to_string())),
        DeValue::Float(f) => toml::Value::Float(match f.as_str() {
            "inf" | "+inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" | "+nan" | "-nan" => f64::NAN,
            other => other.replace('_', "").parse().unwrap_or(f64::NAN),
        }),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(a) => toml::Value::Array(a.iter().map(|v| plain(v.get_ref())).collect()),
        DeValue::Table(t) => toml::Value::Table(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), plain(v.get_ref())))
                .collect(),
        ),
    }
}

fn spec_dir(path: &Path) -> PathBuf {
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
