//! Writes a [`Draft`] as `proctor.toml` text: deterministic (the source's order, no
//! timestamps), with TOML strings escaped and what was not imported left as comments.

use std::fmt::Write as _;

use super::draft::{Draft, Svc, Val};

/// An inline table or array longer than this is spread out for reading.
const INLINE_MAX: usize = 88;

/// The TOML text of `draft`, headed by a comment naming `source` and its format.
pub(crate) fn render(draft: &Draft, source: &str, format: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported from {source} ({format}) by `proctor import`."
    );
    out.push_str("# `# not imported:` lines name what proctor could not carry over; check them.\n");
    if !draft.project.is_empty() {
        out.push_str("\n[project]\n");
        for (k, v) in &draft.project {
            let _ = writeln!(out, "{} = {}", key(k), inline(v));
        }
    }
    if !draft.skipped.is_empty() {
        if draft.project.is_empty() {
            out.push('\n');
        }
        for s in &draft.skipped {
            comment(&mut out, &format!("not imported: {s}"));
        }
    }
    for svc in &draft.services {
        service(&mut out, svc);
    }
    out
}

fn service(out: &mut String, svc: &Svc) {
    let header = format!("service.{}", key(&svc.name));
    let _ = writeln!(out, "\n[{header}]");
    for c in &svc.comments {
        comment(out, c);
    }
    for s in &svc.skipped {
        comment(out, &format!("not imported: {s}"));
    }
    if let Some(n) = svc.replicas {
        if super::REPLICAS {
            let _ = writeln!(out, "replicas = {n}");
        } else {
            comment(
                out,
                &format!("not imported: replicas = {n} (this proctor runs one instance)"),
            );
        }
    }
    let mut tables = Vec::new();
    for (k, v) in &svc.keys {
        let text = inline(v);
        match v {
            Val::Table(entries) if text.len() + k.len() > INLINE_MAX => {
                tables.push((k, entries));
            }
            _ => {
                let _ = writeln!(out, "{} = {}", key(k), spread(k, v, &text));
            }
        }
    }
    for (k, entries) in tables {
        let _ = writeln!(out, "\n[{header}.{}]", key(k));
        for (ek, ev) in entries {
            let text = inline(ev);
            let _ = writeln!(out, "{} = {}", key(ek), spread(ek, ev, &text));
        }
    }
}

/// An array too long for one line, one item per line; anything else as `text`.
fn spread(k: &str, v: &Val, text: &str) -> String {
    match v {
        Val::List(items) if text.len() + k.len() > INLINE_MAX && items.len() > 1 => {
            let mut s = String::from("[\n");
            for item in items {
                let _ = writeln!(s, "    {},", inline(item));
            }
            s.push(']');
            s
        }
        _ => text.to_string(),
    }
}

fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "# {line}");
    }
}

/// `v` on one line.
pub(crate) fn inline(v: &Val) -> String {
    match v {
        Val::Str(s) => string(s),
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => {
            let s = f.to_string();
            if s.contains(['.', 'e', 'E', 'n', 'i']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        Val::List(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        Val::Table(entries) if entries.is_empty() => "{}".into(),
        Val::Table(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A key, bare when TOML allows it, else quoted.
pub(crate) fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys_are_escaped() {
        assert_eq!(string("a \"b\" \\ c\n\u{1}"), r#""a \"b\" \\ c\n\u0001""#);
        assert_eq!(key("web"), "web");
        assert_eq!(key("web.1"), "\"web.1\"");
        assert_eq!(key(""), "\"\"");
    }

    #[test]
    fn the_output_parses_back_as_the_same_values() {
        let mut svc = Svc::new("a.b");
        svc.set(
            "command",
            Val::strs(["sh", "-c", "echo \"hi\" 'there' \\ $x"]),
        );
        let env: Vec<(String, Val)> = (0..12)
            .map(|i| (format!("K{i}"), Val::str(format!("v\t{i}"))))
            .collect();
        svc.set("env", Val::Table(env));
        svc.set("stop_timeout", Val::str("5s"));
        svc.skip("a thing\nover two lines");
        let draft = Draft {
            project: vec![("name".into(), Val::str("p q"))],
            skipped: vec!["top".into()],
            services: vec![svc],
        };
        let text = render(&draft, "x.yml", "compose");
        let doc: toml::Table = toml::from_str(&text).expect("valid TOML");
        let svc = &doc["service"]["a.b"];
        assert_eq!(
            svc["command"][2].as_str(),
            Some("echo \"hi\" 'there' \\ $x")
        );
        assert_eq!(svc["env"]["K11"].as_str(), Some("v\t11"));
        assert_eq!(svc["stop_timeout"].as_str(), Some("5s"));
        assert!(
            text.contains("# not imported: a thing\n# over two lines\n"),
            "{text}"
        );
        assert!(text.contains("[service.\"a.b\".env]"), "{text}");
    }
}
