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
    if !readiness && matches!(kind_name, "log" | "notify") {
        ctx.error(
            kv.span(),
            format!("`{kind_name}` is a readiness check only; it cannot be used in `live`"),
        );
        return None;
    }
    let kind = match kind_name {
        "tcp" => {
            let addr = ctx.nonempty("tcp", kv)?;
            if !addr.contains(':') {
                ctx.error(kv.span(), format!("`tcp` = {addr:?} must be \"host:port\""));
                return None;
            }
            ProbeKind::Tcp(addr)
        }
        "http" => {
            let url = ctx.nonempty("http", kv)?;
            if !url.starts_with("http://") {
                ctx.error_help(
                    kv.span(),
                    format!("`http` = {url:?} must be an http:// URL"),
                    Some("https is not supported by the probe; check a plain-http health endpoint"),
                );
                return None;
            }
            let mut status = Vec::new();
            if let Some(sv) = table.get("status") {
                if let DeValue::Array(items) = sv.get_ref() {
                    for item in items.iter() {
                        match ctx.uint("status[…]", item) {
                            Some(code @ 100..=599) => status.push(code as u16),
                            Some(code) => {
                                ctx.error(item.span(), format!("{code} is not an HTTP status"))
                            }
                            None => {}
                        }
                    }
                } else {
                    ctx.expected("status", sv, "an array of HTTP status codes");
                }
            }
            ProbeKind::Http { url, status }
        }
        "unix" => ProbeKind::Unix(ctx.path("unix", kv)?),
        "exec" => {
            let argv = match kv.get_ref() {
                DeValue::String(s) => match shell_words::split(s) {
                    Ok(w) => w,
                    Err(e) => {
                        ctx.error(kv.span(), format!("`exec` cannot be split into words: {e}"));
                        return None;
                    }
                },
                _ => ctx.strings("exec", kv)?,
            };
            if argv.is_empty() {
                ctx.error(kv.span(), "`exec` is empty: expected the program to run");
                return None;
            }
            ProbeKind::Exec(argv)
        }
        "log" => {
            let pattern = LogPattern::new(ctx.nonempty("log", kv)?);
            if let Err(e) = pattern.regex() {
                ctx.error(kv.span(), format!("`log` is not a valid regex: {e}"));
                return None;
            }
            ProbeKind::Log(pattern)
        }
        _ => {
            if !ctx.bool("notify", kv)? {
                ctx.error(
                    kv.span(),
                    "`notify = false` is not a check; remove the `ready` table instead",
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
        p.interval = positive(ctx, "interval", v).unwrap_or(p.interval);
    }
    if let Some(v) = table.get("timeout") {
        p.timeout = positive(ctx, "timeout", v).unwrap_or(p.timeout);
    }
    if let Some(v) = table.get("initial_delay") {
        p.initial_delay = ctx.duration("initial_delay", v).unwrap_or(p.initial_delay);
    }
    if let Some(v) = table.get("deadline") {
        if readiness {
            p.deadline = positive(ctx, "deadline", v).unwrap_or(p.deadline);
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
        if kind_name == "notify" {
            p.watchdog = positive(ctx, "watchdog", v);
        } else {
            ctx.error(
                v.span(),
                "`watchdog` applies only to `notify = true` probes",
            );
        }
    }
    Some(p)
}

fn positive(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<std::time::Duration> {
    let d = ctx.duration(key, v)?;
    if d.is_zero() {
        ctx.error(v.span(), format!("`{key}` must be longer than zero"));
        return None;
    }
    Some(d)
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
