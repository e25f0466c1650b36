//! What an import produces before it is written: a project and its services as ordered
//! `key = value` pairs, with what could not be carried over beside them.

/// A value to write into `proctor.toml`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// A string, escaped when written.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An array.
    List(Vec<Val>),
    /// A table, in this order.
    Table(Vec<(String, Val)>),
}

impl Val {
    /// A string value.
    pub(crate) fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into())
    }

    /// An array of strings.
    pub(crate) fn strs<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Val {
        Val::List(items.into_iter().map(|s| Val::Str(s.into())).collect())
    }
}

/// One `[service.NAME]` table to write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Svc {
    /// The service's name (already a valid proctor name).
    pub(crate) name: String,
    /// `key = value` pairs in the order written.
    pub(crate) keys: Vec<(String, Val)>,
    /// How many instances to run (`replicas`).
    pub(crate) replicas: Option<u32>,
    /// Explanations written as comments above the keys.
    pub(crate) comments: Vec<String>,
    /// What was not carried over (comments and warnings).
    pub(crate) skipped: Vec<String>,
}

impl Svc {
    /// A service called `name`.
    pub(crate) fn new(name: impl Into<String>) -> Svc {
        Svc {
            name: name.into(),
            ..Svc::default()
        }
    }

    /// Sets `key` (replacing an earlier value of it in place).
    pub(crate) fn set(&mut self, key: &str, v: Val) {
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.keys.push((key.to_string(), v)),
        }
    }

    /// Whether `key` has been set.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == key)
    }

    /// Records that `what` could not be carried over.
    pub(crate) fn skip(&mut self, what: impl Into<String>) {
        self.skipped.push(what.into());
    }
}

/// A whole project to write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    /// `[project]` keys.
    pub(crate) project: Vec<(String, Val)>,
    /// Project-wide things not carried over.
    pub(crate) skipped: Vec<String>,
    /// The services, in the source's order.
    pub(crate) services: Vec<Svc>,
}

impl Draft {
    /// Records that `what` (not tied to a service) could not be carried over.
    pub(crate) fn skip(&mut self, what: impl Into<String>) {
        self.skipped.push(what.into());
    }
}

/// `name` made a valid service name: characters proctor does not allow become `-`, and
/// a leading `.` or `-` is dropped. `None` when nothing usable is left.
pub(crate) fn service_name(name: &str) -> Option<String> {
    crate::spec::usable_name(name.trim())
}

#[cfg(test)]
mod tests {
    use super::service_name;

    #[test]
    fn names_are_made_valid() {
        assert_eq!(service_name("web").as_deref(), Some("web"));
        assert_eq!(service_name("my app").as_deref(), Some("my-app"));
        assert_eq!(service_name(".hidden").as_deref(), Some("hidden"));
        assert_eq!(service_name("---"), None);
        assert!(
            crate::spec::check_name(&service_name(&"x".repeat(80)).unwrap_or_default()).is_ok()
        );
    }
}
