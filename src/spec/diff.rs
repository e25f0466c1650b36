//! What changed between two versions of a spec, field by field, and whether a change needs
//! the service's process to be replaced.
//!
//! A change to what the process is made of (command, cwd, env, backend, storage, the notify
//! socket a `notify` readiness hands it) needs a restart. A change to what only the
//! supervisor does with it (restart policy, backoff, start limit, stop signal and timeout,
//! dependencies, autostart, log rotation, probes) applies to the running process as it is.
//! The content of a service's `reload_on` files is compared by the supervisor, which knows
//! what the running process read ([`config_hash`]).

use std::collections::BTreeSet;

use super::{Probe, ProbeKind, Project, Service, Spec};

/// How one service's definition changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// Changed fields that need a new process (`command`, `env.VERSION`, …).
    pub(crate) restart: Vec<String>,
    /// Changed fields that apply to the running process (`logs.max_size`, …).
    pub(crate) live: Vec<String>,
}

impl Change {
    /// Whether nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.restart.is_empty() && self.live.is_empty()
    }
}

/// The difference between a running spec and the one on disk now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Diff {
    /// Services only the new spec has, in its order.
    pub(crate) added: Vec<String>,
    /// Services only the old spec has.
    pub(crate) removed: Vec<String>,
    /// Services both have, with what changed, in the new spec's order.
    pub(crate) changed: Vec<(String, Change)>,
    /// `[project]` fields that changed and cannot apply to a running supervisor.
    pub(crate) project_fixed: Vec<String>,
}

/// Compares every service of `old` with `new` by name.
pub(crate) fn diff(old: &Spec, new: &Spec) -> Diff {
    let mut d = Diff {
        project_fixed: project_fixed(&old.project, &new.project),
        ..Diff::default()
    };
    for svc in &new.services {
        match old.service(&svc.name) {
            None => d.added.push(svc.name.clone()),
            Some(before) => {
                let c = service(before, svc);
                if !c.is_empty() {
                    d.changed.push((svc.name.clone(), c));
                }
            }
        }
    }
    d.removed = old
        .services
        .iter()
        .filter(|s| new.service(&s.name).is_none())
        .map(|s| s.name.clone())
        .collect();
    d
}

/// `[project]` fields a running supervisor cannot take: they decide where its own files are
/// and what its sessions and containers are called.
fn project_fixed(old: &Project, new: &Project) -> Vec<String> {
    let mut out = Vec::new();
    if old.name != new.name {
        out.push("project.name".to_string());
    }
    if old.state_dir != new.state_dir {
        out.push("project.state_dir".to_string());
    }
    // The listener is bound once, at start-up.
    if old.metrics != new.metrics {
        out.push("project.metrics".to_string());
    }
    out
}

/// What changed between two definitions of one service.
pub(crate) fn service(old: &Service, new: &Service) -> Change {
    let mut c = Change::default();
    let mut restart = |field: &str, differs: bool| {
        if differs {
            c.restart.push(field.to_string());
        }
    };
    restart("command", old.command != new.command);
    restart("cwd", old.cwd != new.cwd);
    restart("backend", old.backend != new.backend);
    restart("storage", old.storage != new.storage);
    let (a, b) = (&old.identity, &new.identity);
    restart("user", a.user != b.user);
    restart(
        "group",
        a.group != b.group || a.supplementary_groups != b.supplementary_groups,
    );
    restart("umask", a.umask != b.umask);
    restart("nice", a.nice != b.nice);
    restart("rlimits", a.rlimits != b.rlimits);
    restart("memory_max", a.memory_max != b.memory_max);
    restart("cpu_max", a.cpu_max != b.cpu_max);
    restart("pids_max", a.pids_max != b.pids_max);
    restart("io_weight", a.io_weight != b.io_weight);
    let keys: BTreeSet<&String> = old.env.keys().chain(new.env.keys()).collect();
    for k in keys {
        // A replica's count changed (in the file or by `scale`): the replicas that run
        // keep running, as `scale` leaves them; only new ones get the new count.
        if k == "PROCTOR_REPLICAS" && old.replica.is_some() && new.replica.is_some() {
            continue;
        }
        restart(&format!("env.{k}"), old.env.get(k) != new.env.get(k));
    }
    // A `notify` probe hands the process its socket: switching to or from it needs a new
    // process; any other readiness change applies from the next start on.
    let notify = |p: &Option<Probe>| p.as_ref().is_some_and(|p| p.kind == ProbeKind::Notify);
    restart("ready", notify(&old.ready) != notify(&new.ready));
    let mut live = |field: &str, differs: bool| {
        if differs && !c.restart.iter().any(|f| f == field) {
            c.live.push(field.to_string());
        }
    };
    live("ready", old.ready != new.ready);
    live("live", old.live != new.live);
    live("restart", old.restart != new.restart);
    live("backoff", old.backoff != new.backoff);
    live("start_limit", old.start_limit != new.start_limit);
    live("stop_signal", old.stop_signal != new.stop_signal);
    live("stop_timeout", old.stop_timeout != new.stop_timeout);
    live("depends_on", old.depends_on != new.depends_on);
    live("autostart", old.autostart != new.autostart);
    live("logs", old.logs != new.logs);
    live("reload_on", old.reload_on != new.reload_on);
    live("reload_signal", old.reload_signal != new.reload_signal);
    // The supervisor's watcher and timer are set up anew; the process is left as it is.
    live("watch", old.watch != new.watch);
    live("schedule", old.schedule != new.schedule);
    c
}

/// A hash of the content of `files` (a missing file hashes as missing), to tell whether a
/// service's configuration changed since its process started.
pub(crate) fn config_hash(files: &[std::path::PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(f).ok().hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::spec::{BackendKind, LogSettings};

    fn svc(name: &str) -> Service {
        Service::new(
            name,
            vec!["sleep".into(), "1000".into()],
            PathBuf::from("/"),
        )
    }

    fn spec(services: Vec<Service>) -> Spec {
        Spec {
            path: PathBuf::from("/p/proctor.toml"),
            dir: PathBuf::from("/p"),
            project: Project {
                name: "p".into(),
                state_dir: None,
                roles: Vec::new(),
                backend: BackendKind::Process,
                tmux_binary: None,
                container_runtime: None,
                containment: crate::spec::Containment::Auto,
                metrics: None,
            },
            services,
            export: crate::spec::ExportSettings::default(),
        }
    }

    #[test]
    fn sorts_services_into_added_removed_and_changed() {
        let mut a2 = svc("a");
        a2.env.insert("VERSION".into(), "2".into());
        let d = diff(&spec(vec![svc("a"), svc("b")]), &spec(vec![a2, svc("c")]));
        assert_eq!(d.added, vec!["c"]);
        assert_eq!(d.removed, vec!["b"]);
        assert_eq!(
            d.changed,
            vec![(
                "a".to_string(),
                Change {
                    restart: vec!["env.VERSION".into()],
                    live: vec![]
                }
            )]
        );
        assert!(d.project_fixed.is_empty());
    }

    #[test]
    fn an_unchanged_spec_has_no_difference() {
        let s = spec(vec![svc("a"), svc("b")]);
        assert_eq!(diff(&s, &s.clone()), Diff::default());
    }

    #[test]
    fn supervisor_only_changes_apply_live() {
        let mut b = svc("a");
        b.logs = LogSettings {
            max_size: 1,
            ..b.logs
        };
        b.stop_timeout = std::time::Duration::from_secs(1);
        let c = service(&svc("a"), &b);
        assert!(c.restart.is_empty());
        assert_eq!(c.live, vec!["stop_timeout", "logs"]);
    }

    #[test]
    fn a_new_project_name_cannot_apply_live() {
        let old = spec(vec![svc("a")]);
        let mut new = old.clone();
        new.project.name = "q".into();
        assert_eq!(diff(&old, &new).project_fixed, vec!["project.name"]);
    }
}
