//! Variable interpolation in spec strings, with docker compose's rules for the braced form:
//! `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}` / `${VAR?message}` (an error), `${VAR:+alt}` / `${VAR+alt}`, and `$$`
//! for a literal `$`.
//!
//! A bare `$VAR` is left as written: proctor commands often run under `sh -c`, where
//! `$VAR` is the shell's to expand from the service's own environment (its `env`,
//! `PROCTOR_STATE_DIR`, …) at run time, which load-time interpolation would blank.

use std::collections::BTreeMap;

/// `s` written so that interpolating it gives `s` back: a `$` that starts `$$` or `${` is
/// doubled (a bare `$VAR` is never interpolated, so it stays as it is).
pub(crate) fn escape(s: &str) -> String {
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

/// Where interpolation takes its values from.
pub(crate) trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Vars for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Variables of a replica on top of the project's.
pub(crate) struct Layered<'a, V: Vars + ?Sized> {
    /// Looked at first.
    pub top: &'a BTreeMap<String, String>,
    /// Looked at when `top` lacks a name.
    pub base: &'a V,
}

impl<V: Vars + ?Sized> Vars for Layered<'_, V> {
    fn get(&self, name: &str) -> Option<&str> {
        self.top
            .get(name)
            .map(String::as_str)
            .or_else(|| self.base.get(name))
    }
}

/// What is wrong with a string, at a byte offset within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Byte offset of the `$` that starts the faulty expression.
    pub at: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// `s` with every `${…}` and `$$` replaced; `None` when there is nothing to replace.
pub(crate) fn interpolate(s: &str, vars: &(impl Vars + ?Sized)) -> Result<Option<String>, Problem> {
    if !s.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let at = s.len() - rest.len() + i;
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            changed = true;
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = closing_brace(body).ok_or_else(|| Problem {
                at,
                message: "`${` is not closed by `}`".into(),
                help: Some("write `$${` for a literal `${`".into()),
            })?;
            out.push_str(&expression(&body[..close], at, vars)?);
            changed = true;
            rest = &body[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(changed.then_some(out))
}

/// Index of the `}` closing an expression whose body starts `body` (defaults may nest `${…}`).
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of one `${…}` body.
fn expression(body: &str, at: usize, vars: &(impl Vars + ?Sized)) -> Result<String, Problem> {
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_end];
    let op = &body[name_end..];
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_name {
        return Err(Problem {
            at,
            message: format!("`${{{body}}}`: a variable name starts with a letter or `_`"),
            help: Some("write `$$` for a literal `$`".into()),
        });
    }
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    // A default or message may itself hold `${…}`.
    let nested = |text: &str| -> Result<String, Problem> {
        interpolate(text, vars)
            .map(|v| v.unwrap_or_else(|| text.to_string()))
            .map_err(|p| Problem { at, ..p })
    };
    let (kind, arg) = if op.is_empty() {
        ("", "")
    } else if let Some(a) = op.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = op.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = op.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = op.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = op.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = op.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(Problem {
            at,
            message: format!(
                "`${{{body}}}`: expected `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+` after `{name}`"
            ),
            help: None,
        });
    };
    match kind {
        "" => Ok(value.unwrap_or_default().to_string()),
        ":-" if set_nonempty => Ok(value.unwrap_or_default().to_string()),
        ":-" => nested(arg),
        "-" => match value {
            Some(v) => Ok(v.to_string()),
            None => nested(arg),
        },
        ":?" | "?" => {
            let ok = if kind == ":?" {
                set_nonempty
            } else {
                value.is_some()
            };
            if ok {
                return Ok(value.unwrap_or_default().to_string());
            }
            let why = nested(arg)?;
            let state = if value.is_some() { "empty" } else { "not set" };
            Err(Problem {
                at,
                message: if why.is_empty() {
                    format!("variable {name} is {state}")
                } else {
                    format!("variable {name} is {state}: {why}")
                },
                help: Some(format!(
                    "set {name} in the environment or in the project's .env file"
                )),
            })
        }
        ":+" if set_nonempty => nested(arg),
        "+" if value.is_some() => nested(arg),
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("A", "1"), ("EMPTY", ""), ("PORT", "8080")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(s: &str) -> Result<String, Problem> {
        interpolate(s, &vars()).map(|v| v.unwrap_or_else(|| s.to_string()))
    }

    #[test]
    fn each_form_follows_compose() {
        assert_eq!(run("x${A}y").unwrap(), "x1y");
        assert_eq!(run("${MISSING}").unwrap(), "");
        assert_eq!(run("${MISSING:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${MISSING-d}").unwrap(), "d");
        assert_eq!(run("${A:-d}").unwrap(), "1");
        assert_eq!(run("${A:+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(run("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(run("${A:?need it}").unwrap(), "1");
        assert_eq!(run("$$A and $${A}").unwrap(), "$A and ${A}");
        assert_eq!(run("127.0.0.1:${PORT}").unwrap(), "127.0.0.1:8080");
        assert_eq!(run("${MISSING:-${PORT}}").unwrap(), "8080");
    }

    #[test]
    fn a_bare_dollar_is_left_for_the_shell() {
        assert_eq!(interpolate("echo $HOME $1 $", &vars()).unwrap(), None);
        assert_eq!(run("cost: 5$").unwrap(), "cost: 5$");
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = run("ab${MISSING:?set the token}").unwrap_err();
        assert_eq!(e.at, 2);
        assert_eq!(e.message, "variable MISSING is not set: set the token");
        let e = run("${EMPTY:?}").unwrap_err();
        assert_eq!(e.message, "variable EMPTY is empty");
        assert!(run("${EMPTY?}").is_ok());
        let e = run("x ${A").unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.message.contains("not closed"), "{}", e.message);
        assert!(run("${1A}").unwrap_err().message.contains("variable name"));
        assert!(run("${A/x}").unwrap_err().message.contains("expected"));
    }
}
