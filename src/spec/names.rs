//! Service names: the rules a name follows, and what a name asked for means.

/// Whether asking for `asked` means the service `name`: it is that service, or one of the
/// replicas (`web.0`, `web.1`, …) of the `replicas = N` service `asked`.
pub fn names(asked: &str, name: &str) -> bool {
    name == asked
        || name
            .strip_prefix(asked)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// `raw` made a valid name: characters names may not hold become `-`, a leading `.` or `-`
/// is dropped, and it is cut at 64 characters. `None` when nothing usable is left.
pub fn usable_name(raw: &str) -> Option<String> {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name: String = mapped
        .trim_start_matches(['.', '-'])
        .chars()
        .take(64)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Checks a service name against the rules: `[A-Za-z0-9_.-]`, 1..=64 chars, not starting
/// with `.` or `-`. Returns what is wrong, if anything.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "must be 1 to 64 characters long, got {}",
            name.len()
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err("must not start with '.' or '-'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "may contain only letters, digits, '_', '.' and '-', found {c:?}"
        ));
    }
    Ok(())
}
