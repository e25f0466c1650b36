//! [`Service::validate`]: the one set of rules a service's values must follow, whether it
//! was read from `proctor.toml`, built with [`crate::DaemonBuilder`] or started with
//! `proctor run`.
//!
//! The rules speak of settings by the keys a `proctor.toml` service table writes them at,
//! so the file parser can place each problem at `file:line:col` and every path says the
//! same thing in the same words. What only a file can get wrong (an unknown key, a value
//! of the wrong type, a probe naming two checks) stays in the parser.

use std::fmt;
use std::path::PathBuf;

use super::values::did_you_mean;
use super::{
    Autostart, Backend, Backoff, LogSettings, Probe, ProbeKind, Project, Service, Spec, SpecError,
    Storage,
};

/// One problem [`Service::validate`] found: which setting, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The setting, as the keys a `proctor.toml` service table writes it under
    /// (`ready`, `interval`); empty for the service's name.
    pub path: Vec<Seg>,
    /// Whether the key at the end of `path` is wrong (an environment variable's name, a
    /// dependency) rather than its value.
    pub at_key: bool,
    /// What is wrong and what was expected.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

/// One step of an [`Invalid::path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key of a table.
    Key(String),
    /// The n-th entry of an array, or of a table written where an array may be
    /// (`depends_on = { db = "ready" }`).
    Index(usize),
}

impl Invalid {
    /// A problem with the service's name (the path is empty until `at…` says otherwise).
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            at_key: false,
            message: message.into(),
            help: None,
        }
    }

    /// With a hint on how to fix it.
    pub(super) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// At the value of the keys `path`.
    pub(super) fn at(mut self, path: &[&str]) -> Self {
        self.path = path.iter().map(|k| Seg::Key((*k).into())).collect();
        self
    }

    /// At the key itself of entry `index` of `key` (an array item, or a table's key).
    pub(super) fn at_entry(mut self, key: &str, index: usize) -> Self {
        self.path = vec![Seg::Key(key.into()), Seg::Index(index)];
        self.at_key = true;
        self
    }

    /// At the name of the variable `name` in `env`.
    fn at_env(mut self, name: &str) -> Self {
        self.path = vec![Seg::Key("env".into()), Seg::Key(name.into())];
        self.at_key = true;
        self
    }

    /// At `path` below the probe table `probe` (`ready` or `live`).
    fn in_probe(mut self, probe: &str, path: &[Seg]) -> Self {
        self.path = std::iter::once(Seg::Key(probe.into()))
            .chain(path.iter().cloned())
            .collect();
        self
    }

    /// As a spec error without a position, for services that were not read from a file:
    /// `file` names where they came from.
    pub fn into_spec_error(self, file: PathBuf) -> SpecError {
        SpecError {
            file,
            line: 0,
            col: 0,
            message: self.message,
            help: self.help,
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Service {
    /// Every problem with this service's values, in the order of a `proctor.toml` table;
    /// empty when it may run. `project` supplies the declared roles. Dependencies on other
    /// services are checked with the whole spec ([`super::Spec::validate`]).
    pub fn validate(&self, project: &Project) -> Vec<Invalid> {
        let mut out = Vec::new();
        if let Err(why) = super::check_name(&self.name) {
            out.push(Invalid::new(format!("service name {:?} {why}", self.name)));
        }
        self.check_command(&mut out);
        if !self.cwd.is_absolute() {
            out.push(
                Invalid::new(format!(
                    "`cwd` {} must be an absolute path",
                    self.cwd.display()
                ))
                .at(&["cwd"]),
            );
        } else if !self.cwd.is_dir() {
            out.push(
                Invalid::new(format!(
                    "`cwd` {} is not an existing directory",
                    self.cwd.display()
                ))
                .at(&["cwd"]),
            );
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                out.push(Invalid::new(format!("{key:?} is not a valid variable name")).at_env(key));
            }
        }
        self.check_roles(project, &mut out);
        check_backoff(&self.backoff, &mut out);
        if self.start_limit.burst == 0 {
            out.push(zero_count("burst").at(&["start_limit", "burst"]));
        }
        if let Some(p) = &self.ready {
            check_probe(p, "ready", &mut out);
        }
        if let Some(p) = &self.live {
            check_probe(p, "live", &mut out);
        }
        for (i, dep) in self.depends_on.iter().enumerate() {
            if self.depends_on[..i].iter().any(|d| d.name == dep.name) {
                out.push(
                    Invalid::new(format!("`{}` is listed twice in `depends_on`", dep.name))
                        .at_entry("depends_on", i),
                );
            }
        }
        check_logs(&self.logs, &mut out);
        super::export::check(self, &mut out);
        if self.reload_signal.is_some() && self.reload_on.is_empty() {
            out.push(
                Invalid::new(
                    "`reload_signal` is sent when the `reload_on` files change, and there are none",
                )
                .help("list the service's configuration files in `reload_on`")
                .at(&["reload_signal"]),
            );
        }
        if let Some(storage) = &self.storage {
            check_storage(storage, &mut out);
        }
        if let Backend::Container(c) = &self.backend {
            if c.image.trim().is_empty() {
                out.push(Invalid::new("`image` must not be empty").at(&["image"]));
            }
            for vol in &c.volumes {
                if !matches!(vol.split_once(':'), Some((h, c)) if !h.is_empty() && !c.is_empty()) {
                    out.push(
                        Invalid::new(format!("volume {vol:?} must be \"host:container\""))
                            .at(&["volumes"]),
                    );
                }
            }
            if c.container_name
                .as_ref()
                .is_some_and(|n| n.trim().is_empty())
            {
                out.push(
                    Invalid::new("`container_name` must not be empty").at(&["container_name"]),
                );
            }
        }
        out
    }

    fn check_command(&self, out: &mut Vec<Invalid>) {
        // A container may leave the command to its image.
        let optional = matches!(self.backend, Backend::Container(_));
        if self.command.is_empty() && !optional {
            out.push(
                Invalid::new("`command` is empty: expected the program to run")
                    .help("there is no command to run: write command = [\"program\", \"arg\"]")
                    .at(&["command"]),
            );
        } else if self.command.first().is_some_and(String::is_empty) {
            out.push(Invalid::new("`command` starts with an empty program name").at(&["command"]));
        }
    }

    fn check_roles(&self, project: &Project, out: &mut Vec<Invalid>) {
        let Autostart::Roles(roles) = &self.autostart else {
            return;
        };
        let declared: Vec<&str> = project.roles.iter().map(String::as_str).collect();
        for (i, role) in roles.iter().enumerate() {
            if declared.contains(&role.as_str()) {
                continue;
            }
            let help = if declared.is_empty() {
                format!("declare it: [project] roles = [{role:?}]")
            } else {
                did_you_mean(role, &declared).map_or_else(
                    || format!("declared roles: {}", declared.join(", ")),
                    |r| format!("did you mean {r:?}?"),
                )
            };
            out.push(
                Invalid::new(format!(
                    "service `{}` names role {role:?}, which is not declared",
                    self.name
                ))
                .help(help)
                .at_entry("autostart", i),
            );
        }
    }
}

/// `key` (a count) is zero; the words are those of a count that is not a number at all.
fn zero_count(key: &str) -> Invalid {
    Invalid::new(format!(
        "`{key}` must be an integer from 1 to 4294967295, found 0"
    ))
}

fn check_backoff(b: &Backoff, out: &mut Vec<Invalid>) {
    // Written so that NaN fails too.
    if !(1.0..=100.0).contains(&b.factor) {
        out.push(
            Invalid::new(format!(
                "`factor` must be between 1.0 and 100.0, found {}",
                b.factor
            ))
            .at(&["backoff", "factor"]),
        );
    }
    if b.max < b.initial {
        out.push(
            Invalid::new("`backoff.max` must not be shorter than `backoff.initial`")
                .at(&["backoff"]),
        );
    }
}

fn check_logs(l: &LogSettings, out: &mut Vec<Invalid>) {
    if l.max_size < 4096 {
        out.push(Invalid::new("`max_size` must be at least 4KiB").at(&["logs", "max_size"]));
    }
    if l.keep > 1000 {
        out.push(Invalid::new("`keep` must be at most 1000").at(&["logs", "keep"]));
    }
    if !(64..=16 << 20).contains(&l.max_line) {
        out.push(
            Invalid::new("`max_line` must be between 64B and 16MiB").at(&["logs", "max_line"]),
        );
    }
}

fn check_storage(storage: &Storage, out: &mut Vec<Invalid>) {
    let Storage::Persistent { path, .. } = storage else {
        return;
    };
    if !path.is_absolute() {
        out.push(
            Invalid::new(format!(
                "`storage.path` {} must be an absolute path",
                path.display()
            ))
            .at(&["storage", "path"]),
        );
    } else if path.parent().is_none() {
        out.push(
            Invalid::new("`storage.path` must not be the root directory").at(&["storage", "path"]),
        );
    }
}

/// The checks of a `ready` or `live` probe (`which` says which).
fn check_probe(p: &Probe, which: &str, out: &mut Vec<Invalid>) {
    let readiness = which == "ready";
    let kind = match &p.kind {
        ProbeKind::Tcp(_) => "tcp",
        ProbeKind::Http { .. } => "http",
        ProbeKind::Unix(_) => "unix",
        ProbeKind::Exec(_) => "exec",
        ProbeKind::Log(_) => "log",
        ProbeKind::Notify => "notify",
    };
    let mut found = Vec::new();
    if !readiness && matches!(kind, "log" | "notify") {
        let inv = Invalid::new(format!(
            "`{kind}` is a readiness check only; it cannot be used in `live`"
        ))
        .help("`log` and `notify` report readiness only; move this check to `ready`");
        // What else is wrong with it does not matter until it is moved.
        found.push((inv, key(kind)));
    } else {
        check_check(&p.kind, kind, &mut found);
        let mut durations = vec![("interval", p.interval), ("timeout", p.timeout)];
        if readiness {
            durations.push(("deadline", p.deadline));
        }
        match p.watchdog {
            Some(w) if kind == "notify" => durations.push(("watchdog", w)),
            Some(_) => found.push((
                Invalid::new("`watchdog` applies only to `notify = true` probes"),
                key("watchdog"),
            )),
            None => {}
        }
        for (name, d) in durations {
            if d.is_zero() {
                let inv = Invalid::new(format!("`{name}` must be longer than zero"));
                found.push((inv, key(name)));
            }
        }
        if !readiness && p.failures == 0 {
            found.push((zero_count("failures"), key("failures")));
        }
    }
    out.extend(
        found
            .into_iter()
            .map(|(inv, path)| inv.in_probe(which, &path)),
    );
}

/// The path of `k` below a probe table.
fn key(k: &str) -> Vec<Seg> {
    vec![Seg::Key(k.into())]
}

/// The checks of what a probe checks (`kind` is its key: `tcp`, `http`, …).
fn check_check(check: &ProbeKind, kind: &str, found: &mut Vec<(Invalid, Vec<Seg>)>) {
    let empty = || {
        (
            Invalid::new(format!("`{kind}` must not be empty")),
            key(kind),
        )
    };
    match check {
        ProbeKind::Tcp(addr) if addr.trim().is_empty() => found.push(empty()),
        ProbeKind::Tcp(addr) if !addr.contains(':') => found.push((
            Invalid::new(format!("`tcp` = {addr:?} must be \"host:port\"")),
            key(kind),
        )),
        ProbeKind::Http { url, .. } if url.trim().is_empty() => found.push(empty()),
        ProbeKind::Http { url, .. } if !url.starts_with("http://") => found.push((
            Invalid::new(format!("`http` = {url:?} must be an http:// URL"))
                .help("https is not supported by the probe; check a plain-http health endpoint"),
            key(kind),
        )),
        ProbeKind::Http { status, .. } => {
            for (i, code) in status.iter().enumerate() {
                if !(100..=599).contains(code) {
                    let path = vec![Seg::Key("status".into()), Seg::Index(i)];
                    found.push((Invalid::new(format!("{code} is not an HTTP status")), path));
                }
            }
        }
        ProbeKind::Unix(path) if path.as_os_str().is_empty() => found.push(empty()),
        ProbeKind::Exec(argv) if argv.is_empty() => found.push((
            Invalid::new("`exec` is empty: expected the program to run"),
            key(kind),
        )),
        ProbeKind::Log(pattern) if pattern.as_str().trim().is_empty() => found.push(empty()),
        ProbeKind::Log(pattern) => {
            if let Err(e) = pattern.regex() {
                let inv = Invalid::new(format!("`log` is not a valid regex: {e}"));
                found.push((inv, key(kind)));
            }
        }
        _ => {}
    }
}

impl Spec {
    /// Every problem of every service, each with the index of its service:
    /// [`Service::validate`] for each, then what spans services (a dependency that is not
    /// declared, on itself, or in a cycle). Empty when the spec may run.
    pub fn validate(&self) -> Vec<(usize, Invalid)> {
        problems(&self.project, &self.services)
    }
}

/// [`Spec::validate`] for a spec still being put together.
pub(super) fn problems(project: &Project, services: &[Service]) -> Vec<(usize, Invalid)> {
    let mut out: Vec<(usize, Invalid)> = services
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.validate(project).into_iter().map(move |inv| (i, inv)))
        .collect();
    out.extend(super::depends::check(services));
    out
}
