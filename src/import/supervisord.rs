//! supervisord `.conf` files: each `[program:x]` becomes a service; `numprocs` becomes
//! `replicas`; `%(…)s` expansions are carried over where proctor has an equivalent.

use super::draft::{service_name, Draft, Svc, Val};
use super::ini::{self, Section};
use super::{lit, secs, Cx, ImportError, INTERPOLATION};

pub(super) fn read(cx: &Cx, text: &str) -> Result<Draft, ImportError> {
    let sections = ini::parse(text).map_err(|(line, msg)| cx.error(line, msg))?;
    let mut draft = Draft::default();
    for section in &sections {
        let (kind, name) = section
            .name
            .split_once(':')
            .map_or((section.name.as_str(), ""), |(k, n)| (k, n.trim()));
        match kind {
            "program" => {
                let svc = program(cx, name, section)?;
                draft.services.push(svc);
            }
            "supervisord" | "supervisorctl" | "unix_http_server" | "inet_http_server"
            | "rpcinterface" => {
                draft.skip(format!("[{}] (supervisord's own settings)", section.name));
            }
            "include" => {
                let files = value(section, "files").unwrap_or_default();
                draft.skip(format!(
                    "[include] files = {files} (import each file on its own)"
                ));
            }
            "group" => {
                let programs = value(section, "programs").unwrap_or_default();
                draft.skip(format!(
                    "[{}] programs = {programs} (proctor has no groups; roles come close)",
                    section.name
                ));
            }
            _ => draft.skip(format!("[{}] (no proctor equivalent)", section.name)),
        }
    }
    if draft.services.is_empty() {
        return Err(cx.error(0, "no [program:NAME] sections: nothing to import"));
    }
    Ok(draft)
}

fn value(section: &Section, key: &str) -> Option<String> {
    section
        .entries
        .iter()
        .find(|e| e.0 == key)
        .map(|e| e.1.clone())
}

/// What `%(…)s` expansions refer to in one program.
struct Expand<'a> {
    cx: &'a Cx,
    program: &'a str,
    numprocs: u32,
}

impl Expand<'_> {
    /// `s` with supervisord's expansions replaced; literal text made literal for the spec.
    fn apply(&self, s: &str, svc: &mut Svc) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find('%') {
            out.push_str(&lit(&rest[..pos]));
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("%%") {
                out.push('%');
                rest = after;
                continue;
            }
            let parsed = tail.strip_prefix("%(").and_then(|t| {
                let close = t.find(')')?;
                let name = &t[..close];
                let conv_end = t[close + 1..].find(|c: char| c.is_ascii_alphabetic())?;
                let conv = &t[close + 1..close + 2 + conv_end];
                Some((name, conv, &t[close + 2 + conv_end..]))
            });
            let Some((name, conv, after)) = parsed else {
                out.push('%');
                rest = &tail[1..];
                continue;
            };
            out.push_str(&self.one(name, conv, svc));
            rest = after;
        }
        out.push_str(&lit(rest));
        out
    }

    fn one(&self, name: &str, conv: &str, svc: &mut Svc) -> String {
        let whole = format!("%({name}){conv}");
        match name {
            "program_name" | "group_name" => lit(self.program),
            "numprocs" => self.numprocs.to_string(),
            "here" => lit(&self.cx.src_dir.display().to_string()),
            "process_num" => {
                if conv != "s" && conv != "d" {
                    svc.skip(format!(
                        "{whole} (its padding: proctor's instances count 0, 1, …)"
                    ));
                }
                if self.numprocs <= 1 {
                    "0".into()
                } else if INTERPOLATION {
                    "${PROCTOR_INSTANCE}".into()
                } else {
                    svc.skip(format!("{whole} (written as 0: each instance has PROCTOR_INSTANCE in its environment)"));
                    "0".into()
                }
            }
            env if env.starts_with("ENV_") => {
                let var = &env[4..];
                if INTERPOLATION {
                    format!("${{{var}}}")
                } else {
                    let now = std::env::var(var).unwrap_or_default();
                    svc.skip(format!("{whole} (expanded at import time to {now:?})"));
                    lit(&now)
                }
            }
            _ => {
                svc.skip(format!("{whole} (unknown expansion, kept as written)"));
                lit(&whole)
            }
        }
    }
}

fn truthy(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn number(v: &str) -> Option<u32> {
    v.trim().parse().ok()
}

fn program(cx: &Cx, raw_name: &str, section: &Section) -> Result<Svc, ImportError> {
    let name = service_name(raw_name).ok_or_else(|| {
        cx.error(
            section.line,
            format!("[program:{raw_name}]: not usable as a service name"),
        )
    })?;
    let mut svc = Svc::new(name);
    let numprocs = match value(section, "numprocs") {
        Some(v) => number(&v).filter(|n| *n >= 1).ok_or_else(|| {
            cx.error(
                section.line,
                format!("[program:{raw_name}] numprocs = {v:?}: expected a count"),
            )
        })?,
        None => 1,
    };
    if numprocs > 1 {
        svc.replicas = Some(numprocs);
    }
    let ex = Expand {
        cx,
        program: raw_name,
        numprocs,
    };
    if value(section, "command").is_none() {
        return Err(cx.error(
            section.line,
            format!("[program:{raw_name}] has no `command`"),
        ));
    }
    for (key, v, line) in &section.entries {
        let bad = |what: &str| cx.error(*line, format!("{key} = {v:?}: expected {what}"));
        match key.as_str() {
            "numprocs" => {}
            "command" => {
                let expanded = ex.apply(v, &mut svc);
                let argv = shell_words::split(&expanded).map_err(|e| {
                    cx.error(*line, format!("command cannot be split into words: {e}"))
                })?;
                svc.set("command", Val::strs(argv));
            }
            "directory" => {
                let dir = ex.apply(v, &mut svc);
                // A directory named through ${VAR} is the spec's to check when it runs.
                if dir.contains("${") || cx.resolve(&dir).is_dir() {
                    svc.set("cwd", Val::str(cx.rebase(&dir)));
                } else {
                    svc.skip(format!("directory = {v} (no such directory here)"));
                }
            }
            "environment" => {
                let pairs = environment(v).map_err(|m| cx.error(*line, m))?;
                let env = pairs
                    .into_iter()
                    .map(|(k, val)| (k, Val::str(ex.apply(&val, &mut svc))))
                    .collect();
                svc.set("env", Val::Table(env));
            }
            "autostart" => svc.set(
                "autostart",
                Val::Bool(truthy(v).ok_or_else(|| bad("true or false"))?),
            ),
            "autorestart" => {
                let policy = match v.trim().to_ascii_lowercase().as_str() {
                    "unexpected" => "on-failure",
                    other => match truthy(other) {
                        Some(true) => "always",
                        Some(false) => "no",
                        None => return Err(bad("true, false or unexpected")),
                    },
                };
                svc.set("restart", Val::str(policy));
            }
            "startsecs" => {
                let n = number(v).ok_or_else(|| bad("a number of seconds"))?;
                if n > 0 {
                    svc.comments.push(format!(
                        "ready: like startsecs = {n}, ready once it has run {n}s"
                    ));
                    svc.set(
                        "ready",
                        Val::Table(vec![
                            (
                                "exec".into(),
                                Val::strs(["sleep".to_string(), n.to_string()]),
                            ),
                            ("timeout".into(), Val::str(secs(f64::from(n + 1)))),
                            ("deadline".into(), Val::str(secs(f64::from(n.max(50) + 10)))),
                        ]),
                    );
                }
            }
            "startretries" => {
                let n = number(v).ok_or_else(|| bad("a count"))?;
                svc.set(
                    "start_limit",
                    Val::Table(vec![("burst".into(), Val::Int(i64::from(n.max(1))))]),
                );
            }
            "stopsignal" => {
                if crate::spec::signal_from_str(v.trim()).is_none() {
                    return Err(bad("a signal name"));
                }
                svc.set("stop_signal", Val::str(v.trim()));
            }
            "stopwaitsecs" => {
                let n = number(v).ok_or_else(|| bad("a number of seconds"))?;
                svc.set("stop_timeout", Val::str(secs(f64::from(n))));
            }
            "stopasgroup" | "killasgroup" => {
                if truthy(v) == Some(false) {
                    svc.skip(format!(
                        "{key} = false (proctor always signals the whole process group)"
                    ));
                }
            }
            "user" => {
                let user = ex.apply(v, &mut svc);
                svc.set("user", Val::str(user));
            }
            "umask" => svc.set("umask", Val::str(v.trim())),
            "exitcodes" => {
                if v.trim() != "0" {
                    svc.skip(format!(
                        "exitcodes = {v} (proctor counts only 0 as success)"
                    ));
                }
            }
            "process_name" => {
                if numprocs > 1 {
                    svc.skip(format!(
                        "process_name = {v} (instances are named {}.0, {}.1, …)",
                        svc.name, svc.name
                    ));
                }
            }
            "stdout_logfile_maxbytes" | "stdout_logfile_backups" => logs(key, v, &mut svc),
            k if k.starts_with("stdout_") || k.starts_with("stderr_") || k == "redirect_stderr" => {
                svc.skip(format!(
                    "{k} = {v} (proctor keeps each service's output itself: `proctor logs {}`)",
                    svc.name
                ));
            }
            _ => svc.skip(format!("{key} = {v}")),
        }
    }
    Ok(svc)
}

/// `stdout_logfile_maxbytes` (`50MB`, powers of 1024; 0 = no rotation) and
/// `stdout_logfile_backups` as the spec's `logs = { max_size, keep }`.
fn logs(key: &str, v: &str, svc: &mut Svc) {
    let v = v.trim();
    let entry = if key.ends_with("maxbytes") {
        let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
        let (num, unit) = v.split_at(split);
        let unit = match unit.to_ascii_uppercase().as_str() {
            "" => "",
            "KB" => "KiB",
            "MB" => "MiB",
            "GB" => "GiB",
            _ => "?",
        };
        match num.parse::<u64>() {
            Ok(n) if unit != "?" && n > 0 => ("max_size", Val::str(format!("{n}{unit}"))),
            _ => {
                return svc.skip(format!(
                    "{key} = {v} (proctor always rotates: 10MB by default)"
                ))
            }
        }
    } else {
        match v.parse::<i64>() {
            Ok(n) if (0..=1000).contains(&n) => ("keep", Val::Int(n)),
            _ => return svc.skip(format!("{key} = {v} (expected 0 to 1000)")),
        }
    };
    let mut table = match svc.keys.iter().find(|(k, _)| k == "logs") {
        Some((_, Val::Table(t))) => t.clone(),
        _ => Vec::new(),
    };
    table.push((entry.0.to_string(), entry.1));
    svc.set("logs", Val::Table(table));
}

/// supervisord's `KEY="value",KEY2=value2` (quotes optional; commas inside quotes kept).
fn environment(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("environment: {key:?} is not KEY=value"));
        }
        let mut val = String::new();
        match chars.peek() {
            Some(q @ ('"' | '\'')) => {
                let q = *q;
                chars.next();
                loop {
                    match chars.next() {
                        Some(c) if c == q => break,
                        Some(c) => val.push(c),
                        None => {
                            return Err(format!("environment: the quote of {key} is not closed"))
                        }
                    }
                }
                while chars.peek().is_some_and(|c| *c != ',') {
                    chars.next();
                }
            }
            _ => {
                while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                    val.push(c);
                    chars.next();
                }
                val = val.trim().to_string();
            }
        }
        pairs.push((key, val));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(dir: &std::path::Path) -> Cx {
        Cx {
            path: dir.join("app.conf"),
            src_dir: dir.to_path_buf(),
            out_dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn environment_forms() {
        assert_eq!(
            environment("A=\"1,2\",B=x, C='y z',D=").expect("env"),
            [("A", "1,2"), ("B", "x"), ("C", "y z"), ("D", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(environment("A=\"open").is_err());
        assert!(environment("=x").is_err());
    }

    #[test]
    fn programs_numprocs_and_expansions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "[supervisord]\nlogfile=/tmp/s.log\n\n[program:web]\ncommand=/bin/sh -c \"echo %(program_name)s %%d\"\nnumprocs=3\nprocess_name=%(program_name)s_%(process_num)02d\nautorestart=unexpected\nstopsignal=INT\nstopwaitsecs=5\nstdout_logfile=/var/log/web.log\ndirectory=/nonexistent/dir\n";
        let d = read(&cx(dir.path()), text).expect("read");
        let web = &d.services[0];
        assert_eq!(web.replicas, Some(3));
        assert!(web.keys.contains(&(
            "command".into(),
            Val::strs(["/bin/sh", "-c", "echo web %d"])
        )));
        assert!(web
            .keys
            .contains(&("restart".into(), Val::str("on-failure"))));
        assert!(web.keys.contains(&("stop_timeout".into(), Val::str("5s"))));
        assert!(!web.has("cwd"));
        let skipped = web.skipped.join("\n");
        assert!(skipped.contains("stdout_logfile"), "{skipped}");
        assert!(skipped.contains("process_name"), "{skipped}");
        assert!(skipped.contains("/nonexistent/dir"), "{skipped}");
        assert!(d.skipped[0].contains("[supervisord]"));
    }

    #[test]
    fn bad_values_name_their_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = read(
            &cx(dir.path()),
            "[program:a]\ncommand=x\nuser=www-data\numask=022\n",
        )
        .expect("read");
        assert!(d.services[0]
            .keys
            .contains(&("user".into(), Val::str("www-data"))));
        assert!(d.services[0]
            .keys
            .contains(&("umask".into(), Val::str("022"))));
        let d = read(
            &cx(dir.path()),
            "[program:a]\ncommand=x\nstdout_logfile_maxbytes=50MB\nstdout_logfile_backups=3\n",
        )
        .expect("read");
        let logs = Val::Table(vec![
            ("max_size".into(), Val::str("50MiB")),
            ("keep".into(), Val::Int(3)),
        ]);
        assert!(d.services[0].keys.contains(&("logs".into(), logs)));
        let e =
            read(&cx(dir.path()), "[program:a]\ncommand=x\nautostart=maybe\n").expect_err("bad");
        assert!(
            e.to_string().contains("app.conf:3: autostart = \"maybe\""),
            "{e}"
        );
        let e = read(&cx(dir.path()), "[program:a]\nuser=x\n").expect_err("no command");
        assert!(
            e.to_string().contains(":1: [program:a] has no `command`"),
            "{e}"
        );
        let e = read(&cx(dir.path()), "[program:a]\ncommand=x\nnumprocs=0\n").expect_err("zero");
        assert!(e.to_string().contains("numprocs"), "{e}");
    }
}
