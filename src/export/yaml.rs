//! A small YAML writer for the JSON-shaped documents the exporters build.
//!
//! Manifests need only maps, lists, strings, numbers and booleans, so a writer of that
//! subset (block style, two-space indent, keys in the map's sorted order) keeps the output
//! deterministic without a YAML library. A string is written plain only when no YAML 1.1
//! or 1.2 reader could take it for anything else; otherwise it is double-quoted with JSON's
//! escapes, which YAML's double-quoted style shares.

use serde_json::Value;

/// `v` as a YAML document (no `---` marker), ending in a newline.
pub(crate) fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0, false),
        Value::Array(a) if !a.is_empty() => list(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `inline`: the first key goes on the current line (after a list item's `- `).
fn map(out: &mut String, m: &serde_json::Map<String, Value>, depth: usize, inline: bool) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, depth);
        }
        out.push_str(&string(k));
        out.push(':');
        value_after_key(out, v, depth);
    }
}

fn value_after_key(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(out, m, depth + 2, false);
        }
        // Lists sit at their key's indent, as kubectl writes them.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            list(out, a, depth);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn list(out: &mut String, a: &[Value], depth: usize) {
    for v in a {
        indent(out, depth);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => map(out, m, depth + 2, true),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                list(out, inner, depth + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Words YAML 1.1 readers (PyYAML, Go's yaml.v2) turn into booleans or null.
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
];

fn string(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        // `1e3` starts with a digit and is quoted already; `.inf` starts with a dot.
        && !s.starts_with('.');
    if plain {
        s.to_string()
    } else {
        // JSON's string escapes are valid in YAML's double-quoted style.
        serde_json::Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn writes_block_style_and_quotes_what_could_be_misread() {
        let doc = json!({
            "kind": "Pod",
            "spec": {"containers": [{"name": "a", "args": ["-p", "8080", "yes"], "ports": []}]},
            "data": {"K": "a b", "N": "1.5", "E": ""},
        });
        let want = "data:\n  E: \"\"\n  K: \"a b\"\n  \"N\": \"1.5\"\nkind: Pod\nspec:\n  \
                    containers:\n  - args:\n    - \"-p\"\n    - \"8080\"\n    - \"yes\"\n    \
                    name: a\n    ports: []\n";
        assert_eq!(super::to_string(&doc), want);
    }
}
