//! Placing what [`Service::validate`](super::Service::validate) finds at the
//! `file:line:col` of the key it names.

use std::ops::Range;

use toml::de::{DeString, DeValue};
use toml::Spanned;

use super::validate::{Invalid, Seg};
use super::values::{Ctx, Value};

/// Where one `[service.NAME]` table was written, and what parsing it already reported.
pub(super) struct Written<'a, 'i> {
    /// The `NAME` key.
    name: &'a Spanned<DeString<'i>>,
    /// The table.
    table: &'a Value<'i>,
    /// The errors parsing this table recorded, as indices into `Ctx::errors`.
    errors: Range<usize>,
    /// Absent keys whose problems parsing has dealt with: a required key it reported
    /// missing, a default it vouches for.
    settled: Vec<&'static str>,
}

impl<'a, 'i> Written<'a, 'i> {
    /// The service `name = table`, whose parse errors start at `Ctx::errors[first_error]`.
    pub fn new(name: &'a Spanned<DeString<'i>>, table: &'a Value<'i>, first_error: usize) -> Self {
        Self {
            name,
            table,
            errors: first_error..first_error,
            settled: Vec::new(),
        }
    }

    /// Marks the end of this table's parse errors.
    pub fn parsed(&mut self, ctx: &Ctx<'_>) {
        self.errors.end = ctx.errors.len();
    }

    /// Notes that `key` is absent and that parsing has dealt with it: reported it as
    /// missing, or filled in a default it vouches for.
    pub fn settled(&mut self, key: &'static str) {
        self.settled.push(key);
    }

    /// Records `problem` at the key or value it names. A problem with a value that could
    /// not be read is left out: the value the service holds is then a default, and what
    /// is wrong with it has been said already.
    pub fn report(&self, ctx: &mut Ctx<'_>, problem: Invalid) {
        let span = if problem.path.is_empty() {
            self.name.span()
        } else if let Some(span) = self.locate(&problem.path, problem.at_key) {
            // An entry of a list that could not all be read may not be the n-th written:
            // then the whole list is suspect.
            let guard = match problem.path.iter().position(|s| matches!(s, Seg::Index(_))) {
                Some(i) => self
                    .locate(&problem.path[..i], false)
                    .unwrap_or(span.clone()),
                None => span.clone(),
            };
            if ctx.any_error_within(self.errors.clone(), &guard) {
                return;
            }
            span
        } else {
            let first = match problem.path.first() {
                Some(Seg::Key(k)) => k.as_str(),
                _ => "",
            };
            if self.settled.contains(&first) {
                return;
            }
            self.name.span()
        };
        ctx.error_help(span, problem.message, problem.help);
    }

    /// The span of `path` in the table: its last key's (`at_key`) or its value's.
    fn locate(&self, path: &[Seg], at_key: bool) -> Option<Range<usize>> {
        let mut key = self.name.span();
        let mut value = self.table;
        for seg in path {
            match (seg, value.get_ref()) {
                (Seg::Key(k), DeValue::Table(t)) => {
                    let (k, v) = t.get_key_value(k.as_str())?;
                    (key, value) = (k.span(), v);
                }
                (Seg::Index(i), DeValue::Table(t)) => {
                    let (k, v) = t.iter().nth(*i)?;
                    (key, value) = (k.span(), v);
                }
                (Seg::Index(i), DeValue::Array(a)) => {
                    value = a.get(*i)?;
                    // An array item has no key of its own: the item stands for it.
                    key = value.span();
                }
                _ => return None,
            }
        }
        Some(if at_key { key } else { value.span() })
    }
}
