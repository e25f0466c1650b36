//! Parsing of one `[service.NAME]` table.

use toml::de::{DeString, DeValue};
use toml::Spanned;

use super::locate::Written;
use super::parse::backend_kind;
use super::probe;
use super::sections::{container, logs, storage};
use super::values::{Ctx, Value};
use super::{
    Autostart, Backend, BackendKind, Backoff, Condition, Dependency, Project, RestartPolicy,
    Service, StartLimit,
};

const SERVICE_KEYS: &[&str] = &[
    "command",
    "shell",
    "cwd",
    "env",
    "env_file",
    "autostart",
    "restart",
    "backoff",
    "start_limit",
    "stop_signal",
    "stop_timeout",
    "ready",
    "live",
    "depends_on",
    "logs",
    "storage",
    "backend",
    "image",
    "volumes",
    "ports",
    "runtime",
    "container_name",
    "reload_on",
    "reload_signal",
    "user",
    "group",
    "supplementary_groups",
    "umask",
    "nice",
    "rlimits",
    "memory_max",
    "cpu_max",
    "pids_max",
    "io_weight",
    "restart_on_memory",
    "watch",
    "schedule",
    "overlap",
    "extends",
    "replicas",
    "ports_from",
];
// `image` and `ports` are read for export on every service (spec/export.rs).
const CONTAINER_KEYS: &[&str] = &["volumes", "runtime", "container_name"];

/// Reads the table `key = v` into a service; what is wrong with its values is left to
/// [`Service::validate`], placed by the [`Written`] returned with it.
pub(super) fn parse<'a, 'i>(
    ctx: &mut Ctx<'_>,
    project: &Project,
    key: &'a Spanned<DeString<'i>>,
    v: &'a Value<'i>,
) -> Option<(Service, Written<'a, 'i>)> {
    let name = key.get_ref().to_string();
    let mut written = Written::new(key, v, ctx.errors.len());
    let table = ctx.table(&format!("service.{name}"), v)?;
    ctx.check_keys(table, SERVICE_KEYS, &format!("[service.{name}]"));
    let mut s = Service::new(name.clone(), Vec::new(), ctx.dir.clone());

    let kind = match table.get("backend") {
        Some(v) => backend_kind(ctx, v).unwrap_or(project.backend),
        None => project.backend,
    };
    if kind != BackendKind::Container {
        for k in CONTAINER_KEYS {
            if let Some((key, _)) = table.get_key_value(*k) {
                ctx.error_help(
                    key.span(),
                    format!("`{k}` applies only to container services"),
                    Some("add backend = \"container\" to this service"),
                );
            }
        }
    }
    if kind != BackendKind::Container {
        s.export = super::export::service(ctx, table);
    }
    s.backend = match kind {
        BackendKind::Process => Backend::Process,
        BackendKind::Tmux => Backend::Tmux,
        BackendKind::Container => {
            Backend::Container(container(ctx, project, table, v, &mut written))
        }
    };

    let shell = match table.get("shell") {
        Some(v) => ctx.bool("shell", v).unwrap_or(false),
        None => false,
    };
    match table.get("command") {
        Some(v) => s.command = command(ctx, v, shell),
        None if kind == BackendKind::Container => {}
        None => {
            ctx.error_help(
                key.span(),
                format!("service `{name}` has no `command`"),
                Some("add command = [\"program\", \"arg\"]"),
            );
            written.settled("command");
        }
    }
    match table.get("cwd") {
        Some(v) => s.cwd = ctx.path("cwd", v).unwrap_or(s.cwd),
        // The spec's own directory: it exists when the spec is read from a file.
        None => written.settled("cwd"),
    }
    if let Some(v) = table.get("env_file") {
        env_files(ctx, v, &mut s);
    }
    if let Some(v) = table.get("env") {
        env(ctx, v, &mut s);
    }
    if let Some(v) = table.get("autostart") {
        s.autostart = autostart(ctx, v);
    }
    if let Some(v) = table.get("restart") {
        s.restart = restart(ctx, v).unwrap_or(s.restart);
    }
    if let Some(v) = table.get("backoff") {
        s.backoff = backoff(ctx, v);
    }
    if let Some(v) = table.get("start_limit") {
        s.start_limit = start_limit(ctx, v);
    }
    if let Some(v) = table.get("stop_signal") {
        s.stop_signal = ctx.signal("stop_signal", v).unwrap_or(s.stop_signal);
    }
    if let Some(v) = table.get("stop_timeout") {
        s.stop_timeout = ctx.duration("stop_timeout", v).unwrap_or(s.stop_timeout);
    }
    if let Some(v) = table.get("ready") {
        s.ready = probe::parse(ctx, "ready", v, true);
    }
    if let Some(v) = table.get("live") {
        s.live = probe::parse(ctx, "live", v, false);
    }
    if let Some(v) = table.get("depends_on") {
        s.depends_on = depends_on(ctx, v);
    }
    if let Some(v) = table.get("logs") {
        s.logs = logs(ctx, v);
    }
    if let Some(v) = table.get("storage") {
        s.storage = storage(ctx, v);
    }
    s.identity = super::identity::parse(ctx, table);
    if let Some(v) = table.get("reload_on") {
        s.reload_on = reload_on(ctx, v);
    }
    if let Some(v) = table.get("reload_signal") {
        s.reload_signal = ctx.signal("reload_signal", v);
    }
    if let Some(v) = table.get("watch") {
        s.watch = super::watch::parse(ctx, v, &s.cwd);
    }
    s.schedule = super::schedule::parse(ctx, table);
    written.parsed(ctx);
    Some((s, written))
}

fn command(ctx: &mut Ctx<'_>, v: &Value<'_>, shell: bool) -> Vec<String> {
    match v.get_ref() {
        DeValue::String(s) if shell => vec!["sh".into(), "-c".into(), s.to_string()],
        DeValue::String(s) => match shell_words::split(s) {
            Ok(words) => words,
            Err(e) => {
                ctx.error_help(
                    v.span(),
                    format!("`command` cannot be split into words: {e}"),
                    Some("close the quote, or write the command as an array"),
                );
                Vec::new()
            }
        },
        DeValue::Array(_) if shell => {
            ctx.error(v.span(), "`shell = true` needs `command` to be a string");
            Vec::new()
        }
        DeValue::Array(_) => ctx.strings("command", v).unwrap_or_default(),
        _ => {
            ctx.expected("command", v, "an array of strings or a string");
            Vec::new()
        }
    }
}

fn reload_on(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Vec<std::path::PathBuf> {
    let items: Vec<&Value<'_>> = match v.get_ref() {
        DeValue::String(_) => vec![v],
        DeValue::Array(a) => a.iter().collect(),
        _ => {
            ctx.expected("reload_on", v, "a path or an array of paths");
            return Vec::new();
        }
    };
    items
        .into_iter()
        .filter_map(|item| ctx.path("reload_on", item))
        .collect()
}

fn env_files(ctx: &mut Ctx<'_>, v: &Value<'_>, s: &mut Service) {
    let items: Vec<&Value<'_>> = match v.get_ref() {
        DeValue::String(_) => vec![v],
        DeValue::Array(a) => a.iter().collect(),
        _ => {
            ctx.expected("env_file", v, "a path or an array of paths");
            return;
        }
    };
    for item in items {
        let Some(path) = ctx.path("env_file", item) else {
            continue;
        };
        match dotenvy::from_path_iter(&path) {
            Ok(iter) => {
                for pair in iter {
                    match pair {
                        Ok((k, val)) => {
                            s.env.insert(k, val);
                        }
                        Err(e) => {
                            ctx.error(
                                item.span(),
                                format!("env file {} is malformed: {e}", path.display()),
                            );
                            break;
                        }
                    }
                }
            }
            Err(e) => ctx.error(
                item.span(),
                format!("cannot read env file {}: {e}", path.display()),
            ),
        }
    }
}

fn env(ctx: &mut Ctx<'_>, v: &Value<'_>, s: &mut Service) {
    let Some(table) = ctx.table("env", v) else {
        return;
    };
    for (k, val) in table.iter() {
        let key = k.get_ref().to_string();
        let text = match val.get_ref() {
            DeValue::String(x) => x.to_string(),
            DeValue::Integer(i) => i.to_string(),
            DeValue::Float(f) => f.as_str().to_string(),
            DeValue::Boolean(b) => b.to_string(),
            _ => {
                ctx.expected(&format!("env.{key}"), val, "a string, number or boolean");
                continue;
            }
        };
        s.env.insert(key, text);
    }
}

fn autostart(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Autostart {
    match v.get_ref() {
        DeValue::Boolean(b) => Autostart::Always(*b),
        DeValue::Array(items) => {
            let mut roles = Vec::new();
            for item in items.iter() {
                if let Some(r) = ctx.string("autostart[…]", item) {
                    roles.push(r);
                }
            }
            Autostart::Roles(roles)
        }
        _ => {
            ctx.expected("autostart", v, "true, false or an array of roles");
            Autostart::Always(true)
        }
    }
}

fn restart(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<RestartPolicy> {
    let s = ctx.string("restart", v)?;
    match s.as_str() {
        "no" => Some(RestartPolicy::No),
        "on-failure" => Some(RestartPolicy::OnFailure),
        "always" => Some(RestartPolicy::Always),
        other => {
            ctx.error(
                v.span(),
                format!("unknown restart policy {other:?}: expected \"no\", \"on-failure\" or \"always\""),
            );
            None
        }
    }
}

fn backoff(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Backoff {
    let mut b = Backoff::default();
    let Some(t) = ctx.table("backoff", v) else {
        return b;
    };
    ctx.check_keys(t, &["initial", "max", "factor"], "`backoff`");
    if let Some(v) = t.get("initial") {
        b.initial = ctx.duration("initial", v).unwrap_or(b.initial);
    }
    if let Some(v) = t.get("max") {
        b.max = ctx.duration("max", v).unwrap_or(b.max);
    }
    if let Some(v) = t.get("factor") {
        b.factor = ctx.float("factor", v).unwrap_or(b.factor);
    }
    b
}

fn start_limit(ctx: &mut Ctx<'_>, v: &Value<'_>) -> StartLimit {
    let mut l = StartLimit::default();
    let Some(t) = ctx.table("start_limit", v) else {
        return l;
    };
    ctx.check_keys(t, &["burst", "interval"], "`start_limit`");
    if let Some(v) = t.get("burst") {
        l.burst = ctx.count("burst", v).unwrap_or(l.burst);
    }
    if let Some(v) = t.get("interval") {
        l.interval = ctx.duration("interval", v).unwrap_or(l.interval);
    }
    l
}

fn depends_on(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Vec<Dependency> {
    let mut deps: Vec<Dependency> = Vec::new();
    match v.get_ref() {
        DeValue::Array(items) => {
            for item in items.iter() {
                if let Some(name) = ctx.string("depends_on[…]", item) {
                    deps.push(Dependency {
                        name,
                        condition: Condition::Ready,
                    });
                }
            }
        }
        DeValue::Table(t) => {
            for (k, c) in t.iter() {
                let Some(cond) = ctx.string(k.get_ref(), c) else {
                    continue;
                };
                let condition = match cond.as_str() {
                    "started" => Condition::Started,
                    "ready" => Condition::Ready,
                    "completed" => Condition::Completed,
                    other => {
                        ctx.error(
                            c.span(),
                            format!("unknown condition {other:?}: expected \"started\", \"ready\" or \"completed\""),
                        );
                        continue;
                    }
                };
                deps.push(Dependency {
                    name: k.get_ref().to_string(),
                    condition,
                });
            }
        }
        _ => ctx.expected(
            "depends_on",
            v,
            "an array of service names or a table of name = condition",
        ),
    }
    deps
}
