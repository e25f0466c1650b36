//! The INI dialect supervisord reads (Python's `ConfigParser`): `[section]`, `key = value`
//! or `key: value`, continuation lines indented, `;` and `#` comments (inline ones after
//! whitespace). Every key keeps its line for messages.

/// One `[section]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The name between the brackets.
    pub(crate) name: String,
    /// Its line.
    pub(crate) line: usize,
    /// `(key, value, line)` in order; keys lower-cased as ConfigParser does.
    pub(crate) entries: Vec<(String, String, usize)>,
}

/// Parses `text`; `Err((line, message))` for a line that is none of the above.
pub(crate) fn parse(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented {
            if let Some(last) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                let more = strip_comment(trimmed);
                if !last.1.is_empty() {
                    last.1.push('\n');
                }
                last.1.push_str(more);
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err((n, format!("unclosed section header {trimmed:?}")));
            };
            sections.push(Section {
                name: name.trim().to_string(),
                line: n,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err((n, "a key before any [section]".into()));
        };
        let Some(pos) = trimmed.find(['=', ':']) else {
            return Err((n, format!("expected `key = value`, got {trimmed:?}")));
        };
        let key = trimmed[..pos].trim().to_ascii_lowercase();
        let value = strip_comment(trimmed[pos + 1..].trim()).to_string();
        match section.entries.iter_mut().find(|e| e.0 == key) {
            Some(_) => return Err((n, format!("`{key}` is set twice in [{}]", section.name))),
            None => section.entries.push((key, value, n)),
        }
    }
    Ok(sections)
}

/// `s` without an inline comment (`;` or `#` after whitespace).
fn strip_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b';' || *b == b'#') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return s[..i].trim_end();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_continuations() {
        let text = "; top\n[program:a]\ncommand = run --x=1 ; why\nEnvironment=A=\"1\",\n  B=\"2\"\nurl: http://h/#frag\n\n[group:g]\nprograms=a\n";
        let s = parse(text).expect("parse");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "program:a");
        assert_eq!(s[0].entries[0], ("command".into(), "run --x=1".into(), 3));
        assert_eq!(
            s[0].entries[1],
            ("environment".into(), "A=\"1\",\nB=\"2\"".into(), 4)
        );
        assert_eq!(s[0].entries[2].1, "http://h/#frag");
        assert_eq!(s[1].entries[0].1, "a");
    }

    #[test]
    fn errors_name_their_line() {
        assert_eq!(parse("x=1\n").expect_err("no section").0, 1);
        assert_eq!(parse("[a]\n\nnonsense\n").expect_err("no =").0, 3);
        assert_eq!(parse("[a\n").expect_err("header").0, 1);
        assert_eq!(parse("[a]\nk=1\nK=2\n").expect_err("twice").0, 3);
    }
}
