//! How command-line values are read: durations, times, `KEY=VALUE`, and the service names
//! a shell completes.

/// A duration such as `500ms`, `10s` or `2m`.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 10s, 2m)"))
}

/// An age before now (`10m`) or a time: RFC 3339 with an offset, or a UTC date and time
/// (`2026-12-02 10:00:00`, `2026-12-02T10:00`, `2026-12-02`).
pub(crate) fn parse_when(s: &str) -> Result<std::time::SystemTime, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        return std::time::SystemTime::now()
            .checked_sub(d)
            .ok_or_else(|| format!("{s} ago is before the epoch"));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    // An offset other than Z: move the local reading to UTC.
    // `split_at_checked`: the last six bytes may not start on a character (`éééé1`).
    if let Some((head, tail)) = s.len().checked_sub(6).and_then(|at| s.split_at_checked(at)) {
        let b = tail.as_bytes();
        if (b[0] == b'+' || b[0] == b'-') && b[3] == b':' {
            let h: u64 = tail[1..3].parse().map_err(|_| bad_when(s))?;
            let m: u64 = tail[4..6].parse().map_err(|_| bad_when(s))?;
            let off = std::time::Duration::from_secs(h * 3600 + m * 60);
            let t = humantime::parse_rfc3339_weak(head).map_err(|_| bad_when(s))?;
            return if b[0] == b'+' {
                t.checked_sub(off)
            } else {
                t.checked_add(off)
            }
            .ok_or_else(|| bad_when(s));
        }
    }
    for suffix in [":00", " 00:00:00"] {
        if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s}{suffix}")) {
            return Ok(t);
        }
    }
    Err(bad_when(s))
}

fn bad_when(s: &str) -> String {
    format!("{s:?} is neither an age (10m, 2h) nor a time (2026-12-02T10:00:00Z, \"2026-12-02 10:00\", 2026-12-02)")
}

/// Completes an argument with the spec's service names (see `proctor completions`).
pub(crate) fn service_names() -> clap_complete::engine::ArgValueCandidates {
    clap_complete::engine::ArgValueCandidates::new(crate::cli::service_names)
}

pub(crate) fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}
