//! [`LogPattern`]: a `log` readiness probe's regex, compiled once with the spec.

use std::fmt;

use regex::bytes::Regex;

/// The regex of a `log = "…"` probe, compiled when the spec is read so that no spawn
/// compiles it again.
///
/// A pattern that does not compile is kept with its error rather than refused here, so
/// [`Probe::log`](super::Probe::log) stays infallible and the problem is reported where
/// every other one is: [`Service::validate`](super::Service::validate), with
/// `file:line:col` when it came from a file. Cloning is cheap (the compiled program is
/// shared); equality, `Debug` and serde all use the source text.
#[derive(Clone)]
pub struct LogPattern {
    source: String,
    compiled: Result<Regex, regex::Error>,
}

impl LogPattern {
    /// Compiles `source`; an invalid pattern is kept and reported by validation.
    pub fn new(source: impl Into<String>) -> Self {
        let source = source.into();
        let compiled = Regex::new(&source);
        Self { source, compiled }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled regex, or why the pattern does not compile.
    pub fn regex(&self) -> Result<&Regex, &regex::Error> {
        self.compiled.as_ref()
    }
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for LogPattern {}

impl fmt::Debug for LogPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LogPattern").field(&self.source).finish()
    }
}

impl fmt::Display for LogPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl From<&str> for LogPattern {
    fn from(source: &str) -> Self {
        Self::new(source)
    }
}

impl From<String> for LogPattern {
    fn from(source: String) -> Self {
        Self::new(source)
    }
}

impl serde::Serialize for LogPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for LogPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_and_compares_by_source() {
        let p = LogPattern::new("ready on port \\d+");
        let re = p.regex().expect("valid");
        assert!(re.is_match(b"ready on port 80"));
        assert_eq!(p, LogPattern::from("ready on port \\d+"));
        assert_ne!(p, LogPattern::from("ready"));
        assert_eq!(format!("{p:?}"), "LogPattern(\"ready on port \\\\d+\")");
        assert!(LogPattern::new("(").regex().is_err());
    }

    #[test]
    fn serialises_as_the_string() {
        let p = LogPattern::new("a+b");
        let json = serde_json::to_string(&p).expect("serialise");
        assert_eq!(json, "\"a+b\"");
        let back: LogPattern = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, p);
        assert!(back.regex().is_ok_and(|re| re.is_match(b"aab")));
    }
}
