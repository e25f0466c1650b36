//! A builder-made spec written out as `proctor.toml`, so that a supervisor in another
//! process (which reads its spec from a file) runs exactly what the builder declared.

use std::time::Duration;

use toml::{Table, Value};

use crate::spec::{Backend, Probe, ProbeKind, RestartPolicy, Service, Spec, Storage};
use crate::sys::child::signal_name;

/// The spec as TOML text; `Err` names a setting the file format cannot express.
pub(super) fn render(spec: &Spec) -> Result<String, String> {
    let mut project = Table::new();
    project.insert("name".into(), spec.project.name.clone().into());
    let mut services = Table::new();
    for s in &spec.services {
        services.insert(s.name.clone(), Value::Table(service(s)?));
    }
    let mut root = Table::new();
    root.insert("project".into(), Value::Table(project));
    root.insert("service".into(), Value::Table(services));
    toml::to_string(&root).map_err(|e| e.to_string())
}

fn duration(d: Duration) -> Value {
    // humantime's own format parses back to the same nanosecond.
    humantime::format_duration(d).to_string().into()
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::from).collect())
}

fn int(n: u64) -> Result<Value, String> {
    i64::try_from(n)
        .map(Value::from)
        .map_err(|_| format!("{n} is too large for the spec file"))
}

fn service(s: &Service) -> Result<Table, String> {
    let mut t = Table::new();
    t.insert("command".into(), strings(&s.command));
    t.insert("cwd".into(), s.cwd.display().to_string().into());
    if !s.env.is_empty() {
        let env: Table = s
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        t.insert("env".into(), Value::Table(env));
    }
    let restart = match s.restart {
        RestartPolicy::No => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    };
    t.insert("restart".into(), restart.into());
    let mut backoff = Table::new();
    backoff.insert("initial".into(), duration(s.backoff.initial));
    backoff.insert("max".into(), duration(s.backoff.max));
    backoff.insert("factor".into(), s.backoff.factor.into());
    t.insert("backoff".into(), Value::Table(backoff));
    let mut limit = Table::new();
    limit.insert("burst".into(), int(s.start_limit.burst.into())?);
    limit.insert("interval".into(), duration(s.start_limit.interval));
    t.insert("start_limit".into(), Value::Table(limit));
    t.insert(
        "stop_signal".into(),
        signal_name(s.stop_signal.as_raw()).into(),
    );
    t.insert("stop_timeout".into(), duration(s.stop_timeout));
    if let Some(p) = &s.ready {
        t.insert("ready".into(), Value::Table(probe(p, true)?));
    }
    if let Some(p) = &s.live {
        t.insert("live".into(), Value::Table(probe(p, false)?));
    }
    if !s.depends_on.is_empty() {
        let deps: Table = s
            .depends_on
            .iter()
            .map(|d| {
                let c = match d.condition {
                    crate::spec::Condition::Started => "started",
                    crate::spec::Condition::Ready => "ready",
                    crate::spec::Condition::Completed => "completed",
                };
                (d.name.clone(), Value::from(c))
            })
            .collect();
        t.insert("depends_on".into(), Value::Table(deps));
    }
    let mut logs = Table::new();
    logs.insert("max_size".into(), int(s.logs.max_size)?);
    logs.insert("keep".into(), int(s.logs.keep.into())?);
    logs.insert("max_line".into(), int(s.logs.max_line as u64)?);
    t.insert("logs".into(), Value::Table(logs));
    match &s.storage {
        None => {}
        Some(Storage::Sandboxed) => {
            t.insert("storage".into(), "sandboxed".into());
        }
        Some(Storage::Persistent { path, keep_on_exit }) => {
            let mut st = Table::new();
            st.insert("path".into(), path.display().to_string().into());
            st.insert("keep_on_exit".into(), (*keep_on_exit).into());
            t.insert("storage".into(), Value::Table(st));
        }
    }
    match &s.backend {
        Backend::Process => {}
        Backend::Tmux => {
            t.insert("backend".into(), "tmux".into());
        }
        Backend::Container(_) => {
            return Err("a container service needs a spec file (Daemon::from_spec)".into())
        }
    }
    Ok(t)
}

fn probe(p: &Probe, readiness: bool) -> Result<Table, String> {
    let mut t = Table::new();
    match &p.kind {
        ProbeKind::Tcp(addr) => {
            t.insert("tcp".into(), addr.clone().into());
        }
        ProbeKind::Http { url, status } => {
            t.insert("http".into(), url.clone().into());
            if !status.is_empty() {
                let codes = status.iter().map(|c| Value::from(i64::from(*c))).collect();
                t.insert("status".into(), Value::Array(codes));
            }
        }
        ProbeKind::Unix(path) => {
            t.insert("unix".into(), path.display().to_string().into());
        }
        ProbeKind::Exec(argv) => {
            t.insert("exec".into(), strings(argv));
        }
        ProbeKind::Log(re) => {
            t.insert("log".into(), re.as_str().into());
        }
        ProbeKind::Notify => {
            t.insert("notify".into(), true.into());
            if let Some(w) = p.watchdog {
                t.insert("watchdog".into(), duration(w));
            }
        }
    }
    t.insert("interval".into(), duration(p.interval));
    t.insert("timeout".into(), duration(p.timeout));
    t.insert("initial_delay".into(), duration(p.initial_delay));
    if readiness {
        t.insert("deadline".into(), duration(p.deadline));
    } else {
        t.insert("failures".into(), int(p.failures.into())?);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Signal;

    #[test]
    fn a_builder_spec_survives_the_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = crate::Daemon::builder("web")
            .command(["python3", "-c", "print('a \"quoted\" arg')"])
            .env("KEY", "va=lue")
            .cwd(dir.path())
            .ready(
                Probe::http("http://127.0.0.1:1/health").with_interval(Duration::from_micros(1500)),
            )
            .live(Probe::tcp("127.0.0.1:1").with_failures(7))
            .restart(RestartPolicy::Always)
            .stop_signal(Signal::INT)
            .stop_timeout(Duration::from_millis(2500))
            .storage(Storage::Sandboxed)
            .lock_dir(dir.path())
            .spec_for_tests();
        let text = render(&spec).expect("render");
        let back = Spec::parse_str(&text, &dir.path().join("proctor.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.project.name, "web");
        assert_eq!(back.services, spec.services, "{text}");
    }
}
