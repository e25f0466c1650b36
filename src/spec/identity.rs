//! Who a service runs as and within which limits: `user`, `group`, `supplementary_groups`,
//! `umask`, `nice` and `rlimits`.

use toml::de::DeValue;

use super::values::{Ctx, Value};

/// A service's identity and process limits, applied between fork and exec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `user = "name" | uid`: run as this user (root only).
    pub user: Option<String>,
    /// `group = "name" | gid`: run with this group (default: the user's).
    pub group: Option<String>,
    /// `supplementary_groups = [...]`: extra groups (default: none).
    pub supplementary_groups: Vec<String>,
    /// `umask = "022"`.
    pub umask: Option<u32>,
    /// `nice = -20..=19`.
    pub nice: Option<i32>,
    /// `rlimits = { nofile = 65536, core = "unlimited", stack = [soft, hard] }`.
    pub rlimits: Vec<Rlimit>,
    /// `memory_max = "500MB"`: the cgroup's `memory.max` (needs the memory controller).
    pub memory_max: Option<u64>,
    /// `cpu_max = "50%"`: the cgroup's `cpu.max`, as percent of one CPU (cpu controller).
    pub cpu_max: Option<u32>,
    /// `pids_max = 100`: the cgroup's `pids.max` (pids controller).
    pub pids_max: Option<u64>,
    /// `io_weight = 100` (1..=10000): the cgroup's `io.weight` (io controller).
    pub io_weight: Option<u64>,
    /// `restart_on_memory = "500MB"`: restart (as a failure) once the service's processes
    /// use more, by the cgroup's `memory.current` or their summed RSS.
    pub restart_on_memory: Option<u64>,
}

impl Identity {
    /// Whether nothing is set (the process inherits the supervisor's).
    pub fn is_empty(&self) -> bool {
        *self == Identity::default()
    }
}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The resource, as named in `rlimits`.
    pub resource: &'static str,
    /// Soft limit; `None` is unlimited.
    pub soft: Option<u64>,
    /// Hard limit; `None` is unlimited.
    pub hard: Option<u64>,
}

/// Every resource `rlimits` may name (`RLIMIT_*` in lower case).
pub const RESOURCES: &[&str] = &[
    "cpu",
    "fsize",
    "data",
    "stack",
    "core",
    "rss",
    "nproc",
    "nofile",
    "memlock",
    "as",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "rttime",
];

/// Reads the identity keys of a service table.
pub(super) fn parse(ctx: &mut Ctx<'_>, table: &toml::de::DeTable<'_>) -> Identity {
    let mut id = Identity::default();
    let name_or_id = |ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>| match v.get_ref() {
        DeValue::Integer(_) => ctx.uint(key, v).map(|n| n.to_string()),
        _ => ctx.nonempty(key, v),
    };
    if let Some(v) = table.get("user") {
        id.user = name_or_id(ctx, "user", v);
    }
    if let Some(v) = table.get("group") {
        id.group = name_or_id(ctx, "group", v);
    }
    if let Some(v) = table.get("supplementary_groups") {
        id.supplementary_groups = ctx.strings("supplementary_groups", v).unwrap_or_default();
    }
    if let Some(v) = table.get("umask") {
        match ctx.string("umask", v).map(|s| u32::from_str_radix(&s, 8)) {
            Some(Ok(m)) if m <= 0o777 => id.umask = Some(m),
            Some(_) => ctx.expected("umask", v, "an octal mode such as \"022\""),
            None => {}
        }
    }
    if let Some(v) = table.get("nice") {
        match v.get_ref() {
            DeValue::Integer(i) => match i.as_str().parse::<i32>() {
                Ok(n) if (-20..=19).contains(&n) => id.nice = Some(n),
                _ => ctx.error(v.span(), "`nice` must be between -20 and 19"),
            },
            _ => ctx.expected("nice", v, "an integer from -20 to 19"),
        }
    }
    if let Some(v) = table.get("memory_max") {
        id.memory_max = ctx.size("memory_max", v);
    }
    if let Some(v) = table.get("restart_on_memory") {
        id.restart_on_memory = ctx.size("restart_on_memory", v);
    }
    if let Some(v) = table.get("pids_max") {
        id.pids_max = ctx.uint("pids_max", v);
    }
    if let Some(v) = table.get("io_weight") {
        match ctx.uint("io_weight", v) {
            Some(w) if (1..=10_000).contains(&w) => id.io_weight = Some(w),
            Some(_) => ctx.error(v.span(), "`io_weight` must be between 1 and 10000"),
            None => {}
        }
    }
    if let Some(v) = table.get("cpu_max") {
        let pct = ctx.string("cpu_max", v).and_then(|s| {
            s.trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<u32>().ok())
        });
        match pct {
            Some(p) if p > 0 => id.cpu_max = Some(p),
            _ => ctx.expected(
                "cpu_max",
                v,
                "a percentage of one CPU, such as \"50%\" or \"200%\"",
            ),
        }
    }
    if let Some(v) = table.get("rlimits") {
        if let Some(t) = ctx.table("rlimits", v) {
            ctx.check_keys(t, RESOURCES, "`rlimits`");
            for &resource in RESOURCES {
                let Some(v) = t.get(resource) else { continue };
                let one = |ctx: &mut Ctx<'_>, v: &Value<'_>| -> Option<Option<u64>> {
                    match v.get_ref() {
                        DeValue::String(s) if s.as_ref() == "unlimited" => Some(None),
                        DeValue::String(_) => ctx.size(resource, v).map(Some),
                        DeValue::Integer(_) => ctx.uint(resource, v).map(Some),
                        _ => {
                            ctx.expected(resource, v, "a number, a size or \"unlimited\"");
                            None
                        }
                    }
                };
                let limit =
                    match v.get_ref() {
                        DeValue::Array(a) if a.len() == 2 => one(ctx, &a[0])
                            .zip(one(ctx, &a[1]))
                            .map(|(soft, hard)| Rlimit {
                                resource,
                                soft,
                                hard,
                            }),
                        DeValue::Array(_) => {
                            ctx.expected(resource, v, "[soft, hard]");
                            None
                        }
                        _ => one(ctx, v).map(|l| Rlimit {
                            resource,
                            soft: l,
                            hard: l,
                        }),
                    };
                if let Some(l) = limit {
                    if matches!((l.soft, l.hard), (Some(s), Some(h)) if s > h)
                        || (l.soft.is_none() && l.hard.is_some())
                    {
                        ctx.error(
                            v.span(),
                            format!("`rlimits.{resource}`: the soft limit exceeds the hard one"),
                        );
                    } else {
                        id.rlimits.push(l);
                    }
                }
            }
        }
    }
    id
}
