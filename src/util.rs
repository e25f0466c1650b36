//! Small shared helpers: RFC 3339 timestamps.

use std::time::SystemTime;

/// Serde for `SystemTime` as RFC 3339 UTC with microseconds.
pub mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `t` as `2026-11-23T09:38:29.123456Z`.
    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_micros(*t))
    }

    /// Parses an RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s).map_err(serde::de::Error::custom)
    }
}

/// `t` as RFC 3339 UTC with microseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Milliseconds from `earlier` to `later`, zero if the clock went backwards.
pub fn millis_between(earlier: SystemTime, later: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Whether `dir` is already this process's working directory, so a child spawned to run
/// there needs no chdir. A chdir makes std fork instead of posix_spawn (vfork) in a
/// statically linked build (its `posix_spawn_file_actions_addchdir_np` is looked up
/// dynamically), and forking copies the supervisor's page tables on every spawn.
pub(crate) fn is_current_dir(dir: &std::path::Path) -> bool {
    std::env::current_dir().is_ok_and(|cwd| cwd == dir)
}
