//! What the document becomes before its tables are read as services: `[template.NAME]`
//! tables merged into the services that `extends` them, `replicas = N` services split into
//! `NAME.0` … `NAME.(N-1)`, and `${VAR}` interpolated in every string value.
//!
//! Every value keeps the span it was written at (a template's values point into the
//! template), so errors found later still name `file:line:col`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::interpolate::{self, Layered, Vars};
use super::values::{Ctx, Value};
use super::SpecError;

/// Most replicas one service may have: each is a process, a lock and a log.
pub const MAX_REPLICAS: u32 = 1000;

/// Which of a `replicas = N` service's instances a service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The name the spec gives the service (`web` for `web.0`).
    pub group: String,
    /// This instance's index, `0..count`.
    pub index: u32,
    /// How many the spec (or the last `scale`) asked for when this one was made.
    pub count: u32,
}

/// One service table to read, and the replica it is, if any.
pub(super) struct Unit<'i> {
    /// The service's name (`web.1` for a replica), spanned at the table's key.
    pub key: Spanned<DeString<'i>>,
    /// The table with its template merged in and its strings interpolated.
    pub table: Value<'i>,
    /// Which replica it is, for a `replicas = N` service.
    pub replica: Option<Replica>,
    /// `ports_from + index`, handed to the service as `PORT`.
    pub port: Option<u64>,
}

/// The variables `${…}` reads: the project's `.env`, then `[project] env_file`s, with the
/// process environment over both (as compose has it).
pub(super) fn variables(ctx: &mut Ctx<'_>, doc: &DeTable<'_>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let dotenv = ctx.dir.join(".env");
    if dotenv.is_file() {
        read_env_file(ctx, &dotenv, None, &mut vars);
    }
    let project = doc.get("project").and_then(|p| p.get_ref().as_table());
    if let Some(v) = project.and_then(|p| p.get("env_file")) {
        let items: Vec<&Value<'_>> = match v.get_ref() {
            DeValue::String(_) => vec![v],
            DeValue::Array(a) => a.iter().collect(),
            _ => {
                ctx.expected("env_file", v, "a path or an array of paths");
                Vec::new()
            }
        };
        for item in items {
            if let Some(f) = ctx.path("env_file", item) {
                read_env_file(ctx, &f, Some(item.span()), &mut vars);
            }
        }
    }
    // `env::vars` panics on a variable that is not UTF-8; such a one cannot be spliced
    // into a TOML string anyway, so it reads as unset.
    vars.extend(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    vars
}

fn read_env_file(
    ctx: &mut Ctx<'_>,
    path: &Path,
    named_at: Option<std::ops::Range<usize>>,
    vars: &mut BTreeMap<String, String>,
) {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(e) => {
            match named_at {
                Some(span) => ctx.error(span, format!("cannot read {}: {e}", path.display())),
                None => ctx
                    .errors
                    .push(file_error(path, format!("cannot read it: {e}"))),
            }
            return;
        }
    };
    for item in iter {
        match item {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(e) => {
                ctx.errors.push(malformed(path, &e));
                return;
            }
        }
    }
}

/// A line of an env file that does not parse, placed at its line and column in that file.
fn malformed(path: &Path, e: &dotenvy::Error) -> SpecError {
    let dotenvy::Error::LineParse(line, index) = e else {
        return file_error(path, format!("{e}"));
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let logical = line.trim_end();
    // The parser hands back the line's text, not its number: find it in the file.
    let (line_no, col) = match text.find(logical) {
        Some(start) => {
            let at = start + (*index).min(logical.len());
            let before = text.get(..at).unwrap_or("");
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (
                before.matches('\n').count() + 1,
                before.get(line_start..).unwrap_or("").chars().count() + 1,
            )
        }
        None => (1, 1),
    };
    SpecError {
        file: path.to_path_buf(),
        line: line_no,
        col,
        message: format!("malformed line {logical:?}: expected KEY=value"),
        help: Some("quote a value with spaces or quotes in it: KEY=\"a value\"".into()),
    }
}

fn file_error(path: &Path, message: String) -> SpecError {
    SpecError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        message,
        help: None,
    }
}

/// Interpolates every string in `v` (not keys), reporting what cannot be at its place.
pub(super) fn interpolate_value(ctx: &mut Ctx<'_>, v: &mut Value<'_>, vars: &(impl Vars + ?Sized)) {
    let span = v.span();
    match v.get_mut() {
        DeValue::String(s) => match interpolate::interpolate(s, vars) {
            Ok(Some(new)) => *s = Cow::Owned(new),
            Ok(None) => {}
            Err(p) => {
                // Point at the expression when the value is written as it reads.
                let needle = s.get(p.at..).unwrap_or("").split('}').next().unwrap_or("");
                let raw = ctx.text().get(span.clone()).unwrap_or("");
                // The same text may come earlier (`$${X:?} ${X:?}`): take the same one.
                let nth = s
                    .get(..p.at)
                    .map_or(0, |before| before.matches(needle).count());
                let start = raw
                    .match_indices(needle)
                    .nth(nth)
                    .or_else(|| raw.match_indices(needle).next())
                    .map_or(span.start, |(i, _)| span.start + i);
                ctx.error_help(start..span.end, p.message, p.help);
            }
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                interpolate_value(ctx, item, vars);
            }
        }
        DeValue::Table(t) => interpolate_table(ctx, t, vars),
        _ => {}
    }
}

/// [`interpolate_value`] for each value of a table.
pub(super) fn interpolate_table(
    ctx: &mut Ctx<'_>,
    t: &mut DeTable<'_>,
    vars: &(impl Vars + ?Sized),
) {
    for (_, v) in t.iter_mut() {
        interpolate_value(ctx, v, vars);
    }
}

/// The `[template.NAME]` tables, checked to be tables.
pub(super) fn templates<'i>(ctx: &mut Ctx<'_>, doc: &DeTable<'i>) -> BTreeMap<String, Value<'i>> {
    let mut out = BTreeMap::new();
    let Some(v) = doc.get("template") else {
        return out;
    };
    let Some(t) = ctx.table("template", v) else {
        return out;
    };
    for (k, v) in t.iter() {
        if ctx.table(&format!("template.{}", k.get_ref()), v).is_some() {
            out.insert(k.get_ref().to_string(), v.clone());
        }
    }
    out
}

/// `table` with the template it `extends` (and that one's, in turn) merged under it: the
/// service's own keys win, tables merge key by key.
pub(super) fn extend<'i>(
    ctx: &mut Ctx<'_>,
    table: &mut Value<'i>,
    templates: &BTreeMap<String, Value<'i>>,
) {
    let mut seen: Vec<String> = Vec::new();
    loop {
        let DeValue::Table(t) = table.get_mut() else {
            return;
        };
        let Some((key, v)) = t.remove_entry("extends") else {
            return;
        };
        let Some(name) = v.get_ref().as_str().map(str::to_string) else {
            ctx.expected("extends", &v, "the name of a [template.NAME] table");
            return;
        };
        if seen.contains(&name) {
            ctx.error(
                v.span(),
                format!(
                    "templates extend each other in a cycle: {} -> {name}",
                    seen.join(" -> ")
                ),
            );
            return;
        }
        let Some(template) = templates.get(&name) else {
            let names: Vec<&str> = templates.keys().map(String::as_str).collect();
            let help = super::values::did_you_mean(&name, &names).map_or_else(
                || {
                    if names.is_empty() {
                        "declare it: [template.NAME] with the keys services share".to_string()
                    } else {
                        format!("templates: {}", names.join(", "))
                    }
                },
                |n| format!("did you mean `{n}`?"),
            );
            ctx.error_help(
                v.span(),
                format!("`extends` names template `{name}`, which is not declared"),
                Some(help),
            );
            return;
        };
        seen.push(name);
        let _ = key;
        merge_under(t, template.get_ref());
    }
}

/// Adds what `under` has and `t` lacks; tables in both merge, key by key.
fn merge_under<'i>(t: &mut DeTable<'i>, under: &DeValue<'i>) {
    let DeValue::Table(under) = under else {
        return;
    };
    for (k, v) in under.iter() {
        match t.get_mut(k.get_ref().as_ref()) {
            None => {
                t.insert(k.clone(), v.clone());
            }
            Some(mine) => {
                if let DeValue::Table(mine) = mine.get_mut() {
                    merge_under(mine, v.get_ref());
                }
            }
        }
    }
}

/// The service tables to read: one per service, or one per replica of a `replicas = N`
/// service (`overrides` replaces N for the groups it names: `proctor scale`), each
/// interpolated with the project's variables and its own (`PROCTOR_INSTANCE`,
/// `PROCTOR_REPLICAS`, `PORT`).
pub(super) fn units<'i>(
    ctx: &mut Ctx<'_>,
    services: &DeTable<'i>,
    templates: &BTreeMap<String, Value<'i>>,
    vars: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, u32>,
) -> Vec<Unit<'i>> {
    let mut out = Vec::new();
    for (key, value) in services.iter() {
        let mut table = value.clone();
        if table.get_ref().is_table() {
            extend(ctx, &mut table, templates);
        }
        let name = key.get_ref().to_string();
        let (replicas, ports_from) = match table.get_mut() {
            DeValue::Table(t) => {
                let replicas = t.remove("replicas");
                let ports_from = t.remove("ports_from");
                (replicas, ports_from)
            }
            _ => (None, None),
        };
        let count = replicas.as_ref().and_then(|v| replica_count(ctx, vars, v));
        let count = match (count, overrides.get(&name)) {
            (Some(_), Some(&n)) => Some(n),
            (c, _) => c,
        };
        let port_base = ports_from.as_ref().and_then(|v| {
            let n = number(ctx, vars, "ports_from", v, "a port from 1 to 65535")?;
            if (1..=65535).contains(&n) {
                Some(n)
            } else {
                ctx.error(
                    v.span(),
                    format!("`ports_from` = {n} is not a port (1 to 65535)"),
                );
                None
            }
        });
        let instances: Vec<Option<u32>> = match count {
            Some(n) => (0..n).map(Some).collect(),
            None => vec![None],
        };
        for index in instances {
            let port = port_base.map(|p| p + u64::from(index.unwrap_or(0)));
            if let Some(p) = port.filter(|p| *p > 65535) {
                if let Some(v) = &ports_from {
                    ctx.error(
                        v.span(),
                        format!(
                            "`ports_from` gives replica {} port {p}, past 65535",
                            index.unwrap_or(0)
                        ),
                    );
                }
                break;
            }
            let mut own = BTreeMap::new();
            if let (Some(i), Some(n)) = (index, count) {
                own.insert("PROCTOR_INSTANCE".to_string(), i.to_string());
                own.insert("PROCTOR_REPLICAS".to_string(), n.to_string());
            }
            if let Some(p) = port {
                own.insert("PORT".to_string(), p.to_string());
            }
            let mut table = table.clone();
            interpolate_value(
                ctx,
                &mut table,
                &Layered {
                    top: &own,
                    base: vars,
                },
            );
            let (key, replica) = match (index, count) {
                (Some(i), Some(n)) => (
                    Spanned::new(key.span(), Cow::Owned(format!("{name}.{i}"))),
                    Some(Replica {
                        group: name.clone(),
                        index: i,
                        count: n,
                    }),
                ),
                _ => (key.clone(), None),
            };
            out.push(Unit {
                key,
                table,
                replica,
                port,
            });
        }
    }
    out
}

/// A count or port: an integer, or a string that interpolates to one (`"${N:-3}"`).
fn number(
    ctx: &mut Ctx<'_>,
    vars: &BTreeMap<String, String>,
    key: &str,
    v: &Value<'_>,
    expected: &str,
) -> Option<u64> {
    let mut v = v.clone();
    interpolate_value(ctx, &mut v, vars);
    match v.get_ref() {
        DeValue::String(s) => match s.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                ctx.expected(key, &v, expected);
                None
            }
        },
        _ => ctx.uint(key, &v),
    }
}

/// `replicas = N` (or a string that interpolates to N).
fn replica_count(ctx: &mut Ctx<'_>, vars: &BTreeMap<String, String>, v: &Value<'_>) -> Option<u32> {
    let expected = format!("an integer from 1 to {MAX_REPLICAS}");
    let n = number(ctx, vars, "replicas", v, &expected)?;
    if (1..=u64::from(MAX_REPLICAS)).contains(&n) {
        Some(n as u32)
    } else {
        ctx.error_help(
            v.span(),
            format!("`replicas` = {n}: expected 1 to {MAX_REPLICAS}"),
            (n == 0).then_some("to keep it from starting, set autostart = false"),
        );
        None
    }
}
