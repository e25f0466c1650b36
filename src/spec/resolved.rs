//! `proctor validate --print`: the spec as proctor reads it — templates merged, replicas
//! split, `${VAR}` resolved — written back as TOML that reads to the same services.

use std::collections::BTreeMap;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::expand;
use super::parse::{parse_str, read, spec_dir};
use super::values::Ctx;
use super::SpecErrors;

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
/// `parse::groups_in_depends_on` reads them), so the printed spec reads back the same.
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

/// A parsed value as a plain TOML value, its strings escaped to read back the same.
fn plain(v: &DeValue<'_>) -> toml::Value {
    match v {
        DeValue::String(s) => toml::Value::String(super::interpolate::escape(s)),
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
