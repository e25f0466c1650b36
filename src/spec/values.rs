//! Typed reads of spanned TOML values: every mismatch becomes a [`SpecError`] at the value.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{Signal, SpecError};

/// A spanned TOML value as the parser hands it out.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// Collects errors while the parser walks one file.
pub(super) struct Ctx<'t> {
    pub file: PathBuf,
    pub dir: PathBuf,
    text: &'t str,
    pub errors: Vec<SpecError>,
}

impl<'t> Ctx<'t> {
    pub fn new(file: PathBuf, dir: PathBuf, text: &'t str) -> Self {
        Self {
            file,
            dir,
            text,
            errors: Vec::new(),
        }
    }

    /// The spec's text.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// 1-based line and column of byte `offset`.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(line_start..).unwrap_or("").chars().count() + 1;
        (line, col)
    }

    /// Records an error at `span`.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.error_help(span, message, None::<String>);
    }

    /// Records an error at `span` with a hint on how to fix it.
    pub fn error_help(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<impl Into<String>>,
    ) {
        let (line, col) = self.position(span.start);
        self.errors.push(SpecError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
            help: help.map(Into::into),
        });
    }

    /// Whether one of `self.errors[which]` lies within `span`.
    pub fn any_error_within(&self, which: Range<usize>, span: &Range<usize>) -> bool {
        let (start, end) = (self.position(span.start), self.position(span.end));
        self.errors
            .get(which)
            .unwrap_or_default()
            .iter()
            .any(|e| (start..end).contains(&(e.line, e.col)) || (e.line, e.col) == start)
    }

    /// Records a type mismatch: `key` should be `expected`, but is something else.
    pub fn expected(&mut self, key: &str, value: &Value<'_>, expected: &str) {
        self.error(
            value.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                describe(value.get_ref())
            ),
        );
    }

    /// Reports keys of `table` not in `known`, suggesting the closest known key.
    pub fn check_keys(&mut self, table: &DeTable<'_>, known: &[&str], what: &str) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if known.contains(&name) {
                continue;
            }
            let help = did_you_mean(name, known)
                .map(|k| format!("did you mean `{k}`?"))
                .or_else(|| Some(format!("known keys: {}", known.join(", "))));
            self.error_help(key.span(), format!("unknown key `{name}` in {what}"), help);
        }
    }

    pub fn string(&mut self, key: &str, v: &Value<'_>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.expected(key, v, "a string");
                None
            }
        }
    }

    /// A non-empty string.
    pub fn nonempty(&mut self, key: &str, v: &Value<'_>) -> Option<String> {
        let s = self.string(key, v)?;
        if s.trim().is_empty() {
            self.error(v.span(), format!("`{key}` must not be empty"));
            return None;
        }
        Some(s)
    }

    pub fn bool(&mut self, key: &str, v: &Value<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.expected(key, v, "true or false");
                None
            }
        }
    }

    /// A non-negative integer that fits `u64`.
    pub fn uint(&mut self, key: &str, v: &Value<'_>) -> Option<u64> {
        if let DeValue::Integer(i) = v.get_ref() {
            if let Ok(n) = u64::from_str_radix(i.as_str(), i.radix()) {
                return Some(n);
            }
        }
        self.expected(key, v, "a non-negative integer");
        None
    }

    /// An integer that fits `u32`; that a count is not zero is `Service::validate`'s to say,
    /// in the same words.
    pub fn count(&mut self, key: &str, v: &Value<'_>) -> Option<u32> {
        let n = self.uint(key, v)?;
        match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.expected(key, v, "an integer from 1 to 4294967295");
                None
            }
        }
    }

    pub fn float(&mut self, key: &str, v: &Value<'_>) -> Option<f64> {
        let f = match v.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            _ => None,
        };
        if f.is_none() {
            self.expected(key, v, "a number");
        }
        f
    }

    /// A duration string such as `"250ms"`, `"10s"`, `"2m"`.
    pub fn duration(&mut self, key: &str, v: &Value<'_>) -> Option<Duration> {
        let DeValue::String(s) = v.get_ref() else {
            self.expected(
                key,
                v,
                "a duration string such as \"250ms\", \"10s\" or \"2m\"",
            );
            return None;
        };
        match humantime::parse_duration(s.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error_help(
                    v.span(),
                    format!("`{key}` = {s:?} is not a duration: {e}"),
                    Some("write a number with a unit, such as \"250ms\", \"10s\" or \"2m\""),
                );
                None
            }
        }
    }

    /// A byte size: an integer, or a string such as `"10MB"`, `"64KiB"`.
    pub fn size(&mut self, key: &str, v: &Value<'_>) -> Option<u64> {
        match v.get_ref() {
            DeValue::Integer(_) => self.uint(key, v),
            DeValue::String(s) => match parse_size(s) {
                Some(n) => Some(n),
                None => {
                    self.error_help(
                        v.span(),
                        format!("`{key}` = {s:?} is not a size"),
                        Some("write bytes with a unit, such as \"10MB\", \"512KiB\" or \"1GiB\""),
                    );
                    None
                }
            },
            _ => {
                self.expected(key, v, "a size such as \"10MB\"");
                None
            }
        }
    }

    /// A list of strings.
    pub fn strings(&mut self, key: &str, v: &Value<'_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.expected(key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                _ => {
                    self.expected(&format!("{key}[…]"), item, "a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A table.
    pub fn table<'a, 'i>(&mut self, key: &str, v: &'a Value<'i>) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.expected(key, v, "a table");
                None
            }
        }
    }

    /// A signal name such as `"TERM"` or `"SIGINT"`.
    pub fn signal(&mut self, key: &str, v: &Value<'_>) -> Option<Signal> {
        let s = self.string(key, v)?;
        match parse_signal(&s) {
            Some(sig) => Some(sig),
            None => {
                self.error_help(
                    v.span(),
                    format!("`{key}` = {s:?} is not a signal name"),
                    Some("use one of TERM, INT, QUIT, HUP, KILL, USR1, USR2, WINCH"),
                );
                None
            }
        }
    }

    /// A path, made absolute against the spec's directory.
    pub fn path(&mut self, key: &str, v: &Value<'_>) -> Option<PathBuf> {
        let s = self.nonempty(key, v)?;
        Some(absolute(&self.dir, &s))
    }
}

/// `rel` resolved against `dir`, with `~/` expanded to `$HOME`.
pub(super) fn absolute(dir: &Path, rel: &str) -> PathBuf {
    if let Some(rest) = rel.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    dir.join(rel)
}

/// What a value is, for "found …" in messages.
pub(super) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the number {}", f.as_str()),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(d) => format!("the datetime {d}"),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// The known name closest to `name`, if it is close enough to be a likely typo.
pub(super) fn did_you_mean<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1) + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses `"10MB"`, `"64KiB"`, `"1G"`, `"512"`: decimal units are powers of 1000, `i` units of 1024.
pub(super) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = num * mult;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Parses a signal name with or without the `SIG` prefix, in any case.
pub(super) fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.trim().parse::<i32>() {
        return Signal::from_named_raw(n);
    }
    let upper = s.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match name {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        "TERM" => Signal::TERM,
        "ALRM" => Signal::ALARM,
        "CONT" => Signal::CONT,
        "STOP" => Signal::STOP,
        "TSTP" => Signal::TSTP,
        "WINCH" => Signal::WINCH,
        "PWR" => Signal::POWER,
        "ABRT" => Signal::ABORT,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("64KiB"), Some(65_536));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1.5k"), Some(1500));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("10 parsecs"), None);
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("sigint"), Some(Signal::INT));
        assert_eq!(parse_signal("TERM"), Some(Signal::TERM));
        assert_eq!(parse_signal("NOPE"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("comand", &["command", "cwd"]), Some("command"));
        assert_eq!(did_you_mean("zzzzzz", &["command", "cwd"]), None);
    }
}
