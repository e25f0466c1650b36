//! Serde for `SystemTime` as RFC 3339 UTC with microseconds, the wire's time format.

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
