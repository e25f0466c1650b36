//! Parsing of `ready = { … }` and `live = { … }` probe tables.

use toml::de::DeValue;

use super::values::{Ctx, Value};
use super::{LogPattern, Probe, ProbeKind};

const KINDS: &[&str] = &["tcp", "http", "unix", "exec", "log", "notify"];
const OPTIONS: &[&str] = &[
    "status",
    "interval",
    "timeout",
    "initial_delay",
    "deadline",
    "failures",
    "watchdog",
];

/// Parses a probe table; `readiness` selects which kinds and options are allowed.
pub(super) fn parse(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>, readiness: bool) -> Option<Probe> {
    let table = ctx.table(key, v)?;
    let known: Vec<&str> = KINDS.iter().chain(OPTIONS).copied().collect();
    ctx.check_keys(table, &known, &format!("`{key}`"));

    let present: Vec<&str> = KINDS
        .iter()
        .copied()
        .filter(|k| table.contains_key(*k))
        .collect();
    let kind_name = match present.as_slice() {
        [one] => *one,
        [] => {
            ctx.error_help(
                v.span(),
                format!("`{key}` names no check"),
                Some(format!("add one of: {}", KINDS.join(", "))),
            );
            return None;
        }
        [_, ..] => {
            ctx.error(
                v.span(),
                format!(
                    "`{key}` names {} checks ({}); use exactly one",
                    present.len(),
                    present.join(", ")
                ),
            );
            return None;
        }
    };
    let kv = table.get(kind_name)?;
    // What each value must be is `Service::validate`'s to say; only types are read here.
    let kind = match kind_name {
        "tcp" => ProbeKind::Tcp(ctx.string("tcp", kv)?),
        "http" => ProbeKind::Http {
            url: ctx.string("http", kv)?,
            status: table
                .get("status")
                .map(|sv| status(ctx, sv))
                .unwrap_or_default(),
        },
        "unix" => ProbeKind::Unix(ctx.path("unix", kv)?),
        "exec" => ProbeKind::Exec(match kv.get_ref() {
            DeValue::String(s) => match shell_words::split(s) {
                Ok(w) => w,
                Err(e) => {
                    ctx.error(kv.span(), format!("`exec` cannot be split into words: {e}"));
                    return None;
                }
            },
            _ => ctx.strings("exec", kv)?,
        }),
        "log" => ProbeKind::Log(LogPattern::new(ctx.string("log", kv)?)),
        _ => {
            if !ctx.bool("notify", kv)? {
                ctx.error(
                    kv.span(),
                    format!("`notify = false` is not a check; remove the `{key}` table instead"),
                );
                return None;
            }
            ProbeKind::Notify
        }
    };
    if table.contains_key("status") && kind_name != "http" {
        if let Some((k, _)) = table.get_key_value("status") {
            ctx.error(k.span(), "`status` applies only to `http` checks");
        }
    }
    let mut p = Probe::new(kind);
    if let Some(v) = table.get("interval") {
        p.interval = ctx.duration("interval", v).unwrap_or(p.interval);
    }
    if let Some(v) = table.get("timeout") {
        p.timeout = ctx.duration("timeout", v).unwrap_or(p.timeout);
    }
    if let Some(v) = table.get("initial_delay") {
        p.initial_delay = ctx.duration("initial_delay", v).unwrap_or(p.initial_delay);
    }
    if let Some(v) = table.get("deadline") {
        if readiness {
            p.deadline = ctx.duration("deadline", v).unwrap_or(p.deadline);
        } else {
            ctx.error(
                v.span(),
                "`deadline` applies only to readiness (`ready`) probes",
            );
        }
    }
    if let Some(v) = table.get("failures") {
        if readiness {
            ctx.error(
                v.span(),
                "`failures` applies only to liveness (`live`) probes",
            );
        } else {
            p.failures = ctx.count("failures", v).unwrap_or(p.failures);
        }
    }
    if let Some(v) = table.get("watchdog") {
        p.watchdog = ctx.duration("watchdog", v);
    }
    Some(p)
}

/// `status = [200, 204]`: codes that fit a `u16`; which of them are HTTP statuses is
/// `Service::validate`'s to say.
fn status(ctx: &mut Ctx<'_>, sv: &Value<'_>) -> Vec<u16> {
    let DeValue::Array(items) = sv.get_ref() else {
        ctx.expected("status", sv, "an array of HTTP status codes");
        return Vec::new();
    };
    let mut codes = Vec::new();
    for item in items.iter() {
        if let Some(code) = ctx.uint("status[…]", item) {
            match u16::try_from(code) {
                Ok(code) => codes.push(code),
                Err(_) => ctx.error(item.span(), format!("{code} is not an HTTP status")),
            }
        }
    }
    codes
}

/// Constructors for probes built in code (the library's [`crate::Daemon`] builder), with
/// the same defaults as the file format; the `with_*` methods adjust one setting each.
impl Probe {
    /// Ready (or alive) once a TCP connection to `addr` (`"host:port"`) succeeds.
    pub fn tcp(addr: impl ToString) -> Self {
        Probe::new(ProbeKind::Tcp(addr.to_string()))
    }

    /// Ready once a GET of `url` (`http://…`) answers 2xx.
    pub fn http(url: impl Into<String>) -> Self {
        Probe::new(ProbeKind::Http {
            url: url.into(),
            status: Vec::new(),
        })
    }

    /// Ready once a connection to the unix socket at `path` succeeds.
    pub fn unix(path: impl Into<std::path::PathBuf>) -> Self {
        Probe::new(ProbeKind::Unix(path.into()))
    }

    /// Ready once `argv` exits 0 (run in the service's working directory).
    pub fn exec<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Probe::new(ProbeKind::Exec(argv.into_iter().map(Into::into).collect()))
    }

    /// Ready once a line of the service's output matches the regex `pattern` (readiness
    /// only).
    pub fn log(pattern: impl Into<String>) -> Self {
        Probe::new(ProbeKind::Log(LogPattern::new(pattern)))
    }

    /// Ready once the service sends `READY=1` on `NOTIFY_SOCKET` (readiness only).
    pub fn notify() -> Self {
        Probe::new(ProbeKind::Notify)
    }

    /// Time between attempts (default 1s); short intervals make readiness seen sooner.
    #[must_use]
    pub fn with_interval(mut self, interval: std::time::Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Time limit of one attempt (default 1s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Wait before the first attempt (default 0).
    #[must_use]
    pub fn with_initial_delay(mut self, delay: std::time::Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Readiness only: give up after this long (default 60s).
    #[must_use]
    pub fn with_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Liveness only: consecutive failures that trigger a restart (default 3).
    #[must_use]
    pub fn with_failures(mut self, failures: u32) -> Self {
        self.failures = failures;
        self
    }
}
