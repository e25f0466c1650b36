//! `proctor logs [SERVICE…] [-n N] [-f] [--since D] [--stream S] [--no-prefix] [--json]`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::cli::args::{LogsArgs, StreamArg};
use crate::cli::{running, Printer};
use crate::control::proto::{Body, Command};
use crate::control::{Client, ControlError};
use crate::logs::{parse_record, tail, Record, RecordStream};
use crate::supervise::echo::prefix;

struct View<'a> {
    a: &'a LogsArgs,
    names: Vec<String>,
    width: usize,
    color: bool,
}

impl View<'_> {
    /// Whether `--stream`, `--grep` and `--until` let `rec` through.
    fn wants(&self, rec: &Record<'_>) -> bool {
        matches!(
            (self.a.stream, rec.stream),
            (Some(StreamArg::Out), RecordStream::Out)
                | (Some(StreamArg::Err), RecordStream::Err)
                | (None, _)
        ) && self.a.until.is_none_or(|u| rec.time < u)
            && self
                .a
                .grep
                .as_ref()
                .is_none_or(|re| re.is_match(&String::from_utf8_lossy(rec.line)))
    }

    /// Formats one raw record of service `idx`, or `None` when filtered out.
    fn format(&self, idx: usize, raw: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(rec) = parse_record(raw) else {
            return false;
        };
        if !self.wants(&rec) {
            return false;
        }
        let name = &self.names[idx];
        if self.a.json {
            let v = serde_json::json!({
                "service": name,
                "time": String::from_utf8_lossy(rec.stamp),
                "stream": rec.stream.tag(),
                "continued": rec.continued,
                "line": String::from_utf8_lossy(rec.line),
            });
            out.extend_from_slice(v.to_string().as_bytes());
        } else {
            if !self.a.no_prefix {
                out.extend_from_slice(prefix(name, idx, self.width, self.color).as_bytes());
            }
            // Invalid UTF-8 is kept on disk; only the display is lossy.
            out.extend_from_slice(String::from_utf8_lossy(rec.line).as_bytes());
        }
        // A piece of an over-long line continues on the next record: no newline between.
        if !rec.continued || self.a.json {
            out.push(b'\n');
        }
        true
    }
}

pub(crate) fn run(file: Option<&Path>, a: LogsArgs, p: &Printer) -> Result<ExitCode> {
    let t = running::target(file, true)?;
    t.warn(p);
    let all: Vec<String> = match &t.spec {
        Some(spec) => {
            let mut all: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
            // Replicas a `scale` added past the file's count are not in it; their logs are.
            let groups: Vec<&str> = spec
                .services
                .iter()
                .filter_map(|s| s.replica.as_ref().map(|r| r.group.as_str()))
                .collect();
            for n in running::logged_services(&t.paths.logs_dir()) {
                if !all.contains(&n) && groups.iter().any(|g| crate::spec::names(g, &n)) {
                    all.push(n);
                }
            }
            all
        }
        // The spec on disk is invalid: the services are the supervisor's, or else those
        // that have a log.
        None => running::supervisor_services(&t.paths)
            .unwrap_or_else(|| running::logged_services(&t.paths.logs_dir())),
    };
    let paths = t.paths;
    for n in &a.services {
        if !all.iter().any(|x| crate::spec::names(n, x)) {
            bail!("no service named {n:?}; services: {}", all.join(", "));
        }
    }
    let chosen: Vec<usize> = if a.services.is_empty() {
        (0..all.len()).collect()
    } else {
        (0..all.len())
            .filter(|&i| a.services.iter().any(|n| crate::spec::names(n, &all[i])))
            .collect()
    };
    let view = View {
        a: &a,
        width: chosen.iter().map(|&i| all[i].len()).max().unwrap_or(0),
        names: all,
        color: !a.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let followed: Vec<String> = chosen.iter().map(|&i| view.names[i].clone()).collect();
    // Subscribe before reading the files, so no line falls between the two.
    let mut follower = if a.follow {
        match Client::connect(&paths.control_socket()) {
            Ok(c) => Some(subscribe(c, &followed)?),
            Err(ControlError::NotRunning { .. }) => bail!(
                "no supervisor is running, so there are no new lines to follow (drop -f to read the files)"
            ),
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let since = a.since;
    let dir = paths.logs_dir();
    let mut records: Vec<(Vec<u8>, usize)> = Vec::new();
    for &i in &chosen {
        for r in tail(&dir, &view.names[i], a.lines, since, |r| view.wants(r))? {
            records.push((r, i));
        }
    }
    // RFC 3339 stamps of equal width sort as text; the sort is stable per service.
    records.sort_by(|x, y| stamp(&x.0).cmp(stamp(&y.0)));
    let mut out = Vec::new();
    for (r, i) in &records {
        view.format(*i, r, &mut out);
    }
    p.raw(&out)?;
    let Some(mut client) = follower.take() else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut last: Option<Vec<u8>> = records.last().map(|(r, _)| stamp(r).to_vec());
    loop {
        let resp = match client.recv() {
            Ok(r) => r,
            Err(ControlError::Closed) => {
                p.note("the supervisor stopped; waiting for it to come back (Ctrl-C to stop)");
                client = subscribe(reconnect(&paths)?, &followed)?;
                p.note("the supervisor is back");
                // What the services wrote before the new subscription took hold.
                let since = last
                    .as_deref()
                    .and_then(|l| std::str::from_utf8(l).ok())
                    .and_then(|l| humantime::parse_rfc3339(l).ok());
                let mut missed: Vec<(Vec<u8>, usize)> = Vec::new();
                for &i in &chosen {
                    for r in tail(&dir, &view.names[i], usize::MAX, since, |r| view.wants(r))? {
                        missed.push((r, i));
                    }
                }
                missed.sort_by(|x, y| stamp(&x.0).cmp(stamp(&y.0)));
                out.clear();
                for (r, i) in missed {
                    if last.as_deref().is_some_and(|l| stamp(&r) <= l)
                        || records.iter().any(|(x, _)| *x == r)
                    {
                        continue;
                    }
                    view.format(i, &r, &mut out);
                    last = Some(stamp(&r).to_vec());
                    records.push((r, i));
                }
                if !out.is_empty() && p.raw(&out).is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        out.clear();
        match resp.body {
            Body::Log(line) => {
                let raw = line.record.as_bytes();
                // Skip what the files already showed.
                if last.as_deref().is_some_and(|l| stamp(raw) < l)
                    || records.iter().any(|(r, _)| r.as_slice() == raw)
                {
                    continue;
                }
                if let Some(i) = view.names.iter().position(|n| *n == line.service) {
                    if view.format(i, raw, &mut out) {
                        last = Some(stamp(raw).to_vec());
                    }
                }
            }
            Body::Error(e) => p.note(&format!("warning: {}", e.message)),
            _ => {}
        }
        if !out.is_empty() && p.raw(&out).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Asks `c` to stream the lines of `services`.
fn subscribe(mut c: Client, services: &[String]) -> Result<Client> {
    c.send(Command::Follow {
        services: services.to_vec(),
    })?;
    // A supervisor that does not even answer `hello` is said so; after that, following
    // means waiting for lines as long as it takes.
    c.set_timeout(Some(crate::cli::deadline::ANSWER))?;
    c.hello()?;
    c.set_timeout(None)?;
    Ok(c)
}

/// Waits for a supervisor of `paths` to listen again: woken by its socket appearing in the
/// state directory, with a retry each second in case the wake-up came between bind and
/// listen.
fn reconnect(paths: &crate::state::Paths) -> Result<Client> {
    let watch = crate::sys::fs::DirWatch::new(&paths.root).ok();
    loop {
        match Client::connect(&paths.control_socket()) {
            Ok(c) => return Ok(c),
            Err(ControlError::NotRunning { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        match &watch {
            Some(w) => w.wait(std::time::Duration::from_secs(1)),
            None => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}

fn stamp(raw: &[u8]) -> &[u8] {
    let end = memchr::memchr(b' ', raw).unwrap_or(raw.len());
    &raw[..end]
}
