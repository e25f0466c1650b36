//! Parsing of a service's `logs`, `storage` and container tables.

use toml::de::DeValue;

use super::locate::Written;
use super::parse::runtime;
use super::values::{absolute, Ctx, Value};
use super::{ContainerSettings, LogSettings, Project, Storage};

pub(super) fn logs(ctx: &mut Ctx<'_>, v: &Value<'_>) -> LogSettings {
    let mut l = LogSettings::default();
    let Some(t) = ctx.table("logs", v) else {
        return l;
    };
    ctx.check_keys(t, &["max_size", "keep", "max_line"], "`logs`");
    // Out-of-range values are kept (saturated) for `Service::validate` to report.
    if let Some(v) = t.get("max_size") {
        l.max_size = ctx.size("max_size", v).unwrap_or(l.max_size);
    }
    if let Some(v) = t.get("keep") {
        if let Some(n) = ctx.uint("keep", v) {
            l.keep = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    if let Some(v) = t.get("max_line") {
        if let Some(n) = ctx.size("max_line", v) {
            l.max_line = usize::try_from(n).unwrap_or(usize::MAX);
        }
    }
    l
}

pub(super) fn storage(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<Storage> {
    match v.get_ref() {
        DeValue::String(s) if s.as_ref() == "sandboxed" => Some(Storage::Sandboxed),
        DeValue::Table(t) => {
            ctx.check_keys(t, &["path", "keep_on_exit"], "`storage`");
            let keep_on_exit = match t.get("keep_on_exit") {
                Some(v) => ctx.bool("keep_on_exit", v).unwrap_or(true),
                None => true,
            };
            match t.get("path") {
                Some(p) => Some(Storage::Persistent {
                    path: ctx.path("path", p)?,
                    keep_on_exit,
                }),
                None => {
                    ctx.error(v.span(), "`storage` table needs a `path`");
                    None
                }
            }
        }
        _ => {
            ctx.expected(
                "storage",
                v,
                "\"sandboxed\" or a table { path = \"…\", keep_on_exit = true }",
            );
            None
        }
    }
}

pub(super) fn container(
    ctx: &mut Ctx<'_>,
    project: &Project,
    table: &toml::de::DeTable<'_>,
    whole: &Value<'_>,
    written: &mut Written<'_, '_>,
) -> ContainerSettings {
    let image = match table.get("image") {
        Some(v) => ctx.string("image", v).unwrap_or_default(),
        None => {
            ctx.error_help(
                whole.span(),
                "container service has no `image`",
                Some("add image = \"name:tag\""),
            );
            written.settled("image");
            String::new()
        }
    };
    let mut volumes = Vec::new();
    if let Some(v) = table.get("volumes") {
        for vol in ctx.strings("volumes", v).unwrap_or_default() {
            match vol.split_once(':') {
                Some((host, rest)) if !host.is_empty() && !rest.is_empty() => {
                    // Host paths that look relative are resolved; bare names are named volumes.
                    let host = if host.starts_with('.')
                        || host.starts_with('~')
                        || host.starts_with('/')
                    {
                        absolute(&ctx.dir, host).display().to_string()
                    } else {
                        host.to_string()
                    };
                    volumes.push(format!("{host}:{rest}"));
                }
                // Kept as written, for `Service::validate` to report.
                _ => volumes.push(vol),
            }
        }
    }
    let ports = match table.get("ports") {
        Some(v) => ctx.strings("ports", v).unwrap_or_default(),
        None => Vec::new(),
    };
    let runtime = match table.get("runtime") {
        Some(v) => runtime(ctx, "runtime", v),
        None => project.container_runtime,
    };
    let container_name = table
        .get("container_name")
        .and_then(|v| ctx.string("container_name", v));
    ContainerSettings {
        image,
        volumes,
        ports,
        runtime,
        container_name,
    }
}
