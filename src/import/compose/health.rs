//! A compose healthcheck as a readiness probe: the check runs inside the container,
//! through whichever runtime runs it.

use std::time::Duration;

use super::super::draft::{Svc, Val};
use super::super::node::Node;
use super::super::{compose_str, lit, secs};

/// Compose's healthcheck defaults (interval 30s, 3 retries).
const HC_INTERVAL: Duration = Duration::from_secs(30);
const HC_RETRIES: u32 = 3;
/// The spec's default readiness deadline: an imported one is never shorter.
const MIN_DEADLINE: Duration = Duration::from_secs(60);

fn duration(v: Option<&Node>, key: &str, svc: &mut Svc) -> Option<(String, Duration)> {
    let s = v?.scalar()?;
    match humantime::parse_duration(&s) {
        Ok(d) => Some((s, d)),
        Err(e) => {
            svc.skip(format!("healthcheck {key} {s:?} ({e})"));
            None
        }
    }
}

pub(super) fn healthcheck(project: &str, def: &Node, hc: &Node, svc: &mut Svc) {
    if matches!(hc.get("disable"), Some(Node::Bool(true))) {
        return;
    }
    let test = match hc.get("test") {
        Some(Node::Str(s)) => vec!["CMD-SHELL".to_string(), s.clone()],
        Some(other) => other.strings().unwrap_or_default(),
        None => {
            svc.skip("healthcheck without `test` (the image's own HEALTHCHECK is not read)");
            return;
        }
    };
    let inner: Vec<String> = match test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            vec!["sh".into(), "-c".into(), rest.join(" ")]
        }
        Some((kind, _)) if kind == "NONE" => return,
        _ => {
            svc.skip(format!(
                "healthcheck test {test:?} (expected CMD, CMD-SHELL or NONE)"
            ));
            return;
        }
    };
    let container = def
        .get("container_name")
        .and_then(Node::scalar)
        .unwrap_or_else(|| format!("proctor-{project}-{}", svc.name));
    // The check runs inside the container, through whichever runtime runs it.
    let run = format!(
        "{} exec {} {}",
        lit("exec \"$(command -v podman || command -v docker)\""),
        shell_words::quote(&container),
        compose_str(&shell_words::join(&inner))
    );
    let mut probe = vec![(
        "exec".to_string(),
        Val::strs(["sh".to_string(), "-c".into(), run]),
    )];
    let interval = duration(hc.get("interval"), "interval", svc);
    if let Some((s, _)) = &interval {
        probe.push(("interval".into(), Val::str(s.clone())));
    }
    if let Some((s, _)) = duration(hc.get("timeout"), "timeout", svc) {
        probe.push(("timeout".into(), Val::str(s)));
    }
    let start = duration(hc.get("start_period"), "start_period", svc);
    let retries = hc.get("retries").and_then(|r| match r {
        Node::Int(n) => u32::try_from(*n).ok(),
        _ => None,
    });
    if interval.is_some() || start.is_some() || retries.is_some() {
        let every = interval.map_or(HC_INTERVAL, |(_, d)| d);
        let deadline =
            start.map_or(Duration::ZERO, |(_, d)| d) + every * retries.unwrap_or(HC_RETRIES);
        probe.push((
            "deadline".into(),
            Val::str(secs(deadline.max(MIN_DEADLINE).as_secs_f64())),
        ));
        svc.comments.push(
            "ready: the healthcheck; deadline = start_period + retries × interval (at least 60s)"
                .into(),
        );
    }
    for k in ["start_interval"] {
        if hc.get(k).is_some() {
            svc.skip(format!(
                "healthcheck {k} (a starting service is probed often anyway)"
            ));
        }
    }
    svc.set("ready", Val::Table(probe));
}
